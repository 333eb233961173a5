"""The program behind the repo's own Pulumi project (``Pulumi.yaml`` + ``__main__.py``) and the CLI's stacks."""

from __future__ import annotations

from typing import Any

import pulumi

from .components.image_registry import ImageRegistry
from .sources import Sources, load_sources

NAMESPACE = "pulumi-kk"


def sources_from_config(config: pulumi.Config | None = None) -> Sources:
    """Read ``pulumi-kk:inventory`` (path), ``pulumi-kk:configFiles`` (list), ``pulumi-kk:settings`` (object,
    KubeKey names) and ``pulumi-kk:set`` (``--set`` strings: one, or a list)."""
    cfg = config or pulumi.Config(NAMESPACE)
    inventory = cfg.require("inventory")
    files = cfg.get_object("configFiles") or []
    settings: dict[str, Any] = cfg.get_object("settings") or {}
    raw_set = cfg.get_object("set") if _is_list(cfg, "set") else cfg.get("set")
    sets = [raw_set] if isinstance(raw_set, str) else list(raw_set or [])
    return load_sources(inventory, files, settings, sets)


def _is_list(cfg: pulumi.Config, key: str) -> bool:
    raw = cfg.get(key)
    return raw is not None and raw.lstrip().startswith("[")


def program(sources: Sources | None = None, name: str = "registry", delete_data: bool = False) -> ImageRegistry:
    """Build the ImageRegistry for ``sources`` (default: from Pulumi config) and export its outputs."""
    src = sources or sources_from_config()
    reg = ImageRegistry(name, src.inventory, src.settings, delete_data=delete_data)
    pulumi.export("nodes", reg.nodes)
    pulumi.export("versions", reg.versions)
    pulumi.export("endpoint", reg.endpoint)
    pulumi.export("url", reg.url)
    pulumi.export("ca_cert", reg.ca_cert)
    pulumi.export("username", reg.username)
    pulumi.export("password", reg.password)
    return reg
