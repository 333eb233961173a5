"""Every example under ``examples/`` runs under Pulumi mocks and registers what its README says.

Each example's ``__main__.py`` runs through ``runpy`` (as the Pulumi Python host runs it) inside ``mockkit``'s
recorder, with its config set as ``pulumi config set`` would. The mocks answer like the providers: the precheck
command (name ``*-precheck``, the probe that embeds the facts script) gets a healthy host's ``key=value`` lines,
pulumi_kk's dynamic resources and the S3 bucket get generated-looking values, AWS instances get addresses and AWS
invokes (AMI, VPC, subnets) plausible answers. Nothing is deployed: what is checked is the resource graph — types
and counts, where each host address comes from, what the registry is configured with, and the exports.
"""

from __future__ import annotations

import base64
import json
import runpy
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mockkit
import pytest
import yaml
from pulumi.runtime import mocks as pmocks

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nZXhhbXBsZS10ZXN0LWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n"

IMAGE_REGISTRY = "pulumi-kk:index:ImageRegistry"
DOCKER = "pulumi-kk:index:Docker"
REGISTRY = "pulumi-kk:index:Registry"
KEEPALIVED = "pulumi-kk:index:Keepalived"
S3_BUCKET = "pulumi-python:dynamic/storage:S3Bucket"
REGISTRY_TLS = "pulumi-python:dynamic/pulumi-kk:RegistryTLS"
GENERATED_SECRET = "pulumi-python:dynamic/pulumi-kk:GeneratedSecret"
INSTANCE = "aws:ec2/instance:Instance"

#: Config per example, as a user would set it (``pulumi config set``), without the project prefix.
CONFIG: dict[str, dict[str, str]] = {
    "single-node": {"address": "192.168.10.21", "privateKey": KEY},
    "ha-s3": {"bucket": "acme-registry-blobs-test", "aws:region": "eu-central-1"},
    "cloud-vms": {"sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKey kk", "sshPrivateKey": KEY,
                  "aws:region": "eu-central-1"},
}


def example_dirs() -> list[str]:
    return sorted(p.parent.name for p in EXAMPLES.glob("*/Pulumi.yaml"))


def project(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((EXAMPLES / name / "Pulumi.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


class ExampleMocks(mockkit.KKMocks):
    """KKMocks plus what the examples' other resources and invokes need."""

    def __init__(self) -> None:
        super().__init__(outputs=self.extra_outputs)
        self.calls: list[str] = []

    @staticmethod
    def extra_outputs(args: pmocks.MockResourceArgs) -> Mapping[str, Any] | None:
        if args.typ == S3_BUCKET:
            return {"arn": f"arn:aws:s3:::{args.inputs['bucket']}", "region": args.inputs.get("region") or "eu-central-1"}
        if args.typ == INSTANCE:
            n = int(args.name.rsplit("-", 1)[1])
            return {"privateIp": f"172.31.16.{10 + n}", "publicIp": f"203.0.113.{10 + n}",
                    "arn": f"arn:aws:ec2:eu-central-1:123456789012:instance/i-0{n:016x}"}
        if args.typ == "aws:ec2/keyPair:KeyPair":
            return {"keyName": f"{args.name}-4f2a"}
        if args.typ == "aws:iam/instanceProfile:InstanceProfile":
            return {"name": f"{args.name}-7c1e"}
        return None

    def call(self, args: pmocks.MockCallArgs) -> Any:
        self.calls.append(args.token)
        answers: dict[str, dict[str, Any]] = {
            "aws:ec2/getVpc:getVpc": {"id": "vpc-0a1b2c3d", "cidrBlock": "172.31.0.0/16"},
            "aws:ec2/getSubnets:getSubnets": {"ids": ["subnet-0aa", "subnet-0bb"]},
            "aws:ec2/getSubnet:getSubnet": {"id": args.args.get("id"), "vpcId": "vpc-0a1b2c3d",
                                            "cidrBlock": "172.31.16.0/20"},
            "aws:ec2/getAmi:getAmi": {"id": "ami-0123456789abcdef0", "architecture": "x86_64"},
        }
        return answers.get(args.token, {})  # a plain dict: the SDK reads a tuple's failures as a list


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with the ``~/.ssh/id_ed25519`` the ha-s3 inventory names (the loader reads key files)."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_text(KEY)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def run_example(name: str, extra: Mapping[str, str] | None = None,
                mocks: ExampleMocks | None = None) -> mockkit.Graph:
    proj = project(name)["name"]
    config: dict[str, str] = {}
    for key, value in {**CONFIG[name], **(extra or {})}.items():
        config[key if ":" in key else f"{proj}:{key}"] = value
    main = EXAMPLES / name / "__main__.py"
    recorder = mockkit.Recorder(mocks or ExampleMocks(), config=config, project=proj, stack="dev")
    return recorder.run(lambda: runpy.run_path(str(main), run_name="__main__"))


def types(g: mockkit.Graph) -> Counter[str]:
    return Counter(r.type for r in g)


def secret_files(res: mockkit.Res) -> Iterator[tuple[str, str]]:
    """(path, content) of the secret files a command receives on stdin (``path mode base64`` lines)."""
    for line in str(res.get("stdin", "") or "").splitlines():
        path, _mode, data = line.split()
        yield path, base64.b64decode(data).decode()


def registry_config(g: mockkit.Graph, node: str) -> dict[str, Any]:
    files = dict(secret_files(g[f"registry-{node}-registry-service"]))
    doc = yaml.safe_load(files["/opt/pulumi-kk/registry/config.yml"])
    assert isinstance(doc, dict)
    return doc


def check_common(g: mockkit.Graph) -> None:
    """What every example exports, and a precheck before each host's first install step."""
    assert types(g)[IMAGE_REGISTRY] == 1
    for key in ("url", "ca_cert", "username", "password"):
        assert key in g.exports, f"missing export {key}"
    assert isinstance(g.exports["password"], mockkit.Secret)  # the generated password stays secret
    assert g.exports["password"].value
    assert g.exports["ca_cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert g.exports["url"].startswith("https://")
    prechecks = [r for r in g.commands() if r.name.endswith("-precheck")]
    assert prechecks and len(prechecks) == types(g)[DOCKER]
    for p in prechecks:
        assert "machine=x86_64" in str(p.outputs["stdout"])  # the mocked probe answered
        node = p.name.removesuffix("-precheck")
        assert g.reaches(f"{node}-docker-install", p.name)


# --- every example -----------------------------------------------------------------------------------------------


def test_every_example_is_a_python_pulumi_project_with_a_readme() -> None:
    names = example_dirs()
    assert names == sorted(CONFIG), "a new example needs its config in CONFIG (and its own test below)"
    for name in names:
        d = EXAMPLES / name
        proj = project(name)
        runtime = proj["runtime"]
        assert (runtime["name"] if isinstance(runtime, dict) else runtime) == "python"
        assert (d / "__main__.py").is_file() and (d / "requirements.txt").is_file()
        readme = (d / "README.md").read_text()
        for needed in ("## Prerequisites", "Pulumi CLI", "pulumi config set", "pulumi up", "## Outputs"):
            assert needed in readme, f"{name}/README.md lacks {needed!r}"
        # every config key the program reads is declared in Pulumi.yaml (and so documented)
        declared = set(proj.get("config") or {})
        source = (d / "__main__.py").read_text()
        for key in CONFIG[name]:
            if ":" not in key:
                assert key in declared, f"{name}: config {key!r} not declared in Pulumi.yaml"
                assert f'"{key}"' in source


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("name", sorted(CONFIG))
def test_every_example_registers_a_registry_under_mocks(name: str) -> None:
    g = run_example(name)
    check_common(g)
    assert types(g)[REGISTRY] == types(g)[DOCKER] >= 1
    assert types(g)[REGISTRY_TLS] == 1


# --- single-node -------------------------------------------------------------------------------------------------


def test_single_node_one_host_from_config() -> None:
    g = run_example("single-node")

    t = types(g)
    assert (t[DOCKER], t[REGISTRY], t[KEEPALIVED], t[S3_BUCKET]) == (1, 1, 0, 0)
    assert t[GENERATED_SECRET] == 2  # http secret, admin password
    for cmd in g.commands():
        assert cmd.name.startswith("registry-node1-")
        assert cmd.get("connection.host") == "192.168.10.21"
        assert cmd.get("connection.user") == "root" and cmd.get("connection.port") == 22
        assert cmd.is_secret("connection")
        assert cmd.arg_is_secret("connection.private_key") and cmd.arg("connection.private_key") == KEY
    assert g.exports["url"] == "https://192.168.10.21:443"
    assert g.exports["username"] == "admin"
    assert g.exports["versions"]["node1"]["registry"] == "2.8.3"
    storage = registry_config(g, "node1")["storage"]
    assert "filesystem" in storage and "s3" not in storage  # images on the host's disk


def test_single_node_options() -> None:
    settings = {"registry_version": "2.8.2", "image_registry": {"auth": {"username": "ci"}}}
    g = run_example("single-node", {"user": "admin", "port": "2222", "name": "reg1",
                                    "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey",
                                    "settings": json.dumps(settings)})
    cmd = g["registry-reg1-precheck"]
    assert (cmd.get("connection.user"), cmd.get("connection.port")) == ("admin", 2222)
    assert cmd.get("connection.hostKey") == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey"
    assert g.exports["username"] == "ci"
    assert g.exports["versions"]["reg1"]["registry"] == "2.8.2"


# --- ha-s3 -------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("home")
def test_ha_s3_three_nodes_keepalived_and_one_bucket() -> None:
    g = run_example("ha-s3")

    t = types(g)
    assert (t[DOCKER], t[REGISTRY], t[KEEPALIVED], t[S3_BUCKET]) == (3, 3, 3, 1)
    nodes = ["node1", "node2", "node3"]
    assert sorted(r.name for r in g.of_type(KEEPALIVED)) == [f"registry-{n}-keepalived" for n in nodes]
    for i, n in enumerate(nodes):
        ka = [r.name for r in g.children(f"registry-{n}-keepalived")]
        assert ka and all(name.startswith(f"registry-{n}-keepalived-") for name in ka)
        for r in g.commands():
            if r.name.startswith(f"registry-{n}-"):
                assert r.get("connection.host") == f"10.0.0.1{i + 1}"  # from inventory.yaml
                assert r.arg("connection.private_key") == KEY  # ~/.ssh/id_ed25519, read by the loader

    bucket = g["registry-bucket"]
    assert bucket.get("bucket") == "acme-registry-blobs-test"
    assert bucket.get("versioning") is True and bucket.get("force_destroy") is False
    assert bucket.get("tags") == {"app": "image-registry", "stack": "dev"}

    # every node's registry uses the bucket, and waits for it
    for n in nodes:
        s3 = registry_config(g, n)["storage"]["s3"]
        assert s3["bucket"] == "acme-registry-blobs-test" and s3["rootdirectory"] == "/registry"
        assert "filesystem" not in registry_config(g, n)["storage"]
        assert g.reaches(f"registry-{n}-registry-service", "registry-bucket")
    assert g.exports["url"] == "https://10.0.0.100:443"  # the VIP
    assert g.exports["nodes"] == nodes
    assert g.exports["bucket"] == "acme-registry-blobs-test"
    assert all("keepalived" in v for v in g.exports["versions"].values())


@pytest.mark.usefixtures("home")
def test_ha_s3_registry_keys_reach_the_nodes_only_as_secrets() -> None:
    g = run_example("ha-s3", {"registryAccessKey": "AKIAREGISTRYTEST", "registrySecretKey": "s3cr3t-registry-key",
                              "endpoint": "https://minio.lan:9000"})
    svc = g["registry-node2-registry-service"]
    s3 = registry_config(g, "node2")["storage"]["s3"]
    assert (s3["accesskey"], s3["secretkey"]) == ("AKIAREGISTRYTEST", "s3cr3t-registry-key")
    assert s3["regionendpoint"] == "https://minio.lan:9000"
    assert svc.is_secret("stdin")
    assert g.leaks(["s3cr3t-registry-key"]) == []  # in no plain input of any resource


# --- cloud-vms ---------------------------------------------------------------------------------------------------


def test_cloud_vms_hosts_come_from_the_instances() -> None:
    mocks = ExampleMocks()
    g = run_example("cloud-vms", mocks=mocks)

    t = types(g)
    assert t[INSTANCE] == 2 and t[DOCKER] == 2 and t[REGISTRY] == 2 and t[KEEPALIVED] == 0
    assert t["aws:ec2/keyPair:KeyPair"] == 1 and t[S3_BUCKET] == 1
    assert t["aws:iam/role:Role"] == t["aws:iam/rolePolicy:RolePolicy"] == t["aws:iam/instanceProfile:InstanceProfile"] == 1
    assert t["aws:ec2/securityGroup:SecurityGroup"] == 1
    assert {"aws:ec2/getAmi:getAmi", "aws:ec2/getVpc:getVpc", "aws:ec2/getSubnets:getSubnets",
            "aws:ec2/getSubnet:getSubnet"} <= set(mocks.calls)

    for i in (1, 2):
        vm = g[f"registry-{i}"]
        assert vm.get("ami") == "ami-0123456789abcdef0" and vm.get("instanceType") == "t3.xlarge"
        assert vm.get("keyName") == "registry-4f2a" and vm.get("iamInstanceProfile") == "registry-7c1e"
        assert vm.get("subnetId") == "subnet-0aa"
        assert "disable_root: false" in vm.get("userData")
        ip = vm.outputs["privateIp"]
        node_cmds = [r for r in g.commands() if r.name.startswith(f"registry-node{i}-")]
        assert node_cmds
        for cmd in node_cmds:
            assert cmd.get("connection.host") == ip  # the instance's output, not a literal
            assert cmd.arg("connection.private_key") == KEY
            assert f"registry-{i}" in g.deps(cmd.name, "property")  # so Pulumi creates the VM first
    assert g.exports["private_ips"] == ["172.31.16.11", "172.31.16.12"]
    assert g.exports["url"] == "https://172.31.16.11:443"
    assert set(g["registry-tls"].get("sans")) >= {"172.31.16.11", "172.31.16.12"}

    # the bucket, the registry's storage, and the role the registry uses instead of keys
    bucket = g["registry-bucket"].get("bucket")
    assert bucket == "kk-cloud-vms-dev-registry" == g.exports["bucket"]
    s3 = registry_config(g, "node1")["storage"]["s3"]
    assert s3["bucket"] == bucket and s3.get("accesskey", "") == ""
    policy = json.loads(g["registry-s3-access"].get("policy"))
    resources = {s["Resource"] for s in policy["Statement"]}
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert g.reaches("registry-node1-registry-service", "registry-s3-access")  # the role may use it first
    assert g.reaches("registry-node2-registry-service", "registry-bucket")


def test_cloud_vms_public_connection_and_node_count() -> None:
    g = run_example("cloud-vms", {"connectVia": "public", "nodes": "3", "sshCidr": "198.51.100.7/32",
                                  "subnetId": "subnet-0given", "bucket": "acme-vms-registry"})
    assert types(g)[INSTANCE] == 3
    for i in (1, 2, 3):
        vm = g[f"registry-{i}"]
        assert vm.get("subnetId") == "subnet-0given" and vm.get("associatePublicIpAddress") is True
        precheck = g[f"registry-node{i}-precheck"]
        assert precheck.get("connection.host") == vm.outputs["publicIp"]  # SSH over the public address...
    # ...while clients, certificates and the other nodes use the private one
    assert g.exports["url"] == "https://172.31.16.11:443"
    ingress = g.of_type("aws:ec2/securityGroup:SecurityGroup")[0].get("ingress")
    ssh = [r for r in ingress if r["fromPort"] == 22]
    assert ssh[0]["cidrBlocks"] == ["198.51.100.7/32"]
    assert g["registry-bucket"].get("bucket") == "acme-vms-registry"


def test_cloud_vms_rejects_a_bad_connect_via() -> None:
    with pytest.raises(ValueError, match="connectVia"):
        run_example("cloud-vms", {"connectVia": "bastion"})


def test_examples_do_not_leak_the_ssh_key(home: Path) -> None:
    for name in sorted(CONFIG):
        g = run_example(name)
        assert g.leaks([KEY.splitlines()[1]]) == [], name
        assert all(r.is_secret("connection") for r in g.commands())

