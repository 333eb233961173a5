"""Docker engine, daemon.json and docker compose: the steps of the docker layer."""

from __future__ import annotations

import json
from typing import Any

from ..artifacts import resolve
from ..plan import Step
from ..settings.model import Settings
from . import render, state_dir


def daemon_json(settings: Settings, extra_insecure: list[str] | None = None) -> str:
    """``/etc/docker/daemon.json`` from settings, keys sorted, for a stable diff."""
    d = settings.docker
    conf: dict[str, Any] = {"data-root": d.data_root, "log-driver": d.log_driver}
    if d.log_opts:
        conf["log-opts"] = dict(d.log_opts)
    insecure = sorted({*d.insecure_registries, *(extra_insecure or [])})
    if insecure:
        conf["insecure-registries"] = insecure
    if d.registry_mirrors:
        conf["registry-mirrors"] = list(d.registry_mirrors)
    if d.bip:
        conf["bip"] = d.bip
    if d.storage_driver:
        conf["storage-driver"] = d.storage_driver
    if d.live_restore:
        conf["live-restore"] = True
    conf.update(d.daemon)
    return json.dumps(conf, indent=2, sort_keys=True)


def _units() -> list[dict[str, str]]:
    return [{"name": n, "text": render(f"docker/{n}.j2").rstrip("\n")}
            for n in ("containerd.service", "docker.socket", "docker.service")]


def docker_steps(settings: Settings, arch: str, delete_data: bool = False) -> list[Step]:
    """daemon.json → engine → compose, for one host of ``arch``."""
    state = state_dir(settings)
    units = _units()
    engine = resolve("docker", settings, arch)
    compose = resolve("dockercompose", settings, arch)
    dj = daemon_json(settings)
    common = {"state_dir": state}
    config = Step(
        name="docker-config", layer="docker-config",
        script=render("docker/config.sh.j2", step="docker-config", daemon_json=dj, **common),
        delete=render("docker/unconfig.sh.j2", step="docker-config", **common),
        description="write /etc/docker/daemon.json", files={"/etc/docker/daemon.json": dj + "\n"})
    install = Step(
        name="docker-install", layer="docker",
        script=render("docker/install.sh.j2", step="docker-install", version=settings.docker_version, arch=arch,
                      artifact=engine, units=units, **common),
        delete=render("docker/uninstall.sh.j2", step="docker-install", units=units, delete_data=delete_data,
                      data_root=settings.docker.data_root, **common),
        uploads=(engine,) if engine.is_local else (), after=("docker-config",),
        description=f"docker {settings.docker_version} ({arch})",
        files={f"/etc/systemd/system/{u['name']}": u["text"] + "\n" for u in units})
    compose_step = Step(
        name="compose-install", layer="compose",
        script=render("docker/compose-install.sh.j2", step="compose-install",
                      version=settings.dockercompose_version, artifact=compose, **common),
        delete=render("docker/compose-uninstall.sh.j2", step="compose-install", **common),
        uploads=(compose,) if compose.is_local else (), after=("docker-install",),
        description=f"docker compose {settings.dockercompose_version} ({arch})")
    return [config, install, compose_step]
