"""Network namespaces, the lab bridge, veth pairs and nft partition helpers (root only)."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

NETNS_DIR = Path("/run/netns")
PARTITION_TABLE = "genesis_lab_partition"


def _run(argv: list[str], check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {(p.stderr or p.stdout).strip()}")
    return p


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
    return _run(argv, check=check)


def nsenter_argv(ns: str | None, argv: list[str]) -> list[str]:
    """argv run in namespace `ns` (network namespace only; the mount namespace is shared)."""
    if not ns:
        return list(argv)
    return ["nsenter", f"--net={NETNS_DIR / ns}", "--", *argv]


# ---------------------------------------------------------------- inspection
def list_namespaces() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def ns_exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def list_links() -> list[str]:
    try:
        return sorted(os.listdir("/sys/class/net"))
    except FileNotFoundError:
        return []


def ns_pids(ns: str) -> list[int]:
    """Pids of processes whose network namespace is `ns`."""
    p = _run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def route_owner(subnet: str) -> str | None:
    """The interface that already routes `subnet` in the root namespace, if any."""
    p = _run(["ip", "-j", "route", "show", subnet], check=False)
    try:
        routes = json.loads(p.stdout or "[]")
    except ValueError:
        return None
    return routes[0].get("dev") if routes else None


# ---------------------------------------------------------------- creation
def create_bridge(name: str, address: str, prefixlen: int = 24) -> None:
    ip("link", "add", name, "type", "bridge")
    ip("addr", "add", f"{address}/{prefixlen}", "dev", name)
    ip("link", "set", name, "up")


def create_namespace(ns: str) -> None:
    ip("netns", "add", ns)
    ip("link", "set", "lo", "up", ns=ns)


def attach_namespace(ns: str, host_if: str, ns_if: str, bridge: str, address: str, prefixlen: int = 24) -> None:
    """A veth pair: host_if on the bridge in the root namespace, ns_if with `address` in ns."""
    ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
    ip("link", "set", host_if, "master", bridge, "up")
    ip("addr", "add", f"{address}/{prefixlen}", "dev", ns_if, ns=ns)
    ip("link", "set", ns_if, "up", ns=ns)


# ---------------------------------------------------------------- removal
def delete_namespace(ns: str) -> bool:
    if not ns_exists(ns):
        return False
    ip("netns", "del", ns, check=False)
    return True


def delete_link(name: str) -> bool:
    if not link_exists(name):
        return False
    ip("link", "del", name, check=False)
    return True


def lab_namespaces(lab: str) -> list[str]:
    """Namespaces that belong to lab `lab` by name: `<lab>-ex` and `<lab>-n<i>`."""
    pat = re.compile(rf"^{re.escape(lab)}-(ex|n\d+)$")
    return [n for n in list_namespaces() if pat.match(n)]


def lab_links(lab: str) -> list[str]:
    """Root-namespace interfaces that belong to lab `lab` by name (bridge and veth ends)."""
    pat = re.compile(rf"^{re.escape(lab)}(br|exh?|n\d+h?)$")
    return [n for n in list_links() if pat.match(n)]


# ---------------------------------------------------------------- nft partition helpers
def nft(args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return _run(nsenter_argv(ns, ["nft", "-f", "-"]), check=check, input=args + "\n")


def nft_tables(ns: str | None = None) -> list[str]:
    """Tables as 'family name' in namespace ns (root namespace when None)."""
    p = _run(nsenter_argv(ns, ["nft", "list", "tables"]), check=False)
    return [line[len("table "):].strip() for line in p.stdout.splitlines() if line.startswith("table ")]


def partition(ns: str, addresses: list[str], table: str = PARTITION_TABLE) -> str:
    """Drop all traffic between namespace ns and `addresses` (a real cut, both directions).

    Returns the table as 'inet <table>'; heal() removes it. Idempotent.
    """
    heal(ns, table)
    addrs = ", ".join(addresses)
    rules = f"""
table inet {table} {{
  chain input {{ type filter hook input priority -10; policy accept; ip saddr {{ {addrs} }} drop; }}
  chain output {{ type filter hook output priority -10; policy accept; ip daddr {{ {addrs} }} drop; }}
}}"""
    nft(rules, ns=ns)
    return f"inet {table}"


def heal(ns: str, table: str = PARTITION_TABLE) -> bool:
    """Remove the partition table from namespace ns; True when there was one."""
    if f"inet {table}" not in nft_tables(ns):
        return False
    nft(f"delete table inet {table}", ns=ns, check=False)
    return True


def delete_table(family_name: str, ns: str | None = None) -> bool:
    if family_name not in nft_tables(ns):
        return False
    nft(f"delete table {family_name}", ns=ns, check=False)
    return True
