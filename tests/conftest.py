"""Shared by every test: the main thread always has an event loop.

Pulumi's mocks (graph tests, the lab's replay executor) need a current event loop in the main thread, and a test
that runs ``asyncio.run`` (gRPC clients of the dynamic-provider host) leaves none behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _main_thread_event_loop() -> Iterator[None]:
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if loop.is_closed():
            raise RuntimeError("closed")
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    yield
