"""Merge settings sources and build the typed model.

Order (later wins): defaults < inventory ``spec.vars`` < config file < Pulumi config < ``--set``.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union, get_args, get_origin

from ..artifacts import ARCHES, ARTIFACTS, MACHINE_ARCH
from ..errors import KKError, did_you_mean, suggestion
from .model import REGISTRY_TYPES, SECRET_KEYS, TYPE_ALIASES, Settings, Storage
from .setflags import nest

T = TypeVar("T")

_VERSION = re.compile(r"^v?\d+(\.\d+){1,3}([-+~][0-9A-Za-z.+~-]+)?$")
VERSION_KEYS = ("docker_version", "dockercompose_version", "harbor_version", "registry_version", "keepalived_version",
                "haproxy_version")

#: KubeKey's other spellings → our canonical dotted key.
KEY_ALIASES: dict[str, str] = {
    "image_registry.harbor_version": "harbor_version",
    "image_registry.dockercompose_version": "dockercompose_version",
    "image_registry.keepalived_version": "keepalived_version",
    "image_registry.docker_registry_version": "registry_version",
    "image_registry.registry_version": "registry_version",
    "docker_registry_version": "registry_version",
    "cri.docker_version": "docker_version",
    "image_registry.docker_registry": "image_registry.registry",
    "download.artifact_url": "artifact.artifact_url",
    "cri.docker": "docker",
}
#: Artifact names accepted under artifact_url / sha256 → canonical name.
ARTIFACT_NAME_ALIASES = {"docker_registry": "registry", "docker-registry": "registry", "docker_compose": "dockercompose",
                         "docker-compose": "dockercompose", "compose": "dockercompose"}


@dataclass(frozen=True)
class Layer:
    """One settings source: a nested dict and where it came from (for messages)."""

    values: Mapping[str, Any]
    source: str
    strict: bool = True
    """Unknown top-level keys are errors (``--set``, Pulumi config); in inventory and config files they are
    ignored unless close to a known key, since those files also carry vars for KubeKey's other roles."""


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``: mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _pop_path(d: dict[str, Any], path: list[str]) -> tuple[bool, Any]:
    cur: Any = d
    for p in path[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            return False, None
        cur = cur[p]
    if isinstance(cur, dict) and path[-1] in cur:
        return True, cur.pop(path[-1])
    return False, None


def _prune_empty(d: dict[str, Any], path: list[str]) -> None:
    """Drop the parents of ``path`` that popping an alias left empty (``cri: {}`` after ``cri.docker_version``)."""
    for depth in range(len(path) - 1, 0, -1):
        parent: Any = d
        for p in path[:depth - 1]:
            parent = parent.get(p) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[depth - 1]) == {}:
            del parent[path[depth - 1]]
        else:
            break


def normalize(values: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite KubeKey aliases to canonical keys (the canonical key wins when both are given)."""
    out = copy.deepcopy(dict(values))
    for alias, canon in KEY_ALIASES.items():
        found, v = _pop_path(out, alias.split("."))
        if not found:
            continue
        _prune_empty(out, alias.split("."))
        out = deep_merge(nest(canon, v), out)
    for section in ("artifact_url", "sha256"):
        sect = out.get("artifact", {}).get(section) if isinstance(out.get("artifact"), dict) else None
        if isinstance(sect, dict):
            for name in list(sect):
                if name in ARTIFACT_NAME_ALIASES:
                    sect.setdefault(ARTIFACT_NAME_ALIASES[name], sect.pop(name))
    t = out.get("image_registry", {}).get("type") if isinstance(out.get("image_registry"), dict) else None
    if isinstance(t, str) and t in TYPE_ALIASES:
        out["image_registry"]["type"] = TYPE_ALIASES[t]
    return out


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(value, args[0], key, source)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise KKError(f"must be a mapping, got {value!r}.", source=source, key=key,
                          fix=f"set the keys under it, e.g. {key}.<name>=value.")
        return _build(tp, value, key, source)  # type: ignore[arg-type]
    if origin is list:
        (item_t,) = get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise KKError(f"must be a list, got {value!r}.", source=source, key=key, fix="write key=[a,b].")
        return [_coerce(v, item_t, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise KKError(f"must be a mapping, got {value!r}.", source=source, key=key,
                          fix=f"set the keys under it, e.g. {key}.<name>=value.")
        kv_t = get_args(tp)
        val_t = kv_t[1] if len(kv_t) == 2 else Any
        # Typed values (daemon.json log-opts are strings, artifact tables map arch → text); the rest as given.
        return {k: _coerce(v, val_t, f"{key}.{k}", source)
                if val_t is str or (get_origin(val_t) is dict and isinstance(v, Mapping)) else v
                for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise KKError(f"must be true or false, got {value!r}.", source=source, key=key, fix="write true or false.")
    if tp is int:
        if isinstance(value, bool):
            raise KKError(f"must be a whole number, got {value!r}.", source=source, key=key, fix="write a number like 8.")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise KKError(f"must be a whole number, got {value!r}.", source=source, key=key,
                          fix="write a number like 8.") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise KKError(f"must be a number, got {value!r}.", source=source, key=key,
                          fix="write a number like 1.5.") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise KKError(f"must be a single value, got {value!r}.", source=source, key=key,
                          fix="give one value; only list settings take [a,b].")
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)
    return value


def _build(cls: type[T], values: Mapping[str, Any], prefix: str, source: str) -> T:
    hints = typing.get_type_hints(cls)
    names = _field_names(cls)
    kwargs: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            raise KKError(f"unknown setting{suggestion(str(k), names)}.", source=source, key=key,
                          fix=f"valid keys here: {', '.join(names)}.")
        kwargs[k] = _coerce(v, hints[k], key, source)
    return cls(**kwargs)


#: KubeKey keys with no meaning here: dropped from inventory and config files (their other roles use them).
KUBEKEY_ONLY = ("image_registry.dockerio_registry", "image_registry.quayio_registry", "image_registry.ghcrio_registry",
                "image_registry.k8sio_registry", "image_registry.registry.version", "image_registry.registry.config",
                "docker.daemon_policy", "image_registry.auth.insecure")


def _check_layer(layer: Layer) -> dict[str, Any]:
    """Normalize a layer and drop (or reject) top-level keys the model does not know."""
    values = normalize(layer.values)
    if not layer.strict:
        for key in KUBEKEY_ONLY:
            _pop_path(values, key.split("."))
    known = _field_names(Settings)
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k in known:
            out[k] = v
            continue
        close = did_you_mean(str(k), known)
        if layer.strict or close:
            raise KKError(f"unknown setting{suggestion(str(k), known)}.", source=layer.source, key=str(k),
                          fix="check the spelling; see the README's settings table.")
    # Build once per layer so errors name the layer that carries the bad value.
    _build(Settings, out, "", layer.source)
    return out


def merge_layers(layers: Sequence[Layer]) -> dict[str, Any]:
    """Validate each layer and merge them in order."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, _check_layer(layer))
    return merged


def origin(layers: Sequence[Layer], key: str) -> str:
    """The source of the last layer that sets dotted ``key`` (``defaults`` when none does)."""
    for layer in reversed(layers):
        cur: Any = normalize(layer.values)
        for part in key.split("."):
            if not isinstance(cur, Mapping) or part not in cur:
                break
            cur = cur[part]
        else:
            return layer.source
    return "defaults"


def _check_object_store(st: Storage, src: Callable[[str], str]) -> None:
    """An object store's keys without its bucket would silently fall back to local storage; Azure needs its
    account and key."""
    defaults = Storage()
    for drv, required in (("s3", "bucket"), ("gcs", "bucket"), ("azure", "container")):
        cur, dflt = getattr(st, drv), getattr(defaults, drv)
        touched = [f.name for f in dataclasses.fields(cur) if getattr(cur, f.name) != getattr(dflt, f.name)]
        key = f"image_registry.registry.storage.{drv}.{required}"
        if touched and not getattr(cur, required):
            raise KKError(f"{drv} settings are given ({', '.join(touched)}) but {required} is empty.",
                          source=src(f"image_registry.registry.storage.{drv}"), key=key,
                          fix=f"set {key}, or remove the other {drv} keys.")
    if st.driver == "azure":
        for k in ("accountname", "accountkey"):
            if not getattr(st.azure, k):
                key = f"image_registry.registry.storage.azure.{k}"
                raise KKError("is required by the azure storage driver.", source=src("image_registry.registry.storage"),
                              key=key, fix=f"set {key} (the storage account's name and access key).")


def validate(s: Settings, layers: Sequence[Layer] = ()) -> None:
    """Cross-field rules that a single field's type cannot express; errors name the layer that set the key."""

    def src(key: str) -> str:
        return origin(layers, key)

    reg = s.image_registry
    if reg.type not in REGISTRY_TYPES:
        raise KKError(f"unknown type {reg.type!r}{suggestion(reg.type, (*REGISTRY_TYPES, *TYPE_ALIASES))}.",
                      source=src("image_registry.type"), key="image_registry.type",
                      fix="use `harbor` or `registry` (KubeKey's `docker-registry` is accepted too).")
    for k in VERSION_KEYS:
        v = getattr(s, k)
        if not v:
            raise KKError("must be set.", source=src(k), key=k, fix=f"set {k}, e.g. --set {k}=...")
        if not _VERSION.match(v):
            raise KKError(f"{v!r} is not a version.", source=src(k), key=k,
                          fix="write a version like 24.0.7 or v2.10.1.")
    if reg.ha_vip:
        try:
            ipaddress.ip_address(reg.ha_vip)
        except ValueError:
            raise KKError(f"{reg.ha_vip!r} is not an IP address.", source=src("image_registry.ha_vip"), key="image_registry.ha_vip",
                          fix="set the virtual IP as a bare address, e.g. 10.0.0.50.") from None
    if reg.keepalived.vrid is not None and not 1 <= reg.keepalived.vrid <= 255:
        raise KKError(f"{reg.keepalived.vrid} is out of range.", source=src("image_registry.keepalived.vrid"), key="image_registry.keepalived.vrid",
                      fix="use 1..255, unique on the L2 segment.")
    for pkey, port in (("image_registry.http_port", reg.http_port), ("image_registry.https_port", reg.https_port),
                       ("image_registry.registry.port", reg.registry.port)):
        if port is not None and not 0 < port < 65536:
            raise KKError(f"port {port} is not a TCP port.", source=src(pkey), key=pkey,
                          fix="use a number from 1 to 65535.")
    ka = reg.keepalived
    if ka.vrrp_version not in (2, 3):
        raise KKError(f"{ka.vrrp_version} is not a VRRP version.", source=src("image_registry.keepalived.vrrp_version"),
                      key="image_registry.keepalived.vrrp_version", fix="use 3 (default) or 2.")
    if ka.vrrp_version == 2 and (ka.advert_int < 1 or ka.advert_int != int(ka.advert_int)):
        raise KKError(f"advert_int {ka.advert_int} needs VRRPv3.", source=src("image_registry.keepalived.advert_int"),
                      key="image_registry.keepalived.advert_int",
                      fix="use whole seconds with vrrp_version 2, or set image_registry.keepalived.vrrp_version=3.")
    if not 0.01 <= ka.advert_int <= 40:
        raise KKError(f"advert_int {ka.advert_int} is out of range.", source=src("image_registry.keepalived.advert_int"),
                      key="image_registry.keepalived.advert_int", fix="use 0.01 to 40 seconds.")
    root = s.docker.data_root
    if not root.startswith("/") or not root.strip("/"):
        # `pulumi destroy` with delete_data runs `rm -rf` on it.
        raise KKError(f"{root!r} is not a usable directory.", source=src("docker.data_root"), key="docker.data_root",
                      fix="use an absolute path below /, e.g. /var/lib/docker.")
    drivers = reg.registry.storage.drivers
    if len(drivers) > 1:
        raise KKError(f"several storage drivers are set: {', '.join(drivers)}.", source=src("image_registry.registry.storage"),
                      key="image_registry.registry.storage",
                      fix="keep exactly one of s3, gcs, azure (or none for filesystem).")
    _check_object_store(reg.registry.storage, src)
    for name, table in (("artifact_url", s.artifact.artifact_url), ("sha256", s.artifact.sha256)):
        for art, per_arch in table.items():
            if art not in ARTIFACTS:
                raise KKError(f"unknown artifact{suggestion(art, ARTIFACTS)}.", source=src(f"artifact.{name}.{art}"),
                              key=f"artifact.{name}.{art}", fix=f"use one of {', '.join(ARTIFACTS)}.")
            if not isinstance(per_arch, Mapping):
                raise KKError("must map an arch to a value.", source=src(f"artifact.{name}.{art}"), key=f"artifact.{name}.{art}",
                              fix=f"write artifact.{name}.{art}.amd64=...")
            for arch in per_arch:
                if arch not in ARCHES:
                    hint = (f" ({arch!r} is called {MACHINE_ARCH[arch]!r} here)" if arch in MACHINE_ARCH
                            else suggestion(str(arch), ARCHES))
                    raise KKError(f"unknown arch{hint}.", source=src(f"artifact.{name}.{art}.{arch}"),
                                  key=f"artifact.{name}.{art}.{arch}", fix="use amd64 or arm64.")


def build(layers: Sequence[Layer]) -> Settings:
    """Merge ``layers`` over the defaults, build the typed model and validate it."""
    merged = merge_layers(layers)
    settings = _build(Settings, merged, "", "settings")
    validate(settings, layers)
    return settings


def to_dict(s: Any) -> dict[str, Any]:
    """The model as plain data (property values not included)."""
    return dataclasses.asdict(s)


def redacted(s: Settings) -> dict[str, Any]:
    """``to_dict`` with every secret value replaced by ``"[secret]"`` (empty values kept empty)."""

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ("[secret]" if k in SECRET_KEYS and v[k] else walk(x)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    out: dict[str, Any] = walk(to_dict(s))
    out["binary_dir"] = s.resolved_binary_dir
    return out
