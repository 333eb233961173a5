"""Remove what lab runs left behind in the lab's Docker daemon.

    .venv/bin/python tests/lab/cleanup.py            # hosts, volumes, networks of all finished runs (also LAB_KEEP ones)
    .venv/bin/python tests/lab/cleanup.py --images   # + the host image and the built artifact images
    .venv/bin/python tests/lab/cleanup.py --cache    # + .lab/ caches (apt lists, .debs, artifacts)
    .venv/bin/python tests/lab/cleanup.py --daemon   # + stop the lab dockerd (bash tests/lab/dockerd.sh stop)

Runs whose pytest process is still alive are never touched.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "lab"

from lab.common import DOCKERD_SH, LAB_DIR, LABEL, docker, ensure_daemon, log
from lab.hosts import remove_leftovers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", action="store_true", help="also remove the lab's images")
    p.add_argument("--cache", action="store_true", help="also remove .lab/ caches")
    p.add_argument("--daemon", action="store_true", help="also stop the lab dockerd")
    a = p.parse_args(argv)
    ensure_daemon()
    removed = remove_leftovers(include_kept=True)
    print(f"removed: {removed}")
    if a.images:
        ids = docker("images", "-q", "--filter", f"label={LABEL}.recipe").split()
        ids += docker("images", "-q", "--filter", "reference=pulumi-kk-lab/*").split()
        if ids:
            docker("rmi", "-f", *sorted(set(ids)), check=False)
        docker("image", "prune", "-f", check=False)
        print(f"removed {len(set(ids))} image(s)")
    if a.cache:
        for d in ("apt", "artifacts", "build", "cache", "runs"):
            shutil.rmtree(LAB_DIR / d, ignore_errors=True)
        print(f"removed caches under {LAB_DIR}")
    if a.daemon:
        subprocess.run(["bash", str(DOCKERD_SH), "stop"], check=False)
        log("lab dockerd stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
