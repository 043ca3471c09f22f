"""python -m genesis_lab.node <program> --home <genesis_home>"""
from __future__ import annotations

import argparse
import importlib
import sys

from genesis_lab.node import PROGRAMS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genesis_lab.node",
                                     description="Run one genesis node program.")
    parser.add_argument("program", choices=sorted(PROGRAMS))
    parser.add_argument("--home", required=True, help="the node's genesis_home")
    args = parser.parse_args(argv)
    module = importlib.import_module(PROGRAMS[args.program])
    return int(module.run(args.home) or 0)


if __name__ == "__main__":
    sys.exit(main())
