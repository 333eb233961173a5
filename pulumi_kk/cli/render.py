"""``pulumi-kk render registry``: write every host's scripts, config files and ``plan.json`` — no host contacted,
no Pulumi CLI needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..artifacts import ARCHES, ARTIFACTS, check_arch
from ..inventory import IMAGE_REGISTRY, NFS, Host
from ..plan import HostPlan, plan_host
from ..render.registry import summary as registry_summary
from ..settings import redacted, to_dict
from ..settings.model import SECRET_KEYS, Settings
from ..sources import Sources
from ..topology import check_topology


def pick_arch(host: Host, settings: Settings) -> tuple[str, str]:
    """The arch to render for, and why: the host var ``arch``, else the one arch binary_dir has files for,
    else amd64 (assumed; the real host's facts decide at ``pulumi up``)."""
    if host.arch:
        return check_arch(host.arch, host.name), "host var arch"
    bdir = Path(settings.resolved_binary_dir).expanduser()
    present = [a for a in ARCHES
               if (bdir / ARTIFACTS["docker"].paths[0].format(v=settings.docker_version, arch=a)).is_file()]
    if len(present) == 1:
        return present[0], "only arch with files in binary_dir"
    return "amd64", "assumed (set the host var `arch` to choose)"


def _connector(host: Host) -> dict[str, Any]:
    return {"type": host.connector, "host": host.address, "port": host.port, "user": host.user,
            "password": "[secret]" if host.password else None,
            "private_key": "[secret]" if host.private_key else None, "host_key": host.host_key}


def _secret_values(src: Sources) -> list[str]:
    """Every secret the sources hold (settings under SECRET_KEYS, host passwords and keys), longest first."""
    found: set[str] = set()

    def leaves(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                leaves(x)
        elif isinstance(v, list):
            for x in v:
                leaves(x)
        elif v not in (None, "") and not isinstance(v, bool):
            found.add(str(v))

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k in SECRET_KEYS:
                    leaves(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(to_dict(src.settings))
    for h in src.inventory.hosts.values():
        leaves([h.password, h.private_key, h.private_key_password])
    # Very short values would blank out unrelated text; those are left alone.
    return sorted((v for v in found if len(v) >= 4), key=len, reverse=True)


def render_registry(src: Sources, out: Path, delete_data: bool = False) -> dict[str, Any]:
    """Write ``out/plan.json`` and, per host, ``steps/NN-name.sh`` (+ ``.delete.sh``) and ``files/<path>``."""
    out.mkdir(parents=True, exist_ok=True)
    inv, settings = src.inventory, src.settings
    secrets = _secret_values(src)

    def write(path: Path, text: str) -> None:
        """Write a rendered file; a secret that reached the text anyway is replaced by ``[secret]``."""
        for value in secrets:
            text = text.replace(value, "[secret]")
        path.write_text(text)

    nfs_host, warnings = check_topology(inv, settings)
    node_ips = [str(h.node_ip) for h in inv.group(IMAGE_REGISTRY)]
    plans: list[tuple[HostPlan, str]] = []
    for host in inv.group(IMAGE_REGISTRY):
        arch, why = pick_arch(host, settings)
        plans.append((plan_host(settings, host, arch, node_ips, nfs_host, delete_data), why))
    doc: dict[str, Any] = {
        "inventory": inv.source,
        "groups": {g: list(m) for g, m in inv.groups.items()},
        "settings": redacted(settings),
        "settings_sources": [layer.source for layer in src.layers],
        "registry": (registry_summary(settings, node_ips) if settings.image_registry.type == "registry"
                     else {"type": "harbor", "note": "Harbor is not implemented yet: docker layer only"}),
        "warnings": warnings,
        "hosts": {},
    }
    for plan, why in plans:
        host = inv.hosts[plan.host]
        hdir = out / plan.host
        artifacts: dict[str, Any] = {}
        for i, step in enumerate(plan.steps, 1):
            base = hdir / "steps" / f"{i:02d}-{step.name}"
            base.parent.mkdir(parents=True, exist_ok=True)
            write(base.with_suffix(".sh"), step.script)
            if step.delete:
                write(Path(f"{base}.delete.sh"), step.delete)
            for path, text in step.files.items():
                f = hdir / "files" / path.lstrip("/")
                f.parent.mkdir(parents=True, exist_ok=True)
                write(f, text)
            for up in step.uploads:
                artifacts[up.name] = up.as_dict()
        doc["hosts"][plan.host] = {
            "connector": _connector(host),
            "arch": plan.arch, "arch_from": why,
            "groups": [g for g, m in inv.groups.items() if plan.host in m],
            "artifacts": artifacts,
            "steps": [s.summary() for s in plan.steps],
        }
    doc["nfs"] = list(inv.groups.get(NFS, ()))
    write(out / "plan.json", json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return doc
