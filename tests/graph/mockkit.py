"""Record the resource graph a Pulumi program registers, under mocks, and diff two runs.

Usage (``import mockkit`` works in any test under ``tests/graph``: its conftest puts this directory on
``sys.path``)::

    bd = mockkit.fake_binary_dir(tmp_path)           # tiny artifacts in the KubeKey binary_dir layout
    graph = mockkit.run(lambda: Docker("n1-docker", host, settings), config={"pulumi-kk:set": "..."})
    graph["n1-docker-install"].get("create")         # resolved input (secret markers stripped)
    graph["n1-docker-install"].is_secret("connection.password")
    graph["n1-docker-install"].arg_is_secret("connection.password")   # as the component passed it
    graph.deps("n1-docker-install", "explicit")      # names: "all" (what orders it), "explicit", "property"
    graph.reaches("n1-compose-install", "n1-facts")  # transitive
    graph.leaks([password], keys=mockkit.SCRIPT_KEYS, even_if_secret=True)   # [] when no command carries it
    mockkit.summary(mockkit.diff(before, after))     # {name: "create"|"delete"|"update"|"replace"}

``run`` runs the program itself (like ``@pulumi.runtime.test`` does, but it returns a :class:`Graph` instead of
asking the test to return an Output), waits for every registration, and re-raises whatever the program or an
``apply`` raised. Assertions then run in plain Python on the returned graph, so a test cannot pass silently by
forgetting to return an Output. :class:`Recorder` keeps the partial graph when the program raises.

How it observes things (pulumi 3.272, pulumi_command 1.2.1)
-----------------------------------------------------------
The SDK serialises every registration into a ``RegisterResourceRequest`` and hands it to the mock monitor's
``RegisterResource``; :class:`MockMonitor` only turns part of it into ``MockResourceArgs`` for
``Mocks.new_resource``. We subclass ``pulumi.runtime.mocks.MockMonitor`` (passed to ``set_mocks(monitor=...)``)
and read the request itself:

* **Inputs and secrets.** ``request.object`` is the wire form of the inputs. A secret is a struct
  ``{"4dabf1…": "1b4706…" (secret sig), "value": v}`` exactly where the secret Output was. ``Mocks.new_resource``
  gets the same thing after ``rpc.deserialize_properties``, i.e. plain values with those secret-marker dicts, but
  *pushed up*: a dict or list with any secret element becomes one secret dict/list with plain elements inside
  (``rpc.deserialize_property``). We decode ``request.object`` ourselves and keep each :class:`Secret` where it
  is. Assets become :class:`Asset` (compared by content hash, as the engine does); unknowns (preview) become
  :data:`UNKNOWN`; integral numbers become ``int`` (the wire has only doubles); keys are the wire (camelCase)
  names, e.g. ``connection.privateKey``.
* **pulumi_command wraps the whole connection.** ``remote.Command`` / ``remote.CopyToRemote`` do
  ``Output.secret(connection)`` and add ``additional_secret_outputs=["connection"]`` themselves, so on the wire
  (and in state) ``connection`` is one secret blob; whether the component marked ``password`` secret *inside* it
  is lost (``Output.from_input`` flattens nested Outputs). To see the component's own marking we also record the
  constructor keyword arguments of the classes in ``spy`` (default: the pulumi_command resources) by wrapping
  their generated ``_internal_init``, and resolve them after the run: :attr:`Res.args` (snake_case keys, as the
  component passed them, each Output replaced by its value, wrapped in :class:`Secret` when it was secret).
* **Dependencies.** ``request.dependencies`` is every URN the engine orders the resource after:
  ``depends_on`` (components expanded to their custom children) ∪ the resources behind every input Output;
  ``request.propertyDependencies`` gives the latter per input. The explicit ``depends_on`` as written is recorded
  by wrapping ``pulumi.Resource.__init__`` (every resource, components included, passes its final
  ``ResourceOptions`` there): :attr:`Res.depends_on` holds the URNs of the resources listed, not expanded.
* **Options.** From the request: ``deleteBeforeReplace``, ``additionalSecretOutputs``, ``replaceOnChanges``
  (pulumi_command adds ``triggers[*]``), ``ignoreChanges``, ``protect``, ``retainOnDelete``, ``deletedWith``,
  ``parent``, ``custom``.
* **Secret outputs.** The engine marks a resource's ``additionalSecretOutputs`` secret in what it returns;
  ``MockMonitor`` does not, so under plain mocks a ``GeneratedSecret.value`` flows into other inputs as a *plain*
  value. :class:`RecordingMonitor` wraps those outputs as secrets (``engine_secrets=True``, the default), so the
  secretness of downstream inputs is what a real run would have.
* **Outputs.** The state ``Mocks.new_resource`` returned (decoded the same way) is :attr:`Res.outputs`;
  ``pulumi.export`` values of the run are :attr:`Graph.exports`.

:class:`KKMocks` answers like the real providers would, enough for the components to resolve: a Command whose
``create`` runs ``uname -m`` (the facts script, or the precheck probe that embeds it) gets the ``key=value`` facts
lines of ``pulumi_kk.facts`` on stdout, per host address (:func:`facts_stdout`: x86_64 Debian 12, 4 CPUs, 16 GB,
200 GB free, ``eth0`` = ``{address}/24``), plus for a probe the lines of a healthy host (:func:`probe_stdout`);
other Commands get empty stdout; pulumi_kk's dynamic resources
(``GeneratedSecret``, ``RegistryTLS``) get fake values. Subclass it or pass ``stdout=``/``outputs=`` hooks for
other components. Mocks run in executor threads, concurrently for independent resources; recording is locked.

``set_mocks`` is global state: every ``run`` installs its own mocks, a fresh root stack and the given config
(``pulumi.runtime.set_config``), and restores the previous config afterwards.

:func:`diff` compares top-level inputs (value and secretness; assets by content): a change to an input matched
by ``replaceOnChanges`` is ``replace``, any other ``update`` — pulumi_command's default diff (a provider with its
own Diff, e.g. a dynamic provider, may decide otherwise: check its ``diff`` separately).

Limits: hooks and transforms do not run (as with plain mocks); what an ``apply`` computes during a preview with
unknowns is not exercised unless ``preview=True`` and the mocks return unknowns; the resolution of spied
arguments and explicit ``depends_on`` reads Outputs after the run (internal ``Output._data`` only to skip
resources that never registered).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import inspect
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi.runtime.config as pulumi_config
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as psettings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from pulumi_command import local, remote

STACK_TYPE = "pulumi:pulumi:Stack"
REMOTE_COMMAND = "command:remote:Command"
LOCAL_COMMAND = "command:local:Command"
COPY_TO_REMOTE = "command:remote:CopyToRemote"
COMMAND_TYPES = (REMOTE_COMMAND, LOCAL_COMMAND)
#: Constructor arguments recorded by default (see module docstring).
DEFAULT_SPY: tuple[type, ...] = (remote.Command, remote.CopyToRemote, local.Command)
#: Inputs that hold shell text the host runs.
SCRIPT_KEYS = ("create", "update", "delete")


# ---------------------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Secret:
    """A value that was secret at this position."""

    value: Any


class _Unknown:
    _inst: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "UNKNOWN"


#: A value not known yet (preview): what the engine shows as ``output<T>``.
UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Asset:
    """An asset or archive input; equal when the content is (``ident`` = sha256 of the content, else the URI)."""

    kind: str
    ident: str
    where: str = field(compare=False, default="")


@dataclass(frozen=True)
class ResourceRef:
    urn: str


def plain(value: Any) -> Any:
    """``value`` with every :class:`Secret` wrapper removed."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def walk(value: Any, path: str = "", secret: bool = False) -> Iterator[tuple[str, Any, bool]]:
    """Every leaf of ``value``: (dotted path, leaf, whether it is secret or inside a secret)."""
    if isinstance(value, Secret):
        yield from walk(value.value, path, True)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}" if path else str(k), secret)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}.{i}" if path else str(i), secret)
    else:
        yield path, value, secret


def _lookup(value: Any, path: str) -> tuple[Any, bool]:
    """(value at dotted ``path``, whether it is secret or inside a secret)."""
    secret = False
    cur = value
    for part in [p for p in path.split(".") if p]:
        while isinstance(cur, Secret):
            secret, cur = True, cur.value
        if isinstance(cur, dict):
            if part not in cur:
                raise KeyError(path)
            cur = cur[part]
        elif isinstance(cur, list):
            cur = cur[int(part)]
        else:
            raise KeyError(path)
    while isinstance(cur, Secret):
        secret, cur = True, cur.value
    return cur, secret


def _file_digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return f"missing:{path}"


def _num(v: float) -> int | float:
    return int(v) if v.is_integer() else v


def decode_wire(v: Any) -> Any:
    """A protobuf Struct/ListValue/scalar of a RegisterResourceRequest → Python, secrets kept in place."""
    if isinstance(v, struct_pb2.Struct):
        if rpc._special_sig_key in v:
            sig = v[rpc._special_sig_key]
            if sig == rpc._special_secret_sig:
                return Secret(decode_wire(v["value"]))
            if sig == rpc._special_asset_sig:
                if "path" in v:
                    return Asset("file", _file_digest(str(v["path"])), str(v["path"]))
                if "text" in v:
                    return Asset("string", hashlib.sha256(str(v["text"]).encode()).hexdigest())
                return Asset("remote", str(v["uri"]), str(v["uri"]))
            if sig == rpc._special_archive_sig:
                if "assets" in v:
                    return Asset("archive", repr(decode_wire(v["assets"])))
                if "path" in v:
                    return Asset("file-archive", _file_digest(str(v["path"])), str(v["path"]))
                return Asset("remote-archive", str(v["uri"]), str(v["uri"]))
            if sig == rpc._special_resource_sig:
                return ResourceRef(str(v["urn"]))
            if sig == rpc._special_output_value_sig:
                inner = decode_wire(v["value"]) if "value" in v else UNKNOWN
                return Secret(inner) if v.get("secret") else inner
        return {k: decode_wire(x) for k, x in v.items()}
    if isinstance(v, struct_pb2.ListValue):
        return [decode_wire(x) for x in v]
    if v == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(v, float):
        return _num(v)
    return v


def _resolve_output_tree(value: Any) -> Any:
    """Constructor arguments → plain data, each Output replaced by its value (:class:`Secret` when secret)."""
    if isinstance(value, pulumi.Output):
        try:
            known = _sync_await(value.is_known())
            secret = _sync_await(value.is_secret())
            inner = _resolve_output_tree(_sync_await(value.future())) if known else UNKNOWN
        except Exception as exc:  # an apply that raised: recorded here, the run re-raises it
            return f"<error: {exc!r}>"
        return Secret(inner) if secret else inner
    if isinstance(value, Mapping):
        return {str(k): _resolve_output_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve_output_tree(v) for v in value]
    if isinstance(value, pulumi.FileAsset):
        return Asset("file", _file_digest(str(value.path)), str(value.path))
    if isinstance(value, pulumi.StringAsset):
        return Asset("string", hashlib.sha256(str(value.text).encode()).hexdigest())
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "__dict__") and not isinstance(value, (str, int, float, bool)) and value is not None:
        # input_type args classes (remote.ConnectionArgs…)
        return {k.lstrip("_"): _resolve_output_tree(v) for k, v in vars(value).items()}
    return value


# ---------------------------------------------------------------------------------------------------------------
# Artifacts


def fake_binary_dir(root: Path, versions: Mapping[str, Iterable[str]] | None = None,
                    arches: Iterable[str] = ("amd64",)) -> Path:
    """Tiny fake artifacts in the KubeKey ``binary_dir`` layout (``pulumi_kk.artifacts.ARTIFACTS``), e.g.
    ``docker/24.0.7/amd64/docker-24.0.7.tgz``; each file's content names it, so versions differ in sha256.
    Default: docker 24.0.7 and docker compose v2.20.3."""
    from pulumi_kk.artifacts import ARTIFACTS

    wanted = versions if versions is not None else {"docker": ["24.0.7"], "dockercompose": ["v2.20.3"]}
    for name, vs in wanted.items():
        for v in vs:
            for arch in arches:
                path = root / ARTIFACTS[name].paths[0].format(v=v, arch=arch)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"fake {name} {v} {arch}\n")
    return root


# ---------------------------------------------------------------------------------------------------------------
# Facts and mocks

#: What the facts script prints on a small Debian amd64 host (pulumi_kk.facts parses it).
DEFAULT_FACTS: dict[str, str] = {
    "machine": "x86_64",
    "os_id": "debian",
    "os_version": "12",
    "os_like": "",
    "hostname": "node",
    "cpus": "4",
    "mem_kb": "16384000",
    "disk_free_kb": "209715200",
}
DEFAULT_CIDR = "10.0.0.11/24"


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and 0 <= int(p) < 256 for p in parts)


def facts_stdout(address: str | None, overrides: Mapping[str, str] | None = None) -> str:
    """stdout of the facts script for a host at ``address``: ``key=value`` lines, then ``iface=… cidr=…`` lines.

    The host's interface is ``eth0`` with ``{address}/24`` when the address is an IPv4 (else
    :data:`DEFAULT_CIDR`), plus ``lo``; ``overrides`` replaces keys, and an ``ifaces`` key (``"eth0=10.0.0.5/24
    eth1=…"``) replaces the interfaces.
    """
    kv = {**DEFAULT_FACTS, **(overrides or {})}
    if address and "hostname" not in (overrides or {}):
        kv["hostname"] = address if not _is_ipv4(address) else f"node-{address.replace('.', '-')}"
    ifaces_spec = kv.pop("ifaces", None)
    if ifaces_spec is None:
        cidr = f"{address}/24" if address and _is_ipv4(address) else DEFAULT_CIDR
        ifaces = [("lo", "127.0.0.1/8"), ("eth0", cidr)]
    else:
        ifaces = [tuple(p.split("=", 1)) for p in ifaces_spec.split()]  # type: ignore[misc]
    lines = [f"{k}={v}" for k, v in kv.items()]
    lines += [f"iface={n} cidr={c}" for n, c in ifaces]
    return "\n".join(lines)


def probe_stdout(script: str) -> list[str]:
    """The extra lines a healthy host prints for a precheck probe (``pulumi_kk.precheck.probe_script``), found
    from the script itself: every tool it looks for, systemd, every peer reachable; nothing listening, VIP free."""
    out: list[str] = []
    m = re.search(r"for t in ([^;]+); do command -v", script)
    if m:
        out += [f"tool={t}" for t in m.group(1).split()]
    if "echo systemd=1" in script:
        out.append("systemd=1")
    out += [f"peer={p}=1" for p in re.findall(r"echo peer=(\S+?)=1;", script)]
    return out


def _connection_host(inputs: Mapping[str, Any]) -> str | None:
    conn = rpc.unwrap_rpc_secret(inputs.get("connection"))
    if isinstance(conn, Mapping):
        return str(rpc.unwrap_rpc_secret(conn.get("host")))
    return None


class KKMocks(pmocks.Mocks):
    """Mocks for pulumi_kk programs.

    ``facts``: per host address (``"localhost"`` for ``local.Command``), keys overriding :data:`DEFAULT_FACTS`
    (e.g. ``{"10.0.0.12": {"machine": "aarch64"}}``; ``"extra"``: raw lines appended, e.g. ``"listen=443"``). A
    precheck probe also gets :func:`probe_stdout`. ``stdout(args)``: stdout for a Command, or None for the
    default. ``outputs(args)``: extra output properties for any resource, or None.
    """

    def __init__(self, facts: Mapping[str, Mapping[str, str]] | None = None,
                 stdout: Callable[[pmocks.MockResourceArgs], str | None] | None = None,
                 outputs: Callable[[pmocks.MockResourceArgs], Mapping[str, Any] | None] | None = None) -> None:
        self.facts = dict(facts or {})
        self._stdout = stdout
        self._outputs = outputs

    def command_stdout(self, args: pmocks.MockResourceArgs) -> str:
        if self._stdout is not None:
            out = self._stdout(args)
            if out is not None:
                return out
        create = rpc.unwrap_rpc_secret(args.inputs.get("create"))
        if isinstance(create, str) and "uname -m" in create:
            address = _connection_host(args.inputs) if args.typ == REMOTE_COMMAND else "localhost"
            overrides = dict(self.facts.get(address or "", {}))
            extra = overrides.pop("extra", None)
            out = facts_stdout(address, overrides)
            lines = probe_stdout(create)
            if extra:
                lines.append(extra)
            return "\n".join([out, *lines])
        return ""

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        if not args.custom:
            return "", {}
        state: dict[str, Any] = dict(args.inputs)
        if args.typ in COMMAND_TYPES:
            state.update(stdout=self.command_stdout(args), stderr="")
        elif args.typ.endswith(":GeneratedSecret"):
            length = int(args.inputs.get("length") or 32)
            state["value"] = ("s3cr3t" + hashlib.sha256(args.name.encode()).hexdigest())[:length]
        elif args.typ.endswith(":RegistryTLS"):
            state.update(ca_cert=f"-----BEGIN CERTIFICATE-----\nCA {args.name}\n-----END CERTIFICATE-----\n",
                         ca_key=f"-----BEGIN PRIVATE KEY-----\nCAKEY {args.name}\n-----END PRIVATE KEY-----\n",
                         cert=f"-----BEGIN CERTIFICATE-----\nCERT {args.name}\n-----END CERTIFICATE-----\n",
                         key=f"-----BEGIN PRIVATE KEY-----\nKEY {args.name}\n-----END PRIVATE KEY-----\n")
        if self._outputs is not None:
            state.update(self._outputs(args) or {})
        return f"{args.name}-id", state

    def call(self, args: pmocks.MockCallArgs) -> dict[Any, Any]:
        return {}


# ---------------------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Res:
    """One registered resource as the engine would see it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    """Parent URN (the stack's URN for top-level resources)."""
    inputs: dict[str, Any]
    """Wire inputs (camelCase keys), :class:`Secret` where secret."""
    outputs: dict[str, Any]
    dependencies: frozenset[str]
    """URNs the engine orders this resource after: depends_on (expanded) ∪ property dependencies."""
    property_dependencies: dict[str, frozenset[str]]
    depends_on: frozenset[str]
    """URNs of the resources in ``ResourceOptions.depends_on`` as written (components not expanded)."""
    delete_before_replace: bool
    additional_secret_outputs: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    protect: bool
    retain_on_delete: bool
    deleted_with: str
    args: dict[str, Any] | None = None
    """Constructor keyword arguments as the caller passed them (spied classes only), Outputs resolved."""

    def get(self, path: str, default: Any = KeyError) -> Any:
        """Plain input at dotted ``path`` (``connection.host``)."""
        try:
            return plain(_lookup(self.inputs, path)[0])
        except (KeyError, IndexError, ValueError):
            if default is KeyError:
                raise KeyError(f"{self.name}: no input {path!r} (has {sorted(self.inputs)})") from None
            return default

    def has(self, path: str) -> bool:
        return self.get(path, None) is not None

    def is_secret(self, path: str) -> bool:
        """Whether the input at ``path`` is secret (itself or an enclosing value)."""
        return _lookup(self.inputs, path)[1]

    def arg(self, path: str) -> Any:
        """Plain constructor argument at ``path`` (snake_case, e.g. ``connection.private_key``)."""
        if self.args is None:
            raise KeyError(f"{self.name}: constructor arguments not recorded (type {self.type} not spied)")
        return plain(_lookup(self.args, path)[0])

    def arg_is_secret(self, path: str) -> bool:
        if self.args is None:
            raise KeyError(f"{self.name}: constructor arguments not recorded (type {self.type} not spied)")
        return _lookup(self.args, path)[1]

    @property
    def plain_inputs(self) -> dict[str, Any]:
        return plain(self.inputs)  # type: ignore[no-any-return]

    def secret_paths(self) -> set[str]:
        """Dotted paths of secret input leaves."""
        return {p for p, _, s in walk(self.inputs) if s}


@dataclass(frozen=True)
class Leak:
    resource: str
    path: str
    secret: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.path} contains secret {self.secret[:6]}…"


class Graph:
    """The resources of one run, by URN and by name."""

    def __init__(self, resources: Iterable[Res], stack_urn: str, exports: Mapping[str, Any] | None = None) -> None:
        self.resources: dict[str, Res] = {r.urn: r for r in sorted(resources, key=lambda r: r.urn)}
        self.stack_urn = stack_urn
        self.exports: dict[str, Any] = dict(exports or {})
        self._by_name: dict[str, list[Res]] = {}
        for r in self.resources.values():
            self._by_name.setdefault(r.name, []).append(r)

    def __len__(self) -> int:
        return len(self.resources)

    def __iter__(self) -> Iterator[Res]:
        return iter(self.resources.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name or name in self.resources

    def __getitem__(self, name: str) -> Res:
        """The resource named ``name`` (or with URN ``name``)."""
        if name in self.resources:
            return self.resources[name]
        found = self._by_name.get(name)
        if not found:
            raise KeyError(f"no resource {name!r}; have: {', '.join(sorted(self._by_name))}")
        if len(found) > 1:
            raise KeyError(f"{len(found)} resources are named {name!r}; use the URN")
        return found[0]

    def names(self, type_: str | None = None) -> list[str]:
        return sorted({r.name for r in self if type_ is None or r.type == type_})

    def of_type(self, *types: str) -> list[Res]:
        return [r for r in self if r.type in types]

    def custom(self) -> list[Res]:
        return [r for r in self if r.custom]

    def commands(self) -> list[Res]:
        return self.of_type(*COMMAND_TYPES)

    def name_of(self, urn: str) -> str:
        return self.resources[urn].name if urn in self.resources else urn

    def _names(self, urns: Iterable[str]) -> set[str]:
        return {self.name_of(u) for u in urns}

    def deps(self, name: str, kind: Literal["all", "explicit", "property"] = "all") -> set[str]:
        """Names ``name`` directly depends on: ``all`` (what orders it), ``explicit`` (depends_on as written) or
        ``property`` (through input Outputs)."""
        r = self[name]
        if kind == "explicit":
            return self._names(r.depends_on)
        if kind == "property":
            return self._names(u for us in r.property_dependencies.values() for u in us)
        return self._names(r.dependencies)

    def upstream(self, name: str) -> set[str]:
        """Names ``name`` transitively depends on (through ``dependencies`` and parents' dependencies)."""
        seen: set[str] = set()
        todo = [self[name].urn]
        while todo:
            r = self.resources.get(todo.pop())
            if r is None:
                continue
            for u in r.dependencies:
                if u not in seen:
                    seen.add(u)
                    todo.append(u)
        return self._names(seen)

    def reaches(self, src: str, dst: str) -> bool:
        """``src`` is created after ``dst`` (transitively)."""
        return self[dst].name in self.upstream(src)

    def parent_of(self, name: str) -> Res | None:
        return self.resources.get(self[name].parent)

    def children(self, name: str) -> list[Res]:
        urn = self[name].urn
        return [r for r in self if r.parent == urn]

    def descendants(self, name: str) -> list[Res]:
        out: list[Res] = []
        todo = [self[name].urn]
        while todo:
            urn = todo.pop()
            for r in self:
                if r.parent == urn:
                    out.append(r)
                    todo.append(r.urn)
        return sorted(out, key=lambda r: r.urn)

    def leaks(self, secrets: Iterable[str], keys: Sequence[str] | None = None,
              even_if_secret: bool = False) -> list[Leak]:
        """Every place a ``secrets`` value appears in an input string (``keys``: only those top-level inputs, e.g.
        :data:`SCRIPT_KEYS`; default all). Secret-wrapped inputs may carry them unless ``even_if_secret`` (use it
        for command strings: pulumi-command prints a failed command in clear, secret or not)."""
        values = [s for s in secrets if s]
        out: list[Leak] = []
        for r in self:
            for path, leaf, secret in walk(r.inputs):
                if (secret and not even_if_secret) or not isinstance(leaf, str):
                    continue
                if keys is not None and path.split(".", 1)[0] not in keys:
                    continue
                out += [Leak(r.name, path, s) for s in values if s in leaf]
        return out

    def script_strings(self) -> Iterator[tuple[str, str, str, bool]]:
        """(resource, key, text, secret) for every create/update/delete string."""
        for r in self:
            for k in SCRIPT_KEYS:
                if k in r.inputs and r.inputs[k] is not None:
                    v, s = _lookup(r.inputs, k)
                    if isinstance(v, str):
                        yield r.name, k, v, s


# ---------------------------------------------------------------------------------------------------------------
# Recording


class _EngineSecrets(pmocks.Mocks):
    """Wraps mocks so a resource's ``additionalSecretOutputs`` come back secret, as the engine does (the plain
    MockMonitor ignores that option: a mocked generated password would flow on as a plain value)."""

    def __init__(self, inner: pmocks.Mocks) -> None:
        self.inner = inner
        self.current = threading.local()

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        id_, state = self.inner.new_resource(args)
        names: Sequence[str] = getattr(self.current, "secret_outputs", ())
        state = {k: (rpc.wrap_rpc_secret(rpc.unwrap_rpc_secret(v)) if k in names else v) for k, v in state.items()}
        return id_, state

    def call(self, args: pmocks.MockCallArgs) -> Any:
        return self.inner.call(args)

    def register_transform(self, transform: Any) -> None:
        self.inner.register_transform(transform)

    def register_invoke_transform(self, transform: Any) -> None:
        self.inner.register_invoke_transform(transform)


class RecordingMonitor(pmocks.MockMonitor):
    """A MockMonitor that keeps every RegisterResourceRequest (decoded) next to what the mocks returned, and
    marks ``additionalSecretOutputs`` secret like the engine (``engine_secrets=False``: like MockMonitor)."""

    def __init__(self, mocks: pmocks.Mocks, engine_secrets: bool = True) -> None:
        self._secrets = _EngineSecrets(mocks) if engine_secrets else None
        super().__init__(self._secrets or mocks)
        self.lock = threading.Lock()
        self.requests: dict[str, tuple[Any, dict[str, Any]]] = {}

    def RegisterResource(self, request: Any) -> Any:
        if self._secrets is not None:
            self._secrets.current.secret_outputs = tuple(request.additionalSecretOutputs)
        try:
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        finally:
            if self._secrets is not None:
                self._secrets.current.secret_outputs = ()
        if request.type != STACK_TYPE:
            outputs = decode_wire(response.object) if response.object is not None else {}
            with self.lock:
                self.requests[response.urn] = (request, outputs)
        return response


_SILENCED: set[str] = set()


def _silence_leftovers(error: BaseException) -> None:
    """A failed registration leaves one failed future per output property inside the SDK, never awaited; asyncio
    logs each ("Future exception was never retrieved") when it is collected, long after the test that expected the
    error. Drop those logs for errors a run has re-raised; everything else still goes to the default handler."""
    _SILENCED.add(str(error).rsplit("has risen: ", 1)[-1])
    loop = asyncio.get_event_loop()
    if getattr(loop, "_mockkit_filter", False):
        return
    previous = loop.get_exception_handler()

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (context.get("message") == "Future exception was never retrieved" and exc is not None
                and any(s and s in str(exc) for s in _SILENCED)):
            return
        if previous is not None:
            previous(lp, context)
        else:
            lp.default_exception_handler(context)

    loop.set_exception_handler(handler)
    loop._mockkit_filter = True  # type: ignore[attr-defined]


class Recorder:
    """Runs programs under :class:`KKMocks` (or ``mocks``) and records what they register.

    After a run, :attr:`graph` holds what was registered even when the program raised.
    """

    def __init__(self, mocks: pmocks.Mocks | None = None, *, preview: bool = False,
                 config: Mapping[str, Any] | None = None, spy: Sequence[type] = DEFAULT_SPY,
                 engine_secrets: bool = True, project: str = "project", stack: str = "stack") -> None:
        self.mocks = mocks or KKMocks()
        self.engine_secrets = engine_secrets
        self.preview = preview
        self.config = dict(config or {})
        self.spy = tuple(spy)
        self.project = project
        self.stack = stack
        self.graph = Graph([], "")

    def run(self, program: Callable[[], Any]) -> Graph:
        monitor = RecordingMonitor(self.mocks, self.engine_secrets)
        created: list[tuple[pulumi.Resource, pulumi.ResourceOptions | None]] = []
        ctor_args: dict[int, dict[str, Any]] = {}
        lock = threading.Lock()

        res_init = pulumi.Resource.__init__
        sig = inspect.signature(res_init)

        def spy_resource(self_: pulumi.Resource, *a: Any, **kw: Any) -> None:
            bound = sig.bind(self_, *a, **kw)
            with lock:
                created.append((self_, bound.arguments.get("opts")))
            res_init(self_, *a, **kw)

        originals: list[tuple[type, Any, bool]] = []

        def spy_class(cls: type) -> None:
            orig = getattr(cls, "_internal_init")  # noqa: B009

            def wrapper(self_: Any, resource_name: str, *a: Any, **kw: Any) -> Any:
                with lock:
                    ctor_args[id(self_)] = {k: v for k, v in kw.items() if k != "opts" and v is not None}
                return orig(self_, resource_name, *a, **kw)

            originals.append((cls, orig, "_internal_init" in cls.__dict__))
            setattr(cls, "_internal_init", wrapper)  # noqa: B010

        saved_config = dict(pulumi_config.CONFIG.get())
        pulumi.Resource.__init__ = spy_resource  # type: ignore[method-assign,assignment]
        for cls in self.spy:
            spy_class(cls)
        error: BaseException | None = None
        try:
            pulumi_config.set_all_config({})
            for k, v in self.config.items():
                pulumi.runtime.set_config(k, v)
            psettings.ROOT.set(None)
            pmocks.set_mocks(monitor.mocks, project=self.project, stack=self.stack, preview=self.preview,
                             monitor=monitor)
            psettings.SETTINGS.rpc_manager.clear()
            psettings.SETTINGS.outputs.clear()
            root = psettings.get_root_resource()
            try:
                _sync_await(run_pulumi_func(program))
            except BaseException as exc:  # re-raised below, once the graph is built
                error = exc
                _silence_leftovers(exc)
            stack_urn = str(_sync_await(root.urn.future())) if root is not None else ""
            exports = (_resolve_output_tree(dict(getattr(root, "outputs", {}) or {}))
                       if error is None and root is not None else {})
            self.graph = self._build(monitor, created, ctor_args, stack_urn, exports)
        finally:
            pulumi.Resource.__init__ = res_init  # type: ignore[method-assign]
            for cls, orig, own in reversed(originals):
                if own:
                    setattr(cls, "_internal_init", orig)  # noqa: B010
                else:
                    delattr(cls, "_internal_init")
            pulumi_config.set_all_config(saved_config)
        if error is not None:
            raise error
        return self.graph

    def _build(self, monitor: RecordingMonitor, created: list[tuple[pulumi.Resource, pulumi.ResourceOptions | None]],
               ctor_args: dict[int, dict[str, Any]], stack_urn: str, exports: dict[str, Any]) -> Graph:
        def urn_of(res: Any) -> str | None:
            fut = getattr(res.urn, "_data", None)  # never block on a resource that was not registered
            if isinstance(fut, asyncio.Future) and not fut.done():
                return None
            try:
                return str(_sync_await(res.urn.future()))
            except Exception:  # a resource whose registration failed
                return None

        explicit: dict[str, frozenset[str]] = {}
        args: dict[str, dict[str, Any]] = {}
        for res, opts in created:
            urn = urn_of(res)
            if urn is None:
                continue
            deps: list[Any] = []
            if opts is not None and opts.depends_on is not None:
                raw: Any = opts.depends_on
                if isinstance(raw, pulumi.Output):
                    raw = _sync_await(raw.future())
                deps = list(raw) if isinstance(raw, (list, tuple)) else [raw]
            explicit[urn] = frozenset(u for u in (urn_of(d) for d in deps if d is not None) if u)
            if id(res) in ctor_args:
                args[urn] = _resolve_output_tree(ctor_args[id(res)])

        out: list[Res] = []
        for urn, (req, outputs) in monitor.requests.items():
            out.append(Res(
                urn=urn, type=req.type, name=req.name, custom=bool(req.custom), parent=req.parent,
                inputs=decode_wire(req.object), outputs=outputs,
                dependencies=frozenset(req.dependencies),
                property_dependencies={k: frozenset(v.urns) for k, v in req.propertyDependencies.items()},
                depends_on=explicit.get(urn, frozenset()),
                delete_before_replace=bool(req.deleteBeforeReplace),
                additional_secret_outputs=tuple(req.additionalSecretOutputs),
                replace_on_changes=tuple(req.replaceOnChanges),
                ignore_changes=tuple(req.ignoreChanges),
                protect=bool(req.protect), retain_on_delete=bool(req.retainOnDelete),
                deleted_with=req.deletedWith, args=args.get(urn)))
        return Graph(out, stack_urn, exports)


def run(program: Callable[[], Any], *, mocks: pmocks.Mocks | None = None, preview: bool = False,
        config: Mapping[str, Any] | None = None, spy: Sequence[type] = DEFAULT_SPY,
        engine_secrets: bool = True) -> Graph:
    """Run ``program`` under mocks and return what it registered (re-raises the program's errors)."""
    return Recorder(mocks, preview=preview, config=config, spy=spy, engine_secrets=engine_secrets).run(program)


# ---------------------------------------------------------------------------------------------------------------
# Diff

Op = Literal["create", "delete", "update", "replace"]


@dataclass(frozen=True)
class Change:
    """What ``pulumi preview --diff`` would show for one resource."""

    name: str
    type: str
    op: Op
    keys: tuple[str, ...] = ()
    """Top-level inputs whose value (or secretness) changed."""
    replace_keys: tuple[str, ...] = ()
    """Those of ``keys`` that force a replacement (``replaceOnChanges``, e.g. pulumi_command's triggers)."""


def _roots(patterns: Iterable[str]) -> set[str]:
    """``triggers[*]`` / ``a.b`` / ``*`` → top-level input names (``*`` matches all)."""
    out = set()
    for p in patterns:
        head = p.split(".", 1)[0].split("[", 1)[0]
        out.add(head or "*")
    return out


def diff(before: Graph, after: Graph) -> dict[str, Change]:
    """Per resource (by name; by URN when a name is ambiguous), the change from ``before`` to ``after``.

    A resource only in ``after`` is ``create``, only in ``before`` ``delete`` (a changed type or parent changes the
    URN: delete + create, as the engine does without aliases). Otherwise the top-level inputs are compared — plain
    value and secretness, assets by content — and a change to an input matched by ``replaceOnChanges`` is
    ``replace``, any other change ``update`` (the default diff of pulumi_command; a provider with its own Diff may
    decide otherwise). Unchanged resources are left out.
    """
    names: dict[str, set[str]] = {}
    for g in (before, after):
        for r in g:
            names.setdefault(r.name, set()).add(r.urn)

    def key(r: Res) -> str:
        return r.name if len(names[r.name]) == 1 else r.urn

    out: dict[str, Change] = {}
    for urn in sorted(set(before.resources) | set(after.resources)):
        old, new = before.resources.get(urn), after.resources.get(urn)
        if old is None and new is not None:
            out[key(new)] = Change(new.name, new.type, "create")
        elif new is None and old is not None:
            out[key(old)] = Change(old.name, old.type, "delete")
        elif old is not None and new is not None:
            changed = tuple(sorted(k for k in set(old.inputs) | set(new.inputs)
                                   if old.inputs.get(k) != new.inputs.get(k)))
            if not changed:
                continue
            roots = _roots(new.replace_on_changes)
            rkeys = tuple(k for k in changed if k in roots or "*" in roots)
            out[key(new)] = Change(new.name, new.type, "replace" if rkeys else "update", changed, rkeys)
    return out


def summary(changes: Mapping[str, Change]) -> dict[str, str]:
    """``{name: op}``: handy in assertions."""
    return {k: c.op for k, c in changes.items()}
