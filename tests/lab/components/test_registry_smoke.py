"""Smoke: one lab host gets Docker, compose and the registry (filesystem, TLS, htpasswd) from offline artifacts."""

from __future__ import annotations

import pytest

from ..kk import inventory, registry_program, settings

pytestmark = pytest.mark.lab


def test_one_node_registry(lab_hosts, lab_artifacts, replay) -> None:  # type: ignore[no-untyped-def]
    (h,) = lab_hosts(1)
    s = settings(lab_artifacts, {"image_registry": {"type": "registry"}})
    report = replay.apply(registry_program(inventory([h]), s))
    print(report.summary())
    assert h.sh("curl -fsSk -o /dev/null -w '%{http_code}' https://127.0.0.1/") == "200"
    again = replay.apply(registry_program(inventory([h]), s))
    print(again.summary())
    assert again.commands_run == 0
