"""Lab benchmark: how the docker layer's converge time grows from 1 to N hosts (Docker component, offline artifacts).

    .venv/bin/python benchmarks/lab_docker.py [--hosts 3] [--version 26.1.5] [--rounds 1]

Starts 1 + N fresh lab hosts and converges the Docker component (daemon.json, engine from the static tarball,
compose) with the replay executor: first on the single host, then on the N others in one apply. Hosts are
independent resources, so the N-host converge runs them in parallel; the ratio (N-host wall / 1-host wall) shows
what parallelism buys on this machine (1.0 = perfectly parallel; N = fully serial). Per phase it prints the uploads
(SFTP of ~150 MB per host), the engine install and compose, and a second apply (nothing runs: state diff only).
Needs root and the lab daemon (started on demand, like the pytest fixtures); the host image and artifacts are built
when missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pulumi
from lab import kk
from lab.artifacts import LabArtifacts, build_all
from lab.common import ensure_daemon
from lab.host_image import ensure_host_image
from lab.hosts import LabHost, LabRun, remove_leftovers
from lab.replay import ApplyReport, Replay

from pulumi_kk.components import Docker
from pulumi_kk.settings import Settings


def program(hosts: list[LabHost], s: Settings) -> None:
    for h in kk.inventory(hosts).group("image_registry"):
        Docker(f"{h.name}-docker", h, s)
    pulumi.export("hosts", [h.name for h in hosts])


def phases(r: ApplyReport) -> str:
    """Longest span per kind of step across the hosts: uploads, engine, compose."""

    def span(suffix: str) -> float:
        xs = [x.seconds for x in r.resources.values() if x.name.endswith(suffix) and x.op != "echo"]
        return max(xs, default=0.0)

    return (
        f"uploads ≤{max(span('-upload-docker'), span('-upload-dockercompose')):.1f}s, "
        f"docker-install ≤{span('-docker-install'):.1f}s, compose-install ≤{span('-compose-install'):.1f}s"
    )


def converge(hosts: list[LabHost], s: Settings, state: Path) -> tuple[ApplyReport, ApplyReport]:
    for h in hosts:  # see premake_artifact_dir in tests/lab/components/test_docker_lab.py (replay SFTP mkdir race)
        h.sh("mkdir -p /opt/pulumi-kk/artifacts")
    replay = Replay(state)
    first = replay.apply(lambda: program(hosts, s))
    again = replay.apply(lambda: program(hosts, s))
    assert again.commands_run == 0, again.summary()
    for h in hosts:
        h.sh("docker info >/dev/null && docker compose version >/dev/null")
    return first, again


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=3, help="hosts in the wide converge (default 3)")
    p.add_argument("--version", default="", help="docker version from the lab artifacts (default: newest)")
    p.add_argument("--rounds", type=int, default=1, help="repeat the 1-vs-N measurement on fresh hosts")
    a = p.parse_args()
    ensure_daemon()
    remove_leftovers()
    t0 = time.monotonic()
    image = ensure_host_image()
    arts: LabArtifacts = build_all()
    print(f"host image + artifacts ready: {time.monotonic() - t0:.1f}s (cached after the first run)")
    version = a.version or arts.versions("docker")[-1]
    s = kk.settings(arts, docker_version=version)
    print(f"docker {version}, compose {s.dockercompose_version}, {os.cpu_count()} CPU(s)")
    run = LabRun(keep=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rnd in range(a.rounds):
                t0 = time.monotonic()
                hosts = run.start_hosts(1 + a.hosts, image=image, name=f"bench{rnd}-")
                print(f"start {1 + a.hosts} hosts: {time.monotonic() - t0:.1f}s")
                one, one_again = converge(hosts[:1], s, Path(tmp) / f"one-{rnd}.json")
                print(f"1 host:  {one.wall_s:6.1f}s  ({phases(one)}); second apply {one_again.wall_s:.2f}s")
                many, many_again = converge(hosts[1:], s, Path(tmp) / f"many-{rnd}.json")
                print(f"{a.hosts} hosts: {many.wall_s:6.1f}s  ({phases(many)}); second apply {many_again.wall_s:.2f}s")
                print(f"ratio {a.hosts} hosts / 1 host: {many.wall_s / one.wall_s:.2f}x "
                      f"(1.00 = fully parallel, {a.hosts}.00 = serial)")  # fmt: skip
                run.remove_hosts(hosts)
    finally:
        run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
