#!/usr/bin/env python3
"""A stand-in for the Pulumi CLI, for tests of code that drives it through the Automation API.

The real CLI cannot be installed on this machine (PyPI and npm carry only SDKs), so the tests put this script first
on PATH (behind a tiny ``bin/pulumi`` wrapper that pins the venv's Python: see ``fakes.install``). It answers what
``pulumi.automation`` 3.272 sends, recording every invocation as one JSON line in ``$FAKE_PULUMI_LOG``:

* ``version`` → ``$FAKE_PULUMI_VERSION`` (default ``v3.272.0``, the SDK's own version).
* ``stack select --stack S`` → ``no stack named 'S' found`` (exit 255) until ``stack init S`` made it; the SDK's
  ``create_or_select_stack`` relies on that message. ``stack init S --secrets-provider passphrase`` needs
  ``PULUMI_CONFIG_PASSPHRASE``/``_FILE`` as the real one does, writes ``Pulumi.S.yaml`` with an ``encryptionsalt``
  into the cwd and keeps a check value of the passphrase in the stack's state: a later command with another
  passphrase fails with ``incorrect passphrase``.
* State lives where a DIY backend puts it: ``PULUMI_BACKEND_URL`` if set (it wins over the project's, as in the real
  CLI), else ``backend.url`` of ``Pulumi.yaml`` in the cwd; only ``file://`` backends, in
  ``<dir>/.pulumi/stacks/<project>/<stack>.json``.
* ``plugin install KIND NAME VERSION``, ``config``/``config set[-all]``/``config get``: recorded, config kept per stack.
* ``up`` / ``preview`` / ``destroy``: with ``--client=ADDR`` (an inline program, served by the SDK's LanguageServer)
  the program is run for real: ``LanguageRuntime.Run`` against a resource monitor and engine served here, the
  monitor answering like ``tests/graph/mockkit.KKMocks`` (facts and precheck probe stdout per host, generated values
  for pulumi_kk's dynamic resources; ``$FAKE_PULUMI_FACTS`` = JSON ``{address: {key: value}}`` overrides facts).
  Registered resources are compared with the stack's state to give create/update/same/delete steps. Engine events
  (prelude, a pre and an outputs event per step, the program's log lines as diagnostics, the summary, cancel) go to
  ``--event-log``: a gRPC ``Events`` stream for ``tcp://`` (CLI > 3.205), else JSON lines appended to the file.
  ``up`` stores the resources, the stack outputs (secretness kept) and a history entry; ``destroy`` deletes them
  (without running the program, like the real CLI without ``--run-program``); ``preview`` changes nothing.
* ``stack output --json [--show-secrets]`` (secrets masked as ``[secret]`` without the flag) and
  ``stack history --json [--page-size N --page P]`` answer from the state, newest first.
* Anything else: ``fake pulumi: unsupported`` on stderr, exit 2, so a test sees unexpected calls.

``$FAKE_PULUMI_RUN_PROGRAM=0`` skips running inline programs; ``$FAKE_PULUMI_FAIL`` = ``up``/``preview``/``destroy``
makes that operation fail (exit 255) after recording.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GRAPH = Path(__file__).resolve().parents[1] / "graph"
DEFAULT_VERSION = "v3.272.0"
RECORDED_ENV = ("PULUMI_BACKEND_URL", "PULUMI_HOME", "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_AUTOMATION_API",
                "PULUMI_DEBUG_COMMANDS", "PULUMI_EXPERIMENTAL", "PULUMI_CONFIG_PASSPHRASE_FILE")
DATETIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # pulumi.automation._stack._DATETIME_FORMAT
SECRET = "[secret]"
#: Flags that take a value (so the word after them is not a positional argument).
VALUED = {"--stack", "-s", "--secrets-provider", "--color", "--exec-kind", "--event-log", "--client", "--page-size",
          "--page", "--message", "-m", "--parallel", "-p", "--server", "--target", "--replace", "--exclude",
          "--config-file", "--plan", "--json-file"}


class Fail(Exception):
    """Exit with ``code`` after printing ``message`` on stderr (like the real CLI's ``error: ...``)."""

    def __init__(self, message: str, code: int = 255) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------------------------------
# Arguments


class Args:
    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.positional: list[str] = []
        self.flags: set[str] = set()
        self.values: dict[str, list[str]] = {}
        it = iter(self.argv)
        for a in it:
            if a == "--":
                self.positional.extend(it)
                break
            if a.startswith("-"):
                name, eq, value = a.partition("=")
                if eq:
                    self.values.setdefault(name, []).append(value)
                elif name in VALUED:
                    self.values.setdefault(name, []).append(next(it, ""))
                else:
                    self.flags.add(name)
            else:
                self.positional.append(a)

    def value(self, *names: str) -> str | None:
        for n in names:
            if n in self.values:
                return self.values[n][-1]
        return None

    def has(self, flag: str) -> bool:
        return flag in self.flags


# ---------------------------------------------------------------------------------------------------------------
# Project, backend, stack state


def load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load(path.read_text()) if path.exists() else None
    return doc if isinstance(doc, dict) else {}


def project_file(cwd: Path) -> dict[str, Any]:
    for ext in (".yaml", ".yml", ".json"):
        p = cwd / f"Pulumi{ext}"
        if p.exists():
            return json.loads(p.read_text()) if ext == ".json" else load_yaml(p)
    raise Fail(f"no Pulumi.yaml project file found (searching upwards from {cwd})")


def backend_url(cwd: Path) -> str:
    env = os.environ.get("PULUMI_BACKEND_URL")
    if env:
        return env
    url = (project_file(cwd).get("backend") or {}).get("url")
    if not url:
        raise Fail("fake pulumi: no backend (set backend.url in Pulumi.yaml or PULUMI_BACKEND_URL)")
    return str(url)


def passphrase() -> str | None:
    value = os.environ.get("PULUMI_CONFIG_PASSPHRASE")
    if value:
        return value
    f = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if f:
        return Path(f).read_text().strip()
    return None


def check_value(salt: str, phrase: str) -> str:
    return hashlib.sha256(f"{salt}:{phrase}".encode()).hexdigest()


class Backend:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.url = backend_url(cwd)
        if not self.url.startswith("file://"):
            raise Fail(f"fake pulumi: only file:// backends are supported, got {self.url!r}")
        self.root = Path(os.path.expanduser(self.url[len("file://"):]))
        self.project = str(project_file(cwd).get("name") or "project")

    def path(self, stack: str) -> Path:
        return self.root / ".pulumi" / "stacks" / self.project / f"{stack}.json"

    def exists(self, stack: str) -> bool:
        return self.path(stack).exists()

    def load(self, stack: str) -> dict[str, Any]:
        p = self.path(stack)
        if not p.exists():
            raise Fail(f"no stack named '{stack}' found")
        data: dict[str, Any] = json.loads(p.read_text())
        return data

    def save(self, stack: str, state: Mapping[str, Any]) -> None:
        p = self.path(stack)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(p)


def unlock(state: Mapping[str, Any]) -> None:
    """Fail like the real CLI when the passphrase secrets provider cannot decrypt."""
    if state.get("secrets_provider") != "passphrase":
        return
    phrase = passphrase()
    if phrase is None:
        raise Fail("passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE "
                   "environment variables")
    if check_value(state["salt"], phrase) != state["passphrase_check"]:
        raise Fail("incorrect passphrase")


def now() -> str:
    return datetime.now(timezone.utc).strftime(DATETIME)


# ---------------------------------------------------------------------------------------------------------------
# Running an inline program


class ProgramRun:
    """Runs the program behind ``--client`` once, against a monitor and an engine served here."""

    def __init__(self, client: str, project: str, stack: str, cwd: Path, config: Mapping[str, str],
                 dry_run: bool) -> None:
        self.client, self.project, self.stack, self.cwd = client, project, stack, cwd
        self.config, self.dry_run = dict(config), dry_run
        self.lock = threading.Lock()
        self.resources: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.outputs: dict[str, Any] = {}
        self.secret_outputs: list[str] = []
        self.logs: list[dict[str, Any]] = []
        self.stack_urn = ""
        self.error = ""
        self.started = time.monotonic()

    def run(self) -> None:
        import grpc
        from google.protobuf import empty_pb2
        from pulumi.runtime import mocks as pmocks
        from pulumi.runtime.proto import (
            engine_pb2,
            engine_pb2_grpc,
            language_pb2,
            language_pb2_grpc,
            resource_pb2,
            resource_pb2_grpc,
        )

        sys.path.insert(0, str(GRAPH))
        import mockkit

        facts = json.loads(os.environ.get("FAKE_PULUMI_FACTS") or "{}")
        monitor: Any = pmocks.MockMonitor(mockkit.KKMocks(facts=facts))
        run = self

        class Monitor(resource_pb2_grpc.ResourceMonitorServicer):  # type: ignore[misc]
            def SupportsFeature(self, request: Any, context: Any) -> Any:
                return resource_pb2.SupportsFeatureResponse(hasSupport=request.id != "outputValues")

            def GetDeploymentInfo(self, request: Any, context: Any) -> Any:
                return monitor.GetDeploymentInfo(request)

            def RegisterResource(self, request: Any, context: Any) -> Any:
                response = monitor.RegisterResource(request)
                run.registered(request, response.urn)
                return secret_outputs(response, request.additionalSecretOutputs)

            def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
                run.registered_outputs(request)
                return empty_pb2.Empty()

            def Invoke(self, request: Any, context: Any) -> Any:
                return monitor.Invoke(request)

            def ReadResource(self, request: Any, context: Any) -> Any:
                return monitor.ReadResource(request)

            def RegisterPackage(self, request: Any, context: Any) -> Any:
                return monitor.RegisterPackage(request)

            def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:
                return empty_pb2.Empty()

        class Engine(engine_pb2_grpc.EngineServicer):  # type: ignore[misc]
            def Log(self, request: Any, context: Any) -> Any:
                severity = {engine_pb2.DEBUG: "debug", engine_pb2.INFO: "info", engine_pb2.WARNING: "warning",
                            engine_pb2.ERROR: "error"}.get(request.severity, "info")
                with run.lock:
                    run.logs.append({"severity": severity, "message": request.message, "urn": request.urn})
                return empty_pb2.Empty()

            def GetRootResource(self, request: Any, context: Any) -> Any:
                return engine_pb2.GetRootResourceResponse(urn=run.stack_urn)

            def SetRootResource(self, request: Any, context: Any) -> Any:
                with run.lock:
                    run.stack_urn = request.urn
                return engine_pb2.SetRootResourceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        resource_pb2_grpc.add_ResourceMonitorServicer_to_server(Monitor(), server)
        engine_pb2_grpc.add_EngineServicer_to_server(Engine(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            with grpc.insecure_channel(self.client) as channel:
                response = language_pb2_grpc.LanguageRuntimeStub(channel).Run(language_pb2.RunRequest(
                    project=self.project, stack=self.stack, pwd=str(self.cwd), program=".",
                    args=[f"127.0.0.1:{port}"], config=self.config, dryRun=self.dry_run, parallel=4,
                    monitor_address=f"127.0.0.1:{port}", organization="organization"))
            self.error = response.error
        except grpc.RpcError as exc:  # the language host itself failed (the SDK lets some program errors escape)
            self.error = f"an unhandled error occurred: rpc error: code = {exc.code().name} desc = {exc.details()}"
            with self.lock:
                self.logs.append({"severity": "error", "message": self.error, "urn": ""})
        finally:
            server.stop(0)

    def registered(self, request: Any, urn: str) -> None:
        import mockkit

        inputs = mockkit.plain(mockkit.decode_wire(request.object))
        entry: dict[str, Any] = {
            "urn": urn, "type": request.type, "name": request.name, "custom": bool(request.custom),
            "parent": request.parent, "t": round(time.monotonic() - self.started, 3),
            "digest": hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16],
        }
        if request.type.startswith("command:"):
            for key in ("create", "delete"):
                if isinstance(inputs.get(key), str):
                    entry[key] = inputs[key]
        with self.lock:
            if request.type == "pulumi:pulumi:Stack":
                self.stack_urn = urn
            self.resources[urn] = entry
            self.order.append(urn)

    def registered_outputs(self, request: Any) -> None:
        import mockkit

        if request.urn != self.stack_urn or request.outputs is None:
            return
        outs = mockkit.decode_wire(request.outputs)
        with self.lock:
            for k, v in outs.items():
                secret = isinstance(v, mockkit.Secret)
                self.outputs[k] = jsonable(mockkit.plain(v))
                if secret:
                    self.secret_outputs.append(k)


def secret_outputs(response: Any, names: Sequence[str]) -> Any:
    """Mark the outputs in ``additionalSecretOutputs`` secret, as the engine does (mocks leave them plain)."""
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime import rpc

    if not names or response.object is None:
        return response
    state = json_format.MessageToDict(response.object)
    for name in names:
        value = state.get(name)
        if name in state and not (isinstance(value, dict) and rpc._special_sig_key in value):
            state[name] = {rpc._special_sig_key: rpc._special_secret_sig, "value": value}
    obj = struct_pb2.Struct()
    obj.update(state)
    response.object.CopyFrom(obj)
    return response


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# Engine events


def event(seq: int, **body: Any) -> dict[str, Any]:
    return {"sequence": seq, "timestamp": int(time.time()), **body}


def step_events(steps: Sequence[tuple[str, dict[str, Any]]], logs: Sequence[Mapping[str, Any]],
                config: Mapping[str, str], dry_run: bool) -> list[dict[str, Any]]:
    events = [event(0, preludeEvent={"config": dict(config)})]
    for op, res in steps:
        meta = {"op": op, "urn": res["urn"], "type": res["type"], "provider": "", "logical": True}
        events.append(event(len(events), resourcePreEvent={"metadata": meta, "planning": dry_run}))
        for line in logs:
            if line["urn"] == res["urn"]:
                events.append(event(len(events), diagnosticEvent=diagnostic(line)))
        events.append(event(len(events), resOutputsEvent={"metadata": meta, "planning": dry_run}))
    for line in logs:
        if not line["urn"] or line["urn"] not in {r["urn"] for _, r in steps}:
            events.append(event(len(events), diagnosticEvent=diagnostic(line)))
    events.append(event(len(events), summaryEvent={"maybeCorrupt": False, "durationSeconds": 1,
                                                   "resourceChanges": summary(steps), "PolicyPacks": {}}))
    events.append(event(len(events), cancelEvent={}))
    return events


def diagnostic(line: Mapping[str, Any]) -> dict[str, Any]:
    return {"message": str(line["message"]).rstrip("\n") + "\n", "color": "never", "severity": line["severity"],
            "urn": line["urn"] or None}


def summary(steps: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for op, _ in steps:
        out[op] = out.get(op, 0) + 1
    return out


def send_events(target: str | None, events: Sequence[Mapping[str, Any]]) -> str:
    if not target:
        return "none"
    if target.startswith("tcp://"):
        import grpc
        from pulumi.runtime.proto import events_pb2, events_pb2_grpc

        def requests() -> Iterator[Any]:
            for e in events:
                yield events_pb2.EventRequest(event=json.dumps(e))

        with grpc.insecure_channel(target[len("tcp://"):]) as channel:
            events_pb2_grpc.EventsStub(channel).StreamEvents(requests(), timeout=30)
        return "grpc"
    with open(target, "a", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    return "file"


# ---------------------------------------------------------------------------------------------------------------
# Commands


class Cli:
    def __init__(self, argv: Sequence[str]) -> None:
        self.args = Args(argv)
        self.cwd = Path.cwd()
        self.started = time.monotonic()
        self.record: dict[str, Any] = {
            "argv": list(argv),
            "cwd": str(self.cwd),
            "env": {k: os.environ[k] for k in RECORDED_ENV if k in os.environ},
            "passphrase_set": bool(os.environ.get("PULUMI_CONFIG_PASSPHRASE")),
            "passphrase_sha256": (hashlib.sha256(os.environ["PULUMI_CONFIG_PASSPHRASE"].encode()).hexdigest()
                                  if os.environ.get("PULUMI_CONFIG_PASSPHRASE") else None),
        }

    def out(self, text: str) -> None:
        print(text, flush=True)

    def main(self) -> int:
        words = self.args.positional
        command = " ".join(words[:2]) if words[:1] in (["stack"], ["plugin"], ["config"]) else " ".join(words[:1])
        self.record["command"] = command
        code = 0
        try:
            handler = {
                "version": self.version, "stack select": self.stack_select, "stack init": self.stack_init,
                "stack output": self.stack_output, "stack history": self.stack_history,
                "plugin install": self.plugin_install, "up": self.up, "preview": self.preview,
                "destroy": self.destroy,
            }.get(command)
            if handler is None and words[:1] == ["config"]:
                handler = self.config
            if handler is None:
                raise Fail(f"fake pulumi: unsupported command {' '.join(self.args.argv)!r}", code=2)
            handler()
        except Fail as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            code = exc.code
            self.record["error"] = str(exc)
        finally:
            self.record["exit_code"] = code
            self.record["duration_s"] = round(time.monotonic() - self.started, 3)
            log = os.environ.get("FAKE_PULUMI_LOG")
            if log:
                with open(log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(self.record, sort_keys=True) + "\n")
        return code

    # -- stacks ----------------------------------------------------------------------------------------------------

    def backend(self) -> Backend:
        b = Backend(self.cwd)
        self.record["backend"] = b.url
        self.record["project"] = b.project
        return b

    def stack_name(self) -> str:
        name = self.args.value("--stack", "-s") or os.environ.get("PULUMI_STACK")
        if not name:
            raise Fail("no stack selected; use --stack")
        self.record["stack"] = name
        return name

    def version(self) -> None:
        self.out(os.environ.get("FAKE_PULUMI_VERSION") or DEFAULT_VERSION)

    def stack_select(self) -> None:
        b = self.backend()
        name = self.stack_name()
        b.load(name)

    def stack_init(self) -> None:
        b = self.backend()
        words = self.args.positional
        name = words[2] if len(words) > 2 else self.stack_name()
        self.record["stack"] = name
        if b.exists(name):
            raise Fail(f"stack '{name}' already exists")
        provider = self.args.value("--secrets-provider") or "passphrase"
        self.record["secrets_provider"] = provider
        state: dict[str, Any] = {"project": b.project, "stack": name, "secrets_provider": provider,
                                 "resources": [], "outputs": {}, "secret_outputs": [], "history": [], "config": {},
                                 "created_in": str(self.cwd)}
        if provider == "passphrase":
            phrase = passphrase()
            if phrase is None:
                raise Fail("passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE "
                           "environment variables")
            salt = base64.b64encode(secrets.token_bytes(8)).decode()
            state["salt"] = salt
            state["passphrase_check"] = check_value(salt, phrase)
            (self.cwd / f"Pulumi.{name}.yaml").write_text(f"encryptionsalt: v1:{salt}:v1:fake:fake\n")
        b.save(name, state)
        self.out(f"Created stack '{name}'")

    def stack_output(self) -> None:
        b = self.backend()
        state = b.load(self.stack_name())
        show = self.args.has("--show-secrets")
        if show:
            unlock(state)
        outs = {k: (v if show or k not in state["secret_outputs"] else SECRET) for k, v in state["outputs"].items()}
        self.out(json.dumps(outs, indent=2))

    def stack_history(self) -> None:
        b = self.backend()
        state = b.load(self.stack_name())
        if self.args.has("--show-secrets"):
            unlock(state)
        history = list(reversed(state["history"]))
        size = self.args.value("--page-size")
        if size:
            page = int(self.args.value("--page") or 1)
            history = history[(page - 1) * int(size):page * int(size)]
        self.out(json.dumps(history, indent=2))

    def plugin_install(self) -> None:
        words = self.args.positional
        self.record["plugin"] = {"kind": words[2] if len(words) > 2 else "", "name": words[3] if len(words) > 3
                                 else "", "version": words[4] if len(words) > 4 else ""}

    def config(self) -> None:
        b = self.backend()
        name = self.stack_name()
        state = b.load(name)
        words = self.args.positional
        sub = words[1] if len(words) > 1 else ""
        cfg: dict[str, Any] = state["config"]
        if sub == "set" and len(words) >= 4:
            cfg[words[2]] = {"value": words[3], "secret": self.args.has("--secret")}
        elif sub == "set-all":
            argv = self.args.argv
            for flag, kv in itertools.pairwise(argv):
                if flag in ("--plaintext", "--secret"):
                    k, _, v = kv.partition("=")
                    cfg[k] = {"value": v, "secret": flag == "--secret"}
        elif sub == "rm" and len(words) >= 3:
            cfg.pop(words[2], None)
        elif sub == "get" and len(words) >= 3:
            if words[2] not in cfg:
                raise Fail(f"configuration key '{words[2]}' not found for stack '{name}'")
            self.out(json.dumps(cfg[words[2]]))
            return
        elif sub == "":
            self.out(json.dumps(cfg))
            return
        else:
            raise Fail(f"fake pulumi: unsupported command {' '.join(self.args.argv)!r}", code=2)
        b.save(name, state)

    # -- operations ------------------------------------------------------------------------------------------------

    def operation(self, kind: str) -> None:
        b = self.backend()
        name = self.stack_name()
        state = b.load(name)
        unlock(state)
        self.record["stack_file"] = str(b.path(name))
        self.record["stack_settings_in_cwd"] = (self.cwd / f"Pulumi.{name}.yaml").exists()
        self.record["exec_kind"] = self.args.value("--exec-kind")
        config = {k: str(v["value"]) for k, v in state["config"].items()}
        old = {r["urn"]: r for r in state["resources"]}
        client = self.args.value("--client")
        dry_run = kind == "preview"
        steps: list[tuple[str, dict[str, Any]]] = []
        logs: list[dict[str, Any]] = []
        run: ProgramRun | None = None
        if kind == "destroy":
            steps = [("delete", r) for r in reversed(state["resources"])]
        elif client and os.environ.get("FAKE_PULUMI_RUN_PROGRAM", "1") != "0":
            run = ProgramRun(client, b.project, name, self.cwd, config, dry_run)
            run.run()
            logs = run.logs
            new = [run.resources[u] for u in run.order]
            for res in new:
                before = old.get(res["urn"])
                op = "create" if before is None else ("same" if before["digest"] == res["digest"] else "update")
                steps.append((op, res))
            gone = [r for u, r in old.items() if u not in run.resources]
            steps += [("delete", r) for r in reversed(gone)]
            self.record["program"] = {
                "dry_run": dry_run, "error": run.error,
                "resources": [{k: v for k, v in r.items() if k != "digest"} for r in new],
                "outputs": sorted(run.outputs), "secret_outputs": sorted(run.secret_outputs), "logs": logs,
            }
        self.record["steps"] = [[op, r["type"], r["name"]] for op, r in steps]
        if run is not None:
            self.record["program"]["duration_s"] = round(time.monotonic() - run.started, 3)
        title = {"up": "Updating", "preview": "Previewing update", "destroy": "Destroying"}[kind]
        self.out(f"{title} ({name}):")
        for op, res in steps:
            if op != "same":
                self.out(f"    {op} {res['type']} {res['name']}")
        failing = os.environ.get("FAKE_PULUMI_FAIL") == kind
        error = run.error if run is not None else ""
        if error or failing:
            self.record["event_log"] = send_events(self.args.value("--event-log"), step_events(
                [], logs or [{"severity": "error", "message": error or "failed", "urn": ""}], config, dry_run))
            self.out("Diagnostics:")
            self.out(f"  pulumi:pulumi:Stack ({b.project}-{name}):")
            for line in logs or [{"severity": "error", "message": "fake failure"}]:
                self.out(f"    {line['severity']}: {line['message']}")
            raise Fail(f"{kind} failed")
        self.record["event_log"] = send_events(self.args.value("--event-log"),
                                               step_events(steps, logs, config, dry_run))
        changes = summary(steps)
        self.out("Resources:")
        for op, n in sorted(changes.items()):
            self.out(f"    {op}: {n}")
        if dry_run:
            return
        start = now()
        if kind == "destroy":
            state["resources"], state["outputs"], state["secret_outputs"] = [], {}, []
        elif run is not None:
            state["resources"] = [run.resources[u] for u in run.order]
            state["outputs"], state["secret_outputs"] = run.outputs, sorted(run.secret_outputs)
        state["history"].append({
            "kind": "update" if kind == "up" else kind, "startTime": start, "endTime": now(), "message": "",
            "environment": {"exec.kind": self.args.value("--exec-kind") or "cli"},
            "config": {k: {"value": SECRET if v["secret"] else v["value"], "secret": v["secret"]}
                       for k, v in state["config"].items()},
            "result": "succeeded", "version": len(state["history"]) + 1, "resourceChanges": changes,
        })
        b.save(name, state)

    def up(self) -> None:
        self.operation("up")

    def preview(self) -> None:
        self.operation("preview")

    def destroy(self) -> None:
        self.operation("destroy")


def main(argv: Sequence[str] | None = None) -> int:
    return Cli(sys.argv[1:] if argv is None else argv).main()


if __name__ == "__main__":
    sys.exit(main())
