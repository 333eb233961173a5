"""One host as Pulumi sees it: its connection (built once, same secretness every time) and the wiring of plan
steps into pulumi-command resources."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import pulumi
from pulumi_command import local, remote

from ..artifacts import ARCHES, ResolvedArtifact, check_arch
from ..errors import KKError
from ..facts import Facts, facts_script, parse_facts
from ..inventory import Host
from ..plan import SecretFile, Step, structure

SCRIPT_EOF = "KK_SCRIPT_EOF"


def as_command(script: str) -> str:
    """Run ``script`` with bash whatever the login shell is, keeping stdin free for the script."""
    if any(line == SCRIPT_EOF for line in script.splitlines()):
        raise ValueError(f"script must not contain a line {SCRIPT_EOF!r}")
    return f"bash -c \"$(cat <<'{SCRIPT_EOF}'\n{script.rstrip()}\n{SCRIPT_EOF}\n)\""


def secret_bundle(files: Sequence[SecretFile]) -> str:
    """stdin text carrying secret files: ``path mode base64`` lines, read by :data:`UNBUNDLE`."""
    import base64

    return "".join(f"{f.path} {f.mode} {base64.b64encode(f.content.encode()).decode()}\n" for f in files)


#: Prepended to a script that receives secret files on stdin; writes each file 0600-first, then sets its mode.
#: Sets KK_SECRETS_CHANGED=1 when any file changed.
UNBUNDLE = r"""KK_SECRETS_CHANGED=0
kk_unbundle() {
  local path mode data
  while read -r path mode data; do
    [ -n "$path" ] || continue
    mkdir -p "$(dirname "$path")"
    ( umask 077; printf '%s' "$data" | base64 -d > "$path.kk-new" )
    if [ -f "$path" ] && cmp -s "$path.kk-new" "$path"; then rm -f "$path.kk-new"; else chmod "$mode" "$path.kk-new"; mv -f "$path.kk-new" "$path"; KK_SECRETS_CHANGED=1; fi
  done
}
kk_unbundle
"""


def connection_args(host: Host) -> remote.ConnectionArgsDict:
    """SSH connection for ``host``. Credentials are always wrapped as secrets, so a re-run never sees a
    spurious secret-vs-plain diff (pulumi-command #447)."""
    args: dict[str, Any] = {
        "host": host.address,
        "port": host.port,
        "user": host.user,
        "dial_error_limit": 20,
        "per_dial_timeout": 15,
    }
    if host.password is not None:
        args["password"] = pulumi.Output.secret(host.password)
    if host.private_key is not None:
        args["private_key"] = pulumi.Output.secret(host.private_key)
    if host.private_key_password is not None:
        args["private_key_password"] = pulumi.Output.secret(host.private_key_password)
    if host.host_key is not None:
        args["host_key"] = host.host_key
    return args  # type: ignore[return-value]


class Node:
    """Creates the resources of one host's steps, as children of ``parent``; no resource of one host ever
    depends on another host's."""

    def __init__(self, host: Host, parent: pulumi.Resource, prefix: str | None = None) -> None:
        self.host = host
        self.parent = parent
        self.prefix = prefix or host.name
        self.connection = None if host.is_local else connection_args(host)
        self.resources: dict[str, pulumi.Resource] = {}

    def _opts(self, depends_on: Sequence[pulumi.Resource] = (), **kw: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, depends_on=list(depends_on), **kw)

    def command(self, name: str, create: pulumi.Input[str], delete: Any = None,
                stdin: pulumi.Input[str] | None = None, depends_on: Sequence[pulumi.Resource] = (),
                secret_output: bool = False) -> remote.Command | local.Command:
        """A command on this host: ``remote.Command`` over SSH, or ``local.Command`` for the local connector."""
        full = f"{self.prefix}-{name}"
        extra: dict[str, Any] = {"delete_before_replace": True}
        if secret_output:
            extra["additional_secret_outputs"] = ["stdout", "stderr"]
        opts = self._opts(depends_on, **extra)
        res: remote.Command | local.Command
        if self.connection is None:
            res = local.Command(full, create=create, delete=delete, stdin=stdin, opts=opts,
                                logging=local.Logging.NONE if secret_output else None)
        else:
            res = remote.Command(full, connection=self.connection, create=create, delete=delete, stdin=stdin,
                                 opts=opts, logging=remote.Logging.NONE if secret_output else None)
        self.resources[name] = res
        return res

    def upload(self, name: str, local_path: pulumi.Input[str], remote_path: pulumi.Input[str],
               sha256: pulumi.Input[str], depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.Resource:
        """Copy a local file to ``remote_path`` once; again only when its content (sha256) changes."""
        full = f"{self.prefix}-{name}"
        res: pulumi.Resource
        if self.connection is None:
            res = local.Command(
                full,
                create=pulumi.Output.all(local_path, remote_path).apply(
                    lambda a: f"install -D -m 0644 '{a[0]}' '{a[1]}'"),
                triggers=[sha256], opts=self._opts(depends_on))
        else:
            res = remote.CopyToRemote(
                full, connection=self.connection,
                source=pulumi.Output.from_input(local_path).apply(pulumi.FileAsset),
                remote_path=remote_path, triggers=[sha256], opts=self._opts(depends_on))
        self.resources[name] = res
        return res

    def gather_facts(self, data_dir: str = "/var/lib") -> tuple[pulumi.Resource, pulumi.Output[Facts]]:
        """Run the facts command once; its stdout is parsed into :class:`Facts`."""
        cmd = self.command("facts", create=facts_script(data_dir))
        name = self.host.name
        return cmd, cmd.stdout.apply(lambda out: parse_facts(out, name))

    def steps(self, steps: pulumi.Output[list[Step]], layout: list[Step],
              depends_on: Sequence[pulumi.Resource] = (),
              external: dict[str, pulumi.Resource] | None = None,
              wait_for: dict[str, Sequence[pulumi.Resource]] | None = None,
              gate: pulumi.Output[Any] | None = None) -> dict[str, pulumi.Resource]:
        """Wire plan steps. ``layout`` is the plan for one candidate arch, known now (it fixes the resource
        graph); ``steps`` is the plan for the host's real arch, known once facts are (it fixes the contents).
        ``external`` names steps of this host wired earlier (another component) that ``after`` may refer to;
        ``wait_for`` adds dependencies to single steps (a rolling change waits for the previous node);
        ``gate`` must resolve before any step's inputs do (a failed precheck raises there, so nothing runs)."""
        if gate is not None:
            steps = pulumi.Output.all(steps, gate).apply(_first)
        done: dict[str, pulumi.Resource] = dict(external or {})
        for i, st in enumerate(layout):
            deps = [*depends_on, *(done[a] for a in st.after), *(wait_for or {}).get(st.name, ())]
            # A plan built from secret inputs is secret as a whole; only its secret files are. Scripts, uploads
            # and deletes never carry a secret (graph tests scan them), so they stay readable in a preview diff.
            secret_this: pulumi.Output[Step] = steps.apply(functools.partial(_nth, i))
            this = pulumi.Output.unsecret(secret_this)
            for j, up in enumerate(st.uploads):
                picked = this.apply(functools.partial(_upload, j))
                deps.append(self.upload(
                    f"{st.name}-upload-{up.name}",
                    local_path=picked.apply(_upload_path),
                    remote_path=picked.apply(_upload_remote),
                    sha256=picked.apply(_upload_sha),
                    depends_on=list(depends_on)))
            stdin: pulumi.Output[str] | None = None
            if st.secret_files:
                stdin = pulumi.Output.secret(secret_this.apply(_bundle))
            done[st.name] = self.command(st.name, create=this.apply(_script), delete=this.apply(_delete),
                                         stdin=stdin, depends_on=deps, secret_output=bool(st.secret_files))
        return {k: v for k, v in done.items() if not external or k not in external}


def arch_plans(host: Host, make: Callable[[str], list[Step]]) -> tuple[list[Step], Callable[[Facts], list[Step]]]:
    """Plan ``make(arch)`` for every arch the host may have (its declared ``arch``, else amd64 and arm64).

    Returns the layout (fixes the resource graph now, so a preview shows every resource) and ``pick(facts)``, the
    plan for the host's real arch. Input errors for the declared arch, or for every arch, are raised now; an error
    for an arch the host turns out to have is raised when its facts arrive. Pure."""
    arches = [check_arch(host.arch, host.name)] if host.arch else list(ARCHES)
    plans: dict[str, list[Step]] = {}
    errors: dict[str, KKError] = {}
    for arch in arches:
        try:
            plans[arch] = make(arch)
        except KKError as exc:
            errors[arch] = exc
    if not plans:
        raise errors[arches[0]]
    first = next(iter(plans))
    layout = plans[first]
    for arch, plan in plans.items():
        if structure(plan) != structure(layout):
            errors[arch] = KKError(
                f"host {host.name!r}: artifacts for {arch} and {first} differ in kind (one is a local file, the "
                f"other a download).", key="binary_dir",
                fix=f"place the files for both arches in binary_dir, or set the host var `arch` (e.g. arch: {first}).")

    def pick(f: Facts) -> list[Step]:
        if f.arch in errors:
            raise errors[f.arch]
        return plans[f.arch]

    return layout, pick


def _first(values: list[Any]) -> Any:
    return values[0]


def _nth(i: int, steps: list[Step]) -> Step:
    return steps[i]


def _upload(j: int, step: Step) -> ResolvedArtifact:
    return step.uploads[j]


def _upload_path(a: ResolvedArtifact) -> str:
    return str(a.path)


def _upload_remote(a: ResolvedArtifact) -> str:
    return a.remote_path


def _upload_sha(a: ResolvedArtifact) -> str:
    return str(a.sha256)


def _bundle(step: Step) -> str:
    return secret_bundle(step.secret_files)


def _delete(step: Step) -> str | None:
    return as_command(step.delete) if step.delete else None


def _script(step: Step) -> str:
    body = step.script
    if step.secret_files:
        # Insert the un-bundler right after `set -euo pipefail` so secrets land before anything uses them.
        marker = "set -euo pipefail\n"
        head, _, tail = body.partition(marker)
        body = f"{head}{marker}{UNBUNDLE}{tail}" if tail else f"{marker}{UNBUNDLE}{body}"
    return as_command(body)


def digest(value: Any) -> str:
    """Short stable digest of JSON-able data (for names and triggers)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
