"""``pulumi-kk init|delete|preview registry``: what the CLI asks of the Pulumi engine.

The engine cannot run here; a stand-in records the calls (no Pulumi CLI can be installed on this machine).
``tests/fakes/fake_pulumi.py`` is put first on PATH as ``pulumi``: it logs every invocation the Automation API makes
(argv, cwd, passphrase presence, backend) and answers as the CLI does (``version``, ``stack select``/``init``,
``plugin install``, ``up``/``preview``/``destroy`` with engine events, ``stack output``, ``stack history``), keeping
stack state in the ``file://`` backend it is given. It runs the CLI's inline program for real through the SDK's
language server, against a mock resource monitor (``tests/graph/mockkit.KKMocks``), so the resources each command
registers are checked too. What is not covered: the real engine's diffing and the pulumi-command provider running
scripts on hosts (tests/lab does that with the scripts rendered by ``pulumi-kk render``).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, for the fakes package

import fakes

from pulumi_kk.cli import engine
from pulumi_kk.cli.main import EXIT_BAD_INPUT, EXIT_NO_PULUMI, EXIT_OK, main, parser

REPO = Path(__file__).resolve().parents[3]
LOCALHOST = REPO / "examples" / "inventory" / "localhost.yaml"
#: The distribution registry (the default type, harbor, installs only Docker: a smaller, faster program).
REGISTRY = ("--set", "image_registry.type=registry")
Call = dict[str, Any]


@dataclass
class Env:
    """One test's world: the stand-in CLI on PATH, its call log, a work dir."""

    tmp: Path
    log: Path
    work: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str, work: bool = True) -> tuple[int, str, str]:
        """``pulumi-kk`` with ``argv`` (``--set work_dir=<tmp>`` added unless ``work=False``)."""
        extra = ["--set", f"work_dir={self.work}"] if work else []
        code = main([*argv, *extra])
        out, err = self.capsys.readouterr()
        return code, out, err

    def calls(self) -> list[Call]:
        return fakes.read_calls(self.log)

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)

    @property
    def root(self) -> Path:
        return self.work / "pulumi-kk"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Env]:
    bin_dir = tmp_path / "pulumi-cli" / "bin"
    fakes.install_pulumi(bin_dir)
    log = tmp_path / "pulumi-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    for name in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "PULUMI_STACK",
                 "PULUMI_ACCESS_TOKEN", "FAKE_PULUMI_VERSION", "FAKE_PULUMI_FACTS", "FAKE_PULUMI_FAIL",
                 "FAKE_PULUMI_RUN_PROGRAM"):
        monkeypatch.delenv(name, raising=False)
    yield Env(tmp_path, log, tmp_path / "kk", capsys)


def commands(calls: list[Call]) -> list[str]:
    return [c["command"] for c in calls]


def only(calls: list[Call], command: str) -> Call:
    found = [c for c in calls if c["command"] == command]
    assert len(found) == 1, f"{len(found)} {command!r} calls in {commands(calls)}"
    return found[0]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def resource(call: Call, name: str) -> dict[str, Any]:
    found = [r for r in call["program"]["resources"] if r["name"] == name]
    assert found, f"no resource {name!r} in {[r['name'] for r in call['program']['resources']]}"
    res: dict[str, Any] = found[0]
    return res


# --- init --------------------------------------------------------------------------------------------------------


def test_init_runs_up_on_a_file_backend_with_a_generated_passphrase(env: Env) -> None:
    code, out, err = env.run("init", "registry", "-i", str(LOCALHOST), *REGISTRY)
    assert code == EXIT_OK, err
    calls = env.calls()

    # the SDK's sequence: version check, select (missing) → init, the command plugin, up, then its results
    assert commands(calls) == ["version", "stack select", "stack init", "plugin install", "up",
                               "stack output", "stack output", "stack history"]
    assert all(c["exit_code"] == 0 for c in calls if c["command"] != "stack select")
    assert only(calls, "stack select")["error"] == "no stack named 'default' found"
    # state: a file:// backend under {work_dir}/pulumi-kk, the passphrase provider, the project and stack names
    state = env.root / "state"
    for c in calls[1:]:
        if "backend" in c:
            assert c["backend"] == f"file://{state}"
    init = only(calls, "stack init")
    assert init["argv"][-4:] == ["init", "default", "--secrets-provider", "passphrase"]
    assert init["project"] == engine.PROJECT
    up = only(calls, "up")
    assert up["stack_file"] == str(state / ".pulumi" / "stacks" / engine.PROJECT / "default.json")
    assert Path(up["stack_file"]).is_file()
    assert {"--yes", "--skip-preview"} <= set(up["argv"]) and up["argv"][-2:] == ["--stack", "default"]
    assert up["exec_kind"] == "auto.inline"  # the program runs in this process, served to the engine
    assert up["event_log"] == "grpc"  # the SDK streams engine events from CLIs newer than 3.205
    # the passphrase: generated once, 0600, handed to every command that needs it
    pfile = env.root / "passphrase"
    assert stat.S_IMODE(pfile.stat().st_mode) == 0o600
    phrase = pfile.read_text().strip()
    assert len(phrase) >= 32
    for c in calls[1:]:
        assert c["passphrase_set"] and c["passphrase_sha256"] == sha(phrase), c["command"]
        assert c["env"]["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert phrase not in out + err
    # the command plugin, at the version the SDK was built against
    assert only(calls, "plugin install")["plugin"] == {"kind": "resource", "name": "command", "version": "v1.2.1"}

    # the program the engine ran: the registry on localhost through local commands, the precheck first
    names = {r["name"]: r["type"] for r in up["program"]["resources"]}
    assert names["registry"] == "pulumi-kk:index:ImageRegistry"
    assert names["registry-localhost-precheck"] == "command:local:Command"
    assert names["registry-localhost-registry-service"] == "command:local:Command"
    assert {o for o in up["program"]["outputs"]} >= {"url", "ca_cert", "username", "password", "endpoint"}
    assert up["program"]["secret_outputs"] == ["password"]
    assert all(op == "create" for op, _, _ in up["steps"])

    # what the user sees: progress per step, precheck warnings, the outputs with the password hidden
    assert "  registry-localhost-precheck: create…" in out
    assert "  registry-localhost-registry-service: create done" in out
    assert "  warning: precheck localhost artifact docker:" in out
    assert f"up: {{'create': {len(up['steps'])}}}" in out
    assert "  url: https://localhost:443" in out
    assert "  username: admin" in out
    assert "  password: [secret]" in out


def test_second_init_selects_the_stack_and_reuses_the_passphrase(env: Env) -> None:
    assert env.run("init", "registry", "-i", str(LOCALHOST))[0] == EXIT_OK
    pfile = env.root / "passphrase"
    first = pfile.read_text()
    first_up = only(env.calls(), "up")
    env.clear()

    code, out, err = env.run("init", "registry", "-i", str(LOCALHOST))
    assert code == EXIT_OK, err
    calls = env.calls()
    assert commands(calls) == ["version", "stack select", "plugin install", "up",
                               "stack output", "stack output", "stack history"]
    assert only(calls, "stack select")["exit_code"] == 0
    assert pfile.read_text() == first and stat.S_IMODE(pfile.stat().st_mode) == 0o600
    assert {c["passphrase_sha256"] for c in calls[1:]} == {sha(first.strip())}
    up = only(calls, "up")
    assert up["stack_file"] == first_up["stack_file"]
    assert {op for op, _, _ in up["steps"]} == {"same"}  # same inputs: nothing to do
    assert f"up: {{'same': {len(up['steps'])}}}" in out


def test_the_engine_runs_in_a_kept_project_dir_next_to_the_state(env: Env) -> None:
    """Pulumi.yaml and Pulumi.<stack>.yaml (with the passphrase's encryption salt) stay between runs."""
    assert env.run("init", "registry", "-i", str(LOCALHOST))[0] == EXIT_OK
    assert env.run("preview", "registry", "-i", str(LOCALHOST))[0] == EXIT_OK
    calls = [c for c in env.calls() if c["command"] != "version"]
    cwds = {c["cwd"] for c in calls}
    assert len(cwds) == 1
    cwd = Path(cwds.pop())
    assert cwd.is_relative_to(env.root)
    assert (cwd / "Pulumi.yaml").is_file()
    assert (cwd / "Pulumi.default.yaml").read_text().startswith("encryptionsalt: v1:")
    assert only(calls, "preview")["stack_settings_in_cwd"]


def test_passphrase_from_the_environment_wins_and_no_file_is_written(env: Env,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    assert env.run("init", "registry", "-i", str(LOCALHOST))[0] == EXIT_OK
    assert not (env.root / "passphrase").exists()
    assert {c["passphrase_sha256"] for c in env.calls()[1:]} == {sha("correct horse battery staple")}

    env.clear()
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "another passphrase")
    code, _, err = env.run("init", "registry", "-i", str(LOCALHOST))
    assert code == 1
    assert "incorrect passphrase" in err
    assert "up" in commands(env.calls()) and only(env.calls(), "up")["exit_code"] == 255


def test_a_backend_url_in_the_environment_does_not_move_the_state(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = env.tmp / "elsewhere"
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{elsewhere}")
    assert env.run("init", "registry", "-i", str(LOCALHOST))[0] == EXIT_OK
    state = env.root / "state"
    for c in env.calls()[1:]:
        if "backend" in c:
            assert c["backend"] == f"file://{state}"
    assert not elsewhere.exists()


def test_state_dir_option_holds_state_and_passphrase(env: Env) -> None:
    target = env.tmp / "custom-state"
    code, _, err = env.run("init", "registry", "-i", str(LOCALHOST), "--state-dir", str(target))
    assert code == EXIT_OK, err
    assert only(env.calls(), "up")["backend"] == f"file://{target / 'state'}"
    assert (target / "passphrase").is_file()
    assert not env.root.exists()


def test_stack_option_names_the_stack(env: Env) -> None:
    assert env.run("init", "registry", "-i", str(LOCALHOST), "--stack", "lab")[0] == EXIT_OK
    calls = env.calls()
    assert only(calls, "stack init")["stack"] == "lab"
    assert only(calls, "up")["stack_file"].endswith("/pulumi-kk/lab.json")
    assert all(c["stack"] == "lab" for c in calls if "stack" in c)


def test_config_files_and_sets_reach_the_program(env: Env) -> None:
    one = env.tmp / "one.yaml"
    one.write_text("apiVersion: kubekey.kubesphere.io/v1\nkind: Config\nspec:\n  image_registry:\n"
                   "    type: registry\n    auth:\n      username: from-one\n")
    two = env.tmp / "two.yaml"
    two.write_text("apiVersion: kubekey.kubesphere.io/v1\nkind: Config\nspec:\n  image_registry:\n"
                   "    auth:\n      username: from-two\n      registry: reg.example.internal:5443\n")
    code, out, err = env.run("init", "registry", "-i", str(LOCALHOST), "-c", str(one), "-c", str(two),
                             "--set", "image_registry.auth.username=from-set", "--set", "docker_version=24.0.9")
    assert code == EXIT_OK, err
    assert "  username: from-set" in out  # --set beats both files
    assert "  url: https://reg.example.internal:5443" in out  # the second file beats the first
    assert "'docker': '24.0.9'" in out


def test_a_failed_precheck_fails_init_with_exit_1(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PULUMI_FACTS", '{"localhost": {"mem_kb": "1048576"}}')  # 1 GB
    code, out, err = env.run("init", "registry", "-i", str(LOCALHOST))
    assert code == 1
    assert "precheck failed on localhost" in err and "memory" in err
    up = only(env.calls(), "up")
    assert up["exit_code"] == 255 and "precheck failed" in up["program"]["error"]
    assert "up:" not in out


# --- preview -----------------------------------------------------------------------------------------------------


def test_preview_runs_preview_diff_and_changes_nothing(env: Env) -> None:
    code, out, err = env.run("preview", "registry", "-i", str(LOCALHOST))
    assert code == EXIT_OK, err
    calls = env.calls()
    assert commands(calls) == ["version", "stack select", "stack init", "plugin install", "preview"]
    pv = only(calls, "preview")
    assert "--diff" in pv["argv"] and pv["exec_kind"] == "auto.inline"
    assert pv["program"]["dry_run"] is True
    assert "up" not in commands(calls) and "destroy" not in commands(calls)
    n = len(pv["steps"])
    assert f"preview: {{'create': {n}}}" in out
    assert "Previewing update (default):" in out  # the engine's output is streamed

    env.clear()
    assert env.run("init", "registry", "-i", str(LOCALHOST))[0] == EXIT_OK
    assert {op for op, _, _ in only(env.calls(), "up")["steps"]} == {"create"}  # the preview stored nothing


# --- delete ------------------------------------------------------------------------------------------------------


def test_delete_runs_destroy_only(env: Env) -> None:
    assert env.run("init", "registry", "-i", str(LOCALHOST))[0] == EXIT_OK
    created = len(only(env.calls(), "up")["steps"])
    env.clear()

    code, out, err = env.run("delete", "registry", "-i", str(LOCALHOST))
    assert code == EXIT_OK, err
    calls = env.calls()
    assert commands(calls) == ["version", "stack select", "plugin install", "destroy", "stack history"]
    d = only(calls, "destroy")
    assert {"--yes", "--skip-preview"} <= set(d["argv"])
    assert len(d["steps"]) == created and {op for op, _, _ in d["steps"]} == {"delete"}
    assert f"destroy: {{'delete': {created}}}" in out


def test_delete_with_data_updates_the_delete_scripts_then_destroys(env: Env) -> None:
    assert env.run("init", "registry", "-i", str(LOCALHOST))[0] == EXIT_OK
    install = resource(only(env.calls(), "up"), "registry-localhost-docker-install")
    assert "keeps /var/lib/docker" in install["delete"]
    env.clear()

    code, out, err = env.run("delete", "registry", "-i", str(LOCALHOST), "--with-data")
    assert code == EXIT_OK, err
    calls = env.calls()
    ops = commands(calls)
    assert ops.index("up") < ops.index("destroy")
    up = only(calls, "up")
    install = resource(up, "registry-localhost-docker-install")
    assert "removes /var/lib/docker" in install["delete"]
    assert ("update", "command:local:Command", "registry-localhost-docker-install") in map(tuple, up["steps"])
    d = only(calls, "destroy")
    assert {op for op, _, _ in d["steps"]} == {"delete"}
    assert "destroy: {'delete':" in out


# --- event log for older CLIs ------------------------------------------------------------------------------------


def test_older_cli_gets_a_file_event_log(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "v3.200.0")
    code, out, err = env.run("init", "registry", "-i", str(LOCALHOST))
    assert code == EXIT_OK, err
    up = only(env.calls(), "up")
    assert up["event_log"] == "file"
    assert "  registry-localhost-precheck: create done" in out


# --- no Pulumi CLI -----------------------------------------------------------------------------------------------


@pytest.fixture
def no_pulumi(env: Env, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH without any ``pulumi`` and an empty PULUMI_HOME; returns PULUMI_HOME."""
    home = env.tmp / "empty-pulumi-home"
    home.mkdir()
    empty_bin = env.tmp / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.setenv("PULUMI_HOME", str(home))
    assert engine.find_pulumi() is None
    return home


@pytest.mark.parametrize("command", ["init", "delete", "preview"])
def test_without_the_pulumi_cli_exit_3_with_the_install_hint(env: Env, no_pulumi: Path, command: str) -> None:
    code, out, err = env.run(command, "registry", "-i", str(LOCALHOST))
    assert code == EXIT_NO_PULUMI
    assert out == ""
    assert err.strip() == f"error: {engine.INSTALL_HINT}"
    assert "curl -fsSL https://get.pulumi.com | sh" in err and "--install-pulumi" in err
    assert "render" in err and "precheck" in err  # what works without it
    assert not env.root.exists()  # nothing written: no state, no passphrase
    assert env.calls() == []


def test_pulumi_home_bin_is_used_when_not_on_path(env: Env, no_pulumi: Path) -> None:
    fakes.install_pulumi(no_pulumi / "bin")
    code, _, err = env.run("init", "registry", "-i", str(LOCALHOST))
    assert code == EXIT_OK, err
    assert "up" in commands(env.calls())


def test_a_cli_outside_a_bin_dir_is_run_where_it_is(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release tarball unpacks to ``pulumi/pulumi``, often put on PATH as is."""
    dist = env.tmp / "dist" / "pulumi"
    fakes.install_pulumi(dist)
    monkeypatch.setenv("PATH", f"{dist}{os.pathsep}{env.tmp / 'nothing'}")
    assert engine.find_pulumi() == dist / "pulumi"
    code, _, err = env.run("preview", "registry", "-i", str(LOCALHOST))
    assert code == EXIT_OK, err
    assert "preview" in commands(env.calls())


def installer(target: Path, calls: list[int]) -> Callable[[], Path]:
    def install() -> Path:
        calls.append(1)
        return fakes.install_pulumi(target / "bin")

    return install


def test_install_pulumi_installs_when_missing_then_runs(env: Env, no_pulumi: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(engine, "install_pulumi", installer(env.tmp / "installed", calls))
    code, out, err = env.run("init", "registry", "-i", str(LOCALHOST), "--install-pulumi")
    assert code == EXIT_OK, err
    assert calls == [1]
    assert out.startswith("installing the Pulumi CLI…\n")
    assert "up" in commands(env.calls())


def test_install_pulumi_is_not_called_when_the_cli_is_there(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(engine, "install_pulumi", installer(env.tmp / "installed", calls))
    code, out, err = env.run("preview", "registry", "-i", str(LOCALHOST), "--install-pulumi")
    assert code == EXIT_OK, err
    assert calls == []
    assert "installing" not in out


def test_a_failed_install_is_exit_3_with_the_reason(env: Env, no_pulumi: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def offline() -> Path:
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(engine, "install_pulumi", offline)
    code, _, err = env.run("init", "registry", "-i", str(LOCALHOST), "--install-pulumi")
    assert code == EXIT_NO_PULUMI
    assert "Temporary failure in name resolution" in err
    assert "curl -fsSL https://get.pulumi.com | sh" in err


# --- the stand-in itself ------------------------------------------------------------------------------------------


def test_the_stand_in_answers_the_sdks_config_and_history_calls(env: Env) -> None:
    """Calls the CLI does not make today, through the SDK, so the stand-in stays honest for future callers."""
    from pulumi import automation as auto

    from pulumi_kk.sources import load_sources

    src = load_sources(LOCALHOST, (), None, [f"work_dir={env.work}"])
    stack = engine.stack_for(src, "cfg", engine.EngineDirs.for_sources(src))
    stack.set_config("pulumi-kk:inventory", auto.ConfigValue(str(LOCALHOST)))
    stack.set_all_config({"pulumi-kk:set": auto.ConfigValue("docker_version=24.0.9"),
                          "pulumi-kk:token": auto.ConfigValue("t0ken", secret=True)})
    assert stack.get_config("pulumi-kk:inventory").value == str(LOCALHOST)
    every = stack.get_all_config()
    assert every["pulumi-kk:set"].value == "docker_version=24.0.9"
    assert every["pulumi-kk:token"].secret and every["pulumi-kk:token"].value == "t0ken"
    assert stack.history() == [] and stack.outputs() == {}
    assert [c["command"] for c in env.calls()].count("config set") == 1
    assert all(c["exit_code"] == 0 for c in env.calls() if c["command"] != "stack select")


# --- bad input is caught before the engine -----------------------------------------------------------------------


def test_bad_settings_are_exit_2_without_calling_pulumi(env: Env) -> None:
    code, out, err = env.run("init", "registry", "-i", str(LOCALHOST), "--set", "image_registry.typo=1")
    assert code == EXIT_BAD_INPUT
    assert "typo" in err and out == ""
    assert env.calls() == []


# --- argument parsing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["init", "delete", "preview"])
def test_engine_subcommands_parse_every_option(command: str) -> None:
    a = parser().parse_args([command, "registry", "-i", "inv.yaml", "-c", "a.yaml", "--config", "b.yaml",
                             "--set", "docker_version=24.0.9,registry_version=2.8.3", "--set", "x.y=1",
                             "--stack", "prod", "--state-dir", "/srv/state", "--install-pulumi"])
    assert (a.command, a.target, a.inventory) == (command, "registry", "inv.yaml")
    assert a.config == ["a.yaml", "b.yaml"]
    assert a.sets == ["docker_version=24.0.9,registry_version=2.8.3", "x.y=1"]
    assert (a.stack, a.state_dir, a.install_pulumi) == ("prod", "/srv/state", True)


@pytest.mark.parametrize("command", ["init", "delete", "preview"])
def test_engine_subcommand_defaults(command: str) -> None:
    a = parser().parse_args([command, "registry", "--inventory", "inv.yaml"])
    assert (a.config, a.sets, a.stack, a.state_dir, a.install_pulumi) == ([], [], "default", None, False)
    assert getattr(a, "with_data", False) is False


def test_with_data_belongs_to_delete_only() -> None:
    assert parser().parse_args(["delete", "registry", "-i", "x", "--with-data"]).with_data is True
    for command in ("init", "preview"):
        with pytest.raises(SystemExit) as exc:
            parser().parse_args([command, "registry", "-i", "x", "--with-data"])
        assert exc.value.code == 2


def test_render_and_precheck_parse() -> None:
    r = parser().parse_args(["render", "registry", "-i", "inv.yaml", "-o", "out", "-c", "c.yaml", "--set", "a=1",
                             "--with-data"])
    assert (r.command, r.target, str(r.output), r.config, r.sets, r.with_data) == (
        "render", "registry", "out", ["c.yaml"], ["a=1"], True)
    p = parser().parse_args(["precheck", "image_registry", "-i", "inv.yaml", "--set", "a=1", "--set", "b=2"])
    assert (p.command, p.target, p.sets, p.config) == ("precheck", "image_registry", ["a=1", "b=2"], [])


@pytest.mark.parametrize("argv", [
    ["init"],                                   # no target
    ["init", "registry"],                       # no -i
    ["init", "harbor", "-i", "x"],              # unknown target
    ["preview", "registry", "-i", "x", "--stack"],  # --stack without a value
    ["precheck", "registry", "-i", "x"],        # precheck's target is image_registry
    ["render", "registry", "-i", "x"],          # render needs -o
    ["deploy", "registry", "-i", "x"],          # unknown command
])
def test_bad_command_lines_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: pulumi-kk" in capsys.readouterr().err
