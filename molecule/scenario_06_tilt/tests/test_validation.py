"""Scenario 6 validation on node1: tilt score decreasing (or cooling), no new violations, the trader notified
(notification record, webhook called), limits reduced; the bad-input run changed nothing."""
import datetime
import json
import os

import pytest


def _work(*parts):
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], *parts)


def test_cooldown_active_and_score_not_rising(node1, api_get):
    tilt = api_get(node1, "/tilt/status").json()
    assert tilt["cooldown_active"], tilt
    assert tilt["score"] <= 85, "the injected score was 85: %s" % tilt["score"]
    lockout = datetime.datetime.fromisoformat(tilt["lockout_expiration"].replace("Z", "+00:00"))
    minutes = (lockout - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 60
    assert 20 < minutes <= 31, "cooldown should end about 30 minutes out, ends in %.1f" % minutes


def test_position_limits_halved(node1, api_get):
    tier = api_get(node1, "/config/tier").json()
    assert tier["limits_factor"] == 0.5, tier
    assert tier["effective_max_position_size"] == tier["max_position_size"] * 0.5
    assert tier["state"] == "PROTECTED"


def test_no_new_violations_since_the_intervention(node1, db_query):
    rows = db_query(node1, "SELECT count(*) FROM tilt_events te JOIN tilt_profiles tp USING (profile_id) "
                           "WHERE te.event_type = 'RISK_LIMIT_VIOLATION' AND te.created_at > tp.last_intervention_at")
    assert rows[0][0] == 0
    started = db_query(node1, "SELECT count(*) FROM tilt_events WHERE event_type = 'COOLDOWN_STARTED'")
    assert started[0][0] == 1, "exactly one cooldown was started"


def test_trader_notified_once(node1, db_query):
    rows = db_query(node1, "SELECT kind, severity, message, acknowledged_at FROM notifications "
                           "WHERE kind = 'tilt_intervention'")
    assert len(rows) == 1, rows
    kind, severity, message, _ack = rows[0]
    assert severity == "HIGH" and "score 85" in message and "acknowledge" in message


def test_webhook_called_once_without_leaking_the_token(converge_report):
    with open(_work("webhook", "request.json")) as handle:
        request = json.load(handle)
    assert request["path"] == "/hooks/tilt"
    assert request["headers"].get("Authorization") == "Token molecule-webhook-token"
    assert request["body"]["kind"] == "tilt_intervention" and request["body"]["node"] == "node1"
    assert request["body"]["notification_id"]
    assert "molecule-webhook-token" not in json.dumps(converge_report)


def test_converge_changed_every_step_and_validated(converge_report):
    steps = [c["step"] for c in converge_report["changes"]]
    assert steps == ["apply_cooling_period", "reduce_position_limits", "notify_trader", "escalate_webhook"], steps
    validation = converge_report["validation"]
    assert validation["checks"] == {"falling_or_cooling": True, "no_new_violations": True, "trader_notified": True}
    assert converge_report["evidence"]["trade_count"] == 50 and len(converge_report["evidence"]["trades"]) == 50
    assert converge_report["evidence"]["tilt"]["violations_last_hour"] == 3
    # the check-mode and bad-input runs before converge left the fault in place
    assert "no cooling period active" in converge_report["reasons"]
    assert "trader not notified" in converge_report["reasons"]


def test_bad_input_run_changed_nothing():
    path = _work("reports", "badinput", "node1", "scenario_06.json")
    if os.path.exists(path):  # the assert fails before detection: the report says so
        with open(path) as handle:
            report = json.load(handle)
        assert report["changes"] == [] and not report["detected"]


@pytest.mark.parametrize("check", [1, 2])
def test_check_mode_planned_without_webhook(check):
    with open(_work("reports", "check%d" % check, "node1", "scenario_06.json")) as handle:
        report = json.load(handle)
    assert [c["step"] for c in report["planned_changes"]] == [
        "apply_cooling_period", "reduce_position_limits", "notify_trader"]
