# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import genesis_db_info

ARGS = dict(db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis")


@pytest.fixture
def seeded(pg):
    pg.add_order("old1", age_s=95)
    pg.add_order("old2", age_s=45)
    pg.add_order("fresh", age_s=5)
    for i in range(12):
        pg.add_order("f%02d" % i, status="FILLED", age_s=300, price=64000.5,
                     executed_at=pg.now - datetime.timedelta(seconds=200 - i))
    pg.add_event("ORDER_CREATED", "order:old1", {}, 1)
    return pg


def test_counts_stuck_and_recent(run_module, seeded):
    result, failed = run_module(genesis_db_info.main, ARGS)
    assert not failed and result["changed"] is False and result["reachable"] is True
    assert result["counts"] == {"orders": 15, "positions": 3, "events": 1, "orders_by_status": {"FILLED": 12, "PENDING": 3}}
    assert [o["order_id"] for o in result["stuck_pending"]] == ["old1", "old2"]
    assert result["stuck_pending"][0]["age_s"] == 95.0 and result["stuck_pending_count"] == 2
    assert [t["order_id"] for t in result["recent_trades"]][:2] == ["f11", "f10"] and len(result["recent_trades"]) == 10
    assert result["recent_trades"][0]["price"] == 64000.5
    assert result["last_event_id"] == 1 and result["latency_ms"] >= 0
    assert "dbpa55" not in result["endpoint"]


def test_threshold_and_check_mode(run_module, seeded):
    result, failed = run_module(genesis_db_info.main, dict(ARGS, pending_older_than=60, recent_trades=0), check_mode=True)
    assert not failed and result["changed"] is False
    assert [o["order_id"] for o in result["stuck_pending"]] == ["old1"] and result["recent_trades"] == []


def test_read_only_and_idempotent(run_module, seeded):
    first, _failed = run_module(genesis_db_info.main, ARGS)
    second, _failed = run_module(genesis_db_info.main, ARGS)
    assert first["counts"] == second["counts"] and second["changed"] is False
    assert not any(s[0].upper().startswith(("INSERT", "UPDATE", "DELETE")) for s in seeded.statements)


def test_unreachable_is_evidence(run_module, pg):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_db_info.main, ARGS)
    assert not failed and result["reachable"] is False
    assert result["error"].startswith("PostgreSQL postgresql://genesis:********@127.0.0.1:5432/genesis is unreachable")
    assert "dbpa55" not in result["error"]


def test_unreachable_fails_when_asked(run_module, pg):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_db_info.main, dict(ARGS, fail_on_unreachable=True))
    assert failed and "is unreachable" in result["msg"] and "dbpa55" not in result["msg"] and "\n" not in result["msg"]


def test_query_error_fails(run_module, pg):
    pg.errors["from positions"] = genesis_fakes.psycopg2.errors.UndefinedTable('relation "positions" does not exist')
    result, failed = run_module(genesis_db_info.main, ARGS)
    assert failed and result["msg"].endswith('counting positions failed: relation "positions" does not exist.')


@pytest.mark.parametrize("args, option", [
    (dict(db_dsn=""), "db_dsn"),
    (dict(ARGS, pending_older_than=-1), "pending_older_than"),
    (dict(ARGS, recent_trades=5000), "recent_trades"),
])
def test_bad_input(run_module, pg, args, option):
    result, failed = run_module(genesis_db_info.main, args)
    assert failed and result["msg"].startswith(option)
