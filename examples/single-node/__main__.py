"""One Linux host → the CNCF distribution registry on it.

The host comes from Pulumi config (``address``, ``user``, ``port``, the SSH ``privateKey`` as a secret); pulumi-kk
prechecks it, installs Docker and docker compose from the static releases, then runs ``registry:2`` under compose
and systemd with a generated TLS certificate and an htpasswd user. See README.md.
"""

from __future__ import annotations

from typing import Any

import pulumi

from pulumi_kk.components.image_registry import ImageRegistry
from pulumi_kk.inventory import Host, Inventory
from pulumi_kk.settings.load import deep_merge
from pulumi_kk.sources import load_sources

config = pulumi.Config()

host = Host(
    name=config.get("name") or "node1",
    address=config.require("address"),
    port=config.get_int("port") or 22,
    user=config.get("user") or "root",
    private_key=config.require_secret("privateKey"),
    host_key=config.get("hostKey"),
)

# KubeKey's names, as in a `kind: Config` file; the user's `settings` object wins over these.
defaults: dict[str, Any] = {"image_registry": {"type": "registry"}}
settings = deep_merge(defaults, config.get_object("settings") or {})
sources = load_sources(Inventory.from_hosts([host]), pulumi_config=settings)

registry = ImageRegistry("registry", sources.inventory, sources.settings)

pulumi.export("url", registry.url)
pulumi.export("endpoint", registry.endpoint)
pulumi.export("ca_cert", registry.ca_cert)
pulumi.export("username", registry.username)
pulumi.export("password", registry.password)  # a secret: `pulumi stack output password --show-secrets`
pulumi.export("versions", registry.versions)
