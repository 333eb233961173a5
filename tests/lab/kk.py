"""Glue between the lab and pulumi_kk: lab hosts as an Inventory, settings over the lab's artifacts, and a
one-call ImageRegistry program for the replay executor. Lab tests of pulumi_kk components use these, not twins."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi

from pulumi_kk.components import ImageRegistry
from pulumi_kk.inventory import Host, Inventory
from pulumi_kk.settings import Layer, Settings, build, deep_merge

from .artifacts import LabArtifacts
from .hosts import LabHost


def as_host(h: LabHost, *, use_password: bool = False, host_key: bool = True) -> Host:
    """A pulumi_kk Host for a lab host (key auth by default; its sshd host key pinned)."""
    return Host(name=h.name, address=h.ip, port=h.port, user=h.user,
                password=h.password if use_password else None,
                private_key=None if use_password else h.private_key,
                host_key=h.host_key if host_key else None, internal_ipv4=h.ip)


def inventory(hosts: Sequence[LabHost], nfs: LabHost | None = None, **kw: Any) -> Inventory:
    """Every host in the image_registry group (and ``nfs`` alone in the nfs group)."""
    all_hosts = [as_host(h, **kw) for h in hosts] + ([as_host(nfs, **kw)] if nfs else [])
    groups = {"image_registry": [h.name for h in hosts]}
    if nfs:
        groups["nfs"] = [nfs.name]
    return Inventory.from_hosts(all_hosts, groups=groups)


def settings(artifacts: LabArtifacts, overrides: Mapping[str, Any] | None = None, **versions: str) -> Settings:
    """Settings that install offline from the lab's artifacts (newest versions unless given), online off, the
    precheck's size rules relaxed for small lab hosts. ``overrides`` is a nested dict with KubeKey names."""
    base: dict[str, Any] = {
        "binary_dir": str(artifacts.binary_dir),
        "docker_version": versions.get("docker_version") or artifacts.versions("docker")[-1],
        "dockercompose_version": versions.get("dockercompose_version") or artifacts.versions("docker-compose")[-1],
        "registry_version": versions.get("registry_version") or artifacts.versions("registry")[-1],
        "keepalived_version": versions.get("keepalived_version") or artifacts.versions("keepalived")[-1],
        "artifact": {"online": False},
        "precheck": {"min_memory_gb": 0, "min_disk_gb": 0, "min_cpus": 1},
    }
    if artifacts.versions("haproxy"):
        base["haproxy_version"] = versions.get("haproxy_version") or artifacts.versions("haproxy")[-1]
    return build([Layer(deep_merge(base, dict(overrides or {})), "lab")])


def registry_program(inv: Inventory, s: Settings, name: str = "reg", **kw: Any) -> Callable[[], ImageRegistry]:
    """A program for ``Replay.apply``: one ImageRegistry, its outputs exported."""

    def program() -> ImageRegistry:
        reg = ImageRegistry(name, inv, s, **kw)
        for k in ("endpoint", "url", "ca_cert", "username", "password", "versions"):
            pulumi.export(k, getattr(reg, k))
        return reg

    return program
