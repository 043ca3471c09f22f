"""Scenario 12 validation on node1: correlation values valid (file and database, checked with the
lab's own validator), strategies executing, no calculation errors since the fix."""
import datetime
import json
import time

from genesis_lab.node.correlation import check_db_rows, validate_matrix

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def _fix_time(db_query, node):
    rows = db_query(node, "SELECT extract(epoch FROM created_at) FROM events WHERE event_type = 'RUNBOOK_ACTION' "
                          "AND event_data->>'step' = 'restart_strategies' ORDER BY event_id DESC LIMIT 1")
    assert rows, "no restart_strategies audit event on node1"
    return float(rows[0][0])


def test_matrix_file_is_valid_and_rebuilt(node1):
    doc = json.loads((node1.home / ".genesis" / "state" / "correlation_matrix.json").read_text())
    assert validate_matrix(doc) == [], validate_matrix(doc)
    assert sorted(doc["symbols"]) == sorted(SYMBOLS)
    assert doc["source"] in ("klines", "defaults")


def test_database_rows_are_valid_and_match_the_file(node1, db_query):
    rows = db_query(node1, "SELECT symbol_1, symbol_2, correlation_coefficient FROM position_correlations")
    as_dicts = [{"symbol_1": a, "symbol_2": b, "correlation_coefficient": v} for a, b, v in rows]
    assert check_db_rows(as_dicts) == []
    doc = json.loads((node1.home / ".genesis" / "state" / "correlation_matrix.json").read_text())
    index = {s: i for i, s in enumerate(doc["symbols"])}
    for a, b, value in rows:
        assert abs(float(value) - doc["matrix"][index[a]][index[b]]) < 1e-6, (a, b, value)
        assert -1 <= float(value) <= 1


def test_strategies_are_executing(node1, api_get, db_query):
    since = _fix_time(db_query, node1)
    strategies = api_get(node1, "/admin/strategies").json()["strategies"]
    for name, view in strategies.items():
        if view["enabled"] and not view["primary_only"]:
            assert view["state"] == "RUNNING", (name, view)
    deadline = time.time() + 30
    while True:
        created = db_query(node1, "SELECT count(*) FROM orders WHERE node = 'node1' AND created_at > to_timestamp(%s)", (since,))
        if created[0][0] > 0 or time.time() > deadline:
            break
        time.sleep(2)
    assert created[0][0] > 0, "no order created by the strategies since the fix"


def test_no_calculation_error_since_the_fix(node1, db_query):
    since = _fix_time(db_query, node1)
    bad = []
    with open(node1.logs_dir / "trading.log") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("event", "").startswith("Correlation calculation error"):
                stamp = datetime.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
                if stamp >= since:
                    bad.append(record)
    assert bad == []


def test_the_fix_rebuilt_and_restarted_the_strategies(converge_report, baseline, node1):
    steps = {c["step"] for c in converge_report["changes"]}
    assert {"rebuild_correlations", "restart_strategies"} <= steps, steps
    programs = {p["name"]: p for p in node1.supervisor().supervisor.getAllProcessInfo()}
    assert programs["strategies"]["statename"] == "RUNNING"
    assert programs["strategies"]["pid"] != baseline["node1"]["programs"]["genesis:strategies"]["pid"]
    assert converge_report["validation"]["matrix_valid"] is True
