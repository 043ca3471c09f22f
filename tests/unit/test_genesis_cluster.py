# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scenario 11: the election (module_utils/cluster.py), genesis_cluster_info, genesis_cluster and
genesis_cluster_reconcile."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest

import fakes_cluster_audit as fakes
import genesis_fakes
from ansible_collections.genesis.runbook.plugins.module_utils import cluster
from ansible_collections.genesis.runbook.plugins.modules import (
    genesis_cluster, genesis_cluster_info, genesis_cluster_reconcile,
)

KEY = "k3y-api-secret"
FUTURE = "2999-01-01T00:00:00.000Z"
PAST = "2000-01-01T00:00:00.000Z"


def doc(node, role="primary", fenced=False, priority=1, term=1, since="2026-11-27T18:30:00.000Z", holder=None,
        expires=FUTURE, peers=None, split_brain=False):
    return {"node": node, "cluster": "glab", "role": role, "term": term, "fenced": fenced, "priority": priority,
            "split_brain": split_brain, "last_state_change": since,
            "lease": {"holder": holder or (node if role == "primary" else None), "term": term, "expires_at": expires},
            "peers": peers or {}}


def peer(role, reachable=False, fenced=False, term=1):
    return {"role": role, "reachable": reachable, "fenced": fenced, "term": term, "last_seen_age_s": 9.0}


def result_of(view_doc, reachable=True):
    return {"node": view_doc["node"], "reachable": reachable, "view": cluster.view_from(view_doc)}


# ---------------------------------------------------------------------------- election
def cut_views():
    """The lab's cut: node1 was primary; node2 promoted itself 6 s after it lost node1."""
    node1 = doc("node1", priority=1, term=1, since="2026-11-27T18:30:00.000Z", peers={"node2": peer("standby")})
    node2 = doc("node2", priority=2, term=2, since="2026-11-27T18:40:07.000Z", peers={"node1": peer("primary")})
    return [result_of(node1), result_of(node2)]


def test_election_during_the_cut_keeps_the_primary_the_peers_last_agreed_on():
    e = cluster.elect(cut_views())
    assert e["split_brain"] and e["complete"] and e["active_primaries"] == ["node1", "node2"]
    assert e["primary"] == "node1" and e["fence"] == ["node2"]
    assert e["decided_by"] == "most recent consistent state"
    assert e["split_started_at"] == "2026-11-27T18:40:07.000Z"
    assert "node1 stays primary" in e["reasons"][0]


def test_election_is_the_same_whatever_the_order_of_the_views():
    assert cluster.elect(list(reversed(cut_views()))) == cluster.elect(cut_views())


def test_lease_holder_comes_first():
    # node3 (standby) still sees node2's valid lease: node2 wins although node1 has the better priority
    node1 = doc("node1", priority=1, peers={"node2": peer("primary"), "node3": peer("standby")})
    node2 = doc("node2", priority=2, term=2, peers={"node1": peer("primary"), "node3": peer("standby", reachable=True)})
    node3 = doc("node3", role="standby", priority=3, term=2, holder="node2",
                peers={"node1": peer("primary"), "node2": peer("primary", reachable=True, term=2)})
    e = cluster.elect([result_of(node1), result_of(node2), result_of(node3)])
    assert e["primary"] == "node2" and e["decided_by"] == "lease holder" and e["fence"] == ["node1"]


def test_an_expired_lease_does_not_count():
    node1 = doc("node1", priority=1, peers={"node2": peer("primary"), "node3": peer("standby")})
    node2 = doc("node2", priority=2, peers={"node1": peer("primary"), "node3": peer("standby")})
    node3 = doc("node3", role="standby", priority=3, holder="node2", expires=PAST,
                peers={"node1": peer("primary"), "node2": peer("primary")})
    e = cluster.elect([result_of(node1), result_of(node2), result_of(node3)])
    assert e["primary"] == "node1" and e["decided_by"] == "priority"


def test_after_a_heal_both_seen_as_primary_priority_decides():
    node1 = doc("node1", priority=5, peers={"node2": peer("primary", reachable=True)}, split_brain=True)
    node2 = doc("node2", priority=2, peers={"node1": peer("primary", reachable=True)}, split_brain=True)
    e = cluster.elect([result_of(node1), result_of(node2)])
    assert e["primary"] == "node2" and e["decided_by"] == "priority" and e["fence"] == ["node1"]
    assert e["split_brain_reported"] == ["node1", "node2"]


def test_same_priority_falls_back_to_the_name():
    node1 = doc("node1", priority=1, peers={"node2": peer("primary", reachable=True)})
    node2 = doc("node2", priority=1, peers={"node1": peer("primary", reachable=True)})
    e = cluster.elect([result_of(node2), result_of(node1)])
    assert e["primary"] == "node1" and e["decided_by"] == "node name"


def test_one_active_primary_is_no_split_brain():
    node1 = doc("node1", peers={"node2": peer("standby", fenced=True)})
    node2 = doc("node2", role="standby", fenced=True, holder="node1", peers={"node1": peer("primary")})
    e = cluster.elect([result_of(node1), result_of(node2)])
    assert not e["split_brain"] and e["primary"] == "node1" and e["fence"] == []
    assert e["decided_by"] == "only active primary" and e["reasons"] == []


def test_a_fenced_node_still_claiming_primary_is_reported():
    node1 = doc("node1", peers={"node2": peer("primary", fenced=True)})
    node2 = doc("node2", fenced=True, peers={"node1": peer("primary")})
    e = cluster.elect([result_of(node1), result_of(node2)])
    assert e["fenced_claiming_primary"] == ["node2"] and not e["split_brain"]
    assert e["reasons"] == ["node2 is fenced but still claims role primary"]


def test_a_missing_or_unreadable_member_makes_the_picture_incomplete():
    e = cluster.elect([cut_views()[0]])
    assert not e["complete"] and e["missing"] == ["node2"]
    assert "no view of node2" in e["reasons"][0]
    e = cluster.elect([cut_views()[0], {"node": "node2", "reachable": False}])
    assert not e["complete"] and e["unreadable"] == ["node2"]


def test_no_active_primary_elects_nobody():
    node1 = doc("node1", role="standby", peers={"node2": peer("standby")})
    node2 = doc("node2", role="standby", peers={"node1": peer("standby")})
    e = cluster.elect([result_of(node1), result_of(node2)])
    assert e["primary"] is None and e["fence"] == [] and "no active primary" in e["reasons"][0]


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def api(http):
    return fakes.FakeClusterApi(http, api_key=KEY, node="node2")


@pytest.fixture
def db(monkeypatch, pg):
    return fakes.install(monkeypatch, pg)


@pytest.fixture
def base():
    return dict(api_key=KEY, db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis", node_name="node2",
                run_id="run-11", scenario="heal_partition")


# ---------------------------------------------------------------------------- genesis_cluster_info
def test_info_reads_view_strategies_programs_and_fence_record(run_module, api, db, supervisord, base):
    db.add_event("RUNBOOK_ACTION", "runbook:node2",
                 {"step": "fence_node", "run_id": "run-10", "details": {"split_started_at": "2026-11-27T18:40:07.000Z"}}, 1)
    result, failed = run_module(genesis_cluster_info.main, dict(base, supervisor_socket=supervisord,
                                                                programs=["genesis:executor", "genesis:genesis", "nope"]))
    assert not failed and result["changed"] is False and result["reachable"] and result["error"] is None
    view = result["view"]
    assert view["node"] == "node2" and view["role"] == "primary" and view["lease"]["valid"] is True
    assert view["peers"]["node1"] == {"role": "primary", "term": 1, "fenced": False, "reachable": False, "last_seen_age_s": 9.5}
    assert result["primary_only_strategies"] == ["cluster_arbitrage"]
    assert result["programs"] == {"genesis:executor": "FATAL", "genesis:genesis": "RUNNING", "nope": None}
    assert result["fence_record"]["details"]["split_started_at"] == "2026-11-27T18:40:07.000Z"
    assert result["errors"] == {}


def test_info_unreachable_api_is_evidence(run_module, api, base):
    api.down = True
    result, failed = run_module(genesis_cluster_info.main, dict(base, db_dsn="", api_retries=0))
    assert not failed and result["reachable"] is False
    assert result["error"] == ("Control API GET http://127.0.0.1:8080/admin/cluster is unreachable: connection refused.")
    assert "view" not in result


def test_info_rejected_key_fails_without_the_key(run_module, api, base):
    result, failed = run_module(genesis_cluster_info.main, dict(base, api_key="wrong-key-123", db_dsn=""))
    assert failed and "HTTP 401" in result["msg"] and "wrong-key-123" not in result["msg"]


def test_info_elects_from_views_without_io(run_module, http, base):
    result, failed = run_module(genesis_cluster_info.main, dict(base, views=cut_views()))
    assert not failed and result["election"]["primary"] == "node1" and http.calls == []


@pytest.mark.parametrize("override, expect", [
    (dict(views=[]), "views is empty"),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set"),
    (dict(programs="genesis:executor", views="nope"), "views"),
])
def test_info_bad_input(run_module, api, base, override, expect):
    result, failed = run_module(genesis_cluster_info.main, dict(base, **override))
    assert failed and expect in result["msg"]


# ---------------------------------------------------------------------------- genesis_cluster
@pytest.fixture
def fence_args(base):
    return dict(base, fenced=True, confirmation="HALT TRADING NOW", elected_primary="node1",
                details={"decided_by": "most recent consistent state"})


def test_fence_posts_once_and_audits(run_module, api, db, fence_args):
    result, failed = run_module(genesis_cluster.main, fence_args, diff=True)
    assert not failed and result["changed"] is True and result["step"] == "fence_node"
    assert api.posts == [{"fenced": True, "confirmation": "HALT TRADING NOW"}] and api.cluster["fenced"] is True
    assert result["diff"] == {"before": {"role": "primary", "term": 2, "fenced": False},
                              "after": {"role": "primary", "term": 2, "fenced": True}}
    actions = db.events_of("runbook:node2", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "fence_node"
    assert actions[0]["event_data"]["details"] == {"decided_by": "most recent consistent state"}
    assert result["event"]["aggregate_id"] == "runbook:node2"
    second, failed = run_module(genesis_cluster.main, fence_args)
    assert not failed and second["changed"] is False and len(api.posts) == 1
    assert len(db.events_of("runbook:node2", "RUNBOOK_ACTION")) == 1


def test_fence_check_mode_changes_nothing_and_needs_no_phrase(run_module, api, db, fence_args):
    result, failed = run_module(genesis_cluster.main, dict(fence_args, confirmation=None), check_mode=True)
    assert not failed and result["changed"] is True and result["after"]["fenced"] is True
    assert api.posts == [] and api.cluster["fenced"] is False and db.events == [] and db.connections == []


def test_fence_without_the_phrase_is_refused(run_module, api, db, fence_args):
    result, failed = run_module(genesis_cluster.main, dict(fence_args, confirmation="halt trading now"))
    assert failed and result["msg"] == ("confirmation must be the phrase 'HALT TRADING NOW' to fence node2 "
                                        "(contract section 8); nothing was changed.")
    assert api.posts == [] and db.events == []


def test_fencing_the_elected_primary_is_refused(run_module, api, db, fence_args):
    result, failed = run_module(genesis_cluster.main, dict(fence_args, elected_primary="node2"))
    assert failed and result["msg"] == "Fencing node2 is refused: it is the elected primary, and the runbook fences the other node."
    assert api.posts == [] and api.cluster["fenced"] is False


@pytest.mark.parametrize("peers", [{}, {"node1": {"role": "primary", "fenced": True}}])
def test_fencing_the_last_node_is_refused(run_module, api, db, fence_args, peers):
    api.cluster["peers"] = peers
    for check_mode in (True, False):
        result, failed = run_module(genesis_cluster.main, fence_args, check_mode=check_mode)
        assert failed and result["msg"] == "Fencing node2 is refused: it is the last member of cluster glab that is not fenced."
    assert api.posts == []


def test_fence_needs_the_elected_primary(run_module, api, fence_args):
    result, failed = run_module(genesis_cluster.main, dict(fence_args, elected_primary=None))
    assert failed and result["msg"] == "elected_primary is required to fence node2: name the node that stays primary."


def test_resume_as_standby_with_its_own_step(run_module, api, db, base):
    api.cluster["fenced"] = True
    result, failed = run_module(genesis_cluster.main, dict(base, role="standby", step="resume_as_standby"))
    assert not failed and result["changed"] and api.posts == [{"role": "standby"}]
    assert db.events_of("runbook:node2", "RUNBOOK_ACTION")[0]["event_data"]["step"] == "resume_as_standby"
    second, _failed = run_module(genesis_cluster.main, dict(base, role="standby", step="resume_as_standby"))
    assert second["changed"] is False and len(api.posts) == 1


def test_audit_trail_down_refuses_before_any_change(run_module, api, pg, db, fence_args):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_cluster.main, fence_args)
    assert failed and result["msg"].startswith("Changing the cluster membership of node2 was refused because the audit "
                                               "trail cannot be written: PostgreSQL ")
    assert "is unreachable" in result["msg"]
    assert api.posts == [] and "dbpa55" not in result["msg"]


def test_api_unreachable_names_the_endpoint(run_module, api, fence_args):
    api.down = True
    result, failed = run_module(genesis_cluster.main, dict(fence_args, api_retries=0))
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/admin/cluster is unreachable: connection refused."


@pytest.mark.parametrize("override, expect", [
    (dict(role="leader"), "role"),
    (dict(fenced="maybe"), "fenced"),
    (dict(fenced=None), "fenced or role is required"),
])
def test_cluster_bad_input(run_module, api, fence_args, override, expect):
    result, failed = run_module(genesis_cluster.main, dict(fence_args, **override))
    assert failed and expect in result["msg"] and api.posts == []


# ---------------------------------------------------------------------------- genesis_cluster_reconcile
SINCE = "2026-11-27T18:40:07.000Z"


@pytest.fixture
def split(db, exchange_fake, api):
    """node2's split-era records: a filled BUY with its position, an order still open at the exchange,
    one that never reached it, and an older order and another strategy's order that are not split-era."""
    db.now = datetime.datetime.now(datetime.timezone.utc)
    api.cluster["fenced"] = True
    fakes.add_order(db, "s1", status="FILLED", age_s=50, position_id="p1")
    fakes.add_position(db, "p1", status="OPEN", age_s=50)
    fakes.add_order(db, "s2", status="PENDING", age_s=20)
    fakes.add_order(db, "s3", status="PARTIAL", age_s=10)
    fakes.add_order(db, "old", status="FILLED", age_s=100000)
    fakes.add_order(db, "mr", status="PENDING", age_s=20, strategy="momentum")
    db.add_event("ORDER_CREATED", "order:s1", {}, 1)
    db.add_event("ORDER_FILLED", "order:s1", {}, 2)
    db.add_event("POSITION_OPENED", "position:p1", {}, 1)
    exchange_fake.open_orders["gen-s3"] = "BTCUSDT"
    return db


@pytest.fixture
def cancel_args(base, exchange_fake):
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=3600)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return dict(base, state="cancelled", since=since, strategies=["cluster_arbitrage"], exchange_url=exchange_fake.base,
                exchange_api_key=exchange_fake.api_key, exchange_api_secret=exchange_fake.secret)


def test_cancel_open_split_orders_at_the_exchange_then_in_the_database(run_module, split, exchange_fake, cancel_args):
    result, failed = run_module(genesis_cluster_reconcile.main, cancel_args, diff=True)
    assert not failed and result["changed"] is True
    assert [(c["order_id"], c["exchange_result"]) for c in result["cancelled"]] == [
        ("s2", "unknown_at_exchange"), ("s3", "cancelled_at_exchange")]
    assert exchange_fake.cancelled == ["gen-s3"]
    for order_id in ("s2", "s3"):
        assert split.order(order_id)["status"] == "CANCELLED"
        assert "during a split brain (run run-11)" in split.order(order_id)["last_error"]
        assert split.events_of("order:%s" % order_id, "ORDER_CANCELLED")
    assert split.order("mr")["status"] == "PENDING" and split.order("old")["status"] == "FILLED"
    assert len(split.orders) == 5  # nothing deleted
    assert [o["order_id"] for o in result["records"]["orders"]] == ["s1", "s2", "s3"]
    assert [o["status"] for o in result["records"]["orders"]] == ["FILLED", "CANCELLED", "CANCELLED"]
    assert result["records"]["positions"][0]["position_id"] == "p1"
    assert [e["event_type"] for e in result["records"]["orders"][0]["events"]] == ["ORDER_CREATED", "ORDER_FILLED"]
    actions = split.events_of("runbook:node2", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "cancel_split_orders"
    assert result["diff"]["after"] == {"s2": "CANCELLED", "s3": "CANCELLED"}
    second, failed = run_module(genesis_cluster_reconcile.main, cancel_args)
    assert not failed and second["changed"] is False and second["cancelled"] == []
    assert len(split.events_of("runbook:node2", "RUNBOOK_ACTION")) == 1


def test_cancel_check_mode_lists_and_changes_nothing(run_module, split, http, api, cancel_args):
    api.cluster["fenced"] = False  # fencing is only planned in check mode
    events = len(split.events)
    result, failed = run_module(genesis_cluster_reconcile.main, cancel_args, check_mode=True)
    assert not failed and result["changed"] is True
    assert [c["order_id"] for c in result["cancelled"]] == ["s2", "s3"]
    assert split.order("s2")["status"] == "PENDING" and len(split.events) == events
    assert http.calls_to("/api/v3/order") == []


def test_cancel_refused_on_a_node_that_is_not_fenced(run_module, split, api, cancel_args):
    api.cluster["fenced"] = False
    result, failed = run_module(genesis_cluster_reconcile.main, cancel_args)
    assert failed and result["msg"] == "Cancelling the split-era orders of node2 is refused: it is not fenced (fence it first)."
    assert split.order("s2")["status"] == "PENDING"


def test_cancel_exchange_unreachable_marks_nothing(run_module, split, exchange_fake, cancel_args):
    exchange_fake.down = True
    result, failed = run_module(genesis_cluster_reconcile.main, dict(cancel_args, api_retries=0))
    assert failed and result["msg"] == (
        "genesis_cluster_reconcile cancelled 0 of 2 open split-era orders of node2, then stopped: order s2 was not "
        "cancelled: Exchange DELETE http://exchange.test/api/v3/order is unreachable: connection refused.")
    assert split.order("s2")["status"] == "PENDING" and split.events_of("runbook:node2") == []


def test_cancel_filled_at_the_exchange_is_not_cancelled(run_module, split, exchange_fake, cancel_args):
    exchange_fake.final_orders["gen-s2"] = "FILLED"
    result, failed = run_module(genesis_cluster_reconcile.main, cancel_args)
    assert not failed and [c["order_id"] for c in result["cancelled"]] == ["s3"]
    assert result["skipped"] == [{"order_id": "s2", "reason": "the exchange reports it FILLED: it is reconciled, not cancelled"}]


@pytest.mark.parametrize("override, expect", [
    (dict(since="yesterday"), "since must be the ISO 8601 time the split brain began"),
    (dict(strategies=None), "strategies is required with state=cancelled"),
    (dict(max_records=0), "max_records must be between 1 and 10000"),
    (dict(state="deleted"), "state"),
])
def test_cancel_bad_input(run_module, split, cancel_args, override, expect):
    result, failed = run_module(genesis_cluster_reconcile.main, dict(cancel_args, **override))
    assert failed and expect in result["msg"]
    assert split.order("s2")["status"] == "PENDING"


@pytest.fixture
def primary(api, db):
    api.cluster.update(node="node1", role="primary", fenced=False)
    return db


@pytest.fixture
def records():
    return {"orders": [{"order_id": "s1", "aggregate_id": "order:s1", "status": "FILLED", "position_id": "p1",
                        "events": [{"event_id": 9, "event_type": "ORDER_CREATED", "sequence_number": 1}]},
                       {"order_id": "s2", "aggregate_id": "order:s2", "status": "CANCELLED", "events": []}],
            "positions": [{"position_id": "p1", "aggregate_id": "position:p1", "status": "OPEN", "events": []}]}


@pytest.fixture
def import_args(base, records):
    return dict(base, node_name="node1", state="reconciled", source_node="node2", records=records)


def test_reconcile_into_the_primary_once(run_module, primary, import_args):
    result, failed = run_module(genesis_cluster_reconcile.main, import_args, diff=True)
    assert not failed and result["changed"] is True
    assert [(r["aggregate_id"], r["event_type"], r["status"]) for r in result["reconciled"]] == [
        ("order:s1", "ORDER_RECONCILED", "FILLED"), ("order:s2", "ORDER_RECONCILED", "CANCELLED"),
        ("position:p1", "POSITION_RECONCILED", "OPEN")]
    event = primary.events_of("order:s1", "ORDER_RECONCILED")[0]
    assert event["sequence_number"] == 1 and event["event_data"]["source_node"] == "node2"
    assert event["event_data"]["reconciled_into"] == "node1" and event["event_data"]["record"]["status"] == "FILLED"
    assert event["event_data"]["source_events"][0]["event_type"] == "ORDER_CREATED"
    actions = primary.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "reconcile_into_primary"
    assert len(result["audit_events"]) == 4
    second, failed = run_module(genesis_cluster_reconcile.main, import_args)
    assert not failed and second["changed"] is False and second["reconciled"] == []
    assert second["already_reconciled"] == ["order:s1", "order:s2", "position:p1"]


def test_reconcile_check_mode_writes_nothing(run_module, primary, import_args):
    result, failed = run_module(genesis_cluster_reconcile.main, import_args, check_mode=True)
    assert not failed and result["changed"] is True and len(result["reconciled"]) == 3
    assert primary.events == [] and result["audit_events"] == []


def test_reconcile_refused_unless_active_primary(run_module, api, primary, import_args):
    api.cluster["fenced"] = True
    result, failed = run_module(genesis_cluster_reconcile.main, import_args)
    assert failed and result["msg"] == ("Reconciling the records of node2 into node1 is refused: node1 is not the active "
                                        "primary (role primary, fenced True).")
    assert primary.events == []


def test_reconcile_failure_writes_nothing(run_module, primary, import_args):
    primary.errors["insert into events"] = genesis_fakes.psycopg2.OperationalError("disk full")
    result, failed = run_module(genesis_cluster_reconcile.main, import_args)
    assert failed and result["msg"].startswith("Reconciling the records of node2 into node1 failed and nothing was written")
    assert primary.events == []


@pytest.mark.parametrize("override, expect", [
    (dict(source_node=None), "source_node is required with state=reconciled"),
    (dict(source_node="node1"), "source_node node1 is this node"),
    (dict(records=None), "records is required with state=reconciled"),
    (dict(records={"orders": [{"status": "FILLED"}]}), "records.orders holds an entry without order_id"),
])
def test_reconcile_bad_input(run_module, primary, import_args, override, expect):
    result, failed = run_module(genesis_cluster_reconcile.main, dict(import_args, **override))
    assert failed and expect in result["msg"] and primary.events == []
