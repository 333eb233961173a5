"""KubeKey ``Inventory`` (kubekey.kubesphere.io/v1) → hosts with connectors and vars, and resolved groups.

Hosts can equally be built in Python (:class:`Host`), with any field a Pulumi Output (a VM's IP from another
resource): this module never looks inside those values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import KKError, suggestion
from .yamlio import load_yaml_file, load_yaml_text

API_VERSION = "kubekey.kubesphere.io/v1"
CONNECTOR_TYPES = ("ssh", "local")
CONNECTOR_KEYS = ("type", "host", "port", "user", "password", "private_key", "private_key_password", "host_key")
GROUP_KEYS = ("hosts", "groups", "vars")
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
#: Groups this library acts on.
IMAGE_REGISTRY = "image_registry"
NFS = "nfs"


@dataclass(frozen=True)
class Host:
    """A machine to configure.

    ``address``, ``password``, ``private_key`` and ``host_key`` may be plain values or Pulumi Inputs. ``private_key``
    holds key text (inline); the inventory loader reads key files for you.
    """

    name: str
    address: Any = None
    port: Any = 22
    user: Any = "root"
    password: Any = None
    private_key: Any = None
    private_key_password: Any = None
    host_key: Any = None
    connector: str = "ssh"
    internal_ipv4: Any = None
    internal_ipv6: Any = None
    arch: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.connector == "local"

    @property
    def node_ip(self) -> Any:
        """The address other nodes and certificates use: internal_ipv4, else internal_ipv6, else the address."""
        return self.internal_ipv4 or self.internal_ipv6 or self.address


@dataclass(frozen=True)
class Inventory:
    """Hosts by name, groups resolved to host names (nested groups flattened, order kept), and global vars."""

    hosts: Mapping[str, Host]
    groups: Mapping[str, tuple[str, ...]]
    vars: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<python>"

    def group(self, name: str) -> list[Host]:
        """The hosts of a group, in inventory order (empty when the group is absent)."""
        return [self.hosts[h] for h in self.groups.get(name, ())]

    @classmethod
    def from_hosts(cls, hosts: Sequence[Host], groups: Mapping[str, Sequence[str]] | None = None,
                   vars: Mapping[str, Any] | None = None) -> Inventory:
        """Build from Python :class:`Host` objects; without ``groups`` every host is an image_registry node."""
        by_name: dict[str, Host] = {}
        for h in hosts:
            if h.name in by_name:
                raise KKError(f"host {h.name!r} is given twice.", source="<python>", key="hosts",
                              fix="give each Host a unique name.")
            by_name[h.name] = h
        grp = {k: tuple(v) for k, v in (groups or {IMAGE_REGISTRY: list(by_name)}).items()}
        for g, members in grp.items():
            for m in members:
                if m not in by_name:
                    raise KKError(f"group {g!r} names unknown host {m!r}{suggestion(m, by_name)}.",
                                  source="<python>", key=f"groups.{g}", fix="add the Host or fix the name.")
        return cls(hosts=by_name, groups=grp, vars=dict(vars or {}), source="<python>")


def _as_mapping(value: Any, source: str, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise KKError(f"must be a mapping, got {type(value).__name__}.", source=source, key=key,
                      fix="write it as `name: value` lines indented under the key.")
    return value


def _read_key(value: str, source: str, key: str) -> str:
    """Inline key text as is; otherwise a path (``~`` expanded, relative to the inventory file) read now."""
    if "-----BEGIN" in value:
        return value
    p = Path(value).expanduser()
    if not p.is_absolute() and source not in ("<python>", "<string>"):
        p = Path(source).parent / p
    try:
        return p.read_text(encoding="utf-8")
    except OSError:
        raise KKError(f"private key file {value!r} cannot be read.", source=source, key=key,
                      fix="give a readable key path, or the key text itself.") from None


def _parse_host(name: str, spec: Any, source: str) -> Host:
    key = f"spec.hosts.{name}"
    spec = _as_mapping(spec, source, key)
    conn = spec.get("connector")
    # KubeKey treats every other key as a host var (even a misspelt `connetor`, as in its own docs).
    conn = _as_mapping(conn, source, f"{key}.connector")
    for k in conn:
        if k not in CONNECTOR_KEYS:
            raise KKError(f"unknown connector key {k!r}{suggestion(k, CONNECTOR_KEYS)}.", source=source,
                          key=f"{key}.connector", fix=f"use one of {', '.join(CONNECTOR_KEYS)}.")
    hostvars = {k: v for k, v in spec.items() if k != "connector"}
    address = conn.get("host") or hostvars.get("internal_ipv4") or hostvars.get("internal_ipv6")
    ctype = conn.get("type")
    if ctype is None:
        ctype = "local" if (name in LOCAL_NAMES and not conn.get("host")) or address in LOCAL_NAMES else "ssh"
    if ctype not in CONNECTOR_TYPES:
        raise KKError(f"unknown connector type {ctype!r}{suggestion(str(ctype), CONNECTOR_TYPES)}.",
                      source=source, key=f"{key}.connector.type", fix="use `ssh` or `local`.")
    if ctype == "ssh" and not address:
        raise KKError(f"host {name!r} has no address.", source=source, key=f"{key}.connector.host",
                      fix="set connector.host (or internal_ipv4) to the host's IP or DNS name.")
    port = conn.get("port", 22)
    try:
        if isinstance(port, bool):
            raise ValueError
        port = int(port)
        if not 0 < port < 65536:
            raise ValueError
    except (TypeError, ValueError):
        raise KKError(f"port {conn.get('port')!r} is not a TCP port.", source=source,
                      key=f"{key}.connector.port", fix="use a number from 1 to 65535.") from None
    pkey = conn.get("private_key")
    if pkey is not None:
        pkey = _read_key(str(pkey), source, f"{key}.connector.private_key")
    arch = hostvars.get("arch")
    return Host(
        name=name,
        address=address or "localhost",
        port=port,
        user=str(conn.get("user") or "root"),
        password=None if conn.get("password") is None else str(conn.get("password")),
        private_key=pkey,
        private_key_password=None if conn.get("private_key_password") is None else str(conn["private_key_password"]),
        host_key=conn.get("host_key"),
        connector=ctype,
        internal_ipv4=hostvars.get("internal_ipv4"),
        internal_ipv6=hostvars.get("internal_ipv6"),
        arch=None if arch is None else str(arch),
        vars=hostvars,
    )


def _resolve_groups(raw: dict[str, Any], hosts: dict[str, Host], source: str) -> dict[str, tuple[str, ...]]:
    specs: dict[str, dict[str, Any]] = {}
    for gname, gspec in raw.items():
        gspec = _as_mapping(gspec, source, f"spec.groups.{gname}")
        for k in gspec:
            if k not in GROUP_KEYS:
                raise KKError(f"unknown group key {k!r}{suggestion(k, GROUP_KEYS)}.", source=source,
                              key=f"spec.groups.{gname}", fix="a group has `hosts`, `groups` and `vars`.")
        for k in ("hosts", "groups"):
            v = gspec.get(k)
            if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
                raise KKError("must be a list of names.", source=source, key=f"spec.groups.{gname}.{k}",
                              fix="write one `- name` line per entry (quote names that look like numbers).")
        specs[gname] = gspec

    resolved: dict[str, tuple[str, ...]] = {}

    def resolve(g: str, path: tuple[str, ...]) -> tuple[str, ...]:
        if g in resolved:
            return resolved[g]
        if g in path:
            cycle = " → ".join((*path[path.index(g):], g))
            raise KKError(f"group cycle: {cycle}.", source=source, key=f"spec.groups.{g}.groups",
                          fix="remove one of these nested group references.")
        out: list[str] = []
        for h in specs[g].get("hosts") or []:
            if h not in hosts:
                if h in LOCAL_NAMES:
                    hosts[h] = _parse_host(h, {}, source)  # KubeKey's implicit localhost
                else:
                    raise KKError(f"group {g!r} names unknown host {h!r}{suggestion(h, hosts)}.",
                                  source=source, key=f"spec.groups.{g}.hosts",
                                  fix="define it under spec.hosts or correct the name.")
            if h not in out:
                out.append(h)
        for sub in specs[g].get("groups") or []:
            if sub not in specs:
                raise KKError(f"group {g!r} names unknown group {sub!r}{suggestion(sub, specs)}.",
                              source=source, key=f"spec.groups.{g}.groups",
                              fix="define that group under spec.groups or correct the name.")
            out.extend(h for h in resolve(sub, (*path, g)) if h not in out)
        resolved[g] = tuple(out)
        return resolved[g]

    for g in specs:
        resolve(g, ())
    return {g: resolved[g] for g in specs}  # the file's group order, not the order of resolution


def parse_inventory(doc: Any, source: str = "<string>") -> Inventory:
    """Parse an already-loaded Inventory document."""
    if doc is None:
        raise KKError("the file is empty.", source=source,
                      fix=f"write an Inventory (`apiVersion: {API_VERSION}`, `kind: Inventory`, spec.hosts and "
                          "spec.groups).")
    doc = _as_mapping(doc, source, "(document)")
    if doc.get("apiVersion") != API_VERSION:
        raise KKError(f"apiVersion is {doc.get('apiVersion')!r}, expected {API_VERSION!r}.", source=source,
                      key="apiVersion", fix=f"set `apiVersion: {API_VERSION}`.")
    if doc.get("kind") != "Inventory":
        raise KKError(f"kind is {doc.get('kind')!r}, expected 'Inventory'.", source=source, key="kind",
                      fix="pass an Inventory with -i (a `kind: Config` file goes to -c).")
    spec = _as_mapping(doc.get("spec"), source, "spec")
    for k in spec:
        if k not in ("hosts", "groups", "vars"):
            raise KKError(f"unknown key {k!r}{suggestion(k, ('hosts', 'groups', 'vars'))}.", source=source,
                          key="spec", fix="spec has `hosts`, `groups` and `vars`.")
    hosts = {str(n): _parse_host(str(n), s, source)
             for n, s in _as_mapping(spec.get("hosts"), source, "spec.hosts").items()}
    groups = _resolve_groups(_as_mapping(spec.get("groups"), source, "spec.groups"), hosts, source)
    return Inventory(hosts=hosts, groups=groups, vars=_as_mapping(spec.get("vars"), source, "spec.vars"),
                     source=source)


def load_inventory(path: str | Path) -> Inventory:
    """Load an Inventory YAML file."""
    return parse_inventory(load_yaml_file(path), str(path))


def load_inventory_text(text: str, source: str = "<string>") -> Inventory:
    """Parse Inventory YAML text."""
    return parse_inventory(load_yaml_text(text, source), source)


def load_config(path: str | Path) -> dict[str, Any]:
    """Load a ``kind: Config`` file and return its ``spec`` (vars)."""
    source = str(path)
    doc = _as_mapping(load_yaml_file(path), source, "(document)")
    if doc.get("apiVersion") != API_VERSION:
        raise KKError(f"apiVersion is {doc.get('apiVersion')!r}, expected {API_VERSION!r}.", source=source,
                      key="apiVersion", fix=f"set `apiVersion: {API_VERSION}`.")
    if doc.get("kind") != "Config":
        raise KKError(f"kind is {doc.get('kind')!r}, expected 'Config'.", source=source, key="kind",
                      fix="pass a `kind: Config` file with -c (the Inventory goes to -i).")
    return _as_mapping(doc.get("spec"), source, "spec")


def host_names(hosts: Iterable[Host]) -> list[str]:
    return [h.name for h in hosts]
