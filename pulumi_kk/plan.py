"""The plan: everything a host will get, decided by pure code before Pulumi or SSH is involved.

A host's plan is an ordered list of :class:`Step`; the components turn each step into pulumi-command resources
(uploads → ``CopyToRemote``, script → ``remote.Command``), ``pulumi-kk render`` writes them to disk, and the tests
read them. No second code path decides what a host gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .artifacts import ResolvedArtifact

if TYPE_CHECKING:
    from .inventory import Host
    from .settings.model import Settings


@dataclass(frozen=True)
class SecretFile:
    """A file whose content is secret: delivered through the command's stdin, never in its text."""

    path: str
    content: str
    mode: str = "0600"


@dataclass(frozen=True)
class Step:
    """One idempotent remote step."""

    name: str
    """Unique on the host, e.g. ``docker-install``; the resource is named ``{host}-{name}``."""
    layer: str
    """What the step belongs to (``docker``, ``compose``, ``registry``…): a version bump touches one layer."""
    script: str
    """The create/update script (bash, ``set -euo pipefail``); carries no secret."""
    delete: str | None = None
    """Undoes the step on ``pulumi destroy``; None when nothing needs undoing."""
    uploads: tuple[ResolvedArtifact, ...] = ()
    """Local artifacts copied to their ``remote_path`` before the script runs."""
    after: tuple[str, ...] = ()
    """Names of steps on the same host that must finish first."""
    secret_files: tuple[SecretFile, ...] = ()
    description: str = ""
    files: dict[str, str] = field(default_factory=dict)
    """Rendered config files the script writes (for ``render`` output and tests; already inside ``script``)."""

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "layer": self.layer, "after": list(self.after),
                "description": self.description,
                "uploads": [u.as_dict() for u in self.uploads],
                "files": sorted(self.files), "secret_files": [f.path for f in self.secret_files],
                "has_delete": self.delete is not None}


@dataclass(frozen=True)
class HostPlan:
    host: str
    arch: str
    steps: tuple[Step, ...]

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


def structure(steps: tuple[Step, ...] | list[Step]) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """What decides the resource graph: step names, their uploads and their order."""
    return [(s.name, tuple(u.name for u in s.uploads), s.after) for s in steps]


def plan_host(settings: Settings, host: Host, arch: str, node_ips: list[str], nfs_host: str | None = None,
              delete_data: bool = False) -> HostPlan:
    """Every step ``host`` gets, in order, for ``arch`` (what ``render`` writes and the components wire).
    Generated secrets are placeholders here; the components fill them in."""
    from .render.balancer import balancer_steps
    from .render.docker import docker_steps
    from .render.keepalived import VrrpNode, keepalived_steps
    from .render.registry import RegistrySecrets, active_active, endpoint, registry_steps

    reg = settings.image_registry
    steps = docker_steps(settings, arch, delete_data)
    if reg.type == "registry":
        steps += registry_steps(settings, arch, str(host.node_ip), node_ips, RegistrySecrets(), nfs_host, delete_data)
        if reg.ha_vip and len(node_ips) > 1:
            ip = str(host.node_ip)
            ep = endpoint(settings, node_ips)
            # Interface and prefix are detected from each host's facts at `pulumi up`; render shows placeholders.
            me = VrrpNode(ip, reg.keepalived.interface or "<interface with the VIP's subnet>", 0)
            balanced = active_active(settings, node_ips)
            if balanced:
                steps += balancer_steps(settings, arch, node_ips)
            steps += keepalived_steps(settings, "registry", arch, me, node_ips.index(ip),
                                      [p for p in node_ips if p != ip], f"{ep.scheme}://127.0.0.1:{ep.port}/",
                                      balanced=balanced)
    return HostPlan(host.name, arch, tuple(steps))
