"""Scenario 5 validation on node1: memory of the genesis programs under 50 % of the budget,
no growing trend over a short sampling window, health normal; the heap dump was taken before
the restart and kept; only the leaking program was restarted; bad input changes nothing."""
import json
import os
import re
import subprocess
import time

import pytest

from labprobe import node_snapshot, runbook_actions_since

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def _budget_mb(node):
    with open(os.path.join(node.config_dir, "node.yaml")) as handle:
        return float(re.search(r"^memory_budget_mb:\s*([0-9.]+)", handle.read(), re.M).group(1))


def _tree_rss(pid):
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    kids.setdefault(int(handle.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open("/proc/%d/statm" % current) as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(kids.get(current, []))
    return total


def _genesis_rss_mb(node):
    infos = node.supervisor().supervisor.getAllProcessInfo()
    return sum(_tree_rss(i["pid"]) for i in infos if i["group"] == "genesis" and i["pid"]) / 1048576.0


def test_memory_under_half_of_the_budget(node1):
    used = _genesis_rss_mb(node1)
    budget = _budget_mb(node1)
    assert used < 0.5 * budget, "genesis programs use %.1f MB of a %.0f MB budget" % (used, budget)


def test_no_growing_trend(node1):
    samples = []
    for _ in range(5):
        samples.append(_genesis_rss_mb(node1))
        time.sleep(1)
    growth_per_min = (samples[-1] - samples[0]) / 4.0 * 60
    assert growth_per_min < 10, "memory grows by %.1f MB/min: %s" % (growth_per_min, samples)


def test_health_is_normal(node1, api_get):
    health = api_get(node1, "/health").json()
    assert health["status"] == "healthy", health
    programs = {p["name"]: p["statename"] for p in node1.supervisor().supervisor.getAllProcessInfo() if p["group"] == "genesis"}
    assert set(programs.values()) == {"RUNNING"}, programs


def test_heap_dump_taken_before_the_restart_and_kept(node1, baseline, converge_report):
    dump = converge_report["evidence"]["heap_dump"]
    assert dump["path"] and os.path.isfile(dump["path"]), dump
    assert dump["top"] and dump["rss_mb"] > 0.5 * _budget_mb(node1), dump
    with open(dump["path"]) as handle:
        assert json.load(handle)["top"]
    steps = [e["event_data"]["step"] for e in runbook_actions_since(node1, baseline["node1"]["last_event_id"])]
    assert "heap_dump" in steps and "restart_programs" in steps, steps
    assert steps.index("heap_dump") < steps.index("restart_programs"), steps


def test_only_the_leaking_program_was_restarted(node1, baseline, converge_report):
    assert [c["step"] for c in converge_report["changes"]] == ["heap_dump", "restart_programs"]
    before = baseline["node1"]["programs"]
    now = node_snapshot(node1)["programs"]
    # labprobe names the main program like supervisorctl does: "genesis", not "genesis:genesis"
    assert now["genesis"]["pid"] != before["genesis"]["pid"]
    for name in ("genesis:executor", "genesis:market_data", "genesis:strategies", "postgresql", "redis"):
        assert now[name]["pid"] == before[name]["pid"], "%s was restarted" % name


def _run_with(lab, tmp_path, extra):
    """Run the scenario playbook on node1 with extra vars; return (rc, the failed task's message)."""
    # molecule's own ANSIBLE_* settings (its inventory, callbacks) must not leak into this run
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_")))
    env.update(ANSIBLE_CONFIG=os.path.join(PROJECT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1")
    argv = ["ansible-playbook", "-i", lab.inventory_path, "--limit", "node1",
            os.path.join(PROJECT, "playbooks", "scenario_05_memory.yml"),
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
    ({"memory_cleanup_restart_mode": "kill"}, "memory_cleanup_restart_mode"),
    ({"memory_cleanup_target_percent": 95}, "memory_cleanup_target_percent must be above 0 and below memory_cleanup_threshold_percent (90), got 95."),
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
