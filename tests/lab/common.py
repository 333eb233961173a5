"""Shared helpers of the lab: paths, subprocess wrappers, the lab's Docker daemon, file locks, timing log."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("LAB_DIR", REPO / ".lab"))  # gitignored work area
LOCK_DIR = LAB_DIR / "locks"
DOCKERD_SH = Path(__file__).resolve().parent / "dockerd.sh"
LAB_SOCK = "/run/pulumi-kk-lab/docker.sock"
LAB_DOCKER_HOST = f"unix://{LAB_SOCK}"
LABEL = "pulumi-kk-lab"  # every object the lab creates in the daemon carries labels under this prefix

# apt package that provides each external tool the lab needs (used in error messages: never skip, fail clearly)
TOOL_PACKAGES = {
    "docker": "docker.io",
    "dockerd": "docker.io",
    "debootstrap": "debootstrap",
    "dpkg-deb": "dpkg",
    "apt-get": "apt",
    "apt-cache": "apt",
    "curl": "curl",
    "ip": "iproute2",
    "tar": "tar",
    "skopeo": "skopeo",
}


# Timings of lab set-up steps (image builds, artifacts, host starts), printed in pytest's terminal summary.
TIMINGS: dict[str, float] = {}


def record_timing(name: str, seconds: float) -> None:
    TIMINGS[name] = round(seconds, 2)


class LabError(RuntimeError):
    """A lab set-up step failed (not a failure of the code under test)."""


def log(msg: str) -> None:
    """Progress line on stderr (visible with pytest -s, and in CI logs on failure)."""
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pkg = TOOL_PACKAGES.get(name, name)
        raise LabError(f"'{name}' is not installed: apt-get install {pkg}")
    return path


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    input: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, text mode; on failure raise LabError with the command and its output."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    data = input.decode() if isinstance(input, bytes) else input
    try:
        cp = subprocess.run(
            list(args),
            input=data,
            text=True,
            capture_output=capture,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
        )
    except FileNotFoundError as e:
        need_tool(args[0])
        raise LabError(str(e)) from e
    if check and cp.returncode != 0:
        raise LabError(
            f"command failed (rc={cp.returncode}): {' '.join(args)}\n--- stdout\n{cp.stdout}\n--- stderr\n{cp.stderr}"
        )
    return cp


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """Inter-process lock (two pytest sessions building the same image/artifact wait for each other)."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_DIR / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------------- docker daemon


def docker_env() -> dict[str, str]:
    return {"DOCKER_HOST": os.environ.get("DOCKER_HOST", LAB_DOCKER_HOST)}


def docker(*args: str, check: bool = True, input: bytes | str | None = None, timeout: float | None = 600) -> str:
    """`docker <args>` against the lab daemon; returns stdout stripped."""
    need_tool("docker")
    return run(["docker", *args], check=check, input=input, env=docker_env(), timeout=timeout).stdout.strip()


def _daemon_answers(docker_host: str) -> bool:
    if not docker_host.startswith("unix://"):
        cp = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            env={**os.environ, "DOCKER_HOST": docker_host},
            timeout=20,
        )
        return cp.returncode == 0
    sock = docker_host[len("unix://") :]
    if not os.path.exists(sock):
        return False
    cp = subprocess.run(
        ["curl", "-s", "-m", "5", "--unix-socket", sock, "http://lab/_ping"], capture_output=True, text=True
    )
    return cp.stdout == "OK"


def ensure_daemon() -> str:
    """Make sure a Docker daemon answers for the lab; start the lab's own (dockerd.sh start) when needed.

    Uses $DOCKER_HOST when it answers (CI exports the lab daemon's socket), otherwise starts the lab daemon and
    sets os.environ["DOCKER_HOST"] for this process and its children. Returns the DOCKER_HOST in use.
    """
    need_tool("curl")
    current = os.environ.get("DOCKER_HOST")
    if current and _daemon_answers(current):
        return current
    need_tool("dockerd")
    t0 = time.monotonic()
    cp = run(["bash", str(DOCKERD_SH), "start"], timeout=120)
    line = cp.stdout.strip().splitlines()[-1] if cp.stdout.strip() else ""
    prefix = "export DOCKER_HOST="
    if not line.startswith(prefix):
        raise LabError(f"dockerd.sh start printed {cp.stdout!r}, stderr: {cp.stderr}")
    os.environ["DOCKER_HOST"] = line[len(prefix) :]
    log(f"lab dockerd ready in {time.monotonic() - t0:.1f}s at {os.environ['DOCKER_HOST']}")
    return os.environ["DOCKER_HOST"]
