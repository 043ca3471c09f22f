"""genesis-lab: up, down, status, inject, heal, clock, cert, exchange, env."""
from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
import time

import requests

from .labspec import (DEFAULT_PORT_BASE, Lab, LabError, LabNotRunning, is_root, lab_name, state_dir_for)


def _common(p: argparse.ArgumentParser, top: bool = False) -> None:
    d = None if top else argparse.SUPPRESS
    p.add_argument("--lab", default=d, metavar="NAME",
                   help="lab name, 1-6 of [a-z0-9] (env GENESIS_LAB_NAME, default glab)")
    p.add_argument("--state-dir", default=d, metavar="DIR",
                   help="state directory (env GENESIS_LAB_STATE_DIR, default /var/lib/genesis-lab/NAME as root)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="genesis-lab", description="A simulated fleet of genesis trading nodes.")
    _common(ap, top=True)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="start a lab (cleans leftovers of a crashed run of the same name first)")
    _common(p)
    p.add_argument("--nodes", type=int, default=2, help="number of nodes (default 2)")
    p.add_argument("--isolation", choices=["netns", "local"], default=None,
                   help="netns (default as root): namespaces + sshd per node; local: loopback ports")
    p.add_argument("--subnet", default=None, help="netns subnet, e.g. 10.231.42.0/24 (default from the lab name)")
    p.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE, help="local isolation port base (20000)")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the nodes to be healthy")

    p = sub.add_parser("down", help="stop and remove everything the lab created")
    _common(p)

    p = sub.add_parser("status", help="health of every node and the exchange")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("inject", help="reproduce a runbook scenario's fault on one node")
    _common(p)
    p.add_argument("scenario", help="scenario number or name")
    p.add_argument("--node", required=True)

    p = sub.add_parser("heal", help="remove the network partition of scenario 11: the nodes see each other again")
    _common(p)

    p = sub.add_parser("clock", help="the node's simulated clock error")
    _common(p)
    p.add_argument("action", choices=["sync", "set", "show"])
    p.add_argument("--node", required=True)
    p.add_argument("--offset-ms", type=int, default=None, help="offset for `set` (milliseconds, may be negative)")

    p = sub.add_parser("cert", help="node TLS certificates from the lab CA")
    _common(p)
    p.add_argument("action", choices=["issue"])
    p.add_argument("--node", required=True)
    p.add_argument("--days", type=int, default=90, help="validity in days (default 90; <= 0 gives an expired one)")

    p = sub.add_parser("exchange", help="exchange controls")
    _common(p)
    p.add_argument("action", choices=["key"])
    p.add_argument("--node", required=True)

    p = sub.add_parser("env", help="print shell exports for this lab (eval \"$(genesis-lab env)\")")
    _common(p)
    return ap


def _lab(args) -> Lab:
    return Lab.load(args.lab, args.state_dir)


def _node(lab: Lab, name: str):
    try:
        return lab.node(name)
    except KeyError:
        raise _Usage(f"lab {lab.name} has no node {name!r}; valid nodes: {', '.join(lab.node_names())}.") from None


class _Usage(Exception):
    pass


def cmd_up(args) -> int:
    from . import lifecycle

    t0 = time.monotonic()
    name = lab_name(args.lab)
    isolation = args.isolation or ("netns" if is_root() else "local")
    sd = state_dir_for(name, args.state_dir)
    print(f"genesis-lab up: lab {name}, {args.nodes} node{'s' if args.nodes != 1 else ''}, {isolation} isolation, state {sd}", flush=True)
    lab = lifecycle.up(name, args.nodes, isolation, sd, subnet=args.subnet, port_base=args.port_base,
                       timeout=args.timeout, log=lambda m: print(m, flush=True))
    wall = time.monotonic() - t0
    nodes = ", ".join(f"{n.name}={n.api_url}" for n in lab.nodes)
    print(f"lab {name} up: {len(lab.nodes)} nodes healthy ({nodes}), exchange {lab.exchange_url}; "
          f"wall time {wall:.1f} s")
    print(f"inventory: {lab.inventory_path}")
    return 0


def cmd_down(args) -> int:
    from . import lifecycle

    name = lab_name(args.lab)
    sd = state_dir_for(name, args.state_dir)
    t0 = time.monotonic()
    if lifecycle.down(name, sd, log=lambda m: print(m, flush=True)):
        print(f"lab {name} down ({time.monotonic() - t0:.1f} s)")
    else:
        print(f"lab {name}: nothing to do (no state, processes, namespaces or mounts found)")
    return 0


def _delegate(module: str, *args) -> int:
    try:
        mod = importlib.import_module(f"genesis_lab.{module}")
    except ModuleNotFoundError as e:
        if e.name == f"genesis_lab.{module}":
            print(f"genesis-lab: the {module} command is not available in this installation "
                  f"(genesis_lab.{module} is missing)", file=sys.stderr)
            return 1
        raise
    return int(mod.main(*args) or 0)


def cmd_status(args) -> int:
    return _delegate("status", _lab(args), bool(args.json))


def cmd_inject(args) -> int:
    lab = _lab(args)
    _node(lab, args.node)
    return _delegate("inject", lab, args.scenario, args.node)


def cmd_heal(args) -> int:
    """Undo `inject 11`'s cut: the nft partition tables (netns) or `lab:partition` (local), on every node."""
    lab = _lab(args)
    healed = []
    if lab.isolation == "netns":
        from . import netns
        table = f"genesis_lab_{lab.name}_partition"
        healed = [n.name for n in lab.nodes if netns.heal(n.netns, table)]
    else:
        for n in lab.nodes:
            r = n.redis()
            try:
                if r.delete("lab:partition"):
                    healed.append(n.name)
            finally:
                r.close()
    print(json.dumps({"lab": lab.name, "changed": bool(healed), "healed": healed}))
    return 0


def cmd_clock(args) -> int:
    from .provision import write_file

    lab = _lab(args)
    node = _node(lab, args.node)
    f = node.clock_offset_file
    if args.action == "show":
        print(f.read_text().strip() if f.exists() else "0")
        return 0
    if args.action == "set":
        if args.offset_ms is None:
            raise _Usage("clock set needs --offset-ms MILLISECONDS.")
        value = args.offset_ms
    else:
        value = 0
    before = f.read_text().strip() if f.exists() else "0"
    write_file(f, f"{value}\n", 0o644)
    print(json.dumps({"node": node.name, "changed": before != str(value), "before_ms": int(before or 0),
                      "offset_ms": value}))
    return 0


def cmd_cert(args) -> int:
    from . import provision

    lab = _lab(args)
    node = _node(lab, args.node)
    end = provision.issue_cert(lab, node, args.days)
    print(json.dumps({"node": node.name, "cert_path": str(node.cert_path), "fullchain": str(node.fullchain_path),
                      "not_after": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "days": args.days}))
    return 0


def cmd_exchange(args) -> int:
    from .lifecycle import exchange_key

    lab = _lab(args)
    node = _node(lab, args.node)
    k = exchange_key(lab, node)
    print(json.dumps({"node": node.name, "account": node.data.get("exchange_account", node.name), **k}))
    return 0


def cmd_env(args) -> int:
    lab = _lab(args)
    exports = {
        "GENESIS_LAB_NAME": lab.name,
        "GENESIS_LAB_STATE_DIR": str(lab.state_dir),
        "GENESIS_LAB_INVENTORY": str(lab.inventory_path),
        "GENESIS_LAB_EXCHANGE_URL": lab.exchange_url,
        "GENESIS_LAB_CA_CERT": str(lab.ca_cert),
        "ANSIBLE_INVENTORY": str(lab.inventory_path),
    }
    if lab.isolation == "netns":
        exports["GENESIS_LAB_SSH_KEY"] = str(lab.ssh_key)
        exports["GENESIS_LAB_KNOWN_HOSTS"] = str(lab.known_hosts)
    for k, v in exports.items():
        print(f"export {k}={shlex.quote(v)}")
    return 0


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "inject": cmd_inject, "clock": cmd_clock,
            "cert": cmd_cert, "exchange": cmd_exchange, "env": cmd_env, "heal": cmd_heal}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](args)
    except _Usage as e:
        print(f"genesis-lab: {e}", file=sys.stderr)
        return 2
    except LabNotRunning as e:
        print(f"genesis-lab: {e}", file=sys.stderr)
        return 1
    except LabError as e:
        print(f"genesis-lab {args.cmd}: {e}", file=sys.stderr)
        return 1
    except requests.RequestException as e:
        print(f"genesis-lab {args.cmd}: cannot reach {getattr(e.request, 'url', 'the service')}: "
              f"{e.__class__.__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("genesis-lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
