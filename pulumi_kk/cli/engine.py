"""``init`` / ``delete`` / ``preview`` through the Pulumi Automation API, with an embedded default backend (a
local file backend under the work dir) and a passphrase secrets provider."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sources import Sources

PROJECT = "pulumi-kk"
INSTALL_HINT = ("pulumi-kk init/delete/preview drive the Pulumi engine, which needs the Pulumi CLI "
                "(https://www.pulumi.com/docs/iac/download-install/): install it with "
                "`curl -fsSL https://get.pulumi.com | sh`, or rerun with --install-pulumi. "
                "`pulumi-kk render` and `pulumi-kk precheck` work without it.")


class MissingPulumi(RuntimeError):
    """No Pulumi CLI on this machine."""


@dataclass(frozen=True)
class EngineDirs:
    """Where the CLI keeps its state: ``{work_dir}/pulumi-kk/{state,passphrase}``."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def passphrase_file(self) -> Path:
        return self.root / "passphrase"

    @property
    def project(self) -> Path:
        """The engine's working directory: ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` (the passphrase's
        encryption salt) must outlive a run, so not the SDK's default fresh temporary directory."""
        return self.root / "project"

    @classmethod
    def for_sources(cls, src: Sources, override: str | None = None) -> EngineDirs:
        return cls(Path(override or os.path.join(src.settings.work_dir, PROJECT)).expanduser())


def passphrase(dirs: EngineDirs) -> str:
    """``PULUMI_CONFIG_PASSPHRASE`` from the environment, else one generated once and kept 0600."""
    env = os.environ.get("PULUMI_CONFIG_PASSPHRASE")
    if env:
        return env
    f = dirs.passphrase_file
    if f.exists():
        return f.read_text().strip()
    f.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def find_pulumi() -> Path | None:
    """The Pulumi CLI: on PATH, or where the official installer puts it."""
    found = shutil.which("pulumi")
    if found:
        return Path(found)
    home = Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi")) / "bin" / "pulumi"
    return home if home.exists() else None


def install_pulumi() -> Path:
    """Install the Pulumi CLI with the SDK's installer (downloads from get.pulumi.com)."""
    from pulumi import automation as auto

    cmd = auto.PulumiCommand.install()
    return Path(cmd.command)


def pulumi_command(binary: Path) -> Any:
    """The SDK's handle on ``binary``. ``PulumiCommand(root=R)`` runs ``R/bin/pulumi``, which fits the installer's
    layout but not a release tarball's ``pulumi/pulumi``; then the binary on PATH is checked and run as found."""
    from pulumi import automation as auto

    if binary.parent.name == "bin":
        return auto.PulumiCommand(root=str(binary.parent.parent), skip_version_check=True)
    cmd = auto.PulumiCommand(skip_version_check=True)  # `pulumi version` from PATH: find_pulumi's binary
    cmd.command = str(binary)
    return cmd


def progress(write: Callable[[str], Any] = print) -> Callable[[Any], None]:
    """An engine-event callback that prints one line per host and step as resources change."""

    def on_event(event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        out = getattr(event, "res_outputs_event", None)
        fail = getattr(event, "res_op_failed_event", None)
        diag = getattr(event, "diagnostic_event", None)
        if pre is not None and pre.metadata.op.value != "same":
            write(f"  {pre.metadata.urn.rsplit('::', 1)[-1]}: {pre.metadata.op.value}…")
        elif out is not None and out.metadata.op.value != "same":
            write(f"  {out.metadata.urn.rsplit('::', 1)[-1]}: {out.metadata.op.value} done")
        elif fail is not None:
            write(f"  {fail.metadata.urn.rsplit('::', 1)[-1]}: FAILED")
        elif diag is not None and diag.severity in ("error", "warning"):
            write(f"  {diag.severity}: {diag.message.strip()}")

    return on_event


def stack_for(src: Sources, stack_name: str, dirs: EngineDirs, delete_data: bool = False,
              pulumi_bin: Path | None = None) -> Any:
    """Select or create the stack, with the inline program built from ``src``."""
    from pulumi import automation as auto

    from ..stack import program

    binary = pulumi_bin or find_pulumi()
    if binary is None:
        raise MissingPulumi(INSTALL_HINT)
    dirs.state.mkdir(parents=True, exist_ok=True)
    dirs.project.mkdir(parents=True, exist_ok=True)
    backend = f"file://{dirs.state}"
    # PULUMI_BACKEND_URL in the user's environment would win over the project's backend: pin it too.
    env = {"PULUMI_CONFIG_PASSPHRASE": passphrase(dirs), "PULUMI_SKIP_UPDATE_CHECK": "true",
           "PULUMI_BACKEND_URL": backend}
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(dirs.project),
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python",
                                              backend=auto.ProjectBackend(url=backend)),
        env_vars=env, secrets_provider="passphrase", pulumi_command=pulumi_command(binary),
    )
    def inline() -> None:
        program(src, delete_data=delete_data)

    return auto.create_or_select_stack(stack_name=stack_name, project_name=PROJECT, program=inline, opts=opts)


def run(action: str, src: Sources, stack_name: str, dirs: EngineDirs, delete_data: bool = False,
        pulumi_bin: Path | None = None) -> int:
    """``up`` | ``preview`` | ``destroy``; returns an exit code."""
    stack = stack_for(src, stack_name, dirs, delete_data, pulumi_bin)
    stack.workspace.install_plugin("command", "v1.2.1")
    on_event = progress(lambda line: print(line, flush=True))
    if action == "preview":
        res = stack.preview(diff=True, on_output=lambda s: print(s, end="", flush=True), color="never")
        print(f"preview: {res.change_summary}")
    elif action == "up":
        res = stack.up(on_event=on_event, color="never")
        print(f"up: {res.summary.resource_changes}")
        for k, v in res.outputs.items():
            print(f"  {k}: {'[secret]' if v.secret else v.value}")
    elif action == "destroy":
        res = stack.destroy(on_event=on_event, color="never")
        print(f"destroy: {res.summary.resource_changes}")
    else:
        raise ValueError(action)
    sys.stdout.flush()
    return 0
