"""Scenario 17 validation on node1: API responses under 500 ms, every genesis program under 60 %
of a core, order latency normal; VACUUM ANALYZE ran through SQL on node1 only, the caches were
cleared through the API, only the hot program was restarted; bad input changes nothing."""
import json
import os
import subprocess
import time

import pytest

from labprobe import node_snapshot, runbook_actions_since

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
ENDPOINTS = ("/health", "/account/status", "/positions")


def _cpu_counters(pid):
    """(cpu seconds, run-queue wait seconds) of one process, all threads."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))
    wait = 0.0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as handle:
                wait += int(handle.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return cpu, wait


def test_responses_under_500_ms(node1, api_get):
    for path in ENDPOINTS:
        took = []
        for _ in range(3):
            start = time.time()
            assert api_get(node1, path, timeout=10).status_code == 200
            took.append((time.time() - start) * 1000)
        assert sorted(took)[1] < 500, "%s: %s ms" % (path, [round(t) for t in took])


def test_every_genesis_program_under_60_percent_cpu(node1):
    pids = dict((i["name"], i["pid"]) for i in node1.supervisor().supervisor.getAllProcessInfo()
                if i["group"] == "genesis" and i["pid"])
    assert len(pids) == 4, pids
    before = dict((name, _cpu_counters(pid)) for name, pid in pids.items())
    start = time.time()
    time.sleep(2)
    elapsed = time.time() - start
    for name, pid in pids.items():
        cpu, wait = _cpu_counters(pid)
        demand = 100 * ((cpu - before[name][0]) + (wait - before[name][1])) / elapsed
        assert demand < 60, "%s demands %.1f %% of a core" % (name, demand)


def test_order_latency_normal(node1, db_query):
    rows = db_query(node1, "SELECT EXTRACT(EPOCH FROM (executed_at - created_at)) * 1000 FROM orders "
                           "WHERE status = 'FILLED' AND created_at > now() - interval '120 seconds' ORDER BY 1")
    latencies = [float(r[0]) for r in rows]
    assert latencies, "no order filled in the last 120 s"
    p95 = latencies[max(0, int(len(latencies) * 0.95 + 0.999) - 1)]
    assert p95 < 2000, "order latency p95 %.0f ms" % p95
    stuck = db_query(node1, "SELECT count(*) FROM orders WHERE status = 'PENDING' AND created_at < now() - interval '30 seconds'")
    assert stuck[0][0] == 0


def test_vacuum_analyze_ran_on_node1_only(node1, node2, db_query):
    for node, expect in ((node1, True), (node2, False)):
        rows = db_query(node, "SELECT relname, last_vacuum, last_analyze FROM pg_stat_user_tables "
                              "WHERE relname IN ('orders', 'positions', 'events')")
        assert len(rows) == 3
        for name, vacuumed, analyzed in rows:
            assert (vacuumed is not None and analyzed is not None) == expect, (node.name, name, vacuumed, analyzed)


def test_the_fix_cleared_caches_and_restarted_only_the_hot_program(node1, baseline, converge_report):
    assert [c["step"] for c in converge_report["changes"]] == ["vacuum_analyze", "clear_caches", "restart_programs"]
    assert converge_report["evidence"]["hot_programs"] == ["genesis:strategies"]
    assert converge_report["evidence"]["profile"]["tool"] or converge_report["evidence"]["profile"]["reason"]
    before = baseline["node1"]["programs"]
    now = node_snapshot(node1)["programs"]
    assert now["genesis:strategies"]["pid"] != before["genesis:strategies"]["pid"]
    # labprobe names the main program like supervisorctl does: "genesis"
    for name in ("genesis", "genesis:executor", "genesis:market_data", "postgresql", "redis"):
        assert now[name]["pid"] == before[name]["pid"], "%s was restarted" % name


def test_caches_cleared_through_the_api(node1, baseline, db_query):
    rows = db_query(node1, "SELECT event_data FROM events WHERE event_type = 'CACHES_CLEARED' AND event_id > %s",
                    (baseline["node1"]["last_event_id"],))
    assert rows and rows[0][0]["cleared_entries"] > 0


def _run_with(lab, tmp_path, extra):
    """Run the scenario playbook on node1 with extra vars; return (rc, the failed tasks' messages)."""
    # molecule's own ANSIBLE_* settings (its inventory, callbacks) must not leak into this run
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_")))
    env.update(ANSIBLE_CONFIG=os.path.join(PROJECT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1")
    argv = ["ansible-playbook", "-i", lab.inventory_path, "--limit", "node1",
            os.path.join(PROJECT, "playbooks", "scenario_17_performance.yml"),
            "-e", "genesis_report_dir=%s" % tmp_path]
    for key, value in extra.items():
        argv += ["-e", json.dumps({key: value})]
    done = subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert "{" in done.stdout, "ansible-playbook gave no JSON (rc %s): %s" % (done.returncode, done.stderr[-2000:])
    messages = []
    for play in json.loads(done.stdout[done.stdout.index("{"):])["plays"]:
        for task in play["tasks"]:
            host = task["hosts"].get("node1", {})
            if host.get("failed"):
                messages.append(host.get("msg", ""))
    return done.returncode, messages


@pytest.mark.parametrize("extra, expected", [
    ({"performance_tune_profile": "always"}, "performance_tune_profile"),
    ({"performance_tune_target_response_ms": 2000}, "performance_tune_target_response_ms must be above 0 and at most"),
    ({"genesis_supervisor_socket": "/nonexistent/supervisor.sock"}, "supervisord socket /nonexistent/supervisor.sock is unreachable"),
])
def test_bad_input_says_one_sentence_and_changes_nothing(lab, node1, tmp_path, extra, expected):
    snap = node_snapshot(node1)
    rc, messages = _run_with(lab, tmp_path, extra)
    assert rc != 0 and messages, "the run did not fail"
    assert any(expected in str(m) for m in messages), messages
    after = node_snapshot(node1)
    assert after["programs"] == snap["programs"]
    assert runbook_actions_since(node1, snap["last_event_id"]) == []
