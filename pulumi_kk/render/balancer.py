"""Active-active: haproxy on every node spreads the VIP's connections over every healthy registry."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from ..artifacts import resolve
from ..plan import Step
from ..settings.model import Settings
from . import image_step, render
from .keepalived import with_drain
from .registry import endpoint

HAPROXY_DIR = "/opt/pulumi-kk/haproxy"
UNIT = "pulumi-kk-haproxy.service"


def haproxy_cfg(settings: Settings, node_ips: Sequence[str]) -> str:
    """TCP frontend on the endpoint port; round-robin over every node's registry, HTTP-checked (TLS passes
    through untouched, so clients see the registry's own certificate)."""
    ep = endpoint(settings, node_ips)
    backend = settings.image_registry.keepalived.backend_port
    ssl = " check-ssl verify none" if ep.scheme == "https" else ""
    servers = [f"  server node{i} {ip}:{backend} check{ssl} inter 1s fall 2 rise 2"
               for i, ip in enumerate(node_ips)]
    return "\n".join([
        "# pulumi-kk: spreads the registry VIP's connections over every healthy node.",
        "global",
        "  log stdout format raw local0 notice",
        "  maxconn 8192",
        "defaults",
        "  mode tcp",
        "  log global",
        "  timeout connect 3s",
        "  timeout client 10m",
        "  timeout server 10m",
        "  # a backend that refuses (its registry restarting, not yet marked down) costs a retry on another node,",
        "  # not a failed connection",
        "  retries 3",
        "  option redispatch 1",
        "frontend registry",
        f"  bind :{ep.port}",
        "  default_backend registries",
        "backend registries",
        "  balance roundrobin",
        "  option httpchk GET /",
        "  http-check expect status 200",
        *servers,
        "",
    ])


def compose_yml(image: str) -> str:
    svc = {"image": image, "restart": "always", "network_mode": "host", "user": "0",
           "volumes": [f"{HAPROXY_DIR}/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"],
           "logging": {"driver": "json-file", "options": {"max-size": "20m", "max-file": "3"}}}
    return yaml.safe_dump({"name": "haproxy", "services": {"haproxy": svc}}, sort_keys=False)


def balancer_steps(settings: Settings, arch: str, node_ips: Sequence[str]) -> list[Step]:
    art = resolve("haproxy", settings, arch)
    ep = endpoint(settings, node_ips)
    files = {f"{HAPROXY_DIR}/haproxy.cfg": haproxy_cfg(settings, node_ips),
             f"{HAPROXY_DIR}/docker-compose.yml": compose_yml(art.image),
             f"/etc/systemd/system/{UNIT}": render("common/compose.service.j2", what="registry load balancer",
                                                   project="haproxy", dir=HAPROXY_DIR)}
    return [
        image_step("haproxy-image", art, settings),
        Step(name="haproxy-service", layer="haproxy",
             script=with_drain(render("common/compose-service.sh.j2", step="haproxy-service", what="haproxy",
                                      dir=HAPROXY_DIR, unit=UNIT, project="haproxy", service="haproxy", files=files,
                                      mkdirs=[], wait=30, health=f"{ep.scheme}://127.0.0.1:{ep.port}/"),
                               settings, node_ips, haproxy=True),
             delete=render("common/compose-service-remove.sh.j2", step="haproxy-service", what="haproxy",
                           dir=HAPROXY_DIR, unit=UNIT, project="haproxy", note="", cleanup=[]),
             after=("haproxy-image", "registry-service"), files=files,
             description=f"haproxy on :{ep.port} over {len(node_ips)} nodes"),
    ]
