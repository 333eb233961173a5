"""Offline artifacts in KubeKey's binary_dir layout, made locally from Debian packages.

    {binary_dir}/docker/{v}/amd64/docker-{v}.tgz                                   static-tgz layout (docker/...)
    {binary_dir}/image-registry/docker-compose/v{v}/amd64/docker-compose           compose v2 binary
    {binary_dir}/image-registry/registry/{v}/amd64/registry-{v}-linux-amd64.tgz    docker save | gzip, registry:{v}
    {binary_dir}/image-registry/docker-registry/{v}/amd64/docker-registry-{v}-linux-amd64.tgz   same file (KubeKey name)
    {binary_dir}/image-registry/keepalived/{v}/amd64/keepalived-{v}-linux-amd64.tgz  osixia/keepalived:{v}
    {binary_dir}/image-registry/haproxy/{v}/amd64/haproxy-{v}-linux-amd64.tgz        haproxy:{v} (pulumi_kk)
    {lab}/images/busybox.tar                                                        docker-archive, tiny image

Sources: bookworm (the hosts' release) gives the "old" versions, trixie the "new" ones, both fetched with a
private apt configuration (lab/apt.py). Every artifact is cached under .lab/artifacts/store/ by a key over its
input .debs' sha256 and the builder code, and hard-linked into binary_dir.

Trixie binaries on a bookworm host (checked per binary from its ELF GLIBC_* requirements, recorded in
`Artifact.components`, and proven by tests/lab/test_artifacts.py on a real host):
  * dockerd, docker (docker-cli), docker-proxy, containerd, containerd-shim-runc-v2, ctr: need GLIBC ≤ 2.34 → run.
  * runc 1.1.15: needs GLIBC_2.38 (__isoc23_strtol) → cannot load on bookworm (glibc 2.36). The 26.1.5 bundle
    therefore carries bookworm's runc (1.1.5); this is recorded in its components. Nothing is bundled with it.
  * docker-compose 2.26.1: GLIBC_2.34, runs. Debian's build prints "2.26.1-4"; the lab patches only the version
    string (Go string header: bytes + length) to "v2.26.1", as upstream's release prints it.
  * registry 2.8.3 and keepalived 2.3.3 run inside their own images with trixie's libc, so the host's glibc
    does not matter.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import elf
from .apt import AptRepo
from .common import (
    LAB_DIR,
    LABEL,
    LabError,
    docker,
    docker_env,
    file_lock,
    log,
    record_timing,
    run,
    sha256_file,
    sha256_json,
)

ART_DIR = LAB_DIR / "artifacts"
STORE = ART_DIR / "store"
BINARY_DIR = ART_DIR / "kubekey"
IMAGES_DIR = ART_DIR / "images"
ARCH = "amd64"
HOST_RELEASE = "bookworm"  # release of the lab hosts (host image)
NEW_RELEASE = "trixie"
# binary_dir subtrees this module owns (stale versions there are removed); anything else is left alone
MANAGED_IMAGE_REGISTRY_DIRS = ("docker-compose", "registry", "docker-registry", "keepalived", "haproxy")
LIB_DIRS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib64", "lib64", "usr/lib", "lib")


@dataclass
class Artifact:
    kind: str  # docker | docker-compose | registry | keepalived | haproxy
    version: str  # the version the directory names
    path: Path
    sha256: str
    size: int
    release: str  # Debian release the main binary comes from
    components: dict[str, dict[str, str]] = field(default_factory=dict)  # binary → {package, version, glibc, ...}
    notes: list[str] = field(default_factory=list)
    build_s: float = 0.0  # 0.0 = taken from the cache
    image: str | None = None  # repo:tag inside the image tarball

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass
class LabArtifacts:
    """What `build_all` made. `items[kind][version]` → Artifact."""

    binary_dir: Path
    items: dict[str, dict[str, Artifact]]
    busybox_tar: Path
    timings: dict[str, float]

    def versions(self, kind: str) -> list[str]:
        """Versions of one kind, oldest first (e.g. versions("docker") → ["20.10.24", "26.1.5"])."""
        return sorted(self.items.get(kind, {}), key=_vkey)

    def get(self, kind: str, version: str | None = None) -> Artifact:
        """One artifact; version None = the newest."""
        vs = self.versions(kind)
        if not vs:
            raise KeyError(kind)
        return self.items[kind][version or vs[-1]]

    def path(self, kind: str, version: str | None = None) -> Path:
        return self.get(kind, version).path

    def make_tiny_images(self, n: int, dest: Path, repo: str = "lab/tiny", salt: str = "") -> list[TinyImage]:
        return make_tiny_images(n, dest, repo=repo, salt=salt)


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


# ------------------------------------------------------------------------------------------------ helpers


def _glibc_of_release(repo: AptRepo) -> tuple[int, ...]:
    return _vkey(repo.info("libc6").upstream_version)


def _binary_report(path: Path, pkg_name: str, pkg_version: str, host_glibc: tuple[int, ...]) -> dict[str, str]:
    info = elf.read_elf(path)
    g = info.max_glibc()
    return {
        "package": pkg_name,
        "version": pkg_version,
        "needed": " ".join(info.needed) or "(static)",
        "glibc": ".".join(map(str, g)) if g else "-",
        "loads_on_" + HOST_RELEASE: "yes" if (g is None or g <= host_glibc) else "no",
    }


def _in_tree(tree: Path, name: str) -> Path:
    """A program inside an unpacked package, wherever the release puts it (bookworm /bin, trixie /usr/bin)."""
    for d in ("usr/bin", "bin", "usr/sbin", "sbin", "usr/libexec/docker/cli-plugins"):
        p = tree / d / name
        if p.exists():
            return p
    raise LabError(f"{name} not found in {tree}")


def _find_lib(trees: Iterable[Path], soname: str) -> Path | None:
    for t in trees:
        for d in LIB_DIRS:
            p = t / d / soname
            if p.exists():
                return p
    return None


def lib_closure(binaries: Iterable[Path], trees: list[Path]) -> dict[str, Path]:
    """soname → file for every shared library the binaries need (transitively), plus the ELF interpreter and
    libgcc_s (glibc dlopens it for pthread_cancel)."""
    out: dict[str, Path] = {}
    todo = [Path(b) for b in binaries]
    gcc = _find_lib(trees, "libgcc_s.so.1")
    if gcc:
        todo.append(gcc)
        out["libgcc_s.so.1"] = gcc
    seen: set[Path] = set()
    while todo:
        b = todo.pop()
        if b in seen:
            continue
        seen.add(b)
        info = elf.read_elf(b)
        if info.interp:
            name = os.path.basename(info.interp)
            if name not in out:
                p = _find_lib(trees, name)
                if p is None:
                    raise LabError(f"interpreter {info.interp} of {b} not found in the unpacked packages")
                out[name] = p
        for so in info.needed:
            if so in out:
                continue
            p = _find_lib(trees, so)
            if p is None:
                raise LabError(f"{b.name} needs {so}: not found in the unpacked packages {[t.name for t in trees]}")
            out[so] = p
            todo.append(p)
    return out


class RootfsTar:
    """A tar of a tiny root filesystem (merged-usr layout), written in Python: uid/gid 0, fixed mtime."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar = tarfile.open(path, "w", format=tarfile.GNU_FORMAT)  # noqa: SIM115 (closed by close())
        self.dirs: set[str] = set()
        for name, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
            self.dir(target)
            self.symlink(name, target)
        for d in ("etc", "tmp", "run", "var", "root", "usr/local/bin", "usr/lib/x86_64-linux-gnu"):
            self.dir(d, 0o1777 if d == "tmp" else 0o755)
        self.symlink("var/run", "../run")

    def _info(self, name: str, type_: bytes, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name.lstrip("/"))
        ti.type = type_
        ti.mode = mode
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.mtime = 1700000000
        return ti

    def dir(self, name: str, mode: int = 0o755) -> None:
        name = name.strip("/")
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.tar.addfile(self._info(d, tarfile.DIRTYPE, mode if i == len(parts) else 0o755))

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        name = name.strip("/")
        self.dir(os.path.dirname(name)) if "/" in name else None
        ti = self._info(name, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))

    def copy(self, name: str, src: Path, mode: int | None = None) -> None:
        src = src.resolve()
        self.file(name, src.read_bytes(), mode if mode is not None else (src.stat().st_mode & 0o7777))

    def symlink(self, name: str, target: str) -> None:
        name = name.strip("/")
        if "/" in name:
            self.dir(os.path.dirname(name))
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)

    def libs(self, libs: dict[str, Path]) -> None:
        for so, p in sorted(libs.items()):
            self.copy(f"usr/lib/x86_64-linux-gnu/{so}", p)
            if so.startswith("ld-linux"):
                self.symlink(f"usr/lib64/{so}", f"../lib/x86_64-linux-gnu/{so}")

    def busybox(self, busybox: Path, skip: Iterable[str] = ()) -> list[str]:
        """/usr/bin/busybox plus a symlink per applet. (lab.md reports busybox-static 1.35 wget segfaulting; with
        1.35.0-4+deb12u1+b1 and 1.37.0-6+b9 it works here, http/https/DNS/--spider, so wget is kept.)"""
        self.copy("usr/bin/busybox", busybox, 0o755)
        applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
        made = []
        for a in applets:
            if a in skip or a == "busybox":
                continue
            self.symlink(f"usr/bin/{a}", "busybox")
            made.append(a)
        return made

    def etc_basics(self, extra_passwd: str = "", extra_group: str = "") -> None:
        self.file("etc/passwd", ("root:x:0:0:root:/root:/bin/sh\n" + extra_passwd +
                                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n").encode())  # fmt: skip
        self.file("etc/group", ("root:x:0:\n" + extra_group + "nogroup:x:65534:\n").encode())
        self.file("etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
        self.file("etc/hosts", b"127.0.0.1 localhost\n")

    def ca_bundle(self, ca_tree: Path) -> None:
        certs = sorted((ca_tree / "usr/share/ca-certificates").rglob("*.crt"))
        self.file("etc/ssl/certs/ca-certificates.crt", b"".join(c.read_bytes() for c in certs))

    def close(self) -> None:
        self.tar.close()


def _docker_import(rootfs_tar: Path, tag: str, changes: list[str]) -> None:
    args = []
    for c in changes:
        args += ["--change", c]
    docker("import", *args, str(rootfs_tar), tag, timeout=600)


def _docker_save_gz(tag: str, dest: Path, level: int = 6) -> None:
    tmp = dest.with_suffix(".part")
    p = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE, env={**os.environ, **docker_env()})
    assert p.stdout is not None
    with gzip.open(tmp, "wb", compresslevel=level) as gz:
        shutil.copyfileobj(p.stdout, gz, 1 << 20)
    if p.wait() != 0:
        raise LabError(f"docker save {tag} failed")
    tmp.rename(dest)


def _smoke(image: str, entrypoint: str, *args: str) -> str:
    """Run a command in the image on the lab daemon (no network): proves the binaries load."""
    cp = run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", entrypoint, image, *args],
        env=docker_env(),
        timeout=120,
    )
    return (cp.stdout + cp.stderr).strip()


def _code_hash(*fns: Callable[..., object]) -> str:
    return hashlib.sha256("".join(inspect.getsource(f) for f in fns).encode()).hexdigest()


class _Store:
    """Content-keyed cache: STORE/<kind>-<version>-<key16>/{<file>, meta.json}."""

    def __init__(self) -> None:
        STORE.mkdir(parents=True, exist_ok=True)

    def lookup(self, kind: str, version: str, key: str) -> Artifact | None:
        meta = STORE / f"{kind}-{version}-{key[:16]}" / "meta.json"
        if not meta.exists():
            return None
        d = json.loads(meta.read_text())
        d["path"] = Path(d["path"])
        a = Artifact(**d)
        if not a.path.exists() or a.path.stat().st_size != a.size:
            return None
        a.build_s = 0.0
        return a

    def dir(self, kind: str, version: str, key: str) -> Path:
        d = STORE / f"{kind}-{version}-{key[:16]}"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d

    def save(self, a: Artifact, key: str) -> None:
        a.sha256 = sha256_file(a.path)
        a.size = a.path.stat().st_size
        (STORE / f"{a.kind}-{a.version}-{key[:16]}" / "meta.json").write_text(json.dumps(a.to_json(), indent=1))


def _link(src: Path, rel: str) -> Path:
    """Hard-link src to BINARY_DIR/rel, atomically (another pytest session may be reading binary_dir)."""
    dest = BINARY_DIR / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(src, dest):
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dest)
    return dest


# ------------------------------------------------------------------------------------------------ builders


DOCKER_BINARIES = {
    # name in the tgz: (package, path inside the package)
    "dockerd": ("docker.io", "usr/sbin/dockerd"),
    "docker-proxy": ("docker.io", "usr/sbin/docker-proxy"),
    "containerd": ("containerd", "usr/bin/containerd"),
    "containerd-shim-runc-v2": ("containerd", "usr/bin/containerd-shim-runc-v2"),
    "ctr": ("containerd", "usr/bin/ctr"),
    "runc": ("runc", "usr/sbin/runc"),
    "docker-init": ("tini", "usr/bin/tini-static"),
}
# Binaries that may come from the host release when the new release's build cannot load there (runc links
# libseccomp through cgo and picks up glibc 2.38 symbols). dockerd, the CLI and containerd must never fall back.
FALLBACK_OK = {"runc"}


def _docker_packages(repo: AptRepo) -> dict[str, str]:
    pkgs = {name: pkg for name, (pkg, _) in DOCKER_BINARIES.items()}
    # bookworm's docker.io ships the CLI; from trixie on it is the separate docker-cli package
    try:
        repo.info("docker-cli")
        pkgs["docker"] = "docker-cli"
    except LabError:
        pkgs["docker"] = "docker.io"
    return pkgs


def build_docker(repo: AptRepo, host: AptRepo, store: _Store) -> Artifact:
    pkgs = _docker_packages(repo)
    paths = {**{k: v[1] for k, v in DOCKER_BINARIES.items()}, "docker": "usr/bin/docker"}
    host_glibc = _glibc_of_release(host)
    trees = repo.extract(sorted(set(pkgs.values())))
    version = repo.info("docker.io").upstream_version
    chosen: dict[str, tuple[AptRepo, str, Path]] = {}
    notes: list[str] = []
    for name, pkg in pkgs.items():
        src = trees[pkg] / paths[name]
        info = elf.read_elf(src)
        g = info.max_glibc()
        if g is not None and g > host_glibc:
            if name not in FALLBACK_OK or repo is host:
                raise LabError(
                    f"{name} from {repo.release} needs GLIBC_{'.'.join(map(str, g))} > {HOST_RELEASE}'s "
                    f"{'.'.join(map(str, host_glibc))}: it cannot run on the lab hosts"
                )
            htree = host.extract([pkg])[pkg]
            notes.append(
                f"{name}: {repo.release}'s {pkg} {repo.info(pkg).version} needs GLIBC_{'.'.join(map(str, g))} "
                f"(> {HOST_RELEASE}'s {'.'.join(map(str, host_glibc))}); bundled {HOST_RELEASE}'s "
                f"{pkg} {host.info(pkg).version} instead"
            )
            chosen[name] = (host, pkg, htree / paths[name])
        else:
            chosen[name] = (repo, pkg, src)
    key = sha256_json(
        {
            "v": version,
            "debs": {n: (r.release, r.info(p).sha256) for n, (r, p, _) in chosen.items()},
            "code": _code_hash(build_docker, _make_tgz),
        }
    )
    if (hit := store.lookup("docker", version, key)) is not None:
        return hit
    t0 = time.monotonic()
    d = store.dir("docker", version, key)
    out = d / f"docker-{version}.tgz"
    _make_tgz(out, {f"docker/{n}": p for n, (_r, _p, p) in chosen.items()})
    comps = {
        n: _binary_report(p, pkg, r.info(pkg).version, host_glibc) | {"release": r.release}
        for n, (r, pkg, p) in chosen.items()
    }
    a = Artifact("docker", version, out, "", 0, repo.release, comps, notes, time.monotonic() - t0)
    store.save(a, key)
    log(f"artifact docker-{version}.tgz ({a.size / 1e6:.0f} MB) built in {a.build_s:.1f}s")
    return a


def _make_tgz(out: Path, files: dict[str, Path], level: int = 1) -> None:
    """Official static-tgz layout: a `docker/` directory, files 0755 root:root. gzip level 1: fast, and nobody
    cares about a few MB here."""
    tmp = out.with_suffix(".part")
    with (
        gzip.open(tmp, "wb", compresslevel=level) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        top = tarfile.TarInfo("docker")
        top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tar.addfile(top)
        for name in sorted(files):
            src = files[name].resolve()
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = src.stat().st_size, 0o755, 1700000000
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            with open(src, "rb") as f:
                tar.addfile(ti, f)
    tmp.rename(out)


def patch_go_version_string(data: bytearray, old: str, new: str) -> None:
    """Replace a Go string set with -ldflags -X (one occurrence of its bytes, one string header {ptr,len}) by a
    string not longer than the old one: rewrite the bytes in place and the header's length."""
    ob, nb = old.encode(), new.encode()
    if len(nb) > len(ob):
        raise LabError("new version string must not be longer than the old one")
    offs = [m.start() for m in re.finditer(re.escape(ob), data)]
    if len(offs) != 1:
        raise LabError(f"expected exactly one {old!r} in the binary, found {len(offs)}")
    off = offs[0]
    # map file offset → virtual address via the ELF section headers
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    vaddr = None
    for i in range(shnum):
        base = shoff + i * shentsize
        _name, _type, _flags, addr, offset, size = struct.unpack_from("<IIQQQQ", data, base)
        if addr and offset <= off < offset + size:
            vaddr = addr + (off - offset)
            break
    if vaddr is None:
        raise LabError("version string not inside a loaded section")
    header = struct.pack("<QQ", vaddr, len(ob))
    hs = [m.start() for m in re.finditer(re.escape(header), data)]
    if len(hs) != 1:
        raise LabError(f"expected one Go string header for {old!r}, found {len(hs)}")
    data[off : off + len(ob)] = nb + b"\0" * (len(ob) - len(nb))
    data[hs[0] : hs[0] + 16] = struct.pack("<QQ", vaddr, len(nb))


def build_compose(repo: AptRepo, store: _Store) -> Artifact:
    info = repo.info("docker-compose")
    version = "v" + info.upstream_version
    key = sha256_json({"deb": info.sha256, "code": _code_hash(build_compose, patch_go_version_string)})
    if (hit := store.lookup("docker-compose", version, key)) is not None:
        return hit
    t0 = time.monotonic()
    tree = repo.extract(["docker-compose"])["docker-compose"]
    src = tree / "usr/libexec/docker/cli-plugins/docker-compose"
    data = bytearray(src.read_bytes())
    printed = subprocess.run([str(src), "version", "--short"], capture_output=True, text=True).stdout.strip()
    notes = []
    if printed != version:
        patch_go_version_string(data, printed, version)
        notes.append(f"Debian's build prints {printed!r}; version string patched to {version!r} (upstream format)")
    d = store.dir("docker-compose", version, key)
    out = d / "docker-compose"
    out.write_bytes(bytes(data))
    out.chmod(0o755)
    got = subprocess.run([str(out), "version"], capture_output=True, text=True).stdout.strip()
    if got != f"Docker Compose version {version}":
        raise LabError(f"patched docker-compose prints {got!r}")
    host_glibc = (2, 36)
    comps = {"docker-compose": _binary_report(out, "docker-compose", info.version, host_glibc)}
    a = Artifact("docker-compose", version, out, "", 0, repo.release, comps, notes, time.monotonic() - t0)
    store.save(a, key)
    log(f"artifact docker-compose {version} built in {a.build_s:.1f}s")
    return a


REGISTRY_CONFIG = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


def build_registry(repo: AptRepo, store: _Store) -> Artifact:
    pkgs = ["docker-registry", "busybox-static", "ca-certificates", "libc6", "libgcc-s1"]
    repo.prefetch(pkgs)
    version = repo.info("docker-registry").upstream_version
    key = sha256_json(
        {
            "debs": [repo.info(p).sha256 for p in pkgs],
            "conf": REGISTRY_CONFIG,
            "code": _code_hash(build_registry, RootfsTar, lib_closure, _docker_save_gz),
        }
    )
    if (hit := store.lookup("registry", version, key)) is not None:
        return hit
    t0 = time.monotonic()
    trees = repo.extract(pkgs)
    reg = trees["docker-registry"] / "usr/bin/docker-registry"
    libs = lib_closure([reg], list(trees.values()))
    d = store.dir("registry", version, key)
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        rt = RootfsTar(Path(tmp) / "rootfs.tar")
        rt.copy("usr/bin/registry", reg, 0o755)
        rt.libs(libs)
        rt.busybox(_in_tree(trees["busybox-static"], "busybox"))
        rt.etc_basics()
        rt.ca_bundle(trees["ca-certificates"])
        rt.file("etc/docker/registry/config.yml", REGISTRY_CONFIG.encode())
        rt.dir("var/lib/registry")
        rt.close()
        tag = f"registry:{version}"
        _docker_import(
            rt.path,
            tag,
            [
                'ENTRYPOINT ["/bin/registry"]',
                'CMD ["serve", "/etc/docker/registry/config.yml"]',
                "EXPOSE 5000",
                'VOLUME ["/var/lib/registry"]',
                f"LABEL {LABEL}.source=debian-{repo.release}-docker-registry-{repo.info('docker-registry').version}",
            ],
        )
    try:
        got = _smoke(tag, "/bin/registry", "--version")
        if version not in got:
            raise LabError(f"registry image prints {got!r}, expected {version}")
        out = d / f"registry-{version}-linux-{ARCH}.tgz"
        _docker_save_gz(tag, out)
    finally:
        docker("rmi", tag, check=False)
    comps = {"registry": _binary_report(reg, "docker-registry", repo.info("docker-registry").version, (9, 99))}
    a = Artifact("registry", version, out, "", 0, repo.release, comps, [f"/bin/registry --version: {got}"],
                 time.monotonic() - t0, tag)  # fmt: skip
    store.save(a, key)
    log(f"artifact registry-{version} image ({a.size / 1e6:.0f} MB) built in {a.build_s:.1f}s")
    return a


KEEPALIVED_RUN = """\
#!/bin/sh
# Lab stand-in for the osixia/keepalived entrypoint (osixia/light-baseimage's /container/tool/run).
# With or without --copy-service it takes /container/service/keepalived/assets/keepalived.conf (where the osixia
# image expects a user config), copies it to /etc/keepalived/keepalived.conf, and runs keepalived in the
# foreground with console logging. A config bind-mounted at /etc/keepalived/keepalived.conf works too. Other
# osixia flags (--loglevel LEVEL, --skip-*, ...) are accepted and ignored; `-- cmd args` runs cmd instead.
set -e
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; exec "$@" ;;
    --loglevel|-l) shift ;;
  esac
  shift
done
src=/container/service/keepalived/assets/keepalived.conf
conf=/etc/keepalived/keepalived.conf
mkdir -p /etc/keepalived
if [ -f "$src" ]; then
  if ! cp "$src" "$conf" 2>/dev/null; then conf="$src"; fi
fi
if [ ! -f "$conf" ]; then
  echo "*** no keepalived config: mount it at $src (osixia --copy-service) or at $conf" >&2
  exit 1
fi
echo "*** pulumi-kk lab osixia/keepalived stand-in: $(keepalived --version 2>&1 | head -n1), config $conf" >&2
exec /usr/sbin/keepalived --dont-fork --log-console --log-detail -f "$conf" ${KEEPALIVED_COMMAND_LINE_ARGUMENTS:-}
"""


def build_keepalived(repo: AptRepo, store: _Store) -> Artifact:
    closure = repo.lib_closure(["keepalived", "curl"])
    pkgs = sorted(set(closure) | {"busybox-static", "ca-certificates", "libc6", "libgcc-s1"})
    repo.prefetch(pkgs)
    version = repo.info("keepalived").upstream_version
    key = sha256_json(
        {
            "debs": [repo.info(p).sha256 for p in pkgs],
            "run": KEEPALIVED_RUN,
            "code": _code_hash(build_keepalived, RootfsTar, lib_closure, _docker_save_gz),
        }
    )
    if (hit := store.lookup("keepalived", version, key)) is not None:
        return hit
    t0 = time.monotonic()
    trees = repo.extract(pkgs)
    ka = trees["keepalived"] / "usr/sbin/keepalived"
    curl = trees["curl"] / "usr/bin/curl"
    libs = lib_closure([ka, curl], list(trees.values()))
    d = store.dir("keepalived", version, key)
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        rt = RootfsTar(Path(tmp) / "rootfs.tar")
        rt.copy("usr/sbin/keepalived", ka, 0o755)
        rt.copy("usr/bin/curl", curl, 0o755)
        rt.libs(libs)
        rt.busybox(_in_tree(trees["busybox-static"], "busybox"))
        rt.etc_basics(
            extra_passwd="keepalived_script:x:999:999::/nonexistent:/usr/sbin/nologin\n",
            extra_group="keepalived_script:x:999:\n",
        )
        rt.ca_bundle(trees["ca-certificates"])
        rt.file("container/tool/run", KEEPALIVED_RUN.encode(), 0o755)
        rt.dir("container/service/keepalived/assets")
        rt.dir("etc/keepalived")
        # keepalived >= 2.3 reads its build options from this file for --version
        for opts in (trees["keepalived"] / "etc/keepalived").glob("*.config-opts"):
            rt.copy(f"etc/keepalived/{opts.name}", opts, 0o644)
        rt.close()
        tag = f"osixia/keepalived:{version}"
        _docker_import(
            rt.path,
            tag,
            [
                'ENTRYPOINT ["/container/tool/run"]',
                f"ENV KEEPALIVED_VERSION={version}",
                f"LABEL {LABEL}.source=debian-{repo.release}-keepalived-{repo.info('keepalived').version}",
            ],
        )
    try:
        got = _smoke(tag, "/usr/sbin/keepalived", "--version")
        if f"v{version}" not in got:
            raise LabError(f"keepalived image prints {got!r}, expected v{version}")
        _smoke(tag, "/usr/bin/curl", "--version")
        _smoke(tag, "/bin/sh", "-c", "nc --help 2>&1 | head -n1")
        out = d / f"keepalived-{version}-linux-{ARCH}.tgz"
        _docker_save_gz(tag, out)
    finally:
        docker("rmi", tag, check=False)
    comps = {
        "keepalived": _binary_report(ka, "keepalived", repo.info("keepalived").version, (9, 99)),
        "curl": _binary_report(curl, "curl", repo.info("curl").version, (9, 99)),
    }
    a = Artifact("keepalived", version, out, "", 0, repo.release, comps,
                 [f"keepalived --version: {got.splitlines()[0]}", f"libraries: {len(libs)}"],
                 time.monotonic() - t0, tag)  # fmt: skip
    store.save(a, key)
    log(f"artifact keepalived-{version} image ({a.size / 1e6:.0f} MB) built in {a.build_s:.1f}s")
    return a


HAPROXY_ENTRYPOINT = """\
#!/bin/sh
# Lab stand-in for the official haproxy image's entrypoint: options alone ("-f x.cfg") run haproxy with them;
# "haproxy ..." runs in master-worker mode in the foreground (-W -db); anything else is exec'd as given.
set -e
case "${1:-}" in
  -*) set -- haproxy "$@" ;;
esac
if [ "${1:-}" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
"""


def build_haproxy(repo: AptRepo, store: _Store) -> Artifact:
    """`haproxy:{v}` like the official image: config /usr/local/etc/haproxy/haproxy.cfg, CMD haproxy -f …,
    entrypoint adding -W -db, USER haproxy (uid 99; pulumi_kk's compose file runs it as user 0)."""
    closure = repo.lib_closure(["haproxy"])
    pkgs = sorted(set(closure) | {"busybox-static", "ca-certificates", "libc6", "libgcc-s1"})
    repo.prefetch(pkgs)
    version = repo.info("haproxy").upstream_version
    key = sha256_json(
        {
            "debs": [repo.info(p).sha256 for p in pkgs],
            "entry": HAPROXY_ENTRYPOINT,
            "code": _code_hash(build_haproxy, RootfsTar, lib_closure, _docker_save_gz),
        }
    )
    if (hit := store.lookup("haproxy", version, key)) is not None:
        return hit
    t0 = time.monotonic()
    trees = repo.extract(pkgs)
    hap = _in_tree(trees["haproxy"], "haproxy")
    libs = lib_closure([hap], list(trees.values()))
    d = store.dir("haproxy", version, key)
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        rt = RootfsTar(Path(tmp) / "rootfs.tar")
        rt.copy("usr/local/sbin/haproxy", hap, 0o755)
        rt.libs(libs)
        rt.busybox(_in_tree(trees["busybox-static"], "busybox"))
        rt.etc_basics(extra_passwd="haproxy:x:99:99:haproxy:/var/lib/haproxy:/usr/sbin/nologin\n",
                      extra_group="haproxy:x:99:\n")  # fmt: skip
        rt.ca_bundle(trees["ca-certificates"])
        rt.file("usr/local/bin/docker-entrypoint.sh", HAPROXY_ENTRYPOINT.encode(), 0o755)
        rt.dir("usr/local/etc/haproxy")
        rt.dir("var/lib/haproxy")
        rt.file(
            "usr/local/etc/haproxy/haproxy.cfg",
            b"# lab default (the official image ships none): replace by mounting your own\n"
            b"global\n  log stdout format raw local0\ndefaults\n  mode http\n  timeout connect 5s\n"
            b"  timeout client 30s\n  timeout server 30s\n",
        )
        rt.close()
        tag = f"haproxy:{version}"
        _docker_import(
            rt.path,
            tag,
            [
                'ENTRYPOINT ["docker-entrypoint.sh"]',
                'CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "USER haproxy",
                "WORKDIR /var/lib/haproxy",
                f"LABEL {LABEL}.source=debian-{repo.release}-haproxy-{repo.info('haproxy').version}",
            ],
        )
    try:
        got = _smoke(tag, "/usr/local/sbin/haproxy", "-v")
        if f"version {version}" not in got:
            raise LabError(f"haproxy image prints {got!r}, expected version {version}")
        _smoke(tag, "docker-entrypoint.sh", "haproxy", "-c", "-f", "/usr/local/etc/haproxy/haproxy.cfg")
        out = d / f"haproxy-{version}-linux-{ARCH}.tgz"
        _docker_save_gz(tag, out)
    finally:
        docker("rmi", tag, check=False)
    comps = {"haproxy": _binary_report(hap, "haproxy", repo.info("haproxy").version, (9, 99))}
    a = Artifact("haproxy", version, out, "", 0, repo.release, comps,
                 [f"haproxy -v: {got.splitlines()[0]}", f"libraries: {len(libs)}"],
                 time.monotonic() - t0, tag)  # fmt: skip
    store.save(a, key)
    log(f"artifact haproxy-{version} image ({a.size / 1e6:.0f} MB) built in {a.build_s:.1f}s")
    return a


# ------------------------------------------------------------------------------------ tiny images (pushes)


@dataclass(frozen=True)
class TinyImage:
    path: Path  # docker-archive tarball (skopeo: docker-archive:<path>; docker load -i <path>)
    tag: str  # repo:tag recorded in the archive
    config_digest: str  # sha256:… of the image config (distinct per image)


def _layer_tar(files: dict[str, tuple[bytes, int]], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(set(files) | set(symlinks or {})):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
                    tar.addfile(ti)
            if name in files:
                data, mode = files[name]
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = len(data), mode, 1700000000
                tar.addfile(ti, io.BytesIO(data))
            else:
                ti = tarfile.TarInfo(name)
                ti.type, ti.mode, ti.mtime = tarfile.SYMTYPE, 0o777, 1700000000
                ti.linkname = (symlinks or {})[name]
                tar.addfile(ti)
    return buf.getvalue()


def write_docker_archive(dest: Path, tag: str, layers: list[bytes], cmd: list[str]) -> TinyImage:
    """A docker-archive (docker save format) written directly: manifest.json, config, uncompressed layers."""
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = {
        "architecture": ARCH,
        "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "created": "2023-11-14T22:13:20Z",
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "pulumi-kk lab"} for _ in layers],
    }
    cfg = json.dumps(config, sort_keys=True).encode()
    cfg_hex = hashlib.sha256(cfg).hexdigest()
    manifest = [{"Config": f"{cfg_hex}.json", "RepoTags": [tag], "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:

        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
            tar.addfile(ti, io.BytesIO(data))

        add(f"{cfg_hex}.json", cfg)
        for d, layer in zip(diff_ids, layers, strict=True):
            add(f"{d[7:]}/layer.tar", layer)
            add(f"{d[7:]}/VERSION", b"1.0")
        add("manifest.json", json.dumps(manifest).encode())
        repo, _, t = tag.rpartition(":")
        add("repositories", json.dumps({repo: {t: diff_ids[-1][7:]}}).encode())
    tmp.rename(dest)
    return TinyImage(dest, tag, "sha256:" + cfg_hex)


def make_tiny_images(n: int, dest: Path, repo: str = "lab/tiny", salt: str = "") -> list[TinyImage]:
    """`n` distinct one-layer images (a few KB each, distinct config and layer digests) as docker-archives
    `dest/tiny-<i>.tar` tagged `<repo>:<i>`. Same (i, salt) → same digests; vary `salt` for fresh ones."""
    out = []
    for i in range(1, n + 1):
        layer = _layer_tar({"lab-image-id": (f"{repo}:{i} {salt}\n".encode(), 0o644)})
        out.append(write_docker_archive(dest / f"tiny-{i}.tar", f"{repo}:{i}", [layer], ["/lab-image-id"]))
    return out


def build_busybox_tar(repo: AptRepo) -> Path:
    info = repo.info("busybox-static")
    dest = IMAGES_DIR / "busybox.tar"
    stamp = IMAGES_DIR / "busybox.tar.key"
    key = sha256_json({"deb": info.sha256, "code": _code_hash(build_busybox_tar, write_docker_archive)})
    if dest.exists() and stamp.exists() and stamp.read_text() == key:
        return dest
    t0 = time.monotonic()
    tree = repo.extract(["busybox-static"])["busybox-static"]
    bb_path = _in_tree(tree, "busybox")
    bb = bb_path.read_bytes()
    applets = subprocess.run([str(bb_path), "--list"], capture_output=True, text=True, check=True)
    links = {f"bin/{a}": "busybox" for a in applets.stdout.split() if a != "busybox"}
    layer = _layer_tar({"bin/busybox": (bb, 0o755), "etc/passwd": (b"root:x:0:0:root:/root:/bin/sh\n", 0o644)},
                       links)  # fmt: skip
    write_docker_archive(dest, f"lab/busybox:{info.upstream_version}", [layer], ["sh"])
    stamp.write_text(key)
    log(f"image {dest} ({dest.stat().st_size / 1e6:.1f} MB) built in {time.monotonic() - t0:.1f}s")
    return dest


# ------------------------------------------------------------------------------------------------ all


_build_lock = threading.Lock()


def build_all(parallel: int = 3) -> LabArtifacts:
    """Build (or take from the cache) every artifact; link them into BINARY_DIR; write manifest.json."""
    with _build_lock, file_lock("artifacts"):
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        old, new = AptRepo(HOST_RELEASE), AptRepo(NEW_RELEASE)
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda r: r.update(), (old, new)))
        timings["apt-update"] = time.monotonic() - t0
        # one download round per release (apt-get fetches in parallel)
        t1 = time.monotonic()
        for r in (old, new):
            names = set(_docker_packages(r).values()) | {"docker-registry", "busybox-static", "ca-certificates"}
            names |= set(r.lib_closure(["keepalived", "curl", "haproxy"])) | {"libc6", "libgcc-s1"}
            if r is new:
                names.add("docker-compose")
            r.prefetch(sorted(names))
            r.download(sorted(names))
        timings["download"] = time.monotonic() - t1
        store = _Store()
        jobs: dict[str, Callable[[], Artifact]] = {
            f"docker-{old.release}": lambda: build_docker(old, old, store),
            f"docker-{new.release}": lambda: build_docker(new, old, store),
            "docker-compose": lambda: build_compose(new, store),
            f"registry-{old.release}": lambda: build_registry(old, store),
            f"registry-{new.release}": lambda: build_registry(new, store),
            f"keepalived-{old.release}": lambda: build_keepalived(old, store),
            f"keepalived-{new.release}": lambda: build_keepalived(new, store),
            f"haproxy-{old.release}": lambda: build_haproxy(old, store),
            f"haproxy-{new.release}": lambda: build_haproxy(new, store),
        }
        items: dict[str, dict[str, Artifact]] = {}
        t2 = time.monotonic()
        with ThreadPoolExecutor(parallel) as ex:
            futs = {name: ex.submit(fn) for name, fn in jobs.items()}
            bb = ex.submit(build_busybox_tar, old)
            for name, fut in futs.items():
                a = fut.result()
                timings[name] = round(a.build_s, 2)
                items.setdefault(a.kind, {})[a.version] = a
            busybox = bb.result()
        timings["build"] = time.monotonic() - t2
        # binary_dir: exactly the current artifacts (linked atomically; files of versions no longer built are
        # removed afterwards, never the whole tree: another session may be using it)
        managed = [BINARY_DIR / "docker", *[BINARY_DIR / "image-registry" / k for k in MANAGED_IMAGE_REGISTRY_DIRS]]

        def managed_files() -> set[Path]:
            return {p for d in managed if d.exists() for p in d.rglob("*") if p.is_file()}

        before = managed_files()
        for kind, by_v in items.items():
            for v, a in by_v.items():
                if kind == "docker":
                    a.path = _link(a.path, f"docker/{v}/{ARCH}/docker-{v}.tgz")
                elif kind == "docker-compose":
                    a.path = _link(a.path, f"image-registry/docker-compose/{v}/{ARCH}/docker-compose")
                elif kind == "registry":
                    _link(a.path, f"image-registry/docker-registry/{v}/{ARCH}/docker-registry-{v}-linux-{ARCH}.tgz")
                    a.path = _link(a.path, f"image-registry/registry/{v}/{ARCH}/registry-{v}-linux-{ARCH}.tgz")
                elif kind == "keepalived":
                    a.path = _link(a.path, f"image-registry/keepalived/{v}/{ARCH}/keepalived-{v}-linux-{ARCH}.tgz")
                elif kind == "haproxy":
                    a.path = _link(a.path, f"image-registry/haproxy/{v}/{ARCH}/haproxy-{v}-linux-{ARCH}.tgz")
        current = managed_files()
        linked = {a.path for by in items.values() for a in by.values()}
        linked |= {
            BINARY_DIR / f"image-registry/docker-registry/{v}/{ARCH}/docker-registry-{v}-linux-{ARCH}.tgz"
            for v in items.get("registry", {})
        }
        for stale in sorted((before | current) - linked):
            stale.unlink(missing_ok=True)
        for d in sorted((p for m in managed if m.exists() for p in m.rglob("*") if p.is_dir()),
                        key=lambda p: -len(p.parts)):  # fmt: skip
            if not any(d.iterdir()):
                d.rmdir()
        timings["total"] = time.monotonic() - t0
        res = LabArtifacts(BINARY_DIR, items, busybox, {k: round(t, 2) for k, t in timings.items()})
        for k, t in res.timings.items():
            record_timing(f"artifacts: {k}", t)
        (ART_DIR / "manifest.json").write_text(
            json.dumps(
                {
                    "binary_dir": str(BINARY_DIR),
                    "busybox_tar": str(busybox),
                    "timings_s": res.timings,
                    "items": {k: {v: a.to_json() for v, a in by.items()} for k, by in items.items()},
                },
                indent=1,
            )
        )
        built = [f"{k} {v}" for k, by in items.items() for v, a in by.items() if a.build_s]
        log(
            f"artifacts ready in {timings['total']:.1f}s (built: {', '.join(built) or 'none, all cached'}); "
            f"binary_dir={BINARY_DIR}"
        )
        return res


if __name__ == "__main__":  # python -m lab.artifacts (from tests/): build and print the manifest
    from .common import ensure_daemon

    ensure_daemon()
    res = build_all()
    print(json.dumps(res.timings, indent=1))
    for kind, by in res.items.items():
        for v, a in by.items():
            print(f"{kind:15} {v:10} {a.size / 1e6:7.1f} MB  {a.path}")
            for n in a.notes:
                print(f"{'':27}note: {n}")
    sys.exit(0)
