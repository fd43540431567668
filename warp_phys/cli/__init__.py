"""The `warp-phys` command line. Each subcommand lives in its own module with
``register(subparsers)``, which adds a parser whose ``func(args) -> int`` runs it."""
from __future__ import annotations

import argparse
import importlib
import sys

from warp_phys._version import __version__

# module name -> its subcommands (imported lazily so `warp-phys --help` is fast)
_COMMAND_MODULES = ("systems_cmd", "reconstruct_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warp-phys",
        description="Physics-informed reconstruction of dynamical systems with WARP.",
    )
    parser.add_argument("--version", action="version", version=f"warp-phys {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"warp_phys.cli.{name}")
        except ModuleNotFoundError as err:  # a subcommand module not yet built
            if err.name == f"warp_phys.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as err:  # InputError is a ValueError; OSError: paths, disks
        print(f"warp-phys {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
