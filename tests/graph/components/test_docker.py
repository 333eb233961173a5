"""The Docker component's graph: children, order, options, secrets, and what a settings change touches."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mockkit
import pytest

from pulumi_kk.components.docker import TYPE as DOCKER_TYPE
from pulumi_kk.components.docker import Docker
from pulumi_kk.errors import KKError
from pulumi_kk.inventory import Host
from pulumi_kk.settings import Layer, Settings, build, parse_set

PASSWORD = "pw-Docker-Secret-0001"
KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
       "b3BlbnNzaC1rZXktdjEAAAAAZmFrZS1kb2NrZXItdGVzdC1rZXktbWF0ZXJpYWw=\n"
       "-----END OPENSSH PRIVATE KEY-----\n")
KEY_BODY = KEY.splitlines()[1]

FACTS, CONFIG, INSTALL, COMPOSE = "n1-facts", "n1-docker-config", "n1-docker-install", "n1-compose-install"
UP_DOCKER, UP_COMPOSE = "n1-docker-install-upload-docker", "n1-compose-install-upload-dockercompose"
COMMANDS = (FACTS, CONFIG, INSTALL, COMPOSE)


def ssh_host(**kw: Any) -> Host:
    return Host(**{"name": "n1", "address": "10.0.0.11", "password": PASSWORD, "private_key": KEY, **kw})


def settings(binary_dir: Path, values: Mapping[str, Any] | None = None, sets: tuple[str, ...] = ()) -> Settings:
    layers = [Layer({"binary_dir": str(binary_dir), **(values or {})}, "--set")]
    if sets:
        layers.append(Layer(parse_set(list(sets)), "--set"))
    return build(layers)


def docker(s: Settings, host: Host | None = None, mocks: mockkit.KKMocks | None = None,
           **kw: Any) -> mockkit.Graph:
    h = host or ssh_host()
    return mockkit.run(lambda: Docker(f"{h.name}-docker", h, s, **kw), mocks=mocks)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- children -------------------------------------------------------------------------------------------------


def test_children_with_local_artifacts(binary_dir: Path) -> None:
    g = docker(settings(binary_dir))
    assert {r.name: r.type for r in g} == {
        "n1-docker": DOCKER_TYPE,
        FACTS: mockkit.REMOTE_COMMAND, CONFIG: mockkit.REMOTE_COMMAND, INSTALL: mockkit.REMOTE_COMMAND,
        COMPOSE: mockkit.REMOTE_COMMAND,
        UP_DOCKER: mockkit.COPY_TO_REMOTE, UP_COMPOSE: mockkit.COPY_TO_REMOTE,
    }
    component = g["n1-docker"]
    assert not component.custom
    assert component.parent == g.stack_urn
    assert {r.name for r in g.children("n1-docker")} == set(g.names()) - {"n1-docker"}


def test_uploads_carry_the_binary_dir_files(binary_dir: Path) -> None:
    g = docker(settings(binary_dir))
    tgz = binary_dir / "docker/24.0.7/amd64/docker-24.0.7.tgz"
    compose = binary_dir / "image-registry/docker-compose/v2.20.3/amd64/docker-compose"
    for name, path, remote in ((UP_DOCKER, tgz, "/opt/pulumi-kk/artifacts/docker/24.0.7/amd64/docker-24.0.7.tgz"),
                               (UP_COMPOSE, compose,
                                "/opt/pulumi-kk/artifacts/dockercompose/v2.20.3/amd64/docker-compose")):
        up = g[name]
        assert up.inputs["source"] == mockkit.Asset("file", sha(path))
        assert up.inputs["source"].where == str(path)
        assert up.get("remotePath") == remote
        assert up.get("triggers") == [sha(path)]
        assert "triggers[*]" in up.replace_on_changes  # new content → a new copy
    install = g[INSTALL].get("create")
    assert "/opt/pulumi-kk/artifacts/docker/24.0.7/amd64/docker-24.0.7.tgz" in install
    assert sha(tgz) in install  # verified on the host before use
    assert "download.docker.com" not in install


def test_without_local_artifacts_the_host_downloads(tmp_path: Path) -> None:
    g = docker(settings(tmp_path / "empty"))
    assert g.names(mockkit.COPY_TO_REMOTE) == []
    assert set(g.names()) == {"n1-docker", *COMMANDS}
    assert "https://download.docker.com/linux/static/stable/x86_64/docker-24.0.7.tgz" in g[INSTALL].get("create")
    assert ("https://github.com/docker/compose/releases/download/v2.20.3/docker-compose-linux-x86_64"
            in g[COMPOSE].get("create"))
    assert g.deps(INSTALL, "explicit") == {FACTS, CONFIG}
    assert g.deps(COMPOSE, "explicit") == {FACTS, INSTALL}


# --- order ----------------------------------------------------------------------------------------------------


def test_dependency_order(binary_dir: Path) -> None:
    g = docker(settings(binary_dir))
    expected = {
        FACTS: set(),
        CONFIG: {FACTS},
        UP_DOCKER: {FACTS},
        INSTALL: {FACTS, CONFIG, UP_DOCKER},
        UP_COMPOSE: {FACTS},
        COMPOSE: {FACTS, INSTALL, UP_COMPOSE},
    }
    for name, deps in expected.items():
        assert g.deps(name, "explicit") == deps, name
        # Nothing orders a step but these: facts flow into every step's inputs, and facts is also explicit.
        assert g.deps(name) == deps, name
        assert g.deps(name, "property") <= {FACTS}, name
    chain = [FACTS, CONFIG, INSTALL, COMPOSE]
    for later, earlier in zip(chain[1:], chain[:-1], strict=True):
        assert g.reaches(later, earlier)
        assert not g.reaches(earlier, later)
    assert g.reaches(INSTALL, UP_DOCKER) and g.reaches(COMPOSE, UP_COMPOSE)
    # The uploads only wait for facts: both copies run while daemon.json is written.
    assert not g.reaches(UP_DOCKER, CONFIG) and not g.reaches(UP_COMPOSE, INSTALL)


def test_facts_flow_into_every_step(binary_dir: Path) -> None:
    g = docker(settings(binary_dir))
    for name in (CONFIG, INSTALL, COMPOSE):
        assert g[name].property_dependencies["create"] == {g[FACTS].urn}
    assert g[FACTS].get("create").startswith("set -eu\necho \"machine=$(uname -m)\"")
    assert "'/var/lib/docker'" in g[FACTS].get("create")  # free disk measured where docker keeps its data


# --- options --------------------------------------------------------------------------------------------------


def test_every_command_deletes_before_replace(binary_dir: Path) -> None:
    g = docker(settings(binary_dir))
    assert {c.name for c in g.commands()} == set(COMMANDS)
    for c in g.commands():
        assert c.delete_before_replace, c.name
        assert c.additional_secret_outputs == ("connection",), c.name  # no secret file → stdout stays visible
    for up in g.of_type(mockkit.COPY_TO_REMOTE):
        assert not up.has("delete")  # CopyToRemote has no delete; the uninstall Command removes what it used


def test_delete_where_expected(binary_dir: Path) -> None:
    g = docker(settings(binary_dir))
    assert not g[FACTS].has("delete")
    for name, words in ((CONFIG, "give back /etc/docker/daemon.json"), (INSTALL, "remove the Docker"),
                        (COMPOSE, "remove the docker compose")):
        delete = g[name].get("delete")
        assert delete.startswith("bash -c \"$(cat <<'KK_SCRIPT_EOF'\n"), name
        assert words in delete, name
        assert delete != g[name].get("create")
    assert "keeps /var/lib/docker" in g[INSTALL].get("delete")


def test_delete_data_removes_data_root(binary_dir: Path) -> None:
    g = docker(settings(binary_dir, {"docker": {"data_root": "/data/docker"}}), delete_data=True)
    delete = g[INSTALL].get("delete")
    assert "removes /data/docker" in delete and "rm -rf /data/docker" in delete


# --- facts-dependent inputs ------------------------------------------------------------------------------------


def test_arm64_host_gets_arm64_artifacts(tmp_path: Path) -> None:
    bd = mockkit.fake_binary_dir(tmp_path / "kk", arches=("amd64", "arm64"))
    g = docker(settings(bd), mocks=mockkit.KKMocks(facts={"10.0.0.11": {"machine": "aarch64"}}))
    assert "install Docker 24.0.7 (arm64)" in g[INSTALL].get("create")
    assert g[UP_DOCKER].inputs["source"].where == str(bd / "docker/24.0.7/arm64/docker-24.0.7.tgz")
    assert g[UP_COMPOSE].get("remotePath").endswith("/dockercompose/v2.20.3/arm64/docker-compose")


def test_arch_mismatch_found_by_facts_stops_every_step(binary_dir: Path) -> None:
    rec = mockkit.Recorder(mockkit.KKMocks(facts={"10.0.0.11": {"machine": "aarch64"}}))
    with pytest.raises(ValueError, match="artifacts for arm64 and amd64 differ in kind"):
        rec.run(lambda: Docker("n1-docker", ssh_host(), settings(binary_dir)))
    assert {r.name for r in rec.graph.custom()} == {FACTS}  # only the facts command ran


def test_input_error_raised_before_any_command(tmp_path: Path) -> None:
    s = settings(tmp_path / "empty", {"artifact": {"online": False}})
    rec = mockkit.Recorder()
    with pytest.raises(KKError, match=r"no docker 24\.0\.7 artifact for arm64"):
        rec.run(lambda: Docker("n1-docker", ssh_host(arch="arm64"), s))
    assert rec.graph.custom() == []  # not even the facts command reaches the engine


# --- secrets --------------------------------------------------------------------------------------------------


def test_credentials_are_secret_and_never_in_scripts(binary_dir: Path) -> None:
    g = docker(settings(binary_dir))
    shapes = set()
    for r in g.custom():
        assert r.is_secret("connection.password") and r.is_secret("connection.privateKey"), r.name
        assert r.get("connection.password") == PASSWORD and r.get("connection.privateKey") == KEY
        # The component marks them itself (pulumi_command would hide a plain one inside its secret connection).
        assert r.arg_is_secret("connection.password") and r.arg_is_secret("connection.private_key"), r.name
        assert not r.arg_is_secret("connection.host")
        shapes.add(repr(r.args["connection"] if r.args else None))
    assert len(shapes) == 1  # the same connection, built the same way, on every resource
    assert g.leaks([PASSWORD, KEY, KEY_BODY]) == []


# --- local connector ------------------------------------------------------------------------------------------


def test_local_host_uses_local_commands(binary_dir: Path) -> None:
    g = docker(settings(binary_dir), host=Host("localhost", address="localhost", connector="local"))
    tgz = binary_dir / "docker/24.0.7/amd64/docker-24.0.7.tgz"
    assert {r.type for r in g.custom()} == {mockkit.LOCAL_COMMAND}
    up = g["localhost-docker-install-upload-docker"]
    assert up.get("create") == (f"install -D -m 0644 '{tgz}' "
                                "'/opt/pulumi-kk/artifacts/docker/24.0.7/amd64/docker-24.0.7.tgz'")
    assert up.get("triggers") == [sha(tgz)]
    assert "connection" not in g["localhost-docker-install"].inputs
    assert g.deps("localhost-docker-install", "explicit") == {
        "localhost-facts", "localhost-docker-config", "localhost-docker-install-upload-docker"}


# --- what a change touches (pulumi preview --diff) --------------------------------------------------------------


def test_same_inputs_change_nothing(binary_dir: Path) -> None:
    s = settings(binary_dir)
    assert mockkit.diff(docker(s), docker(s)) == {}


def test_docker_version_bump_touches_only_the_engine(binary_dir: Path) -> None:
    mockkit.fake_binary_dir(binary_dir, {"docker": ["25.0.5"]})
    before = docker(settings(binary_dir))
    after = docker(settings(binary_dir, sets=("docker_version=25.0.5",)))
    changes = mockkit.diff(before, after)
    assert mockkit.summary(changes) == {INSTALL: "update", UP_DOCKER: "replace"}
    assert "create" in changes[INSTALL].keys and "connection" not in changes[INSTALL].keys
    assert changes[UP_DOCKER].replace_keys == ("triggers",)


def test_daemon_json_change_touches_only_docker_config(binary_dir: Path) -> None:
    before = docker(settings(binary_dir))
    after = docker(settings(binary_dir, {"docker": {"insecure_registries": ["10.0.0.50:5000"]}}))
    changes = mockkit.diff(before, after)
    assert mockkit.summary(changes) == {CONFIG: "update"}
    assert changes[CONFIG].keys == ("create",)
    assert '"insecure-registries": [\n    "10.0.0.50:5000"\n  ]' in after[CONFIG].get("create")


def test_compose_version_bump_touches_only_compose(binary_dir: Path) -> None:
    mockkit.fake_binary_dir(binary_dir, {"dockercompose": ["v2.24.0"]})
    before = docker(settings(binary_dir))
    after = docker(settings(binary_dir, sets=("dockercompose_version=v2.24.0",)))
    assert mockkit.summary(mockkit.diff(before, after)) == {COMPOSE: "update", UP_COMPOSE: "replace"}


def test_artifact_content_change_recopies_and_reinstalls(binary_dir: Path) -> None:
    before = docker(settings(binary_dir))
    (binary_dir / "docker/24.0.7/amd64/docker-24.0.7.tgz").write_text("rebuilt tarball\n")
    after = docker(settings(binary_dir))
    # Same version, new bytes: copied again (replace), and the install verifies the new sha256 (update).
    assert mockkit.summary(mockkit.diff(before, after)) == {UP_DOCKER: "replace", INSTALL: "update"}
