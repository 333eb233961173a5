"""The docker layer's rendered files and scripts: daemon.json, syntax of every script under real bash, and the
shell helpers (kk_put / kk_fetch / kk_verify) run for real in a temp dir."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest

from pulumi_kk.plan import Step, structure
from pulumi_kk.render import render, sh_quote
from pulumi_kk.render.docker import daemon_json, docker_steps
from pulumi_kk.settings import Layer, Settings, build, deep_merge, parse_set

HELPERS_START = "# --- pulumi-kk helpers ---"
HELPERS_END = "# --- end helpers ---"


def settings(*sets: str, **values: Any) -> Settings:
    layers = [Layer(deep_merge({"binary_dir": "/nonexistent/kk-binary-dir"}, values), "test")]
    if sets:
        layers.append(Layer(parse_set(sets), "--set"))
    return build(layers)


def steps(s: Settings | None = None, arch: str = "amd64", delete_data: bool = False) -> dict[str, Step]:
    return {st.name: st for st in docker_steps(s or settings(), arch, delete_data)}


def bash(code: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", code], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "T": str(cwd)})


def helpers(script: str) -> str:
    start, end = script.index(HELPERS_START), script.index(HELPERS_END) + len(HELPERS_END)
    return script[start:end]


def between(script: str, first: str, last: str) -> str:
    """The lines from the one starting with ``first`` to the next one starting with ``last`` (both included)."""
    lines = script.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith(first))
    j = next(n for n, line in enumerate(lines) if n > i and line.startswith(last))
    return "\n".join(lines[i:j + 1]) + "\n"


# --- daemon.json -------------------------------------------------------------------------------------------------


def test_daemon_json_defaults() -> None:
    text = daemon_json(settings())
    assert json.loads(text) == {"data-root": "/var/lib/docker", "log-driver": "json-file",
                                "log-opts": {"max-file": "5", "max-size": "100m"}}
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True)


def test_daemon_json_from_settings() -> None:
    s = settings("docker.insecure_registries=[reg.b:5000,reg.a,reg.b:5000]",
                 "docker.registry_mirrors=[https://m2.example,https://m1.example]",
                 "docker.data_root=/data/docker,docker.log_driver=local,docker.bip=172.30.0.1/16",
                 "docker.storage_driver=overlay2,docker.live_restore=true",
                 "docker.log_opts.max-size=10m,docker.log_opts.max-file=3")
    conf = json.loads(daemon_json(s, extra_insecure=["dockerhub.kubekey.local", "reg.a"]))
    assert conf == {
        "data-root": "/data/docker",
        "log-driver": "local",
        "log-opts": {"max-size": "10m", "max-file": "3"},  # strings: dockerd refuses numbers here
        "insecure-registries": ["dockerhub.kubekey.local", "reg.a", "reg.b:5000"],  # sorted, no duplicates
        "registry-mirrors": ["https://m2.example", "https://m1.example"],  # order is priority: kept
        "bip": "172.30.0.1/16",
        "storage-driver": "overlay2",
        "live-restore": True,
    }


def test_daemon_json_is_sorted_and_stable() -> None:
    s = settings("docker.insecure_registries=[z,a],docker.daemon.zeta=1,docker.daemon.alpha=2")
    text = daemon_json(s)
    assert text == daemon_json(s) == daemon_json(settings("docker.insecure_registries=[a,z]",
                                                          "docker.daemon.alpha=2,docker.daemon.zeta=1"))
    keys = [line.split('"')[1] for line in text.splitlines() if line.startswith('  "')]
    assert keys == sorted(keys)
    assert not text.endswith("\n")


def test_daemon_json_extra_keys_merge_last() -> None:
    s = settings("docker.daemon.log-driver=journald,docker.daemon.max-concurrent-downloads=10")
    conf = json.loads(daemon_json(s))
    assert conf["log-driver"] == "journald"
    assert conf["max-concurrent-downloads"] == 10


def test_daemon_json_without_log_opts() -> None:
    s = build([Layer({"docker": {"log_opts": {}}}, "x")])
    assert "log-opts" not in json.loads(daemon_json(s))


# --- steps -------------------------------------------------------------------------------------------------------


def test_steps_in_order() -> None:
    got = docker_steps(settings(), "amd64")
    assert structure(got) == [("docker-config", (), ()),
                              ("docker-install", (), ("docker-config",)),
                              ("compose-install", (), ("docker-install",))]
    assert [st.layer for st in got] == ["docker-config", "docker", "compose"]
    assert all(st.delete for st in got)


def test_config_step_files() -> None:
    s = settings("docker.insecure_registries=[reg.local]")
    st = steps(s)["docker-config"]
    assert st.files == {"/etc/docker/daemon.json": daemon_json(s) + "\n"}


def test_install_step_files_are_the_units() -> None:
    st = steps()["docker-install"]
    assert sorted(st.files) == ["/etc/systemd/system/containerd.service", "/etc/systemd/system/docker.service",
                                "/etc/systemd/system/docker.socket"]
    assert "ExecStart=/usr/local/bin/dockerd" in st.files["/etc/systemd/system/docker.service"]
    assert st.description == "docker 24.0.7 (amd64)"


def test_local_artifacts_are_uploaded(tmp_path: Path) -> None:
    for rel in ("docker/24.0.7/arm64/docker-24.0.7.tgz", "image-registry/docker-compose/v2.20.3/arm64/docker-compose"):
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_bytes(b"x")
    st = steps(settings(binary_dir=str(tmp_path)), "arm64")
    assert [u.name for u in st["docker-install"].uploads] == ["docker"]
    assert [u.name for u in st["compose-install"].uploads] == ["dockercompose"]
    engine = st["docker-install"].uploads[0]
    digest = hashlib.sha256(b"x").hexdigest()
    assert f"kk_verify \"$TGZ\" {digest}" in st["docker-install"].script
    assert f"TGZ={engine.remote_path}" in st["docker-install"].script
    assert "kk_fetch" not in st["docker-install"].script.split(HELPERS_END)[1]
    assert st["docker-install"].summary()["uploads"][0]["path"] == engine.path


def test_online_artifacts_are_fetched_by_the_host() -> None:
    st = steps(settings(), "arm64")
    assert st["docker-install"].uploads == ()
    body = st["docker-install"].script.split(HELPERS_END)[1]
    assert "kk_fetch https://download.docker.com/linux/static/stable/aarch64/docker-24.0.7.tgz \"$TGZ\" ''" in body
    body = st["compose-install"].script.split(HELPERS_END)[1]
    assert "docker-compose-linux-aarch64" in body


def test_expected_checksum_reaches_the_fetch() -> None:
    st = steps(settings(f"artifact.sha256.docker.amd64={'c' * 64}"))
    assert f"\"$TGZ\" {'c' * 64}" in st["docker-install"].script


# --- every script: bash syntax, strict mode ----------------------------------------------------------------------


VARIANTS: list[tuple[str, dict[str, Any], bool]] = [
    ("defaults", {}, False),
    ("delete-data", {}, True),
    ("custom", {"docker": {"data_root": "/data/my docker", "insecure_registries": ["a:5000"],
                           "daemon": {"x": "it's \"quoted\""}},
                "remote_dir": "/srv/pulumi kk", "artifact": {"sha256": {"docker": {"amd64": "d" * 64}}}}, True),
    ("url", {"artifact": {"artifact_url": {"dockercompose": {"amd64": "https://m.example/a b/compose?x=1&y=2"}}}},
     False),
]


def all_scripts(tmp_path: Path) -> list[tuple[str, str]]:
    out = []
    for variant, values, delete_data in VARIANTS:
        for st in docker_steps(settings(**values), "amd64", delete_data):
            out.append((f"{variant}/{st.name}", st.script))
            assert st.delete is not None
            out.append((f"{variant}/{st.name}.delete", st.delete))
    # and with local files (kk_verify instead of kk_fetch)
    for rel in ("docker/24.0.7/amd64/docker-24.0.7.tgz", "image-registry/docker-compose/v2.20.3/amd64/docker-compose"):
        (tmp_path / "bd" / rel).parent.mkdir(parents=True)
        (tmp_path / "bd" / rel).write_bytes(b"x")
    for st in docker_steps(settings(binary_dir=str(tmp_path / "bd")), "amd64"):
        out.append((f"local/{st.name}", st.script))
    return out


def test_every_script_passes_bash_syntax_check(tmp_path: Path) -> None:
    scripts = all_scripts(tmp_path)
    assert len(scripts) == 27
    for name, text in scripts:
        f = tmp_path / (name.replace("/", "_") + ".sh")
        f.write_text(text)
        r = subprocess.run(["bash", "-n", str(f)], capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, f"{name}: {r.stderr}"


def test_every_script_is_strict_bash(tmp_path: Path) -> None:
    for name, text in all_scripts(tmp_path):
        lines = text.splitlines()
        assert lines[0] == "#!/usr/bin/env bash", name
        assert "set -euo pipefail" in lines[:5], name
        assert "{{" not in text.replace("'{{.Server.Version}}'", "") and "{%" not in text, name


def test_odd_values_are_quoted(tmp_path: Path) -> None:
    st = steps(settings(**VARIANTS[2][1]), delete_data=True)
    assert "STATE='/srv/pulumi kk/state'" in st["docker-config"].script
    assert "rm -rf '/data/my docker' /var/lib/containerd" in st["docker-install"].delete  # type: ignore[operator]


# --- install: skipped when the version matches -------------------------------------------------------------------


@pytest.mark.parametrize(("reported", "same"), [
    ("Docker version 24.0.7, build afdd53b", "1"),
    ("Docker version 24.0.7-ce, build x", "1"),
    ("Docker version 24.0.70, build x", "0"),
    ("Docker version 23.0.1, build x", "0"),
    (None, "0"),  # not installed
])
def test_install_detects_the_installed_version(tmp_path: Path, reported: str | None, same: str) -> None:
    script = steps()["docker-install"].script
    (tmp_path / "bin").mkdir()
    if reported is not None:
        stub = tmp_path / "bin/dockerd"
        stub.write_text(f"#!/bin/sh\necho '{reported}'\n")
        stub.chmod(0o755)
    snippet = between(script, "current=", "esac")
    r = bash(f'set -euo pipefail\nVERSION=24.0.7\nBIN="$T/bin"\n{snippet}echo "same=$same"\n', tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"same={same}"


def test_install_exits_before_any_change_when_up_to_date() -> None:
    body = steps()["docker-install"].script.split(HELPERS_END)[1]
    skip = body.index('if [ "$same" = 1 ] && [ "$units_changed" = 0 ] && systemctl is-active -q docker; then')
    assert body.index("already installed and running", skip) < body.index("  exit 0\n", skip)
    for change in ("kk_fetch", "groupadd", "tar -xzf", "systemctl restart", "systemctl stop"):
        assert body.index(change) > skip, change
    # tarball only unpacked on a version change
    assert body.index('if [ "$same" = 0 ]; then') < body.index("tar -xzf")


def test_install_writes_units_idempotently(tmp_path: Path) -> None:
    st = steps()["docker-install"]
    snippet = between(st.script, "units_changed=0", "KK_UNIT_EOF")
    block = st.script[st.script.index("units_changed=0"):st.script.index('if [ "$same" = 1 ]')]
    block = block.replace("/etc/systemd/system/", "$T/units/")
    assert "/etc/" not in block and snippet in st.script
    code = f'set -euo pipefail\n{helpers(st.script)}\nmkdir -p "$T/units"\n{block}echo "units_changed=$units_changed"\n'
    first, second = bash(code, tmp_path), bash(code, tmp_path)
    assert first.stdout.strip() == "units_changed=1", first.stderr
    assert second.stdout.strip() == "units_changed=0", second.stderr
    for path, text in st.files.items():
        f = tmp_path / "units" / Path(path).name
        assert f.read_text() == text
        assert stat.S_IMODE(f.stat().st_mode) == 0o644
    (tmp_path / "units/docker.service").write_text("changed by hand\n")
    assert bash(code, tmp_path).stdout.strip() == "units_changed=1"


def test_config_writes_exactly_the_rendered_daemon_json(tmp_path: Path) -> None:
    s = settings("docker.insecure_registries=[reg.local:5000],docker.registry_mirrors=[https://m.example]")
    st = steps(s)["docker-config"]
    heredoc = between(st.script, "if kk_put /etc/docker/daemon.json 0644 <<'KK_JSON_EOF'", "KK_JSON_EOF")
    heredoc = heredoc.replace("if kk_put /etc/docker/daemon.json 0644", 'if kk_put "$T/etc/docker/daemon.json" 0644')
    assert "/etc/docker/daemon.json" not in heredoc.replace("$T/etc/docker/daemon.json", "")
    code = f"set -euo pipefail\n{helpers(st.script)}\n{heredoc}then echo changed; else echo unchanged; fi\n"
    assert bash(code, tmp_path).stdout.strip() == "changed"
    assert bash(code, tmp_path).stdout.strip() == "unchanged"
    assert (tmp_path / "etc/docker/daemon.json").read_text() == st.files["/etc/docker/daemon.json"]


def test_config_restarts_docker_only_when_changed() -> None:
    body = steps()["docker-config"].script.split(HELPERS_END)[1]
    changed, unchanged = body.index("if kk_put /etc/docker/daemon.json"), body.index('kk_log "daemon.json unchanged"')
    assert changed < body.index("systemctl restart docker") < unchanged
    assert 'cp -p /etc/docker/daemon.json "$STATE/daemon.json.orig"' in body  # the original is kept for destroy


def test_unconfig_restores_the_original() -> None:
    delete = steps()["docker-config"].delete
    assert delete is not None
    assert '[ -f "$STATE/daemon.json.managed" ] || exit 0' in delete
    assert 'mv -f "$STATE/daemon.json.orig" /etc/docker/daemon.json' in delete


@pytest.mark.parametrize(("reported", "linked", "skipped"), [
    ("v2.20.3", True, True),
    ("2.20.3", True, True),
    ("v2.20.2", True, False),
    ("v2.20.3", False, False),
    (None, False, False),
])
def test_compose_install_skips_when_up_to_date(tmp_path: Path, reported: str | None, linked: bool,
                                               skipped: bool) -> None:
    script = steps()["compose-install"].script
    plugin = tmp_path / "plugin/docker-compose"
    plugin.parent.mkdir()
    if reported is not None:
        plugin.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'version --short' ] && echo {reported}\n")
        plugin.chmod(0o755)
    if linked:
        (tmp_path / "docker-compose").symlink_to(plugin)
    snippet = between(script, 'current=$("$PLUGIN"', "fi").replace("/usr/local/bin/docker-compose",
                                                                     "$T/docker-compose")
    assert "/usr/local" not in snippet
    code = (f'set -euo pipefail\n{helpers(script)}\nVERSION=v2.20.3\nPLUGIN="$T/plugin/docker-compose"\n{snippet}'
            "echo CONTINUE\n")
    r = bash(code, tmp_path)
    assert r.returncode == 0, r.stderr
    assert ("CONTINUE" not in r.stdout) is skipped
    assert ("docker compose v2.20.3 already installed" in r.stderr) is skipped


@pytest.mark.parametrize(("plugin", "ok"), [
    ("#!/bin/sh\necho v2.20.3\n", True),
    ("#!/bin/sh\necho v2.19.0\n", False),
    ("#!/bin/sh\necho 'cannot execute binary file: Exec format error' >&2; exit 126\n", False),
])
def test_compose_checks_the_installed_binary(tmp_path: Path, plugin: str, ok: bool) -> None:
    script = steps()["compose-install"].script
    stub = tmp_path / "docker-compose"
    stub.write_text(plugin)
    stub.chmod(0o755)
    snippet = between(script, "got=$(", "[ ")
    code = f'set -euo pipefail\n{helpers(script)}\nVERSION=v2.20.3\nPLUGIN="$T/docker-compose"\n{snippet}echo OK\n'
    r = bash(code, tmp_path)
    assert (r.returncode == 0 and r.stdout == "OK\n") is ok, r.stderr
    if "Exec format" in plugin:
        assert "does not run on" in r.stderr and "Exec format error; is the artifact for this arch?" in r.stderr
    elif not ok:
        assert "installed compose reports v2.19.0, expected v2.20.3" in r.stderr


def test_compose_installs_as_plugin_and_command() -> None:
    body = steps()["compose-install"].script.split(HELPERS_END)[1]
    assert 'install -D -m 0755 "$SRC" "$PLUGIN"' in body
    assert 'ln -sfn "$PLUGIN" /usr/local/bin/docker-compose' in body
    assert "PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose" in body


# --- uninstall ---------------------------------------------------------------------------------------------------


def test_uninstall_keeps_data_root_by_default() -> None:
    delete = steps(settings("docker.data_root=/data/docker"))["docker-install"].delete
    assert delete is not None
    assert "keeps /data/docker" in delete
    assert "/data/docker" not in delete.split("\n", 2)[2]
    assert "rm -rf" not in delete.split(HELPERS_END)[1]
    assert "/var/lib/containerd" not in delete


def test_uninstall_with_delete_data_removes_data_root() -> None:
    delete = steps(settings("docker.data_root=/data/docker"), delete_data=True)["docker-install"].delete
    assert delete is not None
    assert "removes /data/docker" in delete
    assert "rm -rf /data/docker /var/lib/containerd" in delete


def test_uninstall_only_removes_what_pulumi_kk_installed() -> None:
    delete = steps()["docker-install"].delete
    assert delete is not None
    body = delete.split(HELPERS_END)[1]
    guard = body.index('if [ ! -f "$STATE/docker.files" ]; then')
    assert guard < body.index("exit 0") < body.index("systemctl disable")
    assert 'xargs -r rm -f < "$STATE/docker.files"' in body
    for unit in ("containerd.service", "docker.socket", "docker.service"):
        assert f"rm -f /etc/systemd/system/{unit}" in body


def test_compose_uninstall_guarded_by_state() -> None:
    delete = steps()["compose-install"].delete
    assert delete is not None
    body = delete.split(HELPERS_END)[1]
    assert body.index('[ -f "$STATE/compose.version" ] || exit 0') < body.index("rm -f")


# --- the shell helpers, run for real -----------------------------------------------------------------------------


@pytest.fixture
def lib() -> str:
    return "set -euo pipefail\n" + helpers(steps()["docker-config"].script) + "\n"


def test_kk_put_changed_then_unchanged(tmp_path: Path, lib: str) -> None:
    code = lib + 'if kk_put "$T/etc/app/conf.json" 0640; then echo changed; else echo unchanged; fi\n'
    assert bash(code, tmp_path, stdin='{"a": 1}\n').stdout == "changed\n"  # parent directory created
    f = tmp_path / "etc/app/conf.json"
    assert f.read_text() == '{"a": 1}\n'
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    mtime = f.stat().st_mtime_ns
    assert bash(code, tmp_path, stdin='{"a": 1}\n').stdout == "unchanged\n"
    assert f.stat().st_mtime_ns == mtime  # untouched
    assert bash(code, tmp_path, stdin='{"a": 2}\n').stdout == "changed\n"
    assert f.read_text() == '{"a": 2}\n'
    assert sorted(p.name for p in f.parent.iterdir()) == ["conf.json"]  # no temp files left behind


def test_kk_put_status_under_set_e(tmp_path: Path, lib: str) -> None:
    code = lib + 'kk_put "$T/f" 0600 && echo "changed" || echo "unchanged"\necho done\n'
    assert bash(code, tmp_path, stdin="x").stdout == "changed\ndone\n"
    assert bash(code, tmp_path, stdin="x").stdout == "unchanged\ndone\n"
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_kk_verify(tmp_path: Path, lib: str) -> None:
    (tmp_path / "art.tgz").write_bytes(b"artifact")
    good = hashlib.sha256(b"artifact").hexdigest()
    assert bash(lib + f'kk_verify "$T/art.tgz" {good}\n', tmp_path).returncode == 0
    assert bash(lib + 'kk_verify "$T/art.tgz" ""\n', tmp_path).returncode == 0
    assert bash(lib + 'kk_verify "$T/art.tgz"\n', tmp_path).returncode == 0
    bad = bash(lib + f'kk_verify "$T/art.tgz" {"0" * 64}\n', tmp_path)
    assert bad.returncode == 1
    assert f"[pulumi-kk docker-config] ERROR: {tmp_path}/art.tgz has the wrong sha256 (expected {'0' * 64})" in bad.stderr
    missing = bash(lib + 'kk_verify "$T/none.tgz" ""\n', tmp_path)
    assert missing.returncode == 1
    assert f"{tmp_path}/none.tgz is missing on " in missing.stderr


def test_kk_fetch_downloads_once(tmp_path: Path, lib: str) -> None:
    src = tmp_path / "upstream/docker-24.0.7.tgz"
    src.parent.mkdir()
    src.write_bytes(b"tarball")
    good = hashlib.sha256(b"tarball").hexdigest()
    dest = tmp_path / "opt/artifacts/docker.tgz"
    code = lib + f'kk_fetch "file://$T/upstream/docker-24.0.7.tgz" "$T/opt/artifacts/docker.tgz" {good}\n'

    first = bash(code, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "downloading file://" in first.stderr
    assert dest.read_bytes() == b"tarball"
    assert not Path(f"{dest}.part").exists()

    src.unlink()  # a second run must not download again
    second = bash(code, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "downloading" not in second.stderr

    dest.write_bytes(b"corrupt")  # wrong content: fetched again
    src.write_bytes(b"tarball")
    third = bash(code, tmp_path)
    assert third.returncode == 0 and "downloading" in third.stderr
    assert dest.read_bytes() == b"tarball"


def test_kk_fetch_without_checksum_keeps_an_existing_file(tmp_path: Path, lib: str) -> None:
    (tmp_path / "have.bin").write_bytes(b"old")
    r = bash(lib + 'kk_fetch "file://$T/missing" "$T/have.bin" ""\n', tmp_path)
    assert r.returncode == 0 and "downloading" not in r.stderr
    assert (tmp_path / "have.bin").read_bytes() == b"old"


def test_kk_fetch_wrong_checksum_fails(tmp_path: Path, lib: str) -> None:
    (tmp_path / "src").write_bytes(b"evil")
    r = bash(lib + f'kk_fetch "file://$T/src" "$T/dest" {"1" * 64}\n', tmp_path)
    assert r.returncode == 1
    assert "has the wrong sha256" in r.stderr


def test_kk_fetch_failed_download(tmp_path: Path, lib: str) -> None:
    r = bash(lib + 'kk_fetch "file://$T/nothing-here" "$T/dest" ""\n', tmp_path)
    assert r.returncode == 1
    assert f"download of file://{tmp_path}/nothing-here failed; place the file in binary_dir" in r.stderr
    assert not (tmp_path / "dest").exists()


def test_kk_wait_and_kk_need(tmp_path: Path, lib: str) -> None:
    assert bash(lib + 'kk_wait 3 "true" true\n', tmp_path).returncode == 0
    assert bash(lib + 'kk_wait 0 "never" true || echo gave-up\n', tmp_path).stdout == "gave-up\n"
    assert bash(lib + "kk_need bash sh\n", tmp_path).returncode == 0
    r = bash(lib + "kk_need bash no-such-command-kk\n", tmp_path)
    assert r.returncode == 1
    assert "command 'no-such-command-kk' is missing on " in r.stderr


# --- render() and the sh filter ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "quoted"), [("24.0.7", "24.0.7"), ("a b", "'a b'"), ("it's", "'it'\"'\"'s'"),
                                               ("", "''"), ("$HOME", "'$HOME'"), (5000, "5000")])
def test_sh_quote(value: object, quoted: str, tmp_path: Path) -> None:
    assert sh_quote(value) == quoted
    assert bash(f"printf %s {quoted}", tmp_path).stdout == str(value)


def test_render_refuses_missing_values() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("docker/config.sh.j2", step="x")
