"""Rules that need the inventory and the settings together."""

from __future__ import annotations

from .errors import KKError
from .inventory import IMAGE_REGISTRY, NFS, Inventory
from .settings.model import Settings


def check_topology(inventory: Inventory, settings: Settings,
                   external_storage: bool = False) -> tuple[str | None, list[str]]:
    """Rules that need the inventory and the settings together: (the nfs host if one is used, warnings)."""
    warnings: list[str] = []
    nodes = inventory.group(IMAGE_REGISTRY)
    reg = settings.image_registry
    storage = reg.registry.storage
    nfs = list(inventory.groups.get(NFS, ()))
    uses_nfs = reg.type == "registry" and storage.driver == "filesystem" and bool(storage.filesystem.nfs_mount)
    if uses_nfs and len(nfs) != 1:
        raise KKError(f"storage.filesystem.nfs_mount needs exactly one nfs host; the nfs group has {len(nfs)}.",
                      source=inventory.source, key="spec.groups.nfs.hosts",
                      fix="list exactly one NFS server under spec.groups.nfs.hosts (KubeKey's rule).")
    if reg.type == "registry" and len(nodes) > 1 and storage.driver == "filesystem" and not uses_nfs \
            and not external_storage:
        raise KKError(f"{len(nodes)} registry nodes on local filesystem storage would each keep different images.",
                      source=inventory.source, key="image_registry.registry.storage",
                      fix="set image_registry.registry.storage.filesystem.nfs_mount (with one nfs host) or an object "
                          "store (s3/gcs/azure), or use a single node.")
    if reg.ha_vip and len(nodes) < 2:
        warnings.append(f"image_registry.ha_vip={reg.ha_vip} is set but there is one registry node: no keepalived "
                        "is installed (KubeKey's rule); clients use the node address.")
    if uses_nfs:
        h = inventory.hosts[nfs[0]]
        return str(h.internal_ipv4 or h.address), warnings
    return None, warnings
