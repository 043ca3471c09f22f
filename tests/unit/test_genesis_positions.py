# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_positions_info, genesis_positions and module_utils.trading (runbook scenario 8)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import decimal

import pytest

import genesis_fakes
from fakes_risk import EX_SECRET, base_args, risk_api, risk_exchange, risk_pg  # noqa: F401  pylint: disable=unused-import
from ansible_collections.genesis.runbook.plugins.module_utils import trading
from ansible_collections.genesis.runbook.plugins.modules import genesis_positions, genesis_positions_info


@pytest.fixture
def args(base_args):
    return dict(base_args, scenario="8")


@pytest.fixture
def book(risk_api, risk_pg):
    """pos-1 (BTC LONG, 750.08 USDT) is above the HUNTER limit of 500; pos-2 is within it."""
    risk_pg.add_position("pos-1", "BTCUSDT", "LONG", "0.01172", 63000)
    risk_pg.add_position("pos-2", "ETHUSDT", "LONG", "0.03", 3400)
    return risk_pg


# ---------------------------------------------------------------------------- trading helpers
def test_reduction_rounds_to_the_lot_and_stays_under_the_target():
    lot = dict(step="0.00001", min_qty="0.00001", min_notional=5.0)
    cut = trading.reduction(0.01172, 64000.0, 490.0, lot)
    assert cut == dict(reduce_qty="0.00407", remaining_qty="0.00765", remaining_value=489.6, close_whole=False)
    assert decimal.Decimal(cut["reduce_qty"]) + decimal.Decimal(cut["remaining_qty"]) == decimal.Decimal("0.01172")


def test_reduction_closes_whole_under_the_minimum_notional():
    lot = dict(step="0.001", min_qty="0.001", min_notional=5.0)
    cut = trading.reduction(0.2, 150.0, 4.0, lot)
    assert cut["close_whole"] is True and cut["reduce_qty"] == "0.2" and cut["remaining_qty"] == "0"


def test_violations_sorted_by_excess_and_limits():
    rows = [dict(position_id="a", dollar_value=510, status="OPEN"), dict(position_id="b", dollar_value=900),
            dict(position_id="c", dollar_value=900, status="CLOSED"), dict(position_id="d", dollar_value=499.99)]
    assert [v["position_id"] for v in trading.violations(rows, 500.0)] == ["b", "a"]
    assert trading.tier_limit({"tier": "HUNTER", "max_position_size": 500, "limits_factor": 0.5},
                              "effective_max_position_size") == 250.0
    assert trading.tier_limit({"tier": "SNIPER"}) == 100.0
    assert trading.tier_limit({}, override=42) == 42.0
    assert trading.closing_side("SHORT") == "BUY" and trading.closing_side("LONG") == "SELL"
    assert trading.fmt_qty(decimal.Decimal("1E-5")) == "0.00001" and trading.fmt_qty("2.500") == "2.5"


def test_fill_summary_averages_fills():
    answer = {"orderId": 12, "status": "FILLED", "executedQty": "0.3",
              "fills": [{"price": "100", "qty": "0.1"}, {"price": "103", "qty": "0.2"}]}
    assert trading.fill_summary(answer, "0.3") == (0.3, pytest.approx(102.0), "12", "FILLED")
    assert trading.fill_summary({"executedQty": "2", "cummulativeQuoteQty": "300"}, "2")[1] == 150.0


# ---------------------------------------------------------------------------- genesis_positions_info
def test_info_reports_violations(run_module, risk_api, args):
    result, failed = run_module(genesis_positions_info.main, args)
    assert not failed and result["changed"] is False and result["compliant"] is False
    assert result["limit"] == 500.0 and [v["position_id"] for v in result["violations"]] == ["pos-1"]
    assert result["violations"][0]["excess"] == pytest.approx(250.08)
    assert result["open_count"] == 2 and result["exposure"] == pytest.approx(852.08)
    assert result["monitored_at_ts"] > 0 and result["tier"]["state"] == "STABLE"


def test_info_effective_limit_and_override(run_module, risk_api, args):
    risk_api.tier.update(limits_factor=0.1, effective_max_position_size=50.0)
    result, _failed = run_module(genesis_positions_info.main, dict(args, limit_source="effective_max_position_size"))
    assert result["limit"] == 50.0 and [v["position_id"] for v in result["violations"]] == ["pos-1", "pos-2"]
    result, _failed = run_module(genesis_positions_info.main, dict(args, limit=1000))
    assert result["compliant"] is True


@pytest.mark.parametrize("override, message", [
    (dict(limit=0), "limit must be greater than 0 USDT, got 0.0."),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set: genesis_positions_info needs it to "
                       "read the positions and the tier."),
])
def test_info_bad_input(run_module, risk_api, args, override, message):
    result, failed = run_module(genesis_positions_info.main, dict(args, **override))
    assert failed and result["msg"] == message


def test_info_bad_choice(run_module, risk_api, args):
    result, failed = run_module(genesis_positions_info.main, dict(args, limit_source="tier"))
    assert failed and "limit_source" in result["msg"]


def test_info_api_unreachable(run_module, risk_api, args):
    risk_api.down = True
    result, failed = run_module(genesis_positions_info.main, args)
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/config/tier is unreachable: connection refused."


# ---------------------------------------------------------------------------- genesis_positions
def test_reduces_with_a_real_order_and_records_everything(run_module, book, risk_exchange, args):
    result, failed = run_module(genesis_positions.main, args, diff=True)
    assert not failed and result["changed"] is True, result.get("msg")
    [done] = result["reductions"]
    assert done["position_id"] == "pos-1" and done["side"] == "SELL" and done["quantity"] == "0.00407"
    assert done["status"] == "FILLED" and done["exchange_order_id"] == "7001" and done["quantity_after"] == 0.00765
    [placed] = risk_exchange.placed
    assert placed["side"] == "SELL" and placed["executedQty"] == "0.00407" and placed["clientOrderId"] == done["client_order_id"]
    order = book.order(done["order_id"])
    assert order["status"] == "FILLED" and order["exchange_order_id"] == "7001" and order["strategy"] == "runbook"
    assert order["filled_quantity"] == decimal.Decimal("0.00407") and order["node"] == "node1"
    position = book.position_rows["pos-1"]
    assert position["status"] == "OPEN" and position["quantity"] == decimal.Decimal("0.00765")
    assert book.accounts["acc-1"] == decimal.Decimal("5000") + decimal.Decimal("4.07")  # (64000 - 63000) x 0.00407
    assert [e["event_type"] for e in book.events_of("order:%s" % done["order_id"])] == [
        "ORDER_CREATED", "ORDER_SUBMITTED", "ORDER_FILLED"]
    [reduced] = book.events_of("position:pos-1")
    assert reduced["event_type"] == "POSITION_REDUCED" and reduced["event_data"]["close_reason"] == "manual"
    [action] = book.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert action["event_data"]["step"] == "reduce_excess_positions" and action["event_data"]["scenario"] == "8"
    assert action["event_data"]["after"]["dollar_value"] == pytest.approx(489.6)
    assert len(result["audit_events"]) == 5
    assert result["diff"] == {"before": {"pos-1": 0.01172}, "after": {"pos-1": 0.00765}}
    assert book.position_rows["pos-2"]["quantity"] == decimal.Decimal("0.03")


def test_check_mode_plans_and_sends_nothing(run_module, book, risk_exchange, args):
    result, failed = run_module(genesis_positions.main, args, check_mode=True)
    assert not failed and result["changed"] is True and result["reductions"][0]["quantity"] == "0.00407"
    assert risk_exchange.placed == [] and book.events == [] and book.connections == []


def test_second_run_is_not_changed(run_module, book, risk_api, risk_exchange, args):
    first, _failed = run_module(genesis_positions.main, args)
    risk_api.positions[0].update(quantity=first["reductions"][0]["quantity_after"], dollar_value=489.6)
    second, failed = run_module(genesis_positions.main, args)
    assert not failed and second["changed"] is False and second["reductions"] == []
    assert len(risk_exchange.placed) == 1


def test_short_positions_are_bought_back(run_module, risk_api, risk_pg, risk_exchange, args):
    risk_api.positions = [dict(position_id="pos-s", symbol="SOLUSDT", side="SHORT", quantity=5.0, current_price=150.0,
                               dollar_value=750.0, status="OPEN")]
    risk_pg.add_position("pos-s", "SOLUSDT", "SHORT", "5", 151)
    result, failed = run_module(genesis_positions.main, args)
    assert not failed and result["reductions"][0]["side"] == "BUY" and result["reductions"][0]["quantity"] == "1.734"
    assert risk_pg.accounts["acc-1"] == decimal.Decimal("5000") + decimal.Decimal("1.734")  # short gains 1 USDT each


def test_whole_close_needs_the_phrase_and_changes_nothing(run_module, risk_api, book, risk_exchange, args):
    result, failed = run_module(genesis_positions.main, dict(args, limit=3.0, target_ratio=1))
    assert failed and result["msg"] == (
        "confirm must be exactly 'CLOSE ALL POSITIONS' to close pos-1, pos-2 in full (what would remain is under the "
        "exchange's minimum order size); no position was reduced.")
    assert risk_exchange.placed == [] and book.events == []


def test_whole_close_with_the_phrase(run_module, risk_api, book, risk_exchange, args):
    risk_api.positions = risk_api.positions[:1]
    result, failed = run_module(genesis_positions.main,
                                dict(args, limit=3.0, confirm="CLOSE ALL POSITIONS", close_reason="tilt_intervention"))
    assert not failed and result["reductions"][0]["close_whole"] is True
    position = book.position_rows["pos-1"]
    assert position["status"] == "CLOSED" and position["close_reason"] == "tilt_intervention"
    [closed] = book.events_of("position:pos-1")
    assert closed["event_type"] == "POSITION_CLOSED" and closed["event_data"]["close_reason"] == "tilt_intervention"


def test_whole_close_in_check_mode_only_warns(run_module, risk_api, book, risk_exchange, args):
    result, failed = run_module(genesis_positions.main, dict(args, limit=3.0), check_mode=True)
    assert not failed and result["changed"] is True and all(r["close_whole"] for r in result["reductions"])


def test_rejected_order_is_recorded_and_stops(run_module, book, risk_exchange, args):
    risk_exchange.halted = True
    result, failed = run_module(genesis_positions.main, args)
    assert failed and result["msg"].startswith(
        "genesis_positions reduced 0 of 1 positions, then stopped: the exchange did not fill the SELL order for pos-1: "
        "Exchange POST http://exchange.test/api/v3/order refused the order because trading is halted (-3044)")
    [order] = [o for o in book.orders if o["strategy"] == "runbook"]
    assert order["status"] == "REJECTED" and "-3044" in order["last_error"]
    assert [e["event_type"] for e in book.events_of("order:%s" % order["order_id"])] == [
        "ORDER_CREATED", "ORDER_SUBMITTED", "ORDER_REJECTED"]
    assert book.position_rows["pos-1"]["quantity"] == decimal.Decimal("0.01172")
    assert book.events_of("runbook:node1") == [] and EX_SECRET not in str(result)


def test_position_closed_meanwhile_is_skipped(run_module, book, risk_exchange, args):
    book.position_rows["pos-1"]["status"] = "CLOSED"
    result, failed = run_module(genesis_positions.main, args)
    assert not failed and result["changed"] is False
    assert result["skipped"] == [{"position_id": "pos-1", "reason": "closed meanwhile"}] and risk_exchange.placed == []


def test_position_moved_meanwhile_is_replanned(run_module, book, risk_exchange, args):
    book.position_rows["pos-1"]["quantity"] = decimal.Decimal("0.01")  # 640 USDT: still above the limit
    result, failed = run_module(genesis_positions.main, args)
    assert not failed and result["reductions"][0]["quantity"] == "0.00235"
    assert book.position_rows["pos-1"]["quantity"] == decimal.Decimal("0.00765")


def test_db_failure_after_the_fill_names_the_exchange_order(run_module, book, risk_exchange, args):
    book.errors["update accounts set balance_usdt"] = genesis_fakes.pg_down()
    result, failed = run_module(genesis_positions.main, args)
    assert failed and "pos-1 was reduced at the exchange (exchange order 7001, client order id rbnode1" in result["msg"]
    assert book.position_rows["pos-1"]["quantity"] == decimal.Decimal("0.01172")  # rolled back, nothing half-written
    assert book.events == []


def test_db_unreachable_sends_no_order(run_module, book, risk_exchange, args):
    book.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_positions.main, args)
    assert failed and result["msg"].startswith("No position was reduced because the audit trail cannot be written")
    assert risk_exchange.placed == [] and "dbpa55" not in result["msg"]


def test_exchange_unreachable_sends_nothing(run_module, book, risk_exchange, args):
    risk_exchange.down = True
    result, failed = run_module(genesis_positions.main, args)
    assert failed and result["msg"] == ("No position was reduced: Exchange GET http://exchange.test/api/v3/exchangeInfo "
                                        "is unreachable: connection refused.")
    assert book.events == []


@pytest.mark.parametrize("override, message", [
    (dict(target_ratio=0.2), "target_ratio must be between 0.5 and 1, got 0.2."),
    (dict(max_positions=0), "max_positions must be between 1 and 100, got 0."),
    (dict(limit=-5), "limit must be greater than 0 USDT, got -5.0."),
    (dict(exchange_api_secret=""), "exchange_api_secret (inventory variable genesis_exchange_api_secret) is not set: "
                                   "genesis_positions needs it to send the orders that reduce the positions."),
])
def test_bad_input_changes_nothing(run_module, book, risk_exchange, args, override, message):
    result, failed = run_module(genesis_positions.main, dict(args, **override))
    assert failed and result["msg"] == message and risk_exchange.placed == []


def test_bad_close_reason_choice(run_module, book, args):
    result, failed = run_module(genesis_positions.main, dict(args, close_reason="panic"))
    assert failed and "close_reason" in result["msg"]
