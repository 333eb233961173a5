"""Host facts: one command gathers them on the host; a pure parser turns its output into :class:`Facts`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .artifacts import check_arch
from .errors import KKError

#: Runs on the host (POSIX sh); prints ``key=value`` lines and one ``iface=NAME cidr=A/N`` line per address.
FACTS_SCRIPT = r"""set -eu
echo "machine=$(uname -m)"
. /etc/os-release 2>/dev/null || true
echo "os_id=${ID:-unknown}"
echo "os_version=${VERSION_ID:-unknown}"
echo "os_like=${ID_LIKE:-}"
echo "hostname=$(hostname)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
echo "mem_kb=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
d={data_dir}
while [ ! -d "$d" ]; do d=$(dirname "$d"); done
echo "disk_free_kb=$(df -Pk "$d" | awk 'NR==2{print $4}')"
ip -o addr show 2>/dev/null | awk '$3=="inet"||$3=="inet6"{print "iface="$2" cidr="$4}' || true
"""


def facts_script(data_dir: str = "/var/lib") -> str:
    """The facts command; ``data_dir`` is where free disk is measured (its nearest existing parent)."""
    return FACTS_SCRIPT.replace("{data_dir}", _sh_quote(data_dir))


def _sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


@dataclass(frozen=True)
class Interface:
    name: str
    cidr: str

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_interface(self.cidr).network

    @property
    def address(self) -> str:
        return str(ipaddress.ip_interface(self.cidr).ip)


@dataclass(frozen=True)
class Facts:
    arch: str
    os_id: str
    os_version: str
    os_family: str
    hostname: str
    cpus: int
    mem_kb: int
    disk_free_kb: int
    interfaces: tuple[Interface, ...] = field(default_factory=tuple)

    @property
    def mem_gb(self) -> float:
        return self.mem_kb / 1024 / 1024

    @property
    def disk_free_gb(self) -> float:
        return self.disk_free_kb / 1024 / 1024

    def interface_for(self, ip: str) -> Interface | None:
        """The interface whose network contains ``ip`` (docker/veth/bridge interfaces excluded)."""
        addr = ipaddress.ip_address(ip)
        for i in self.interfaces:
            if i.name == "lo" or i.name.startswith(("docker", "br-", "veth")):
                continue
            if addr.version == i.network.version and addr in i.network:
                return i
        return None


_DEB = ("debian", "ubuntu", "linuxmint", "raspbian", "kylin", "uos", "deepin")
_RPM = ("rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "opensuse", "sles", "openeuler", "anolis")


def os_family(os_id: str, like: str) -> str:
    """``deb``, ``rpm`` or ``unknown`` from /etc/os-release ID and ID_LIKE."""
    words = [os_id.lower(), *like.lower().split()]
    if any(w in _DEB for w in words):
        return "deb"
    if any(w in _RPM or w.startswith("suse") for w in words):
        return "rpm"
    return "unknown"


def parse_facts(text: str, host: str = "") -> Facts:
    """Parse the facts command's output; an unsupported arch is an error naming the host."""
    kv: dict[str, str] = {}
    ifaces: list[Interface] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("iface="):
            parts = dict(p.split("=", 1) for p in line.split() if "=" in p)
            try:
                ipaddress.ip_interface(parts.get("cidr", ""))
            except ValueError:
                continue  # a line `ip` printed oddly: not an address we can use
            ifaces.append(Interface(parts["iface"], parts["cidr"]))
        elif "=" in line:
            k, v = line.split("=", 1)
            kv[k] = v
    if "machine" not in kv:
        raise KKError(f"facts output from host {host!r} has no machine line: {text[:200]!r}.",
                      fix="check that the host runs a POSIX shell with uname.")

    def num(k: str) -> int:
        try:
            return int(kv.get(k, "0") or 0)
        except ValueError:
            return 0

    return Facts(
        arch=check_arch(kv["machine"], host),
        os_id=kv.get("os_id", "unknown"),
        os_version=kv.get("os_version", "unknown"),
        os_family=os_family(kv.get("os_id", ""), kv.get("os_like", "")),
        hostname=kv.get("hostname", ""),
        cpus=num("cpus"),
        mem_kb=num("mem_kb"),
        disk_free_kb=num("disk_free_kb"),
        interfaces=tuple(ifaces),
    )
