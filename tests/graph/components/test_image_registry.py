"""ImageRegistry over three SSH hosts: hosts independent (parallel), credentials secret everywhere, and what a
settings change (``--set`` through ``load_sources``) touches."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import mockkit
import pytest

from pulumi_kk.components.image_registry import TYPE as REGISTRY_TYPE
from pulumi_kk.components.image_registry import ImageRegistry
from pulumi_kk.errors import KKError
from pulumi_kk.inventory import Host, Inventory
from pulumi_kk.sources import Sources, load_sources

pytestmark = pytest.mark.usefixtures("fast_bcrypt")

ADDRESSES = {"n1": "10.0.0.11", "n2": "10.0.0.12", "n3": "10.0.0.13"}
PASSWORDS = {h: f"pw-{h}-Registry-Secret-42" for h in ADDRESSES}
KEYS = {h: (f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAZmFrZS1rZXktZm9y{h}LXRlc3Rz\n"
            "-----END OPENSSH PRIVATE KEY-----\n") for h in ADDRESSES}
CREDENTIALS = [*PASSWORDS.values(), *KEYS.values(), *(k.splitlines()[1] for k in KEYS.values())]
S3_SECRET = "s3-SecretKey-Not-For-Scripts-0042"
S3 = ("image_registry.type=registry,image_registry.registry.storage.s3.bucket=images,"
      "image_registry.registry.storage.s3.region=us-east-1,image_registry.registry.storage.s3.accesskey=AKIAFAKE,"
      f"image_registry.registry.storage.s3.secretkey={S3_SECRET}")
DOCKER_STEPS = {"precheck", "docker-config", "docker-install", "docker-install-upload-docker", "compose-install",
                "compose-install-upload-dockercompose"}


def inventory() -> Inventory:
    return Inventory.from_hosts([Host(h, address=a, password=PASSWORDS[h], private_key=KEYS[h])
                                 for h, a in ADDRESSES.items()])


def sources(binary_dir: Path, *sets: str) -> Sources:
    return load_sources(inventory(), sets=[f"binary_dir={binary_dir}", *sets])


def build(src: Sources, **kw: Any) -> mockkit.Graph:
    return mockkit.run(lambda: ImageRegistry("reg", src.inventory, src.settings, **kw))


def host_of(name: str) -> str | None:
    m = re.match(r"^reg-(n\d)-", name)
    return m.group(1) if m else None


def steps_of(g: mockkit.Graph, host: str) -> set[str]:
    return {r.name.removeprefix(f"reg-{host}-") for r in g.custom() if host_of(r.name) == host}


@pytest.fixture
def registry_binary_dir(binary_dir: Path) -> Path:
    return mockkit.fake_binary_dir(binary_dir, {"registry": ["2.8.3"]})


def cross_host_edges(g: mockkit.Graph) -> set[tuple[str, str]]:
    """(resource, dependency) pairs whose hosts differ; shared resources (no host) excluded."""
    out = set()
    for r in g:
        h = host_of(r.name)
        for dep in g.deps(r.name) | g.deps(r.name, "explicit"):
            d = host_of(dep)
            if h and d and d != h:
                out.add((r.name, dep))
    return out


# --- independence ----------------------------------------------------------------------------------------------


def test_docker_layer_of_each_host_is_independent(binary_dir: Path) -> None:
    g = build(sources(binary_dir))
    assert g["reg"].type == REGISTRY_TYPE
    for h in ADDRESSES:
        assert steps_of(g, h) == DOCKER_STEPS
        docker = g[f"reg-{h}-docker"]
        assert docker.parent == g["reg"].urn
        assert {r.name for r in g.descendants(f"reg-{h}-docker")} == {f"reg-{h}-{s}" for s in DOCKER_STEPS}
        for r in g.descendants(f"reg-{h}-docker"):
            # Everything this resource waits for, transitively, is on its own host.
            assert {host_of(n) for n in g.upstream(r.name)} <= {h}, r.name
    assert cross_host_edges(g) == set()
    assert [r.name for r in g.custom() if host_of(r.name) is None] == []


def test_precheck_names_the_peers_without_depending_on_them(binary_dir: Path) -> None:
    g = build(sources(binary_dir))
    probe = g["reg-n1-precheck"].get("create")
    assert "peer=10.0.0.12=1" in probe and "peer=10.0.0.13=1" in probe and "peer=10.0.0.11" not in probe
    assert g.deps("reg-n1-precheck") == set()
    # Every step of a host waits for that host's precheck verdict (through its inputs).
    for s in DOCKER_STEPS - {"precheck"}:
        assert "reg-n1-precheck" in g.deps(f"reg-n1-{s}", "property"), s


def test_registry_layer_is_independent_but_for_the_rolling_order(registry_binary_dir: Path) -> None:
    rolling = build(sources(registry_binary_dir, S3))
    assert cross_host_edges(rolling) == {("reg-n2-registry-service", "reg-n1-registry-service"),
                                         ("reg-n3-registry-service", "reg-n2-registry-service")}
    parallel = build(sources(registry_binary_dir, S3, "image_registry.rolling=false"))
    assert cross_host_edges(parallel) == set()
    # What hosts share are values generated once (kept in state), never another host's command.
    shared = {r.name for r in parallel.custom() if host_of(r.name) is None}
    assert shared == {"reg-admin-password", "reg-http-secret", "reg-tls"}
    assert {r.type for r in parallel.custom() if r.name in shared} <= {
        "pulumi-python:dynamic/pulumi-kk:GeneratedSecret", "pulumi-python:dynamic/pulumi-kk:RegistryTLS"}


# --- secrets ---------------------------------------------------------------------------------------------------


def _check_connections(g: mockkit.Graph) -> None:
    targets = g.of_type(mockkit.REMOTE_COMMAND, mockkit.COPY_TO_REMOTE)
    assert len(targets) >= 3 * len(DOCKER_STEPS)
    shapes: dict[str, set[str]] = {}
    secret_paths: set[frozenset[str]] = set()
    for r in targets:
        h = host_of(r.name)
        assert h is not None, r.name
        assert r.is_secret("connection.password") and r.is_secret("connection.privateKey"), r.name
        assert r.get("connection.password") == PASSWORDS[h] and r.get("connection.privateKey") == KEYS[h]
        assert r.get("connection.host") == ADDRESSES[h]
        assert r.arg_is_secret("connection.password") and r.arg_is_secret("connection.private_key"), r.name
        args = r.args or {}
        shapes.setdefault(h, set()).add(repr(args["connection"]))
        secret_paths.add(frozenset(p for p, _, s in mockkit.walk(args["connection"]) if s))
    assert all(len(s) == 1 for s in shapes.values()), shapes  # one connection per host, built the same way
    assert secret_paths == {frozenset({"password", "private_key"})}  # and the same secretness on every host


def test_credentials_secret_on_every_resource_and_never_in_scripts(binary_dir: Path) -> None:
    g = build(sources(binary_dir))
    _check_connections(g)
    assert g.leaks(CREDENTIALS) == []
    assert g.leaks(CREDENTIALS, keys=mockkit.SCRIPT_KEYS, even_if_secret=True) == []


def test_registry_secrets_travel_on_stdin_only(registry_binary_dir: Path) -> None:
    g = build(sources(registry_binary_dir, S3))
    _check_connections(g)
    generated = [mockkit.plain(g["reg-admin-password"].outputs["value"]),
                 mockkit.plain(g["reg-http-secret"].outputs["value"]),
                 mockkit.plain(g["reg-tls"].outputs["key"])]
    secrets = [*CREDENTIALS, S3_SECRET, *generated]
    assert g.leaks(secrets) == []
    assert g.leaks(secrets, keys=mockkit.SCRIPT_KEYS, even_if_secret=True) == []
    with_stdin = [r for r in g.commands() if r.has("stdin")]
    assert with_stdin
    for r in with_stdin:
        assert r.is_secret("stdin"), r.name
        assert r.get("logging") == "none", r.name
        assert {"stdout", "stderr"} <= set(r.additional_secret_outputs), r.name
    # The bundle is `path mode base64` lines: the S3 key reaches the host as a file's content, through stdin.
    files = {line.split()[0]: base64.b64decode(line.split()[2]).decode()
             for r in with_stdin for line in r.get("stdin").splitlines() if line.strip()}
    assert any(S3_SECRET in text for text in files.values()), sorted(files)


# --- what a change touches -------------------------------------------------------------------------------------


def _per_host(*steps: str) -> set[str]:
    return {f"reg-{h}-{s}" for h in ADDRESSES for s in steps}


@pytest.mark.parametrize("layer", ["docker", "registry"])
def test_docker_version_bump_touches_only_the_engine(registry_binary_dir: Path, layer: str) -> None:
    mockkit.fake_binary_dir(registry_binary_dir, {"docker": ["25.0.5"]})
    extra = (S3,) if layer == "registry" else ()
    before = build(sources(registry_binary_dir, *extra))
    after = build(sources(registry_binary_dir, *extra, "docker_version=25.0.5"))
    changes = mockkit.summary(mockkit.diff(before, after))
    assert set(changes) == _per_host("docker-install", "docker-install-upload-docker")
    assert {op for n, op in changes.items() if n.endswith("-docker-install")} == {"update"}
    assert {op for n, op in changes.items() if n.endswith("-upload-docker")} == {"replace"}


def test_daemon_json_change_touches_only_docker_config(binary_dir: Path) -> None:
    before = build(sources(binary_dir))
    after = build(sources(binary_dir, "docker.insecure_registries=[10.0.0.50:5000]"))
    assert mockkit.summary(mockkit.diff(before, after)) == {n: "update" for n in _per_host("docker-config")}


def test_compose_version_bump_touches_only_compose(binary_dir: Path) -> None:
    mockkit.fake_binary_dir(binary_dir, {"dockercompose": ["v2.24.0"]})
    before = build(sources(binary_dir))
    after = build(sources(binary_dir, "dockercompose_version=v2.24.0"))
    changes = mockkit.summary(mockkit.diff(before, after))
    assert set(changes) == _per_host("compose-install", "compose-install-upload-dockercompose")


def test_adding_a_host_only_adds(binary_dir: Path) -> None:
    src = sources(binary_dir)
    before = mockkit.run(lambda: ImageRegistry(
        "reg", Inventory.from_hosts([src.inventory.hosts["n1"], src.inventory.hosts["n2"]]), src.settings))
    after = build(src)
    changes = mockkit.diff(before, after)
    added = {n for n, c in changes.items() if c.op == "create"}
    assert added == {"reg-n3-docker", *(f"reg-n3-{s}" for s in DOCKER_STEPS)}
    # n1 and n2 are untouched but for their precheck, which now also checks it reaches n3.
    assert {n: c.op for n, c in changes.items() if c.op != "create"} == {
        "reg-n1-precheck": "update", "reg-n2-precheck": "update"}


# --- bad input -------------------------------------------------------------------------------------------------


def test_empty_group_raises_before_any_command(binary_dir: Path) -> None:
    src = sources(binary_dir)
    inv = Inventory.from_hosts(list(src.inventory.hosts.values()), groups={"etcd": ["n1"]})
    rec = mockkit.Recorder()
    with pytest.raises(KKError, match="image_registry group is empty"):
        rec.run(lambda: ImageRegistry("reg", inv, src.settings))
    assert rec.graph.custom() == []


def test_topology_error_raises_before_any_command(registry_binary_dir: Path) -> None:
    src = sources(registry_binary_dir, "image_registry.type=registry")  # 3 nodes on local disks
    rec = mockkit.Recorder()
    with pytest.raises(KKError, match="3 registry nodes on local filesystem storage"):
        rec.run(lambda: ImageRegistry("reg", src.inventory, src.settings))
    assert rec.graph.custom() == []
