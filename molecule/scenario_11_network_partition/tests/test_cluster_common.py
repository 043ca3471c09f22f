"""Scenario 11's own (c), (e), (f), (g): the shared test_common.py assumes node2 is left alone,
but a split brain involves both nodes and the fix fences node2. Here: the idempotence run changed
nothing on either node; no trading record was lost; the primary was not touched beyond the
reconciliation events, and node2 only by the steps of the fix; every change has its audit event;
the emergency-close listener never fired."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "shared", "tools"))

from labprobe import node_snapshot, runbook_actions_since  # noqa: E402

PRIMARY_STEPS = {"reconcile_into_primary"}
FENCED_STEPS = {"fence_node", "stop_trading_programs", "cancel_split_orders", "resume_as_standby",
                "start_trading_programs"}


def _report_dir(node):
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", "converge", node)


def _converge_report(node):
    for path in sorted(glob.glob(os.path.join(_report_dir(node), "scenario_11-*.json"))):
        with open(path) as handle:
            report = json.load(handle)
        if report["detected"] and not report["check_mode"]:
            return report
    raise AssertionError("no converge report of %s detected the split brain" % node)


def test_idempotence_run_changed_nothing_on_either_node():
    for node in ("node1", "node2"):
        with open(os.path.join(_report_dir(node), "scenario_11.json")) as handle:
            report = json.load(handle)
        assert not report["detected"], (node, report.get("reasons"))
        assert report["changes"] == [], node


def test_no_trading_record_lost(lab, baseline):
    for node in lab.nodes:
        now = node_snapshot(node)["counts"]
        for table, count in baseline[node.name]["counts"].items():
            assert now[table] >= count, "%s: %s went from %d to %d" % (node.name, table, count, now[table])


def test_the_primary_was_touched_only_by_the_reconciliation(node1, baseline):
    before = baseline["node1"]
    assert node_snapshot(node1)["programs"] == before["programs"], "node1's programs were restarted or changed state"
    steps = {e["event_data"]["step"] for e in runbook_actions_since(node1, before["last_event_id"])}
    assert steps == PRIMARY_STEPS, steps


def test_the_fenced_node_was_touched_only_by_the_fix(node2, baseline):
    before, now = baseline["node2"]["programs"], node_snapshot(node2)["programs"]
    for name in ("genesis", "genesis:market_data", "postgresql", "redis"):  # labprobe names genesis:genesis "genesis"
        assert now[name] == before[name], "%s was restarted on node2" % name
    for name in ("genesis:executor", "genesis:strategies"):
        assert now[name]["state"] == "RUNNING", name
    steps = {e["event_data"]["step"] for e in runbook_actions_since(node2, baseline["node2"]["last_event_id"])}
    assert {"fence_node", "resume_as_standby"} <= steps <= FENCED_STEPS, steps


def test_every_change_has_an_audit_event(lab, baseline):
    for node in lab.nodes:
        events = runbook_actions_since(node, baseline[node.name]["last_event_id"])
        audited = {e["event_data"].get("step") for e in events}
        changed = {c["step"] for c in _converge_report(node.name)["changes"]}
        assert changed, "converge reported no change on %s" % node.name
        assert changed <= audited, "%s: changes without an audit event: %s" % (node.name, sorted(changed - audited))
        for event in events:
            data = event["event_data"]
            assert data.get("run_id") and data.get("scenario") == "heal_partition", event


def test_emergency_close_listener_never_fired(lab):
    for node in lab.nodes:
        snap = node_snapshot(node)
        assert snap["emergency_close_events"] == 0, node.name
        assert snap["emergency_close_lines"] == 0, node.name
