"""The docker layer on real lab hosts: Docker engine, daemon.json and docker compose from the offline artifacts.

One module-scoped deployment (3 hosts, ImageRegistry with ``image_registry.type=registry``, docker starting at the
oldest lab version) walks through the life of an install, one test per step, in file order:

    converge (facts, docker info, compose) → second apply is a no-op → daemon.json change (only docker-config,
    docker restarted) → docker_version bump (only the engine, in place, a running container survives) →
    a host leaves the inventory (its docker removed, its data kept)

Independent cases use their own Replay state: a host whose sshd is down fails alone (the Docker component on the
same three hosts), and the password-auth connector with ``delete_data=True`` then destroy (a fresh host).
Timings are printed (``-s``), never asserted.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from servers import Emulator

from pulumi_kk.components import Docker, ImageRegistry
from pulumi_kk.inventory import IMAGE_REGISTRY, Inventory
from pulumi_kk.render.docker import daemon_json
from pulumi_kk.settings import Settings

from .. import kk
from ..artifacts import LabArtifacts
from ..hosts import LabHost, LabRun
from ..replay import ApplyReport, Replay, ReplayError
from .conftest import s3_client

pytestmark = pytest.mark.lab

REG = "reg"
DOCKER_LAYER = ("docker-config", "docker-install", "docker-install-upload-docker", "compose-install",
                "compose-install-upload-dockercompose")  # fmt: skip
UNITS = ("containerd.service", "docker.socket", "docker.service")
REGISTRY_PROJECT = "com.docker.compose.project=registry"


def timed(what: str, t0: float) -> None:
    print(f"[docker-lab] {what}: {time.monotonic() - t0:.1f}s")


def changed(report: ApplyReport) -> dict[str, str]:
    """name → op of every resource that did something (echoed components and unchanged ones left out)."""
    out: dict[str, str] = {}
    for r in report.resources.values():
        if r.op in ("same", "echo"):
            continue
        out[r.name] = r.op if r.name not in out else f"{out[r.name]}+{r.op}"
    return out


def facts_dict(facts: pulumi.Output[Any]) -> pulumi.Output[dict[str, Any]]:
    return facts.apply(dataclasses.asdict)


def registry_program(inv: Inventory, s: Settings, delete_data: bool = False) -> Callable[[], ImageRegistry]:
    """kk.registry_program plus each host's Docker facts exported (``facts`` → {host: asdict(Facts)})."""

    def program() -> ImageRegistry:
        reg = ImageRegistry(REG, inv, s, delete_data=delete_data)
        pulumi.export("facts", {name: facts_dict(d.facts) for name, d in reg.docker.items()})
        pulumi.export("versions", reg.versions)
        return reg

    return program


def docker_program(inv: Inventory, s: Settings, delete_data: bool = False) -> Callable[[], dict[str, Docker]]:
    """The Docker component alone on every image_registry host (resources named ``<host>-<step>``)."""

    def program() -> dict[str, Docker]:
        out = {h.name: Docker(f"{h.name}-docker", h, s, delete_data=delete_data) for h in inv.group(IMAGE_REGISTRY)}
        pulumi.export("facts", {name: facts_dict(d.facts) for name, d in out.items()})
        return out

    return program


def dockerd_version(h: LabHost) -> str:
    return h.sh("/usr/local/bin/dockerd --version")


def assert_docker_works(h: LabHost, docker_version: str, compose_version: str) -> None:
    server = h.sh("docker info --format '{{.ServerVersion}}'")
    assert server == docker_version or server.startswith((f"{docker_version}+", f"{docker_version}-")), server
    assert docker_version in dockerd_version(h), h.name
    assert h.sh("docker compose version --short").lstrip("v") == compose_version.lstrip("v"), h.name
    assert compose_version.lstrip("v") in h.sh("docker-compose version"), h.name


def assert_facts(facts: dict[str, Any], h: LabHost) -> None:
    assert facts["arch"] == "amd64", facts
    assert facts["os_id"] == "debian" and facts["os_family"] == "deb", facts
    assert facts["hostname"] == h.name, facts
    eth0 = [i["cidr"] for i in facts["interfaces"] if i["name"].split("@")[0] == "eth0"]
    assert any(c.split("/")[0] == h.ip for c in eth0), (h.ip, facts["interfaces"])


def wait_for(h: LabHost, cmd: str, timeout_s: float = 60) -> float:
    """Poll ``cmd`` on ``h`` until it exits 0; returns the seconds it took (AssertionError on timeout)."""
    t0 = time.monotonic()
    while True:
        r = h.run(cmd, check=False)
        if r.exit_status == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"{h.name}: `{cmd}` still failing after {timeout_s:.0f}s: {r.combined}")
        time.sleep(0.5)


def registry_serves(h: LabHost) -> float:
    return wait_for(h, "test \"$(curl -fsSk -o /dev/null -w '%{http_code}' https://127.0.0.1/)\" = 200")


def premake_artifact_dir(hosts: list[LabHost]) -> None:
    """Work around a lab race: the replay's SFTP mkdir -p fails ("Failure") when two uploads to one fresh host create
    the same parent (/opt/pulumi-kk/artifacts) at once; pulumi-command's MkdirAll re-stats and goes on."""
    for h in hosts:
        h.sh("mkdir -p /opt/pulumi-kk/artifacts")


def main_pid(h: LabHost, unit: str = "docker") -> str:
    return h.sh(f"systemctl show -p MainPID --value {unit}")


# ------------------------------------------------------------------------------------------------ the deployment


@dataclass
class Deployment:
    """Three hosts under one Replay state; the tests below change it step by step."""

    hosts: list[LabHost]
    replay: Replay
    artifacts: LabArtifacts
    docker_version: str
    overrides: dict[str, Any] = field(default_factory=dict)
    first: ApplyReport | None = None

    @property
    def compose_version(self) -> str:
        return self.settings().dockercompose_version

    def settings(self) -> Settings:
        return kk.settings(self.artifacts, self.overrides, docker_version=self.docker_version)

    def apply(self, hosts: list[LabHost] | None = None, what: str = "apply") -> ApplyReport:
        t0 = time.monotonic()
        report = self.replay.apply(registry_program(kk.inventory(hosts or self.hosts), self.settings()))
        print(report.summary())
        timed(what, t0)
        return report


@pytest.fixture(scope="module")
def trio(lab_run: LabRun, lab_host_image: str) -> Iterator[list[LabHost]]:
    t0 = time.monotonic()
    hosts = lab_run.start_hosts(3, image=lab_host_image, name="dk")
    timed("start 3 hosts", t0)
    premake_artifact_dir(hosts)
    yield hosts
    lab_run.remove_hosts(hosts)


@pytest.fixture(scope="module")
def deployment(
    trio: list[LabHost], lab_artifacts: LabArtifacts, lab_s3: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Deployment:
    versions = lab_artifacts.versions("docker")
    assert len(versions) >= 2, f"the lab needs two docker versions for the bump, has {versions}"
    bucket = f"docker-lab-{trio[0].name.split('-')[1]}"
    s3_client(lab_s3).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    # three registry nodes need shared storage: the lab's S3 (moto) on the gateway
    storage = {
        "s3": {
            "bucket": bucket,
            "region": "us-east-1",
            "regionendpoint": lab_s3.endpoint,
            "accesskey": "testing",
            "secretkey": "testing",
            "secure": False,
        }
    }
    overrides = {"image_registry": {"type": "registry", "registry": {"storage": storage}}}
    d = Deployment(
        trio,
        Replay(Path(tmp_path_factory.mktemp("docker-lab")) / "state.json"),
        lab_artifacts,
        docker_version=versions[0],
        overrides=overrides,
    )
    d.first = d.apply(what=f"converge 3 hosts (docker {d.docker_version}, compose, registry)")
    return d


def name(h: LabHost, step: str) -> str:
    return f"{REG}-{h.name}-{step}"


# ------------------------------------------------------------------------------------------------ tests, in order


def test_converge_three_hosts(deployment: Deployment) -> None:
    d = deployment
    assert d.first is not None
    assert d.first.counts["failed"] == 0 and d.first.counts["skipped"] == 0
    for h in d.hosts:
        for step in DOCKER_LAYER:
            assert d.first.by_name(name(h, step)).op == "create", step
        assert_docker_works(h, d.docker_version, d.compose_version)
        # the facts the component parsed (exported) and the precheck's raw stdout agree with the host
        assert_facts(d.first.outputs["facts"][h.name], h)
        probe = d.first.by_name(name(h, "precheck")).ran[0].stdout
        assert "machine=x86_64" in probe and "os_id=debian" in probe
        assert f"iface=eth0 cidr={h.ip}/" in probe, probe
        assert d.first.outputs["versions"][h.name]["docker"] == d.docker_version
    # the registry runs on each (the daemon.json change and the version bump must bring it back)
    for h in d.hosts:
        assert h.sh(f"docker ps -q --filter label={REGISTRY_PROJECT} --filter status=running"), h.name


def test_second_apply_runs_nothing(deployment: Deployment) -> None:
    first = deployment.first
    assert first is not None
    again = deployment.apply(what="second apply")
    assert again.commands_run == 0 and again.bytes_copied == 0, again.summary()
    assert again.counts["unchanged"] == first.counts["created"]


def test_daemon_json_change_reruns_only_config_and_restarts_docker(deployment: Deployment) -> None:
    d = deployment
    before = {h.name: main_pid(h) for h in d.hosts}
    insecure = ["10.99.0.1:5000", "lab-mirror.invalid:5000"]
    d.overrides = {**d.overrides, "docker": {"insecure_registries": insecure}}
    report = d.apply(what="daemon.json change")
    assert changed(report) == {name(h, "docker-config"): "update" for h in d.hosts}, report.summary()
    want = daemon_json(d.settings()) + "\n"
    assert json.loads(want)["insecure-registries"] == insecure
    for h in d.hosts:
        assert h.read("/etc/docker/daemon.json").decode() == want
        config = report.by_name(name(h, "docker-config")).ran[0]
        assert "daemon.json changed; restarting docker" in config.stderr, config.stderr
        assert main_pid(h) not in ("0", before[h.name]), f"{h.name}: docker was not restarted"
        registries = h.sh("docker info --format '{{json .RegistryConfig.IndexConfigs}}'")
        assert "lab-mirror.invalid:5000" in registries, registries
        # the registry's unit Requires= docker.service, so systemd restarts it with docker
        print(f"[docker-lab] {h.name}: registry serves again {registry_serves(h):.1f}s after the apply")
    assert d.apply(what="apply after daemon.json change").commands_run == 0


def test_docker_version_bump_upgrades_in_place(deployment: Deployment) -> None:
    d = deployment
    old, new = d.docker_version, d.artifacts.versions("docker")[-1]
    # a plain container with restart=always, started before the bump, must be the same container afterwards
    containers: dict[str, str] = {}
    for h in d.hosts:
        h.put(str(d.artifacts.busybox_tar), "/tmp/busybox.tar")
        image = h.sh("docker load -q -i /tmp/busybox.tar | sed -n 's/^Loaded image[^:]*: //p'")
        containers[h.name] = h.sh(
            f"docker run -d --restart always --name sentinel {image} "
            "sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'"
        )
    d.docker_version = new
    report = d.apply(what=f"docker bump {old} -> {new}")
    want: dict[str, str] = {}
    for h in d.hosts:
        want[name(h, "docker-install")] = "update"
        want[name(h, "docker-install-upload-docker")] = "replace+delete"  # create-before-delete of the upload
    assert changed(report) == want, report.summary()
    for h in d.hosts:
        for step in (
            "compose-install",
            "compose-install-upload-dockercompose",
            "docker-config",
            "precheck",
            "registry-service",
            "registry-image",
        ):
            assert report.by_name(name(h, step)).op == "same", (h.name, step)
        install = report.by_name(name(h, "docker-install"))
        assert [x.action for x in install.ran] == ["create"]
        assert re.search(
            rf"upgrading docker {re.escape(old)}\S* -> {re.escape(new)} in place", install.ran[0].stderr
        ), install.ran[0].stderr
        assert new in dockerd_version(h), h.name
        assert_docker_works(h, new, d.compose_version)
        cid = containers[h.name]
        took = wait_for(h, f"test \"$(docker inspect -f '{{{{.State.Running}}}}' {cid})\" = true", 30)
        print(f"[docker-lab] {h.name}: sentinel container running again {took:.1f}s after the apply")
        print(f"[docker-lab] {h.name}: registry serves again {registry_serves(h):.1f}s after the apply")
    assert d.apply(what="apply after bump").commands_run == 0


def test_removed_host_loses_docker_keeps_data(deployment: Deployment) -> None:
    d = deployment
    *stay, gone = d.hosts
    report = d.apply(stay, what=f"remove {gone.name} from the inventory")
    deleted = {r.name for r in report.resources.values() if r.op == "delete" and r.ran}
    for step in ("docker-install", "compose-install", "docker-config", "registry-service"):
        assert name(gone, step) in deleted, (step, report.summary())
        assert all(x.exit_status == 0 for x in report.by_name(name(gone, step)).ran)
    for h in stay:  # the docker layer of the hosts that stay is untouched
        for step in DOCKER_LAYER:
            assert report.by_name(name(h, step)).op == "same", (h.name, step)
        assert_docker_works(h, d.docker_version, d.compose_version)
    left = gone.sh(
        "for p in /usr/local/bin/dockerd /usr/local/bin/docker /usr/local/bin/containerd "
        "/usr/local/bin/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose "
        + " ".join(f"/etc/systemd/system/{u}" for u in UNITS)
        + "; do [ -e $p ] && echo $p; done; true"
    )
    assert left == "", f"left on {gone.name}: {left}"
    assert gone.run("pgrep -x dockerd", check=False).exit_status != 0
    assert gone.run("systemctl is-active -q docker.service", check=False).exit_status != 0
    assert gone.run("test -e /etc/docker/daemon.json", check=False).exit_status != 0
    # delete_data is off: the data root stays, with docker's content in it
    assert gone.sh("ls /var/lib/docker"), "data_root emptied without delete_data"
    assert gone.run("test -d /var/lib/docker/image", check=False).exit_status == 0
    d.hosts = stay
    assert d.apply(what="apply after removal").commands_run == 0


def test_host_with_sshd_down_fails_alone(trio: list[LabHost], lab_artifacts: LabArtifacts, replay: Replay) -> None:
    """Fresh state, the Docker component on the three hosts (after the tests above: two with docker, the one that
    left the inventory without); the third has its sshd stopped."""
    h1, h2, down = trio
    down.docker_exec("systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh")
    try:
        assert down.docker_exec("systemctl is-active ssh || true").strip() != "active"
        s = kk.settings(lab_artifacts)
        t0 = time.monotonic()
        with pytest.raises(ReplayError) as ei:
            replay.apply(docker_program(kk.inventory(trio), s))
        timed("apply with one host's sshd down (pulumi-command's 20 dial retries)", t0)
        rep = ei.value.report
        print(rep.summary())
        failures = rep.failures
        print("\n".join(failures))
        assert failures and all(down.name in f and down.ip in f for f in failures), failures
        assert rep.by_name(f"{down.name}-facts").op == "failed"
        for step in ("docker-config", "docker-install", "compose-install"):
            assert rep.by_name(f"{down.name}-{step}").op == "skipped"
        for h in (h1, h2):
            for step in ("facts", "docker-config", "docker-install", "compose-install"):
                r = rep.by_name(f"{h.name}-{step}")
                assert r.op == "create" and r.ran and all(x.exit_status == 0 for x in r.ran), (h.name, step)
            assert_docker_works(h, s.docker_version, s.dockercompose_version)
    finally:
        down.docker_exec("systemctl start ssh")


def test_password_auth_and_delete_data(
    lab_hosts: Callable[..., list[LabHost]], lab_artifacts: LabArtifacts, replay: Replay
) -> None:
    """The password connector converges; with delete_data=True, destroy removes docker and its data root."""
    (h,) = lab_hosts(1, password=True, name="pw")
    premake_artifact_dir([h])
    inv = kk.inventory([h], use_password=True)
    assert all(x.password and not x.private_key for x in inv.group(IMAGE_REGISTRY))
    s = kk.settings(lab_artifacts, docker_version=lab_artifacts.versions("docker")[0])
    t0 = time.monotonic()
    report = replay.apply(docker_program(inv, s, delete_data=True))
    print(report.summary())
    timed("converge 1 host by password", t0)
    assert_docker_works(h, s.docker_version, s.dockercompose_version)
    assert_facts(report.outputs["facts"][h.name], h)
    # data to lose: an image in the data root
    h.put(str(lab_artifacts.busybox_tar), "/tmp/busybox.tar")
    h.sh("docker load -i /tmp/busybox.tar >/dev/null && test -d /var/lib/docker/image")
    assert replay.apply(docker_program(inv, s, delete_data=True)).commands_run == 0
    t0 = time.monotonic()
    gone = replay.destroy()
    print(gone.summary())
    timed("destroy with delete_data", t0)
    assert h.run("test -e /usr/local/bin/dockerd", check=False).exit_status != 0
    assert h.run("test -e /etc/systemd/system/docker.service", check=False).exit_status != 0
    # the lab mounts a volume at /var/lib/docker (a data disk): it can only be emptied, not removed
    assert h.sh("ls -A /var/lib/docker 2>/dev/null; true") == ""
    assert h.run("test -e /var/lib/containerd", check=False).exit_status != 0
