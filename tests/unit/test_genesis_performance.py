# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_performance_info, genesis_caches and genesis_vacuum (runbook scenario 17)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

import psycopg2
import pytest

import fakes_memory_performance as fmp
import genesis_fakes
from ansible_collections.genesis.runbook.plugins.module_utils import db as genesis_db
from ansible_collections.genesis.runbook.plugins.module_utils import process_usage
from ansible_collections.genesis.runbook.plugins.modules import genesis_caches, genesis_performance_info, genesis_vacuum

BASE = "http://127.0.0.1:8080"
DSN = "postgresql://genesis:dbpa55@127.0.0.1:5432/genesis"


@pytest.fixture
def perf_pg(monkeypatch):
    fake = fmp.PerfPg()
    monkeypatch.setattr(genesis_db.psycopg2, "connect", fake.connect)
    return fake


@pytest.fixture
def proc(tmp_path, monkeypatch):
    root = tmp_path / "proc"
    root.mkdir()
    fake = fmp.FakeProc(root)
    for pid in (101, 102, 103, 104, 105, 106):
        fake.add(pid)
    fake.add(207, ppid=106)  # a postgres backend counts for postgresql
    for pid in (101, 102, 103, 104, 106, 207):
        fake.cpu_rate[pid] = 0.01
    monkeypatch.setattr(genesis_performance_info, "PROC_ROOT", str(root))
    monkeypatch.setattr(process_usage, "now", fake.now)
    monkeypatch.setattr(process_usage, "pause", fake.pause)
    return fake


@pytest.fixture
def sv():
    server = genesis_fakes.Supervisord(fmp.GENESIS_PROGRAMS)
    yield server.path
    server.stop()


@pytest.fixture
def api(http, monkeypatch):
    """The control API with a response time per path (ms) set in `latency`."""
    latency = {"/health": 3.0, "/account/status": 4.0, "/positions": 5.0}
    state = dict(latency=latency, down=False)

    def answer(request):
        if state["down"]:
            return genesis_fakes.refused()
        if request.path != "/health" and request.headers.get("X-API-Key") != "k3y-api-secret":
            return (401, {"error": "unauthorized", "message": "A valid X-API-Key header is required."}, {})
        return (200, {"status": "healthy"} if request.path == "/health" else {"ok": True}, {})
    for path in latency:
        http.route("GET", BASE + path, answer)
    from ansible_collections.genesis.runbook.plugins.module_utils import _http
    real = _http.http_call

    def timed(url, **kwargs):
        result = real(url, **kwargs)
        result.elapsed_ms = latency.get(url[len(BASE):].split("?")[0], 1.0)
        return result
    from ansible_collections.genesis.runbook.plugins.module_utils import api as api_module
    monkeypatch.setattr(api_module, "http_call", timed)
    return state


@pytest.fixture
def args(sv, perf_pg):
    for index in range(10):
        perf_pg.add_filled("o%d" % index, age_s=10 + index, latency_ms=470 + index)
    perf_pg.add_order("p1", status="PENDING", age_s=1)
    return dict(supervisor_socket=sv, api_key="k3y-api-secret", db_dsn=DSN, cpu_window=2.0, samples=3)


def test_healthy_node(run_module, proc, api, args):
    result, failed = run_module(genesis_performance_info.main, args)
    assert not failed and result["changed"] is False and result["degraded"] is False and result["reasons"] == []
    assert result["cpu_window_s"] == 2.0 and proc.pauses == [2.0]
    assert result["programs"]["genesis:strategies"]["cpu_percent"] == 1.0
    assert result["programs"]["postgresql"]["cpu_percent"] == 2.0  # the postgres tree: server and one backend
    assert result["programs"]["backup"]["cpu_percent"] is None and result["programs"]["backup"]["hot"] is False
    assert result["hot_programs"] == [] and result["slow_endpoints"] == []
    # the median of 3 is decided after 2 fast samples
    assert result["responses"]["/positions"] == {"samples_ms": [5.0, 5.0], "median_ms": 5.0, "max_ms": 5.0, "status": 200,
                                                 "errors": [], "timeouts": 0, "slow": False}
    assert result["max_median_ms"] == 5.0
    orders = result["orders"]
    assert orders["count"] == 11 and orders["filled"] == 10 and orders["p50_ms"] == 474.0 and orders["p95_ms"] == 479.0
    assert orders["stuck_pending"] == 0 and orders["latency_ok"] is True and orders["error"] is None
    assert result["profile"]["reason"] == "no program is hot"


def test_cpu_burner_and_slow_cache_are_detected(run_module, proc, api, args, http):
    proc.cpu_rate[104] = 0.86
    proc.wait_rate[104] = 0.14
    api["latency"].update({"/account/status": 2010.3, "/positions": 1761.9})
    result, failed = run_module(genesis_performance_info.main, args, check_mode=True)
    assert not failed and result["degraded"] is True
    strategies = result["programs"]["genesis:strategies"]
    assert strategies["cpu_percent"] == 86.0 and strategies["cpu_demand_percent"] == 100.0 and strategies["hot"] is True
    assert result["hot_programs"] == ["genesis:strategies"] and result["hot_restart_names"] == ["genesis:strategies"]
    assert result["slow_endpoints"] == ["/account/status", "/positions"] and result["max_median_ms"] == 2010.3
    assert result["reasons"] == ["genesis:strategies uses 100.0 % of a core (threshold 80 %).",
                                 "GET /account/status answers in 2010.3 ms (median of 2; threshold 1000 ms).",
                                 "GET /positions answers in 1761.9 ms (median of 2; threshold 1000 ms)."]
    assert [c.path for c in http.calls].count("/account/status") == 2
    assert all(c.headers.get("X-API-Key") for c in http.calls if c.path != "/health")
    assert not any(c.headers.get("X-API-Key") for c in http.calls if c.path == "/health")


def test_median_needs_a_majority(run_module, proc, api, args, monkeypatch):
    timings = [1500.0, 20.0, 30.0]
    from ansible_collections.genesis.runbook.plugins.module_utils import api as api_module
    timed = api_module.http_call

    def varying(url, **kwargs):
        result = timed(url, **kwargs)
        if url.endswith("/account/status"):
            result.elapsed_ms = timings.pop(0)
        return result
    monkeypatch.setattr(api_module, "http_call", varying)
    result, _failed = run_module(genesis_performance_info.main, dict(args, endpoints=["/account/status"]))
    entry = result["responses"]["/account/status"]
    assert entry["samples_ms"] == [1500.0, 20.0, 30.0] and entry["median_ms"] == 30.0 and entry["slow"] is False


def test_timed_out_request_counts_as_the_timeout(run_module, proc, api, args, http):
    http.route("GET", BASE + "/positions", genesis_fakes.timed_out())
    result, failed = run_module(genesis_performance_info.main, dict(args, response_timeout=4))
    assert not failed and result["degraded"] is True and result["slow_endpoints"] == ["/positions"]
    entry = result["responses"]["/positions"]
    assert entry["samples_ms"] == [4000.0, 4000.0] and entry["timeouts"] == 2 and entry["median_ms"] == 4000.0
    assert result["reasons"] == ["GET /positions answers in 4000.0 ms (median of 2, 2 timed out after 4 s; threshold 1000 ms)."]
    assert len([c for c in http.calls if c.path == "/positions"]) == 2  # never retried
    assert all(c.kwargs.get("timeout") == 4 for c in http.calls)


def test_busy_host_does_not_hide_a_runaway_program(run_module, proc, api, args):
    proc.cpu_rate[104] = 0.5  # gets half a core on a busy host
    proc.wait_rate[104] = 0.5  # and waits for the other half
    result, _failed = run_module(genesis_performance_info.main, args)
    assert result["programs"]["genesis:strategies"]["cpu_percent"] == 50.0
    assert result["hot_programs"] == ["genesis:strategies"]


def test_without_schedstat_cpu_time_is_used(run_module, proc, api, args):
    proc.schedstat = False
    proc.cpu_rate[104] = 0.5
    proc.wait_rate[104] = 0.5
    proc.write()
    result, _failed = run_module(genesis_performance_info.main, args)
    assert result["programs"]["genesis:strategies"]["cpu_demand_percent"] == 50.0 and result["hot_programs"] == []


def test_only_the_group_can_be_hot(run_module, proc, api, args):
    proc.cpu_rate[106] = 0.95
    result, _failed = run_module(genesis_performance_info.main, args)
    assert result["programs"]["postgresql"]["cpu_percent"] == 96.0 and result["hot_programs"] == []


def test_main_program_is_named_as_supervisorctl_takes_it(run_module, proc, api, args):
    proc.cpu_rate[101] = 0.9
    result, _failed = run_module(genesis_performance_info.main, args)
    assert result["hot_programs"] == ["genesis:genesis"] and result["hot_restart_names"] == ["genesis"]


def test_stuck_and_slow_orders_are_not_normal(run_module, proc, api, args, perf_pg):
    perf_pg.add_order("stuck", status="PENDING", age_s=45)
    perf_pg.add_filled("slow", age_s=5, latency_ms=9000)
    result, _failed = run_module(genesis_performance_info.main, dict(args, order_latency_threshold_ms=1000))
    assert result["orders"]["stuck_pending"] == 1 and result["orders"]["max_ms"] == 9000.0
    assert result["orders"]["latency_ok"] is False
    assert result["degraded"] is False  # order latency is evidence; the runbook's detection is CPU and responses


def test_profile_with_py_spy_when_installed(run_module, proc, api, args, tmp_path, monkeypatch):
    tool = tmp_path / "bin" / "py-spy"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho \"Thread 0x1 (active): MainThread\"\necho \"    spin (strategies.py:72)\"\necho \"args: $*\"\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tool.parent) + os.pathsep + os.environ["PATH"])
    proc.cpu_rate[104] = 1.0
    result, failed = run_module(genesis_performance_info.main, dict(args, profile_lines=2))
    assert not failed and result["profile"]["tool"] == str(tool)
    dump = result["profile"]["programs"]["genesis:strategies"]
    assert dump["pid"] == 104 and dump["rc"] == 0
    assert dump["lines"] == ["Thread 0x1 (active): MainThread", "    spin (strategies.py:72)"]


def test_no_profiler_says_why(run_module, proc, api, args, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    proc.cpu_rate[104] = 1.0
    result, _failed = run_module(genesis_performance_info.main, args)
    assert result["profile"] == {"tool": None, "reason": "py-spy is not installed on the node", "programs": {}}
    never, _failed = run_module(genesis_performance_info.main, dict(args, profile="never"))
    assert never["profile"]["reason"] == "profile=never"


def test_idempotent(run_module, proc, api, args):
    first, _failed = run_module(genesis_performance_info.main, args)
    second, _failed = run_module(genesis_performance_info.main, args)
    assert first == second and second["changed"] is False


def test_api_down_is_evidence(run_module, proc, api, args):
    api["down"] = True
    result, failed = run_module(genesis_performance_info.main, dict(args, api_retries=0))
    assert not failed and result["degraded"] is True and result["slow_endpoints"] == ["/health", "/account/status", "/positions"]
    assert result["responses"]["/health"]["errors"][0] == \
        "Control API GET http://127.0.0.1:8080/health is unreachable: connection refused."
    assert result["reasons"][0] == "GET /health did not answer: Control API GET http://127.0.0.1:8080/health is unreachable: connection refused."


def test_database_down_is_evidence_without_secrets(run_module, proc, api, args, perf_pg):
    perf_pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_performance_info.main, args)
    assert not failed and result["orders"]["latency_ok"] is None
    assert "is unreachable" in result["orders"]["error"] and "dbpa55" not in result["orders"]["error"]


def test_rejected_key_fails(run_module, proc, api, args):
    result, failed = run_module(genesis_performance_info.main, dict(args, api_key="wrong-key-1234"))
    assert failed and "genesis_api_key" in result["msg"] and "wrong-key-1234" not in result["msg"]


def test_supervisor_unreachable_fails_naming_the_socket(run_module, proc, api, args, tmp_path):
    missing = str(tmp_path / "gone.sock")
    result, failed = run_module(genesis_performance_info.main, dict(args, supervisor_socket=missing))
    assert failed and result["msg"].startswith("supervisord socket %s is unreachable" % missing)


@pytest.mark.parametrize("extra, option", [
    (dict(cpu_window=0.1), "cpu_window"),
    (dict(cpu_threshold_percent=0), "cpu_threshold_percent"),
    (dict(endpoints=[]), "endpoints"),
    (dict(endpoints=["health"]), "endpoints"),
    (dict(samples=0), "samples"),
    (dict(response_threshold_ms=0), "response_threshold_ms"),
    (dict(response_timeout=0.5), "response_timeout"),
    (dict(response_timeout=301), "response_timeout"),
    (dict(order_latency_threshold_ms=-1), "order_latency_threshold_ms"),
    (dict(orders_window=5), "orders_window"),
    (dict(pending_older_than=-1), "pending_older_than"),
    (dict(profile="always"), "profile"),
    (dict(profile_lines=0), "profile_lines"),
    (dict(group=""), "group"),
    (dict(api_key=""), "api_key"),
    (dict(supervisor_socket=""), "supervisor_socket"),
    (dict(cpu_window="fast"), "cpu_window"),
])
def test_bad_input(run_module, proc, api, args, extra, option):
    result, failed = run_module(genesis_performance_info.main, dict(args, **extra))
    assert failed and option in result["msg"]


# ---------------------------------------------------------------------------- genesis_caches
@pytest.fixture
def caches_api(http):
    state = dict(entries=400003, calls=0)

    def clear(request):
        if request.headers.get("X-API-Key") != "k3y-api-secret":
            return (401, {"error": "unauthorized", "message": "A valid X-API-Key header is required."}, {})
        state["calls"] += 1
        cleared, state["entries"] = state["entries"], 0
        return (200, {"changed": cleared > 0, "cleared_entries": cleared}, {})
    http.route("POST", BASE + "/admin/caches/clear", clear)
    return state


CACHE_ARGS = dict(api_key="k3y-api-secret", db_dsn=DSN, node_name="node1", run_id="run-17", scenario="performance_tune")


def test_caches_cleared_and_audited(run_module, caches_api, pg):
    result, failed = run_module(genesis_caches.main, CACHE_ARGS, diff=True)
    assert not failed and result["changed"] is True and result["cleared_entries"] == 400003
    events = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(events) == 1 and events[0]["event_data"]["step"] == "clear_caches"
    assert events[0]["event_data"]["before"] == {"cache_entries": 400003}
    assert result["diff"] == {"before": "cache entries: 400003\n", "after": "cache entries: 0\n"}


def test_caches_clear_waits_for_a_slow_node(run_module, caches_api, pg, http):
    result, failed = run_module(genesis_caches.main, dict(CACHE_ARGS, clear_timeout=90))
    assert not failed and http.calls_to("/admin/caches/clear")[0].kwargs["timeout"] == 90


def test_caches_idempotent(run_module, caches_api, pg):
    run_module(genesis_caches.main, CACHE_ARGS)
    second, failed = run_module(genesis_caches.main, CACHE_ARGS)
    assert not failed and second["changed"] is False and second["cleared_entries"] == 0 and second["audit_events"] == []
    assert len(pg.events) == 1


def test_caches_check_mode_calls_nothing(run_module, caches_api, pg, http):
    result, failed = run_module(genesis_caches.main, CACHE_ARGS, check_mode=True)
    assert not failed and result["changed"] is True and result["cleared_entries"] is None
    assert caches_api["calls"] == 0 and pg.connections == [] and http.calls == []


def test_caches_refused_without_audit_trail(run_module, caches_api, pg):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_caches.main, CACHE_ARGS)
    assert failed and result["msg"].startswith("The caches were not cleared because the audit trail cannot be written")
    assert caches_api["calls"] == 0 and "dbpa55" not in result["msg"]


def test_caches_api_unreachable(run_module, pg, http):
    http.route("POST", BASE + "/admin/caches/clear", genesis_fakes.refused())
    result, failed = run_module(genesis_caches.main, dict(CACHE_ARGS, api_retries=0))
    assert failed and result["msg"] == ("The caches were not cleared: Control API POST http://127.0.0.1:8080/admin/caches/clear "
                                        "is unreachable: connection refused.")


@pytest.mark.parametrize("extra, option", [
    (dict(api_key=""), "api_key"),
    (dict(state="flushed"), "state"),
    (dict(api_url="ftp://node"), "api_url"),
    (dict(clear_timeout=0), "clear_timeout"),
])
def test_caches_bad_input(run_module, caches_api, pg, extra, option):
    result, failed = run_module(genesis_caches.main, dict(CACHE_ARGS, **extra))
    assert failed and option in result["msg"] and caches_api["calls"] == 0


# ---------------------------------------------------------------------------- genesis_vacuum
VACUUM_ARGS = dict(db_dsn=DSN, node_name="node1", run_id="run-17", scenario="performance_tune")


def test_vacuum_analyze_each_table_and_audit(run_module, perf_pg):
    result, failed = run_module(genesis_vacuum.main, VACUUM_ARGS, diff=True)
    assert not failed and result["changed"] is True and result["vacuumed"] == ["orders", "positions", "events"]
    assert perf_pg.vacuumed == ["orders", "positions", "events"]
    vacuums = [s for s, _p in perf_pg.statements if s.startswith("VACUUM")]
    assert vacuums == ['VACUUM (ANALYZE) public."orders"', 'VACUUM (ANALYZE) public."positions"', 'VACUUM (ANALYZE) public."events"']
    assert 120000 in perf_pg.timeouts and 10000 in perf_pg.timeouts  # VACUUM's own timeout, then back to api_timeout
    positions = result["tables"]["positions"]
    assert positions["before"]["n_dead_tup"] == 43 and positions["after"]["n_dead_tup"] == 0
    assert positions["before"]["last_analyze"] is None and positions["after"]["last_analyze"]
    assert positions["notices"] == ["NOTICE:  vacuumed positions"] and positions["duration_ms"] is not None
    events = perf_pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(events) == 1 and events[0]["event_data"]["step"] == "vacuum_analyze"
    assert events[0]["event_data"]["details"]["tables"] == ["orders", "positions", "events"]
    assert result["diff"]["before"]["positions"]["n_dead_tup"] == 43
    assert not any(s.upper().startswith(("DELETE", "TRUNCATE", "VACUUM FULL")) for s, _p in perf_pg.statements)


def test_vacuum_idempotent(run_module, perf_pg):
    first, _failed = run_module(genesis_vacuum.main, VACUUM_ARGS)
    second, failed = run_module(genesis_vacuum.main, VACUUM_ARGS)
    assert first["changed"] is True and not failed and second["changed"] is False
    assert second["vacuumed"] == [] and second["skipped"] == ["orders", "positions", "events"]
    assert perf_pg.vacuumed == ["orders", "positions", "events"] and len(perf_pg.events) == 1
    third, _failed = run_module(genesis_vacuum.main, dict(VACUUM_ARGS, skip_vacuumed_within=0))
    assert third["changed"] is True and len(perf_pg.vacuumed) == 6


def test_vacuum_only_tables_not_recently_maintained(run_module, perf_pg):
    import datetime
    old = perf_pg.now - datetime.timedelta(hours=1)
    perf_pg.table_stats["events"].update(last_vacuum=perf_pg.now, last_analyze=perf_pg.now)
    perf_pg.table_stats["orders"].update(last_vacuum=old, last_analyze=perf_pg.now)
    result, failed = run_module(genesis_vacuum.main, VACUUM_ARGS)
    assert not failed and result["vacuumed"] == ["orders", "positions"] and result["skipped"] == ["events"]
    assert perf_pg.vacuumed == ["orders", "positions"]
    assert perf_pg.events[0]["event_data"]["details"]["tables"] == ["orders", "positions"]


def test_vacuum_check_mode_reads_only(run_module, perf_pg):
    result, failed = run_module(genesis_vacuum.main, dict(VACUUM_ARGS, tables=["orders"]), check_mode=True)
    assert not failed and result["changed"] is True and result["vacuumed"] == ["orders"]
    assert perf_pg.vacuumed == [] and perf_pg.events == [] and result["audit_events"] == []
    assert result["tables"]["orders"]["before"]["n_dead_tup"] == 9


def test_vacuum_unknown_table_changes_nothing(run_module, perf_pg):
    result, failed = run_module(genesis_vacuum.main, dict(VACUUM_ARGS, tables=["orders", "trades"]))
    assert failed and result["msg"].startswith("trades is not a table of the public schema of PostgreSQL postgresql://genesis:********@127.0.0.1")
    assert "performance_tune_vacuum_tables" in result["msg"] and "dbpa55" not in result["msg"]
    assert perf_pg.vacuumed == [] and perf_pg.events == []


def test_vacuum_failure_is_one_sentence(run_module, perf_pg):
    perf_pg.errors['"positions"'] = psycopg2.errors.QueryCanceled("canceling statement due to statement timeout\n")
    result, failed = run_module(genesis_vacuum.main, VACUUM_ARGS)
    assert failed and "VACUUM (ANALYZE) of positions failed: canceling statement due to statement timeout" in result["msg"]
    assert result["msg"].endswith("(1 table(s) vacuumed before it).") and result["vacuumed"] == ["orders"]
    assert perf_pg.events == []


def test_vacuum_refused_without_database(run_module, perf_pg):
    perf_pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_vacuum.main, VACUUM_ARGS)
    assert failed and result["msg"].startswith("No table was vacuumed because the audit trail cannot be written")
    assert "dbpa55" not in result["msg"]


@pytest.mark.parametrize("extra, option", [
    (dict(tables=[]), "tables"),
    (dict(tables=["orders; DROP TABLE orders"]), "tables"),
    (dict(tables=["Orders"]), "tables"),
    (dict(vacuum_timeout=0), "vacuum_timeout"),
    (dict(skip_vacuumed_within=-1), "skip_vacuumed_within"),
    (dict(db_dsn=""), "db_dsn"),
])
def test_vacuum_bad_input(run_module, perf_pg, extra, option):
    result, failed = run_module(genesis_vacuum.main, dict(VACUUM_ARGS, **extra))
    assert failed and option in result["msg"] and perf_pg.vacuumed == []
