"""Fleet-wide remediation on four nodes: only the faulty nodes are touched, and every fleet-safety
guard (rollout threshold, remediation lock, remediation budget, target-list checks) holds for real."""
import glob
import json
import os
import subprocess
import time
import uuid

import pytest

from genesis_lab import netns

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
WORK = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
NODES = ["node1", "node2", "node3", "node4"]
SSH_CUT_TABLE = "genesis_fleet_test_sshcut"


def run_id(label):
    return "%s-%s" % (label, uuid.uuid4().hex[:8])


def playbook(lab, name, tmp_path, rid, *args, background=False):
    """ansible-playbook <name> against the lab; reports under tmp_path/<run id>."""
    argv = ["ansible-playbook", "-i", str(lab.inventory_path), os.path.join(PROJECT, "playbooks", name)] + list(args)
    env = dict(os.environ, GENESIS_RUN_ID=rid, GENESIS_REPORT_DIR=str(tmp_path / rid), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    if background:
        return subprocess.Popen(argv, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False)


def sweep(lab, tmp_path, *args):
    """A read-only triage; returns its JSON document."""
    rid = run_id("sweep")
    done = playbook(lab, "triage.yml", tmp_path, rid, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    with open(str(tmp_path / rid / ("triage-%s.json" % rid))) as handle:
        return json.load(handle)


def findings(doc, host):
    return [f["scenario"] for f in doc["nodes"][host].get("findings", [])]


def inject(lab, scenario, node):
    done = subprocess.run(["genesis-lab", "inject", str(scenario), "--node", node, "--lab", lab.name],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def runbook_actions(db_query, node, rid=None):
    sql = "SELECT count(*) FROM events WHERE event_type = 'RUNBOOK_ACTION' AND aggregate_id = %s"
    params = ["runbook:" + node.name]
    if rid:
        sql += " AND event_data->>'run_id' = %s"
        params.append(rid)
    return db_query(node, sql, params)[0][0]


def recap(output, host):
    for line in output.splitlines():
        if line.startswith(host + " ") and "ok=" in line:
            return dict(part.split("=") for part in line.split(":", 1)[1].split())
    return None


@pytest.fixture(scope="module")
def nodes(lab):
    return dict((name, lab.node(name)) for name in NODES)


@pytest.fixture(scope="module")
def converge_triage():
    """The triage document of the converge run (the first of converge's runs that found something)."""
    docs = []
    for path in glob.glob(os.path.join(WORK, "reports", "converge", "triage-*.json")):
        with open(path) as handle:
            docs.append(json.load(handle))
    docs.sort(key=lambda d: d["written_at"])
    assert docs, "converge wrote no triage result"
    return docs


def test_triage_found_exactly_the_injected_faults(converge_triage):
    first = converge_triage[0]
    assert first["affected"] == ["node2", "node3"] and first["unanswered"] == []
    assert findings(first, "node2") == [13] and findings(first, "node3") == [15]
    assert findings(first, "node1") == [] and findings(first, "node4") == []
    assert first["nodes"]["node2"]["findings"][0]["severity"] == "high"
    # the idempotence run found nothing left
    assert converge_triage[-1]["affected"] == []


def test_only_the_affected_nodes_were_remediated(converge_triage, nodes, db_query):
    rid = converge_triage[0]["run_id"]
    reports = os.path.join(WORK, "reports", "converge")
    assert os.path.exists(os.path.join(reports, "node2", "scenario_13-%s.json" % rid))
    assert os.path.exists(os.path.join(reports, "node3", "scenario_15-%s.json" % rid))
    assert not glob.glob(os.path.join(reports, "node1", "scenario_*")) and not glob.glob(os.path.join(reports, "node4", "scenario_*"))
    assert runbook_actions(db_query, nodes["node2"], rid) > 0 and runbook_actions(db_query, nodes["node3"], rid) > 0
    assert runbook_actions(db_query, nodes["node1"]) == 0 and runbook_actions(db_query, nodes["node4"]) == 0


def test_the_fleet_is_healthy_after_converge(lab, tmp_path):
    doc = sweep(lab, tmp_path)
    assert doc["affected"] == [], dict((h, findings(doc, h)) for h in NODES)


def test_empty_or_unmatched_target_list_changes_nothing(lab, nodes, tmp_path, db_query):
    inject(lab, 13, "node1")
    before = dict((n, runbook_actions(db_query, nodes[n])) for n in NODES)
    unmatched = playbook(lab, "auto_recover.yml", tmp_path, run_id("nolimit"), "--limit", "no-such-node")
    assert unmatched.returncode != 0
    assert "no hosts" in (unmatched.stdout + unmatched.stderr).lower()
    empty = playbook(lab, "auto_recover.yml", tmp_path, run_id("empty"), "-e", "genesis_targets=")
    assert empty.returncode != 0 and "cannot have empty values" in empty.stdout + empty.stderr, empty.stdout[-2000:]
    oversized = playbook(lab, "auto_recover.yml", tmp_path, run_id("big"), "-e", "genesis_max_targets=2")
    assert oversized.returncode != 0
    assert "This play targets 4 hosts, more than genesis_max_targets (2)" in oversized.stdout + oversized.stderr
    assert dict((n, runbook_actions(db_query, nodes[n])) for n in NODES) == before
    assert findings(sweep(lab, tmp_path, "--limit", "node1"), "node1") == [13]


def test_concurrent_runs_on_one_node_act_once(lab, nodes, tmp_path, db_query):
    # node1 still has the scenario 13 fault of the previous test (injected again if not)
    if findings(sweep(lab, tmp_path, "--limit", "node1"), "node1") != [13]:
        inject(lab, 13, "node1")
    first, second = run_id("concA"), run_id("concB")
    runs = [playbook(lab, "scenario_13_orderbook.yml", tmp_path, rid, "--limit", "node1", background=True)
            for rid in (first, second)]
    outputs = [proc.communicate(timeout=300)[0] for proc in runs]
    assert [proc.returncode for proc in runs] == [0, 0], outputs
    acted = [rid for rid in (first, second) if runbook_actions(db_query, nodes["node1"], rid) > 0]
    assert len(acted) == 1, "both or neither run acted: %s" % acted
    waited = second if acted == [first] else first
    with open(str(tmp_path / waited / "node1" / "scenario_13.json")) as handle:
        report = json.load(handle)
    assert report["detected"] is False and report["changes"] == []
    assert findings(sweep(lab, tmp_path, "--limit", "node1"), "node1") == []


def held_by(path, rid):
    try:
        with open(path) as handle:
            return json.load(handle).get("run_id") == rid
    except (IOError, OSError, ValueError):
        return False


def test_node_cut_mid_run_is_reported_and_stops_the_rollout(lab, nodes, tmp_path, db_query):
    for name in ("node1", "node3", "node4"):
        inject(lab, 13, name)
    rid = run_id("cut")
    lock = os.path.join(str(nodes["node1"].root), "runbook-state", "remediation.lock")
    proc = playbook(lab, "auto_recover.yml", tmp_path, rid, "-e", "genesis_serial=1", background=True)
    cut = False
    try:
        # batches in name order (triage.yml: order sorted): node1, node3, node4.
        # Once node1 holds its lock for this run, node3 is cut off.
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not held_by(lock, rid):
            time.sleep(0.1)
        assert held_by(lock, rid), "node1 never took its remediation lock for run %s" % rid
        netns.nft("table inet %s {\n  chain input { type filter hook input priority -20; policy accept; tcp dport 22 drop; }\n}"
                  % SSH_CUT_TABLE, ns=nodes["node3"].netns)
        cut = True
        output = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        if cut:
            netns.delete_table("inet " + SSH_CUT_TABLE, ns=nodes["node3"].netns)
    assert proc.returncode != 0, output[-3000:]
    assert recap(output, "node3")["unreachable"] == "1", output[-3000:]
    assert recap(output, "node1")["failed"] == "0" and recap(output, "node1")["unreachable"] == "0"
    # the rollout stopped at node3: node4's batch never ran
    assert runbook_actions(db_query, nodes["node1"], rid) > 0 and runbook_actions(db_query, nodes["node4"], rid) == 0
    doc = sweep(lab, tmp_path)
    assert findings(doc, "node1") == [] and findings(doc, "node3") == [13] and findings(doc, "node4") == [13]


def test_budget_escalates_the_fourth_remediation_within_the_hour(lab, nodes, tmp_path, db_query):
    # node4 still has its scenario 13 fault (the rollout stopped before it); its budget for orderbook_sync is untouched
    outcomes = []
    for attempt in range(4):
        if attempt or findings(sweep(lab, tmp_path, "--limit", "node4"), "node4") != [13]:
            inject(lab, 13, "node4")
        rid = run_id("budget%d" % attempt)
        done = playbook(lab, "scenario_13_orderbook.yml", tmp_path, rid, "--limit", "node4")
        outcomes.append((done.returncode, runbook_actions(db_query, nodes["node4"], rid), done.stdout + done.stderr))
    assert [o[0] for o in outcomes[:3]] == [0, 0, 0] and all(o[1] > 0 for o in outcomes[:3])
    code, actions, output = outcomes[3]
    assert code != 0 and actions == 0
    assert "was already remediated 3 times on node4" in output and "escalating as high" in output
    assert findings(sweep(lab, tmp_path, "--limit", "node4"), "node4") == [13]
