# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_emergency_info, genesis_emergency and the price-move helper (runbook scenario 20)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

import genesis_fakes
from fakes_risk import base_args, risk_api, risk_exchange, risk_pg  # noqa: F401  pylint: disable=unused-import
from ansible_collections.genesis.runbook.plugins.module_utils import trading
from ansible_collections.genesis.runbook.plugins.modules import genesis_emergency, genesis_emergency_info

PHRASE = "CLOSE ALL POSITIONS"


@pytest.fixture
def args(base_args):
    return dict(base_args, scenario="20")


@pytest.fixture
def crash(risk_exchange):
    risk_exchange.set_crash("BTCUSDT", 64000.0, 54400.0, seconds=30)   # -15 % in 30 s
    risk_exchange.set_crash("ETHUSDT", 3400.0, 3390.0, seconds=30)     # noise
    return risk_exchange


# ---------------------------------------------------------------------------- max_move
def test_max_move_within_the_window_only():
    rows = [[i * 1000, "0", "0", "0", str(100.0 - i * 0.5)] for i in range(121)]  # -0.5 % of 100 per second
    move = trading.max_move(rows, 60)
    assert move["direction"] == "down" and move["from_time_ms"] == 60000 and move["to_time_ms"] == 120000
    assert move["move_percent"] == pytest.approx(30 / 70.0 * 100, rel=1e-3)
    assert trading.max_move([], 60)["move_percent"] == 0.0
    assert trading.max_move([[0, 0, 0, 0, "bad"], [1000, 0, 0, 0, "10"]], 60)["move_percent"] == 0.0


# ---------------------------------------------------------------------------- genesis_emergency_info
def test_info_sees_the_crash_the_halt_and_the_exposure(run_module, risk_api, risk_pg, crash, args):
    crash.status = {"status": 1, "msg": "system maintenance"}
    risk_pg.add_order("p1", status="PENDING")
    result, failed = run_module(genesis_emergency_info.main, args)
    assert not failed and result["changed"] is False
    assert result["emergency"] is True and result["exposed"] is True
    assert result["emergency_reasons"] == ["BTCUSDT moved 15.0 % down within 60 s",
                                           "the exchange reports status 1 (system maintenance)"]
    assert result["exposure_reasons"] == ["2 open positions", "1 pending order",
                                          "strategies still enabled: mean_reversion, momentum", "safe mode is off"]
    assert result["market"]["symbols"]["ETHUSDT"]["move_percent"] < 1
    assert result["exposure"]["pending_orders"][0]["order_id"] == "p1"


def test_info_calm_market_and_safe_node(run_module, risk_api, risk_pg, risk_exchange, args):
    risk_api.positions = []
    risk_api.safe_mode = {"enabled": True}
    risk_api.strategies = {"momentum": {"state": "STOPPED", "enabled": False}}
    result, failed = run_module(genesis_emergency_info.main, dict(args, symbols=["btcusdt"]))
    assert not failed and result["emergency"] is False and result["exposed"] is False
    assert list(result["market"]["symbols"]) == ["BTCUSDT"]


def test_info_exchange_unreachable_is_evidence_not_failure(run_module, risk_api, risk_pg, risk_exchange, args):
    risk_exchange.down = True
    result, failed = run_module(genesis_emergency_info.main, args)
    assert not failed and result["emergency"] is False
    assert result["market"]["exchange_error"] == ("Exchange GET http://exchange.test/sapi/v1/system/status is "
                                                  "unreachable: connection refused.")


@pytest.mark.parametrize("override, message", [
    (dict(move_percent=0), "move_percent must be greater than 0, got 0.0."),
    (dict(move_window=0), "move_window must be between 1 and 3600 seconds, got 0."),
    (dict(lookback=30), "lookback must be between move_window (60) and 1000 seconds, got 30."),
    (dict(max_orders=0), "max_orders must be between 1 and 1000, got 0."),
    (dict(exchange_url=""), "exchange_url (inventory variable genesis_exchange_url) is not set: genesis_emergency_info "
                            "needs it to read the market conditions."),
])
def test_info_bad_input(run_module, risk_api, args, override, message):
    result, failed = run_module(genesis_emergency_info.main, dict(args, **override))
    assert failed and result["msg"] == message


def test_info_api_unreachable(run_module, risk_api, args):
    risk_api.down = True
    result, failed = run_module(genesis_emergency_info.main, args)
    assert failed and result["msg"] == ("Control API GET http://127.0.0.1:8080/positions is unreachable: "
                                        "connection refused.")


# ---------------------------------------------------------------------------- strategies_stopped
def test_strategies_stopped_once_with_audit(run_module, risk_api, risk_pg, args):
    result, failed = run_module(genesis_emergency.main, dict(args, state="strategies_stopped"), diff=True)
    assert not failed and result["changed"] is True
    assert [e["strategy"] for e in result["entries"]] == ["mean_reversion", "momentum"]
    assert all(not s["enabled"] for s in risk_api.strategies.values())
    [action] = risk_pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert action["event_data"]["step"] == "activate_emergency_mode"
    assert action["event_data"]["before"] == {"mean_reversion": "RUNNING", "momentum": "RUNNING"}
    again, failed = run_module(genesis_emergency.main, dict(args, state="strategies_stopped"))
    assert not failed and again["changed"] is False and len(risk_pg.events) == 1


def test_strategies_check_mode(run_module, risk_api, risk_pg, args):
    result, failed = run_module(genesis_emergency.main, dict(args, state="strategies_stopped"), check_mode=True)
    assert not failed and result["changed"] is True and risk_api.posts == [] and risk_pg.connections == []


# ---------------------------------------------------------------------------- safe_mode_enabled
def test_safe_mode_enabled_once(run_module, risk_api, risk_pg, args):
    result, failed = run_module(genesis_emergency.main, dict(args, state="safe_mode_enabled"))
    assert not failed and result["changed"] is True and risk_api.safe_mode["enabled"] is True
    assert risk_api.safe_mode["reason"] == "emergency market conditions"
    assert risk_pg.events_of("runbook:node1")[0]["event_data"]["step"] == "enable_safe_mode"
    again, failed = run_module(genesis_emergency.main, dict(args, state="safe_mode_enabled"))
    assert not failed and again["changed"] is False and len(risk_pg.events) == 1


def test_safe_mode_db_down_changes_nothing(run_module, risk_api, risk_pg, args):
    risk_pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_emergency.main, dict(args, state="safe_mode_enabled"))
    assert failed and result["msg"].startswith("Safe mode was not enabled because the audit trail cannot be written")
    assert risk_api.safe_mode["enabled"] is False


# ---------------------------------------------------------------------------- positions_closed
def test_close_all_with_the_phrase(run_module, risk_api, risk_pg, risk_exchange, args):
    result, failed = run_module(genesis_emergency.main,
                                dict(args, state="positions_closed", confirm=PHRASE, max_slippage_percent=2.5))
    assert not failed and result["changed"] is True
    assert [c["position_id"] for c in result["entries"]] == ["pos-1", "pos-2"]
    assert risk_api.posts == [("/emergency/close-all", {"confirmation": PHRASE, "max_slippage_percent": 2.5})]
    [action] = risk_pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert action["event_data"]["step"] == "close_all_positions"
    assert action["event_data"]["after"] == {"closed": ["pos-1", "pos-2"], "failed": []}
    again, failed = run_module(genesis_emergency.main, dict(args, state="positions_closed", confirm=PHRASE))
    assert not failed and again["changed"] is False and len(risk_pg.events) == 1


@pytest.mark.parametrize("confirm", [None, "", "close all positions", "CLOSE ALL POSITIONS NOW"])
def test_close_all_without_the_exact_phrase_changes_nothing(run_module, risk_api, risk_pg, risk_exchange, args, confirm):
    result, failed = run_module(genesis_emergency.main, dict(args, state="positions_closed", confirm=confirm))
    assert failed and result["msg"] == ("confirm must be exactly 'CLOSE ALL POSITIONS' to close the 2 open positions; "
                                        "no position was closed.")
    assert risk_api.posts == [] and risk_pg.events == []


def test_close_all_check_mode_needs_no_phrase_and_trades_nothing(run_module, risk_api, risk_pg, risk_exchange, args):
    result, failed = run_module(genesis_emergency.main, dict(args, state="positions_closed"), check_mode=True)
    assert not failed and result["changed"] is True and len(result["entries"]) == 2
    assert risk_api.posts == [] and risk_pg.connections == []


def test_close_all_refused_while_the_exchange_is_halted(run_module, risk_api, risk_pg, risk_exchange, args):
    risk_exchange.status = {"status": 1, "msg": "system maintenance"}
    result, failed = run_module(genesis_emergency.main, dict(args, state="positions_closed", confirm=PHRASE))
    assert failed and result["msg"] == (
        "No position was closed because the exchange cannot take orders now, it reports status 1 (system maintenance); "
        "the 2 open positions stay open until trading resumes.")
    assert risk_api.posts == []


def test_close_all_partial_failure_is_audited_then_fails(run_module, risk_api, risk_pg, risk_exchange, args):
    risk_api.close_all_failures["pos-2"] = "Trading halted: system maintenance."
    result, failed = run_module(genesis_emergency.main, dict(args, state="positions_closed", confirm=PHRASE))
    assert failed and result["msg"] == ("1 of 2 positions were not closed, first pos-2: Trading halted: system "
                                        "maintenance.")
    [action] = risk_pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert action["event_data"]["after"] == {"closed": ["pos-1"], "failed": ["pos-2"]}


# ---------------------------------------------------------------------------- orders_cancelled
def test_cancels_pending_orders_and_strays(run_module, risk_pg, risk_api, risk_exchange, args):
    risk_pg.add_order("o1", status="PENDING")
    risk_pg.add_order("o2", status="PARTIAL")
    risk_pg.add_order("o3", status="FILLED")
    risk_exchange.open_orders.update({"gen-o1": "BTCUSDT", "stray-1": "ETHUSDT"})
    result, failed = run_module(genesis_emergency.main, dict(args, state="orders_cancelled"), diff=True)
    assert not failed and result["changed"] is True
    assert [(e["client_order_id"], e["exchange_result"]) for e in result["entries"]] == [
        ("gen-o1", "cancelled_at_exchange"), ("gen-o2", "unknown_at_exchange"), ("stray-1", "cancelled_at_exchange")]
    assert risk_pg.order("o1")["status"] == "CANCELLED" and risk_pg.order("o2")["status"] == "CANCELLED"
    assert risk_pg.order("o3")["status"] == "FILLED" and len(risk_pg.orders) == 3
    assert risk_pg.order("o1")["last_error"] == "cancelled by runbook: emergency market conditions (run run-9)"
    assert [e["event_type"] for e in risk_pg.events_of("order:o2")] == ["ORDER_CANCELLED"]
    [action] = risk_pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert action["event_data"]["step"] == "cancel_pending_orders" and len(action["event_data"]["after"]["orders"]) == 3
    again, failed = run_module(genesis_emergency.main, dict(args, state="orders_cancelled"))
    assert not failed and again["changed"] is False


def test_cancel_check_mode_and_nothing_pending(run_module, risk_pg, risk_api, risk_exchange, args):
    risk_pg.add_order("o1", status="PENDING")
    result, failed = run_module(genesis_emergency.main, dict(args, state="orders_cancelled"), check_mode=True)
    assert not failed and result["changed"] is True and risk_pg.order("o1")["status"] == "PENDING"
    assert risk_exchange.cancelled == [] and risk_pg.events == []


def test_cancel_filled_at_exchange_is_left_for_reconciliation(run_module, risk_pg, risk_api, risk_exchange, args):
    risk_pg.add_order("o1", status="PENDING")
    risk_exchange.final_orders["gen-o1"] = "FILLED"
    result, failed = run_module(genesis_emergency.main, dict(args, state="orders_cancelled"))
    assert not failed and result["changed"] is False and risk_pg.order("o1")["status"] == "PENDING"
    assert result["failed"][0]["error"] == "the exchange reports it FILLED: reconcile it instead of cancelling"


def test_cancel_exchange_unreachable_cancels_nothing(run_module, risk_pg, risk_api, risk_exchange, args):
    risk_pg.add_order("o1", status="PENDING")
    risk_exchange.down = True
    result, failed = run_module(genesis_emergency.main, dict(args, state="orders_cancelled"))
    assert failed and result["msg"] == ("No order was cancelled: Exchange GET http://exchange.test/api/v3/openOrders is "
                                        "unreachable: connection refused.")
    assert risk_pg.order("o1")["status"] == "PENDING"


@pytest.mark.parametrize("override, message", [
    (dict(state="positions_closed", max_slippage_percent=-1), "max_slippage_percent must be 0 or more, got -1.0."),
    (dict(state="orders_cancelled", max_orders=5000), "max_orders must be between 1 and 1000, got 5000."),
    (dict(state="safe_mode_enabled", reason=" "), "reason is empty: say why the node is taken out of the market."),
])
def test_bad_input(run_module, risk_api, args, override, message):
    result, failed = run_module(genesis_emergency.main, dict(args, **override))
    assert failed and result["msg"] == message and risk_api.posts == []


def test_unknown_state(run_module, risk_api, args):
    result, failed = run_module(genesis_emergency.main, dict(args, state="panic"))
    assert failed and "state" in result["msg"] and "positions_closed" in result["msg"]


def test_api_unreachable(run_module, risk_api, args):
    risk_api.down = True
    result, failed = run_module(genesis_emergency.main, dict(args, state="safe_mode_enabled"))
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/admin/safe-mode is unreachable: connection refused."


# ---------------------------------------------------------------------------- halted (kill switch)
HALT_PHRASE = "HALT TRADING NOW"
REDIS_URL = "redis://:r3dispa55@127.0.0.1:6379/0"


@pytest.fixture
def halt_api(risk_api):
    """GET /health and POST /emergency/halt on the risk fake, with the lab node's semantics."""
    def health(request):
        if risk_api.down:
            return genesis_fakes.refused()
        return (200, {"status": "degraded" if risk_api.halted else "healthy", "halted": risk_api.halted}, {})

    def halt(request):
        if risk_api.down:
            return genesis_fakes.refused()
        body = request.json()
        risk_api.posts.append((request.path, body))
        if body.get("confirmation") != HALT_PHRASE:
            return (403, {"error": "confirmation_required", "message": "confirmation must be 'HALT TRADING NOW'."}, {})
        if risk_api.halted:
            return (200, {"changed": False, "halted": True, "since": "2026-11-27T18:40:01.123Z", "reason": "earlier"}, {})
        risk_api.halted = True
        return (200, {"changed": True, "halted": True, "since": "2026-11-27T18:41:00.000Z", "reason": body["reason"]}, {})

    risk_api.http.route("GET", risk_api.base + "/health", health)
    risk_api.http.route("POST", risk_api.base + "/emergency/halt", halt)
    return risk_api


def test_halt_with_the_phrase_once_with_audit(run_module, halt_api, risk_pg, args):
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted", confirm=HALT_PHRASE,
                                                             reason="operator kill switch"), diff=True)
    assert not failed and result["changed"] is True and halt_api.halted is True
    assert halt_api.posts == [("/emergency/halt", {"reason": "operator kill switch", "confirmation": HALT_PHRASE})]
    assert result["diff"] == {"before": {"halted": False}, "after": {"halted": True}}
    assert result["halt"] == {"halted": True, "since": "2026-11-27T18:41:00.000Z", "reason": "operator kill switch",
                              "source": "api"}
    [action] = risk_pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert action["event_data"]["step"] == "halt_trading" and action["event_data"]["scenario"] == "20"
    assert action["event_data"]["before"] == {"halted": False}
    assert action["event_data"]["after"] == {"halted": True, "since": "2026-11-27T18:41:00.000Z"}
    again, failed = run_module(genesis_emergency.main, dict(args, state="halted", confirm=HALT_PHRASE))
    assert not failed and again["changed"] is False and len(risk_pg.events) == 1 and len(halt_api.posts) == 1


@pytest.mark.parametrize("confirm", [None, "", "halt trading now", "CLOSE ALL POSITIONS"])
def test_halt_without_the_exact_phrase_changes_nothing(run_module, halt_api, risk_pg, args, confirm):
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted", confirm=confirm))
    assert failed and result["msg"] == ("confirm must be exactly 'HALT TRADING NOW' to halt trading on node1; trading "
                                        "was not halted.")
    assert halt_api.posts == [] and halt_api.halted is False and risk_pg.connections == []


def test_halt_check_mode_needs_no_phrase_and_halts_nothing(run_module, halt_api, risk_pg, args):
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted"), check_mode=True, diff=True)
    assert not failed and result["changed"] is True and result["entries"] == [{"halted": True, "before": False}]
    assert result["diff"] == {"before": {"halted": False}, "after": {"halted": True}}
    assert halt_api.posts == [] and halt_api.halted is False and risk_pg.connections == []


def test_halt_already_halted_needs_no_phrase(run_module, halt_api, risk_pg, args):
    halt_api.halted = True
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted"))
    assert not failed and result["changed"] is False and result["entries"] == []
    assert result["halt"]["halted"] is True and halt_api.posts == [] and risk_pg.connections == []


def test_halt_db_down_changes_nothing(run_module, halt_api, risk_pg, args):
    risk_pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted", confirm=HALT_PHRASE))
    assert failed and result["msg"].startswith("Trading was not halted because the audit trail cannot be written")
    assert halt_api.halted is False and halt_api.posts == []


def test_halt_read_from_redis_once_the_api_is_stopped(run_module, halt_api, risk_pg, rds, args):
    """After the kill switch the main program is stopped: a rerun reads the halt flag from Redis and changes nothing."""
    halt_api.down = True
    rds.data["genesis:halt"] = {"enabled": "1", "since": "2026-11-27T18:41:00.000Z", "reason": "operator kill switch"}
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted", redis_url=REDIS_URL))
    assert not failed and result["changed"] is False
    assert result["halt"] == {"halted": True, "since": "2026-11-27T18:41:00.000Z", "reason": "operator kill switch",
                              "source": "redis"}
    assert rds.commands == ["HGETALL genesis:halt"] and risk_pg.connections == []


def test_halt_api_down_and_not_halted_fails(run_module, halt_api, risk_pg, rds, args):
    halt_api.down = True
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted", confirm=HALT_PHRASE,
                                                             redis_url=REDIS_URL))
    assert failed and result["msg"] == (
        "Trading was not halted: Control API GET http://127.0.0.1:8080/health is unreachable: connection refused (the "
        "node is not halted and only its control API can halt it).")
    assert risk_pg.connections == [] and "r3dispa55" not in str(result)


def test_halt_api_and_redis_down(run_module, halt_api, risk_pg, rds, args):
    halt_api.down = True
    rds.fail = genesis_fakes.redis_down()
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted", confirm=HALT_PHRASE,
                                                             redis_url=REDIS_URL))
    assert failed and result["msg"].startswith(
        "Trading was not halted because its state could not be read: Control API GET http://127.0.0.1:8080/health is "
        "unreachable: connection refused; Redis redis://:********@127.0.0.1:6379/0 is unreachable")
    assert "r3dispa55" not in result["msg"] and risk_pg.connections == []


def test_halt_api_down_without_redis_url(run_module, halt_api, risk_pg, args):
    halt_api.down = True
    result, failed = run_module(genesis_emergency.main, dict(args, state="halted", confirm=HALT_PHRASE))
    assert failed and result["msg"] == ("Trading was not halted because its state could not be read: Control API GET "
                                        "http://127.0.0.1:8080/health is unreachable: connection refused.")
