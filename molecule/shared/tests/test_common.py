"""(c), (e), (f), (g) of every scenario: no second change, the other node untouched,
no trading record lost, every change audited, the emergency-close listener silent."""
from labprobe import node_snapshot, runbook_actions_since


def test_idempotence_run_changed_nothing(idempotence_report):
    assert not idempotence_report["detected"], idempotence_report.get("reasons")
    assert idempotence_report["changes"] == []


def test_other_node_saw_no_change(node2, baseline):
    before = baseline["node2"]
    now = node_snapshot(node2)
    assert now["programs"] == before["programs"], "node2's programs were restarted or changed state"
    assert runbook_actions_since(node2, before["last_event_id"]) == []


def test_no_trading_record_lost(lab, baseline):
    for node in lab.nodes:
        now = node_snapshot(node)["counts"]
        for table, count in baseline[node.name]["counts"].items():
            assert now[table] >= count, "%s: %s went from %d to %d" % (node.name, table, count, now[table])


def test_every_change_has_an_audit_event(node1, baseline, converge_report):
    events = runbook_actions_since(node1, baseline["node1"]["last_event_id"])
    audited_steps = {e["event_data"].get("step") for e in events}
    changed_steps = {c["step"] for c in converge_report["changes"]}
    assert changed_steps, "converge reported no change although the fault was detected"
    assert changed_steps <= audited_steps, "changes without an audit event: %s" % sorted(changed_steps - audited_steps)
    for event in events:
        data = event["event_data"]
        assert data.get("run_id") and data.get("scenario"), event


def test_emergency_close_listener_never_fired(lab):
    for node in lab.nodes:
        snap = node_snapshot(node)
        assert snap["emergency_close_events"] == 0, node.name
        assert snap["emergency_close_lines"] == 0, node.name
