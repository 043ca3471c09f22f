# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook's quick commands as playbooks, on a 2-node lab `qk` (genesis-lab, root only).

The lab is brought up once for the module and always brought down. The tests run in file order and build on each
other, like an operator would: connectivity on the healthy fleet, then the kill switch on node1 (refused without the
phrase, a dry run, the real run, a rerun), emergency mode and the emergency close on node2, and last the
connectivity test of node2 with its database stopped.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys
import time

import labcli  # tests/integration/labcli.py
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
GENESIS_LAB = os.path.join(BIN, "genesis-lab")
LAB = "qk"
HALT = "HALT TRADING NOW"
CLOSE = "CLOSE ALL POSITIONS"
GENESIS_PROGRAMS = ("genesis:genesis", "genesis:executor", "genesis:market_data", "genesis:strategies")


def missing_prerequisite():
    return labcli.missing_prerequisite(tools=(), programs=())


def lab_cli(*args, **kwargs):
    return labcli.run(LAB, *args, **kwargs)


def api_get(node, path):
    import requests
    return requests.get(node.api_url + path, headers={"X-API-Key": node.api_key}, timeout=5)


def wait_healthy(lab, timeout=40.0):
    """Both nodes answer /health 200 and exactly one is the unfenced primary."""
    import requests
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            primaries = 0
            for node in lab.nodes:
                if requests.get(node.api_url + "/health", timeout=2).status_code != 200:
                    raise RuntimeError("%s is not healthy" % node.name)
                doc = api_get(node, "/admin/cluster").json()
                primaries += int(doc["role"] == "primary" and not doc["fenced"])
            if primaries == 1:
                return
            last = "%d primaries" % primaries
        except Exception as exc:  # pylint: disable=broad-except
            last = str(exc)
        time.sleep(0.5)
    raise AssertionError("lab %s did not settle within %d s (%s)" % (LAB, timeout, last))


@pytest.fixture(scope="module")
def lab():
    why = missing_prerequisite()
    if why:
        pytest.fail(why + " (make setup installs it)")
    try:
        lab_cli("up", "--nodes", "2", timeout=300)
        from genesis_lab.labspec import Lab
        loaded = Lab.load(LAB)
        wait_healthy(loaded)
        yield loaded
    finally:
        lab_cli("down", check=False)


@pytest.fixture(scope="module")
def wedge_node1(lab):
    """Scenario 2's fault on node1 (a wedged executor: PENDING orders that stay pending), injected in the background
    while the first kill switch runs look at the node; the real kill switch waits for it."""
    proc = subprocess.Popen([GENESIS_LAB, "--lab", LAB, "inject", "2", "--node", "node1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    return str(tmp_path_factory.mktemp("reports"))


class Run(object):
    """One ansible-playbook run with the json callback: rc, stats per host, failure messages, debug messages."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        try:
            self.doc = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("ansible-playbook did not answer JSON (rc %d):\n%s\n%s" % (
                proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))

    def stats(self, host):
        return self.doc["stats"][host]

    def results(self, host):
        for play in self.doc["plays"]:
            for task in play["tasks"]:
                result = task["hosts"].get(host)
                if result is not None:
                    yield task["task"]["name"], result

    def failures(self, host):
        return [r.get("msg") for name, r in self.results(host) if r.get("failed") and not r.get("ignore_errors")
                and not name.endswith("Wait until no order is pending")]

    def shown(self, host, task):
        return [r.get("msg") for name, r in self.results(host) if name == task or name.endswith(" : " + task)]

    def __repr__(self):
        return "rc=%d stats=%s stderr=%s" % (self.rc, self.doc.get("stats"), self.stderr[-1500:])


def playbook(lab, reports, name, limit=None, extra=None, check=False, run_id=None):
    cmd = [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", name + ".yml"),
           "-i", str(lab.inventory_path)]
    if limit:
        cmd += ["--limit", limit]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_FORCE_COLOR="0", GENESIS_REPORT_DIR=reports, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    if run_id:
        env["GENESIS_RUN_ID"] = run_id
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    return Run(proc)


def one_sentence(text):
    return bool(text) and text.endswith(".") and ". " not in text.rstrip(".")


def sql(node, query, params=None):
    conn = node.db()
    try:
        with conn.cursor() as cur:
            cur.execute(query, params or ())
            return cur.fetchall()
    finally:
        conn.close()


def pending(node):
    return sql(node, "SELECT count(*) FROM orders WHERE status IN ('PENDING', 'PARTIAL')")[0][0]


def runbook_steps(node, after_event_id=0, run_id=None):
    rows = sql(node, "SELECT event_data->>'step', event_data->>'run_id' FROM events WHERE event_type = 'RUNBOOK_ACTION' "
                     "AND aggregate_id = %s AND event_id > %s ORDER BY event_id", ("runbook:" + node.name, after_event_id))
    return [step for step, run in rows if run_id is None or run == run_id]


def last_event_id(node):
    return sql(node, "SELECT coalesce(max(event_id), 0) FROM events")[0][0]


def programs(node):
    infos = node.supervisor().supervisor.getAllProcessInfo()
    return dict(("%s:%s" % (i["group"], i["name"]) if i["group"] != i["name"] or i["group"] == "genesis" else i["name"],
                 i["statename"]) for i in infos)


def halted(node):
    flag = node.redis().hgetall("genesis:halt")
    return str(flag.get("enabled", "0")).lower() in ("1", "true", "yes", "on")


def trading(node):
    """The node trades: health 200, not halted, every genesis program RUNNING."""
    states = programs(node)
    health = api_get(node, "/health")
    return health.status_code == 200 and not health.json()["halted"] and all(
        states.get(p) == "RUNNING" for p in GENESIS_PROGRAMS)


# ---------------------------------------------------------------------------- connectivity (healthy)
def test_connectivity_passes_on_the_healthy_fleet(lab, reports):
    run = playbook(lab, reports, "connectivity_test")
    assert run.rc == 0, run
    for host in ("node1", "node2"):
        assert run.stats(host)["changed"] == 0 and run.stats(host)["failures"] == 0, run
        [table] = run.shown(host, "Show the connectivity table")
        text = "\n".join(table)
        for check in ("control API", "database", "redis", "exchange", "exchange signed", "cluster peer"):
            assert "OK    %-15s" % check in text, text
        node = lab.node(host)
        assert node.db_password not in text and node.redis_password not in text and node.api_key not in text


def health_report(reports, run_id):
    with open(os.path.join(reports, "health-%s.json" % run_id)) as handle:
        document = json.load(handle)
    with open(os.path.join(reports, "health-%s.md" % run_id)) as handle:
        return document, handle.read()


def test_system_diagnostics_reports_the_healthy_fleet(lab, reports):
    run = playbook(lab, reports, "system_diagnostics", run_id="qk-diag")
    assert run.rc == 0, run
    document, markdown = health_report(reports, "qk-diag")
    for host in ("node1", "node2"):
        assert run.stats(host)["changed"] == 0, run
        node = document["nodes"][host]
        assert node["status"] == "healthy" and node["detected"] == [], node["detected"]
        assert [c["scenario"] for c in node["checks"]] == list(range(1, 21))
        assert node["diagnostics"]["log_tail"] and node["diagnostics"]["ports"][0]["port"] == 8080
        assert "## %s (%s): healthy" % (host, host) in markdown
        assert lab.node(host).api_key not in markdown and lab.node(host).db_password not in json.dumps(document)


# ---------------------------------------------------------------------------- kill switch
def test_kill_switch_without_the_phrase_changes_nothing(lab, reports, wedge_node1):
    node1 = lab.node("node1")
    before = last_event_id(node1)
    run = playbook(lab, reports, "kill_switch", limit="node1")
    assert run.rc != 0 and run.stats("node1")["changed"] == 0, run
    [message] = run.failures("node1")
    assert message.startswith("kill_switch_confirm must be exactly 'HALT TRADING NOW' to shut node1 down"), message
    assert one_sentence(message), message
    [plan] = run.shown("node1", "Show the kill switch plan")
    assert any(line.startswith("stop programs (in this order): genesis:strategies") for line in plan), plan
    assert trading(node1) and runbook_steps(node1, before) == []


def test_kill_switch_check_mode_changes_nothing(lab, reports):
    node1 = lab.node("node1")
    before = last_event_id(node1)
    run = playbook(lab, reports, "kill_switch", limit="node1", extra={"kill_switch_confirm": HALT}, check=True)
    assert run.rc == 0 and run.stats("node1")["failures"] == 0, run
    assert trading(node1) and not halted(node1) and runbook_steps(node1, before) == []
    with open(os.path.join(reports, "node1", "kill_switch.json")) as handle:
        report = json.load(handle)
    assert report["role"] == "kill_switch" and report["check_mode"] is True and report["changes"] == []
    assert {"halt_trading", "stop_programs"} <= set(c["step"] for c in report["planned_changes"])


def test_kill_switch_shuts_node1_down_and_leaves_node2_alone(lab, reports, wedge_node1):
    node1, node2 = lab.node("node1"), lab.node("node2")
    out, err = wedge_node1.communicate(timeout=120)
    assert wedge_node1.returncode == 0, out + err
    assert pending(node1) > 0
    orders_before = sql(node1, "SELECT count(*) FROM orders")[0][0]
    node1_events, node2_events = last_event_id(node1), last_event_id(node2)
    requests_file = os.path.join(str(node1.state_path), "emergency_close_requests.jsonl")
    listener_before = os.path.getsize(requests_file) if os.path.exists(requests_file) else 0

    run = playbook(lab, reports, "kill_switch", limit="node1", extra={"kill_switch_confirm": HALT}, run_id="qk-kill")
    assert run.rc == 0 and run.stats("node1")["failures"] == 0 and run.stats("node1")["changed"] > 0, run
    assert "node2" not in run.doc["stats"]

    assert halted(node1) and pending(node1) == 0
    states = programs(node1)
    assert all(states[p] == "STOPPED" for p in GENESIS_PROGRAMS), states
    assert sql(node1, "SELECT count(*) FROM orders")[0][0] >= orders_before  # cancelled, never deleted
    assert sql(node1, "SELECT count(*) FROM orders WHERE status = 'CANCELLED' AND last_error LIKE 'cancelled by runbook%%'")[0][0] > 0
    steps = runbook_steps(node1, node1_events, run_id="qk-kill")
    assert steps == ["halt_trading", "cancel_pending_orders", "stop_programs"], steps
    # stopped through supervisor: the emergency-close listener did not fire
    assert (os.path.getsize(requests_file) if os.path.exists(requests_file) else 0) == listener_before

    assert trading(node2) and not halted(node2) and runbook_steps(node2, node2_events) == []


def test_kill_switch_second_run_changes_nothing(lab, reports):
    node1 = lab.node("node1")
    before = last_event_id(node1)
    run = playbook(lab, reports, "kill_switch", limit="node1", extra={"kill_switch_confirm": HALT})
    assert run.rc == 0 and run.stats("node1")["changed"] == 0 and run.stats("node1")["failures"] == 0, run
    assert runbook_steps(node1, before) == []


# ---------------------------------------------------------------------------- emergency mode and close (node2)
def test_health_check_reports_the_node_the_kill_switch_stopped(lab, reports):
    run = playbook(lab, reports, "health_check", limit="node1", run_id="qk-health")
    assert run.rc == 0 and run.stats("node1")["changed"] == 0, run
    document, markdown = health_report(reports, "qk-health")
    node1 = document["nodes"]["node1"]
    assert node1["status"] == "unhealthy" and 1 in node1["detected"], node1["detected"]
    outage = node1["checks"][0]
    assert any(r.startswith("genesis programs not RUNNING") for r in outage["reasons"]), outage
    assert node1["diagnostics"] == {} and "| node1 | unhealthy |" in markdown


def test_emergency_mode_stops_the_strategies_and_enables_safe_mode(lab, reports):
    node2 = lab.node("node2")
    before = last_event_id(node2)
    run = playbook(lab, reports, "emergency_mode", limit="node2", extra={"emergency_mode_validate_delay": 1},
                   run_id="qk-mode")
    assert run.rc == 0 and run.stats("node2")["changed"] > 0, run
    assert api_get(node2, "/admin/safe-mode").json()["enabled"] is True
    strategies = api_get(node2, "/admin/strategies").json()["strategies"]
    assert all(not s["enabled"] and s["state"] != "RUNNING" for s in strategies.values()), strategies
    assert runbook_steps(node2, before, run_id="qk-mode") == ["activate_emergency_mode", "enable_safe_mode"]


def test_emergency_close_needs_the_phrase_then_closes_every_position(lab, reports):
    node2 = lab.node("node2")
    open_before = api_get(node2, "/positions").json()["count"]
    assert open_before > 0, "the lab's node2 has no open position to close"
    before = last_event_id(node2)

    refused = playbook(lab, reports, "emergency_close", limit="node2")
    assert refused.rc != 0 and refused.stats("node2")["changed"] == 0, refused
    [message] = refused.failures("node2")
    assert message.startswith("emergency_close_confirm must be exactly 'CLOSE ALL POSITIONS' to close the %d open "
                              "positions of node2" % open_before) and one_sentence(message), message
    assert api_get(node2, "/positions").json()["count"] == open_before and runbook_steps(node2, before) == []

    run = playbook(lab, reports, "emergency_close", limit="node2", run_id="qk-close",
                   extra={"emergency_close_confirm": CLOSE, "emergency_close_validate_delay": 1})
    assert run.rc == 0 and run.stats("node2")["failures"] == 0, run
    assert api_get(node2, "/positions").json()["count"] == 0 and pending(node2) == 0
    closed = sql(node2, "SELECT count(*) FROM positions WHERE status = 'CLOSED' AND close_reason = 'emergency' "
                        "AND closed_at > now() - interval '5 minutes'")[0][0]
    assert closed >= open_before
    assert "close_all_positions" in runbook_steps(node2, before, run_id="qk-close")


# ---------------------------------------------------------------------------- connectivity (database down)
def test_connectivity_fails_naming_the_stopped_database(lab, reports):
    node2 = lab.node("node2")
    lab_cli("inject", "4", "--node", "node2")  # stops node2's PostgreSQL through supervisor
    run = playbook(lab, reports, "connectivity_test", limit="node2")
    assert run.rc != 0 and run.stats("node2")["changed"] == 0, run
    [message] = run.failures("node2")
    assert message.startswith("node2 cannot reach ") and one_sentence(message), message
    assert "database postgresql://genesis:********@127.0.0.1:%d/genesis" % node2.ports["pg"] in message, message
    assert node2.db_password not in message
    [table] = run.shown("node2", "Show the connectivity table")
    assert any(line.startswith("FAIL  database") for line in table), table
