"""Merging the settings sources (defaults < inventory vars < config file < Pulumi config < --set) into the model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pulumi_kk.errors import KKError
from pulumi_kk.settings import Layer, Settings, build, deep_merge, redacted, to_dict
from pulumi_kk.settings.load import merge_layers, origin
from pulumi_kk.sources import load_sources

DATA = Path(__file__).resolve().parents[1] / "data"

INVENTORY = """\
apiVersion: kubekey.kubesphere.io/v1
kind: Inventory
spec:
  hosts:
    node1: {connector: {host: 10.0.0.1}}
  groups:
    image_registry: {hosts: [node1]}
  vars:
    docker_version: 20.10.1
    dockercompose_version: v2.1.0
    harbor_version: v2.1.0
    registry_version: 2.1.0
    image_registry:
      auth:
        username: from-inventory
        registry: reg.from-inventory
    docker:
      log_driver: journald
"""

CONFIG = """\
apiVersion: kubekey.kubesphere.io/v1
kind: Config
spec:
  docker_version: 20.10.2
  dockercompose_version: v2.2.0
  harbor_version: v2.2.0
  image_registry:
    auth:
      username: from-config
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --- merge order, with the real loader -------------------------------------------------------------------------


def test_each_source_overrides_the_one_before(tmp_path: Path) -> None:
    inv = write(tmp_path, "inventory.yaml", INVENTORY)
    cfg = write(tmp_path, "config.yaml", CONFIG)
    pulumi_cfg = {"docker_version": "20.10.3", "dockercompose_version": "v2.3.0"}
    src = load_sources(inv, [cfg], pulumi_cfg, ["docker_version=20.10.4"])
    s = src.settings

    assert s.docker_version == "20.10.4"  # set everywhere: --set wins
    assert s.dockercompose_version == "v2.3.0"  # inventory, config, Pulumi config: Pulumi config wins
    assert s.harbor_version == "v2.2.0"  # inventory, config: config wins
    assert s.registry_version == "2.1.0"  # inventory only
    assert s.keepalived_version == Settings().keepalived_version  # nowhere: default
    # mappings merge key by key across sources
    assert s.image_registry.auth.username == "from-config"
    assert s.image_registry.auth.registry == "reg.from-inventory"
    assert s.docker.log_driver == "journald"
    assert [layer.source for layer in src.layers] == [
        f"{inv} (spec.vars)", str(cfg), "Pulumi config (pulumi-kk:settings)", "--set"]


@pytest.mark.parametrize(("config_files", "pulumi_cfg", "sets", "expected"), [
    ([], None, [], "20.10.1"),
    (["config.yaml"], None, [], "20.10.2"),
    (["config.yaml"], {"docker_version": "20.10.3"}, [], "20.10.3"),
    ([], {"docker_version": "20.10.3"}, ["docker_version=20.10.4"], "20.10.4"),
    (["config.yaml"], {"docker_version": "20.10.3"}, ["docker_version=20.10.4"], "20.10.4"),
])
def test_merge_order_layer_by_layer(tmp_path: Path, config_files: list[str], pulumi_cfg: dict[str, Any] | None,
                                    sets: list[str], expected: str) -> None:
    inv = write(tmp_path, "inventory.yaml", INVENTORY)
    write(tmp_path, "config.yaml", CONFIG)
    s = load_sources(inv, [tmp_path / c for c in config_files], pulumi_cfg, sets).settings
    assert s.docker_version == expected


def test_several_config_files_later_wins(tmp_path: Path) -> None:
    inv = write(tmp_path, "inventory.yaml", INVENTORY)
    a = write(tmp_path, "a.yaml", CONFIG)
    b = write(tmp_path, "b.yaml", CONFIG.replace("20.10.2", "20.10.9"))
    assert load_sources(inv, [a, b]).settings.docker_version == "20.10.9"
    assert load_sources(inv, [b, a]).settings.docker_version == "20.10.2"


def test_defaults_when_nothing_is_set() -> None:
    s = load_sources(DATA / "inventory-install-registry.yaml").settings
    d = Settings()
    assert s == d
    assert s.work_dir == "/root/kubekey"
    assert s.resolved_binary_dir == "/root/kubekey/kubekey"
    assert s.image_registry.type == "harbor"
    assert s.image_registry.auth.password == ""
    assert s.docker.log_opts == {"max-size": "100m", "max-file": "5"}
    assert s.artifact.online is True


def test_binary_dir_follows_work_dir() -> None:
    assert build([Layer({"work_dir": "/data/kk/"}, "x")]).resolved_binary_dir == "/data/kk/kubekey"
    assert build([Layer({"work_dir": "/data/kk", "binary_dir": "/bin-dir"}, "x")]).resolved_binary_dir == "/bin-dir"


def test_config_file_with_kubekey_docs_config(tmp_path: Path) -> None:
    s = load_sources(DATA / "inventory-install-registry.yaml", [DATA / "config.yaml"]).settings
    assert s.harbor_version == "v2.10.2"
    assert s.image_registry.auth.username == "robot"
    assert s.docker.registry_mirrors == ["https://mirror.example.internal"]


def test_pulumi_config_layer_uses_kubekey_names() -> None:
    s = load_sources(DATA / "inventory-install-registry.yaml", [],
                     {"image_registry": {"type": "docker-registry"}, "cri": {"docker_version": "25.0.5"}}).settings
    assert s.image_registry.type == "registry"
    assert s.docker_version == "25.0.5"


# --- strict and lenient layers -----------------------------------------------------------------------------------


def test_inventory_and_config_vars_for_other_roles_are_ignored() -> None:
    s = build([Layer({"kubernetes": {"kube_version": "v1.33.1"}, "etcd": {"x": 1},
                      "cri": {"container_manager": "docker", "docker_version": "25.0.5"}}, "inv", strict=False)])
    assert s.docker_version == "25.0.5"


def test_close_typo_in_a_lenient_layer_is_an_error() -> None:
    with pytest.raises(KKError, match=r"inv: harbor_versio: unknown setting \(did you mean 'harbor_version'\?\)"):
        build([Layer({"harbor_versio": "v2.10.1"}, "inv", strict=False)])


@pytest.mark.parametrize("source", ["--set", "Pulumi config (pulumi-kk:settings)"])
def test_strict_layers_reject_unknown_keys(source: str) -> None:
    with pytest.raises(KKError, match=f"^{re.escape(source)}: kubernetes: unknown setting"):
        build([Layer({"kubernetes": {"kube_version": "v1.33.1"}}, source)])


def test_error_names_the_layer_that_carries_the_bad_value(tmp_path: Path) -> None:
    inv = write(tmp_path, "inventory.yaml", INVENTORY)
    cfg = write(tmp_path, "config.yaml", CONFIG + "  precheck:\n    min_cpus: lots\n")
    with pytest.raises(KKError) as e:
        load_sources(inv, [cfg], None, ["docker_version=24.0.7"])
    assert str(e.value).startswith(f"{cfg}: precheck.min_cpus: must be a whole number, got 'lots'")


def test_cross_field_error_names_the_layer_that_set_the_key(tmp_path: Path) -> None:
    inv = write(tmp_path, "inventory.yaml", INVENTORY.replace("      auth:\n", "      ha_vip: 10.0.0.999\n      auth:\n"))
    with pytest.raises(KKError) as e:
        load_sources(inv, [], None, ["zone=cn"])
    assert str(e.value).startswith(f"{inv} (spec.vars): image_registry.ha_vip: '10.0.0.999' is not an IP address")


def test_later_source_can_repair_an_earlier_bad_cross_field_value(tmp_path: Path) -> None:
    inv = write(tmp_path, "inventory.yaml", INVENTORY.replace("      auth:\n", "      ha_vip: nope\n      auth:\n"))
    s = load_sources(inv, [], None, ["image_registry.ha_vip=10.0.0.50"]).settings
    assert s.image_registry.ha_vip == "10.0.0.50"


# --- types -------------------------------------------------------------------------------------------------------


def test_yaml_versions_that_look_like_floats_stay_text(tmp_path: Path) -> None:
    inv = write(tmp_path, "inventory.yaml", INVENTORY.replace("registry_version: 2.1.0", "registry_version: 2.10"))
    assert load_sources(inv).settings.registry_version == "2.10"


def test_numbers_and_bools_from_text() -> None:
    s = build([Layer({"precheck": {"min_cpus": "4", "as_warnings": "yes", "min_disk_gb": "50.5"},
                      "image_registry": {"auth": {"plain_http": "false"}, "http_port": "8080"}}, "x")])
    assert s.precheck.min_cpus == 4
    assert s.precheck.as_warnings is True
    assert s.precheck.min_disk_gb == 50.5
    assert s.image_registry.auth.plain_http is False
    assert s.image_registry.http_port == 8080


def test_optional_fields_accept_empty_and_null() -> None:
    s = build([Layer({"image_registry": {"http_port": "", "registry": {"port": None}}}, "x")])
    assert s.image_registry.http_port is None
    assert s.image_registry.registry.port is None


def test_log_opts_values_are_strings_for_docker() -> None:
    # dockerd refuses numbers in log-opts; `--set docker.log_opts.max-file=3` parses 3 as an int
    s = build([Layer({"docker": {"log_opts": {"max-file": 3, "compress": True}}}, "--set")])
    assert s.docker.log_opts == {"max-file": "3", "compress": "true"}


def test_artifact_tables_hold_text() -> None:
    s = build([Layer({"artifact": {"sha256": {"docker": {"amd64": 123}}}}, "x")])
    assert s.artifact.sha256 == {"docker": {"amd64": "123"}}


def test_free_form_mappings_are_kept_as_given() -> None:
    s = build([Layer({"docker": {"daemon": {"max-concurrent-downloads": 10, "features": {"buildkit": True}}}}, "x")])
    assert s.docker.daemon == {"max-concurrent-downloads": 10, "features": {"buildkit": True}}


def test_single_value_for_a_section_is_an_error() -> None:
    with pytest.raises(KKError, match=r"x: image_registry\.auth: must be a mapping, got 'admin'"):
        build([Layer({"image_registry": {"auth": "admin"}}, "x")])


def test_list_for_a_text_setting_is_an_error() -> None:
    with pytest.raises(KKError, match=r"x: zone: must be a single value, got \['a'\]"):
        build([Layer({"zone": ["a"]}, "x")])


def test_bool_is_not_a_number() -> None:
    with pytest.raises(KKError, match=r"x: precheck\.min_cpus: must be a whole number, got True"):
        build([Layer({"precheck": {"min_cpus": True}}, "x")])


@pytest.mark.parametrize("version", ["24.0.7", "v2.10.1", "2.10", "25.0.5-rc.1", "2.3.4+build", "v1.2.3.4"])
def test_accepted_versions(version: str) -> None:
    assert build([Layer({"docker_version": version}, "x")]).docker_version == version


@pytest.mark.parametrize("version", ["latest", "24", "v", "24.0.7 ", "24..0", "1.2.3.4.5"])
def test_rejected_versions(version: str) -> None:
    with pytest.raises(KKError, match=r"docker_version: .* is not a version"):
        build([Layer({"docker_version": version}, "x")])


def test_empty_version_must_be_set() -> None:
    with pytest.raises(KKError, match=r"x: harbor_version: must be set\. Fix: set harbor_version"):
        build([Layer({"harbor_version": ""}, "x")])


@pytest.mark.parametrize("key", ["http_port", "https_port"])
def test_port_range(key: str) -> None:
    assert getattr(build([Layer({"image_registry": {key: 65535}}, "x")]).image_registry, key) == 65535
    with pytest.raises(KKError, match=f"image_registry.{key}: port 65536 is not a TCP port"):
        build([Layer({"image_registry": {key: 65536}}, "x")])


def test_ipv6_vip_is_accepted() -> None:
    assert build([Layer({"image_registry": {"ha_vip": "fd00::50"}}, "x")]).image_registry.ha_vip == "fd00::50"


@pytest.mark.parametrize("vrid", [1, 255])
def test_vrid_bounds(vrid: int) -> None:
    assert build([Layer({"image_registry": {"keepalived": {"vrid": vrid}}}, "x")]).image_registry.keepalived.vrid == vrid


def test_one_storage_driver() -> None:
    azure = {"container": "c", "accountname": "acct", "accountkey": "a2V5"}
    s = build([Layer({"image_registry": {"registry": {"storage": {"azure": azure}}}}, "x")])
    assert s.image_registry.registry.storage.drivers == ["azure"]
    assert s.image_registry.registry.storage.driver == "azure"
    assert Settings().image_registry.registry.storage.driver == "filesystem"


# --- helpers -----------------------------------------------------------------------------------------------------


def test_deep_merge_does_not_mutate() -> None:
    base: dict[str, Any] = {"a": {"b": 1, "c": [1]}, "d": 1}
    over: dict[str, Any] = {"a": {"b": 2}, "e": {"f": 1}}
    out = deep_merge(base, over)
    assert out == {"a": {"b": 2, "c": [1]}, "d": 1, "e": {"f": 1}}
    out["a"]["c"].append(2)
    out["e"]["f"] = 9
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}
    assert over == {"a": {"b": 2}, "e": {"f": 1}}


def test_deep_merge_replaces_non_mappings() -> None:
    assert deep_merge({"a": {"b": 1}}, {"a": 5}) == {"a": 5}
    assert deep_merge({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}


def test_merge_layers_normalizes_each_layer() -> None:
    merged = merge_layers([Layer({"registry_version": "2.7.0"}, "a"),
                           Layer({"image_registry": {"docker_registry_version": "2.8.3"}}, "b")])
    assert merged == {"registry_version": "2.8.3"}


def test_origin() -> None:
    layers = [Layer({"image_registry": {"type": "harbor"}}, "inv"), Layer({"docker_registry_version": "2.8.3"}, "set")]
    assert origin(layers, "image_registry.type") == "inv"
    assert origin(layers, "registry_version") == "set"  # through the alias
    assert origin(layers, "zone") == "defaults"


def test_redacted_hides_secrets_only() -> None:
    s = build([Layer({"image_registry": {"auth": {"password": "p4ss"}, "registry": {"storage": {
        "s3": {"bucket": "b", "accesskey": "AK", "secretkey": "SK"}}}}}, "x")])
    r = redacted(s)
    assert r["image_registry"]["auth"]["password"] == "[secret]"
    assert r["image_registry"]["registry"]["storage"]["s3"]["secretkey"] == "[secret]"
    assert r["image_registry"]["registry"]["storage"]["s3"]["accesskey"] == "AK"
    assert r["image_registry"]["registry"]["storage"]["azure"]["accountkey"] == ""  # empty stays empty
    assert r["binary_dir"] == "/root/kubekey/kubekey"
    assert "p4ss" not in repr(r)
    assert "'SK'" not in repr(r)


def test_redacted_gcs_credentials() -> None:
    s = build([Layer({"image_registry": {"registry": {"storage": {
        "gcs": {"bucket": "b", "credentials": {"type": "service_account", "private_key": "PK"}}}}}}, "x")])
    assert redacted(s)["image_registry"]["registry"]["storage"]["gcs"]["credentials"] == "[secret]"
    assert to_dict(s)["image_registry"]["registry"]["storage"]["gcs"]["credentials"]["private_key"] == "PK"


def test_registry_group_required(tmp_path: Path) -> None:
    inv = write(tmp_path, "inv.yaml", "apiVersion: kubekey.kubesphere.io/v1\nkind: Inventory\nspec:\n"
                                      "  hosts:\n    a: {connector: {host: h}}\n")
    with pytest.raises(KKError, match="image_registry group is empty or missing"):
        load_sources(inv)
    assert load_sources(inv, require_registry_group=False).inventory.hosts["a"].address == "h"
