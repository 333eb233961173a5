"""Local servers for tests (storage emulators and the like): start on a given address, wait until they answer,
stop by PID. Starting refuses a port that already answers (a stale server would give false passes)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

AZURITE_DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_API_VERSION = "2026-06-06"  # Azurite 3.37 rejects the SDK's default (2026-10-06)


@dataclass
class Emulator:
    """A running emulator: its endpoint, process and log file."""

    name: str
    endpoint: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (OSError, ValueError):
        return None


def start(name: str, argv: list[str], port: int, probe: str, log_dir: Path, timeout: float = 60.0,
          env: dict[str, str] | None = None, cwd: Path | None = None, host: str = "127.0.0.1") -> Emulator:
    """Spawn ``argv`` and wait until ``probe`` answers over HTTP; fail with the log tail otherwise."""
    if _answers(port, host):
        pytest.fail(f"{name}: port {host}:{port} already answers before start; refusing to test a stale server")
    log = log_dir / f"{name}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    emu = Emulator(name, f"http://{host}:{port}", port, proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode} during start-up:\n{emu.log_tail()}")
        if _http_status(probe) is not None:
            return emu
        time.sleep(0.1)
    stop(emu)
    pytest.fail(f"{name} did not answer {probe} within {timeout:.0f} s:\n{emu.log_tail()}")


def stop(emu: Emulator) -> None:
    """Stop the emulator by its PID (SIGTERM, then SIGKILL)."""
    stop_process(emu.proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
