"""`genesis-lab status [--json]` against the session lab.

Run: .venv/bin/python -m pytest lab/tests/test_lab_status.py -q -m lab
"""
from __future__ import annotations

import json
import time

import pytest

from conftest import assert_healthy, wait_until

pytestmark = pytest.mark.lab

PROGRAMS = {"postgresql", "redis", "genesis:genesis", "genesis:executor", "genesis:market_data",
            "genesis:strategies", "genesis_exit", "backup"}


def status_json(gl, lab) -> dict:
    p = gl("status", "--json", "--lab", lab.name, timeout=60)
    return json.loads(p.stdout)


def test_status_json_lists_every_node_with_all_fields(lab, gl):
    doc = status_json(gl, lab)
    assert doc["lab"] == lab.name and doc["isolation"] == lab.isolation
    assert doc["exchange"]["reachable"] is True and doc["exchange"]["status"] == 0
    assert [n["name"] for n in doc["nodes"]] == lab.node_names()
    for n in doc["nodes"]:
        # supervisor programs and states
        assert PROGRAMS <= set(n["programs"]), n["programs"]
        assert n["programs"]["genesis:executor"]["state"] == "RUNNING"
        assert n["programs"]["genesis:executor"]["pid"] > 1
        # health: status code and status
        assert n["health"]["code"] == 200 and n["health"]["status"] in ("healthy", "degraded")
        # heartbeat age
        assert 0 <= n["heartbeat_age_s"] < 3 * 5
        # pending orders: count and oldest age
        assert set(n["pending_orders"]) == {"count", "oldest_age_s"}
        assert isinstance(n["pending_orders"]["count"], int)
        # ticker ages
        assert set(n["tickers"]) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
        assert all(t["age_s"] is not None and t["age_s"] < 10 and t["price"] > 0 for t in n["tickers"].values())
        # breakers and websocket connections
        assert set(n["breakers"]) == {"binance_api", "api", "websocket", "orders"}
        assert all(v in ("closed", "open", "half_open") for v in n["breakers"].values())
        assert set(n["websocket"]) == {"execution", "monitoring", "backup"}
        # tilt score / level
        assert 0 <= n["tilt"]["score"] <= 100 and n["tilt"]["level"] in ("NORMAL", "LEVEL1", "LEVEL2", "LEVEL3")
        # disk of .genesis
        assert n["disk"]["mounted"] is True and 0 < n["disk"]["used_percent"] < 100
        assert n["disk"]["total_bytes"] == 64 * 1024 * 1024
        # cluster role / term / fenced
        assert n["cluster"]["role"] in ("primary", "standby") and isinstance(n["cluster"]["term"], int)
        assert n["cluster"]["fenced"] is False
        # RSS of the programs
        assert n["memory"]["rss_bytes"]["genesis:genesis"] > 10 * 1024 * 1024
        assert n["memory"]["genesis_rss_bytes"] > n["memory"]["rss_bytes"]["genesis:genesis"]
        assert n["memory"]["memory_budget_mb"] == 400
    roles = sorted(n["cluster"]["role"] for n in doc["nodes"])
    assert roles == ["primary", "standby"]


def test_status_table_has_a_row_per_node(lab, gl):
    out = gl("status", "--lab", lab.name, timeout=60).stdout.splitlines()
    assert out[0].startswith(f"lab {lab.name} ")
    head = out[1].split()
    assert head[:3] == ["node", "health", "hb"] and "cluster" in head and "rss" in head
    rows = {line.split()[0]: line for line in out[2:]}
    assert set(rows) == set(lab.node_names())
    for name, line in rows.items():
        assert " 200 " in line and "all RUNNING" in line, line


def test_status_reports_a_stopped_database_instead_of_failing(lab, gl):
    n = lab.node("node2")
    s = n.supervisor().supervisor
    s.stopProcess("postgresql", True)
    try:
        t = time.monotonic()
        doc = wait_until("status showing the database down", lambda: (lambda d: d if d["health"]["code"] == 503
                                                                         else None)(
            status_json(gl, lab)["nodes"][1]), 20, 0.5)
        assert time.monotonic() - t < 20
        assert doc["pending_orders"] is None and "error" in doc["db"]
        assert doc["programs"]["postgresql"]["state"] == "STOPPED"
        assert doc["health"]["components"]["database"] == "down"
        assert doc["tickers"] is not None                      # Redis still answers
        table = gl("status", "--lab", lab.name, timeout=60).stdout
        assert "postgresql=STOPPED" in table
    finally:
        s.startProcess("postgresql", True)
        wait_until("node2 healthy again", lambda: assert_healthy(n) is None, 30, 0.5)
