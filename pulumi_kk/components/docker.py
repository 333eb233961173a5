"""The Docker component: facts, daemon.json, the engine from the static tarball, docker compose — on one host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from ..facts import Facts, parse_facts
from ..inventory import Host
from ..render.docker import docker_steps
from ..settings.model import Settings
from .host import Node, arch_plans

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
                 precheck: tuple[pulumi.Input[str], Callable[[pulumi.Output[str]], pulumi.Output[Any]]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        # Plan first: an input error (for every arch the host may have) is raised before any resource exists,
        # so a bad setting never gets as far as the facts/precheck command on the host.
        layout, pick = arch_plans(host, lambda arch: docker_steps(settings, arch, delete_data))
        super().__init__(TYPE, name, None, opts)
        node = Node(host, self, prefix=name.removesuffix("-docker"))
        gate: pulumi.Output[Any] | None = None
        facts_res: pulumi.Resource
        if precheck is not None:
            # The probe prints the facts too: one command, and every install step waits for its verdict.
            probe_cmd = node.command("precheck", create=precheck[0])
            facts_res = probe_cmd
            self.facts = probe_cmd.stdout.apply(lambda out: parse_facts(out, host.name))
            gate = precheck[1](probe_cmd.stdout)
        else:
            facts_res, self.facts = facts or node.gather_facts(settings.docker.data_root)
        steps = self.facts.apply(pick)
        self.resources = node.steps(steps, layout, depends_on=[facts_res], gate=gate)
        self.resources["facts"] = facts_res
        self.ready: pulumi.Resource = self.resources["compose-install"]
        self.docker_version = pulumi.Output.from_input(settings.docker_version)
        self.compose_version = pulumi.Output.from_input(settings.dockercompose_version)
        self.register_outputs({"docker_version": self.docker_version, "compose_version": self.compose_version})
