"""The CNCF distribution registry on one host: NFS mount, image, config + compose service + health wait."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from ..facts import Facts
from ..inventory import Host
from ..render.registry import RegistrySecrets, registry_steps
from ..settings.model import Settings
from .host import Node, arch_plans

TYPE = "pulumi-kk:index:Registry"


class Registry(pulumi.ComponentResource):
    """The registry layers of one host, after its Docker layer (``docker`` = that host's docker resources)."""

    def __init__(self, name: str, host: Host, settings: Settings, *, node_ips: pulumi.Input[Sequence[str]],
                 secrets: pulumi.Output[RegistrySecrets], facts: pulumi.Output[Facts],
                 docker: dict[str, pulumi.Resource], nfs_host: str | None = None, delete_data: bool = False,
                 wait_for: dict[str, Sequence[pulumi.Resource]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        prefix = name.removesuffix("-registry")
        node = Node(host, self, prefix=prefix)
        placeholder = RegistrySecrets()

        def make(arch: str, ip: str = "0.0.0.0", ips: Sequence[str] = ("0.0.0.0",),
                 sec: RegistrySecrets = placeholder) -> list[Any]:
            return registry_steps(settings, arch, ip, ips, sec, nfs_host, delete_data)

        layout, _ = arch_plans(host, make)
        steps = pulumi.Output.all(facts, host.node_ip, node_ips, secrets).apply(
            lambda a: make(a[0].arch, str(a[1]), [str(x) for x in a[2]], a[3]))
        self.resources = node.steps(steps, layout, external=docker, wait_for=wait_for)
        self.register_outputs({})
