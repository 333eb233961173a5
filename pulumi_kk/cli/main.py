"""``pulumi-kk``: kk-style commands for an image registry on plain hosts.

Exit codes: 0 ok; 1 a host, precheck or engine failure; 2 bad input (the message names the file, key and fix);
3 the Pulumi CLI is missing (init/delete/preview need it; render and precheck do not).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import KKError
from ..precheck import failed, table
from ..sources import load_sources
from . import engine
from .precheck import precheck
from .render import render_registry

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_NO_PULUMI = 0, 1, 2, 3


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
    for cmd, helptext in (("init", "install the registry (pulumi up)"),
                          ("delete", "remove the registry (pulumi destroy); data kept unless --with-data"),
                          ("preview", "show what init would change (pulumi preview --diff)")):
        p = sub.add_parser(cmd, help=helptext)
        ps = p.add_subparsers(dest="target", required=True)
        pt = ps.add_parser("registry", help="the image registry hosts")
        _common(pt)
        pt.add_argument("--stack", default="default", help="stack name (default: default)")
        pt.add_argument("--state-dir", default=None,
                        help="engine state and passphrase directory (default: {work_dir}/pulumi-kk)")
        pt.add_argument("--install-pulumi", action="store_true", help="install the Pulumi CLI first if missing")
        if cmd == "delete":
            pt.add_argument("--with-data", action="store_true", help="also remove registry and docker data")
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
        if args.command in ("init", "delete", "preview"):
            return _engine(args)
    except KKError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def _engine(args: argparse.Namespace) -> int:
    src = load_sources(args.inventory, args.config, None, args.sets)
    dirs = engine.EngineDirs.for_sources(src, args.state_dir)
    binary = engine.find_pulumi()
    if binary is None and args.install_pulumi:
        print("installing the Pulumi CLI…", flush=True)
        try:
            binary = engine.install_pulumi()
        except Exception as exc:  # offline, no write access, a failed download…
            print(f"error: installing the Pulumi CLI failed ({exc}). {engine.INSTALL_HINT}", file=sys.stderr)
            return EXIT_NO_PULUMI
    if binary is None:
        print(f"error: {engine.INSTALL_HINT}", file=sys.stderr)
        return EXIT_NO_PULUMI
    with_data = bool(getattr(args, "with_data", False))
    try:
        if args.command == "init":
            return engine.run("up", src, args.stack, dirs, pulumi_bin=binary)
        if args.command == "preview":
            return engine.run("preview", src, args.stack, dirs, pulumi_bin=binary)
        if with_data:
            # The stored delete scripts must be the with-data ones: update them first (create scripts are
            # idempotent, so this changes nothing on the hosts), then destroy.
            engine.run("up", src, args.stack, dirs, delete_data=True, pulumi_bin=binary)
        return engine.run("destroy", src, args.stack, dirs, delete_data=with_data, pulumi_bin=binary)
    except Exception as exc:  # the Automation API raises CommandError & co with the engine's output
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
