"""Bad input, one case each: the message names the file or setting source, the key, what is wrong, and the fix.

Each case writes what it needs under ``tmp_path``; ``{inv}``, ``{cfg}`` and ``{tmp}`` in the expected texts stand
for the inventory path, the config path and ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pulumi_kk.artifacts import check_arch, resolve
from pulumi_kk.cli.render import pick_arch
from pulumi_kk.errors import KKError, did_you_mean, suggestion
from pulumi_kk.facts import parse_facts
from pulumi_kk.inventory import Host, load_config, load_inventory
from pulumi_kk.settings import parse_set
from pulumi_kk.sources import load_sources

HEAD = "apiVersion: kubekey.kubesphere.io/v1\nkind: Inventory\nmetadata:\n  name: default\nspec:\n"
GOOD = HEAD + """\
  hosts:
    node1:
      connector: {host: 10.0.0.11}
  groups:
    image_registry:
      hosts: [node1]
"""
CONFIG_HEAD = "apiVersion: kubekey.kubesphere.io/v1\nkind: Config\nspec:\n"


def inv_path(tmp: Path) -> Path:
    return tmp / "inventory.yaml"


def cfg_path(tmp: Path) -> Path:
    return tmp / "config.yaml"


def inventory(text: str) -> Callable[[Path], object]:
    """Load ``text`` as the inventory file, with every settings source at its default."""

    def run(tmp: Path) -> object:
        inv_path(tmp).write_text(text)
        return load_sources(inv_path(tmp))

    return run


def sets(*values: str) -> Callable[[Path], object]:
    """Load the good inventory with these ``--set`` strings."""

    def run(tmp: Path) -> object:
        inv_path(tmp).write_text(GOOD)
        return load_sources(inv_path(tmp), sets=list(values))

    return run


def config(text: str) -> Callable[[Path], object]:
    """Load the good inventory with ``text`` as a config file (-c)."""

    def run(tmp: Path) -> object:
        inv_path(tmp).write_text(GOOD)
        cfg_path(tmp).write_text(text)
        return load_sources(inv_path(tmp), [cfg_path(tmp)])

    return run


def artifact(name: str, arch: str, *values: str, files: dict[str, bytes] | None = None) -> Callable[[Path], object]:
    """Resolve one artifact with binary_dir under tmp and these ``--set`` strings."""

    def run(tmp: Path) -> object:
        for rel, content in (files or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(content)
        inv_path(tmp).write_text(GOOD)
        s = load_sources(inv_path(tmp), sets=[f"binary_dir={tmp}/kubekey", *values]).settings
        return resolve(name, s, arch, cwd=tmp)

    return run


def inventory_as_config(tmp: Path) -> object:
    inv_path(tmp).write_text(GOOD)
    return load_config(inv_path(tmp))


def unreadable_key(tmp: Path) -> object:
    inv_path(tmp).write_text(HEAD + "  hosts:\n    node1:\n      connector: {host: h, private_key: keys/id_missing}\n")
    return load_inventory(inv_path(tmp))


def missing_inventory(tmp: Path) -> object:
    return load_sources(tmp / "inventroy.yaml")


def binary_inventory(tmp: Path) -> object:
    inv_path(tmp).write_bytes(b"\x1f\x8b\x08\x00\xff\xfe binary")
    return load_sources(inv_path(tmp))


def directory_inventory(tmp: Path) -> object:
    inv_path(tmp).mkdir()
    return load_sources(inv_path(tmp))


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Path], object]
    expected: tuple[str, ...]


CASES = [
    # --- inventory ---------------------------------------------------------------------------------------------
    Case("unknown-group-reference", inventory(GOOD + "    k8s_cluster:\n      groups: [kube_control_plan]\n"
                                                     "    kube_control_plane:\n      hosts: [node1]\n"),
         ("{inv}: spec.groups.k8s_cluster.groups: group 'k8s_cluster' names unknown group 'kube_control_plan' "
          "(did you mean 'kube_control_plane'?).", "Fix: define that group under spec.groups or correct the name.")),
    Case("unknown-host-reference", inventory(GOOD.replace("hosts: [node1]", "hosts: [node1, node-1]")),
         ("{inv}: spec.groups.image_registry.hosts: group 'image_registry' names unknown host 'node-1' "
          "(did you mean 'node1'?).", "Fix: define it under spec.hosts or correct the name.")),
    Case("group-cycle", inventory(GOOD + "    a: {groups: [b]}\n    b: {groups: [c]}\n    c: {groups: [a]}\n"),
         ("{inv}: spec.groups.a.groups: group cycle: a → b → c → a.",
          "Fix: remove one of these nested group references.")),
    Case("group-includes-itself", inventory(GOOD + "    all: {groups: [image_registry, all]}\n"),
         ("{inv}: spec.groups.all.groups: group cycle: all → all.",)),
    Case("duplicate-host", inventory(HEAD + "  hosts:\n    node1:\n      internal_ipv4: 10.0.0.1\n"
                                            "    node1:\n      internal_ipv4: 10.0.0.2\n"),
         ("{inv}: YAML error at line 9, column 5: duplicate key 'node1' (first at line 7).",
          "Fix: correct the YAML syntax at that line.")),
    Case("host-without-address", inventory(HEAD + "  hosts:\n    node1:\n      connector: {type: ssh, user: root}\n"),
         ("{inv}: spec.hosts.node1.connector.host: host 'node1' has no address.",
          "Fix: set connector.host (or internal_ipv4) to the host's IP or DNS name.")),
    Case("unknown-connector-type", inventory(HEAD + "  hosts:\n    node1:\n      connector: {type: kubernetes, "
                                                    "host: h}\n"),
         ("{inv}: spec.hosts.node1.connector.type: unknown connector type 'kubernetes'.",
          "Fix: use `ssh` or `local`.")),
    Case("connector-type-typo", inventory(HEAD + "  hosts:\n    node1:\n      connector: {type: sshd, host: h}\n"),
         ("unknown connector type 'sshd' (did you mean 'ssh'?).",)),
    Case("unknown-connector-key", inventory(HEAD + "  hosts:\n    node1:\n      connector: {hots: 10.0.0.1}\n"),
         ("{inv}: spec.hosts.node1.connector: unknown connector key 'hots' (did you mean 'host'?).",
          "Fix: use one of type, host, port, user, password, private_key, private_key_password, host_key.")),
    Case("bad-port-inventory", inventory(HEAD + "  hosts:\n    node1:\n      connector: {host: h, port: 2222x}\n"),
         ("{inv}: spec.hosts.node1.connector.port: port '2222x' is not a TCP port.",
          "Fix: use a number from 1 to 65535.")),
    Case("port-out-of-range-inventory", inventory(HEAD + "  hosts:\n    n:\n      connector: {host: h, port: 0}\n"),
         ("{inv}: spec.hosts.n.connector.port: port 0 is not a TCP port.",)),
    Case("wrong-apiVersion", inventory(GOOD.replace("kubekey.kubesphere.io/v1", "kubekey.kubesphere.io/v1alpha2")),
         ("{inv}: apiVersion: apiVersion is 'kubekey.kubesphere.io/v1alpha2', expected 'kubekey.kubesphere.io/v1'.",
          "Fix: set `apiVersion: kubekey.kubesphere.io/v1`.")),
    Case("wrong-kind", inventory(GOOD.replace("kind: Inventory", "kind: Cluster")),
         ("{inv}: kind: kind is 'Cluster', expected 'Inventory'.",
          "Fix: pass an Inventory with -i (a `kind: Config` file goes to -c).")),
    Case("config-passed-as-inventory", inventory(CONFIG_HEAD + "  docker_version: 24.0.7\n"),
         ("{inv}: kind: kind is 'Config', expected 'Inventory'.", "a `kind: Config` file goes to -c")),
    Case("inventory-passed-as-config", inventory_as_config,
         ("{inv}: kind: kind is 'Inventory', expected 'Config'.",
          "Fix: pass a `kind: Config` file with -c (the Inventory goes to -i).")),
    Case("yaml-syntax-error", inventory(HEAD + "  hosts:\n    node1:\n      connector: {host: 10.0.0.1\n"
                                               "  groups: {}\n"),
         ("{inv}: YAML error at line 9, column 9:", "Fix: correct the YAML syntax at that line.")),
    Case("yaml-bad-indent", inventory(HEAD + "  hosts:\n    node1: {}\n   groups: {}\n"),
         ("{inv}: YAML error at line 8,",)),
    Case("empty-inventory-file", inventory(""),
         ("{inv}: the file is empty.", "Fix: write an Inventory (`apiVersion: kubekey.kubesphere.io/v1`")),
    Case("inventory-not-found", missing_inventory,
         ("{tmp}/inventroy.yaml: file not found.", "Fix: check the path you passed.")),
    Case("inventory-not-text", binary_inventory,
         ("{inv}: is not UTF-8 text.", "Fix: pass the YAML file itself, saved as UTF-8.")),
    Case("inventory-is-a-directory", directory_inventory,
         ("{inv}: cannot read: Is a directory.", "Fix: check the path and its permissions.")),
    Case("unreadable-private-key", unreadable_key,
         ("{inv}: spec.hosts.node1.connector.private_key: private key file 'keys/id_missing' cannot be read.",
          "Fix: give a readable key path, or the key text itself.")),
    Case("unknown-spec-key", inventory(GOOD + "  var:\n    zone: cn\n"),
         ("{inv}: spec: unknown key 'var' (did you mean 'vars'?).", "Fix: spec has `hosts`, `groups` and `vars`.")),
    Case("unknown-group-key", inventory(GOOD + "    nfs:\n      host: [node1]\n"),
         ("{inv}: spec.groups.nfs: unknown group key 'host' (did you mean 'hosts'?).",
          "Fix: a group has `hosts`, `groups` and `vars`.")),
    Case("group-hosts-not-a-list", inventory(GOOD.replace("hosts: [node1]", "hosts: node1")),
         ("{inv}: spec.groups.image_registry.hosts: must be a list of names.", "Fix: write one `- name` line")),
    Case("host-not-a-mapping", inventory(HEAD + "  hosts:\n    node1: 10.0.0.1\n"),
         ("{inv}: spec.hosts.node1: must be a mapping, got str.", "Fix: write it as `name: value` lines")),
    Case("empty-image-registry-group", inventory(GOOD.replace("hosts: [node1]", "hosts: []")),
         ("{inv}: spec.groups.image_registry.hosts: the image_registry group is empty or missing.",
          "Fix: list the registry hosts under spec.groups.image_registry.hosts.")),
    Case("no-image-registry-group", inventory(GOOD.replace("image_registry:", "registry:")),
         ("the image_registry group is empty or missing.",)),
    # --- --set syntax ------------------------------------------------------------------------------------------
    Case("set-no-equals", sets("harbor_version"),
         ("--set: 'harbor_version' has no '='.", "Fix: write key=value, e.g. docker_version=24.0.7.")),
    Case("set-bad-key", sets("image registry.type=harbor"),
         ("--set: 'image registry.type' is not a valid key.",
          "Fix: use dotted names like image_registry.auth.plain_http.")),
    Case("set-unbalanced-open", sets("docker.insecure_registries=[a,b"),
         ("--set: unbalanced '[' in 'docker.insecure_registries=[a,b'.", "Fix: close the list: key=[a,b].")),
    Case("set-unbalanced-close", sets("docker.insecure_registries=a,b]"),
         ("--set: unbalanced ']' in 'docker.insecure_registries=a,b]'.", "Fix: write lists as key=[a,b].")),
    Case("set-empty-item", sets("harbor_version=v2.10.1,,docker_version=24.0.7"),
         ("--set: empty item in 'harbor_version=v2.10.1,,docker_version=24.0.7'.",
          "Fix: separate key=value pairs with single commas.")),
    Case("set-empty-list-item", sets("docker.insecure_registries=[reg.local,,10.0.0.5]"),
         ("--set: empty list item in 'docker.insecure_registries=[reg.local,,10.0.0.5]'.",
          "Fix: separate list items with single commas: key=[a,b].")),
    # --- settings ----------------------------------------------------------------------------------------------
    Case("unknown-setting-top-level", sets("harbor_versoin=v2.10.1"),
         ("--set: harbor_versoin: unknown setting (did you mean 'harbor_version'?).",
          "Fix: check the spelling; see the README's settings table.")),
    Case("unknown-setting-nested", sets("image_registry.auth.plain_htp=true"),
         ("--set: image_registry.auth.plain_htp: unknown setting (did you mean 'plain_http'?).",
          "Fix: valid keys here: registry, username, password, plain_http,")),
    Case("unknown-setting-deep", sets("image_registry.registry.storage.s3.bukcet=images"),
         ("--set: image_registry.registry.storage.s3.bukcet: unknown setting (did you mean 'bucket'?).",
          "Fix: valid keys here: bucket, region,")),
    Case("unknown-setting-in-inventory-vars", inventory(GOOD + "  vars:\n    dockercompose_versoin: v2.20.3\n"),
         ("{inv} (spec.vars): dockercompose_versoin: unknown setting (did you mean 'dockercompose_version'?).",
          "Fix: check the spelling")),
    Case("bad-value-in-config-file", config(CONFIG_HEAD + "  image_registry:\n    auth:\n      plain_http: maybe\n"),
         ("{cfg}: image_registry.auth.plain_http: must be true or false, got 'maybe'.",
          "Fix: write true or false.")),
    Case("unknown-image-registry-type", sets("image_registry.type=harbour"),
         ("--set: image_registry.type: unknown type 'harbour' (did you mean 'harbor'?).",
          "Fix: use `harbor` or `registry` (KubeKey's `docker-registry` is accepted too).")),
    Case("unknown-image-registry-type-alias-typo", sets("image_registry.type=docker-regsitry"),
         ("image_registry.type: unknown type 'docker-regsitry' (did you mean 'docker-registry'?).",)),
    Case("not-a-version", sets("harbor_version=latest"),
         ("--set: harbor_version: 'latest' is not a version.", "Fix: write a version like 24.0.7 or v2.10.1.")),
    Case("version-in-inventory-not-a-version", inventory(GOOD + "  vars:\n    cri:\n      docker_version: stable\n"),
         ("{inv} (spec.vars): docker_version: 'stable' is not a version.",)),
    Case("wrong-type-bool", sets("image_registry.auth.plain_http=yes please"),
         ("--set: image_registry.auth.plain_http: must be true or false, got 'yes please'.",
          "Fix: write true or false.")),
    Case("wrong-type-int", sets("precheck.min_cpus=two"),
         ("--set: precheck.min_cpus: must be a whole number, got 'two'.", "Fix: write a number like 8.")),
    Case("wrong-type-float", sets("precheck.min_memory_gb=lots"),
         ("--set: precheck.min_memory_gb: must be a number, got 'lots'.", "Fix: write a number like 1.5.")),
    Case("section-given-a-value", sets("docker=24.0.7"),
         ("--set: docker: must be a mapping, got '24.0.7'.", "Fix: set the keys under it, e.g. docker.<name>=value.")),
    Case("list-for-a-single-value", sets("zone=[cn,us]"),
         ("--set: zone: must be a single value, got ['cn', 'us'].", "Fix: give one value")),
    Case("data-root-is-root", sets("docker.data_root=/"),
         ("--set: docker.data_root: '/' is not a usable directory.",
          "Fix: use an absolute path below /, e.g. /var/lib/docker.")),
    Case("data-root-relative", config(CONFIG_HEAD + "  docker:\n    data_root: var/lib/docker\n"),
         ("{cfg}: docker.data_root: 'var/lib/docker' is not a usable directory.",)),
    Case("two-storage-drivers", sets("image_registry.registry.storage.s3.bucket=a",
                                     "image_registry.registry.storage.azure.container=b"),
         ("--set: image_registry.registry.storage: several storage drivers are set: s3, azure.",
          "Fix: keep exactly one of s3, gcs, azure (or none for filesystem).")),
    Case("s3-keys-without-bucket", sets("image_registry.registry.storage.s3.accesskey=AKIA,"
                                        "image_registry.registry.storage.s3.secretkey=x"),
         ("--set: image_registry.registry.storage.s3.bucket: s3 settings are given (accesskey, secretkey) but bucket "
          "is empty.", "Fix: set image_registry.registry.storage.s3.bucket, or remove the other s3 keys.")),
    Case("azure-without-key", sets("image_registry.registry.storage.azure.container=c,"
                                   "image_registry.registry.storage.azure.accountname=acct"),
         ("--set: image_registry.registry.storage.azure.accountkey: is required by the azure storage driver.",)),
    Case("bad-ha-vip", sets("image_registry.ha_vip=192.168.10.50/24"),
         ("--set: image_registry.ha_vip: '192.168.10.50/24' is not an IP address.",
          "Fix: set the virtual IP as a bare address, e.g. 10.0.0.50.")),
    Case("vrid-out-of-range", sets("image_registry.keepalived.vrid=256"),
         ("--set: image_registry.keepalived.vrid: 256 is out of range.", "Fix: use 1..255, unique on the L2 segment.")),
    Case("vrid-zero", sets("image_registry.keepalived.vrid=0"),
         ("image_registry.keepalived.vrid: 0 is out of range.",)),
    Case("bad-port-settings", sets("image_registry.https_port=70000"),
         ("--set: image_registry.https_port: port 70000 is not a TCP port.", "Fix: use a number from 1 to 65535.")),
    Case("bad-registry-port", sets("image_registry.registry.port=-1"),
         ("--set: image_registry.registry.port: port -1 is not a TCP port.",)),
    Case("unknown-artifact-name", sets("artifact.artifact_url.dockerd.amd64=/srv/docker.tgz"),
         ("--set: artifact.artifact_url.dockerd: unknown artifact (did you mean 'docker'?).",
          "Fix: use one of docker, dockercompose, harbor, registry, keepalived, haproxy.")),
    Case("unknown-artifact-name-in-sha256", sets("artifact.sha256.harbour.amd64=abc"),
         ("--set: artifact.sha256.harbour: unknown artifact (did you mean 'harbor'?).",)),
    Case("unknown-arch-in-artifact-url", sets("artifact.artifact_url.harbor.x86_64=/srv/harbor.tgz"),
         ("--set: artifact.artifact_url.harbor.x86_64: unknown arch ('x86_64' is called 'amd64' here).",
          "Fix: use amd64 or arm64.")),
    Case("arch-typo-in-artifact-url", sets("artifact.artifact_url.harbor.arm46=/srv/harbor.tgz"),
         ("artifact.artifact_url.harbor.arm46: unknown arch (did you mean 'arm64'?).",)),
    Case("artifact-url-without-arch", sets("artifact.artifact_url.harbor=/srv/harbor.tgz"),
         ("--set: artifact.artifact_url.harbor: must map an arch to a value.",
          "Fix: write artifact.artifact_url.harbor.amd64=...")),
    # --- artifacts ---------------------------------------------------------------------------------------------
    Case("arch-with-no-artifact-offline", artifact("docker", "arm64", "artifact.online=false"),
         ("docker_version: no docker 24.0.7 artifact for arm64: {tmp}/kubekey/docker/24.0.7/arm64/docker-24.0.7.tgz "
          "is missing and online download is off.",
          "Fix: download docker-24.0.7.tgz from https://download.docker.com/linux/static/stable/ and place it at "
          "{tmp}/kubekey/docker/24.0.7/arm64/docker-24.0.7.tgz; or set artifact.artifact_url.docker.arm64.")),
    Case("registry-image-offline", artifact("registry", "amd64", "artifact.online=false"),
         ("registry_version: no registry 2.8.3 artifact for amd64:",
          "Fix: docker pull --platform linux/amd64 registry:2.8.3 && docker save registry:2.8.3 | gzip > "
          "{tmp}/kubekey/image-registry/registry/2.8.3/amd64/registry-2.8.3-linux-amd64.tgz")),
    Case("artifact-file-missing", artifact("registry", "amd64",
                                           "artifact.artifact_url.docker_registry.amd64=docker-registry-2.8.3.tgz"),
         ("artifact.artifact_url.registry.amd64: artifact file 'docker-registry-2.8.3.tgz' not found (looked at "
          "{tmp}/docker-registry-2.8.3.tgz, {tmp}/kubekey/docker-registry-2.8.3.tgz).",
          "Fix: give an existing path (absolute, or relative to binary_dir) or a URL.")),
    Case("wrong-checksum", artifact("docker", "amd64", f"artifact.sha256.docker.amd64={'a' * 64}",
                                    files={"kubekey/docker/24.0.7/amd64/docker-24.0.7.tgz": b"not docker"}),
         ("artifact.sha256.docker.amd64: checksum mismatch for {tmp}/kubekey/docker/24.0.7/amd64/docker-24.0.7.tgz: "
          "sha256 ", f"expected {'a' * 64}.",
          "Fix: replace the file with the right one, or correct artifact.sha256.docker.amd64.")),
    # --- hosts -------------------------------------------------------------------------------------------------
    Case("unsupported-arch-in-facts", lambda tmp: parse_facts("machine=s390x\nos_id=rhel\n", "zhost1"),
         ("arch: host 'zhost1' has unsupported architecture 's390x'.",
          "Fix: pulumi_kk supports x86_64 (amd64) and aarch64 (arm64) hosts.")),
    Case("unsupported-arch-host-var", lambda tmp: pick_arch(Host("node9", arch="ppc64le"), load_sources(
        Path(__file__).parent / "data/inventory-install-registry.yaml").settings),
         ("arch: host 'node9' has unsupported architecture 'ppc64le'.",)),
    Case("facts-without-machine", lambda tmp: parse_facts("bash: uname: command not found", "n1"),
         ("facts output from host 'n1' has no machine line", "Fix: check that the host runs a POSIX shell")),
]


def test_catalogue_is_large_and_ids_unique() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    with pytest.raises(KKError) as e:
        case.run(tmp_path)
    msg = str(e.value)
    for part in case.expected:
        want = part.format(inv=inv_path(tmp_path), cfg=cfg_path(tmp_path), tmp=tmp_path)
        assert want in msg, f"\nexpected: {want}\n     got: {msg}"
    assert e.value.detail and e.value.detail in msg
    assert "Fix: " in msg


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_error_has_a_fix(case: Case, tmp_path: Path) -> None:
    with pytest.raises(KKError) as e:
        case.run(tmp_path)
    assert e.value.fix, f"{case.id}: no fix in {e.value}"


def test_kkerror_parts() -> None:
    e = KKError("is wrong.", source="inv.yaml", key="spec.x", fix="do this.")
    assert str(e) == "inv.yaml: spec.x: is wrong. Fix: do this."
    assert (e.source, e.key, e.detail, e.fix) == ("inv.yaml", "spec.x", "is wrong.", "do this.")
    assert str(KKError("plain.")) == "plain."
    assert str(KKError("m.", key="k")) == "k: m."
    assert isinstance(e, ValueError)


def test_did_you_mean() -> None:
    assert did_you_mean("harbour", ["harbor", "registry"]) == "harbor"
    assert did_you_mean("zzz", ["harbor", "registry"]) is None
    assert suggestion("hots", ["host", "port"]) == " (did you mean 'host'?)"
    assert suggestion("xyz", ["host"]) == ""


def test_set_errors_come_from_the_parser_not_the_loader() -> None:
    with pytest.raises(KKError, match=r"^--set: 'x' has no '='\."):
        parse_set(["x"])


def test_check_arch_without_host() -> None:
    with pytest.raises(KKError, match=r"^arch: host has unsupported architecture 'mips'\."):
        check_arch("mips")
