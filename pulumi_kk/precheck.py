"""``kk precheck image_registry``, pure: the probe each host runs, its parser, and the rules that judge it.

The seed's stated requirements (versions set, deb/rpm, supported arch, ≥8 GB memory, ≥100 GB disk for local
storage, tar and iptables, one nfs host) are errors; the rest are warnings. ``precheck.as_warnings`` turns errors
into warnings for labs and small test machines.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from .artifacts import resolve
from .errors import KKError
from .facts import Facts, facts_script, parse_facts
from .inventory import IMAGE_REGISTRY, NFS, Host, Inventory
from .settings.model import Settings

ERROR, WARNING, OK = "error", "warning", "ok"


@dataclass(frozen=True)
class Finding:
    host: str
    check: str
    level: str
    message: str
    fix: str = ""


@dataclass(frozen=True)
class Probe:
    """What a host told us: its facts plus listening ports, tools, VIP and peer reachability."""

    facts: Facts
    listening: frozenset[int] = frozenset()
    tools: frozenset[str] = frozenset()
    systemd: bool = False
    vip_local: bool = False
    vip_answers: bool = False
    peers: dict[str, bool] = field(default_factory=dict)
    ours: frozenset[str] = frozenset()
    """pulumi-kk services already installed here (their ports are ours, not a conflict)."""


TOOLS = ("tar", "iptables", "curl", "sha256sum", "ss")


def probe_script(settings: Settings, peers: Sequence[str]) -> str:
    """One shell script: facts, then ``listen=``/``tool=``/``vip_*=``/``peer=`` lines."""
    vip = settings.image_registry.ha_vip
    lines = [facts_script(settings.image_registry.registry.storage.filesystem.rootdir).rstrip("\n"), "set +e"]
    lines.append("ss -Hltn 2>/dev/null | awk '{n=split($4,a,\":\"); print \"listen=\"a[n]}'")
    lines.append(f"for t in {' '.join(TOOLS)}; do command -v $t >/dev/null 2>&1 && echo tool=$t; done")
    lines.append("[ -d /run/systemd/system ] && echo systemd=1")
    lines.append("for u in pulumi-kk-registry pulumi-kk-keepalived; do "
                 "[ -f /etc/systemd/system/$u.service ] && echo ours=$u; done")
    if vip:
        lines.append(f"ip -o addr show 2>/dev/null | grep -q ' {vip}/' && echo vip_local=1")
        lines.append(f"ping -c1 -W1 {vip} >/dev/null 2>&1 && echo vip_answers=1")
    for p in peers:
        lines.append(f"if ping -c1 -W1 {p} >/dev/null 2>&1 || timeout 2 bash -c '</dev/tcp/{p}/22' 2>/dev/null; "
                     f"then echo peer={p}=1; else echo peer={p}=0; fi")
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def parse_probe(text: str, host: str) -> Probe:
    facts = parse_facts(text, host)
    listening: set[int] = set()
    tools: set[str] = set()
    peers: dict[str, bool] = {}
    ours: set[str] = set()
    flags: set[str] = set()
    for line in text.splitlines():
        k, _, v = line.strip().partition("=")
        if k == "listen" and v.isdigit():
            listening.add(int(v))
        elif k == "tool":
            tools.add(v)
        elif k == "peer":
            ip, _, ok = v.rpartition("=")
            peers[ip] = ok == "1"
        elif k == "ours":
            ours.add(v)
        elif v == "1":
            flags.add(k)
    return Probe(facts, frozenset(listening), frozenset(tools), "systemd" in flags, "vip_local" in flags,
                 "vip_answers" in flags, peers, frozenset(ours))


def registry_port(settings: Settings, node_ips: Sequence[str]) -> int:
    from .render.registry import endpoint

    return endpoint(settings, node_ips).port


def check_inventory(inventory: Inventory, settings: Settings) -> list[Finding]:
    """Checks that need no host: versions, nfs group, artifacts present with the right checksum."""
    out: list[Finding] = []
    reg = settings.image_registry
    need = ["docker_version", "dockercompose_version"]
    need.append("harbor_version" if reg.type == "harbor" else "registry_version")
    if reg.ha_vip:
        need.append("keepalived_version")
    for k in need:
        ok = bool(getattr(settings, k))
        out.append(Finding("-", f"version {k}", OK if ok else ERROR,
                           getattr(settings, k) or f"{k} must be set", "" if ok else f"--set {k}=..."))
    fs = reg.registry.storage.filesystem
    if reg.type == "registry" and reg.registry.storage.driver == "filesystem" and fs.nfs_mount:
        n = len(inventory.groups.get(NFS, ()))
        out.append(Finding("-", "nfs group", OK if n == 1 else ERROR,
                           f"{n} nfs host(s)" if n != 1 else "one nfs host",
                           "" if n == 1 else "Exactly one NFS server must be specified (spec.groups.nfs.hosts)."))
    return out


def check_artifacts(settings: Settings, arch: str, host: str) -> list[Finding]:
    names = ["docker", "dockercompose", "harbor" if settings.image_registry.type == "harbor" else "registry"]
    if settings.image_registry.ha_vip:
        names.append("keepalived")
        if settings.image_registry.keepalived.active_active:
            names.append("haproxy")
    out = []
    for n in names:
        try:
            a = resolve(n, settings, arch)
        except KKError as exc:
            out.append(Finding(host, f"artifact {n}", ERROR, exc.detail, exc.fix or ""))
            continue
        where = a.path or a.url or f"docker pull {a.image}"
        level = OK if a.is_local else WARNING
        msg = f"{where}" + (f" sha256 {a.sha256[:12]}…" if a.sha256 else "")
        fix = "" if a.is_local else "the host will download it; place it in binary_dir for an offline install"
        out.append(Finding(host, f"artifact {n}", level, msg, fix))
    return out


def check_host(settings: Settings, inventory: Inventory, host: Host, probe: Probe,
               node_ips: Sequence[str] | None = None) -> list[Finding]:
    """The rules for one host, from its probe."""
    f = probe.facts
    pc = settings.precheck
    reg = settings.image_registry
    nodes = inventory.group(IMAGE_REGISTRY)
    # Addresses may be Outputs in a program: the caller passes them resolved.
    node_ips = list(node_ips) if node_ips is not None else [str(h.node_ip) for h in nodes]
    name = host.name
    out: list[Finding] = []

    def add(check: str, ok: bool, message: str, fix: str, level: str = ERROR) -> None:
        out.append(Finding(name, check, OK if ok else level, message, "" if ok else fix))

    add("os family", f.os_family in ("deb", "rpm"), f"{f.os_id} {f.os_version} ({f.os_family})",
        "use a deb- or rpm-based Linux (e.g. Ubuntu, Debian, CentOS, Rocky).")
    add("arch", True, f.arch, "")
    add("memory", f.mem_gb >= pc.min_memory_gb, f"{f.mem_gb:.1f} GB (need {pc.min_memory_gb:g})",
        "give the host more memory, or set precheck.min_memory_gb / precheck.as_warnings for a lab.")
    add("cpus", f.cpus >= pc.min_cpus, f"{f.cpus} (want {pc.min_cpus})", "give the host more CPUs.", WARNING)
    local_storage = reg.type == "harbor" or (reg.registry.storage.driver == "filesystem"
                                             and not reg.registry.storage.filesystem.nfs_mount)
    if local_storage:
        add("disk", f.disk_free_gb >= pc.min_disk_gb,
            f"{f.disk_free_gb:.1f} GB free for {reg.registry.storage.filesystem.rootdir} (need {pc.min_disk_gb:g})",
            "add disk or use NFS/object storage, or set precheck.min_disk_gb / precheck.as_warnings.")
    for t in ("tar", "iptables"):
        add(f"tool {t}", t in probe.tools, "present" if t in probe.tools else "missing",
            f"install {t} on the host (KubeKey requires it).")
    add("systemd", probe.systemd, "running" if probe.systemd else "not PID 1",
        "pulumi-kk manages services with systemd; use a host that boots systemd.")
    if reg.type == "registry":
        port = registry_port(settings, node_ips)
        busy = port in probe.listening and "pulumi-kk-registry" not in probe.ours
        add(f"port {port}", not busy, "in use" if busy else "free",
            f"stop what listens on {port}, or choose another port in image_registry.auth.registry (host:port).")
    if reg.ha_vip and len(nodes) > 1:
        iface = f.interface_for(reg.ha_vip)
        cidrs = ", ".join(i.cidr for i in f.interfaces if i.name != "lo")
        add("vip subnet", iface is not None,
            f"{reg.ha_vip} on {iface.name} ({iface.cidr})" if iface else f"{reg.ha_vip} in none of {cidrs}",
            "choose a VIP inside the nodes' subnet.")
        taken = probe.vip_answers and not probe.vip_local and "pulumi-kk-keepalived" not in probe.ours
        add("vip free", not taken, "answers ping: in use by another machine" if taken else "unused",
            "pick an unused address for image_registry.ha_vip.")
    for peer, ok in sorted(probe.peers.items()):
        add(f"reaches {peer}", ok, "yes" if ok else "no", "open the network between the registry nodes.")
    out += check_artifacts(settings, f.arch, name)
    if pc.as_warnings:
        out = [Finding(x.host, x.check, WARNING if x.level == ERROR else x.level, x.message, x.fix) for x in out]
    return out


def vip_in_subnets(vip: str, cidrs: Sequence[str]) -> bool:
    addr = ipaddress.ip_address(vip)
    return any(addr in ipaddress.ip_interface(c).network for c in cidrs)


def table(findings: Sequence[Finding]) -> str:
    """A per-host table: HOST CHECK RESULT DETAIL, then the fixes of what failed."""
    rows = [("HOST", "CHECK", "RESULT", "DETAIL")] + [(f.host, f.check, f.level.upper(), f.message) for f in findings]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    fixes = [f"- {f.host} {f.check}: {f.fix}" for f in findings if f.level != OK and f.fix]
    if fixes:
        lines += ["", "To fix:", *fixes]
    return "\n".join(lines) + "\n"


def failed(findings: Sequence[Finding]) -> bool:
    return any(f.level == ERROR for f in findings)
