"""keepalived on one registry node: the VIP, unicast VRRP to the other nodes, health-checked registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from ..facts import Facts
from ..inventory import Host
from ..render.balancer import balancer_steps
from ..render.keepalived import VrrpNode, keepalived_steps, vrrp_node
from ..settings.model import Settings
from .host import Node, arch_plans

TYPE = "pulumi-kk:index:Keepalived"


class Keepalived(pulumi.ComponentResource):
    """keepalived for node ``index`` of the registry ``registry_name``; ``local`` = this host's earlier steps;
    ``wait_for`` = steps of the previous node a step waits for (rolling: ``keepalived-service`` and
    ``haproxy-service`` restart one node at a time, so the nodes never drop the VIP all at once)."""

    def __init__(self, name: str, registry_name: str, host: Host, settings: Settings, *, index: int,
                 node_ips: pulumi.Input[Sequence[str]], health: pulumi.Input[str], facts: pulumi.Output[Facts],
                 local: dict[str, pulumi.Resource], auth_pass: pulumi.Input[str] = "",
                 wait_for: dict[str, Sequence[pulumi.Resource]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        node = Node(host, self, prefix=name.removesuffix("-keepalived"))
        balanced = settings.image_registry.keepalived.active_active
        placeholder = VrrpNode("0.0.0.0", "eth0", 24)

        def make(arch: str, me: VrrpNode = placeholder, peers: Sequence[str] = ("0.0.0.0",), url: str = "",
                 pw: str = "[secret]", ips: Sequence[str] = ("0.0.0.1", "0.0.0.2")) -> list[Any]:
            steps = balancer_steps(settings, arch, list(ips)) if balanced else []
            return steps + keepalived_steps(settings, registry_name, arch, me, index, peers,
                                            url or "https://127.0.0.1/", pw, balanced=balanced)

        def real(a: list[Any]) -> list[Any]:
            f, ip, ips, url, pw = a
            me = vrrp_node(settings, host.name, str(ip), f)
            all_ips = [str(x) for x in ips]
            return make(f.arch, me, [x for x in all_ips if x != str(ip)], url, pw, all_ips)

        layout, _ = arch_plans(host, make)
        steps = pulumi.Output.all(facts, host.node_ip, node_ips, health, auth_pass).apply(real)
        self.resources = node.steps(steps, layout, external=local, wait_for=wait_for)
        self.register_outputs({})
