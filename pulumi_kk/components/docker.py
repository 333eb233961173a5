"""The Docker component: facts, daemon.json, the engine from the static tarball, docker compose — on one host."""

from __future__ import annotations

import pulumi

from ..facts import Facts
from ..inventory import Host
from ..render.docker import docker_steps
from ..settings.model import Settings
from .host import Node, plan_by_arch

TYPE = "pulumi-kk:index:Docker"


class Docker(pulumi.ComponentResource):
    """Docker engine + compose on ``host``, offline from ``binary_dir`` (or downloaded by the host).

    A second ``pulumi up`` runs nothing; a ``docker_version`` bump re-runs only the engine step, which upgrades in
    place; destroy removes what this installed and keeps ``docker.data_root`` unless ``delete_data``.
    """

    facts: pulumi.Output[Facts]
    docker_version: pulumi.Output[str]
    compose_version: pulumi.Output[str]

    def __init__(self, name: str, host: Host, settings: Settings, *, delete_data: bool = False,
                 facts: tuple[pulumi.Resource, pulumi.Output[Facts]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        node = Node(host, self, prefix=name.removesuffix("-docker"))
        facts_res, self.facts = facts or node.gather_facts(settings.docker.data_root)
        layout, steps = plan_by_arch(host, self.facts, lambda arch: docker_steps(settings, arch, delete_data))
        self.resources = node.steps(steps, layout, depends_on=[facts_res])
        self.resources["facts"] = facts_res
        self.ready: pulumi.Resource = self.resources["compose-install"]
        self.docker_version = pulumi.Output.from_input(settings.docker_version)
        self.compose_version = pulumi.Output.from_input(settings.dockercompose_version)
        self.register_outputs({"docker_version": self.docker_version, "compose_version": self.compose_version})
