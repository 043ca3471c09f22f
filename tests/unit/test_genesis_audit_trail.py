# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scenario 18: genesis_audit_trail_info, genesis_audit_trail and genesis_audit_verification."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip

import pytest

import fakes_cluster_audit as fakes
import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import (
    genesis_audit_trail, genesis_audit_trail_info, genesis_audit_verification,
)

KEY = "k3y-api-secret"


@pytest.fixture
def home(tmp_path):
    (tmp_path / ".genesis" / "logs" / "archive").mkdir(parents=True)
    return tmp_path


def write_log(home, lines, name="audit.log"):
    path = home / ".genesis" / "logs" / name
    if name.endswith(".gz"):
        with gzip.open(str(path), "wt") as handle:
            handle.write("\n".join(lines) + "\n")
    else:
        with open(str(path), "a") as handle:
            handle.write("\n".join(lines) + "\n")
    return path


@pytest.fixture
def trail(monkeypatch, pg, home):
    """order:o1 lost sequence 2 (a gap, in audit.log); order:o2 lost its last event 3 (no gap, in audit.log);
    order:o3 lost sequence 2 and audit.log does not have it."""
    db = fakes.install(monkeypatch, pg)
    db.next_event_id = 100
    for event_id, event_type, aggregate, sequence in ((1, "ORDER_CREATED", "order:o1", 1), (3, "ORDER_FILLED", "order:o1", 3),
                                                      (4, "ORDER_CREATED", "order:o2", 1), (5, "ORDER_SUBMITTED", "order:o2", 2),
                                                      (7, "ORDER_CREATED", "order:o3", 1), (9, "ORDER_FILLED", "order:o3", 3)):
        db.add_event(event_type, aggregate, {"order_id": aggregate[6:]}, sequence)["event_id"] = event_id
    write_log(home, [fakes.audit_line(1, "ORDER_CREATED", "order:o1", 1, {"order_id": "o1"}),
                     fakes.audit_line(2, "ORDER_SUBMITTED", "order:o1", 2, {"order_id": "o1", "client_order_id": "c1"},
                                      created_at="2026-11-26T10:00:02.500Z"),
                     fakes.audit_line(3, "ORDER_FILLED", "order:o1", 3, {"order_id": "o1"}),
                     '{"timestamp": "2026-11-26T10:00:03.000Z", "level": "info", "event": "Heartbeat sent"}',
                     "not json at all",
                     fakes.audit_line(4, "ORDER_CREATED", "order:o2", 1, {"order_id": "o2"}),
                     fakes.audit_line(5, "ORDER_SUBMITTED", "order:o2", 2, {"order_id": "o2"}),
                     fakes.audit_line(6, "ORDER_FILLED", "order:o2", 3, {"order_id": "o2", "price": 64000.5}),
                     fakes.audit_line(7, "ORDER_CREATED", "order:o3", 1, {"order_id": "o3"})])
    return db


@pytest.fixture
def api(http):
    return fakes.FakeClusterApi(http, api_key=KEY, node="node1")


@pytest.fixture
def args(home):
    return dict(db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis", genesis_home=str(home), node_name="node1",
                run_id="run-18", scenario="audit_recovery")


# ---------------------------------------------------------------------------- info
def test_info_finds_gaps_per_aggregate_and_events_only_in_audit_log(run_module, trail, api, args):
    result, failed = run_module(genesis_audit_trail_info.main, dict(args, api_key=KEY))
    assert not failed and result["changed"] is False and result["complete"] is False
    assert result["gaps"] == [{"aggregate_id": "order:o1", "missing": [2]}, {"aggregate_id": "order:o3", "missing": [2]}]
    assert result["aggregates_with_gaps"] == 2 and result["missing_count"] == 3 and result["not_captured"] == 1
    assert [(e["aggregate_id"], e["sequence_number"], e["kind"], e["recoverable"], e["event_id"]) for e in result["missing_events"]] == [
        ("order:o1", 2, "gap", True, 2), ("order:o2", 3, "not_captured", True, 6), ("order:o3", 2, "gap", False, None)]
    assert result["recoverable_count"] == 2
    assert result["unrecoverable"] == [{"aggregate_id": "order:o3", "sequence_number": 2, "reason": "not in audit.log"}]
    assert result["audit_log"]["events"] == 7 and result["audit_log"]["unparsable"] == 0
    assert result["verification"] == {"enabled": False}
    assert not [s for s, _p in trail.statements if s.lower().startswith(("insert", "update", "delete"))]


def test_info_reads_rotated_and_archived_logs(run_module, trail, args, home):
    write_log(home, [fakes.audit_line(8, "ORDER_SUBMITTED", "order:o3", 2, {"order_id": "o3"})], "archive/audit.log.2026-11-20.gz")
    result, failed = run_module(genesis_audit_trail_info.main, args)
    assert not failed and result["recoverable_count"] == 3 and result["unrecoverable"] == []
    assert len(result["audit_log"]["files"]) == 2 and result["verification"] is None


def test_info_two_different_events_for_one_place_are_not_recoverable(run_module, trail, args, home):
    write_log(home, [fakes.audit_line(99, "ORDER_CANCELLED", "order:o1", 2, {})], "audit.log.2026-11-26")
    result, failed = run_module(genesis_audit_trail_info.main, args)
    assert not failed and result["audit_log"]["conflicts"] == [{"aggregate_id": "order:o1", "sequence_number": 2}]
    assert {"aggregate_id": "order:o1", "sequence_number": 2, "reason": "in audit.log twice with different events"} in result["unrecoverable"]


def test_info_complete_trail(run_module, monkeypatch, pg, args, home):
    db = fakes.install(monkeypatch, pg)
    db.add_event("ORDER_CREATED", "order:o1", {}, 1)
    write_log(home, [fakes.audit_line(1, "ORDER_CREATED", "order:o1", 1)])
    result, failed = run_module(genesis_audit_trail_info.main, args)
    assert not failed and result["complete"] is True and result["missing_events"] == [] and result["gaps"] == []


def test_info_without_audit_log_warns(run_module, monkeypatch, pg, tmp_path, args):
    db = fakes.install(monkeypatch, pg)
    db.add_event("ORDER_CREATED", "order:o1", {}, 2)
    result, failed = run_module(genesis_audit_trail_info.main, dict(args, genesis_home=str(tmp_path / "nowhere")))
    assert not failed and result["unrecoverable"] == [{"aggregate_id": "order:o1", "sequence_number": 1, "reason": "not in audit.log"}]


@pytest.mark.parametrize("override, expect", [
    (dict(max_log_bytes=10), "max_log_bytes must be between 1048576 (1 MiB) and 4294967296 (4 GiB), got 10."),
    (dict(max_missing=0), "max_missing must be between 1 and 100000, got 0."),
    (dict(db_dsn=""), "db_dsn (inventory variable genesis_db_dsn) is not set"),
    (dict(audit_log_paths="x", max_missing="many"), "max_missing"),
])
def test_info_bad_input(run_module, trail, args, override, expect):
    result, failed = run_module(genesis_audit_trail_info.main, dict(args, **override))
    assert failed and expect in result["msg"]


def test_info_db_unreachable_names_it_without_password(run_module, pg, args):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_audit_trail_info.main, args)
    assert failed and "is unreachable" in result["msg"] and "dbpa55" not in result["msg"]


def test_info_verification_api_unreachable_is_evidence(run_module, trail, api, args):
    api.down = True
    result, failed = run_module(genesis_audit_trail_info.main, dict(args, api_key=KEY, api_retries=0))
    assert not failed and result["verification"]["enabled"] is None and "unreachable" in result["verification"]["error"]


# ---------------------------------------------------------------------------- reconstruct
def test_reconstruct_restores_original_events_with_the_marker(run_module, trail, args):
    result, failed = run_module(genesis_audit_trail.main, args, diff=True)
    assert not failed and result["changed"] is True
    assert [(r["aggregate_id"], r["sequence_number"], r["event_id"], r["original_event_id"]) for r in result["reconstructed"]] == [
        ("order:o1", 2, 2, 2), ("order:o2", 3, 6, 6)]
    restored = trail.events_of("order:o1", "ORDER_SUBMITTED")[0]
    assert restored["event_id"] == 2 and restored["sequence_number"] == 2
    assert restored["created_at"].isoformat() == "2026-11-26T10:00:02.500000+00:00"
    data = restored["event_data"]
    assert data["client_order_id"] == "c1" and data["reconstructed"] is True and data["source"] == "audit.log"
    assert data["original_event_id"] == 2 and data["reconstructed_by_run"] == "run-18"
    assert trail.events_of("order:o2", "ORDER_FILLED")[0]["event_data"]["price"] == 64000.5
    actions = trail.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "reconstruct_audit_events"
    assert actions[0]["event_data"]["after"]["still_missing"] == ["order:o3#2"]
    assert result["unrecoverable"] == [{"aggregate_id": "order:o3", "sequence_number": 2, "reason": "not in audit.log"}]
    assert result["diff"]["after"] == {"missing": ["order:o3#2"]}
    second, failed = run_module(genesis_audit_trail.main, args)
    assert not failed and second["changed"] is False and second["reconstructed"] == []
    assert len(trail.events_of("runbook:node1")) == 1


def test_reconstruct_takes_a_new_id_when_the_original_is_taken(run_module, trail, args):
    trail.add_event("SOMETHING", "system:node1", {}, 1)["event_id"] = 2
    result, failed = run_module(genesis_audit_trail.main, args)
    assert not failed and result["reconstructed"][0]["event_id"] != 2
    assert result["reconstructed"][0]["original_event_id"] == 2
    assert trail.events_of("order:o1", "ORDER_SUBMITTED")[0]["event_data"]["original_event_id"] == 2


def test_reconstruct_check_mode_writes_nothing(run_module, trail, args):
    count = len(trail.events)
    result, failed = run_module(genesis_audit_trail.main, args, check_mode=True)
    assert not failed and result["changed"] is True and len(result["reconstructed"]) == 2
    assert len(trail.events) == count and result["audit_events"] == []


def test_reconstruct_failure_writes_nothing(run_module, trail, args):
    count = len(trail.events)
    trail.errors["insert into events (event_id"] = genesis_fakes.psycopg2.OperationalError("no space left on device")
    result, failed = run_module(genesis_audit_trail.main, args)
    assert failed and result["msg"].startswith("Restoring the missing audit events of node1 failed and nothing was written")
    assert len(trail.events) == count


def test_reconstruct_bad_input(run_module, trail, args):
    result, failed = run_module(genesis_audit_trail.main, dict(args, step=" "))
    assert failed and result["msg"] == "step is empty: name the runbook step the audit event records."
    result, failed = run_module(genesis_audit_trail.main, dict(args, state="deleted"))
    assert failed and "state" in result["msg"]


# ---------------------------------------------------------------------------- verification
@pytest.fixture
def vargs(args):
    return dict(args, api_key=KEY)


def test_verification_enabled_once_with_audit(run_module, trail, api, vargs):
    result, failed = run_module(genesis_audit_verification.main, vargs, diff=True)
    assert not failed and result["changed"] is True and result["before"] is False and result["enabled"] is True
    assert api.posts == [{"enabled": True}] and api.verification is True
    assert trail.events_of("runbook:node1", "RUNBOOK_ACTION")[0]["event_data"]["step"] == "enable_audit_verification"
    assert result["diff"] == {"before": {"enabled": False}, "after": {"enabled": True}}
    second, failed = run_module(genesis_audit_verification.main, vargs)
    assert not failed and second["changed"] is False and len(api.posts) == 1


def test_verification_check_mode_sends_nothing(run_module, trail, api, vargs):
    result, failed = run_module(genesis_audit_verification.main, vargs, check_mode=True)
    assert not failed and result["changed"] is True and api.posts == [] and trail.events_of("runbook:node1") == []


def test_verification_refused_when_the_audit_trail_is_down(run_module, pg, api, vargs):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_audit_verification.main, vargs)
    assert failed and "refused because the audit trail cannot be written" in result["msg"] and api.posts == []


def test_verification_api_unreachable(run_module, api, vargs):
    api.down = True
    result, failed = run_module(genesis_audit_verification.main, dict(vargs, api_retries=0))
    assert failed and result["msg"] == ("Control API GET http://127.0.0.1:8080/admin/audit/verification is unreachable: "
                                        "connection refused.")


@pytest.mark.parametrize("override, expect", [
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set"),
    (dict(enabled="sometimes"), "enabled"),
])
def test_verification_bad_input(run_module, api, vargs, override, expect):
    result, failed = run_module(genesis_audit_verification.main, dict(vargs, **override))
    assert failed and expect in result["msg"] and api.posts == []


# ---------------------------------------------------------------------------- module_utils
def test_read_audit_log_counts_and_stops_at_the_byte_limit(home):
    from ansible_collections.genesis.runbook.plugins.module_utils import audit_trail
    path = write_log(home, [fakes.audit_line(i, "ORDER_CREATED", "order:o%d" % i, 1) for i in range(1, 6)]
                     + ['{"event": "audit_event", "aggregate_id": "order:x"}', '{"event": "audit_event" broken'])
    records, conflicts, stats = audit_trail.read_audit_log([str(path), str(home / "missing.log")])
    assert len(records) == 5 and conflicts == set() and stats["unparsable"] == 2 and stats["files"] == [str(path)]
    records, _conflicts, stats = audit_trail.read_audit_log([str(path)], max_bytes=500)
    assert stats["truncated"] is True and 0 < len(records) < 5


def test_default_log_files_oldest_first(home):
    from ansible_collections.genesis.runbook.plugins.module_utils import audit_trail
    write_log(home, ["x"], "audit.log.2026-11-25")
    write_log(home, ["x"], "archive/audit.log.2026-11-01.gz")
    files = audit_trail.default_log_files(str(home))
    assert [f.rsplit("/", 1)[-1] for f in files] == ["audit.log.2026-11-01.gz", "audit.log.2026-11-25", "audit.log"]
