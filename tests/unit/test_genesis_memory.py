# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_memory_info and genesis_heap_dump (runbook scenario 5)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

import fakes_memory_performance as fmp
import genesis_fakes
from ansible_collections.genesis.runbook.plugins.module_utils import process_usage
from ansible_collections.genesis.runbook.plugins.modules import genesis_heap_dump, genesis_memory_info

METRICS = b"# TYPE genesis_up gauge\ngenesis_up 1\n# TYPE genesis_memory_usage_bytes gauge\ngenesis_memory_usage_bytes 409219072\n"


@pytest.fixture
def home(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "node.yaml").write_text("version: 7\nnode: node1\nmemory_budget_mb: 400         # scenario 5\n")
    (tmp_path / ".genesis" / "data" / "heapdumps").mkdir(parents=True)
    (tmp_path / ".genesis" / "logs").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def proc(tmp_path, monkeypatch):
    root = tmp_path / "proc"
    root.mkdir()
    fake = fmp.FakeProc(root)
    for pid, rss in ((101, 52), (102, 38), (103, 40), (104, 38), (105, 14), (106, 110)):
        fake.add(pid, rss_mb=rss)
    fake.add(201, ppid=104, rss_mb=10)  # a worker forked by strategies counts for strategies
    monkeypatch.setattr(genesis_memory_info, "PROC_ROOT", str(root))
    monkeypatch.setattr(process_usage, "now", fake.now)
    monkeypatch.setattr(process_usage, "pause", fake.pause)
    return fake


@pytest.fixture
def sv():
    server = genesis_fakes.Supervisord(fmp.GENESIS_PROGRAMS)
    yield server.path
    server.stop()


@pytest.fixture
def args(home, sv, http):
    http.route("GET", "http://127.0.0.1:8080/metrics", (200, METRICS, {"Content-Type": "text/plain"}))
    return dict(genesis_home=str(home), supervisor_socket=sv, api_key="k3y-api-secret", samples=3, interval=1.0)


def test_healthy_node(run_module, proc, args):
    result, failed = run_module(genesis_memory_info.main, args)
    assert not failed and result["changed"] is False
    assert result["budget_mb"] == 400 and result["budget_source"].endswith("config/node.yaml")
    assert sorted(result["programs"]) == ["genesis:executor", "genesis:genesis", "genesis:market_data", "genesis:strategies"]
    assert result["programs"]["genesis:strategies"]["rss_mb"] == 48.0  # with its forked worker
    assert result["programs"]["genesis:genesis"]["ctl_name"] == "genesis"
    assert result["total_rss_mb"] == 178.0 and result["percent_of_budget"] == 44.5
    assert result["over_threshold"] is False and result["within_target"] is True
    assert result["growing"] is False and result["growth_mb_per_min"] == 0.0
    assert result["excess_programs"] == [] and result["restart_names"] == [] and result["reasons"] == []
    assert [s["t_s"] for s in result["samples"]] == [0.0, 1.0, 2.0] and proc.pauses == [1.0, 1.0]
    assert result["metrics"] == {"genesis_memory_usage_bytes": 409219072, "error": None}


def test_leak_is_detected_and_the_leaking_program_named(run_module, proc, args):
    proc.procs[101]["rss_mb"] = 350.0
    proc.rss_rate[101] = 20.0
    proc.write()
    result, failed = run_module(genesis_memory_info.main, args, check_mode=True)
    assert not failed and result["over_threshold"] is True and result["within_target"] is False
    assert result["total_rss_mb"] == 516.0 and result["percent_of_budget"] == 129.0
    assert result["growing"] is True and result["growth_mb_per_min"] == 1200.0
    assert result["excess_programs"] == ["genesis:genesis"] and result["restart_names"] == ["genesis"]
    assert "516.0 MB, 129.0 % of the 400 MB budget" in result["reasons"][0] and "genesis:genesis" in result["reasons"][0]
    assert "grows by 1200.0 MB per minute" in result["reasons"][1]


def test_excess_spread_over_programs_restarts_the_biggest_until_under_target(run_module, proc, args):
    for pid in (101, 102, 103, 104):
        proc.procs[pid]["rss_mb"] = 95.0
    proc.procs[104]["rss_mb"] = 90.0
    proc.write()
    result, _failed = run_module(genesis_memory_info.main, dict(args, samples=1))
    # 95 + 95 + 95 + 100 (strategies with its worker) = 385 MB: drop the biggest until the rest < 200 MB
    assert result["excess_programs"] == ["genesis:strategies", "genesis:executor"]
    assert result["growth_mb_per_min"] is None and result["growing"] is False


def test_stopped_program_counts_zero_and_is_listed(run_module, proc, args):
    programs = [dict(p) for p in fmp.GENESIS_PROGRAMS]
    programs[1] = fmp.program("executor", 102, state="STOPPED")
    server = genesis_fakes.Supervisord(programs)
    try:
        result, failed = run_module(genesis_memory_info.main, dict(args, supervisor_socket=server.path, samples=1))
    finally:
        server.stop()
    assert not failed and result["programs"]["genesis:executor"]["rss_mb"] == 0 and result["not_running"] == ["genesis:executor"]


def test_budget_option_wins_over_node_yaml(run_module, proc, args):
    result, _failed = run_module(genesis_memory_info.main, dict(args, budget_mb=200, samples=1))
    assert result["budget_mb"] == 200 and result["budget_source"] == "budget_mb" and result["over_threshold"] is False
    assert result["percent_of_budget"] == 89.0 and result["excess_programs"] == ["genesis:genesis", "genesis:strategies"]


def test_idempotent(run_module, proc, args):
    first, _failed = run_module(genesis_memory_info.main, args)
    second, _failed = run_module(genesis_memory_info.main, args)
    first.pop("samples")
    second.pop("samples")
    assert first == second and second["changed"] is False


def test_metrics_unreachable_is_evidence(run_module, proc, args, http):
    http.route("GET", "http://127.0.0.1:8080/metrics", genesis_fakes.refused())
    result, failed = run_module(genesis_memory_info.main, dict(args, samples=1))
    assert not failed and result["metrics"]["genesis_memory_usage_bytes"] is None
    assert result["metrics"]["error"] == "Control API GET http://127.0.0.1:8080/metrics is unreachable: connection refused."


def test_supervisor_unreachable_fails_naming_the_socket(run_module, proc, args, tmp_path):
    missing = str(tmp_path / "gone.sock")
    result, failed = run_module(genesis_memory_info.main, dict(args, supervisor_socket=missing))
    assert failed and result["msg"].startswith("supervisord socket %s is unreachable" % missing)
    assert result["msg"].count(".") >= 1 and "\n" not in result["msg"]


def test_unknown_group_fails(run_module, proc, args):
    result, failed = run_module(genesis_memory_info.main, dict(args, group="trading"))
    assert failed and "no program in group trading" in result["msg"] and "memory_cleanup_group" in result["msg"]


def test_missing_budget_fails_naming_the_variable(run_module, proc, args, home):
    (home / "config" / "node.yaml").write_text("version: 7\n")
    result, failed = run_module(genesis_memory_info.main, args)
    assert failed and "memory_budget_mb" in result["msg"] and "memory_cleanup_budget_mb" in result["msg"]


@pytest.mark.parametrize("extra, option", [
    (dict(budget_mb=-1), "budget_mb"),
    (dict(threshold_percent=0), "threshold_percent"),
    (dict(target_percent=95), "target_percent"),
    (dict(samples=0), "samples"),
    (dict(samples=500), "samples"),
    (dict(interval=0.01), "interval"),
    (dict(max_growth_mb_per_min=-5), "max_growth_mb_per_min"),
    (dict(group=" "), "group"),
    (dict(supervisor_socket=""), "supervisor_socket"),
    (dict(samples="many"), "samples"),
])
def test_bad_input(run_module, proc, args, extra, option):
    result, failed = run_module(genesis_memory_info.main, dict(args, **extra))
    assert failed and option in result["msg"]


# ---------------------------------------------------------------------------- genesis_heap_dump
@pytest.fixture
def heap_api(http, home):
    calls = []

    def dump(request):
        if request.headers.get("X-API-Key") != "k3y-api-secret":
            return (401, {"error": "unauthorized", "message": "A valid X-API-Key header is required."}, {})
        path = home / ".genesis" / "data" / "heapdumps" / ("heap-node1-%d.json" % len(calls))
        top = [{"type": "bytes", "count": 142, "size_bytes": 353135143}, {"type": "dict", "count": 4947, "size_bytes": 2440064},
               {"type": "str", "count": 12590, "size_bytes": 1217373}]
        path.write_text(json.dumps({"rss_bytes": 409677824, "top": top}))
        calls.append(str(path))
        return (200, {"changed": True, "path": str(path), "rss_bytes": 409677824, "top": top}, {})
    http.route("POST", "http://127.0.0.1:8080/admin/heap-dump", dump)
    return calls


@pytest.fixture
def dump_args(home):
    return dict(api_key="k3y-api-secret", db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis", node_name="node1",
                run_id="run-5", scenario="memory_cleanup", genesis_home=str(home), keep_top=2)


def test_heap_dump_writes_file_and_audit(run_module, heap_api, dump_args, pg, home):
    result, failed = run_module(genesis_heap_dump.main, dump_args, diff=True)
    assert not failed and result["changed"] is True and result["exists"] is True and result["path"] == heap_api[0]
    assert result["size_bytes"] > 0 and result["rss_mb"] == 390.7
    assert result["top"] == [{"type": "bytes", "count": 142, "size_bytes": 353135143},
                             {"type": "dict", "count": 4947, "size_bytes": 2440064}]
    events = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(events) == 1 and result["audit_events"][0]["event_id"] == events[0]["event_id"]
    data = events[0]["event_data"]
    assert data["step"] == "heap_dump" and data["after"]["path"] == heap_api[0] and data["after"]["kept"] is True
    assert data["run_id"] == "run-5" and data["scenario"] == "memory_cleanup"
    assert result["diff"]["after"].strip() == heap_api[0]
    audit_log = (home / ".genesis" / "logs" / "audit.log").read_text()
    assert '"step": "heap_dump"' in audit_log


def test_heap_dump_check_mode_calls_nothing(run_module, heap_api, dump_args, pg, http):
    result, failed = run_module(genesis_heap_dump.main, dump_args, check_mode=True)
    assert not failed and result["changed"] is True and result["path"] is None and result["audit_events"] == []
    assert heap_api == [] and pg.events == [] and pg.connections == [] and http.calls == []


def test_heap_dump_each_call_is_a_new_dump(run_module, heap_api, dump_args, pg):
    first, _failed = run_module(genesis_heap_dump.main, dump_args)
    second, _failed = run_module(genesis_heap_dump.main, dump_args)
    assert first["path"] != second["path"] and second["changed"] is True and len(pg.events) == 2


def test_heap_dump_refused_without_audit_trail(run_module, heap_api, dump_args, pg):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_heap_dump.main, dump_args)
    assert failed and result["msg"].startswith("No heap dump was taken because the audit trail cannot be written")
    assert "dbpa55" not in result["msg"] and heap_api == []


def test_heap_dump_api_unreachable_names_the_endpoint(run_module, dump_args, pg, http):
    http.route("POST", "http://127.0.0.1:8080/admin/heap-dump", genesis_fakes.refused())
    result, failed = run_module(genesis_heap_dump.main, dict(dump_args, api_retries=0))
    assert failed and result["msg"] == ("No heap dump was taken: Control API POST http://127.0.0.1:8080/admin/heap-dump "
                                        "is unreachable: connection refused.")
    assert pg.events == [] and "k3y-api-secret" not in result["msg"]


def test_heap_dump_disk_full_is_one_sentence(run_module, dump_args, pg, http):
    http.route("POST", "http://127.0.0.1:8080/admin/heap-dump",
               (503, {"error": "unavailable", "message": "The heap dump could not be written (the disk is full or unwritable)."}, {}))
    result, failed = run_module(genesis_heap_dump.main, dict(dump_args, api_retries=0))
    assert failed and result["msg"].endswith("answered HTTP 503 unavailable: The heap dump could not be written "
                                             "(the disk is full or unwritable).")
    assert pg.events == []


def test_heap_dump_rejected_key(run_module, heap_api, dump_args, pg):
    result, failed = run_module(genesis_heap_dump.main, dict(dump_args, api_key="wrong-key-1234"))
    assert failed and "genesis_api_key" in result["msg"] and "wrong-key-1234" not in result["msg"]


@pytest.mark.parametrize("extra, option", [
    (dict(keep_top=0), "keep_top"),
    (dict(keep_top=101), "keep_top"),
    (dict(api_key=""), "api_key"),
])
def test_heap_dump_bad_input(run_module, heap_api, dump_args, pg, extra, option):
    result, failed = run_module(genesis_heap_dump.main, dict(dump_args, **extra))
    assert failed and option in result["msg"] and heap_api == []


# ---------------------------------------------------------------------------- process_usage helpers
def test_slope_percentile_median():
    assert process_usage.slope_per_minute([(0, 100.0), (1, 101.0), (2, 102.0)]) == 60.0
    assert process_usage.slope_per_minute([(0, 100.0)]) is None
    assert process_usage.slope_per_minute([(1, 100.0), (1, 200.0)]) is None
    assert process_usage.percentile([5, 1, 3, None], 0.5) == 3 and process_usage.percentile([], 0.95) is None
    assert process_usage.percentile(list(range(1, 101)), 0.95) == 95
    assert process_usage.median([3, 1, 2]) == 2 and process_usage.median([1, 2]) == 1.5 and process_usage.median([]) is None


def test_tree_and_budget(tmp_path, proc):
    kids = process_usage.children_map(str(proc.root))
    assert process_usage.tree(104, kids) == [104, 201]
    assert process_usage.tree_rss_bytes(104, kids, str(proc.root)) == 48 * 1048576
    assert process_usage.rss_bytes(999, str(proc.root)) == 0
    assert process_usage.memory_budget_mb(str(tmp_path / "nowhere")) == (None, str(tmp_path / "nowhere" / "config" / "node.yaml"))
