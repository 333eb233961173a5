"""A CNCF distribution registry binary WITH the Azure storage driver, built offline from Debian bookworm.

Debian's docker-registry 2.8.2+ds1 is built without the azure driver (debian/patches/0003-no-azure.patch drops
its blank import; NEWS: "The Azure storage driver is no longer supported"), so `docker-registry serve` with
`storage: azure` panics "StorageDriver not registered: azure". The upstream driver is still inside Debian's
`docker-registry_2.8.2+ds1.orig.tar.xz`, and the legacy SDK it needs (github.com/Azure/azure-sdk-for-go/storage)
is in golang-github-azure-azure-sdk-for-go-dev. Recipe (storage-emulators.md §4.2):

  1. private apt configuration (lab/apt.py; nothing on the machine changes): `apt-get source --download-only
     docker-registry` from a deb-src list, and the golang-* closure of ROOTS (`apt-cache depends --recurse`)
     fetched with `apt-get download` and unpacked with `dpkg-deb -x` (shared per-deb cache of lab/apt.py);
  2. the unpacked trees are hard-linked into one private sysroot (GOROOT = usr/lib/go-1.19, GOPATH =
     usr/share/gocode); the upstream azure driver is copied from the orig tarball into GOPATH;
  3. main.go = Debian's cmd/registry/main.go plus `_ ".../registry/storage/driver/azure"`;
  4. `GO111MODULE=off GOPROXY=off CGO_ENABLED=0 go build -ldflags '-X .../version.Version=2.8.2+azure'`.

The result is a static binary cached under ``cache_dir/<recipe hash>/registry`` with ``manifest.json`` (packages,
versions, sha256, source files, timings). The recipe hash covers this module's source (every constant and step
above); a second call with the same recipe returns at once without touching apt. Also under cache_dir: ``source/``
(the .dsc and tarballs), ``gocache/`` (Go build cache, kept: a changed recipe rebuilds in seconds) and ``work/``
(the hard-linked sysroot, removed after a successful build). The unpacked debs (about 1.3 GB) live in lab/apt.py's
shared per-deb cache, .lab/apt/x.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import elf
from .apt import APT_DIR, AptRepo
from .common import LabError, file_lock, log, need_tool, record_timing, run, sha256_file

RELEASE = "bookworm"
SOURCE_PACKAGE = "docker-registry"
UPSTREAM_VERSION = "2.8.2"  # the recipe (azure driver API, Debian's patches) was checked for this release only
VERSION = f"{UPSTREAM_VERSION}+azure"
GO_PACKAGE = "golang-1.19-go"
GOROOT_REL = "usr/lib/go-1.19"
GOPATH_REL = "usr/share/gocode"
IMPORT_ROOT = "github.com/docker/distribution"
AZURE_DRIVER_DIR = "registry/storage/driver/azure"
MAIN_PKG = f"{IMPORT_ROOT}/cmd/registry-azure"
# Roots of the package closure. docker-distribution-dev does not depend on the two logrus hooks that
# registry/registry.go imports, so they are roots of their own.
ROOTS = (
    "golang-github-docker-distribution-dev",
    "golang-github-azure-azure-sdk-for-go-dev",
    GO_PACKAGE,
    "golang-1.19-src",
    "golang-github-shopify-logrus-bugsnag-dev",
    "golang-github-bshuster-repo-logrus-logstash-hook-dev",
)
# Fetched (they are in the closure) but not merged into the sysroot: -1-3 and -1-5 both install
# github.com/golang/protobuf; 1.5 (an API superset built on google.golang.org/protobuf) must win whole.
NOT_MERGED = ("golang-github-golang-protobuf-1-3-dev",)
BINARY_NAME = "registry"
MANIFEST_NAME = "manifest.json"


class _SourceRepo(AptRepo):
    """`AptRepo` with deb-src lines only, in its own root (apt.py has no deb-src support yet).

    Same mirror, keyring, apt.conf.d parts and suites as ``AptRepo(release)``; only the sources list and the
    root differ, so `apt-get source` works without touching the binary lists other lab code uses.
    """

    def __init__(self, release: str) -> None:
        super().__init__(release)
        self.root = APT_DIR / f"{release}-src"
        self.conf = self.root / "apt.conf"

    def _sources_text(self) -> str:
        return "".join(f"deb-src {line[4:]}\n" for line in super()._sources_text().splitlines())

    def download_source(self, name: str, version: str, dest: Path) -> list[Path]:
        """`apt-get source --download-only name=version` into dest (verified against the signed Sources)."""
        dest.mkdir(parents=True, exist_ok=True)
        cp = run(
            ["apt-get", "source", "-q", "--download-only", f"{name}={version}"],
            env=self._env(),
            cwd=dest,
            check=False,
            timeout=600,
        )
        if cp.returncode != 0:
            raise LabError(
                f"apt-get source --download-only {name}={version} failed (deb-src of {self.release} on "
                f"{self.mirror}):\n{cp.stderr}"
            )
        dsc = dest / f"{name}_{version.split(':')[-1]}.dsc"
        if not dsc.exists():
            raise LabError(f"apt-get source did not produce {dsc.name} in {dest}")
        files = [dsc]
        in_files = False
        for line in dsc.read_text().splitlines():
            if line.startswith("Checksums-Sha256:"):
                in_files = True
            elif in_files and line.startswith(" "):
                files.append(dest / line.split()[2])
            elif in_files:
                break
        return files


def recipe_hash() -> str:
    """Content hash of the recipe: this module's source holds every constant and step of the build."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _cached(out_dir: Path) -> Path | None:
    binary = out_dir / BINARY_NAME
    if binary.is_file() and os.access(binary, os.X_OK) and (out_dir / MANIFEST_NAME).is_file():
        return binary
    return None


def build_azure_registry(cache_dir: Path) -> Path:
    """Path of a static registry 2.8.2 binary that includes the azure storage driver; built once per recipe."""
    t0 = time.monotonic()
    key = recipe_hash()
    out_dir = Path(cache_dir) / key[:16]
    binary = _cached(out_dir)
    if binary is not None:
        log(f"azure registry: cached {binary} (recipe {key[:12]}, {time.monotonic() - t0:.2f}s)")
        return binary
    # one build at a time per cache_dir: the work dir and the Go build cache (cache_dir/gocache) are shared
    lock = hashlib.sha256(str(Path(cache_dir).resolve()).encode()).hexdigest()[:12]
    with file_lock(f"azure-registry-{lock}"):
        binary = _cached(out_dir)  # another process built it while we waited
        if binary is None:
            binary = _build(Path(cache_dir), out_dir, key)
    log(f"azure registry: {binary} ready in {time.monotonic() - t0:.1f}s")
    return binary


def _phase(timings: dict[str, float], name: str, t: float) -> float:
    now = time.monotonic()
    timings[name] = round(now - t, 2)
    record_timing(f"azure registry: {name}", now - t)
    log(f"azure registry: {name} {now - t:.1f}s")
    return now


def _build(cache_dir: Path, out_dir: Path, key: str) -> Path:
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        need_tool(tool)
    timings: dict[str, float] = {}
    t = time.monotonic()
    # A fixed work path: without -trimpath (which would make Debian's precompiled std stale and double the
    # compile time) Go's cache keys include source directories, so a stable path keeps cache_dir/gocache useful.
    work = cache_dir / "work"
    if work.exists():
        run(["rm", "-rf", "--one-file-system", str(work)])
    work.mkdir(parents=True)

    repo = AptRepo(RELEASE)
    src_repo = _SourceRepo(RELEASE)
    repo.update()
    src_repo.update()
    t = _phase(timings, "apt update", t)

    # -- package set: the golang-* closure of ROOTS, at the versions the private lists offer
    names = _closure(repo, list(ROOTS))
    repo.prefetch(names)
    infos = repo.download(names)
    t = _phase(timings, f"download {len(infos)} .debs", t)

    dist_version = repo.info("golang-github-docker-distribution-dev").version
    if dist_version.split(":")[-1].split("+")[0] != UPSTREAM_VERSION:
        raise LabError(
            f"Debian {RELEASE} now has docker-distribution {dist_version}, the recipe was written for "
            f"{UPSTREAM_VERSION}: review tests/lab/azure_registry.py (UPSTREAM_VERSION, ROOTS, the driver copy)"
        )
    src_files = src_repo.download_source(SOURCE_PACKAGE, dist_version, cache_dir / "source")
    driver = _driver_files(src_files)
    t = _phase(timings, f"source {SOURCE_PACKAGE} {dist_version}", t)

    trees = _extract_parallel(repo, names)
    t = _phase(timings, "dpkg-deb -x (shared per-deb cache)", t)

    sysroot = work / "sysroot"
    conflicts = _merge([trees[n] for n in names if n not in NOT_MERGED], sysroot)
    if conflicts:
        log(f"azure registry: {len(conflicts)} paths shipped by more than one package, last wins: {conflicts[:5]}")
    goroot = sysroot / GOROOT_REL
    gopath = sysroot / GOPATH_REL
    go = goroot / "bin" / "go"
    if not go.is_file():
        raise LabError(f"{GO_PACKAGE} did not provide {GOROOT_REL}/bin/go (got {sorted(trees)})")
    dist = gopath / "src" / IMPORT_ROOT
    debian_main = dist / "cmd" / "registry" / "main.go"
    if not debian_main.is_file():
        raise LabError(f"golang-github-docker-distribution-dev {dist_version} has no cmd/registry/main.go")
    azure_dir = dist / AZURE_DRIVER_DIR
    azure_dir.mkdir(parents=True, exist_ok=True)
    # new files only: everything else in the sysroot is a hard link into the shared per-deb cache
    for name, data in driver.items():
        _write_new(azure_dir / name, data)
    _write_new(gopath / "src" / MAIN_PKG / "main.go", _main_go(debian_main.read_text()).encode())
    t = _phase(timings, "sysroot (hard links) + azure driver + main.go", t)

    # -- build
    binary_tmp = work / BINARY_NAME
    env = {
        "GOROOT": str(goroot),
        "GOPATH": str(gopath),
        "GO111MODULE": "off",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOENV": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
        "GOOS": "linux",
        "GOARCH": "amd64",
        "GOCACHE": str(cache_dir / "gocache"),
        "GOTMPDIR": "",
        "HOME": str(work),
        "PATH": f"{goroot / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    go_version = run([str(go), "version"], env=env).stdout.strip()
    cp = run(
        [
            str(go),
            "build",
            "-buildvcs=false",
            "-ldflags",
            f"-X {IMPORT_ROOT}/version.Version={VERSION}",
            "-o",
            str(binary_tmp),
            MAIN_PKG,
        ],
        env=env,
        cwd=work,
        check=False,
        timeout=900,
    )
    if cp.returncode != 0:
        missing = sorted(set(re.findall(r'cannot find package "([^"]+)"', cp.stderr)))
        hint = (
            f"Go packages not provided by the fetched debs: {', '.join(missing)} (add the golang-*-dev packages "
            "that ship them to ROOTS)\n"
            if missing
            else ""
        )
        raise LabError(f"go build of the azure registry failed ({go_version}):\n{hint}{cp.stderr[-6000:]}")
    t = _phase(timings, f"go build ({go_version})", t)

    info = elf.read_elf(binary_tmp)
    if not info.static:
        raise LabError(f"{binary_tmp} is not static (interp={info.interp}, needed={info.needed})")
    out_dir.mkdir(parents=True, exist_ok=True)
    size = binary_tmp.stat().st_size
    meta: dict[str, object] = {
        "recipe": key,
        "version": VERSION,
        "go": go_version,
        "release": RELEASE,
        "mirror": repo.mirror,
        "source": {
            "package": SOURCE_PACKAGE,
            "version": dist_version,
            "files": {p.name: sha256_file(p) for p in src_files},
            "azure_driver": sorted(driver),
        },
        "packages": [
            {
                "name": p.name,
                "version": p.version,
                "sha256": p.sha256,
                "size": p.size,
                "merged": p.name not in NOT_MERGED,
            }
            for p in infos
        ],
        "size": size,
        "sha256": sha256_file(binary_tmp),
        "timings_s": timings,
    }
    # binary first, manifest last: _cached() only trusts a directory whose manifest exists
    os.replace(binary_tmp, out_dir / BINARY_NAME)
    (out_dir / MANIFEST_NAME).write_text(json.dumps(meta, indent=2) + "\n")
    t = _phase(timings, "check + install", t)
    for old in cache_dir.iterdir():  # outputs of earlier recipes (this module's older versions)
        if old != out_dir and re.fullmatch(r"[0-9a-f]{16}", old.name) and (old / MANIFEST_NAME).exists():
            run(["rm", "-rf", "--one-file-system", str(old)], check=False)
    # removed (not kept for the next build): its hard links would keep .lab/apt/x's data alive after a purge
    run(["rm", "-rf", "--one-file-system", str(work)], check=False)
    _phase(timings, "cleanup", t)
    log(
        f"azure registry: built {out_dir / BINARY_NAME} ({size / 1e6:.1f} MB, static) from "
        f"{len(infos)} debs + {SOURCE_PACKAGE} {dist_version}"
    )
    return out_dir / BINARY_NAME


def manifest(binary: Path) -> dict[str, object]:
    """The build manifest next to a binary returned by build_azure_registry."""
    data: dict[str, object] = json.loads((binary.parent / MANIFEST_NAME).read_text())
    return data


def _closure(repo: AptRepo, roots: list[str]) -> list[str]:
    """golang-* packages in the recursive Depends closure of roots (alternatives included, as apt-cache lists them)."""
    cp = run(
        [
            "apt-cache",
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            *roots,
        ],
        env=repo._env(),
        check=False,
    )
    if cp.returncode != 0:
        raise LabError(f"apt-cache depends failed for {roots} in the private {RELEASE} config:\n{cp.stderr}")
    names = sorted({ln.strip() for ln in cp.stdout.splitlines() if ln.startswith("golang-")})
    missing = [r for r in roots if r not in names]
    if missing:
        raise LabError(f"packages not found in {RELEASE} ({repo.mirror}): {', '.join(missing)}")
    # pure virtual names (e.g. a "golang-…" Provides) have no candidate: keep the real packages only
    repo.prefetch(names)
    virtual = [n for n in names if n not in repo._info]
    return [n for n in names if n not in virtual]


def _driver_files(src_files: list[Path]) -> dict[str, bytes]:
    """The upstream azure driver (non-test .go files) from the orig tarball."""
    origs = [p for p in src_files if ".orig.tar" in p.name]
    if not origs:
        raise LabError(f"no orig tarball among {[p.name for p in src_files]}")
    out: dict[str, bytes] = {}
    with tarfile.open(origs[0]) as tf:
        for m in tf:
            parts = m.name.split("/")
            if (
                m.isfile()
                and "/".join(parts[1:-1]) == AZURE_DRIVER_DIR
                and parts[-1].endswith(".go")
                and not parts[-1].endswith("_test.go")
            ):
                f = tf.extractfile(m)
                assert f is not None
                out[parts[-1]] = f.read()
    if "azure.go" not in out:
        raise LabError(f"{origs[0].name} has no {AZURE_DRIVER_DIR}/azure.go: the upstream azure driver is gone")
    return out


def _main_go(debian_main: str) -> str:
    """Debian's cmd/registry/main.go with the azure driver's blank import added next to the other drivers."""
    line = f'\t_ "{IMPORT_ROOT}/{AZURE_DRIVER_DIR}"\n'
    if line in debian_main:
        return debian_main
    anchor = f'\t_ "{IMPORT_ROOT}/registry/storage/driver/filesystem"\n'
    if anchor not in debian_main:
        raise LabError("Debian's cmd/registry/main.go has no filesystem driver import to put the azure one next to")
    return debian_main.replace(anchor, line + anchor, 1)


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()  # never write through a hard link into the shared cache
    path.write_bytes(data)


def _extract_parallel(repo: AptRepo, names: list[str]) -> dict[str, Path]:
    """AptRepo.extract per package, biggest first, on all cores (xz decompression is the bottleneck)."""
    by_size = sorted(names, key=lambda n: -repo.info(n).size)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda n: repo.extract([n]), by_size))
    out: dict[str, Path] = {}
    for r in results:
        out.update(r)
    return out


def _merge(trees: list[Path], dest: Path) -> list[str]:
    """Hard-link every file and symlink of trees into dest (later trees win); returns the conflicting paths."""
    conflicts: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    for tree in trees:
        for dirpath, dirnames, filenames in os.walk(tree):
            rel = os.path.relpath(dirpath, tree)
            target_dir = dest / rel
            for d in list(dirnames):
                src = os.path.join(dirpath, d)
                if os.path.islink(src):  # os.walk lists symlinks to dirs as dirs: copy the link itself
                    dirnames.remove(d)
                    filenames.append(d)
                else:
                    (target_dir / d).mkdir(exist_ok=True)
            for f in filenames:
                if f == ".done" and rel == ".":
                    continue
                src = os.path.join(dirpath, f)
                dst = target_dir / f
                if dst.exists() or dst.is_symlink():
                    conflicts.append(os.path.join(rel, f))
                    if dst.is_dir() and not dst.is_symlink():
                        shutil.rmtree(dst)
                    else:
                        dst.unlink()
                if os.path.islink(src):
                    os.symlink(os.readlink(src), dst)
                else:
                    os.link(src, dst)
    return conflicts
