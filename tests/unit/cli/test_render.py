"""``pulumi-kk render registry``: the seed command, plan.json, redaction, exit codes; in-process and as the
installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pulumi_kk.cli.main import EXIT_BAD_INPUT, EXIT_OK, main

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests/unit/data"
EXAMPLE = REPO / "examples/inventory/localhost.yaml"
SEED_SET = "harbor_version=v2.10.1,docker_version=24.0.7,dockercompose_version=v2.20.3"
CONSOLE_SCRIPT = Path(sys.executable).parent / "pulumi-kk"
DOCKER_STEPS = ["docker-config", "docker-install", "compose-install"]


def render(tmp_path: Path, *args: str, inventory: Path = EXAMPLE, out: str = "out") -> int:
    # binary_dir inside tmp_path: the test never depends on what the machine has under /root/kubekey
    return main(["render", "registry", "-i", str(inventory), "--set", f"binary_dir={tmp_path / 'kubekey'}",
                 *args, "-o", str(tmp_path / out)])


def plan(tmp_path: Path, out: str = "out") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((tmp_path / out / "plan.json").read_text())
    return doc


def check_step_order(steps: list[dict[str, Any]]) -> None:
    names = [s["name"] for s in steps]
    assert names[:3] == DOCKER_STEPS
    assert len(set(names)) == len(names)
    for i, s in enumerate(steps):
        for dep in s["after"]:
            assert dep in names[:i], f"{s['name']} runs after {dep}, which comes later"


def test_seed_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    rc = main(["render", "registry", "-i", str(EXAMPLE), "--set", SEED_SET, "--set", f"binary_dir={tmp_path}/kk",
               "-o", "out"])
    assert rc == EXIT_OK
    doc = plan(tmp_path)

    assert list(doc["hosts"]) == ["localhost"]
    host = doc["hosts"]["localhost"]
    assert host["connector"]["type"] == "local"
    assert host["connector"]["host"] == "localhost"
    assert host["arch"] == "amd64"
    assert "image_registry" in host["groups"]
    check_step_order(host["steps"])
    assert [s["after"] for s in host["steps"][:3]] == [[], ["docker-config"], ["docker-install"]]

    st = doc["settings"]
    assert (st["harbor_version"], st["docker_version"], st["dockercompose_version"]) == ("v2.10.1", "24.0.7",
                                                                                         "v2.20.3")
    assert doc["groups"]["image_registry"] == ["localhost"]
    assert doc["settings_sources"] == [f"{EXAMPLE} (spec.vars)", "--set"]
    assert doc["inventory"] == str(EXAMPLE)

    steps_dir = tmp_path / "out/localhost/steps"
    for i, name in enumerate(DOCKER_STEPS, 1):
        assert (steps_dir / f"{i:02d}-{name}.sh").read_text().startswith("#!/usr/bin/env bash\n")
        assert (steps_dir / f"{i:02d}-{name}.delete.sh").is_file()
    daemon = json.loads((tmp_path / "out/localhost/files/etc/docker/daemon.json").read_text())
    assert daemon["data-root"] == "/var/lib/docker"
    assert (tmp_path / "out/localhost/files/etc/systemd/system/docker.service").is_file()

    stdout = capsys.readouterr().out
    assert "localhost: " in stdout and "plan: out/plan.json" in stdout


def test_seed_command_exactly_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rc = main(["render", "registry", "-i", str(EXAMPLE), "--set", SEED_SET, "-o", "out"])
    assert rc == EXIT_OK
    assert list(plan(tmp_path)["hosts"]) == ["localhost"]


def test_every_written_script_passes_bash_syntax_check(tmp_path: Path) -> None:
    assert render(tmp_path, "--with-data") == EXIT_OK
    scripts = sorted((tmp_path / "out/localhost/steps").glob("*.sh"))
    assert len(scripts) >= 6
    r = subprocess.run(["bash", "-c", 'for f in "$@"; do bash -n "$f" || exit 1; done', "_", *map(str, scripts)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_with_data_renders_data_removal(tmp_path: Path) -> None:
    assert render(tmp_path, "--set", "docker.data_root=/data/docker", out="keep") == EXIT_OK
    assert render(tmp_path, "--set", "docker.data_root=/data/docker", "--with-data", out="wipe") == EXIT_OK
    keep = (tmp_path / "keep/localhost/steps/02-docker-install.delete.sh").read_text()
    wipe = (tmp_path / "wipe/localhost/steps/02-docker-install.delete.sh").read_text()
    assert "rm -rf /data/docker" not in keep
    assert "rm -rf /data/docker" in wipe


SECRETS = ("S3cret-Registry-Pass-1", "S3cret-Ssh-Pass-2", "TEST-ONLY-PLACEHOLDER-NOT-A-REAL-KEY", "S3cret-S3-Key-3")


def secret_inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(f"""\
apiVersion: kubekey.kubesphere.io/v1
kind: Inventory
spec:
  hosts:
    reg1:
      connector: {{host: 10.0.0.11, password: {SECRETS[1]}, private_key: "-----BEGIN KEY-----\\n{SECRETS[2]}\\n"}}
      internal_ipv4: 10.0.0.11
  groups:
    image_registry: {{hosts: [reg1]}}
  vars:
    image_registry:
      auth: {{password: {SECRETS[0]}}}
""")
    return inv


@pytest.mark.parametrize("registry_type", ["harbor", "registry"])
def test_secrets_never_written(tmp_path: Path, registry_type: str) -> None:
    inv = secret_inventory(tmp_path)
    rc = render(tmp_path, "--set", f"image_registry.type={registry_type}",
                "--set", f"image_registry.auth.password={SECRETS[0]}",
                "--set", f"image_registry.registry.storage.s3.bucket=b,image_registry.registry.storage.s3.secretkey="
                         f"{SECRETS[3]}", inventory=inv)
    assert rc == EXIT_OK
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(written) > 5
    for p in written:
        text = p.read_text()
        for secret in SECRETS:
            assert secret not in text, f"{secret} in {p}"
    doc = plan(tmp_path)
    assert doc["settings"]["image_registry"]["auth"]["password"] == "[secret]"
    assert doc["settings"]["image_registry"]["registry"]["storage"]["s3"]["secretkey"] == "[secret]"
    conn = doc["hosts"]["reg1"]["connector"]
    assert (conn["type"], conn["host"], conn["password"], conn["private_key"]) == ("ssh", "10.0.0.11", "[secret]",
                                                                                   "[secret]")


def test_arch_from_host_var(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("apiVersion: kubekey.kubesphere.io/v1\nkind: Inventory\nspec:\n  hosts:\n"
                   "    a: {internal_ipv4: 10.0.0.1, arch: aarch64}\n  groups:\n    image_registry: {hosts: [a]}\n")
    assert render(tmp_path, inventory=inv) == EXIT_OK
    h = plan(tmp_path)["hosts"]["a"]
    assert (h["arch"], h["arch_from"]) == ("arm64", "host var arch")


def test_arch_from_binary_dir_and_uploads(tmp_path: Path) -> None:
    tgz = tmp_path / "kubekey/docker/24.0.7/arm64/docker-24.0.7.tgz"
    tgz.parent.mkdir(parents=True)
    tgz.write_bytes(b"docker")
    assert render(tmp_path) == EXIT_OK
    h = plan(tmp_path)["hosts"]["localhost"]
    assert (h["arch"], h["arch_from"]) == ("arm64", "only arch with files in binary_dir")
    assert h["artifacts"]["docker"]["path"] == str(tgz)
    assert h["artifacts"]["docker"]["source"] == "binary_dir"
    install = next(s for s in h["steps"] if s["name"] == "docker-install")
    assert [u["name"] for u in install["uploads"]] == ["docker"]


def test_arch_assumed(tmp_path: Path) -> None:
    assert render(tmp_path) == EXIT_OK
    h = plan(tmp_path)["hosts"]["localhost"]
    assert h["arch"] == "amd64" and h["arch_from"].startswith("assumed")


def test_config_file_option(tmp_path: Path) -> None:
    assert render(tmp_path, "-c", str(DATA / "config.yaml")) == EXIT_OK
    doc = plan(tmp_path)
    assert doc["settings"]["harbor_version"] == "v2.10.2"
    assert doc["settings_sources"][1] == str(DATA / "config.yaml")


def test_rendering_twice_gives_the_same_files(tmp_path: Path) -> None:
    assert render(tmp_path, out="a") == EXIT_OK
    assert render(tmp_path, out="b") == EXIT_OK
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        a, b = (tmp_path / "a" / rel).read_text(), (tmp_path / "b" / rel).read_text()
        assert a.replace(str(tmp_path / "a"), "") == b.replace(str(tmp_path / "b"), ""), rel


# --- bad input: exit 2 and the message on stderr ------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "harbor_versoin=v2.10.1"], "error: --set: harbor_versoin: unknown setting (did you mean 'harbor_version'?)"),
    (["--set", "docker_version"], "error: --set: 'docker_version' has no '='"),
    (["--set", "docker_version=latest"], "error: --set: docker_version: 'latest' is not a version."),
    (["-c", str(DATA / "inventory-harbor.yaml")], "kind is 'Inventory', expected 'Config'"),
])
def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert render(tmp_path, *args) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Fix: " in captured.err
    assert captured.out == ""
    assert not (tmp_path / "out/plan.json").exists()


def test_missing_inventory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render(tmp_path, inventory=tmp_path / "nope.yaml") == EXIT_BAD_INPUT
    assert f"error: {tmp_path / 'nope.yaml'}: file not found. Fix: check the path you passed." in capsys.readouterr().err


def test_config_passed_as_inventory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render(tmp_path, inventory=DATA / "config.yaml") == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "kind: kind is 'Config', expected 'Inventory'" in err
    assert "a `kind: Config` file goes to -c" in err


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["render", "registry", "-i", str(EXAMPLE)])  # no -o
    assert e.value.code == 2
    assert "-o/--output" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2


# --- the installed console script --------------------------------------------------------------------------------


def test_console_script(tmp_path: Path) -> None:
    assert CONSOLE_SCRIPT.is_file()
    ok = subprocess.run([str(CONSOLE_SCRIPT), "render", "registry", "-i", str(EXAMPLE), "--set", SEED_SET,
                         "--set", f"binary_dir={tmp_path}/kk", "-o", "out"],
                        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "plan: out/plan.json" in ok.stdout
    doc = plan(tmp_path)
    assert doc["hosts"]["localhost"]["connector"]["type"] == "local"
    check_step_order(doc["hosts"]["localhost"]["steps"])

    bad = subprocess.run([str(CONSOLE_SCRIPT), "render", "registry", "-i", str(EXAMPLE), "--set", "a=[b",
                          "-o", "bad"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --set: unbalanced '[' in 'a=[b'.")
    assert not (tmp_path / "bad").exists()
