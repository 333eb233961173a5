"""Azure Blob storage for the lab's registry hosts: the self-built registry (lab/azure_registry.py, 2.8.2 with the
azure driver) packaged as ``registry:2.8.2`` in a binary_dir of its own, and Azurite over HTTPS where the
registry containers on lab hosts can reach it.

Why this shape (storage-emulators.md §4.2): the 2.8 driver calls ``https://<account>.blob.<realm>/`` on port 443
(HTTPS hardcoded), or ``https://127.0.0.1:10000/devstoreaccount1`` for the account ``devstoreaccount1`` — the
registry container's own loopback, where nothing listens. So Azurite listens on the lab network's gateway
(this machine as the hosts see it) on port 443 with a certificate for ``*.blob.<realm>`` from a lab CA, and the
registry gets two pulumi_kk settings a production user behind private endpoints needs too:
``image_registry.registry.extra_hosts`` (``<account>.blob.<realm>`` → gateway) and
``image_registry.registry.storage.ca_file`` (the lab CA, trusted through SSL_CERT_DIR).

binary_dir layout (``.lab/artifacts/azure-kubekey``): the registry image tarball at KubeKey's path for 2.8.2, and
hard links to the docker and compose artifacts of ``lab_artifacts`` (same files, same sha256), so the directory
is a complete binary_dir. The image is written without a Docker daemon (a docker-archive, gzip'd): one layer with
the static binary, the lab's default config, passwd/group/nsswitch and this machine's CA bundle; cached by the
binary's sha256 and this module's code.
"""

from __future__ import annotations

import base64
import gzip
import inspect
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from servers import stop_process

from pulumi_kk import pki

from .artifacts import ARCH, REGISTRY_CONFIG, LabArtifacts, _layer_tar, write_docker_archive
from .azure_registry import UPSTREAM_VERSION, build_azure_registry
from .common import LAB_DIR, LabError, file_lock, log, record_timing, sha256_file, sha256_json

#: The version the image is tagged with (registry:{VERSION}); the binary is upstream 2.8.2 + the azure driver.
VERSION = UPSTREAM_VERSION
BUILD_CACHE = LAB_DIR / "azure-registry"  # lab/azure_registry.py's cache (shared with test_azure_registry_build)
STORE = LAB_DIR / "artifacts" / "azure-store"
BINARY_DIR = LAB_DIR / "artifacts" / "azure-kubekey"
IMAGE_REL = f"image-registry/registry/{VERSION}/{ARCH}/registry-{VERSION}-linux-{ARCH}.tgz"
MACHINE_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

AZURITE = Path(__file__).resolve().parents[2] / ".lab/node/node_modules/.bin/azurite-blob"
AZURE_ACCOUNT = "labregistry"
AZURE_REALM = "azure.test"  # RFC 2606: never resolvable; the registry gets it from extra_hosts
AZURE_CONTAINER = "registry"


def _image_files(binary: Path) -> dict[str, tuple[bytes, int]]:
    files: dict[str, tuple[bytes, int]] = {
        "bin/registry": (binary.read_bytes(), 0o755),
        "etc/docker/registry/config.yml": (REGISTRY_CONFIG.encode(), 0o644),
        "etc/passwd": (b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644),
        "etc/group": (b"root:x:0:\nnogroup:x:65534:\n", 0o644),
        "etc/nsswitch.conf": (b"hosts: files dns\n", 0o644),
        "var/lib/registry/.keep": (b"", 0o644),
    }
    if MACHINE_CA_BUNDLE.is_file():  # public roots, as the official image has them (real Azure needs them)
        files["etc/ssl/certs/ca-certificates.crt"] = (MACHINE_CA_BUNDLE.read_bytes(), 0o644)
    return files


def _package(binary: Path, dest: Path) -> None:
    """registry:{VERSION} as a gzip'd docker-archive (what `docker save registry:v | gzip` gives)."""
    tar = dest.with_suffix(".tar")
    write_docker_archive(tar, f"registry:{VERSION}", [_layer_tar(_image_files(binary))],
                         ["/bin/registry", "serve", "/etc/docker/registry/config.yml"])
    tmp = dest.with_suffix(".part")
    with open(tar, "rb") as src, gzip.open(tmp, "wb", compresslevel=1) as gz:
        shutil.copyfileobj(src, gz, 1 << 20)
    tar.unlink()
    tmp.rename(dest)


def _link(src: Path, dest: Path) -> None:
    """Hard-link src at dest, atomically (another session may be reading the directory)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(src, dest):
        return
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dest)


def azure_binary_dir(artifacts: LabArtifacts) -> Path:
    """A binary_dir whose registry {VERSION} image has the azure driver (docker and compose linked from
    ``artifacts``). Built once per binary + recipe; later calls only check and re-link."""
    t0 = time.monotonic()
    binary = build_azure_registry(BUILD_CACHE)
    key = sha256_json({"binary": sha256_file(binary), "code": inspect.getsource(_image_files) +
                       inspect.getsource(_package) + REGISTRY_CONFIG,
                       "ca": sha256_file(MACHINE_CA_BUNDLE) if MACHINE_CA_BUNDLE.is_file() else ""})
    out = STORE / key[:16] / f"registry-{VERSION}-linux-{ARCH}.tgz"
    with file_lock("azure-registry-image"):
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            _package(binary, out)
            log(f"azure registry image {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t0:.1f}s")
            for old in STORE.iterdir():
                if old != out.parent:
                    shutil.rmtree(old, ignore_errors=True)
        _link(out, BINARY_DIR / IMAGE_REL)
        for kind, rel in (("docker", "docker/{v}/{a}/docker-{v}.tgz"),
                          ("docker-compose", "image-registry/docker-compose/{v}/{a}/docker-compose")):
            for v in artifacts.versions(kind):
                _link(artifacts.path(kind, v), BINARY_DIR / rel.format(v=v, a=ARCH))
    record_timing("azure registry image + binary_dir", time.monotonic() - t0)
    return BINARY_DIR


# ------------------------------------------------------------------------------------------------ Azurite


@dataclass
class Azurite:
    """Azurite's blob service over HTTPS: ``https://<host>:<port>/<account>`` (IP-style, for this machine's SDK) and
    ``https://<account>.blob.<realm>`` (what the registry's driver calls; needs a hosts entry → host)."""

    host: str
    port: int
    account: str
    key: str
    realm: str
    ca_file: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def blob_host(self) -> str:
        return f"{self.account}.blob.{self.realm}"

    @property
    def account_url(self) -> str:
        return f"https://{self.host}:{self.port}/{self.account}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def container_client(self, container: str = AZURE_CONTAINER) -> object:
        from azure.storage.blob import BlobServiceClient
        from servers import AZURITE_API_VERSION

        svc = BlobServiceClient(self.account_url, credential={"account_name": self.account, "account_key": self.key},
                                api_version=AZURITE_API_VERSION, connection_verify=str(self.ca_file))
        return svc.get_container_client(container)


def _answers(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _tls_ready(host: str, port: int, ca_file: Path) -> bool:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    try:
        with socket.create_connection((host, port), timeout=2) as raw, ctx.wrap_socket(raw, server_hostname=host):
            return True
    except OSError:
        return False


def start_azurite(host: str, workdir: Path, port: int = 443, timeout: float = 60.0) -> Azurite:
    """Azurite blob on host:port over HTTPS, in memory, with the account AZURE_ACCOUNT (a fresh key) and a lab CA
    whose server certificate covers ``*.blob.AZURE_REALM`` and ``host``. Refuses a port that already answers."""
    if not AZURITE.exists():
        raise LabError(f"Azurite is not installed at {AZURITE}; run `.ci/setup --test` "
                       "(npm install --prefix .lab/node azurite@3.37.0)")
    if _answers(host, port):
        raise LabError(f"{host}:{port} already answers before Azurite started; refusing to test a stale server")
    ca_cert, ca_key = pki.make_ca("pulumi-kk lab Azurite CA")
    cert, key = pki.make_server_cert(ca_cert, ca_key, [f"*.blob.{AZURE_REALM}", host, "127.0.0.1"])
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "ca.crt").write_text(ca_cert)
    (workdir / "server.crt").write_text(cert)
    (workdir / "server.key").write_text(key)
    (workdir / "server.key").chmod(0o600)
    account_key = base64.b64encode(secrets.token_bytes(64)).decode()
    env = {**os.environ, "AZURITE_ACCOUNTS": f"{AZURE_ACCOUNT}:{account_key}"}
    log_path = workdir / "azurite.log"
    argv = [str(AZURITE), "--blobHost", host, "--blobPort", str(port), "--cert", str(workdir / "server.crt"),
            "--key", str(workdir / "server.key"), "--inMemoryPersistence", "--disableTelemetry",
            "--debug", str(workdir / "azurite-debug.log")]
    t0 = time.monotonic()
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=workdir, start_new_session=True)
    az = Azurite(host, port, AZURE_ACCOUNT, account_key, AZURE_REALM, workdir / "ca.crt", proc, log_path)
    while not _tls_ready(host, port, az.ca_file):
        if proc.poll() is not None:
            raise LabError(f"Azurite exited with {proc.returncode} during start-up:\n{az.log_tail()}")
        if time.monotonic() - t0 > timeout:
            stop_azurite(az)
            raise LabError(f"Azurite did not answer TLS on {host}:{port} within {timeout:.0f}s:\n{az.log_tail()}")
        time.sleep(0.1)
    record_timing("azurite start (https)", time.monotonic() - t0)
    log(f"Azurite https://{host}:{port} (account {AZURE_ACCOUNT}, realm {AZURE_REALM}) in {time.monotonic() - t0:.1f}s")
    return az


def stop_azurite(az: Azurite) -> None:
    """Stop Azurite by its PID (SIGTERM, then SIGKILL)."""
    stop_process(az.proc)
