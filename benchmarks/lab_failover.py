"""Lab benchmark: keepalived VIP failover of a pulumi_kk HA registry (3 lab hosts, S3 on moto), repeated.

    .venv/bin/python benchmarks/lab_failover.py [--runs 5] [--json out.json]

Converges three registry nodes behind a VIP with pulumi_kk's defaults (VRRPv3, advert_int 0.25), measures N times

  * graceful: the holder's keepalived is stopped (``docker stop``, SIGTERM → priority-0 advert), then restarted;
  * frozen:   the holder's whole lab host is paused (``docker pause``, cgroup freezer), then unpaused;

then re-applies with ``vrrp_version=2, advert_int=1`` (keepalived's classic setting) and measures the same, and prints
min / median / max of each and the v2 / v3 ratio of the medians. Seconds run from the start of the action (stamped
on the holder with ``date +%s.%N``, or on this machine just before ``docker pause``) to the moment a poller on
another host (``ip -o -4 addr show`` every 20 ms, ``$EPOCHREALTIME``) sees the VIP; hosts share this machine's
kernel clock. The helpers are those of tests/lab/components/test_ha_lab.py. Needs root and the lab daemon.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from lab.artifacts import build_all  # noqa: E402
from lab.common import ensure_daemon  # noqa: E402
from lab.components.test_ha_lab import (  # noqa: E402
    Cluster,
    Failover,
    create_bucket,
    freeze,
    measure_failover,
    start_keepalived,
    stop_keepalived,
    unfreeze,
    wait_one_holder,
    wait_state,
)
from lab.hosts import LabRun, remove_leftovers  # noqa: E402
from lab.replay import Replay  # noqa: E402
from servers import free_port, start, stop  # noqa: E402


def measure(c: Cluster, runs: int, label: str) -> dict[str, list[Failover]]:
    out: dict[str, list[Failover]] = {"graceful": [], "frozen": []}
    for i in range(runs):
        holder = wait_one_holder(c.hosts, c.vip)
        f = measure_failover(c.hosts, holder, c.vip, "graceful", functools.partial(stop_keepalived, holder))
        out["graceful"].append(f)
        start_keepalived(holder)
        wait_state(holder, "BACKUP")
        holder = wait_one_holder(c.hosts, c.vip)
        try:
            f2 = measure_failover(c.hosts, holder, c.vip, "frozen", functools.partial(freeze, holder))
        finally:
            unfreeze(holder)
        out["frozen"].append(f2)
        wait_one_holder(c.hosts, c.vip, timeout_s=15)
        print(f"  {label} run {i + 1}/{runs}: graceful {f.seconds:.3f}s ({f.old[-3:]}→{f.new[-3:]}), "
              f"frozen {f2.seconds:.3f}s ({f2.old[-3:]}→{f2.new[-3:]}, pause took {f2.action_s:.3f}s)", flush=True)
    return out


def stats(values: list[float]) -> str:
    return f"min {min(values):6.3f}  median {statistics.median(values):6.3f}  max {max(values):6.3f}"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    a = p.parse_args()
    ensure_daemon()
    remove_leftovers()
    arts = build_all()
    run = LabRun(keep=False)
    net = run.network()
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lab-failover-") as tmp:
        work = Path(tmp)
        port = free_port(net.gateway)
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        moto = start("moto-failover", [sys.executable, "-m", "moto.server", "-H", net.gateway, "-p", str(port)], port,
                     f"http://{net.gateway}:{port}/moto-api/", work, env=env, host=net.gateway)
        hosts = []
        try:
            bucket = create_bucket(moto.endpoint, "failover")
            hosts = run.start_hosts(3, name="fo")
            c = Cluster(hosts, net.vip(9), bucket, moto.endpoint, arts, Replay(work / "state.json"), work)
            c.apply("converge (VRRPv3, advert_int 0.25)", c.settings())
            wait_one_holder(c.hosts, c.vip)
            v3 = measure(c, a.runs, "v3/0.25s")
            c.apply("switch to VRRPv2, advert_int 1",
                    c.settings({"image_registry": {"keepalived": {"vrrp_version": 2, "advert_int": 1}}}))
            wait_one_holder(c.hosts, c.vip, timeout_s=20)
            v2 = measure(c, a.runs, "v2/1s")
        finally:
            for h in hosts:
                unfreeze(h)
            run.remove_hosts(hosts)
            stop(moto)
            run.close()
    print(f"\nVIP failover, {a.runs} runs each, 3 nodes (seconds from the action to the VIP on another node):")
    results: dict[str, dict[str, list[float]]] = {}
    for label, data in (("VRRPv3 advert_int 0.25", v3), ("VRRPv2 advert_int 1", v2)):
        results[label] = {k: [f.seconds for f in fs] for k, fs in data.items()}
        for kind, values in results[label].items():
            print(f"  {label:24} {kind:9} {stats(values)}")
    for kind in ("graceful", "frozen"):
        m3 = statistics.median(results["VRRPv3 advert_int 0.25"][kind])
        m2 = statistics.median(results["VRRPv2 advert_int 1"][kind])
        print(f"  ratio v2/v3 ({kind}, medians): {m2 / m3:.1f}×")
    pauses = [f.action_s for f in v3["frozen"] + v2["frozen"]]
    print(f"  docker pause itself took median {statistics.median(pauses):.3f}s (included above)")
    print(f"  total {time.monotonic() - t_all:.0f}s")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
