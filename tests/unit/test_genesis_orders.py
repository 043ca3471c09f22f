# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import genesis_orders


@pytest.fixture
def args(exchange_fake):
    return dict(db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis", exchange_url=exchange_fake.base,
                exchange_api_key=exchange_fake.api_key, exchange_api_secret=exchange_fake.secret, node_name="node1",
                run_id="run-2", scenario="2")


@pytest.fixture
def stuck(pg, exchange_fake):
    pg.add_order("o1", age_s=120)           # open at the exchange
    pg.add_order("o2", age_s=60)            # never reached the exchange
    pg.add_order("o3", age_s=10)            # too young
    pg.add_order("o4", status="FILLED", age_s=300)
    pg.add_event("ORDER_CREATED", "order:o1", {}, 1)
    pg.add_event("ORDER_SUBMITTED", "order:o1", {}, 2)
    exchange_fake.open_orders["gen-o1"] = "BTCUSDT"
    return pg


def test_cancels_stuck_orders_with_audit_trail(run_module, stuck, exchange_fake, args):
    result, failed = run_module(genesis_orders.main, args, diff=True)
    assert not failed and result["changed"] is True and result["count"] == 2
    assert [(o["order_id"], o["exchange_result"]) for o in result["cancelled"]] == [
        ("o1", "cancelled_at_exchange"), ("o2", "unknown_at_exchange")]
    assert exchange_fake.cancelled == ["gen-o1"]
    for order_id in ("o1", "o2"):
        order = stuck.order(order_id)
        assert order["status"] == "CANCELLED"
        assert order["last_error"] == "cancelled by runbook: stuck PENDING for more than 30 s (run run-2)"
    assert stuck.order("o3")["status"] == "PENDING" and len(stuck.orders) == 4  # nothing deleted
    assert [e["sequence_number"] for e in stuck.events_of("order:o1")] == [1, 2, 3]
    assert stuck.events_of("order:o1")[-1]["event_type"] == "ORDER_CANCELLED"
    assert stuck.events_of("order:o2", "ORDER_CANCELLED")[0]["sequence_number"] == 1
    actions = stuck.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1
    data = actions[0]["event_data"]
    assert data["step"] == "cancel_stuck_orders" and data["scenario"] == "2" and data["run_id"] == "run-2"
    assert [o["order_id"] for o in data["after"]["orders"]] == ["o1", "o2"]
    assert len(result["audit_events"]) == 3
    assert result["diff"] == {"before": {"o1": "PENDING", "o2": "PENDING"}, "after": {"o1": "CANCELLED", "o2": "CANCELLED"}}


def test_check_mode_lists_and_changes_nothing(run_module, stuck, exchange_fake, http, args):
    events_before = len(stuck.events)
    result, failed = run_module(genesis_orders.main, args, check_mode=True, diff=True)
    assert not failed and result["changed"] is True and result["count"] == 2
    assert [o["order_id"] for o in result["cancelled"]] == ["o1", "o2"]
    assert stuck.order("o1")["status"] == "PENDING" and len(stuck.events) == events_before
    assert http.calls_to("/api/v3/order") == [] and result["audit_events"] == []
    assert result["diff"]["after"] == {"o1": "CANCELLED", "o2": "CANCELLED"}


def test_second_run_is_not_changed(run_module, stuck, args):
    first, _failed = run_module(genesis_orders.main, args)
    second, failed = run_module(genesis_orders.main, args)
    assert first["changed"] is True
    assert not failed and second["changed"] is False and second["count"] == 0 and second["cancelled"] == []
    assert len(stuck.events_of("runbook:node1")) == 1


def test_nothing_stuck_needs_no_exchange(run_module, pg, args):
    pg.add_order("young", age_s=3)
    result, failed = run_module(genesis_orders.main, dict(args, exchange_url=""))
    assert not failed and result["changed"] is False


def test_filled_at_exchange_is_skipped(run_module, stuck, exchange_fake, args):
    exchange_fake.final_orders["gen-o2"] = "FILLED"
    result, failed = run_module(genesis_orders.main, args)
    assert not failed and [o["order_id"] for o in result["cancelled"]] == ["o1"]
    assert result["skipped"] == [{"order_id": "o2", "reason": "the exchange reports it FILLED: reconcile it instead of cancelling"}]
    assert stuck.order("o2")["status"] == "PENDING"


def test_max_orders_and_older_than(run_module, stuck, args):
    result, failed = run_module(genesis_orders.main, dict(args, max_orders=1, older_than=5))
    assert not failed and [o["order_id"] for o in result["cancelled"]] == ["o1"]


def test_exchange_unreachable_fails_before_marking(run_module, stuck, exchange_fake, args):
    exchange_fake.down = True
    result, failed = run_module(genesis_orders.main, dict(args, api_retries=0))
    assert failed
    assert result["msg"] == ("genesis_orders cancelled 0 of 2 stuck orders, then stopped: order o1 was not cancelled: "
                             "Exchange DELETE http://exchange.test/api/v3/order is unreachable: connection refused.")
    assert stuck.order("o1")["status"] == "PENDING" and stuck.events_of("runbook:node1") == []


def test_rejected_key_fails_without_secret(run_module, stuck, args):
    result, failed = run_module(genesis_orders.main, dict(args, exchange_api_secret="not-the-secret"))
    assert failed and "-2015" in result["msg"] and "not-the-secret" not in result["msg"]


def test_db_failure_midway_still_audits_what_was_done(run_module, stuck, exchange_fake, args):
    calls = {"n": 0}
    original = genesis_fakes.FakeCursor.execute

    def flaky(self, sql, params=None):
        if sql.startswith("UPDATE orders"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise genesis_fakes.psycopg2.OperationalError("server closed the connection unexpectedly")
        return original(self, sql, params)
    genesis_fakes.FakeCursor.execute = flaky
    try:
        result, failed = run_module(genesis_orders.main, args)
    finally:
        genesis_fakes.FakeCursor.execute = original
    assert failed and result["changed"] is True and result["count"] == 1
    assert "order o2 was cancelled at the exchange but not in the database" in result["msg"]
    assert stuck.order("o2")["status"] == "PENDING" and stuck.events_of("order:o2") == []
    assert len(stuck.events_of("runbook:node1", "RUNBOOK_ACTION")) == 1


def test_db_unreachable(run_module, pg, args):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_orders.main, args)
    assert failed and "is unreachable" in result["msg"] and "dbpa55" not in result["msg"]


@pytest.mark.parametrize("override, option", [
    (dict(older_than=0), "older_than"),
    (dict(max_orders=0), "max_orders"),
    (dict(db_dsn=""), "db_dsn"),
    (dict(status="FILLED"), "status"),
])
def test_bad_input(run_module, stuck, args, override, option):
    result, failed = run_module(genesis_orders.main, dict(args, **override))
    assert failed and option in result["msg"]


def test_missing_exchange_key_names_variable(run_module, stuck, args):
    result, failed = run_module(genesis_orders.main, dict(args, exchange_api_key=""))
    assert failed and result["msg"].startswith("exchange_api_key (inventory variable genesis_exchange_api_key) is not set")
