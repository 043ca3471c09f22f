# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of the benchmark harness (benchmarks/benchlib.py): phase attribution from
runner events, statistics and the Markdown report. No lab, no Ansible run, no matplotlib."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os

import pytest

BENCHLIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "benchmarks", "benchlib.py")
if not os.path.isfile(BENCHLIB):  # the built collection does not ship benchmarks/: run these from the repository
    pytest.fail("benchmarks/benchlib.py is missing: run the unit tests from the repository checkout", pytrace=False)
_SPEC = importlib.util.spec_from_file_location("genesis_benchlib", BENCHLIB)
benchlib = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(benchlib)

ROLE = "/x/.collections/ansible_collections/genesis/runbook/roles"
T0 = 1800000000.0


def _iso(offset):
    import datetime
    return datetime.datetime.fromtimestamp(T0 + offset, datetime.timezone.utc).isoformat()


def start(offset, path, task="t", host="node1"):
    return {"event": "runner_on_start", "created": _iso(offset),
            "event_data": {"host": host, "task_path": path, "task": task}}


def stats(offset):
    return {"event": "playbook_on_stats", "created": _iso(offset),
            "event_data": {"ok": {"node1": 9}, "changed": {"node1": 2}, "skipped": {"node1": 1}, "failures": {}}}


def scenario_events():
    return [
        {"event": "playbook_on_start", "created": _iso(0.5), "event_data": {}},
        start(1.0, "/w/playbooks/scenario_11.yml:4", "Validating arguments against arg spec 'main'"),
        start(1.5, ROLE + "/genesis/tasks/lock.yml:3", "Take the lock"),
        start(2.0, ROLE + "/heal_partition/tasks/main.yml:10", "Detect"),
        start(2.5, ROLE + "/heal_partition/tasks/detect.yml:3", "Read every member"),
        start(3.0, ROLE + "/heal_partition/tasks/read_cluster.yml:2", "Read the cluster"),   # inherits detect
        start(5.0, ROLE + "/genesis/tasks/budget.yml:3", "Spend one remediation"),
        start(5.5, ROLE + "/heal_partition/tasks/recover.yml:7", "Fence"),
        start(6.0, "/w/node2-ignored.yml:1", "other host", host="node2"),
        start(9.5, ROLE + "/heal_partition/tasks/validate.yml:20", "Include read"),
        start(10.0, ROLE + "/heal_partition/tasks/read_cluster.yml:2", "Read the cluster"),  # inherits validate
        start(12.0, ROLE + "/genesis/tasks/report.yml:6", "Build the report"),
        stats(13.0),
    ]


def test_classify_by_task_file_and_inheritance():
    assert benchlib.classify(ROLE + "/orderbook_sync/tasks/detect.yml:2") == "detect"
    assert benchlib.classify(ROLE + "/rate_limit_recovery/tasks/detect_config.yml:2") == "detect"
    assert benchlib.classify(ROLE + "/rate_limit_recovery/tasks/recover_config.yml:2") == "recover"
    assert benchlib.classify(ROLE + "/orderbook_sync/tasks/validate.yaml:9") == "validate"
    assert benchlib.classify(ROLE + "/genesis/tasks/budget.yml:3", "recover") == "overhead"
    assert benchlib.classify(ROLE + "/orderbook_sync/tasks/main.yml:27", "validate") == "overhead"
    assert benchlib.classify(ROLE + "/memory_cleanup/tasks/restart_forced.yml:5", "recover") == "recover"
    assert benchlib.classify(ROLE + "/memory_cleanup/tasks/restart_forced.yml:5", "overhead") == "overhead"
    assert benchlib.classify("/w/playbooks/scenario_13_orderbook.yml:4", "detect") == "overhead"
    assert benchlib.classify(None) == "overhead"


def test_attribute_phases_adds_up_and_follows_one_host():
    out = benchlib.attribute_phases(scenario_events(), host="node1", started=T0, finished=T0 + 14.0)
    assert out["detect"] == pytest.approx(2.5)       # 2.5 -> 5.0 (detect.yml, then the inherited helper)
    assert out["recover"] == pytest.approx(4.0)      # 5.5 -> 9.5 (node2's event in between is ignored)
    assert out["validate"] == pytest.approx(2.5)     # 9.5 -> 12.0
    assert out["startup"] == pytest.approx(1.0) and out["teardown"] == pytest.approx(1.0)
    # overhead: argspec 0.5 + lock 0.5 + main include 0.5 + budget 0.5 + report 1.0 + startup 1 + teardown 1
    assert out["overhead"] == pytest.approx(5.0)
    assert sum(out[p] for p in benchlib.ALL_PHASES) == pytest.approx(14.0)
    assert out["span"] == pytest.approx(12.0)
    assert out["tasks"] == 10
    assert out["by_phase_tasks"] == {"detect": 2, "recover": 1, "validate": 2, "overhead": 5}
    assert out["slowest"][0] == {"task": "Fence", "phase": "recover", "seconds": 4.0}


def test_attribute_phases_without_tasks_is_all_overhead():
    out = benchlib.attribute_phases([stats(3.0)], host="node1", started=T0, finished=T0 + 2.5)
    assert out["tasks"] == 0 and out["overhead"] == pytest.approx(2.5) and out["detect"] == 0


def test_attribute_phases_picks_the_first_host_and_tolerates_naive_times():
    events = [start(0, ROLE + "/x/tasks/detect.yml:1", host="nodeA"), start(2, ROLE + "/x/tasks/recover.yml:1", host="nodeA")]
    events[0]["created"] = events[0]["created"].replace("+00:00", "")
    events.append(stats(5))
    out = benchlib.attribute_phases(events)
    assert out["detect"] == pytest.approx(2.0) and out["recover"] == pytest.approx(3.0)
    assert benchlib.host_stats(events, "node1") == {"ok": 9, "changed": 2, "skipped": 1, "failures": 0, "dark": 0}


def test_spread_median_and_stdev_only_from_three_values():
    assert benchlib.spread([3.0, 1.0, 2.0]) == {"n": 3, "median": 2.0, "min": 1.0, "max": 3.0, "mean": 2.0, "stdev": 1.0}
    two = benchlib.spread([1.0, 2.0, None])
    assert two["median"] == 1.5 and two["stdev"] is None and two["n"] == 2
    assert benchlib.spread([])["median"] is None
    assert benchlib.ratio(10.0, 4.0) == 2.5 and benchlib.ratio(None, 4.0) is None and benchlib.ratio(1.0, 0) is None


def test_fmt_spread():
    assert benchlib.fmt_spread(benchlib.spread([1.0, 2.0, 3.0])) == "2.0 (1.0-3.0, sd 1.0)"
    assert benchlib.fmt_spread(benchlib.spread([1.25])) == "1.2"
    assert benchlib.fmt_spread(benchlib.spread([])) == "-"


def _run(ttr, wall, ok=True, run=1):
    return {"run": run, "ok": ok, "ttr_s": ttr, "wall_s": wall, "wait_s": ttr - wall, "tasks": 30,
            "phases": {"detect": 1.0, "recover": 2.0, "validate": 3.0, "overhead": wall - 6.0},
            "error": None if ok else "validation failed"}


def test_markdown_report_tables():
    results = {
        "meta": {"date": "2026-11-28T00:00:00Z", "machine": {"ansible_core": "2.19.14", "cpu_count": 2},
                 "settings": {"forks": 20, "runs": 3}, "notes": ["genesis_budget=1000 was set."], "charts": ["recovery.png"]},
        "scenarios": [
            {"number": 13, "name": "orderbook",
             "runs": [_run(20.0, 20.0, run=1), _run(22.0, 22.0, run=2), _run(0, 0, ok=False, run=3)],
             "baseline": {"available": True, "runs": [{"run": 1, "ok": True, "ttr_s": 4.0, "wall_s": 4.0}]}},
            {"number": 11, "name": "network_partition", "runs": [_run(60.0, 60.0)],
             "baseline": {"available": False, "reason": "multi-node election, not reproduced"}},
        ],
        "scaling": {"lab": "bn8", "serial": "100%", "rows": [
            {"nodes": 1, "triage": [{"run": 1, "ok": True, "wall_s": 10.0, "cpu_s": 6.5, "sweep_max_s": 1.25}],
             "scenario13": [{"run": 1, "ok": True, "wall_s": 30.0, "cpu_s": 20.0}]},
            {"nodes": 2, "triage": [{"run": 1, "ok": True, "wall_s": 12.0}], "scenario13": [{"run": 1, "ok": False, "error": "x"}]}]},
    }
    md = benchlib.render_markdown(results)
    assert "| 13 | orderbook | 2/3 | 21.0 (20.0-22.0) | 0.0 | 1.0 (1.0-1.0) |" in md
    assert "| 4.0 | 5.25 |" in md                    # bare wall and ratio 21 / 4
    assert "- 11 network_partition: multi-node election, not reproduced" in md
    assert "13 orderbook (playbook run 3): validation failed" in md
    assert "| 1 | 10.0 | 1/1 | 6.5 | 1.25 | 30.0 | 1/1 | 20.0 |" in md
    assert "| 2 | 12.0 | 1/1 | - | - | - | 0/1 | - |" in md
    assert "on these 2 CPUs" in md
    assert "genesis_budget=1000 was set." in md and "![recovery.png](recovery.png)" in md
    summary = benchlib.summarize_scenario(results["scenarios"][0])
    assert summary["runs_ok"] == 2 and summary["ratio"] == 5.25 and summary["tasks"]["median"] == 30


def test_cpu_busy_seconds_counts_every_state_but_idle_and_iowait():
    text = "cpu  100 20 30 1000 50 5 5 10 0 0\ncpu0 50 10 15 500 25 2 3 5 0 0\n"
    assert benchlib.cpu_busy_seconds(text, 100) == 1.7   # (100+20+30+5+5+10) / 100
    assert benchlib.cpu_busy_seconds(text, 50) == 3.4
    with pytest.raises(ValueError):
        benchlib.cpu_busy_seconds("intr 1 2 3\n")
