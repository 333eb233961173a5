"""The self-built registry with the azure storage driver (lab/azure_registry.py): build, cache, version, driver.

Proof that the azure driver is registered, without any Azure endpoint: the registry is started with
`storage: azure` whose realm is unreachable (``*.blob.azure.invalid``, RFC 2606) and with HTTPS_PROXY pointing at
a loopback listener of this test. The legacy SDK uses http.DefaultClient, so the driver's first request (the
container's CreateIfNotExists in the driver constructor) arrives as ``CONNECT <account>.blob.azure.invalid:443``;
the listener answers 502 and nothing leaves the machine. Debian's own docker-registry, run the same way, is the
control: it panics "StorageDriver not registered: azure" before any request.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .apt import AptRepo
from .azure_registry import RELEASE, VERSION, _driver_files, build_azure_registry, manifest
from .common import LAB_DIR, LabError, run, sha256_file
from .elf import read_elf

pytestmark = pytest.mark.lab

CACHE_DIR = LAB_DIR / "azure-registry"
ACCOUNT = "labregistry"
REALM = "azure.invalid"
NOT_REGISTERED = "StorageDriver not registered: azure"


@pytest.fixture(scope="module")
def registry_binary() -> Path:
    return build_azure_registry(CACHE_DIR)


@dataclass
class _Proxy:
    """Loopback HTTP proxy that records request lines and refuses every CONNECT with 502."""

    sock: socket.socket
    requests: list[str] = field(default_factory=list)
    seen: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed by the fixture
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.requests.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
                    self.seen.set()
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    p = _Proxy(sock)
    t = threading.Thread(target=p.serve, name="azure-test-proxy", daemon=True)
    t.start()
    yield p
    sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
    sock.close()
    t.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _azure_config(path: Path) -> Path:
    key = base64.b64encode(b"lab-test-key-not-a-secret-0123456789abcdef").decode()
    path.write_text(
        "version: 0.1\n"
        "log: {level: debug, formatter: text}\n"
        "storage:\n"
        "  azure:\n"
        f"    accountname: {ACCOUNT}\n"
        f"    accountkey: {key}\n"
        "    container: lab-registry\n"
        f"    realm: {REALM}\n"
        "http:\n"
        f"  addr: 127.0.0.1:{_free_port()}\n"
    )
    return path


@dataclass
class _Outcome:
    output: str
    exited: bool
    returncode: int | None
    requests: list[str]


def _serve_with_azure(binary: Path, config: Path, proxy: _Proxy, wait_s: float = 20.0) -> _Outcome:
    """Start `binary serve config` until it exits or its first request reaches the proxy; then stop it."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "https_proxy")}
    env["HTTPS_PROXY"] = proxy.url
    log_path = config.with_suffix(".log")
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [str(binary), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=config.parent
        )
        try:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and proc.poll() is None and not proxy.seen.wait(0.05):
                pass
            exited = proc.poll() is not None
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
    return _Outcome(
        output=log_path.read_text(errors="replace"),
        exited=exited,
        returncode=proc.returncode if exited else None,
        requests=list(proxy.requests),
    )


def test_build_is_static_cached_and_recorded(registry_binary: Path) -> None:
    t0 = time.monotonic()
    again = build_azure_registry(CACHE_DIR)
    warm = time.monotonic() - t0
    assert again == registry_binary
    assert warm < 1.0, f"the cached build took {warm:.2f}s"
    assert read_elf(registry_binary).static
    meta = manifest(registry_binary)
    assert meta["sha256"] == sha256_file(registry_binary)
    assert meta["version"] == VERSION
    source = meta["source"]
    assert isinstance(source, dict)
    assert "azure.go" in source["azure_driver"]
    packages = meta["packages"]
    assert isinstance(packages, list)
    names = {p["name"] for p in packages}
    assert {"golang-github-azure-azure-sdk-for-go-dev", "golang-github-docker-distribution-dev"} <= names


def test_version_string(registry_binary: Path) -> None:
    out = run([str(registry_binary), "--version"], timeout=30).stdout
    assert out.split() == [str(registry_binary), "github.com/docker/distribution", VERSION], out


def test_azure_driver_is_registered(registry_binary: Path, proxy: _Proxy, tmp_path: Path) -> None:
    res = _serve_with_azure(registry_binary, _azure_config(tmp_path / "azure.yml"), proxy)
    assert NOT_REGISTERED not in res.output, res.output
    # the driver constructor reached the network: its first request went to the configured account and realm
    assert f"CONNECT {ACCOUNT}.blob.{REALM}:443 HTTP/1.1" in res.requests, (res.requests, res.output)
    assert not res.exited, f"exited with {res.returncode}:\n{res.output}"


def test_debian_binary_lacks_the_azure_driver(proxy: _Proxy, tmp_path: Path) -> None:
    """Control for the test above: same config and proxy, Debian's binary (from the bookworm .deb)."""
    repo = AptRepo(RELEASE)
    repo.update()
    tree = repo.extract(["docker-registry"])["docker-registry"]
    res = _serve_with_azure(tree / "usr/bin/docker-registry", _azure_config(tmp_path / "azure.yml"), proxy)
    assert res.exited and res.returncode != 0, res.output
    assert NOT_REGISTERED in res.output, res.output
    assert res.requests == []


def test_missing_driver_is_a_clear_error(tmp_path: Path) -> None:
    """A source tarball without the upstream azure driver fails naming the missing file."""
    src = tmp_path / "main.go"
    src.write_text("package main\n")
    orig = tmp_path / "docker-registry_9.9.9+ds1.orig.tar.xz"
    run(["tar", "-cJf", str(orig), "-C", str(tmp_path), "--transform", "s,^,distribution-9.9.9/cmd/,", "main.go"])
    with pytest.raises(LabError, match=r"no registry/storage/driver/azure/azure\.go"):
        _driver_files([orig])
