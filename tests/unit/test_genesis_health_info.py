# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import genesis_health_info


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A genesis_home with logs and a fake /proc where pid 4242 (genesis:genesis) listens on 8080."""
    home = tmp_path / "app"
    logs = home / ".genesis" / "logs"
    logs.mkdir(parents=True)
    lines = [{"timestamp": "2026-11-27T18:00:00.000Z", "level": "info", "event": "System initialized successfully", "logger": "main"},
             {"timestamp": "2026-11-27T18:00:05.000Z", "level": "info", "event": "Heartbeat sent", "logger": "main"},
             {"timestamp": "2026-11-27T18:00:06.000Z", "level": "error", "event": "Order rejected", "logger": "executor"}]
    (logs / "genesis.log").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    proc = tmp_path / "proc"
    genesis_fakes.make_proc(proc, [(8080, "111", False), (9000, "333", True)],
                            {4242: ("python3", 1, ["111"]), 5000: ("nginx", 1, ["333"])})
    monkeypatch.setattr(genesis_health_info, "PROC_ROOT", str(proc))
    return dict(genesis_home=str(home), api_key="k3y-api-secret", node_name="node1")


def test_healthy_node(run_module, api_fake, node, supervisord):
    result, failed = run_module(genesis_health_info.main, dict(node, supervisor_socket=supervisord, ports=[8080, 9000, 8443]))
    assert not failed and result["changed"] is False
    api = result["api"]
    assert api["reachable"] and api["status_code"] == 200 and api["status"] == "healthy" and api["ready"] is True
    assert result["heartbeat"]["age_s"] == 1.2 and result["heartbeat"]["source"] == "api"
    assert result["heartbeat"]["log_age_s"] > 0
    sup = result["supervisor"]
    assert sup["reachable"] and [p["fullname"] for p in sup["programs"]] == ["genesis:genesis", "genesis:executor", "backup"]
    ports = dict((p["port"], p) for p in result["ports"])
    assert ports[8080]["listening"] and ports[8080]["genesis_child"] is True and ports[8080]["conflict"] is False
    assert ports[8080]["processes"] == [{"pid": 4242, "name": "python3", "genesis_program": "genesis:genesis"}]
    assert ports[9000]["conflict"] is True and ports[9000]["processes"][0]["name"] == "nginx"
    assert ports[8443] == {"port": 8443, "listening": False, "owner_visible": True, "processes": [], "genesis_child": False,
                           "conflict": False}
    logs = result["logs"]
    assert logs["last_initialized_at"] == "2026-11-27T18:00:00.000Z" and logs["last_heartbeat_at"] == "2026-11-27T18:00:05.000Z"
    assert len(logs["lines"]) == 3 and logs["error"] is None
    assert result["resources"]["memory"]["used_percent"] == 75.0 and result["resources"]["disk"]["total_mb"] > 0
    assert result["node"] == "node1"


def test_check_mode_is_the_same_read(run_module, api_fake, node):
    result, failed = run_module(genesis_health_info.main, node, check_mode=True)
    assert not failed and result["changed"] is False and result["api"]["reachable"]
    assert "supervisor" not in result
    # without supervisor data nobody can tell whether the listener belongs to genesis
    assert result["ports"][0]["listening"] and result["ports"][0]["conflict"] is None


def test_idempotent(run_module, api_fake, node):
    first, _failed = run_module(genesis_health_info.main, node)
    second, _failed = run_module(genesis_health_info.main, node)
    assert first["changed"] is False and second["changed"] is False


def test_unreachable_api_is_evidence_not_failure(run_module, api_fake, node, tmp_path):
    api_fake.down = True
    result, failed = run_module(genesis_health_info.main, dict(node, api_retries=0, supervisor_socket=str(tmp_path / "no.sock")))
    assert not failed
    assert result["api"]["reachable"] is False
    assert result["api"]["error"] == "Control API GET http://127.0.0.1:8080/health is unreachable: connection refused."
    assert result["heartbeat"]["source"] == "log"
    assert result["supervisor"]["reachable"] is False and "is unreachable" in result["supervisor"]["error"]


def test_unhealthy_503_is_reported(run_module, api_fake, node):
    api_fake.health_status = 503
    api_fake.health = {"status": "unhealthy", "components": {"database": "down"}}
    api_fake.ready = {"ready": False, "reasons": ["database down"]}
    result, failed = run_module(genesis_health_info.main, node)
    assert not failed
    assert result["api"]["status_code"] == 503 and result["api"]["status"] == "unhealthy"
    assert result["api"]["ready"] is False and result["api"]["ready_reasons"] == ["database down"]
    assert result["heartbeat"]["api_age_s"] is None and result["heartbeat"]["source"] == "log"


def test_redis_heartbeat_and_redis_down(run_module, api_fake, node, rds):
    rds.data["genesis:heartbeat"] = {"ts": str(time.time() - 4), "pid": "4242"}
    api_fake.health = {"status": "healthy"}
    result, failed = run_module(genesis_health_info.main, dict(node, redis_url="redis://:r3dis@127.0.0.1:6379/0"))
    assert not failed and result["heartbeat"]["source"] == "redis" and 3.5 < result["heartbeat"]["age_s"] < 10
    rds.fail = genesis_fakes.redis_down()
    result, failed = run_module(genesis_health_info.main, dict(node, redis_url="redis://:r3dis@127.0.0.1:6379/0"))
    assert not failed and "r3dis" not in result["heartbeat"]["errors"]["redis"]
    assert result["heartbeat"]["source"] == "log"


def test_missing_log_is_reported(run_module, api_fake, node, tmp_path):
    result, failed = run_module(genesis_health_info.main, dict(node, genesis_home=str(tmp_path / "nowhere")))
    assert not failed and result["logs"]["exists"] is False and "does not exist" in result["logs"]["error"]
    assert result["resources"]["error"].startswith("disk usage of")


@pytest.mark.parametrize("args, option", [
    (dict(ports=[70000]), "ports"),
    (dict(log_lines=-1), "log_lines"),
    (dict(api_timeout=0), "api_timeout"),
])
def test_bad_input_names_the_option(run_module, node, args, option):
    result, failed = run_module(genesis_health_info.main, dict(node, **args))
    assert failed and result["msg"].startswith(option) and result["msg"].endswith(".")


def _programs(statename="RUNNING", uptime=30):
    return {"programs": [{"fullname": "genesis:genesis", "statename": statename, "pid": 4242, "uptime": uptime}]}


def test_main_program_logged_its_start_since_it_started():
    now = genesis_health_info.parse_iso("2026-11-27T18:01:00.000Z")
    logs = {"last_initialized_at": "2026-11-27T18:00:31.000Z", "last_heartbeat_at": "2026-11-27T18:00:59.000Z"}
    state = genesis_health_info.main_program_state("genesis:genesis", _programs(uptime=30), logs, now=now)
    assert state["started_at"] == "2026-11-27T18:00:30Z" and state["pid"] == 4242
    assert state["initialized_since_start"] is True and state["heartbeat_since_start"] is True


def test_main_program_start_line_from_an_earlier_run_does_not_count():
    now = genesis_health_info.parse_iso("2026-11-27T18:01:00.000Z")
    logs = {"last_initialized_at": "2026-11-27T17:00:00.000Z", "last_heartbeat_at": None}
    state = genesis_health_info.main_program_state("genesis:genesis", _programs(uptime=30), logs, now=now)
    assert state["initialized_since_start"] is False and state["heartbeat_since_start"] is False


@pytest.mark.parametrize("info", [None, {"programs": []}, _programs(statename="STOPPED", uptime=0)])
def test_main_program_unknown_or_stopped_gives_no_verdict(info):
    state = genesis_health_info.main_program_state("genesis:genesis", info, {"last_initialized_at": None})
    assert state["initialized_since_start"] is None and state["started_at"] is None


def test_main_is_returned_with_supervisor(run_module, api_fake, node, supervisord):
    result, failed = run_module(genesis_health_info.main, dict(node, supervisor_socket=supervisord))
    assert not failed and result["main"]["program"] == "genesis:genesis" and result["main"]["statename"] == "RUNNING"
    # the fake log's start-up line is from long before the fake program's start
    assert result["main"]["initialized_since_start"] is False
