"""Lab benchmark: host start-up, replay executor overhead and parallelism on real lab hosts.

    .venv/bin/python benchmarks/lab_replay.py [--hosts 2] [--commands 12] [--sleep 0.5]

Prints:
  * time to start N hosts (docker run → SSH + systemd running);
  * per-command overhead of the replay executor (dial + session + exit status) for `true`;
  * wall time of C independent `sleep S` commands with parallel=1 vs parallel=C, and the ratio (≈ C when the
    SDK registers independent resources concurrently and the executor runs them in parallel);
  * a second apply of the same program (nothing runs: state diff only).
Needs root and the lab daemon (started on demand, like the pytest fixtures).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lab.common import ensure_daemon
from lab.hosts import LabRun, remove_leftovers
from lab.replay import Replay
from pulumi_command import remote


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=2)
    p.add_argument("--commands", type=int, default=12)
    p.add_argument("--sleep", type=float, default=0.5)
    p.add_argument("--overhead-commands", type=int, default=20)
    a = p.parse_args()
    ensure_daemon()
    remove_leftovers()
    run = LabRun(keep=False)
    try:
        t0 = time.monotonic()
        hosts = run.start_hosts(a.hosts, name="bench")
        t_hosts = time.monotonic() - t0
        print(f"start {a.hosts} hosts (SSH + systemd running): {t_hosts:.2f}s")

        def conn(i: int) -> remote.ConnectionArgs:
            return remote.ConnectionArgs(**hosts[i % len(hosts)].connection())

        with tempfile.TemporaryDirectory() as tmp:
            # per-command overhead, strictly sequential (each depends on the previous)
            def chain() -> None:
                prev = None
                for i in range(a.overhead_commands):
                    prev = remote.Command(f"true-{i}", connection=conn(0), create="true",
                                          opts=None if prev is None else __import__("pulumi").ResourceOptions(
                                              depends_on=[prev]))  # fmt: skip

            r = Replay(Path(tmp) / "chain.json").apply(chain)
            print(f"{a.overhead_commands} chained `true` commands: {r.wall_s:.2f}s → "
                  f"{r.wall_s / a.overhead_commands * 1000:.0f} ms per command (dial + exec)")  # fmt: skip

            def fan() -> None:
                for i in range(a.commands):
                    remote.Command(f"sleep-{i}", connection=conn(i), create=f"sleep {a.sleep}")

            serial = Replay(Path(tmp) / "serial.json", parallel=1).apply(fan)
            par = Replay(Path(tmp) / "par.json", parallel=max(a.commands, 1))
            parallel = par.apply(fan)
            again = par.apply(fan)
            print(f"{a.commands} independent `sleep {a.sleep}`: parallel=1 {serial.wall_s:.2f}s, "
                  f"parallel={a.commands} {parallel.wall_s:.2f}s, ratio {serial.wall_s / parallel.wall_s:.1f}x")
            print(f"second apply (no changes): {again.wall_s:.3f}s, {again.commands_run} commands run, "
                  f"{again.counts['unchanged']} unchanged")  # fmt: skip
    finally:
        run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
