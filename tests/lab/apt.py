"""Debian packages for the lab, fetched with a PRIVATE apt configuration.

The machine's own apt sources are only read (to learn the mirror); they are never changed. Each suite set
(bookworm, trixie) gets its own sources list, lists directory and cache under ``.lab/apt/<name>/``; packages are
fetched with ``apt-get download`` and unpacked with ``dpkg -x``. Nothing is installed on the machine.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .common import LAB_DIR, LabError, file_lock, log, need_tool, run

APT_DIR = LAB_DIR / "apt"
DEB_DIR = APT_DIR / "debs"  # shared by all suites: file names carry package, version and arch
X_DIR = APT_DIR / "x"  # one unpacked tree per .deb
LISTS_MAX_AGE_S = 6 * 3600
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None


def machine_sources() -> list[AptSource]:
    """The `deb` entries of this machine's apt configuration (deb822 *.sources and one-line *.list files)."""
    out: list[AptSource] = []
    parts = sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    for path in parts:
        text = Path(path).read_text()
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = ""
            for line in stanza.splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if line[0] in " \t" and key:
                    fields[key] += " " + line.strip()
                    continue
                k, _, v = line.partition(":")
                key = k.strip().lower()
                fields[key] = v.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                out.append(
                    AptSource(
                        uri=uri.rstrip("/"),
                        suites=tuple(fields.get("suites", "").split()),
                        components=tuple(fields.get("components", "main").split()),
                        signed_by=fields.get("signed-by"),
                    )
                )
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if not os.path.exists(path):
            continue
        for line in Path(path).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)", line)
            if not m:
                continue
            opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
            out.append(
                AptSource(
                    uri=m.group(2).rstrip("/"),
                    suites=(m.group(3),),
                    components=tuple(m.group(4).split()) or ("main",),
                    signed_by=opts.get("signed-by"),
                )
            )
    return out


def debian_mirror() -> str:
    """The main Debian mirror this machine's apt uses (the one serving the release suite, not -security)."""
    for src in machine_sources():
        if any(not s.endswith("-security") for s in src.suites) and "security" not in src.uri:
            return src.uri
    raise LabError("no Debian mirror found in /etc/apt/sources.list{,.d}: configure apt first")


def security_mirror() -> str | None:
    for src in machine_sources():
        if any(s.endswith("-security") for s in src.suites):
            return src.uri
    return None


@dataclass
class PackageInfo:
    name: str
    version: str
    filename: str  # pool path on the mirror
    sha256: str
    size: int
    depends: list[str] = field(default_factory=list)  # package names (alternatives: first one)

    @property
    def upstream_version(self) -> str:
        """Debian version without epoch and Debian revision: 1:2.3.3-1 → 2.3.3; 26.1.5+dfsg1-9+b1 → 26.1.5."""
        v = self.version.split(":", 1)[-1]
        v = v.rsplit("-", 1)[0] if "-" in v else v
        return re.split(r"[+~]", v)[0]

    @property
    def deb_path(self) -> Path:
        return DEB_DIR / Path(self.filename).name


def _parse_deb822(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
            continue
        k, sep, v = line.partition(":")
        if sep:
            key = k.strip()
            fields[key] = v.strip()
    return fields


def _dep_names(value: str) -> list[str]:
    names = []
    for alt in value.split(","):
        alt = alt.strip()
        if not alt:
            continue
        first = alt.split("|")[0].strip()
        names.append(re.split(r"[\s(:]", first)[0])
    return names


class AptRepo:
    """A private apt configuration for one Debian release (its main suite plus -updates and -security)."""

    def __init__(self, release: str, *, mirror: str | None = None, security: str | None = "auto") -> None:
        self.release = release
        self.mirror = mirror or debian_mirror()
        self.security = security_mirror() if security == "auto" else security
        self.root = APT_DIR / release
        self.conf = self.root / "apt.conf"
        self._info: dict[str, PackageInfo] = {}
        self._names: set[str] | None = None
        self._missing: set[str] = set()

    # -- configuration
    def _sources_text(self) -> str:
        keyring = DEFAULT_KEYRING
        for src in machine_sources():
            if src.signed_by and os.path.exists(src.signed_by):
                keyring = src.signed_by
                break
        lines = [f"deb [signed-by={keyring}] {self.mirror} {self.release} {self.release}-updates main"]
        if self.security:
            lines.append(f"deb [signed-by={keyring}] {self.security} {self.release}-security main")
        return "\n".join(lines) + "\n"

    def _write_config(self) -> None:
        r = self.root
        for d in ("lists/partial", "cache/archives/partial", "etc/preferences.d"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "sources.list").write_text(self._sources_text())
        # The machine's apt.conf.d parts (proxies, mirror quirks) are copied and still apply, but sources,
        # preferences, lists, cache and dpkg status are private: zz-pulumi-kk-lab sorts last and wins.
        parts = r / "apt.conf.d"
        if parts.exists():
            shutil.rmtree(parts)
        parts.mkdir()
        for f in sorted(glob.glob("/etc/apt/apt.conf.d/*")):
            if os.path.isfile(f):
                shutil.copy(f, parts / os.path.basename(f))
        settings = "\n".join(
            [
                f'Dir::Etc::parts "{parts}";',
                f'Dir::Etc::sourcelist "{r}/sources.list";',
                'Dir::Etc::sourceparts "-";',
                'Dir::Etc::preferences "/dev/null";',
                f'Dir::Etc::preferencesparts "{r}/etc/preferences.d";',
                f'Dir::State "{r}";',
                f'Dir::State::lists "{r}/lists";',
                'Dir::State::status "/dev/null";',
                f'Dir::Cache "{r}/cache";',
                # docker-clean style parts disable the binary cache: every apt-cache call would re-parse all lists
                'Dir::Cache::pkgcache "pkgcache.bin";',
                'Dir::Cache::srcpkgcache "srcpkgcache.bin";',
                'APT::Architecture "amd64";',
                'APT::Architectures { "amd64"; };',
                'APT::Sandbox::User "root";',
                'Acquire::Languages "none";',
                'Acquire::Check-Valid-Until "false";',
                "",
            ]
        )
        (parts / "zz-pulumi-kk-lab").write_text(settings)
        self.conf.write_text(settings)

    def _env(self) -> dict[str, str]:
        return {"APT_CONFIG": str(self.conf), "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}

    def update(self, max_age_s: float = LISTS_MAX_AGE_S) -> None:
        need_tool("apt-get")
        with file_lock(f"apt-{self.release}"):
            self._write_config()
            stamp = self.root / "updated"
            sources_changed = (
                not stamp.exists() or stamp.read_text() != (self.root / "sources.list").read_text()
            )
            if not sources_changed and time.time() - stamp.stat().st_mtime < max_age_s:
                self._load_memo()
                return
            t0 = time.monotonic()
            cp = run(["apt-get", "update", "-q"], env=self._env(), check=False, timeout=600)
            if cp.returncode != 0:
                if any((self.root / "lists").glob("*Packages*")):
                    log(f"apt-get update ({self.release}) failed, using the lists from the last update:\n{cp.stderr}")
                    return
                raise LabError(f"apt-get update for the private {self.release} config failed:\n{cp.stderr}")
            stamp.write_text((self.root / "sources.list").read_text())
            self._info, self._missing = {}, set()
            log(f"apt lists for {self.release} updated in {time.monotonic() - t0:.1f}s")

    # -- package metadata, memoised on disk per lists generation (apt-cache calls cost ~0.3 s each)
    def _memo_path(self) -> Path:
        return self.root / "info-memo.json"

    def _memo_stamp(self) -> str:
        stamp = self.root / "updated"
        return f"{stamp.stat().st_mtime_ns}" if stamp.exists() else ""

    def _load_memo(self) -> None:
        try:
            d = json.loads(self._memo_path().read_text())
        except (OSError, ValueError):
            return
        if d.get("stamp") != self._memo_stamp():
            return
        self._info = {k: PackageInfo(**v) for k, v in d["info"].items()}
        self._missing = set(d["missing"])

    def _save_memo(self) -> None:
        # merge with what other processes (other lab builders) memoised for the same lists generation
        info = {k: asdict(v) for k, v in self._info.items()}
        missing = set(self._missing)
        try:
            prev = json.loads(self._memo_path().read_text())
            if prev.get("stamp") == self._memo_stamp():
                info = {**prev["info"], **info}
                missing |= set(prev["missing"]) - set(info)
        except (OSError, ValueError, KeyError):
            pass
        d = {"stamp": self._memo_stamp(), "info": info, "missing": sorted(missing)}
        tmp = self._memo_path().with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(d))
        tmp.replace(self._memo_path())

    # -- queries
    def info(self, name: str) -> PackageInfo:
        if name not in self._info:
            self.prefetch([name])
        if name not in self._info:
            raise LabError(f"package {name} not found in {self.release} ({self.mirror})")
        return self._info[name]

    def prefetch(self, names: list[str]) -> None:
        """Read the candidate stanzas of several packages with one apt-cache call."""
        todo = [n for n in names if n not in self._info and n not in self._missing]
        if not todo:
            return
        cp = run(["apt-cache", "show", "--no-all-versions", *todo], env=self._env(), check=False)
        if cp.returncode != 0 and len(todo) > 1:
            # apt-cache stops at the first unknown name: fall back to one call per name
            for n in todo:
                self.prefetch([n])
            return
        for stanza in cp.stdout.split("\n\n"):
            if not stanza.strip():
                continue
            f = _parse_deb822(stanza)
            deps = _dep_names(f.get("Depends", "")) + _dep_names(f.get("Pre-Depends", ""))
            self._info.setdefault(
                f["Package"],
                PackageInfo(
                    name=f["Package"],
                    version=f["Version"],
                    filename=f["Filename"],
                    sha256=f["SHA256"],
                    size=int(f["Size"]),
                    depends=deps,
                ),
            )
        self._missing.update(n for n in todo if n not in self._info)
        self._save_memo()

    def lib_closure(self, names: list[str]) -> list[str]:
        """`names` plus, recursively, every shared-library dependency (package names lib* and zlib*)."""
        seen: list[str] = []
        frontier = list(names)
        while frontier:
            # apt-cache errors out on the first unknown name, so probe unknown ones one by one only when needed
            self.prefetch([n for n in frontier if self._known(n)])
            nxt: list[str] = []
            for n in frontier:
                if n in seen or n not in self._info:
                    continue  # virtual packages: the NEEDED check later says if a library is missing
                seen.append(n)
                nxt.extend(d for d in self._info[n].depends if d.startswith(("lib", "zlib")) and d not in seen)
            frontier = list(dict.fromkeys(nxt))
        return seen

    def _known(self, name: str) -> bool:
        return name in self._info or name in self._pkgnames

    @property
    def _pkgnames(self) -> set[str]:
        if self._names is None:
            cp = run(["apt-cache", "pkgnames"], env=self._env())
            self._names = set(cp.stdout.split())
        return self._names

    # -- fetching
    def download(self, names: list[str]) -> list[PackageInfo]:
        """Download the candidate .deb of each package into the shared deb dir (verified by sha256)."""
        from .common import sha256_file

        infos = [self.info(n) for n in names]
        DEB_DIR.mkdir(parents=True, exist_ok=True)
        with file_lock("apt-debs"):
            missing = [
                p for p in infos if not p.deb_path.exists() or p.deb_path.stat().st_size != p.size
            ]
            if missing:
                t0 = time.monotonic()
                run(
                    ["apt-get", "download", "-q", *[f"{p.name}={p.version}" for p in missing]],
                    env=self._env(),
                    cwd=DEB_DIR,
                    timeout=900,
                )
                log(
                    f"downloaded {len(missing)} .deb ({sum(p.size for p in missing) / 1e6:.1f} MB) from "
                    f"{self.release} in {time.monotonic() - t0:.1f}s"
                )
                for p in missing:
                    # apt-get download names files with the epoch url-encoded (1%3a2.3.3-1); normalise
                    if not p.deb_path.exists():
                        cands = list(DEB_DIR.glob(f"{p.name}_*{p.version.split(':')[-1]}_*.deb"))
                        if not cands:
                            raise LabError(f"apt-get download did not produce {p.deb_path.name}")
                        cands[0].rename(p.deb_path)
                    if sha256_file(p.deb_path) != p.sha256:
                        p.deb_path.unlink()
                        raise LabError(f"sha256 mismatch for {p.deb_path.name}")
        return infos

    def extract(self, names: list[str]) -> dict[str, Path]:
        """Download and unpack packages (dpkg -x); returns package name → unpacked tree."""
        need_tool("dpkg-deb")
        out: dict[str, Path] = {}
        for p in self.download(names):
            dest = X_DIR / p.deb_path.stem
            # Builders run in parallel threads and sessions (host image, artifacts, azure registry) and share
            # packages: one extracts, the others wait and reuse it.
            with file_lock(f"deb-{p.deb_path.stem}"):
                if not (dest / ".done").exists():
                    if dest.exists():
                        shutil.rmtree(dest)
                    dest.mkdir(parents=True)
                    run(["dpkg-deb", "-x", str(p.deb_path), str(dest)])
                    (dest / ".done").touch()
            out[p.name] = dest
        return out
