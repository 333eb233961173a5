"""Fixtures of the real-host lab (see tests/lab/README.md).

Session:  lab_docker → DOCKER_HOST of the lab daemon (started with dockerd.sh when nothing answers)
          lab_host_image → "pulumi-kk-lab/host:bookworm" (built once, cached by recipe hash)
          lab_run → LabRun (run id, key pair, network); lab_net → LabNetwork
          lab_artifacts → LabArtifacts (binary_dir + what was made)
Per test: lab_hosts(n=1, *, password=False, init="systemd", name="h") → list[LabHost]; removed after the test
          replay → Replay executor with a fresh state file in tmp_path

The host image and the artifacts are built in background threads as soon as the first lab fixture is set up,
when the collected tests need them, so the two cold builds overlap.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from .artifacts import LabArtifacts, build_all
from .common import TIMINGS, ensure_daemon, record_timing
from .host_image import ensure_host_image
from .hosts import LabHost, LabNetwork, LabRun, remove_leftovers
from .replay import Replay

_LAB_DIR = Path(__file__).resolve().parent
_needs: dict[str, bool] = {"hosts": False, "artifacts": False}
_futures: dict[str, Future[Any]] = {}
_futures_lock = threading.Lock()
_run: LabRun | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _LAB_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.lab)
        names = getattr(item, "fixturenames", ())
        if "lab_hosts" in names or "lab_host_image" in names:
            _needs["hosts"] = True
        if "lab_artifacts" in names:
            _needs["artifacts"] = True


def _background(name: str, fn: Callable[[], Any]) -> Future[Any]:
    with _futures_lock:
        if name not in _futures:
            fut: Future[Any] = Future()

            def target() -> None:
                try:
                    fut.set_result(fn())
                except BaseException as e:
                    fut.set_exception(e)

            threading.Thread(target=target, name=f"lab-build-{name}", daemon=True).start()
            _futures[name] = fut
        return _futures[name]


@pytest.fixture(scope="session")
def lab_docker() -> str:
    """DOCKER_HOST of the lab's Docker daemon; also exported into os.environ for subprocesses."""
    host = ensure_daemon()
    remove_leftovers()
    # start the slow builds the collected tests will need, side by side
    if _needs["hosts"]:
        _background("host-image", ensure_host_image)
    if _needs["artifacts"]:
        _background("artifacts", build_all)
    return host


@pytest.fixture(scope="session")
def lab_host_image(lab_docker: str) -> str:
    image: str = _background("host-image", ensure_host_image).result()
    return image


@pytest.fixture(scope="session")
def lab_artifacts(lab_docker: str) -> LabArtifacts:
    """Offline artifacts in KubeKey's binary_dir layout (see lab/artifacts.py)."""
    arts: LabArtifacts = _background("artifacts", build_all).result()
    return arts


@pytest.fixture(scope="session")
def lab_run(lab_docker: str) -> Iterator[LabRun]:
    global _run
    run = LabRun()
    _run = run
    try:
        yield run
    finally:
        run.close()


@pytest.fixture(scope="session")
def lab_net(lab_run: LabRun) -> LabNetwork:
    """The run's network: 10.210.0.0/24 unless taken (net.ip(11), net.vip(0) → .100, net.gateway)."""
    return lab_run.network()


@pytest.fixture
def lab_hosts(lab_run: LabRun, lab_host_image: str) -> Iterator[Callable[..., list[LabHost]]]:
    """Factory: lab_hosts(n=1, *, password=False, init="systemd", name="h") → started, SSH-ready hosts.

    Hosts are removed after the test (docker rm -f + volume rm) unless LAB_KEEP=1."""
    started: list[LabHost] = []

    def factory(n: int = 1, **kw: Any) -> list[LabHost]:
        import time

        t0 = time.monotonic()
        hosts = lab_run.start_hosts(n, image=lab_host_image, **kw)
        record_timing(f"start {n} host(s) (last)", time.monotonic() - t0)
        started.extend(hosts)
        return hosts

    yield factory
    lab_run.remove_hosts(started)


@pytest.fixture
def replay(tmp_path: Path) -> Replay:
    """A Replay executor whose state file lives in the test's tmp dir."""
    return Replay(tmp_path / "replay-state.json")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if TIMINGS:
        terminalreporter.section("lab timings")
        for k, v in TIMINGS.items():
            terminalreporter.write_line(f"{k:45} {v:8.2f}s")
    if _run is not None and _run.kept:
        terminalreporter.section("LAB_KEEP=1: hosts kept")
        for line in _run.kept:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(listed in {_run.dir / 'KEPT.txt'}; remove with: python tests/lab/cleanup.py)")
    if os.environ.get("LAB_KEEP") and _run is None:
        terminalreporter.write_line("LAB_KEEP=1 set, but no lab host was started")
