"""ImageRegistry: the one call — inventory (or hosts) + settings → every image_registry host converged."""

from __future__ import annotations

import pulumi

from ..inventory import IMAGE_REGISTRY, Inventory
from ..settings.model import Settings
from .docker import Docker

TYPE = "pulumi-kk:index:ImageRegistry"


class ImageRegistry(pulumi.ComponentResource):
    """Docker and docker compose on every ``image_registry`` host (the registry layers build on this).

    Hosts are independent: no resource of one host depends on another's, so Pulumi converges them in parallel.
    """

    nodes: pulumi.Output[list[str]]
    versions: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(self, name: str, inventory: Inventory, settings: Settings, *, delete_data: bool = False,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        hosts = inventory.group(IMAGE_REGISTRY)
        self.docker: dict[str, Docker] = {
            h.name: Docker(f"{name}-{h.name}", h, settings, delete_data=delete_data,
                           opts=pulumi.ResourceOptions(parent=self))
            for h in hosts
        }
        self.nodes = pulumi.Output.from_input([h.name for h in hosts])
        self.versions = pulumi.Output.from_input({
            h.name: {"docker": settings.docker_version, "compose": settings.dockercompose_version} for h in hosts})
        self.register_outputs({"nodes": self.nodes, "versions": self.versions})
