"""`genesis-lab heal`: removes the partition of `inject 11` from both node namespaces so the nodes
see each other again, says what it did in one JSON line, and changes nothing the second time.

Run: .venv/bin/python -m pytest lab/tests/test_lab_heal.py -q -m lab
"""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import api, api_get, wait_settled, wait_until

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab_h(lab_factory):
    lb = lab_factory.up("m11", 2)
    yield lb
    lab_factory.down(lb.name)


def nft_tables(node) -> str:
    return subprocess.run(["nsenter", f"--net=/run/netns/{node.netns}", "nft", "list", "tables"],
                          capture_output=True, text=True).stdout


def test_heal_removes_the_cut_once(lab_h, gl):
    a, b = lab_h.node("node1"), lab_h.node("node2")
    table = f"inet genesis_lab_{lab_h.name}_partition"
    doc = json.loads(gl("inject", "11", "--lab", lab_h.name, "--node", "node1", timeout=120).stdout)
    promoted = lab_h.node(doc["evidence"]["promoted"])
    try:
        assert table in nft_tables(a) and table in nft_tables(b)
        healed = json.loads(gl("heal", "--lab", lab_h.name).stdout)
        assert healed == {"lab": lab_h.name, "changed": True, "healed": ["node1", "node2"]}
        assert table not in nft_tables(a) and table not in nft_tables(b)
        for x in (a, b):
            wait_until(f"{x.name} sees its peers",
                       lambda x=x: all(p["reachable"] for p in api_get(x, "/admin/cluster")["peers"].values()), 15)
        again = json.loads(gl("heal", "--lab", lab_h.name).stdout)
        assert again == {"lab": lab_h.name, "changed": False, "healed": []}
    finally:
        for x in (a, b):
            subprocess.run(["nsenter", f"--net=/run/netns/{x.netns}", "nft", "delete", "table", table],
                           capture_output=True)
        api(promoted, "POST", "/admin/cluster", {"role": "standby"})
        wait_settled(lab_h)


def test_heal_of_a_lab_that_is_not_running_says_so(gl):
    p = gl("heal", "--lab", "m11zz", check=False)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip().count("\n") == 0 and "is not running" in p.stderr
