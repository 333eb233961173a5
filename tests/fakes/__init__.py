"""Stand-ins for tools that cannot run on this machine. ``fake_pulumi.py``: the Pulumi CLI (see its docstring)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

FAKE_PULUMI = Path(__file__).resolve().with_name("fake_pulumi.py")


def install_pulumi(directory: Path, python: str = sys.executable) -> Path:
    """Write an executable ``directory/pulumi`` that runs the stand-in with ``python`` (the venv's, which has grpc
    and the Pulumi SDK; a ``#!/usr/bin/env python3`` could pick another). Returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / "pulumi"
    exe.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} {shlex.quote(str(FAKE_PULUMI))} "$@"\n')
    exe.chmod(0o755)
    return exe


def read_calls(log: Path) -> list[dict[str, Any]]:
    """The invocations the stand-in recorded in ``log`` (``$FAKE_PULUMI_LOG``), in order."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
