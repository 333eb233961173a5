"""Artifact resolution: (name, version, arch) → a file in the KubeKey ``binary_dir`` layout, an
``artifact_url`` override (path or URL), or upstream (downloaded by the host) — with its sha256."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import KKError

if TYPE_CHECKING:
    from .settings.model import Settings

ARCHES = ("amd64", "arm64")
#: ``uname -m`` spellings → our arch names.
MACHINE_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_UPSTREAM_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}


@dataclass(frozen=True)
class ArtifactKind:
    """How one kind of artifact is named, laid out under binary_dir, and fetched upstream."""

    name: str
    version_key: str
    paths: tuple[str, ...]
    """Relative to binary_dir; the first is the canonical layout, others are accepted alternates."""
    upstream: dict[str, str]
    """arch → URL template; empty when no upstream file exists (images: the host pulls ``image``)."""
    image: str = ""
    """For image tarballs: the image reference the tarball holds (``docker load``)."""
    packaging: str = ""


ARTIFACTS: dict[str, ArtifactKind] = {
    "docker": ArtifactKind(
        "docker", "docker_version", ("docker/{v}/{arch}/docker-{v}.tgz",),
        {a: "https://download.docker.com/linux/static/stable/" + u + "/docker-{v}.tgz"
         for a, u in _UPSTREAM_ARCH.items()},
        packaging="download docker-{v}.tgz from https://download.docker.com/linux/static/stable/ "
                  "and place it at {path}"),
    "dockercompose": ArtifactKind(
        "dockercompose", "dockercompose_version", ("image-registry/docker-compose/{v}/{arch}/docker-compose",),
        {a: "https://github.com/docker/compose/releases/download/{v}/docker-compose-linux-" + u
         for a, u in _UPSTREAM_ARCH.items()},
        packaging="download docker-compose-linux-<arch> of {v} from the docker/compose releases and place it at "
                  "{path}"),
    "harbor": ArtifactKind(
        "harbor", "harbor_version", ("image-registry/harbor/{v}/{arch}/harbor-offline-installer-{v}.tgz",),
        {"amd64": "https://github.com/goharbor/harbor/releases/download/{v}/harbor-offline-installer-{v}.tgz",
         "arm64": "https://github.com/kubesphere/kubekey/releases/download/iso-latest/"
                  "harbor-offline-installer-{v}.tgz"},
        packaging="download harbor-offline-installer-{v}.tgz and place it at {path}"),
    "registry": ArtifactKind(
        "registry", "registry_version",
        ("image-registry/registry/{v}/{arch}/registry-{v}-linux-{arch}.tgz",
         "image-registry/docker-registry/{v}/{arch}/docker-registry-{v}-linux-{arch}.tgz"),
        {}, image="registry:{v}",
        packaging="docker pull --platform linux/{arch} registry:{v} && "
                  "docker save registry:{v} | gzip > {path}"),
    "keepalived": ArtifactKind(
        "keepalived", "keepalived_version",
        ("image-registry/keepalived/{v}/{arch}/keepalived-{v}-linux-{arch}.tgz",),
        {}, image="osixia/keepalived:{v}",
        packaging="docker pull --platform linux/{arch} osixia/keepalived:{v} && "
                  "docker save osixia/keepalived:{v} | gzip > {path}"),
    "haproxy": ArtifactKind(
        "haproxy", "haproxy_version",
        ("image-registry/haproxy/{v}/{arch}/haproxy-{v}-linux-{arch}.tgz",),
        {}, image="haproxy:{v}",
        packaging="docker pull --platform linux/{arch} haproxy:{v} && "
                  "docker save haproxy:{v} | gzip > {path}"),
}


@dataclass(frozen=True)
class ResolvedArtifact:
    """Where one artifact comes from, and where it goes on the host."""

    name: str
    version: str
    arch: str
    source: str
    """``binary_dir`` | ``artifact_url`` (a local path) | ``url`` (artifact_url URL or upstream; the host
    downloads it) | ``pull`` (an image the host pulls)."""
    path: str | None
    url: str | None
    sha256: str | None
    size: int | None
    image: str
    remote_path: str

    @property
    def is_local(self) -> bool:
        return self.path is not None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "arch": self.arch, "source": self.source,
                "path": self.path, "url": self.url, "sha256": self.sha256, "size": self.size,
                "image": self.image or None, "remote_path": self.remote_path}


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """sha256 of a file, cached by (path, size, mtime)."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def check_arch(arch: str, host: str = "") -> str:
    """Our arch name for a ``uname -m`` value; anything else is an error naming the host."""
    if arch in ARCHES:
        return arch
    if arch in MACHINE_ARCH:
        return MACHINE_ARCH[arch]
    where = f"host {host!r}" if host else "host"
    raise KKError(f"{where} has unsupported architecture {arch!r}.", key="arch",
                  fix="pulumi_kk supports x86_64 (amd64) and aarch64 (arm64) hosts.")


def resolve(name: str, settings: Settings, arch: str, cwd: str | Path | None = None) -> ResolvedArtifact:
    """Resolve one artifact for ``arch``; errors name the setting and how to package the file."""
    kind = ARTIFACTS[name]
    version = str(getattr(settings, kind.version_key))
    binary_dir = Path(settings.resolved_binary_dir).expanduser()
    fmt = {"v": version, "arch": arch}
    canonical = binary_dir / kind.paths[0].format(**fmt)
    image = kind.image.format(**fmt)
    expected = settings.artifact.sha256.get(name, {}).get(arch)
    remote_base = f"{settings.remote_dir.rstrip('/')}/artifacts/{name}/{version}/{arch}"

    def local(path: Path, source: str) -> ResolvedArtifact:
        digest = sha256_file(path)
        if expected and digest != expected.lower():
            raise KKError(f"checksum mismatch for {path}: sha256 {digest}, expected {expected}.",
                          key=f"artifact.sha256.{name}.{arch}",
                          fix=f"replace the file with the right one, or correct artifact.sha256.{name}.{arch}.")
        return ResolvedArtifact(name, version, arch, source, str(path), None, digest, path.stat().st_size, image,
                                f"{remote_base}/{path.name}")

    override = settings.artifact.artifact_url.get(name, {}).get(arch)
    okey = f"artifact.artifact_url.{name}.{arch}"
    if override:
        if _is_url(override):
            return ResolvedArtifact(name, version, arch, "url", None, override, expected, None, image,
                                    f"{remote_base}/{override.rstrip('/').rsplit('/', 1)[-1]}")
        p = Path(override).expanduser()
        candidates = [p] if p.is_absolute() else [Path(cwd or os.getcwd()) / p, binary_dir / p]
        for c in candidates:
            if c.is_file():
                return local(c, "artifact_url")
        raise KKError(f"artifact file {override!r} not found (looked at {', '.join(map(str, candidates))}).",
                      key=okey, fix="give an existing path (absolute, or relative to binary_dir) or a URL.")

    for rel in kind.paths:
        p = binary_dir / rel.format(**fmt)
        if p.is_file():
            return local(p, "binary_dir")

    packaging = kind.packaging.format(v=version, arch=arch, path=canonical)
    if not settings.artifact.online:
        raise KKError(f"no {name} {version} artifact for {arch}: {canonical} is missing and online download is "
                      f"off.", key=f"{kind.version_key}",
                      fix=f"{packaging}; or set artifact.artifact_url.{name}.{arch}.")
    if kind.upstream:
        url = kind.upstream[arch].format(v=version)
        return ResolvedArtifact(name, version, arch, "url", None, url, expected, None, image,
                                f"{remote_base}/{url.rsplit('/', 1)[-1]}")
    if image:
        return ResolvedArtifact(name, version, arch, "pull", None, None, None, None, image, "")
    raise KKError(f"no {name} {version} artifact for {arch}.", key=kind.version_key, fix=packaging)


def artifacts_for(settings: Settings, arch: str, names: list[str]) -> dict[str, ResolvedArtifact]:
    return {n: resolve(n, settings, arch) for n in names}
