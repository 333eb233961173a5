"""The lab host image `pulumi-kk-lab/host:bookworm`: debootstrap minbase + sshd + systemd, PID 1 = lab-boot.

Built once and cached by a content hash of its recipe (package list, mirror, the files under tests/lab/host/ and
this module's source). The hash is stored as image label `pulumi-kk-lab.recipe` and as an extra tag
`pulumi-kk-lab/host:bookworm-<hash12>`; a changed recipe rebuilds.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import subprocess
import time
from pathlib import Path

from .apt import debian_mirror
from .common import LAB_DIR, LABEL, LabError, docker, docker_env, file_lock, log, need_tool, record_timing, run

IMAGE = "pulumi-kk-lab/host:bookworm"
SUITE = "bookworm"
HOST_FILES = Path(__file__).resolve().parent / "host"
PACKAGES = [
    "openssh-server",
    "iproute2",
    "iptables",
    "procps",
    "curl",
    "ca-certificates",
    "kmod",
    "libdevmapper1.02.1",  # Debian's dockerd 20.10 links it; minbase lacks it without systemd's cryptsetup
    "libseccomp2",
    "systemd",
    "systemd-sysv",
    "dbus",
    "iputils-ping",
]
# Units that cannot work (or only make noise) inside a container. Masked = symlink to /dev/null.
MASKED_UNITS = [
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-modules-load.service",
    "systemd-remount-fs.service",
    "systemd-firstboot.service",
    "systemd-hwdb-update.service",
    "systemd-binfmt.service",
    "systemd-journald-audit.socket",
    "systemd-pstore.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount",
    "kmod-static-nodes.service",
    "getty.target",
    "getty@tty1.service",
    "console-getty.service",
    "serial-getty@.service",
    "e2scrub_reap.service",
    "e2scrub_all.timer",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "fstrim.timer",
    "systemd-resolved.service",
    "systemd-timesyncd.service",
    "ifupdown-wait-online.service",
    "networking.service",
]


def recipe() -> dict[str, object]:
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(HOST_FILES.iterdir())}
    return {
        "suite": SUITE,
        "mirror": debian_mirror(),
        "packages": PACKAGES,
        "masked": MASKED_UNITS,
        "files": files,
        # only the code that shapes the image (not logging/caching code around it)
        "builder": hashlib.sha256((inspect.getsource(_build) + inspect.getsource(_configure)).encode()).hexdigest(),
    }


def recipe_hash() -> str:
    import json

    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()


def image_recipe_label(image: str = IMAGE) -> str | None:
    out = docker(
        "image", "inspect", "--format", '{{ index .Config.Labels "' + LABEL + '.recipe" }}', image, check=False
    )
    return out or None


def ensure_host_image(force: bool = False) -> str:
    """Return the image reference, building it when missing or when the recipe changed."""
    h = recipe_hash()
    with file_lock("host-image"):
        if not force and image_recipe_label() == h:
            return IMAGE
        t0 = time.monotonic()
        _build(h)
        log(f"host image {IMAGE} (recipe {h[:12]}) built in {time.monotonic() - t0:.1f}s")
        record_timing("host image build", time.monotonic() - t0)
        _prune_old_recipes(h)
        return IMAGE


def _prune_old_recipes(h: str) -> None:
    """Remove images of earlier recipes (tags bookworm-<hash12>) that no container uses any more."""
    repo = IMAGE.split(":")[0]
    for tag in docker("images", "--format", "{{.Tag}}", repo).split():
        if tag.startswith("bookworm-") and tag != f"bookworm-{h[:12]}":
            docker("rmi", f"{repo}:{tag}", check=False)


def _write(root: Path, rel: str, text: str, mode: int = 0o644) -> None:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_symlink() or p.exists():
        p.unlink()
    p.write_text(text)
    os.chmod(p, mode)


def _build(h: str) -> None:
    if os.geteuid() != 0:
        raise LabError("building the host image needs root (debootstrap)")
    need_tool("debootstrap")
    need_tool("tar")
    mirror = debian_mirror()
    work = LAB_DIR / "build" / f"host-{h[:12]}"
    rootfs = work / "rootfs"
    cache = LAB_DIR / "cache" / "debootstrap"
    if work.exists():
        shutil.rmtree(work)
    rootfs.mkdir(parents=True)
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            f"--cache-dir={cache}",
            SUITE,
            str(rootfs),
            mirror,
        ],
        timeout=1200,
    )
    t_debootstrap = time.monotonic() - t0

    t1 = time.monotonic()
    _configure(rootfs, mirror)
    t_configure = time.monotonic() - t1

    t2 = time.monotonic()
    changes = [
        "ENV container=docker",
        'CMD ["/usr/local/sbin/lab-boot"]',
        f"LABEL {LABEL}.recipe={h}",
        f"LABEL {LABEL}.role=host-image",
    ]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    args = ["docker", "import"]
    for c in changes:
        args += ["--change", c]
    args += ["-", IMAGE]
    imp = subprocess.run(
        args, stdin=tar.stdout, capture_output=True, text=True, env={**os.environ, **docker_env()}
    )
    assert tar.stdout is not None
    tar.stdout.close()
    tar.wait()
    if imp.returncode != 0 or tar.returncode != 0:
        raise LabError(f"docker import of the host image failed: {imp.stderr}")
    docker("tag", IMAGE, f"{IMAGE}-{h[:12]}")
    t_import = time.monotonic() - t2
    shutil.rmtree(work)
    size = docker("image", "inspect", "--format", "{{.Size}}", IMAGE)
    log(
        f"host image: debootstrap {t_debootstrap:.1f}s, configure {t_configure:.1f}s, import {t_import:.1f}s, "
        f"size {int(size) / 1e6:.0f} MB"
    )


def _configure(root: Path, mirror: str) -> None:
    for name in ("lab-boot", "lab-init"):
        dest = root / "usr/local/sbin" / name
        shutil.copy(HOST_FILES / name, dest)
        os.chmod(dest, 0o755)
    shutil.copy(HOST_FILES / "sshd-lab.conf", root / "etc/ssh/sshd_config.d/10-lab.conf")
    # host keys are generated per container by lab-init
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for unit in MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")
    # systemd generates a transient machine id when the file is empty
    _write(root, "/etc/machine-id", "")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    _write(root, "/etc/apt/sources.list", f"deb {mirror} {SUITE} main\n")
    _write(root, "/etc/hostname", "lab\n")
    # journald: keep logs in memory, small
    _write(root, "/etc/systemd/journald.conf.d/lab.conf", "[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n")
    # a login shell over ssh gets a sane PATH even for non-interactive commands
    for d in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt/archives"):
        p = root / d
        if p.exists():
            for child in p.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()
    for p in (root / "var/lib/apt/lists").glob("*"):
        if p.is_file():
            p.unlink()
    for p in (root / "var/cache/apt").glob("*.bin"):
        p.unlink()
    for p in (root / "var/log").rglob("*"):
        if p.is_file():
            p.unlink()
