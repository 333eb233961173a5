"""``pulumi-kk`` entry point. Exit codes: 0 ok, 1 a remote or engine failure, 2 bad input (message on stderr)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import KKError
from ..precheck import failed, table
from ..sources import load_sources
from .precheck import precheck
from .render import render_registry

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--inventory", required=True, help="KubeKey Inventory YAML")
    p.add_argument("-c", "--config", action="append", default=[], help="kind: Config YAML with vars (repeatable)")
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="K=V[,K=V]",
                   help="settings with KubeKey names, e.g. docker_version=24.0.7 (repeatable)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pulumi-kk", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write every script and config file per host, and plan.json")
    rsub = render.add_subparsers(dest="target", required=True)
    rr = rsub.add_parser("registry", help="the image registry hosts")
    _common(rr)
    rr.add_argument("-o", "--output", required=True, type=Path, help="output directory")
    rr.add_argument("--with-data", action="store_true", help="render delete scripts that also remove data")
    pc = sub.add_parser("precheck", help="check the hosts before installing (kk precheck)")
    psub = pc.add_subparsers(dest="target", required=True)
    pr = psub.add_parser("image_registry", help="the image registry hosts")
    _common(pr)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "render":
            src = load_sources(args.inventory, args.config, None, args.sets)
            doc = render_registry(src, args.output, delete_data=args.with_data)
            for host, h in doc["hosts"].items():
                print(f"{host}: {len(h['steps'])} steps ({h['arch']}, {h['arch_from']}) → {args.output / host}")
            print(f"plan: {args.output / 'plan.json'}")
            return EXIT_OK
        if args.command == "precheck":
            src = load_sources(args.inventory, args.config, None, args.sets)
            findings = precheck(src)
            print(table(findings), end="")
            return EXIT_FAILED if failed(findings) else EXIT_OK
    except KKError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
