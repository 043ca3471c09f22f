# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_tilt_info, genesis_tilt and genesis_notification (runbook scenario 6)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest

import genesis_fakes
from fakes_risk import API_KEY, DSN, iso, base_args, risk_api, risk_exchange, risk_pg  # noqa: F401  pylint: disable=unused-import
from ansible_collections.genesis.runbook.plugins.modules import genesis_notification, genesis_tilt, genesis_tilt_info

ARGS = dict(api_key=API_KEY, db_dsn=DSN, node_name="node1", run_id="run-6", scenario="6", api_retries=0)
UTC = datetime.timezone.utc


def ago(**kwargs):
    return datetime.datetime.now(UTC) - datetime.timedelta(**kwargs)


# ---------------------------------------------------------------------------- genesis_tilt_info
def test_info_reads_status_trades_and_violations(run_module, risk_api, risk_pg):
    for i in range(60):
        risk_pg.add_order("t%02d" % i, status="FILLED", age_s=600 - i, executed_at=ago(seconds=600 - i))
    risk_pg.add_order("p1", status="PENDING")
    risk_pg.tilt_events = [dict(event_type="RISK_LIMIT_VIOLATION", created_at=ago(minutes=5)),
                           dict(event_type="RISK_LIMIT_VIOLATION", created_at=ago(minutes=1)),
                           dict(event_type="LOSS_STREAK", created_at=ago(seconds=10))]
    result, failed = run_module(genesis_tilt_info.main, dict(ARGS, violations_since=iso(ago(minutes=2))))
    assert not failed and result["changed"] is False
    assert result["tilt"]["score"] == 85.0 and result["limits"]["limits_factor"] == 1.0
    assert result["trade_count"] == 50 and result["trades"][0]["order_id"] == "t59"
    assert all(t["status"] == "FILLED" for t in result["trades"])
    assert result["violations_since_count"] == 1
    assert result["notification"] is None


def test_info_finds_the_recent_notification_only(run_module, risk_api):
    risk_api.notifications = [
        dict(notification_id=1, kind="tilt_intervention", severity="HIGH", message="old", created_at=iso(ago(hours=3)),
             acknowledged_at=None),
        dict(notification_id=2, kind="other", severity="LOW", message="x", created_at=iso(ago(minutes=1)),
             acknowledged_at=None),
        dict(notification_id=3, kind="tilt_intervention", severity="HIGH", message="new", created_at=iso(ago(minutes=2)),
             acknowledged_at=iso(ago(minutes=1)))]
    result, failed = run_module(genesis_tilt_info.main, dict(ARGS, trades=0, notification_window=30))
    assert not failed and result["notification"]["notification_id"] == 3
    assert result["trades"] == [] and result["violations_since_count"] is None


def test_info_without_trades_needs_no_database(run_module, risk_api, risk_pg):
    result, failed = run_module(genesis_tilt_info.main, dict(ARGS, trades=0, db_dsn=""))
    assert not failed and risk_pg.connections == []


@pytest.mark.parametrize("override, message", [
    (dict(trades=1001), "trades must be between 0 and 1000, got 1001."),
    (dict(notification_window=0), "notification_window must be between 1 and 10080 minutes, got 0."),
    (dict(violations_since="yesterday"),
     "violations_since must be an ISO 8601 timestamp such as 2026-11-27T18:40:01.123Z, got yesterday."),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set: genesis_tilt_info needs it to read the "
                       "tilt status."),
])
def test_info_bad_input(run_module, risk_api, override, message):
    result, failed = run_module(genesis_tilt_info.main, dict(ARGS, **override))
    assert failed and result["msg"] == message


def test_info_api_unreachable_names_the_endpoint(run_module, risk_api):
    risk_api.down = True
    result, failed = run_module(genesis_tilt_info.main, ARGS)
    assert failed and result["msg"] == ("Control API GET http://127.0.0.1:8080/tilt/status is unreachable: "
                                        "connection refused.")
    assert API_KEY not in str(result)


def test_info_db_unreachable_without_password(run_module, risk_api, risk_pg):
    risk_pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_tilt_info.main, ARGS)
    assert failed and result["msg"].startswith("PostgreSQL postgresql://genesis:********@127.0.0.1:5432/genesis is "
                                               "unreachable: connection to server")
    assert "dbpa55" not in result["msg"]


# ---------------------------------------------------------------------------- genesis_tilt
def test_tilt_applies_cooldown_and_limits_with_audit(run_module, risk_api, risk_pg):
    result, failed = run_module(genesis_tilt.main, dict(ARGS, cooldown_minutes=30, limits_factor=0.5), diff=True)
    assert not failed and result["changed"] is True
    assert result["cooldown"]["changed"] and result["cooldown"]["before"] is None and result["cooldown"]["after"]
    assert result["limits"] == {"changed": True, "before": 1.0, "after": 0.5}
    assert risk_api.tier["limits_factor"] == 0.5 and risk_api.tilt["cooldown_active"]
    actions = risk_pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert [a["event_data"]["step"] for a in actions] == ["apply_cooling_period", "reduce_position_limits"]
    assert actions[1]["event_data"]["before"] == {"limits_factor": 1.0} and actions[1]["event_data"]["scenario"] == "6"
    assert result["status"]["cooldown_active"] is True and len(result["audit_events"]) == 2
    assert result["diff"]["before"]["limits"] == 1.0 and result["diff"]["after"]["limits"] == 0.5


def test_tilt_check_mode_changes_nothing(run_module, risk_api, risk_pg):
    result, failed = run_module(genesis_tilt.main, dict(ARGS, cooldown_minutes=30, limits_factor=0.5), check_mode=True)
    assert not failed and result["changed"] is True and result["limits"]["after"] == 0.5
    assert risk_api.posts == [] and risk_pg.events == [] and risk_pg.connections == []


def test_tilt_second_run_is_not_changed(run_module, risk_api, risk_pg):
    run_module(genesis_tilt.main, dict(ARGS, cooldown_minutes=30, limits_factor=0.5))
    result, failed = run_module(genesis_tilt.main, dict(ARGS, cooldown_minutes=30, limits_factor=0.5))
    assert not failed and result["changed"] is False
    assert not result["cooldown"]["changed"] and not result["limits"]["changed"]
    assert len(risk_pg.events) == 2


def test_tilt_never_raises_limits(run_module, risk_api, risk_pg):
    risk_api.tier["limits_factor"] = 0.3
    result, failed = run_module(genesis_tilt.main, dict(ARGS, limits_factor=0.5))
    assert not failed and result["changed"] is False and result["limits"] == {"changed": False, "before": 0.3, "after": 0.3}
    assert risk_api.posts == []


def test_tilt_keeps_a_longer_cooldown(run_module, risk_api, risk_pg):
    risk_api.tilt["lockout_expiration"] = iso(datetime.datetime.now(UTC) + datetime.timedelta(minutes=90))
    result, failed = run_module(genesis_tilt.main, dict(ARGS, cooldown_minutes=30))
    assert not failed and result["changed"] is False and risk_api.posts == []


@pytest.mark.parametrize("override, message", [
    (dict(cooldown_minutes=0), "cooldown_minutes must be between 1 and 1440, got 0."),
    (dict(cooldown_minutes=1441), "cooldown_minutes must be between 1 and 1440, got 1441."),
    (dict(limits_factor=0.0), "limits_factor must be greater than 0 and at most 1, got 0.0."),
    (dict(limits_factor=1.5), "limits_factor must be greater than 0 and at most 1, got 1.5."),
])
def test_tilt_bad_input_changes_nothing(run_module, risk_api, risk_pg, override, message):
    result, failed = run_module(genesis_tilt.main, dict(ARGS, **override))
    assert failed and result["msg"] == message and risk_api.posts == []


def test_tilt_needs_one_action(run_module, risk_api):
    result, failed = run_module(genesis_tilt.main, ARGS)
    assert failed and "cooldown_minutes" in result["msg"] and "limits_factor" in result["msg"]


def test_tilt_db_down_changes_nothing(run_module, risk_api, risk_pg):
    risk_pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_tilt.main, dict(ARGS, cooldown_minutes=30, limits_factor=0.5))
    assert failed and result["msg"].startswith("Neither the cooldown nor the position limits were changed because the "
                                               "audit trail cannot be written: PostgreSQL")
    assert "dbpa55" not in result["msg"] and risk_api.posts == []


def test_tilt_api_error_midway_reports_progress(run_module, risk_api, risk_pg, http):
    http.route("POST", "http://127.0.0.1:8080/admin/limits",
               (400, {"error": "bad_request", "message": "factor must be a number with 0 < factor <= 1."}, {}))
    result, failed = run_module(genesis_tilt.main, dict(ARGS, cooldown_minutes=30, limits_factor=0.5))
    assert failed and result["msg"] == (
        "The position limits factor was not changed (1 change(s) made before): Control API POST "
        "http://127.0.0.1:8080/admin/limits answered HTTP 400 bad_request: factor must be a number with 0 < factor <= 1.")
    assert [e["event_data"]["step"] for e in risk_pg.events] == ["apply_cooling_period"]


def test_tilt_api_unreachable(run_module, risk_api):
    risk_api.down = True
    result, failed = run_module(genesis_tilt.main, dict(ARGS, cooldown_minutes=30))
    assert failed and result["msg"] == ("Control API GET http://127.0.0.1:8080/tilt/status is unreachable: "
                                        "connection refused.")


# ---------------------------------------------------------------------------- genesis_notification
NOTE = dict(ARGS, kind="tilt_intervention", text="Tilt score 85: please acknowledge.", step="notify_trader")


def test_notification_recorded_and_audited(run_module, risk_api, risk_pg):
    result, failed = run_module(genesis_notification.main, NOTE, diff=True)
    assert not failed and result["changed"] is True and result["created"] is True
    assert result["notification"]["notification_id"] == 1
    assert risk_api.notifications[0]["severity"] == "HIGH"
    actions = risk_pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "notify_trader"
    assert actions[0]["event_data"]["after"] == {"notified": True, "notification_id": 1}
    assert result["diff"]["after"].startswith("HIGH tilt_intervention:")


def test_notification_check_mode_and_dedupe(run_module, risk_api, risk_pg):
    planned, failed = run_module(genesis_notification.main, NOTE, check_mode=True)
    assert not failed and planned["changed"] and risk_api.notifications == [] and risk_pg.events == []
    run_module(genesis_notification.main, NOTE)
    again, failed = run_module(genesis_notification.main, NOTE)
    assert not failed and again["changed"] is False and again["created"] is False
    assert again["notification"]["notification_id"] == 1 and len(risk_api.notifications) == 1 and len(risk_pg.events) == 1


def test_notification_acknowledged_or_old_ones_do_not_dedupe(run_module, risk_api, risk_pg):
    risk_api.notifications = [
        dict(notification_id=1, kind="tilt_intervention", severity="HIGH", message="m", created_at=iso(ago(minutes=5)),
             acknowledged_at=iso(ago(minutes=4))),
        dict(notification_id=2, kind="tilt_intervention", severity="HIGH", message="m", created_at=iso(ago(hours=2)),
             acknowledged_at=None)]
    result, failed = run_module(genesis_notification.main, NOTE)
    assert not failed and result["created"] is True and result["notification"]["notification_id"] == 3


@pytest.mark.parametrize("override, message", [
    (dict(kind=" "), "kind is empty: give the notification's kind."),
    (dict(dedupe_minutes=-1), "dedupe_minutes must be between 0 and 10080, got -1."),
])
def test_notification_bad_input(run_module, risk_api, override, message):
    result, failed = run_module(genesis_notification.main, dict(NOTE, **override))
    assert failed and result["msg"] == message and risk_api.posts == []


def test_notification_bad_severity_choice(run_module, risk_api):
    result, failed = run_module(genesis_notification.main, dict(NOTE, severity="URGENT"))
    assert failed and "severity" in result["msg"] and "URGENT" in result["msg"]


def test_notification_db_down_records_nothing(run_module, risk_api, risk_pg):
    risk_pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_notification.main, NOTE)
    assert failed and result["msg"].startswith("No notification was recorded because the audit trail cannot be written")
    assert risk_api.notifications == []
