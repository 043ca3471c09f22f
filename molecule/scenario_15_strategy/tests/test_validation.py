"""Scenario 15 validation on node1: the failing strategy executes trades again (in safe mode), no new
exceptions since its recovery, trading patterns normal (no rejected order, sane rate and size)."""
import datetime
import json
import time

STRATEGY = "momentum"


def _enabled_at(db_query, node):
    rows = db_query(node, "SELECT extract(epoch FROM created_at) FROM events WHERE event_type = 'RUNBOOK_ACTION' "
                          "AND event_data->>'step' = 'enable_strategy' AND event_data->'after'->>'strategy' = %s "
                          "ORDER BY event_id DESC LIMIT 1", (STRATEGY,))
    assert rows, "no enable_strategy audit event for %s on node1" % STRATEGY
    return float(rows[0][0])


def test_the_strategy_runs_in_safe_mode_with_default_params(node1, api_get):
    view = api_get(node1, "/admin/strategies").json()["strategies"][STRATEGY]
    assert view["state"] == "RUNNING", view
    assert view["enabled"] is True and view["safe_mode"] is True, view
    assert view["errors_last_5m"] == 0, view
    params = node1.redis().hget("genesis:strategy:%s" % STRATEGY, "params")
    json.loads(params)  # valid JSON again (the fault was a truncated object)


def test_executing_trades_since_the_recovery(node1, db_query):
    since = _enabled_at(db_query, node1)
    deadline = time.time() + 40
    while True:
        rows = db_query(node1, "SELECT count(*) FROM orders WHERE strategy = %s AND node = 'node1' "
                               "AND created_at > to_timestamp(%s)", (STRATEGY, since))
        if rows[0][0] > 0 or time.time() > deadline:
            break
        time.sleep(2)
    assert rows[0][0] > 0, "%s created no order since its recovery" % STRATEGY


def test_no_new_exceptions(node1, db_query):
    since = _enabled_at(db_query, node1)
    new = []
    with open(node1.logs_dir / "trading.log") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("event", "").startswith("Strategy error") and record.get("strategy") == STRATEGY:
                stamp = datetime.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
                if stamp >= since:
                    new.append(record)
    assert new == []


def test_patterns_normal(node1, db_query):
    since = _enabled_at(db_query, node1)
    rows = db_query(node1, "SELECT status, side, quantity * coalesce(price, 0) FROM orders WHERE strategy = %s "
                           "AND node = 'node1' AND created_at > to_timestamp(%s)", (STRATEGY, since))
    assert all(status not in ("REJECTED", "FAILED") for status, _, _ in rows), rows
    minutes = max(1.0, (time.time() - since) / 60.0)
    assert len(rows) / minutes <= 30, "%d orders in %.1f min" % (len(rows), minutes)
    # safe mode halves the size of new positions: the lab's strategies open 10..30 USDT, so at most 15
    # (a SELL may still close a position opened before the fault at its full size)
    assert all(float(notional) <= 16 for _, side, notional in rows if side == "BUY"), rows


def test_other_strategies_were_left_alone(converge_report, db_query, node1, baseline):
    events = db_query(node1, "SELECT event_data FROM events WHERE event_type = 'RUNBOOK_ACTION' AND event_id > %s",
                      (baseline["node1"]["last_event_id"],))
    touched = {e[0]["after"].get("strategy") for e in events if e[0].get("step", "").endswith("_strategy")}
    assert touched == {STRATEGY}, touched
    steps = [c["step"] for c in converge_report["changes"]]
    assert steps == ["disable_strategy", "reset_strategy", "enable_strategy"], steps
    assert converge_report["evidence"]["logs"][STRATEGY]["lines"], "no log lines of the strategy in the evidence"
