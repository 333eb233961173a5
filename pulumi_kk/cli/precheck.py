"""``pulumi-kk precheck image_registry``: probe every host over SSH (in parallel) and print a table."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..errors import KKError
from ..inventory import IMAGE_REGISTRY
from ..precheck import ERROR, Finding, check_host, check_inventory, parse_probe, probe_script
from ..sources import Sources
from ..topology import check_topology
from .hostexec import run


def precheck(src: Sources) -> list[Finding]:
    inv, settings = src.inventory, src.settings
    findings = check_inventory(inv, settings)
    try:
        check_topology(inv, settings)
    except KKError as exc:
        findings.append(Finding("-", "topology", ERROR, exc.detail, exc.fix or ""))
    nodes = inv.group(IMAGE_REGISTRY)
    ips = [str(h.node_ip) for h in nodes]

    def one(h: object) -> list[Finding]:
        from ..inventory import Host

        assert isinstance(h, Host)
        res = run(h, probe_script(settings, [p for p in ips if p != str(h.node_ip)]))
        if res.exit_code != 0:
            return [Finding(h.name, "reachable", ERROR, (res.stderr or res.stdout).strip()[-300:],
                            "check the connector (host, port, user, key/password) and that sshd runs.")]
        try:
            return check_host(settings, inv, h, parse_probe(res.stdout, h.name))
        except KKError as exc:
            return [Finding(h.name, "facts", ERROR, exc.detail, exc.fix or "")]

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(nodes)))) as pool:
        for result in pool.map(one, nodes):
            findings += result
    return findings
