"""Replay executor: run a Pulumi program for real without the Pulumi CLI.

The program (a Python callable that creates resources) runs under `pulumi.runtime.set_mocks`, so the real Python
SDK decides registration order, parallelism and data flow: a resource is registered only when its inputs and
depends_on have resolved. The mock *monitor* (our subclass of `pulumi.runtime.mocks.MockMonitor`, passed as
`set_mocks(..., monitor=...)`) receives the full `RegisterResourceRequest` — including the resource options the
plain `Mocks.new_resource` hook never sees (deleteBeforeReplace, dependencies, replaceOnChanges, ignoreChanges,
retainOnDelete, deletedWith, additionalSecretOutputs, replacement_trigger) — and EXECUTES each pulumi-command
resource when it is registered:

    command:remote:Command       create/update/delete over SSH (paramiko) with pulumi-command 1.x semantics
    command:remote:CopyToRemote  SFTP upload of a FileAsset / StringAsset / FileArchive (file or directory)
    command:local:Command        create/update/delete as a local process
    anything else                echoed (inputs become outputs): components, dynamic resources, ...

Between applies a JSON state file (keyed by URN) decides what runs: unchanged inputs → nothing; `triggers` (any
replaceOnChanges path) or replacement_trigger changed → replace (delete-then-create with deleteBeforeReplace,
else create-then-delete, the delete at the end of the apply like the engine); other changes → `update` if set,
else `create`; resources in state but not in the program → their stored `delete` with their stored connection,
after the program, in reverse dependency order. A failed resource does not stop independent ones (the engine's
--continue-on-error behaviour); resources depending on a failed one are skipped. `apply()` raises ReplayError
listing every failure after everything that could run has run.

Details that follow the provider/engine (pulumi-command 1.2.x, pulumi-go-provider `infer`):
  * `environment` is sent with SSH setenv requests that want a reply; a refusal (sshd without AcceptEnv) fails
    the resource with `could not set environment variable "K": ssh: setenv failed` plus the provider's
    "Unable to set 'K' … AcceptEnv" diagnostic. PULUMI_COMMAND_STDOUT/STDERR (previous outputs, on update and
    delete unless addPreviousOutputInEnv=false) are only warned about, as in the provider.
  * a non-zero exit fails with `<host>:<port>: Process exited with status N: running "<cmd>":\n<stdout+stderr>`.
  * dialErrorLimit (default 10, -1 = unlimited) and perDialTimeout are honoured; hostKey pins the server key
    (without it any key is accepted, like the provider); proxy (bastion) is supported.
  * CopyToRemote copies again on update only when the source hash or remotePath changed; it creates parent
    directories (v1.2.1) and has no delete.
  * a Command whose create/update failed stays in state marked init_failed; the next apply updates it even with
    unchanged inputs (the engine retries resources with initialization errors).
  * if the program itself raises, nothing is deleted (unregistered resources are not "gone"); originals of
    create-before-delete replacements are kept as pending deletes for the next apply or destroy.
  * retainOnDelete skips the delete command; deletedWith skips it when that resource is deleted too.
  * `command:local:run` invokes run locally; other invokes return {}.

Secrets: inputs arrive wrapped as {sig: secret, value: …}; they are unwrapped for execution, and a command whose
text was secret is shown as "[secret]" in reports, logs and error messages (its stdout/stderr outputs become
secret too). The state file holds values in plain text (mode 0600): it lives in the test's tmp dir.

Not modelled: preview/dry-run, refresh, import, protect, custom timeouts, hooks and transforms (mocks do not run
them), Windows, agent auth, asset/archive outputs of local.Command. One Replay object runs one apply at a time.

State file format: {"version": 1, "resources": {urn: {type, name, inputs, outputs, secret_keys, dependencies,
parent, delete_before_replace, retain_on_delete, deleted_with, replacement_trigger, seq, init_failed}},
"pending_deletes": [[urn, entry], …]}.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import os
import posixpath
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
import pulumi
from google.protobuf import empty_pb2
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop as _ensure_loop_untyped
from pulumi.runtime.sync_await import _sync_await

from . import ssh

log = logging.getLogger("lab.replay")

REMOTE_COMMAND = "command:remote:Command"
COPY_TO_REMOTE = "command:remote:CopyToRemote"
LOCAL_COMMAND = "command:local:Command"
HANDLED = {REMOTE_COMMAND, COPY_TO_REMOTE, LOCAL_COMMAND}
SECRET = "[secret]"
_SIG = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig


class ReplayError(Exception):
    """An apply or destroy had failing resources; `.report` has the details of everything that ran."""

    def __init__(self, report: ApplyReport) -> None:
        self.report = report
        self.failures = report.failures
        super().__init__(
            f"{len(report.failures)} resource(s) failed:\n" + "\n".join(f"  - {f}" for f in report.failures)
        )


class _ResourceFailed(Exception):
    pass


# ------------------------------------------------------------------------------------------------ reports


@dataclass
class Ran:
    """One command or copy that was executed."""

    action: str  # create | update | delete | copy | local
    host: str  # "host:port" or "local"
    command: str  # the command text, or "[secret]"
    exit_status: int | None
    seconds: float
    stdout: str = ""
    stderr: str = ""
    bytes: int = 0
    started: float = 0.0  # seconds since the apply started


@dataclass
class ResourceReport:
    urn: str
    type: str
    name: str
    op: str  # create | update | replace | delete | same | failed | skipped | echo
    ran: list[Ran] = field(default_factory=list)
    error: str | None = None
    started: float = 0.0  # seconds since the apply started
    ended: float = 0.0

    @property
    def bytes_copied(self) -> int:
        return sum(r.bytes for r in self.ran)

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class ApplyReport:
    kind: str  # apply | destroy
    resources: dict[str, ResourceReport] = field(default_factory=dict)  # urn → report (incl. deletes)
    wall_s: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)  # stack exports (pulumi.export)
    result: Any = None  # what the program returned, resolved
    log: list[str] = field(default_factory=list)  # provider-style diagnostics (e.g. setenv warnings)

    @property
    def failures(self) -> list[str]:
        return [f"{r.name} ({r.type}): {r.error}" for r in self.resources.values() if r.op == "failed"]

    @property
    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("created", "updated", "replaced", "deleted", "unchanged", "failed", "skipped")}
        names = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted",
                 "same": "unchanged", "failed": "failed", "skipped": "skipped"}  # fmt: skip
        for r in self.resources.values():
            if r.op in names:
                out[names[r.op]] += 1
        return out

    @property
    def commands_run(self) -> int:
        return sum(1 for r in self.resources.values() for x in r.ran if x.action != "copy")

    @property
    def bytes_copied(self) -> int:
        return sum(r.bytes_copied for r in self.resources.values())

    def by_name(self, name: str) -> ResourceReport:
        """The report of the resource with this logical name (for deletes: the deleted one)."""
        hits = [r for r in self.resources.values() if r.name == name]
        if not hits:
            raise KeyError(f"no resource named {name!r} in this {self.kind}; have {sorted(self.names())}")
        return hits[0]

    def names(self, op: str | None = None) -> list[str]:
        return [r.name for r in self.resources.values() if op is None or r.op == op]

    def summary(self) -> str:
        c = self.counts
        head = (
            f"{self.kind}: {c['created']} created, {c['updated']} updated, {c['replaced']} replaced, "
            f"{c['deleted']} deleted, {c['unchanged']} unchanged, {c['failed']} failed, {c['skipped']} skipped; "
            f"{self.commands_run} commands, {self.bytes_copied} bytes copied, {self.wall_s:.2f}s"
        )
        lines = [head]
        for r in sorted(self.resources.values(), key=lambda r: r.started):
            if r.op == "echo":
                continue
            what = "; ".join(f"{x.action}@{x.host} {x.command[:60]!r} → {x.exit_status}" for x in r.ran)
            lines.append(f"  {r.op:8} {r.name:30} {r.started:6.2f}-{r.ended:6.2f}s  {what}")
            if r.error:
                lines.append(f"           error: {r.error.splitlines()[0][:200]}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ values


def _ensure_event_loop() -> None:
    _ensure_loop_untyped()  # type: ignore[no-untyped-call]


def _is_secret(v: Any) -> bool:
    return isinstance(v, dict) and v.get(_SIG) == _SECRET_SIG


def unwrap(v: Any) -> tuple[Any, bool]:
    """Strip secret wrappers; return (plain value, whether any part was secret)."""
    if _is_secret(v):
        inner, _ = unwrap(v.get("value"))
        return inner, True
    if isinstance(v, dict):
        out, sec = {}, False
        for k, x in v.items():
            out[k], s = unwrap(x)
            sec = sec or s
        return out, sec
    if isinstance(v, list):
        items = [unwrap(x) for x in v]
        return [x for x, _ in items], any(s for _, s in items)
    return v, False


def _contains_unknown(v: Any) -> bool:
    if isinstance(v, str):
        return v == rpc.UNKNOWN
    if isinstance(v, dict):
        return any(_contains_unknown(x) for x in v.values())
    if isinstance(v, list):
        return any(_contains_unknown(x) for x in v)
    return False


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def _hash_path(p: Path) -> str:
    """sha256 of a file, or of a directory tree (relative paths + file hashes); files memoised by mtime/size."""
    if p.is_file():
        st = p.stat()
        key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
        if key not in _HASH_CACHE:
            _HASH_CACHE[key] = _hash_path_uncached(p)
        return _HASH_CACHE[key]
    return _hash_path_uncached(p)


def _hash_path_uncached(p: Path) -> str:
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(str(f.relative_to(p)).encode() + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
    else:
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def to_state(v: Any) -> Any:
    """JSON form of an input value; assets/archives become {"__asset"|"__archive": kind, ..., "hash": sha256}."""
    if isinstance(v, pulumi.StringAsset):
        return {"__asset": "text", "text": v.text, "hash": hashlib.sha256(v.text.encode()).hexdigest()}
    if isinstance(v, pulumi.FileAsset):
        return {"__asset": "file", "path": str(v.path), "hash": _hash_path(Path(v.path))}
    if isinstance(v, pulumi.RemoteAsset):
        return {"__asset": "remote", "uri": v.uri}
    if isinstance(v, pulumi.FileArchive):
        return {"__archive": "file", "path": str(v.path), "hash": _hash_path(Path(v.path))}
    if isinstance(v, pulumi.AssetArchive):
        return {"__archive": "assets", "assets": {k: to_state(x) for k, x in v.assets.items()}}
    if isinstance(v, pulumi.RemoteArchive):
        return {"__archive": "remote", "uri": v.uri}
    if isinstance(v, dict):
        return {k: to_state(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [to_state(x) for x in v]
    return v


def _source_hash(v: Any) -> str | None:
    return v.get("hash") if isinstance(v, dict) else None


def _top_keys(paths: Iterable[str]) -> set[str]:
    out = set()
    for p in paths:
        out.add(p.split("[", 1)[0].split(".", 1)[0])
    return out


def _quote(s: str) -> str:
    return json.dumps(s)  # like Go's %q for the common cases


# ------------------------------------------------------------------------------------------------ execution


@dataclass
class _Conn:
    target: ssh.SshTarget
    dial_error_limit: int
    proxy: ssh.SshTarget | None

    @property
    def label(self) -> str:
        return f"{self.target.host}:{self.target.port}"


def _conn_from_inputs(c: dict[str, Any]) -> _Conn:
    def tgt(d: dict[str, Any]) -> ssh.SshTarget:
        return ssh.SshTarget(
            host=str(d["host"]),
            port=int(d.get("port") or 22),
            user=str(d.get("user") or "root"),
            private_key=d.get("privateKey"),
            private_key_password=d.get("privateKeyPassword"),
            password=d.get("password"),
            host_key=d.get("hostKey"),
            per_dial_timeout=float(d.get("perDialTimeout", 15) or 0),
        )

    limit = c.get("dialErrorLimit")
    return _Conn(
        target=tgt(c),
        dial_error_limit=10 if limit is None else int(limit),
        proxy=tgt(c["proxy"]) if c.get("proxy") else None,
    )


def _dial(conn: _Conn) -> paramiko.SSHClient:
    if conn.proxy is None:
        return ssh.dial(conn.target, conn.dial_error_limit)
    bastion = ssh.dial(conn.proxy, conn.dial_error_limit)
    transport = bastion.get_transport()
    assert transport is not None
    chan = transport.open_channel("direct-tcpip", (conn.target.host, conn.target.port), ("127.0.0.1", 0))
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(ssh._ExpectHostKey(conn.target.host_key))
    pkey = ssh.load_private_key(conn.target.private_key) if conn.target.private_key else None
    client.connect(
        conn.target.host, port=conn.target.port, username=conn.target.user, pkey=pkey,
        password=conn.target.password, sock=chan, allow_agent=False, look_for_keys=False,
    )  # fmt: skip
    client._lab_bastion = bastion  # type: ignore[attr-defined]  # keep it alive
    return client


class _Apply:
    """State of one apply (or destroy)."""

    def __init__(self, replay: Replay, kind: str) -> None:
        self.replay = replay
        self.report = ApplyReport(kind)
        self.t0 = time.monotonic()
        self.lock = threading.RLock()
        self.seen: set[str] = set()
        self.failed: set[str] = set()  # URNs that failed or were skipped
        self.pending_deletes: list[tuple[str, dict[str, Any]]] = []  # (urn, old entry) of CBD replacements
        self.seq = max([e.get("seq", 0) for e in replay.state["resources"].values()] + [0])

    def now(self) -> float:
        return time.monotonic() - self.t0

    def diag(self, msg: str) -> None:
        with self.lock:
            self.report.log.append(msg)
        log.warning(msg)


class _Monitor(pmocks.MockMonitor):
    """MockMonitor that executes pulumi-command resources (see module docstring)."""

    def __init__(self, mocks: _EchoMocks, apply: _Apply) -> None:
        super().__init__(mocks)
        self.apply = apply

    def RegisterResourceOutputs(self, request: Any) -> empty_pb2.Empty:
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            _ensure_event_loop()
            outs = rpc.deserialize_properties(request.outputs)
            self.apply.report.outputs.update({k: unwrap(v)[0] for k, v in outs.items()})
        return empty_pb2.Empty()

    def RegisterResource(self, request: Any) -> Any:
        if request.type == "pulumi:pulumi:Stack" or request.type not in HANDLED or not request.custom:
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        _ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        raw = rpc.deserialize_properties(request.object)
        ap = self.apply
        rep = ResourceReport(urn, request.type, request.name, "create", started=ap.now())
        with ap.lock:
            ap.seen.add(urn)
            ap.report.resources[urn] = rep
        state_out: dict[str, Any] = {}
        try:
            deps = list(request.dependencies)
            bad = [d for d in deps if d in ap.failed]
            if bad or _contains_unknown(raw):
                rep.op = "skipped"
                rep.error = "dependency failed: " + ", ".join(d.rsplit("::", 1)[-1] for d in bad or ["(unknown input)"])
                raise _ResourceFailed(rep.error)
            state_out = self.apply.replay._execute(ap, request, urn, raw, rep)
        except _ResourceFailed:
            with ap.lock:
                ap.failed.add(urn)
            rep.ended = ap.now()
            if rep.op != "skipped":
                rep.op = "failed"
            return resource_pb2.RegisterResourceResponse(urn=urn, id="", result=resource_pb2.Result.FAIL)
        rep.ended = ap.now()
        obj = _sync_await(rpc.serialize_properties(state_out, {}))
        rid = f"{request.name}-{hashlib.sha256(urn.encode()).hexdigest()[:8]}"
        self.resources[urn] = pmocks.MockMonitor.ResourceRegistration(urn, rid, state_out)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid, object=obj)


def _dynamic(ap: _Apply, urn: str, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """Run a Python dynamic provider the way the engine's provider host does: ``create`` the first time,
    nothing while its inputs stay the same, ``diff`` then ``update`` (or a new ``create`` when it replaces)
    when they change. Its id, inputs and outputs live in the state file under ``dynamic``."""
    import base64

    import dill

    plain, _ = unwrap(dict(args.inputs))
    blob = plain.pop("__provider")
    provider = dill.loads(base64.b64decode(blob))
    store = ap.replay.state.setdefault("dynamic", {})
    old = store.get(urn)
    with ap.lock:
        rep = ap.report.resources.setdefault(
            urn, ResourceReport(urn, args.typ, args.name, "same", started=ap.now()))
    if old and old["inputs"] == plain:
        rid, outs = old["id"], old["outputs"]
    elif old and not (provider.diff(old["id"], old["outputs"], plain).replaces or []):
        rid, outs = old["id"], provider.update(old["id"], old["outputs"], plain).outs
        rep.op = "update"
    else:
        res = provider.create(plain)
        rid, outs = res.id, res.outs
        rep.op = "replace" if old else "create"
    with ap.lock:
        store[urn] = {"id": rid, "inputs": plain, "outputs": outs}
    return rid, {**outs, "__provider": blob}


class _EchoMocks(pmocks.Mocks):
    """Resources we do not execute echo their inputs; `command:local:run` invokes run locally."""

    def __init__(self, apply: _Apply) -> None:
        self.apply = apply

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        urn = f"{args.typ}::{args.name}"
        if args.custom and args.typ.startswith("pulumi-python:dynamic"):
            return _dynamic(self.apply, urn, args)
        if args.typ != "pulumi:pulumi:Stack":
            with self.apply.lock:
                self.apply.report.resources.setdefault(
                    urn, ResourceReport(urn, args.typ, args.name, "echo", started=self.apply.now())
                )
        return (f"{args.name}-id" if args.custom else None), dict(args.inputs)

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "command:local:run":
            a, _ = unwrap(dict(args.args))
            res = _run_local(a.get("command", ""), a.get("stdin"), a.get("environment") or {}, a.get("dir"),
                             a.get("interpreter"), {})  # fmt: skip
            if res.returncode != 0:
                raise RuntimeError(f"exit status {res.returncode}: running {_quote(a.get('command', ''))}:\n"
                                   f"{res.stdout}{res.stderr}")  # fmt: skip
            return {**a, "stdout": res.stdout.rstrip("\n"), "stderr": res.stderr.rstrip("\n")}, None
        return {}, None


def _run_local(
    cmd: str,
    stdin: str | None,
    env: dict[str, str],
    cwd: str | None,
    interpreter: list[str] | None,
    optional_env: dict[str, str],
) -> subprocess.CompletedProcess[str]:
    argv = [*(interpreter or ["/bin/sh", "-c"]), cmd]
    full = {**os.environ, **optional_env, **env}
    return subprocess.run(argv, input=stdin or None, capture_output=True, text=True, env=full, cwd=cwd or None)


class Replay:
    """Runs Pulumi programs for real; keeps state between applies in `state_path`.

        replay = Replay(tmp_path / "state.json")
        report = replay.apply(lambda: remote.Command("hello", connection=..., create="echo hi"))
        report.by_name("hello").ran[0].stdout == "hi"
        replay.destroy()
    """

    def __init__(
        self,
        state_path: str | os.PathLike[str],
        *,
        project: str = "lab",
        stack: str = "lab",
        parallel: int = 32,
        command_timeout_s: float = 1800,
        config: dict[str, Any] | None = None,
        secret_config_keys: Iterable[str] = (),
    ) -> None:
        """`config`: Pulumi config for the program, keys "<project>:<key>" (non-str values are JSON-encoded, as
        the CLI passes them); `secret_config_keys` makes `config.require_secret`-style reads secret."""
        self.config = dict(config or {})
        self.secret_config_keys = list(secret_config_keys)
        self.state_path = Path(state_path)
        self.project = project
        self.stack = stack
        self.parallel = parallel
        self.command_timeout_s = command_timeout_s
        self.state: dict[str, Any] = {"version": 1, "resources": {}}
        if self.state_path.exists():
            self.state = json.loads(self.state_path.read_text())
        self.reports: list[ApplyReport] = []

    # ---------------------------------------------------------------------------------------- public API
    def apply(self, program: Callable[[], Any], *, raise_on_failure: bool = True) -> ApplyReport:
        """Run `program` like `pulumi up`. Returns the report; raises ReplayError when something failed."""
        ap = _Apply(self, "apply")
        box: dict[str, Any] = {}

        def body() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            executor = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="replay")
            loop.set_default_executor(executor)
            mocks = _EchoMocks(ap)
            try:
                pulumi.runtime.set_mocks(
                    mocks, project=self.project, stack=self.stack, preview=False, monitor=_Monitor(mocks, ap)
                )
                pulumi.runtime.set_all_config(
                    {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.config.items()},
                    self.secret_config_keys,
                )
                from pulumi.runtime.settings import SETTINGS
                from pulumi.runtime.stack import run_pulumi_func

                SETTINGS.rpc_manager.clear()
                SETTINGS.outputs.clear()

                def run_program() -> None:
                    out = program()
                    box["result"] = _sync_await(pulumi.Output.from_input(out).future())
                    # pulumi.export() values: under mocks the stack registered its (empty) outputs before the
                    # program ran, so read them from the stack resource itself
                    from pulumi.runtime.settings import get_root_resource

                    stack = get_root_resource()
                    exported = dict(getattr(stack, "outputs", {}) or {})
                    if exported:
                        box["outputs"] = _sync_await(pulumi.Output.from_input(exported).future())

                _sync_await(run_pulumi_func(run_program))
            except BaseException as e:  # re-raised in the caller's thread
                box["error"] = e
            finally:
                executor.shutdown(wait=True)
                loop.close()

        # a fresh thread + empty context: the SDK's context variables (root stack, settings) start clean
        th = threading.Thread(target=lambda: contextvars.Context().run(body), name="replay-program")
        th.start()
        th.join()
        try:
            pending = [(u, e) for u, e in self.state.pop("pending_deletes", [])] + ap.pending_deletes
            if "error" in box:
                # the program did not finish: like the engine, delete nothing (what was not registered is not
                # "gone"); originals of create-before-delete replacements wait for the next apply
                self.state["pending_deletes"] = [[u, e] for u, e in pending]
            else:
                # deletes: replaced originals (create-before-delete) and resources no longer in the program
                gone = {u: e for u, e in self.state["resources"].items() if u not in ap.seen}
                todo: list[tuple[str, dict[str, Any]]] = [*pending, *gone.items()]
                self._delete_all(ap, todo, remove_from_state=list(gone))
        finally:
            self._save()
        ap.report.result = box.get("result")
        ap.report.outputs.update(box.get("outputs") or {})
        ap.report.wall_s = ap.now()
        self.reports.append(ap.report)
        log.info(ap.report.summary())
        if "error" in box:
            raise box["error"]
        if raise_on_failure and ap.report.failures:
            raise ReplayError(ap.report)
        return ap.report

    def destroy(self, *, raise_on_failure: bool = True) -> ApplyReport:
        """Run every stored delete, dependents first (like `pulumi destroy`), and empty the state."""
        ap = _Apply(self, "destroy")
        todo = [(u, e) for u, e in self.state.pop("pending_deletes", [])] + list(self.state["resources"].items())
        try:
            self._delete_all(ap, todo, remove_from_state=[u for u, _ in todo])
        finally:
            self._save()
        ap.report.wall_s = ap.now()
        self.reports.append(ap.report)
        log.info(ap.report.summary())
        if raise_on_failure and ap.report.failures:
            raise ReplayError(ap.report)
        return ap.report

    def resources(self) -> dict[str, dict[str, Any]]:
        res: dict[str, dict[str, Any]] = self.state["resources"]
        return res

    # ---------------------------------------------------------------------------------------- internals
    def _save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
        tmp.replace(self.state_path)

    def _execute(self, ap: _Apply, req: Any, urn: str, raw: dict[str, Any], rep: ResourceReport) -> dict[str, Any]:
        """Decide create/update/replace/same for one registered resource, run it, update the state; return the
        output properties for the SDK (raises _ResourceFailed)."""
        plain_raw: dict[str, Any] = {}
        secret_keys: list[str] = []
        for k, v in raw.items():
            plain_raw[k], sec = unwrap(v)
            if sec:
                secret_keys.append(k)
        inputs = to_state(plain_raw)
        entry_new: dict[str, Any] = {
            "type": req.type,
            "name": req.name,
            "inputs": inputs,
            "secret_keys": sorted(secret_keys),
            "dependencies": list(req.dependencies),
            "parent": req.parent,
            "delete_before_replace": bool(req.deleteBeforeReplace),
            "retain_on_delete": bool(req.retainOnDelete),
            "deleted_with": req.deletedWith or None,
            "replacement_trigger": json.loads(json.dumps(_pb_value(req.replacement_trigger)))
            if req.HasField("replacement_trigger")
            else None,
        }
        with ap.lock:
            old = self.state["resources"].get(urn)
        ignore = _top_keys(req.ignoreChanges)
        op = "create"
        if old is not None:
            changed = {
                k
                for k in set(old["inputs"]) | set(inputs)
                if k not in ignore and old["inputs"].get(k) != inputs.get(k)
            }
            replace_keys = _top_keys(req.replaceOnChanges)
            if "*" in replace_keys:
                replace_keys = set(changed)
            trigger_changed = entry_new["replacement_trigger"] != old.get("replacement_trigger") and (
                entry_new["replacement_trigger"] is not None
            )
            if changed & replace_keys or trigger_changed:
                op = "replace"
            elif changed or old.get("init_failed"):
                op = "update"
            else:
                op = "same"
            for k in ignore:  # ignored inputs keep their old value (in state, and for the provider)
                if k in old["inputs"]:
                    inputs[k] = old["inputs"][k]
                    if k in plain_raw and not isinstance(old["inputs"][k], dict | list):
                        plain_raw[k] = old["inputs"][k]
        rep.op = op
        outputs: dict[str, Any] = {}
        if op == "same":
            assert old is not None
            outputs = dict(old.get("outputs", {}))
            entry_new["outputs"] = outputs
            entry_new["seq"] = old.get("seq", 0)
            with ap.lock:
                self.state["resources"][urn] = {**old, **entry_new, "inputs": old["inputs"]}
            return self._response(raw, outputs, secret_keys, req)
        if op == "replace" and entry_new["delete_before_replace"]:
            assert old is not None
            self._delete_one(ap, urn, old, rep)  # raises on failure; old stays in state
            with ap.lock:
                self.state["resources"].pop(urn, None)
        try:
            if op == "update":
                assert old is not None
                outputs = self._run_update(ap, urn, old, plain_raw, secret_keys, rep)
            else:
                outputs = self._run_create(ap, urn, plain_raw, secret_keys, rep)
        except _ResourceFailed:
            # like pulumi-go-provider: a Command whose create/update failed is kept with an init error, and the
            # next apply updates it; a failed copy leaves no state; a failed replacement keeps the old resource
            if req.type != COPY_TO_REMOTE and op != "replace":
                with ap.lock:
                    ap.seq += 1
                    self.state["resources"][urn] = {
                        **entry_new,
                        "outputs": old.get("outputs", {}) if old else {},
                        "seq": ap.seq,
                        "init_failed": True,
                    }
            raise
        with ap.lock:
            ap.seq += 1
            entry_new["outputs"] = outputs
            entry_new["seq"] = ap.seq if op != "update" else (old or {}).get("seq", ap.seq)
            self.state["resources"][urn] = entry_new
            if op == "replace" and not entry_new["delete_before_replace"] and old is not None:
                ap.pending_deletes.append((urn, old))
        return self._response(raw, outputs, secret_keys, req)

    @staticmethod
    def _response(raw: dict[str, Any], outputs: dict[str, Any], secret_keys: list[str], req: Any) -> dict[str, Any]:
        """Outputs for the SDK: the inputs (as received) plus stdout/stderr; secretness follows the inputs (a
        secret command makes stdout/stderr secret) and additionalSecretOutputs."""
        out: dict[str, Any] = dict(raw)
        make_secret = set(req.additionalSecretOutputs)
        cmd_secret = bool({"create", "update", "stdin"} & set(secret_keys))
        for k, v in outputs.items():
            out[k] = {_SIG: _SECRET_SIG, "value": v} if (k in make_secret or cmd_secret) else v
        return out

    # -- per type
    def _run_create(
        self, ap: _Apply, urn: str, inputs: dict[str, Any], secret_keys: list[str], rep: ResourceReport
    ) -> dict[str, Any]:
        t = rep.type
        if t == COPY_TO_REMOTE:
            self._copy(ap, inputs, rep)
            return {}
        cmd = inputs.get("create")
        if cmd is None:
            return {"stdout": "", "stderr": ""}
        return self._run_command(ap, t, "create", cmd, "create" in secret_keys, inputs, {}, rep)

    def _run_update(
        self,
        ap: _Apply,
        urn: str,
        old: dict[str, Any],
        inputs: dict[str, Any],
        secret_keys: list[str],
        rep: ResourceReport,
    ) -> dict[str, Any]:
        t = rep.type
        if t == COPY_TO_REMOTE:
            oi = old["inputs"]
            need = _source_hash(oi.get("source")) != _source_hash(to_state(inputs.get("source"))) or oi.get(
                "remotePath"
            ) != inputs.get("remotePath")
            if need or old.get("init_failed"):
                self._copy(ap, inputs, rep)
            return {}
        prev = old.get("outputs", {})
        optional_env = {}
        if inputs.get("addPreviousOutputInEnv", True) is not False:
            if prev.get("stdout"):
                optional_env["PULUMI_COMMAND_STDOUT"] = prev["stdout"]
            if prev.get("stderr"):
                optional_env["PULUMI_COMMAND_STDERR"] = prev["stderr"]
        if inputs.get("update") is not None:
            action, cmd, secret = "update", inputs["update"], "update" in secret_keys
        elif inputs.get("create") is not None:
            action, cmd, secret = "create", inputs["create"], "create" in secret_keys
        else:
            return {"stdout": prev.get("stdout", ""), "stderr": prev.get("stderr", "")}
        return self._run_command(ap, t, action, cmd, secret, inputs, optional_env, rep)

    def _run_command(
        self,
        ap: _Apply,
        type_: str,
        action: str,
        cmd: str,
        secret: bool,
        inputs: dict[str, Any],
        optional_env: dict[str, str],
        rep: ResourceReport,
    ) -> dict[str, Any]:
        shown = SECRET if secret else cmd
        env = {str(k): str(v) for k, v in (inputs.get("environment") or {}).items()}
        stdin = inputs.get("stdin")
        t0 = time.monotonic()
        started = ap.now()
        if type_ == LOCAL_COMMAND:
            log.info("%s %s local: %s", action, rep.name, shown)
            lres = _run_local(cmd, stdin, env, inputs.get("dir"), inputs.get("interpreter"), optional_env)
            ran = Ran(action, "local", shown, lres.returncode, time.monotonic() - t0, lres.stdout, lres.stderr,
                      started=started)  # fmt: skip
            rep.ran.append(ran)
            if lres.returncode != 0:
                raise self._fail(
                    rep, f"exit status {lres.returncode}: running {_quote(shown)}:\n{lres.stdout}{lres.stderr}"
                )
            return {"stdout": lres.stdout.rstrip("\n"), "stderr": lres.stderr.rstrip("\n")}
        conn = _conn_from_inputs(inputs["connection"])
        log.info("%s %s on %s: %s", action, rep.name, conn.label, shown)
        ran = Ran(action, conn.label, shown, None, 0.0, started=started)
        rep.ran.append(ran)
        try:
            client = _dial(conn)
        except Exception as e:
            ran.seconds = time.monotonic() - t0
            raise self._fail(rep, f"{conn.label}: {e}") from e
        try:
            try:
                res = ssh.exec_command(
                    client, cmd, stdin=stdin, env=env, optional_env=optional_env, timeout=self.command_timeout_s
                )
            except ssh.SetenvError as e:
                ap.diag(
                    f"{rep.name}: Unable to set '{e.key}'. This only works if your SSH server is configured to "
                    "accept these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command "
                    "on the remote host, you could prefix the command itself with the variables in the form "
                    "'VAR=value command'"
                )
                ran.seconds = time.monotonic() - t0
                raise self._fail(rep, f"{conn.label}: {e}") from e
            except (TimeoutError, OSError, EOFError, paramiko.SSHException) as e:
                ran.seconds = time.monotonic() - t0
                raise self._fail(rep, f"{conn.label}: running {_quote(shown)}: {type(e).__name__}: {e}") from e
            for k in res.refused_env:
                # pulumi-command sets PULUMI_COMMAND_STDOUT/STDERR optimistically and only warns on refusal
                ap.diag(
                    f"{rep.name}: warning: Unable to set '{k}'. This only works if your SSH server is configured "
                    "to accept these variables via AcceptEnv."
                )
        finally:
            client.close()
        ran.exit_status, ran.stdout, ran.stderr = res.exit_status, res.stdout, res.stderr
        ran.seconds = time.monotonic() - t0
        if res.exit_status != 0:
            raise self._fail(
                rep,
                f"{conn.label}: Process exited with status {res.exit_status}: running {_quote(shown)}:\n"
                f"{res.combined}",
            )
        return {"stdout": res.stdout.rstrip("\n"), "stderr": res.stderr.rstrip("\n")}

    def _copy(self, ap: _Apply, inputs: dict[str, Any], rep: ResourceReport) -> None:
        conn = _conn_from_inputs(inputs["connection"])
        source = inputs["source"]
        remote_path = str(inputs["remotePath"])
        t0 = time.monotonic()
        ran = Ran("copy", conn.label, f"{_describe_source(source)} -> {remote_path}", None, 0.0, started=ap.now())
        rep.ran.append(ran)
        try:
            client = _dial(conn)
        except Exception as e:
            raise self._fail(rep, f"{conn.label}: {e}") from e
        try:
            with client.open_sftp() as sftp:
                ran.bytes = _sftp_copy(sftp, source, remote_path)
            ran.exit_status = 0
        except (OSError, paramiko.SSHException, ValueError) as e:
            ran.exit_status = 1
            raise self._fail(rep, f"{conn.label}: copy to {remote_path} failed: {e}") from e
        finally:
            ran.seconds = time.monotonic() - t0
            client.close()

    def _fail(self, rep: ResourceReport, msg: str) -> _ResourceFailed:
        rep.error = msg
        rep.op = "failed"
        log.error("%s failed: %s", rep.name, msg)
        return _ResourceFailed(msg)

    # -- deletes
    def _delete_one(self, ap: _Apply, urn: str, entry: dict[str, Any], rep: ResourceReport) -> None:
        """Run the stored delete of a Command (CopyToRemote has none). Raises _ResourceFailed."""
        if entry.get("retain_on_delete"):
            return
        t = entry["type"]
        inputs = entry["inputs"]
        if t == COPY_TO_REMOTE or inputs.get("delete") is None:
            return
        secret_keys = entry.get("secret_keys", [])
        prev = entry.get("outputs", {})
        optional_env = {}
        if inputs.get("addPreviousOutputInEnv", True) is not False:
            if prev.get("stdout"):
                optional_env["PULUMI_COMMAND_STDOUT"] = prev["stdout"]
            if prev.get("stderr"):
                optional_env["PULUMI_COMMAND_STDERR"] = prev["stderr"]
        self._run_command(ap, t, "delete", inputs["delete"], "delete" in secret_keys, inputs, optional_env, rep)

    def _delete_all(
        self, ap: _Apply, todo: list[tuple[str, dict[str, Any]]], remove_from_state: list[str]
    ) -> None:
        """Delete entries, dependents before their dependencies, independent ones in parallel."""
        if not todo:
            return
        keys = [f"{u}#{i}" for i, (u, _) in enumerate(todo)]
        by_key = dict(zip(keys, todo, strict=True))
        urn_keys: dict[str, list[str]] = {}
        for k, (u, _) in by_key.items():
            urn_keys.setdefault(u, []).append(k)
        # blockers[k] = keys that must be deleted before k (those depending on k, or children of k)
        blockers: dict[str, set[str]] = {k: set() for k in keys}
        for k, (_u, e) in by_key.items():
            for dep in [*e.get("dependencies", []), e.get("parent") or ""]:
                for dk in urn_keys.get(dep, []):
                    if dk != k:
                        blockers[dk].add(k)
        deleting_urns = {u for u, _ in todo}
        done: set[str] = set()
        failed: set[str] = set()
        lock = threading.Lock()

        def work(k: str) -> None:
            urn, entry = by_key[k]
            rep = ResourceReport(urn, entry["type"], entry["name"], "delete", started=ap.now())
            with ap.lock:
                rkey = urn if urn not in ap.report.resources else f"{urn}#delete"
                ap.report.resources[rkey] = rep
            try:
                dw = entry.get("deleted_with")
                if dw and dw in deleting_urns:
                    pass  # deletedWith: its container goes away anyway
                else:
                    self._delete_one(ap, urn, entry, rep)
                rep.op = "delete"
                if urn in remove_from_state:
                    with ap.lock:
                        cur = self.state["resources"].get(urn)
                        if cur is not None and cur.get("seq") == entry.get("seq"):
                            self.state["resources"].pop(urn, None)
            except _ResourceFailed:
                with lock:
                    failed.add(k)
            finally:
                rep.ended = ap.now()

        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="replay-del") as ex:
            running: dict[str, Any] = {}
            while len(done) + len(failed) < len(keys):
                with lock:
                    ready = [
                        k for k in keys
                        if k not in done and k not in failed and k not in running
                        and all(b in done for b in blockers[k])
                    ]  # fmt: skip
                    blocked_by_failure = [
                        k for k in keys
                        if k not in done and k not in failed and k not in running
                        and any(b in failed for b in blockers[k])
                    ]  # fmt: skip
                for k in blocked_by_failure:
                    urn, entry = by_key[k]
                    r = ResourceReport(urn, entry["type"], entry["name"], "skipped", started=ap.now())
                    r.error = "not deleted: a resource depending on it failed to delete"
                    r.ended = r.started
                    with ap.lock:
                        ap.report.resources[f"{urn}#skip"] = r
                    failed.add(k)
                for k in ready:
                    running[k] = ex.submit(work, k)
                if not running:
                    if len(done) + len(failed) < len(keys):
                        raise RuntimeError("replay: dependency cycle among deletes")
                    break
                finished = [k for k, f in running.items() if f.done()]
                if not finished:
                    time.sleep(0.01)
                    continue
                for k in finished:
                    running.pop(k).result()
                    if k not in failed:
                        done.add(k)


def _pb_value(v: Any) -> Any:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(v)


def _describe_source(source: Any) -> str:
    if isinstance(source, pulumi.StringAsset):
        return f"StringAsset({len(source.text)} chars)"
    if isinstance(source, pulumi.FileAsset | pulumi.FileArchive):
        return f"{type(source).__name__}({source.path})"
    return type(source).__name__


def _sftp_mkdir_p(sftp: paramiko.SFTPClient, path: str) -> None:
    if path in ("", "/", "."):
        return
    try:
        st = sftp.stat(path)
        if not stat.S_ISDIR(st.st_mode or 0):
            raise OSError(f"remote path {path} exists but is not a directory")
        return
    except FileNotFoundError:
        pass
    _sftp_mkdir_p(sftp, posixpath.dirname(path.rstrip("/")))
    try:
        sftp.mkdir(path)
    except OSError:
        # Another copy to the same host may have created it meanwhile (SFTP only says "Failure").
        again = _remote_stat(sftp, path)
        if again is None or not stat.S_ISDIR(again.st_mode or 0):
            raise


def _remote_stat(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPAttributes | None:
    try:
        return sftp.stat(path)
    except FileNotFoundError:
        return None


def _sftp_copy(sftp: paramiko.SFTPClient, source: Any, dest: str) -> int:
    """pulumi-command CopyToRemote semantics (copyController.go) plus parent-directory creation (v1.2.1):

    source | dest exists as dir  | dest missing | dest is a file
    dir    | dest/dir            | dest/dir     | error
    dir/   | dest/x for x in dir | dest/x       | error
    file   | dest/file           | dest         | dest (overwritten)
    text   | error               | dest         | dest (overwritten)
    """
    if isinstance(source, pulumi.StringAsset):
        st = _remote_stat(sftp, dest)
        if st is not None and stat.S_ISDIR(st.st_mode or 0):
            raise ValueError(f"remote path {dest} is a directory; when using a text asset, remotePath must be a file path")
        _sftp_mkdir_p(sftp, posixpath.dirname(dest))
        data = source.text.encode()
        with sftp.open(dest, "wb") as f:
            f.write(data)
        return len(data)
    if isinstance(source, pulumi.FileAsset | pulumi.FileArchive):
        src = str(source.path)
    else:
        raise ValueError(f"CopyToRemote source must be a FileAsset, StringAsset or FileArchive, not {type(source)}")
    if not os.path.exists(src):
        raise FileNotFoundError(src)
    st = _remote_stat(sftp, dest)
    if os.path.isdir(src):
        if st is not None and not stat.S_ISDIR(st.st_mode or 0):
            raise ValueError(f"remote path {dest} exists but is not a directory")
        _sftp_mkdir_p(sftp, dest)
        target = dest if src.endswith("/") else posixpath.join(dest, os.path.basename(src.rstrip("/")))
        _sftp_mkdir_p(sftp, target)
        total = 0
        for root, dirs, files in os.walk(src):
            rel = os.path.relpath(root, src)
            rdir = target if rel == "." else posixpath.join(target, rel.replace(os.sep, "/"))
            for d in sorted(dirs):
                _sftp_mkdir_p(sftp, posixpath.join(rdir, d))
            for fname in sorted(files):
                lp = os.path.join(root, fname)
                sftp.put(lp, posixpath.join(rdir, fname), confirm=False)
                total += os.path.getsize(lp)
        return total
    if st is not None and stat.S_ISDIR(st.st_mode or 0):
        dest = posixpath.join(dest, os.path.basename(src))
    else:
        _sftp_mkdir_p(sftp, posixpath.dirname(dest))
    sftp.put(src, dest, confirm=False)
    return os.path.getsize(src)
