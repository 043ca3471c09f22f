"""Scenario 4 validation on node1: database queries succeed, recent trades are visible, the
audit trail is written again; the fix acted only on the database; a restore without the
confirmation phrase is refused before anything changes."""
import json
import os
import subprocess
import tempfile

from labprobe import node_snapshot

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def test_queries_succeed(node1, db_query):
    assert db_query(node1, "SELECT 1") == [(1,)]
    programs = {p["name"]: p["statename"] for p in node1.supervisor().supervisor.getAllProcessInfo()}
    assert programs["postgresql"] == "RUNNING"


def test_control_api_sees_the_database_again(node1, api_get):
    health = api_get(node1, "/health")
    assert health.status_code == 200, health.text
    assert health.json()["components"]["database"] == "up"


def test_recent_trades_visible_after_the_fix(node1, db_query, converge_report):
    # trades executed after the converge run started: trading resumed on the recovered database
    rows = db_query(node1, "SELECT count(*) FROM orders WHERE status = 'FILLED' AND executed_at > %s",
                    (converge_report["started_at"],))
    assert rows[0][0] > 0


def test_audit_trail_written_again(node1, db_query, baseline, converge_report):
    steps = [r[0] for r in db_query(
        node1, "SELECT event_data->>'step' FROM events WHERE event_type = 'RUNBOOK_ACTION' AND aggregate_id = 'runbook:node1' "
               "AND event_id > %s ORDER BY event_id", (baseline["node1"]["last_event_id"],))]
    assert steps == ["start_database"], steps
    written = db_query(node1, "SELECT count(*) FROM events WHERE event_type <> 'RUNBOOK_ACTION' AND created_at > %s",
                       (converge_report["finished_at"],))
    assert written[0][0] > 0, "genesis wrote no event after the recovery"
    assert converge_report["validation"]["queries_succeed"] is True
    assert int(converge_report["validation"]["new_events_since_recovery"]) > 0


def test_only_the_database_was_touched(node1, baseline):
    # every program but postgresql kept its pid: the genesis programs reconnect on their own
    now = node_snapshot(node1)["programs"]
    before = baseline["node1"]["programs"]
    assert now["postgresql"]["state"] == "RUNNING"
    for name, program in before.items():
        if name != "postgresql":
            assert now[name] == program, name


def test_the_report_never_shows_the_password(node1, converge_report):
    assert "********" in converge_report["evidence"]["endpoint"]
    assert node1.db_password not in json.dumps(converge_report)


def test_restore_without_the_phrase_is_refused(lab, node1, db_query):
    """database_recovery_restore=true without the phrase: one sentence, nothing changed."""
    before = db_query(node1, "SELECT coalesce(max(event_id), 0) FROM events WHERE event_type = 'RUNBOOK_ACTION'")[0][0]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(PROJECT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    with tempfile.TemporaryDirectory() as reports:
        proc = subprocess.run(
            ["ansible-playbook", "-i", str(lab.inventory_path), os.path.join(PROJECT, "playbooks", "scenario_04_database.yml"),
             "--limit", "node1", "-e", "database_recovery_restore=true", "-e", "genesis_report_dir=" + reports],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "database_recovery_confirmation is not the phrase 'HALT TRADING NOW'" in proc.stdout + proc.stderr
    after = db_query(node1, "SELECT coalesce(max(event_id), 0) FROM events WHERE event_type = 'RUNBOOK_ACTION'")[0][0]
    assert after == before
