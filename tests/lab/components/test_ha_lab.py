"""High availability on real hosts: three registry nodes on one S3 bucket (moto) behind a keepalived VIP.

One cluster for the module (hosts, converge and pushes are the expensive part), then, in order:

1. converge: exactly one node holds the VIP; 20 distinct images pushed through the VIP (TLS + htpasswd);
2. failover: graceful stop of the holder's keepalived, then a frozen holder (``docker pause`` of the whole lab host),
   each timed; every image pulls through the VIP with its pushed digest while the holder is frozen; after unpause
   the host rejoins as BACKUP (and the documented exception: a frozen node of higher priority than the new holder
   takes the VIP back when it resumes);
3. a second apply runs nothing;
4. registry 2.8.2 → 2.8.3 rolls one node at a time while a client keeps pulling through the VIP;
5. active-active (haproxy on every node): requests through the VIP reach more than one registry;
6. the VRID is the same on every host and across every apply.

Failover times: pollers on the other hosts run ``ip -o -4 addr show`` every 20 ms and stamp the moment the VIP
appears with the host's clock (``$EPOCHREALTIME``); the action is stamped just before it starts (``date +%s.%N``
on the holder for a keepalived stop, this machine's clock before ``docker pause``). Lab hosts share this machine's
kernel clock, so the stamps compare directly. ``benchmarks/lab_failover.py`` repeats these measurements.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from servers import Emulator

from pulumi_kk.render.keepalived import DRAIN_FILE, derive_vrid
from pulumi_kk.settings import Settings, deep_merge

from ..artifacts import LabArtifacts
from ..common import docker, log, need_tool, record_timing
from ..hosts import LabHost, LabNetwork, LabRun
from ..kk import inventory, registry_program, settings
from ..replay import ApplyReport, Replay, ResourceReport

pytestmark = pytest.mark.lab

NAME = "reg"  # the ImageRegistry's name (the VRID derives from it and the VIP)
KEEPALIVED_CONTAINER = "keepalived-keepalived-1"
REGISTRY_CONTAINER = "registry-registry-1"
IMAGES = 20
FROZEN_GOAL_S = 1.5  # VRRPv3, advert_int 0.25: 3 × 0.25 s + skew, plus polling and the pause itself

# ----------------------------------------------------------------------------------------------- VIP probes


def holders(hosts: Sequence[LabHost], vip: str) -> list[LabHost]:
    """The hosts that have ``vip`` configured right now (asked in parallel)."""

    def has(h: LabHost) -> bool:
        out = h.run("ip -o -4 addr show", timeout=30).stdout
        return f" {vip}/" in out

    with ThreadPoolExecutor(len(hosts)) as ex:
        flags = list(ex.map(has, hosts))
    return [h for h, f in zip(hosts, flags, strict=True) if f]


def wait_one_holder(hosts: Sequence[LabHost], vip: str, timeout_s: float = 10.0) -> LabHost:
    deadline = time.monotonic() + timeout_s
    seen: list[LabHost] = []
    while time.monotonic() < deadline:
        seen = holders(hosts, vip)
        if len(seen) == 1:
            return seen[0]
        time.sleep(0.2)
    raise AssertionError(f"expected exactly one holder of {vip} within {timeout_s:.0f} s, have "
                         f"{[h.name for h in seen]}\n" + "\n".join(keepalived_log(h, 15) for h in hosts))


def keepalived_log(h: LabHost, tail: int = 200) -> str:
    return h.run(f"docker logs --tail {tail} {KEEPALIVED_CONTAINER} 2>&1", check=False, timeout=30).stdout


def vrrp_state(h: LabHost) -> str:
    """The instance's state from keepalived's log: MASTER, BACKUP or FAULT (the last transition it logged)."""
    states = re.findall(r"Entering (MASTER|BACKUP|FAULT) STATE", keepalived_log(h))
    return states[-1] if states else "UNKNOWN"


def wait_state(h: LabHost, state: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if vrrp_state(h) == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"{h.name}: keepalived not {state} within {timeout_s:.0f} s:\n{keepalived_log(h, 20)}")


def drain(h: LabHost, on: bool) -> None:
    """pulumi-kk's drain switch: 1 puts the node in FAULT at once (it gives up the VIP), 0 lets it back as BACKUP."""
    h.run(f"echo {1 if on else 0} > {DRAIN_FILE}", timeout=30)


def make_holder(hosts: Sequence[LabHost], target: LabHost, vip: str) -> None:
    """Move the VIP to ``target`` by draining every other node, then let them back (BACKUP, nopreempt)."""
    others = [h for h in hosts if h is not target]
    if holders(hosts, vip) == [target]:
        return
    with ThreadPoolExecutor(len(others)) as ex:
        list(ex.map(lambda h: drain(h, True), others))
    try:
        deadline = time.monotonic() + 10
        while holders(hosts, vip) != [target]:
            assert time.monotonic() < deadline, f"{target.name} did not take {vip} while the others were drained"
            time.sleep(0.1)
    finally:
        with ThreadPoolExecutor(len(others)) as ex:
            list(ex.map(lambda h: drain(h, False), others))
    for h in others:
        wait_state(h, "BACKUP")


# --------------------------------------------------------------------------------------------- failover timing

POLL_SH = r"""vip=$1; limit=$2; stop=$3
echo "start $EPOCHREALTIME"
while [ "$SECONDS" -lt "$limit" ] && [ ! -e "$stop" ]; do
  if ip -o -4 addr show | grep -qF " $vip/"; then echo "got $EPOCHREALTIME"; exit 0; fi
  sleep 0.02
done
rm -f "$stop"
echo none
"""


@dataclass
class Failover:
    what: str
    seconds: float  # action start → VIP seen on the new holder
    old: str
    new: str
    action_s: float = 0.0  # how long the action command itself took (docker pause / docker stop)


def measure_failover(hosts: Sequence[LabHost], holder: LabHost, vip: str, what: str,
                     action: Callable[[], tuple[float, float]], limit_s: int = 15) -> Failover:
    """Start a VIP poller on every other host, run ``action`` (→ its start and end epoch), and return the time
    until the first poller sees the VIP."""
    others = [h for h in hosts if h is not holder]
    stop = f"/tmp/ha-poll-{os.getpid()}-{time.monotonic_ns()}.stop"
    cmd = f"bash -c {shlex.quote(POLL_SH)} poll {shlex.quote(vip)} {limit_s} {stop}"
    with ThreadPoolExecutor(len(others)) as ex:
        futs = {ex.submit(h.run, cmd, timeout=limit_s + 30): h for h in others}
        time.sleep(1.0)  # pollers running (checked below: each one's start stamp must precede the action)
        t0, t1 = action()
        results: dict[str, list[str]] = {}
        for fut in as_completed(futs):
            words = results[futs[fut].name] = fut.result().stdout.split()
            if "got" in words:  # the VIP is there: the other pollers can stop
                for h in others:
                    if h.name not in results:
                        h.run(f"touch {stop}", timeout=30)
    got: dict[str, float] = {}
    for name, words in results.items():
        start = float(words[1])
        assert start < t0, f"poller on {name} started after the action ({start:.3f} ≥ {t0:.3f}): timing invalid"
        if "got" in words:
            got[name] = float(words[words.index("got") + 1])
    assert got, f"{what}: the VIP appeared on no other host within {limit_s} s\n" + "\n".join(
        keepalived_log(h, 15) for h in hosts)
    new = min(got, key=lambda n: got[n])
    return Failover(what, got[new] - t0, holder.name, new, t1 - t0)


def stop_keepalived(h: LabHost) -> tuple[float, float]:
    out = h.sh(f"date +%s.%N; docker stop {KEEPALIVED_CONTAINER} >/dev/null; date +%s.%N", timeout=60).split()
    return float(out[0]), float(out[-1])


def start_keepalived(h: LabHost) -> None:
    h.run(f"docker start {KEEPALIVED_CONTAINER} >/dev/null", timeout=60)


def freeze(h: LabHost) -> tuple[float, float]:
    t0 = time.time()
    docker("pause", h.container)
    return t0, time.time()


def unfreeze(h: LabHost) -> None:
    docker("unpause", h.container, check=False)


# ----------------------------------------------------------------------------------------------- registry client


@dataclass
class Pushed:
    ref: str  # repo:tag
    digest: str  # manifest digest as pushed


@dataclass
class Client:
    """skopeo against the VIP: trusts the registry's CA, logs in with basic auth, never the machine's logins."""

    address: str
    ca_pem: str
    username: str
    password: str
    workdir: Path

    def __post_init__(self) -> None:
        need_tool("skopeo")
        self.cert_dir = self.workdir / "certs"
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        (self.cert_dir / "ca.crt").write_text(self.ca_pem)
        self.env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
        self.env["REGISTRY_AUTH_FILE"] = str(self.workdir / "no-auth.json")
        self._n = 0
        self._lock = threading.Lock()

    def _tmp(self, kind: str) -> Path:
        with self._lock:
            self._n += 1
            return self.workdir / f"{kind}-{self._n}"

    def skopeo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["skopeo", *args], capture_output=True, text=True, env=self.env, timeout=120)

    def push(self, archive: Path, ref: str) -> Pushed:
        df = self._tmp("digest")
        cp = self.skopeo("copy", "-q", "--dest-cert-dir", str(self.cert_dir),
                         "--dest-creds", f"{self.username}:{self.password}", "--digestfile", str(df),
                         f"docker-archive:{archive}", f"docker://{self.address}/{ref}")
        assert cp.returncode == 0, f"push {ref}: {cp.stderr}"
        return Pushed(ref, df.read_text().strip())

    def pull(self, ref: str) -> tuple[str | None, str]:
        """Pull ``ref`` into a dir (one try, no retries) → (manifest digest or None, error text)."""
        dest = self._tmp("pull")
        try:
            cp = self.skopeo("copy", "-q", "--src-cert-dir", str(self.cert_dir),
                             "--src-creds", f"{self.username}:{self.password}",
                             f"docker://{self.address}/{ref}", f"dir:{dest}")
            if cp.returncode != 0:
                return None, cp.stderr.strip()[-300:]
            return "sha256:" + hashlib.sha256((dest / "manifest.json").read_bytes()).hexdigest(), ""
        finally:
            subprocess.run(["rm", "-rf", str(dest)], check=False)

    def pull_all(self, images: Sequence[Pushed]) -> dict[str, str]:
        """Pull every image (4 at a time); returns ref → problem for each that failed or came back different."""
        def one(p: Pushed) -> tuple[str, str]:
            digest, err = self.pull(p.ref)
            if digest is None:
                return p.ref, f"pull failed: {err}"
            return p.ref, "" if digest == p.digest else f"digest {digest} != pushed {p.digest}"

        with ThreadPoolExecutor(4) as ex:
            return {ref: why for ref, why in ex.map(one, images) if why}


@dataclass
class Puller:
    """A client pulling through the VIP in a loop (background thread) until stopped; counts every failure."""

    client: Client
    images: Sequence[Pushed]
    attempts: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Puller:
        self._thread = threading.Thread(target=self._loop, name="ha-puller", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=180)

    def _loop(self) -> None:
        i = 0
        while not self._stop.is_set():
            p = self.images[i % len(self.images)]
            i += 1
            t = time.strftime("%H:%M:%S")
            digest, err = self.client.pull(p.ref)
            self.attempts += 1
            if digest != p.digest:
                self.failures.append(f"{t} {p.ref}: {err or f'digest {digest} != {p.digest}'}")


# ------------------------------------------------------------------------------------------------ the cluster


@dataclass
class Cluster:
    hosts: list[LabHost]
    vip: str
    bucket: str
    s3_endpoint: str
    artifacts: LabArtifacts
    replay: Replay
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)
    failovers: list[Failover] = field(default_factory=list)
    vrids: dict[str, int] = field(default_factory=dict)
    client: Client | None = None
    images: list[Pushed] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # what the cluster runs now (settings' default)

    def settings(self, overrides: dict[str, Any] | None = None, **versions: str) -> Settings:
        reg: dict[str, Any] = {
            "type": "registry", "ha_vip": self.vip, "auth": {"registry": self.vip},
            "registry": {"storage": {"s3": {"bucket": self.bucket, "regionendpoint": self.s3_endpoint,
                                            "accesskey": "testing", "secretkey": "testing", "region": "us-east-1",
                                            "secure": False}}},
        }
        return settings(self.artifacts, deep_merge({"image_registry": reg}, overrides or {}),
                        **{**self.versions, **versions})

    def apply(self, label: str, s: Settings) -> ApplyReport:
        t0 = time.monotonic()
        report = self.replay.apply(registry_program(inventory(self.hosts), s, name=NAME))
        self.timings[label] = time.monotonic() - t0
        print(report.summary())
        print(f"[ha] {label}: {self.timings[label]:.1f}s")
        return report

    def on_host_vrids(self) -> dict[str, int]:
        out = {}
        for h in self.hosts:
            conf = h.sh("cat /opt/pulumi-kk/keepalived/keepalived.conf")
            out[h.name] = int(re.search(r"virtual_router_id (\d+)", conf).group(1))  # type: ignore[union-attr]
        return out

    def by_name(self) -> dict[str, LabHost]:
        return {h.name: h for h in self.hosts}


def create_bucket(endpoint: str, name: str) -> str:
    """The registry's bucket on moto (any key works; moto does not check signatures)."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def ha(lab_run: LabRun, lab_host_image: str, lab_artifacts: LabArtifacts, lab_net: LabNetwork, lab_s3: Emulator,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    t0 = time.monotonic()
    need_tool("skopeo")
    bucket = create_bucket(lab_s3.endpoint, "ha-registry")
    hosts = lab_run.start_hosts(3, image=lab_host_image, name="ha")
    work = tmp_path_factory.mktemp("ha")
    c = Cluster(hosts, lab_net.vip(7), bucket, lab_s3.endpoint, lab_artifacts, Replay(work / "state.json"), work)
    c.timings["hosts"] = time.monotonic() - t0
    try:
        yield c
    finally:
        for h in hosts:
            unfreeze(h)
        print("\n[ha] timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in c.timings.items()))
        for f in c.failovers:
            print(f"[ha] failover {f.what}: {f.seconds:.3f}s ({f.old} → {f.new}; action took {f.action_s:.3f}s)")
        record_timing("ha: module total", time.monotonic() - t0)
        lab_run.remove_hosts(hosts)


# ------------------------------------------------------------------------------------------------------ tests


def test_converge_one_holder_and_push(ha: Cluster) -> None:
    # the oldest registry and keepalived, so that the later tests can roll each one to the newer version
    ha.versions = {"registry_version": ha.artifacts.versions("registry")[0],
                   "keepalived_version": ha.artifacts.versions("keepalived")[0]}
    report = ha.apply("converge", ha.settings())
    assert report.counts["failed"] == 0
    holder = wait_one_holder(ha.hosts, ha.vip)
    log(f"VIP {ha.vip} on {holder.name}")
    assert all(vrrp_state(h) == "BACKUP" for h in ha.hosts if h is not holder)
    assert report.outputs["endpoint"] == f"{ha.vip}:443"
    ha.client = Client(report.outputs["endpoint"], report.outputs["ca_cert"], report.outputs["username"],
                       report.outputs["password"], ha.workdir / "client")
    t0 = time.monotonic()
    tiny = ha.artifacts.make_tiny_images(IMAGES, ha.workdir / "images", repo="lab/ha")
    with ThreadPoolExecutor(4) as ex:
        ha.images = list(ex.map(lambda t: ha.client.push(t.path, t.tag), tiny))  # type: ignore[union-attr]
    ha.timings[f"push {IMAGES}"] = time.monotonic() - t0
    assert len({p.digest for p in ha.images}) == IMAGES
    ha.vrids = ha.on_host_vrids()
    assert set(ha.vrids.values()) == {derive_vrid(NAME, ha.vip)}, ha.vrids


def test_failover_graceful_then_frozen(ha: Cluster) -> None:
    assert ha.client is not None and ha.images, "needs the converged cluster"
    hosts, vip = ha.hosts, ha.vip
    by = ha.by_name()
    t_start = time.monotonic()

    # (a) graceful: the holder's keepalived stops (SIGTERM → priority-0 advert)
    h0 = wait_one_holder(hosts, vip)
    f = measure_failover(hosts, h0, vip, "keepalived stopped", lambda: stop_keepalived(h0))
    ha.failovers.append(f)
    log(f"graceful: {f.seconds:.3f}s {f.old} → {f.new}")
    assert h0.name not in [h.name for h in holders(hosts, vip)], "a stopped keepalived must release the VIP"
    start_keepalived(h0)
    wait_state(h0, "BACKUP")
    time.sleep(1.5)  # 6 advert intervals: time enough to preempt, which nopreempt forbids
    assert [h.name for h in holders(hosts, vip)] == [f.new], "the restarted node must not take the VIP back"

    # (b) frozen holder with the lowest priority (the third node): whoever takes over outranks it, so after
    # unpause it rejoins as BACKUP and the VIP stays where it went.
    low = hosts[-1]
    make_holder(hosts, low, vip)
    try:
        f = measure_failover(hosts, low, vip, "host frozen (lowest priority)", lambda: freeze(low))
        ha.failovers.append(f)
        log(f"frozen: {f.seconds:.3f}s {f.old} → {f.new}")
        t0 = time.monotonic()
        problems = ha.client.pull_all(ha.images)
        ha.timings[f"pull {IMAGES} (holder frozen)"] = time.monotonic() - t0
        assert not problems, problems
    finally:
        unfreeze(low)
    stale = _settle(ha, low)
    assert [h.name for h in holders(hosts, vip)] == [f.new], "the VIP must not move back to the unfrozen node"
    wait_state(low, "BACKUP")
    assert f.seconds <= FROZEN_GOAL_S, f"frozen-host failover {f.seconds:.3f}s > {FROZEN_GOAL_S}s"
    assert not stale, f"stale VIP left on {stale}"

    # (c) the exception nopreempt cannot cover: a frozen holder of the HIGHEST priority resumes still MASTER;
    # VRRP resolves two masters by priority, so it takes the VIP back (one more move, ~ms). Documented.
    top = hosts[0]
    make_holder(hosts, top, vip)
    try:
        f = measure_failover(hosts, top, vip, "host frozen (highest priority)", lambda: freeze(top))
        ha.failovers.append(f)
        log(f"frozen: {f.seconds:.3f}s {f.old} → {f.new}")
    finally:
        unfreeze(top)
    stale = _settle(ha, top)
    assert not stale, f"stale VIP left on {stale}"
    assert wait_one_holder(hosts, vip) is top, "VRRP gives a resumed higher-priority master the VIP back"
    assert vrrp_state(by[f.new]) == "BACKUP"
    assert f.seconds <= FROZEN_GOAL_S, f"frozen-host failover {f.seconds:.3f}s > {FROZEN_GOAL_S}s"
    ha.timings["failover tests"] = time.monotonic() - t_start


def _settle(ha: Cluster, resumed: LabHost) -> list[str]:
    """After an unpause: wait up to 5 s for exactly one holder; a VIP still left beside another holder then is
    stale (lab.md: a keepalived that died without releasing it) — remove it, and return where it was."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = holders(ha.hosts, ha.vip)
        if len(now) == 1:
            return []
        time.sleep(0.2)
    stale = [h for h in holders(ha.hosts, ha.vip) if vrrp_state(h) != "MASTER"]
    for h in stale:
        h.run(f"ip addr del {ha.vip}/{ha.hosts[0].network.prefixlen} dev eth0", check=False)
    return [h.name for h in stale]


def test_second_apply_runs_nothing(ha: Cluster) -> None:
    again = ha.apply("second apply", ha.settings())
    assert again.commands_run == 0, again.summary()
    assert again.bytes_copied == 0
    assert all(again.counts[k] == 0 for k in ("created", "updated", "replaced", "deleted", "failed")), again.counts


def test_rolling_registry_upgrade_under_load(ha: Cluster) -> None:
    assert ha.client is not None and ha.images, "needs the converged cluster"
    old, new = ha.artifacts.versions("registry")[0], ha.artifacts.versions("registry")[-1]
    assert old != new, f"the lab needs two registry versions, has {ha.artifacts.versions('registry')}"
    holder = wait_one_holder(ha.hosts, ha.vip)
    with Puller(ha.client, ha.images) as puller:
        time.sleep(1)
        report = ha.apply(f"rolling registry {old} → {new}", ha.settings(registry_version=new))
        time.sleep(1)
    ha.versions["registry_version"] = new
    print(f"[ha] rolling registry upgrade: {puller.attempts} pulls through the VIP, {len(puller.failures)} failed"
          + "".join(f"\n  {x}" for x in puller.failures))
    ha.timings["pulls during rolling registry"] = float(puller.attempts)
    steps = [report.by_name(f"{NAME}-{h.name}-registry-service") for h in ha.hosts]
    for s in steps:
        assert s.op in ("update", "replace"), f"{s.name}: {s.op}"
        print(f"[ha] {s.name}: {s.started:.2f}-{s.ended:.2f}s  " + " | ".join(
            line.strip() for r in s.ran for line in r.stderr.splitlines() if "drain" in line))
    assert_one_at_a_time(steps)
    held = [s for s in steps if any("VIP served by another node" in r.stderr for r in s.ran)]
    assert len(held) == len(steps), "every node drained before its restart"
    for h in ha.hosts:
        assert h.sh(f"docker inspect -f '{{{{.Config.Image}}}}' {REGISTRY_CONTAINER}") == f"registry:{new}"
    assert puller.attempts >= 5, "the client should have pulled all along"
    assert not puller.failures, f"{len(puller.failures)} of {puller.attempts} pulls failed during the rolling upgrade"
    log(f"rolling upgrade: holder before {holder.name}, after {wait_one_holder(ha.hosts, ha.vip).name}")


def assert_one_at_a_time(steps: Sequence[ResourceReport]) -> None:
    for a, b in itertools.pairwise(steps):
        assert a.ended <= b.started, f"not one at a time: {a.name} ended {a.ended:.2f}, {b.name} began {b.started:.2f}"


def test_rolling_keepalived_upgrade_under_load(ha: Cluster) -> None:
    """keepalived itself rolls too: the nodes never drop the VIP all at once (a stopped keepalived hands the VIP
    over gracefully, ~0.2 s), so a client of the VIP keeps being served."""
    assert ha.client is not None and ha.images, "needs the converged cluster"
    old, new = ha.artifacts.versions("keepalived")[0], ha.artifacts.versions("keepalived")[-1]
    assert old != new, f"the lab needs two keepalived versions, has {ha.artifacts.versions('keepalived')}"
    with Puller(ha.client, ha.images) as puller:
        time.sleep(1)
        report = ha.apply(f"rolling keepalived {old} → {new}", ha.settings(keepalived_version=new))
        time.sleep(1)
    ha.versions["keepalived_version"] = new
    print(f"[ha] rolling keepalived upgrade: {puller.attempts} pulls through the VIP, {len(puller.failures)} failed"
          + "".join(f"\n  {x}" for x in puller.failures))
    steps = [report.by_name(f"{NAME}-{h.name}-keepalived-service") for h in ha.hosts]
    assert all(s.op in ("update", "replace") for s in steps), [(s.name, s.op) for s in steps]
    assert_one_at_a_time(steps)
    wait_one_holder(ha.hosts, ha.vip)
    for h in ha.hosts:
        assert h.sh(f"docker inspect -f '{{{{.Config.Image}}}}' {KEEPALIVED_CONTAINER}") == f"osixia/keepalived:{new}"
    assert puller.attempts >= 3, "the client should have pulled all along"
    assert not puller.failures, f"{len(puller.failures)} of {puller.attempts} pulls failed during the keepalived roll"


def test_active_active_spreads_requests(ha: Cluster) -> None:
    assert ha.client is not None and ha.images, "needs the converged cluster"
    assert ha.artifacts.versions("haproxy"), "the lab has no haproxy image"
    report = ha.apply("active-active", ha.settings({"image_registry": {"keepalived": {"active_active": True}}}))
    assert report.counts["failed"] == 0
    assert_one_at_a_time([report.by_name(f"{NAME}-{h.name}-haproxy-service") for h in ha.hosts])
    holder = wait_one_holder(ha.hosts, ha.vip)
    for h in ha.hosts:
        assert h.sh("docker inspect -f '{{.State.Running}}' haproxy-haproxy-1") == "true"
    agent = f"ha-probe-{os.getpid()}-{int(time.time())}"
    ca = ha.client.cert_dir / "ca.crt"
    codes = subprocess.run(
        ["bash", "-c", f"for i in $(seq 30); do curl -s --cacert {ca} -A {agent} -o /dev/null -w '%{{http_code}}\\n' "
                       f"https://{ha.vip}/; done"], capture_output=True, text=True, timeout=120).stdout.split()
    assert codes == ["200"] * 30, codes
    per_node = {h.name: h.sh(f"docker logs {REGISTRY_CONTAINER} 2>&1 | grep -c {agent} || true") for h in ha.hosts}
    print(f"[ha] active-active via {holder.name}'s haproxy: requests per registry {per_node}")
    assert sum(1 for n in per_node.values() if int(n) > 0) >= 2, per_node
    problems = ha.client.pull_all(ha.images[:6])
    assert not problems, problems
    # a registry change rolls behind haproxy: a backend that refuses while it restarts costs a retry on another
    # node (retries + option redispatch), not a failed pull
    with Puller(ha.client, ha.images) as puller:
        time.sleep(1)
        report = ha.apply("active-active registry restart",
                          ha.settings({"image_registry": {"keepalived": {"active_active": True},
                                                          "registry": {"log_level": "debug"}}}))
        time.sleep(1)
    print(f"[ha] active-active registry roll: {puller.attempts} pulls through the VIP, {len(puller.failures)} failed"
          + "".join(f"\n  {x}" for x in puller.failures))
    assert_one_at_a_time([report.by_name(f"{NAME}-{h.name}-registry-service") for h in ha.hosts])
    assert not puller.failures, f"{len(puller.failures)} of {puller.attempts} pulls failed behind haproxy"


def test_vrid_stable_across_applies_and_hosts(ha: Cluster) -> None:
    assert ha.vrids, "needs the converged cluster"
    now = ha.on_host_vrids()
    assert now == ha.vrids, (ha.vrids, now)
    expected = derive_vrid(NAME, ha.vip)
    assert set(now.values()) == {expected} and expected not in (31, 51)
    # the rendered config the last apply sent (replay state: the keepalived-service command text) says the same
    state = json.loads(ha.replay.state_path.read_text())["resources"]
    rendered = [re.findall(r"virtual_router_id (\d+)", json.dumps(r["inputs"].get("create", "")))
                for urn, r in state.items() if urn.endswith("keepalived-service")]
    assert len(rendered) == len(ha.hosts) and all(v == [str(expected)] for v in rendered), rendered
    # …and another process (other hash seed) derives the same number
    code = f"from pulumi_kk.render.keepalived import derive_vrid; print(derive_vrid({NAME!r}, {ha.vip!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}, check=True).stdout
    assert int(out) == expected
    print(f"[ha] VRID {expected} on {sorted(now)}")


def failover_stats(values: Sequence[float]) -> str:
    return f"min {min(values):.3f} / median {statistics.median(values):.3f} / max {max(values):.3f} s"
