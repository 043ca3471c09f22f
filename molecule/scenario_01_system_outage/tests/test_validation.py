"""Scenario 1 validation on node1: health 200, "System initialized successfully" logged after
this restart, a fresh heartbeat, positions monitored; the evidence the runbook asks for."""
import datetime
import json
import time


def _ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _genesis_log(node):
    with open(str(node.logs_dir / "genesis.log")) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_health_answers_200(node1, api_get):
    response = api_get(node1, "/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "healthy"


def test_every_genesis_program_running_under_supervisor(node1):
    programs = {(p["group"], p["name"]): p for p in node1.supervisor().supervisor.getAllProcessInfo()}
    for name in ("genesis", "executor", "market_data", "strategies"):
        assert programs[("genesis", name)]["statename"] == "RUNNING", name


def test_initialized_logged_after_this_restart(node1, converge_report):
    started = _ts(converge_report["started_at"])
    main = [p for p in node1.supervisor().supervisor.getAllProcessInfo() if p["group"] == p["name"] == "genesis"][0]
    assert main["start"] >= started - 1, "genesis:genesis was not (re)started by the converge run"
    inits = [_ts(line["timestamp"]) for line in _genesis_log(node1) if line["event"] == "System initialized successfully"]
    assert inits and max(inits) >= main["start"] - 1, "no 'System initialized successfully' since the restart"


def test_heartbeat_is_fresh(node1, api_get):
    beat = api_get(node1, "/health").json()["heartbeat"]
    assert beat["age_s"] < 15, beat  # 3 intervals of the lab's 5 s heartbeat
    stored = node1.redis().hget("genesis:heartbeat", "ts")
    assert time.time() - float(stored) < 15


def test_positions_are_monitored(node1, api_get):
    body = api_get(node1, "/positions").json()
    assert time.time() - _ts(body["monitored_at"]) < 10, body["monitored_at"]


def test_evidence_holds_programs_resources_and_last_log_lines(converge_report):
    evidence = converge_report["evidence"]
    assert {p["statename"] for p in evidence["programs"]} == {"STOPPED"}
    assert evidence["api"]["status_code"] != 200
    assert evidence["resources"]["memory"]["total_mb"] > 0 and evidence["resources"]["disk"]["total_mb"] > 0
    assert 0 < len(evidence["logs"]["lines"]) <= 100
    assert evidence["database"]["reachable"] is True
    assert all(port["conflict"] is False for port in evidence["ports"])
    assert [c["step"] for c in converge_report["changes"]] == ["start_genesis_programs"]
