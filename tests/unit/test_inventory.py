"""KubeKey Inventory parsing: the docs' inventories as written, connectors, keys, nested groups, Config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulumi_kk.errors import KKError
from pulumi_kk.inventory import (
    IMAGE_REGISTRY,
    Host,
    Inventory,
    host_names,
    load_config,
    load_inventory,
    load_inventory_text,
    parse_inventory,
)
from pulumi_kk.sources import load_sources

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
HEAD = "apiVersion: kubekey.kubesphere.io/v1\nkind: Inventory\nspec:\n"


# --- (a) "Install Registry": empty spec.hosts, groups naming localhost -------------------------------------------


@pytest.mark.parametrize("path", [DATA / "inventory-install-registry.yaml", REPO / "examples/inventory/localhost.yaml"],
                         ids=["docs", "example"])
def test_install_registry_inventory_gives_implicit_local_localhost(path: Path) -> None:
    inv = load_inventory(path)

    assert list(inv.hosts) == ["localhost"]
    h = inv.hosts["localhost"]
    assert h.connector == "local"
    assert h.is_local
    assert h.address == "localhost"
    assert h.port == 22 and h.user == "root"
    assert h.password is None and h.private_key is None
    assert inv.groups == {
        "k8s_cluster": ("localhost",),  # two nested groups, both localhost: listed once
        "kube_control_plane": ("localhost",),
        "kube_worker": ("localhost",),
        "etcd": ("localhost",),
        "image_registry": ("localhost",),
    }
    assert inv.group(IMAGE_REGISTRY) == [h]
    assert inv.group("nfs") == []  # commented out in the docs
    assert inv.vars == {}
    assert inv.source == str(path)


def test_example_inventory_is_the_docs_inventory() -> None:
    docs = load_inventory(DATA / "inventory-install-registry.yaml")
    example = load_inventory(REPO / "examples/inventory/localhost.yaml")
    assert docs.hosts == example.hosts
    assert docs.groups == example.groups


# --- (b) "Install Harbor": misspelt `connetor:` kept as a host var, address from internal_ipv4 -------------------


def test_harbor_inventory_with_misspelt_connetor_loads() -> None:
    inv = load_inventory(DATA / "inventory-harbor.yaml")

    assert list(inv.hosts) == ["harbor1"]
    h = inv.hosts["harbor1"]
    assert h.connector == "ssh"
    assert h.address == "172.16.66.6"
    assert h.internal_ipv4 == "172.16.66.6"
    assert h.node_ip == "172.16.66.6"
    assert h.vars["connetor"] == {"host": "172.16.66.6"}  # KubeKey keeps unknown host keys as vars
    assert h.port == 22 and h.user == "root"
    assert inv.groups == {"image_registry": ("harbor1",)}
    assert inv.vars["zone"] == "cn"
    assert inv.vars["image_registry"]["auth"] == {"registry": "dockerhub.kubekey.local", "password": "Harbor12345"}


def test_harbor_inventory_vars_become_settings() -> None:
    src = load_sources(DATA / "inventory-harbor.yaml")
    s = src.settings
    assert s.zone == "cn"
    assert s.image_registry.type == "harbor"
    assert s.image_registry.auth.registry == "dockerhub.kubekey.local"
    assert s.image_registry.auth.password == "Harbor12345"
    assert s.image_registry.auth.plain_http is False


# --- (c) HA: two ssh hosts, key as a path (relative to the inventory) and inline, nested groups, vars ------------


def test_ha_inventory_hosts_and_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # the key path is relative to the inventory file, not to the working directory
    inv = load_inventory(DATA / "inventory-ha.yaml")

    assert host_names(inv.hosts.values()) == ["node1", "node2"]
    n1, n2 = inv.hosts["node1"], inv.hosts["node2"]

    assert (n1.connector, n1.address, n1.port, n1.user) == ("ssh", "10.0.0.11", 2222, "kk")
    assert n1.private_key == (DATA / "keys/id_test").read_text()
    assert "PLACEHOLDER-NOT-A-REAL-KEY-node1" in n1.private_key
    assert n1.node_ip == "192.168.10.11"
    assert n1.arch is None

    assert (n2.connector, n2.address, n2.port, n2.user) == ("ssh", "node2.example.internal", 22, "root")
    assert n2.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert "PLACEHOLDER-NOT-A-REAL-KEY-node2" in n2.private_key
    assert n2.private_key_password == "unlock-node2"
    assert n2.host_key == "ssh-ed25519 AAAATESTONLY"
    assert n2.arch == "aarch64"
    assert n2.vars["rack"] == "r2"
    assert n2.node_ip == "192.168.10.12"


def test_ha_inventory_nested_groups_resolved_in_order_without_duplicates() -> None:
    inv = load_inventory(DATA / "inventory-ha.yaml")
    assert inv.groups == {
        # own hosts first, then each nested group's hosts in order; a host already listed is skipped
        "everything": ("node2", "node1"),
        "registry_and_storage": ("node1", "node2"),
        "image_registry": ("node1", "node2"),
        "nfs": ("node2", "node1"),
    }
    assert list(inv.groups) == ["everything", "registry_and_storage", "image_registry", "nfs"]  # file order
    assert [h.name for h in inv.group("nfs")] == ["node2", "node1"]


def test_ha_inventory_vars_with_kubekey_names() -> None:
    inv = load_inventory(DATA / "inventory-ha.yaml")
    assert inv.vars["kubernetes"] == {"kube_version": "v1.33.1"}
    s = load_sources(inv).settings
    assert s.image_registry.type == "registry"  # docker-registry
    assert s.image_registry.ha_vip == "192.168.10.50"
    assert s.image_registry.auth.plain_http is True
    assert s.image_registry.registry.storage.filesystem.nfs_mount == "/repository/registry"
    assert s.registry_version == "2.8.3"  # docker_registry_version
    assert s.docker_version == "25.0.5"  # cri.docker_version


def test_deeply_nested_groups() -> None:
    inv = load_inventory_text(HEAD + """\
  hosts:
    a: {internal_ipv4: 10.0.0.1}
    b: {internal_ipv4: 10.0.0.2}
    c: {internal_ipv4: 10.0.0.3}
  groups:
    top: {groups: [mid, leaf2], hosts: [c]}
    mid: {groups: [leaf1]}
    leaf1: {hosts: [b, a]}
    leaf2: {hosts: [a, c, b]}
    empty: {}
""")
    assert inv.groups["top"] == ("c", "b", "a")
    assert inv.groups["mid"] == ("b", "a")
    assert inv.groups["empty"] == ()


def test_host_listed_twice_in_a_group_is_kept_once() -> None:
    inv = load_inventory_text(HEAD + "  hosts:\n    a: {internal_ipv4: 10.0.0.1}\n"
                              "  groups:\n    g: {hosts: [a, a]}\n")
    assert inv.groups["g"] == ("a",)


# --- connectors --------------------------------------------------------------------------------------------------


def test_localhost_defined_with_password_keeps_local_connector() -> None:
    inv = load_inventory_text(HEAD + "  hosts:\n    localhost:\n      connector:\n        password: 123456\n")
    h = inv.hosts["localhost"]
    assert h.connector == "local"
    assert h.password == "123456"  # a number in YAML, text for the connector


def test_localhost_with_a_remote_address_is_ssh() -> None:
    inv = load_inventory_text(HEAD + "  hosts:\n    localhost: {connector: {host: 10.1.1.1}}\n")
    assert inv.hosts["localhost"].connector == "ssh"
    assert inv.hosts["localhost"].address == "10.1.1.1"


def test_loopback_address_is_local() -> None:
    inv = load_inventory_text(HEAD + "  hosts:\n    me: {connector: {host: 127.0.0.1}}\n")
    assert inv.hosts["me"].connector == "local"


def test_implicit_loopback_ip_host() -> None:
    inv = load_inventory_text(HEAD + "  groups:\n    image_registry: {hosts: [127.0.0.1]}\n")
    assert inv.hosts["127.0.0.1"].connector == "local"


def test_explicit_connector_types() -> None:
    inv = load_inventory_text(HEAD + """\
  hosts:
    box: {connector: {type: local}}
    remote: {connector: {type: ssh, host: 10.0.0.9, port: "2200", user: admin, password: pw}}
    v6: {internal_ipv6: "fd00::5"}
""")
    assert inv.hosts["box"].connector == "local" and inv.hosts["box"].address == "localhost"
    r = inv.hosts["remote"]
    assert (r.connector, r.port, r.user, r.password) == ("ssh", 2200, "admin", "pw")
    assert inv.hosts["v6"].address == "fd00::5" and inv.hosts["v6"].node_ip == "fd00::5"


def test_connector_host_wins_over_internal_ip() -> None:
    inv = load_inventory_text(HEAD + "  hosts:\n    n: {connector: {host: 1.1.1.1}, internal_ipv4: 10.0.0.1}\n")
    assert inv.hosts["n"].address == "1.1.1.1"
    assert inv.hosts["n"].node_ip == "10.0.0.1"


def test_key_path_with_tilde(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh/id_rsa").write_text("KEY-TEXT")
    inv = load_inventory_text(HEAD + "  hosts:\n    n: {connector: {host: h, private_key: ~/.ssh/id_rsa}}\n")
    assert inv.hosts["n"].private_key == "KEY-TEXT"


def test_numeric_secrets_become_text() -> None:
    inv = load_inventory_text(HEAD + "  hosts:\n    n: {connector: {host: h, password: 1234, private_key_password: 5678,"
                              " user: 1000}}\n")
    h = inv.hosts["n"]
    assert (h.password, h.private_key_password, h.user) == ("1234", "5678", "1000")


def test_bool_port_is_rejected() -> None:
    with pytest.raises(KKError, match="port True is not a TCP port"):
        load_inventory_text(HEAD + "  hosts:\n    n: {connector: {host: h, port: true}}\n")


def test_parse_inventory_accepts_loaded_documents() -> None:
    doc = {"apiVersion": "kubekey.kubesphere.io/v1", "kind": "Inventory",
           "spec": {"hosts": {"n": {"connector": {"host": "h"}}}, "groups": {"image_registry": {"hosts": ["n"]}}}}
    inv = parse_inventory(doc, "doc")
    assert inv.groups == {"image_registry": ("n",)} and inv.source == "doc"


def test_spec_may_be_absent() -> None:
    inv = load_inventory_text("apiVersion: kubekey.kubesphere.io/v1\nkind: Inventory\n")
    assert inv.hosts == {} and inv.groups == {} and inv.vars == {}


# --- Python-built inventories ------------------------------------------------------------------------------------


def test_from_hosts_defaults_every_host_to_image_registry() -> None:
    inv = Inventory.from_hosts([Host("a", address="10.0.0.1"), Host("b", address="10.0.0.2")], vars={"zone": "cn"})
    assert inv.groups == {"image_registry": ("a", "b")}
    assert inv.vars == {"zone": "cn"}
    assert inv.source == "<python>"


def test_from_hosts_with_groups() -> None:
    inv = Inventory.from_hosts([Host("a"), Host("b")], groups={"image_registry": ["b"], "nfs": ["a"]})
    assert inv.group("image_registry") == [Host("b")]
    assert inv.group("nfs") == [Host("a")]


def test_from_hosts_errors() -> None:
    with pytest.raises(KKError, match="host 'a' is given twice"):
        Inventory.from_hosts([Host("a"), Host("a")])
    with pytest.raises(KKError, match=r"names unknown host 'node3' \(did you mean 'node1'\?\)"):
        Inventory.from_hosts([Host("node1")], groups={"image_registry": ["node3"]})


def test_host_defaults() -> None:
    h = Host("x", address="10.0.0.1")
    assert (h.port, h.user, h.connector, h.is_local) == (22, "root", "ssh", False)
    assert h.node_ip == "10.0.0.1"


# --- kind: Config ------------------------------------------------------------------------------------------------


def test_load_config_returns_spec() -> None:
    spec = load_config(DATA / "config.yaml")
    assert spec["harbor_version"] == "v2.10.2"
    assert spec["image_registry"] == {"auth": {"username": "robot"}}


def test_config_without_spec_is_empty(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("apiVersion: kubekey.kubesphere.io/v1\nkind: Config\n")
    assert load_config(p) == {}


def test_inventory_passed_as_config_is_rejected() -> None:
    with pytest.raises(KKError) as e:
        load_config(DATA / "inventory-harbor.yaml")
    assert "kind is 'Inventory', expected 'Config'" in str(e.value)
    assert "the Inventory goes to -i" in str(e.value)


def test_yaml_floats_stay_text() -> None:
    inv = load_inventory_text(HEAD + "  vars:\n    harbor_version: 2.10\n    n: 3\n    f: 1.50\n")
    assert inv.vars == {"harbor_version": "2.10", "n": 3, "f": "1.50"}
