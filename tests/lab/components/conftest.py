"""Storage servers the lab hosts can reach: started on the lab network's gateway address (this machine, as the
hosts see it), stopped by PID at the end of the session."""

from __future__ import annotations

import base64
import difflib
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import requests
import yaml
from servers import Emulator, free_port, start, stop

from ..artifacts import TinyImage
from ..azure_lab import Azurite, start_azurite, stop_azurite
from ..common import record_timing
from ..hosts import LabHost, LabNetwork
from ..replay import ApplyReport, Replay


@pytest.fixture(scope="session")
def lab_s3(lab_net: LabNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """moto's S3 server on ``http://<gateway>:<port>`` (reachable from lab hosts and their containers)."""
    host = lab_net.gateway
    port = free_port(host)
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    emu = start("moto-lab", [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], port,
                f"http://{host}:{port}/moto-api/", Path(tmp_path_factory.mktemp("lab-s3")), env=env, host=host)
    yield emu
    stop(emu)


def s3_client(emu: Emulator) -> object:
    """A boto3 client for ``emu`` (moto accepts any key; it does not check SigV4 signatures)."""
    return boto3.client("s3", endpoint_url=emu.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


# ------------------------------------------------------------------------------------------- registry clients


@dataclass
class RegistryClient:
    """One registry as a client on this machine sees it: skopeo (the CA in a cert dir, basic-auth credentials)
    and plain HTTP API calls (requests, verifying TLS against the same CA)."""

    address: str  # host:port
    ca_pem: str
    username: str
    password: str
    workdir: Path

    def __post_init__(self) -> None:
        self.cert_dir = self.workdir / f"certs-{self.address.replace(':', '_')}"
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        (self.cert_dir / "ca.crt").write_text(self.ca_pem)
        self.ca_file = self.cert_dir / "ca.crt"

    def _skopeo(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
        env["REGISTRY_AUTH_FILE"] = str(self.workdir / "no-auth.json")  # never the machine's stored logins
        cp = subprocess.run(["skopeo", *args], capture_output=True, text=True, env=env, timeout=300)
        if check and cp.returncode != 0:
            raise AssertionError(f"skopeo {' '.join(args)} exited {cp.returncode}:\n{cp.stdout}{cp.stderr}")
        return cp

    def push_anonymous(self, image: TinyImage, ref: str) -> subprocess.CompletedProcess[str]:
        """skopeo copy without credentials (expected to fail against an htpasswd registry)."""
        return self._skopeo("copy", "--dest-cert-dir", str(self.cert_dir), "--dest-no-creds",
                            f"docker-archive:{image.path}", f"docker://{self.address}/{ref}", check=False)

    def push(self, image: TinyImage, ref: str) -> str:
        digest_file = self.workdir / f"digest-{secrets.token_hex(4)}"
        self._skopeo("copy", "--retry-times", "2", "--dest-cert-dir", str(self.cert_dir), "--dest-creds",
                     f"{self.username}:{self.password}", "--digestfile", str(digest_file),
                     f"docker-archive:{image.path}", f"docker://{self.address}/{ref}")
        return digest_file.read_text().strip()

    def pull(self, ref: str) -> tuple[str, dict[str, Any]]:
        """skopeo copy docker://address/ref → dir: layout; (sha256 of the manifest as served, the manifest)."""
        dest = self.workdir / f"pull-{secrets.token_hex(4)}"
        self._skopeo("copy", "--retry-times", "2", "--src-cert-dir", str(self.cert_dir), "--src-creds",
                     f"{self.username}:{self.password}", f"docker://{self.address}/{ref}", f"dir:{dest}")
        raw = (dest / "manifest.json").read_bytes()
        manifest: dict[str, Any] = json.loads(raw)
        for d in [manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]:
            blob = dest / d.split(":", 1)[1]
            assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == d, f"{ref}: blob {d} corrupt"
        return "sha256:" + hashlib.sha256(raw).hexdigest(), manifest

    def request(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> requests.Response:
        """An API call; ``path`` may be a full URL (e.g. an upload Location): only its path and query are used."""
        parts = urlsplit(path)
        url = f"https://{self.address}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return requests.request(method, url, verify=str(self.ca_file), timeout=30,
                                auth=(self.username, self.password) if auth else None, **kw)


def blob_digests(manifest: Mapping[str, Any]) -> list[str]:
    return [manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]


def _sign_state(token: str, secret: str) -> str:
    """An upload ``_state`` token re-signed with ``secret`` (distribution: base64url(HMAC-SHA256(secret, json) +
    json))."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    body = raw[32:]
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac + body).decode()


def _with_state(location: str, token: str) -> str:
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["_state"] = token
    return f"{parts.path}?{urlencode(query)}"


def cross_replica_upload(a: RegistryClient, b: RegistryClient, repo: str, http_secret: str,
                         size: int = 204800) -> str:
    """A chunked blob upload started on ``a`` (POST), continued on ``b`` (PATCH), on ``a`` (PATCH) and completed on
    ``b`` (PUT); HEAD on ``a`` must find it. Also: the state token ``a`` hands out is signed with ``http_secret``,
    and the same token signed with another secret is refused by ``b`` (BLOB_UPLOAD_INVALID): the shared http.secret
    is what lets replicas continue each other's uploads. Returns the blob digest."""
    data = os.urandom(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    octets = {"Content-Type": "application/octet-stream"}
    r = a.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, (r.status_code, r.text)
    loc = r.headers["Location"]
    token = parse_qs(urlsplit(loc).query)["_state"][0]
    assert _sign_state(token, http_secret).rstrip("=") == token.rstrip("="), "upload state not signed with http.secret"
    forged = _with_state(loc, _sign_state(token, "not-the-shared-secret-" + secrets.token_hex(8)))
    bad = b.request("PATCH", forged, data=data[:10], headers=octets)
    assert bad.status_code == 404 and "BLOB_UPLOAD_INVALID" in bad.text, (bad.status_code, bad.text)
    half = size // 2
    r = b.request("PATCH", loc, data=data[:half], headers=octets)
    assert r.status_code == 202, (r.status_code, r.text)
    r = a.request("PATCH", r.headers["Location"], data=data[half:], headers=octets)
    assert r.status_code == 202, (r.status_code, r.text)
    loc = r.headers["Location"]
    r = b.request("PUT", loc + ("&" if "?" in loc else "?") + f"digest={digest}", headers=octets)
    assert r.status_code == 201, (r.status_code, r.text)
    r = a.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == size, (r.status_code, r.headers)
    return digest


def wait_registry(host: LabHost, port: int = 443, timeout: float = 120) -> float:
    """Wait until the registry on ``host`` answers on 127.0.0.1:port (TLS); returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        r = host.run(f"curl -fsSk -o /dev/null https://127.0.0.1:{port}/", check=False, timeout=30)
        if r.exit_status == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            logs = host.run("docker logs --tail 30 registry-registry-1 2>&1; systemctl status --no-pager "
                            "pulumi-kk-registry.service", check=False)
            raise AssertionError(f"{host.name}: registry not answering after {timeout:.0f}s:\n{logs.combined}")
        time.sleep(0.5)


def registry_config(host: LabHost) -> dict[str, Any]:
    """The registry's config.yml as written on ``host`` (secrets included)."""
    conf: dict[str, Any] = yaml.safe_load(host.read("/opt/pulumi-kk/registry/config.yml"))
    return conf


@contextmanager
def timed(what: str) -> Iterator[None]:
    """Print and record how long a block took."""
    t0 = time.monotonic()
    try:
        yield
    finally:
        dt = time.monotonic() - t0
        record_timing(what, dt)
        print(f"[timing] {what}: {dt:.1f}s", flush=True)


@pytest.fixture(scope="session")
def lab_azurite(lab_net: LabNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service over HTTPS on ``<gateway>:443`` with one account (`AZURE_ACCOUNT`), reachable from lab
    hosts' containers as ``https://<account>.blob.<AZURE_REALM>`` (an extra_hosts entry to the gateway), which is the
    only URL shape the 2.8 azure driver knows besides devstoreaccount1 on the registry's own loopback."""
    az = start_azurite(lab_net.gateway, tmp_path_factory.mktemp("lab-azurite"))
    yield az
    stop_azurite(az)


def apply_explained(replay: Replay, program: Callable[[], Any], what: str) -> ApplyReport:
    """``replay.apply`` timed and printed, with the input keys that changed for every updated or replaced resource
    (an unexpected re-run then says why)."""
    before = {u: e["inputs"] for u, e in replay.resources().items()}
    with timed(what):
        rep = replay.apply(program)
    print(rep.summary())
    for urn, r in rep.resources.items():
        if r.op in ("update", "replace") and urn in before:
            new = replay.resources().get(urn, {}).get("inputs", {})
            keys = sorted(k for k in set(before[urn]) | set(new) if before[urn].get(k) != new.get(k))
            print(f"  {r.op} {r.name}: changed inputs {keys}")
            for k in keys:
                if k in ("create", "delete"):
                    diff = difflib.unified_diff(str(before[urn].get(k)).splitlines(), str(new.get(k)).splitlines(),
                                                lineterm="", n=0)
                    print("    " + "\n    ".join(line[:160] for line in list(diff)[2:12]))
    return rep


def prepare_hosts(hosts: list[LabHost]) -> None:
    """Work around a race in the replay's CopyToRemote (lab/replay.py `_sftp_mkdir_p`: two parallel copies to one
    host both find a parent dir missing, the second `sftp.mkdir` fails with SFTP's generic "Failure"): the common
    parent of pulumi_kk's uploads exists before the first apply, so parallel copies only create distinct subtrees."""
    for h in hosts:
        h.run("mkdir -p /opt/pulumi-kk/artifacts")
