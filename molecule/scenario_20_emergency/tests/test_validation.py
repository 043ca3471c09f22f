"""Scenario 20 validation on node1: no open positions (closed with real orders, close_reason emergency), no pending
orders (cancelled, never deleted), safe mode on, strategies stopped; the run without the phrase changed nothing;
node2, which saw the same market, was left alone."""
import json
import os


def _report(*parts):
    with open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", *parts)) as handle:
        return json.load(handle)


def test_no_open_positions(node1, db_query, api_get):
    assert db_query(node1, "SELECT count(*) FROM positions WHERE status = 'OPEN'")[0][0] == 0
    assert api_get(node1, "/positions?status=open").json()["count"] == 0


def test_positions_closed_by_the_runbook_with_real_orders(node1, lab, db_query, converge_report):
    closed = converge_report["validation"]["closed"]
    assert closed, "converge closed no position"
    for entry in closed:
        rows = db_query(node1, "SELECT status, close_reason FROM positions WHERE position_id = %s", (entry["position_id"],))
        assert rows == [("CLOSED", "emergency")], (entry, rows)
        order = db_query(node1, "SELECT status, exchange_order_id, client_order_id, symbol FROM orders WHERE order_id = %s",
                         (entry["order_id"],))[0]
        assert order[0] == "FILLED" and order[1] == entry["exchange_order_id"]
        at_exchange = lab.exchange_request("GET", "/_lab/orders?symbol=%s" % order[3])["orders"]
        assert [o["status"] for o in at_exchange if o.get("clientOrderId") == order[2]] == ["FILLED"]


def test_no_pending_orders_and_none_deleted(node1, db_query, baseline):
    assert db_query(node1, "SELECT count(*) FROM orders WHERE status IN ('PENDING', 'PARTIAL')")[0][0] == 0
    cancelled = db_query(node1, "SELECT count(*) FROM orders WHERE status = 'CANCELLED' "
                                "AND last_error LIKE 'cancelled by runbook:%%'")[0][0]
    events = db_query(node1, "SELECT count(*) FROM events WHERE event_type = 'ORDER_CANCELLED' "
                             "AND event_data->>'cancelled_by' = 'runbook'")[0][0]
    assert cancelled == events


def test_safe_mode_on_and_strategies_stopped(node1, api_get):
    assert api_get(node1, "/admin/safe-mode").json()["enabled"] is True
    strategies = api_get(node1, "/admin/strategies").json()["strategies"]
    assert all(not s["enabled"] for s in strategies.values()), strategies


def test_converge_took_every_step_in_order(converge_report):
    steps = [c["step"] for c in converge_report["changes"]]
    expected = ["activate_emergency_mode", "cancel_pending_orders", "enable_safe_mode", "close_all_positions"]
    assert [s for s in expected if s in steps] == steps and {"activate_emergency_mode", "enable_safe_mode",
                                                              "close_all_positions"} <= set(steps), steps
    assert any("moved" in r for r in converge_report["reasons"]), converge_report["reasons"]
    validation = converge_report["validation"]
    assert validation["open_positions"] == 0 and validation["pending_orders"] == 0 and validation["safe_mode"] is True


def test_check_mode_planned_every_step():
    for run in ("check1", "check2"):
        report = _report(run, "node1", "scenario_20.json")
        assert report["detected"] and report["check_mode"]
        assert {c["step"] for c in report["planned_changes"]} >= {"activate_emergency_mode", "enable_safe_mode",
                                                                   "close_all_positions"}
        assert any("status 1" in r for r in report["reasons"]), report["reasons"]


def test_run_without_phrase_changed_nothing():
    report = _report("nophrase", "node1", "scenario_20.json")
    assert report["detected"] and not report["check_mode"] and report["changes"] == []
    assert report["evidence"]["plan"]["close_positions"]


def test_node2_still_trading(node2, api_get):
    assert api_get(node2, "/admin/safe-mode").json()["enabled"] is False
    strategies = api_get(node2, "/admin/strategies").json()["strategies"]
    assert any(s["enabled"] for s in strategies.values())
