"""ImageRegistry: the one call — inventory (or hosts) + settings → every image_registry host converged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi

from ..errors import KKError
from ..generated import GeneratedSecret, RegistryTLS
from ..inventory import IMAGE_REGISTRY, Host, Inventory
from ..plan import Step, plan_host
from ..precheck import WARNING, check_host, failed, parse_probe, probe_script, table
from ..render.registry import RegistrySecrets, endpoint, tls_sans
from ..settings.model import Settings
from ..topology import check_topology
from .docker import Docker
from .host import arch_plans
from .keepalived import Keepalived
from .registry import Registry

TYPE = "pulumi-kk:index:ImageRegistry"


def _read(path: str, key: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except OSError:
        raise KKError(f"cannot read {path!r}.", key=key, fix="give a readable PEM file, or leave it empty to have "
                      "pulumi-kk generate the TLS material.") from None


def _plan_all(hosts: list[Host], settings: Settings, nfs_host: str | None, delete_data: bool) -> None:
    """Plan every host before any resource exists, so bad input never reaches a host. Addresses that are
    Outputs (known only at deploy time) are replaced by placeholders: only the structure is checked here."""
    ips = [str(h.node_ip) if isinstance(h.node_ip, str) else f"0.0.0.{i + 1}" for i, h in enumerate(hosts)]
    for i, h in enumerate(hosts):
        stand_in = replace(h, address=ips[i], internal_ipv4=None, internal_ipv6=None)

        def make(arch: str, stand_in: Host = stand_in) -> list[Step]:
            return list(plan_host(settings, stand_in, arch, ips, nfs_host, delete_data).steps)

        arch_plans(h, make)


def _verdict(settings: Settings, inventory: Inventory, host: Host,
             node_ips: pulumi.Output[list[str]]) -> Callable[[pulumi.Output[str]], pulumi.Output[str]]:
    """Judge a host's probe output: warnings are logged, errors stop every install step of that host."""

    def judge(out: str, ips: list[str]) -> str:
        findings = check_host(settings, inventory, host, parse_probe(out, host.name), ips)
        for f in findings:
            if f.level == WARNING:
                pulumi.log.warn(f"precheck {host.name} {f.check}: {f.message}. {f.fix}".strip())
        if failed(findings):
            raise KKError(f"precheck failed on {host.name}:\n{table([f for f in findings if f.level != 'ok'])}",
                          fix="fix the hosts, or set precheck.as_warnings=true for a lab.")
        return "ok"

    def gate(stdout: pulumi.Output[str]) -> pulumi.Output[str]:
        return pulumi.Output.all(stdout, node_ips).apply(lambda a: judge(a[0], a[1]))

    return gate


class ImageRegistry(pulumi.ComponentResource):
    """Docker and compose on every ``image_registry`` host, then the registry (``image_registry.type=registry``).

    Hosts are independent: no resource of one host depends on another's, so Pulumi converges them in parallel.
    ``storage``: a storage block from a bucket resource (``S3Bucket(...).registry_storage``), overriding settings.
    """

    nodes: pulumi.Output[list[str]]
    versions: pulumi.Output[dict[str, dict[str, str]]]
    endpoint: pulumi.Output[str]
    url: pulumi.Output[str]
    ca_cert: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(self, name: str, inventory: Inventory, settings: Settings, *, delete_data: bool = False,
                 storage: pulumi.Input[dict[str, Any]] | None = None, precheck: bool = True,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        hosts = inventory.group(IMAGE_REGISTRY)
        if not hosts:
            raise KKError("the image_registry group is empty.", source=inventory.source,
                          key="spec.groups.image_registry.hosts", fix="list the registry hosts there.")
        reg = settings.image_registry
        nfs_host, warnings = check_topology(inventory, settings, external_storage=storage is not None)
        _plan_all(hosts, settings, nfs_host, delete_data)
        super().__init__(TYPE, name, None, opts)
        for w in warnings:
            pulumi.log.warn(w)
        child = pulumi.ResourceOptions(parent=self)
        node_ips = pulumi.Output.all(*[h.node_ip for h in hosts]).apply(lambda ips: [str(i) for i in ips])
        self.docker: dict[str, Docker] = {}
        for h in hosts:
            gate = None
            if precheck:
                script = pulumi.Output.all(h.node_ip, node_ips).apply(
                    lambda a: probe_script(settings, [p for p in a[1] if p != str(a[0])]))
                gate = (script, _verdict(settings, inventory, h, node_ips))
            self.docker[h.name] = Docker(f"{name}-{h.name}-docker", h, settings, delete_data=delete_data,
                                         precheck=gate, opts=child)
        versions: dict[str, dict[str, str]] = {
            h.name: {"docker": settings.docker_version, "compose": settings.dockercompose_version} for h in hosts}
        self.ca_cert = pulumi.Output.from_input("")
        self.endpoint = node_ips.apply(lambda ips: endpoint(settings, ips).address)
        self.url = node_ips.apply(lambda ips: endpoint(settings, ips).url)
        self.username = pulumi.Output.from_input(reg.auth.username)
        self.password = pulumi.Output.secret("")
        self.registries: dict[str, Registry] = {}
        self.keepalived: dict[str, Keepalived] = {}
        if reg.type == "registry":
            http_secret = GeneratedSecret(f"{name}-http-secret", 48, opts=child).value
            password = (pulumi.Output.secret(reg.auth.password) if reg.auth.password
                        else GeneratedSecret(f"{name}-admin-password", 24, opts=child).value)
            tls: tuple[pulumi.Input[str], pulumi.Input[str], pulumi.Input[str]] = ("", "", "")
            if not reg.auth.plain_http:
                if reg.auth.cert_file or reg.auth.key_file:
                    tls = (_read(reg.auth.cert_file, "image_registry.auth.cert_file"),
                           pulumi.Output.secret(_read(reg.auth.key_file, "image_registry.auth.key_file")),
                           _read(reg.auth.ca_file, "image_registry.auth.ca_file") if reg.auth.ca_file else "")
                else:
                    gen = RegistryTLS(f"{name}-tls", sans=node_ips.apply(lambda ips: tls_sans(settings, ips)),
                                      opts=child)
                    tls = (gen.cert, gen.key, gen.ca_cert)
            self.ca_cert = pulumi.Output.from_input(tls[2])
            self.password = password
            secrets = pulumi.Output.all(http_secret, password, tls[0], tls[1], tls[2], storage).apply(
                lambda a: RegistrySecrets(http_secret=a[0], password=a[1], tls_cert=a[2], tls_key=a[3],
                                          ca_cert=a[4], storage=a[5]))
            previous: list[pulumi.Resource] = []
            for h in hosts:
                d = self.docker[h.name]
                r = Registry(
                    f"{name}-{h.name}-registry", h, settings, node_ips=node_ips, secrets=secrets, facts=d.facts,
                    docker=d.resources, nfs_host=nfs_host, delete_data=delete_data,
                    wait_for={"registry-service": previous} if reg.rolling else None, opts=child)
                self.registries[h.name] = r
                previous = [r.resources["registry-service"]]
                versions[h.name]["registry"] = settings.registry_version
            if reg.ha_vip and len(hosts) > 1:
                auth = (GeneratedSecret(f"{name}-vrrp-auth", 8, opts=child).value
                        if reg.keepalived.vrrp_version == 2 else "")
                health = node_ips.apply(lambda ips: f"{endpoint(settings, ips).scheme}://127.0.0.1:"
                                                    f"{endpoint(settings, ips).port}/")
                before: dict[str, Sequence[pulumi.Resource]] = {}
                for i, h in enumerate(hosts):
                    ka = self.keepalived[h.name] = Keepalived(
                        f"{name}-{h.name}-keepalived", name, h, settings, index=i, node_ips=node_ips, health=health,
                        facts=self.docker[h.name].facts,
                        local={**self.docker[h.name].resources, **self.registries[h.name].resources},
                        auth_pass=auth, wait_for=before if reg.rolling else None, opts=child)
                    before = {k: [ka.resources[k]] for k in ("keepalived-service", "haproxy-service")
                              if k in ka.resources}
                    versions[h.name]["keepalived"] = settings.keepalived_version
        else:
            pulumi.log.warn("image_registry.type=harbor: Harbor is not implemented yet; only Docker and compose are "
                            "installed. Set image_registry.type=registry for the distribution registry.")
        self.nodes = pulumi.Output.from_input([h.name for h in hosts])
        self.versions = pulumi.Output.from_input(versions)
        self.register_outputs({"nodes": self.nodes, "versions": self.versions, "endpoint": self.endpoint,
                               "url": self.url, "ca_cert": self.ca_cert, "username": self.username,
                               "password": self.password})
