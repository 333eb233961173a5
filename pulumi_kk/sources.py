"""Everything a run starts from: the inventory and every settings source, merged in KubeKey's order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import KKError
from .inventory import IMAGE_REGISTRY, Inventory, load_config, load_inventory
from .settings import Layer, Settings, build, parse_set


@dataclass(frozen=True)
class Sources:
    inventory: Inventory
    settings: Settings
    layers: tuple[Layer, ...]


def load_sources(inventory: str | Path | Inventory, config_files: Sequence[str | Path] = (),
                 pulumi_config: Mapping[str, Any] | None = None, sets: Sequence[str] = (),
                 require_registry_group: bool = True) -> Sources:
    """defaults < inventory ``spec.vars`` < config files < Pulumi config < ``--set``; validated."""
    inv = inventory if isinstance(inventory, Inventory) else load_inventory(inventory)
    layers = [Layer(inv.vars, f"{inv.source} (spec.vars)", strict=False)]
    layers += [Layer(load_config(p), str(p), strict=False) for p in config_files]
    if pulumi_config:
        layers.append(Layer(pulumi_config, "Pulumi config (pulumi-kk:settings)"))
    if sets:
        layers.append(Layer(parse_set(sets), "--set"))
    settings = build(layers)
    if require_registry_group and not inv.groups.get(IMAGE_REGISTRY):
        raise KKError("the image_registry group is empty or missing.", source=inv.source,
                      key=f"spec.groups.{IMAGE_REGISTRY}.hosts",
                      fix="list the registry hosts under spec.groups.image_registry.hosts.")
    return Sources(inv, settings, tuple(layers))
