"""The repo's own Pulumi program (``__main__.py`` → ``pulumi_kk.stack.program``) under mocks, configured the way
``pulumi config set`` does: ``pulumi-kk:inventory``, ``pulumi-kk:set``, ``pulumi-kk:settings``."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import mockkit
import pulumi
import pytest

from pulumi_kk.errors import KKError
from pulumi_kk.stack import program

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "__main__.py"
LOCALHOST = ROOT / "examples" / "inventory" / "localhost.yaml"
STEPS = {"precheck", "docker-config", "docker-install", "docker-install-upload-docker", "compose-install",
         "compose-install-upload-dockercompose"}


def run_main() -> None:
    runpy.run_path(str(MAIN), run_name="__main__")


def test_main_on_the_localhost_example_uses_the_local_connector(binary_dir: Path) -> None:
    g = mockkit.run(run_main, config={"pulumi-kk:inventory": str(LOCALHOST),
                                      "pulumi-kk:set": f"binary_dir={binary_dir}"})
    assert {r.name for r in g.custom()} == {f"registry-localhost-{s}" for s in STEPS}
    assert {r.type for r in g.custom()} == {mockkit.LOCAL_COMMAND}  # no SSH anywhere
    for r in g.custom():
        assert "connection" not in r.inputs, r.name
    tgz = binary_dir / "docker/24.0.7/amd64/docker-24.0.7.tgz"
    assert g["registry-localhost-docker-install-upload-docker"].get("create").startswith(f"install -D -m 0644 '{tgz}'")
    assert g.deps("registry-localhost-docker-install", "explicit") == {
        "registry-localhost-precheck", "registry-localhost-docker-config",
        "registry-localhost-docker-install-upload-docker"}
    assert g["registry-localhost-docker"].parent == g["registry"].urn
    assert g.exports["nodes"] == ["localhost"]
    assert g.exports["versions"] == {"localhost": {"docker": "24.0.7", "compose": "v2.20.3"}}
    assert isinstance(g.exports["password"], mockkit.Secret)


def test_set_as_a_list_and_settings_object(binary_dir: Path) -> None:
    mockkit.fake_binary_dir(binary_dir, {"docker": ["25.0.5"]})
    g = mockkit.run(program, config={
        "pulumi-kk:inventory": str(LOCALHOST),
        "pulumi-kk:set": json.dumps([f"binary_dir={binary_dir}", "docker_version=25.0.5"]),
        "pulumi-kk:settings": json.dumps({"docker": {"insecure_registries": ["10.0.0.50:5000"]}}),
    })
    assert "install Docker 25.0.5 (amd64)" in g["registry-localhost-docker-install"].get("create")
    assert "10.0.0.50:5000" in g["registry-localhost-docker-config"].get("create")
    assert g.exports["versions"]["localhost"]["docker"] == "25.0.5"


def test_program_is_stable_between_runs(binary_dir: Path) -> None:
    config = {"pulumi-kk:inventory": str(LOCALHOST), "pulumi-kk:set": f"binary_dir={binary_dir}"}
    assert mockkit.diff(mockkit.run(run_main, config=config), mockkit.run(run_main, config=config)) == {}


@pytest.mark.parametrize(("config", "match"), [
    ({"pulumi-kk:set": "docker_verison=25.0.5"}, "did you mean 'docker_version'"),
    ({"pulumi-kk:set": "docker_version=latest"}, "'latest' is not a version"),
    ({"pulumi-kk:set": "image_registry.type=quay"}, "unknown type 'quay'"),
    ({"pulumi-kk:settings": json.dumps({"image_registry": {"ha_vip": "not-an-ip"}})}, "is not an IP address"),
    ({"pulumi-kk:inventory": "/nonexistent/inventory.yaml"}, "inventory.yaml"),
])
def test_bad_input_raises_before_any_resource(binary_dir: Path, config: dict[str, str], match: str) -> None:
    rec = mockkit.Recorder(config={"pulumi-kk:inventory": str(LOCALHOST), **config})
    with pytest.raises(KKError, match=match):
        rec.run(run_main)
    assert len(rec.graph) == 0  # not even the ImageRegistry component


def test_missing_inventory_config_is_a_config_error() -> None:
    rec = mockkit.Recorder(config={"pulumi-kk:set": "docker_version=24.0.7"})
    with pytest.raises(pulumi.ConfigMissingError, match="pulumi-kk:inventory"):
        rec.run(run_main)
    assert len(rec.graph) == 0


def test_config_does_not_leak_between_runs(binary_dir: Path) -> None:
    mockkit.run(run_main, config={"pulumi-kk:inventory": str(LOCALHOST), "pulumi-kk:set": f"binary_dir={binary_dir}"})
    with pytest.raises(pulumi.ConfigMissingError):
        mockkit.run(run_main)
