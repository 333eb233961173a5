"""keepalived: the VIP in front of the registry nodes (osixia/keepalived image, docker compose, host network)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from ..artifacts import resolve
from ..errors import KKError
from ..facts import Facts
from ..plan import SecretFile, Step
from ..settings.model import Settings
from . import image_step, render, sh_quote

KEEPALIVED_DIR = "/opt/pulumi-kk/keepalived"
UNIT = "pulumi-kk-keepalived.service"
#: Where the osixia image reads a custom config when started with --copy-service.
OSIXIA_CONF = "/container/service/keepalived/assets/keepalived.conf"
#: Drain switch: a non-zero number in ``drain`` puts the node in FAULT at once (keepalived watches the file), so it
#: hands the VIP over before its registry restarts. The directory (not the file) is mounted: keepalived's inotify
#: watch on it sees writes made from the host.
RUN_DIR = f"{KEEPALIVED_DIR}/run"
DRAIN_FILE = f"{RUN_DIR}/drain"
CONTAINER_RUN_DIR = "/etc/keepalived/run"


def derive_vrid(name: str, vip: str) -> int:
    """A virtual_router_id from the registry's name and VIP: stable across runs, spread over 1..255, never the
    well-known defaults 51 (osixia) or 31 (KubeKey)."""
    n = int(hashlib.sha256(f"{name}|{vip}".encode()).hexdigest(), 16) % 253 + 1
    return n + 2 if n in (31, 51) else n


@dataclass(frozen=True)
class VrrpNode:
    """One node's VRRP view: its address, interface and VIP prefix (from facts)."""

    ip: str
    interface: str
    prefix: int


def vrrp_node(settings: Settings, host: str, ip: str, facts: Facts) -> VrrpNode:
    """The interface whose CIDR contains the VIP (or the configured one); error names the host and its CIDRs."""
    vip = settings.image_registry.ha_vip
    ka = settings.image_registry.keepalived
    iface = facts.interface_for(vip)
    if ka.interface:
        match = [i for i in facts.interfaces if i.name == ka.interface]
        if not match:
            raise KKError(f"host {host!r} has no interface {ka.interface!r} (it has: "
                          f"{', '.join(sorted({i.name for i in facts.interfaces}))}).",
                          key="image_registry.keepalived.interface", fix="name an existing interface or unset it.")
        iface = next((i for i in match if ipaddress.ip_address(vip) in i.network), match[0])
    if iface is None:
        cidrs = ", ".join(f"{i.name} {i.cidr}" for i in facts.interfaces if i.name != "lo") or "none"
        raise KKError(f"host {host!r} has no interface whose network contains ha_vip {vip} (it has: {cidrs}).",
                      key="image_registry.ha_vip",
                      fix="choose a VIP inside the nodes' subnet, or set image_registry.keepalived.interface.")
    return VrrpNode(ip, iface.name, iface.network.prefixlen)


def keepalived_conf(settings: Settings, name: str, me: VrrpNode, index: int, peers: Sequence[str],
                    auth_pass: str = "") -> str:
    ka = settings.image_registry.keepalived
    vip = settings.image_registry.ha_vip
    vrid = ka.vrid or derive_vrid(name, vip)
    lines = [
        "# pulumi-kk: VIP for the image registry. All nodes start BACKUP with nopreempt: the VIP moves when its",
        "# holder fails or drains, not back when that node returns through a restart. (A holder frozen and resumed",
        "# still believes it is MASTER: VRRP then keeps the higher priority of the two.)",
        "global_defs {",
        f"  router_id {name}-{index}",
        "  script_user root",
        "  enable_script_security",
        f"  vrrp_version {ka.vrrp_version}",
        "  vrrp_garp_master_delay 1",
        "  vrrp_garp_master_repeat 3",
        "}",
        "track_file drain {",
        f'  file "{CONTAINER_RUN_DIR}/drain"',
        "  weight 0",
        "  init_file 0",
        "}",
        "vrrp_script chk_registry {",
        '  script "/etc/keepalived/check.sh"',
        f"  interval {max(1, int(ka.advert_int * 4))}",
        "  timeout 2",
        "  fall 2",
        "  rise 2",
        "}",
        "vrrp_instance registry {",
        "  state BACKUP",
        "  nopreempt",
        f"  interface {me.interface}",
        f"  virtual_router_id {vrid}",
        f"  priority {max(1, ka.priority - 10 * index)}",
        f"  advert_int {ka.advert_int:g}",
        f"  unicast_src_ip {me.ip}",
        "  check_unicast_src",
        "  unicast_peer {",
        *[f"    {p}" for p in peers],
        "  }",
    ]
    if ka.vrrp_version == 2:
        lines += ["  authentication {", "    auth_type PASS", f"    auth_pass {auth_pass[:8]}", "  }"]
    lines += [
        "  virtual_ipaddress {",
        f"    {vip}/{me.prefix} dev {me.interface}",
        "  }",
        "  track_script {",
        "    chk_registry",
        "  }",
        "  track_file {",
        "    drain",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def check_sh(health: str) -> str:
    """Unweighted health check: the node gives up the VIP when its registry stops answering ``GET /``."""
    return f"#!/bin/sh\nexec curl -fsSk -m 2 -o /dev/null {health}\n"


DRAIN_SH = """\
# HA drain: hand the VIP to another node before the service behind it restarts; undone when this script exits.
if [ -d {run_dir} ] && [ "$(docker inspect -f '{{{{.State.Running}}}}' keepalived-keepalived-1 2>/dev/null)" = true ]; then
  trap 'echo 0 > {drain}' EXIT
  echo 1 > {drain}
  kk_drain_end=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$kk_drain_end" ]; do
    if ! ip -o addr show | grep -qF {vip_match} && curl -fsSk -m 1 -o /dev/null {url}; then break; fi
    sleep 0.1
  done
  if ip -o addr show | grep -qF {vip_match}; then kk_log "drain: VIP still here after 10 s; restarting anyway"
  else kk_log "drain: VIP served by another node"; fi
fi
"""


def with_drain(script: str, settings: Settings, node_ips: Sequence[str], *, haproxy: bool = False) -> str:
    """``script`` (the step that restarts what the VIP leads to: the registry, or haproxy with ``haproxy``) that first
    hands this node's VIP to another node when keepalived runs here: 1 in the drain file puts keepalived in FAULT
    at once (the VIP moves within the backups' skew time), the script waits until the VIP answers from another node
    (at most 10 s), and the drain ends when the script exits, whatever the outcome. Clients of the VIP then never
    meet the restarting service. With active_active only haproxy restarts drain: haproxy on every node already
    routes around a restarting registry."""
    from .registry import active_active, endpoint  # registry imports this module

    reg = settings.image_registry
    if not reg.ha_vip or len(node_ips) < 2 or active_active(settings, node_ips) != haproxy:
        return script
    ep = endpoint(settings, node_ips)
    drain = DRAIN_SH.format(run_dir=sh_quote(RUN_DIR), drain=sh_quote(DRAIN_FILE),
                            vip_match=sh_quote(f" {reg.ha_vip}/"), url=sh_quote(f"{ep.scheme}://{reg.ha_vip}:{ep.port}/"))
    marker = "# --- end helpers ---\n"
    head, found, tail = script.partition(marker)
    if not found:
        raise ValueError("the registry-service script has no helpers block")
    return f"{head}{marker}{drain}{tail}"


def compose_yml(image: str) -> str:
    svc = {
        "image": image, "restart": "always", "network_mode": "host",
        "cap_add": ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"],
        "command": ["--copy-service"],
        "volumes": [f"{KEEPALIVED_DIR}/keepalived.conf:{OSIXIA_CONF}:ro",
                    f"{KEEPALIVED_DIR}/check.sh:/etc/keepalived/check.sh:ro",
                    f"{RUN_DIR}:{CONTAINER_RUN_DIR}"],
        "logging": {"driver": "json-file", "options": {"max-size": "20m", "max-file": "3"}},
    }
    return yaml.safe_dump({"name": "keepalived", "services": {"keepalived": svc}}, sort_keys=False)


def keepalived_steps(settings: Settings, name: str, arch: str, me: VrrpNode, index: int, peers: Sequence[str],
                     health: str, auth_pass: str = "[secret]", balanced: bool = False) -> list[Step]:
    """Image → config + compose service, after the local registry (or haproxy, when ``balanced``) is healthy."""
    art = resolve("keepalived", settings, arch)
    conf = keepalived_conf(settings, name, me, index, peers, auth_pass)
    v2 = settings.image_registry.keepalived.vrrp_version == 2
    files = {f"{KEEPALIVED_DIR}/docker-compose.yml": compose_yml(art.image),
             f"{KEEPALIVED_DIR}/check.sh": check_sh(health),
             f"/etc/systemd/system/{UNIT}": render("common/compose.service.j2", what="keepalived VIP",
                                                   project="keepalived", dir=KEEPALIVED_DIR)}
    secret_files: tuple[SecretFile, ...] = ()
    if v2:
        secret_files = (SecretFile(f"{KEEPALIVED_DIR}/keepalived.conf", conf, "0644"),)
        shown = conf.replace(f"auth_pass {auth_pass[:8]}", "auth_pass [secret]")
    else:
        files[f"{KEEPALIVED_DIR}/keepalived.conf"] = conf
        shown = conf
    return [
        image_step("keepalived-image", art, settings),
        Step(name="keepalived-service", layer="keepalived",
             script=render("common/compose-service.sh.j2", step="keepalived-service", what="keepalived",
                           dir=KEEPALIVED_DIR, unit=UNIT, project="keepalived", service="keepalived", health="",
                           wait=30, files=files, mkdirs=[RUN_DIR]),
             delete=render("common/compose-service-remove.sh.j2", step="keepalived-service", what="keepalived",
                           dir=KEEPALIVED_DIR, unit=UNIT, project="keepalived", note="releases the VIP",
                           cleanup=[f"ip addr del {sh_quote(f'{settings.image_registry.ha_vip}/{me.prefix}')} dev "
                                    f"{sh_quote(me.interface)} >/dev/null 2>&1 || true"]),
             after=("keepalived-image", "haproxy-service" if balanced else "registry-service"),
             secret_files=secret_files,
             files={**files, f"{KEEPALIVED_DIR}/keepalived.conf": shown},
             description=f"VIP {settings.image_registry.ha_vip} on {me.interface}"),
    ]
