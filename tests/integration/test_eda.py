# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The EDA rulebook extensions/eda/rulebooks/genesis_remediation.yml.

Static checks of the rules (targets, coverage of the 20 scenarios, no confirmation phrase, one allow-listed node,
throttle), the alert filter on its own, then a live run on a 2-node lab `eda` (genesis-lab, root only): an
Alertmanager alert for scenario 13 on node1 makes ansible-rulebook run the scenario playbook, which fixes the order
book; the identical alert again within the throttle window runs nothing; a node whose /health stops answering is
triaged and restarted by the health poll; node2 is never touched.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import json
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import time

import labcli  # tests/integration/labcli.py
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
GENESIS_LAB = os.path.join(BIN, "genesis-lab")
RULEBOOK = os.path.join(ROOT, "extensions", "eda", "rulebooks", "genesis_remediation.yml")
README = os.path.join(ROOT, "extensions", "eda", "README.md")
ALERT_FILTER = os.path.join(ROOT, "extensions", "eda", "plugins", "event_filter", "alertmanager_alerts.py")
LAB = "eda"
# Deliberately not auto-remediated (extensions/eda/README.md): their fix needs a phrase, EDA only escalates.
ESCALATED_ONLY = {8, 11, 20}
PHRASES = ("HALT TRADING NOW", "CLOSE ALL POSITIONS", "OVERRIDE EMERGENCY HALT")
ALERT_TIMEOUT = 120
THROTTLE_WINDOW = 15


def scenarios():
    with open(os.path.join(ROOT, "roles", "genesis", "defaults", "main.yml")) as handle:
        return yaml.safe_load(handle)["genesis_scenarios"]


def rules():
    with open(RULEBOOK) as handle:
        doc = yaml.safe_load(handle)
    return [rule for ruleset in doc for rule in ruleset["rules"]]


def actions(rule):
    return rule.get("actions") or [rule["action"]]


def run_playbooks(rule):
    return [action["run_playbook"] for action in actions(rule) if "run_playbook" in action]


def alert_scenarios(rule):
    """Scenario numbers an alert rule's condition matches (== "N" or in ["N", ...])."""
    condition = rule["condition"]
    found = set(int(n) for n in re.findall(r'event\.genesis_alert\.scenario == "(\d+)"', condition))
    for listed in re.findall(r"event\.genesis_alert\.scenario in \[([^\]]*)\]", condition):
        found.update(int(n) for n in re.findall(r'"(\d+)"', listed))
    return found


# ---------------------------------------------------------------------------- static
def test_every_action_is_a_playbook_of_this_collection():
    for rule in rules():
        assert run_playbooks(rule) and len(actions(rule)) == 1, rule["name"]
        for action in run_playbooks(rule):
            assert action["name"].startswith("genesis.runbook."), rule["name"]
            path = os.path.join(ROOT, "playbooks", action["name"][len("genesis.runbook."):] + ".yml")
            assert os.path.isfile(path), "%s: %s does not exist" % (rule["name"], path)


def test_every_scenario_has_a_rule_or_is_documented():
    remediated, escalated = set(), set()
    for rule in rules():
        numbers = alert_scenarios(rule)
        for action in run_playbooks(rule):
            if action["name"] == "genesis.runbook.triage":
                # the health poll: triage may remediate only what an alert may
                assert not numbers and rule["condition"].startswith("event.genesis_health."), rule["name"]
                swept = set(action["extra_vars"]["triage_scenarios"])
                assert action["extra_vars"]["triage_remediate"] is True
                assert swept == set(range(1, 21)) - ESCALATED_ONLY, rule["name"]
            elif action["name"] == "genesis.runbook.escalate":
                escalated |= numbers
            else:
                remediated |= numbers
                playbooks = set(s["playbook"][:-4] for s in scenarios() if s["number"] in numbers)
                assert playbooks == {action["name"][len("genesis.runbook."):]}, rule["name"]
    assert remediated | escalated == set(range(1, 21))
    assert not remediated & escalated
    assert escalated == ESCALATED_ONLY
    # a scenario with a phrase is auto-remediated only when its phrase step is opt-in (4: the restore)
    assert set(s["number"] for s in scenarios() if s["phrase"]) - remediated == ESCALATED_ONLY
    with open(README) as handle:
        readme = handle.read()
    for number in sorted(ESCALATED_ONLY | {4}):
        assert re.search(r"\|\s*%d\s*\|" % number, readme), "scenario %d is not documented in the README" % number


def test_no_rule_passes_a_confirmation_phrase():
    with open(RULEBOOK) as handle:
        text = handle.read()
    for phrase in PHRASES:
        assert phrase.lower() not in text.lower()
    for rule in rules():
        for action in run_playbooks(rule):
            for key in action.get("extra_vars", {}):
                assert not re.search(r"confirm|phrase|_restore$", key), "%s passes %s" % (rule["name"], key)


def test_every_rule_targets_one_allowed_node_and_is_throttled():
    for rule in rules():
        source = "genesis_health" if "genesis_health" in rule["condition"] else "genesis_alert"
        node = "event.%s.node" % source
        assert '%s != ""' % node in rule["condition"], rule["name"]
        assert "%s in vars.genesis_eda_nodes" % node in rule["condition"], rule["name"]
        if source == "genesis_alert":
            assert 'event.genesis_alert.status == "firing"' in rule["condition"], rule["name"]
        for action in run_playbooks(rule):
            assert action["extra_vars"]["genesis_targets"] == "{{ %s }}" % node, rule["name"]
        assert rule["throttle"]["once_within"] == "10 minutes", rule["name"]
        assert node in rule["throttle"]["group_by_attributes"], rule["name"]
        if source == "genesis_alert":
            assert "event.genesis_alert.scenario" in rule["throttle"]["group_by_attributes"], rule["name"]


def test_alert_filter_splits_and_normalises():
    split = runpy.run_path(ALERT_FILTER)["main"]
    payload = {"alerts": [
        {"status": "firing", "labels": {"alertname": "OrderBook Desync!", "genesis_scenario": "013", "node": "node1"}},
        {"status": "resolved", "labels": {"genesis_scenario": 13, "instance": "node2:9100"}},
        {"status": "firing", "labels": {"genesis_scenario": "21", "node": "node1,node2"}},
        {"status": "firing", "labels": {"genesis_scenario": "7", "node": "node*"}},
        {"status": "firing", "labels": {"genesis_scenario": "7"}},
    ]}
    events = split({"payload": payload, "meta": {"endpoint": "alerts"}})
    got = [(e["genesis_alert"]["status"], e["genesis_alert"]["scenario"], e["genesis_alert"]["node"],
            e["meta"].get("hosts")) for e in events]
    assert got == [("firing", "13", "node1", "node1"), ("resolved", "13", "node2", "node2"),
                   ("firing", "", "", None), ("firing", "7", "", None), ("firing", "7", "", None)]
    assert events[0]["genesis_alert"]["alertname"] == "OrderBook_Desync_"
    assert events[0]["labels"]["node"] == "node1"
    assert split({"payload": {"text": "not an alert"}}) == []
    assert split({"payload": ["a"]}) == []


# ---------------------------------------------------------------------------- live
def missing_prerequisite():
    return labcli.missing_prerequisite(tools=("java",), programs=("ansible-rulebook",))


def lab_cli(*args, **kwargs):
    return labcli.run(LAB, *args, **kwargs)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("%s within %d s" % (what, timeout))


def runbook_actions(node):
    conn = node.db()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_data->>'run_id' FROM events WHERE event_type = 'RUNBOOK_ACTION' "
                        "AND aggregate_id = %s", ("runbook:" + node.name,))
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


class Rulebook(object):
    """ansible-rulebook as a subprocess in its own process group; its output goes to a file."""

    def __init__(self, workdir, inventory, variables, reports):
        self.log = os.path.join(workdir, "rulebook.log")
        collections = os.path.join(workdir, "collections", "ansible_collections", "genesis")
        os.makedirs(collections)
        # genesis.runbook resolves to this checkout, wherever it is installed otherwise
        os.symlink(ROOT, os.path.join(collections, "runbook"))
        vars_file = os.path.join(workdir, "eda_vars.yml")
        with open(vars_file, "w") as handle:
            yaml.safe_dump(variables, handle)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(workdir, "collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", GENESIS_REPORT_DIR=reports,
                   PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        env.pop("GENESIS_RUN_ID", None)
        with open(self.log, "w") as out:
            # -vv: the engine logs each action it calls and each event a throttle holds back
            self.proc = subprocess.Popen(
                [os.path.join(BIN, "ansible-rulebook"), "--rulebook", RULEBOOK, "-i", inventory, "--vars", vars_file,
                 "-vv"], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        with open(self.log, errors="replace") as handle:
            return handle.read()

    def calls(self):
        return self.output().count("call_action run_playbook")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def eda(tmp_path_factory):
    why = missing_prerequisite()
    if why:
        pytest.fail(why + " (make setup installs it)")
    workdir = str(tmp_path_factory.mktemp("eda"))
    reports = os.path.join(workdir, "reports")
    rulebook = None
    try:
        lab_cli("up", "--nodes", "2", timeout=300)
        from genesis_lab.labspec import Lab
        lab = Lab.load(LAB)
        lab_cli("inject", "13", "--node", "node1")
        port = free_port()
        variables = {
            "genesis_eda_host": "127.0.0.1",
            "genesis_eda_port": port,
            "genesis_eda_nodes": [node.name for node in lab.nodes],
            # the healthy nodes' /health, as seen from the host: the poll must not trigger anything
            "genesis_eda_health_urls": dict((node.name, node.api_url + "/health") for node in lab.nodes),
            "genesis_eda_health_delay": 5,
        }
        rulebook = Rulebook(workdir, str(lab.inventory_path), variables, reports)

        def listening():
            if rulebook.proc.poll() is not None:
                raise AssertionError("ansible-rulebook exited %s:\n%s" % (
                    rulebook.proc.returncode, rulebook.output()[-3000:]))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, 60, "the rulebook's webhook listening on 127.0.0.1:%d" % port)
        yield {"lab": lab, "rulebook": rulebook, "url": "http://127.0.0.1:%d/alerts" % port, "reports": reports,
               "workdir": workdir, "state": {}}
    finally:
        if rulebook is not None:
            rulebook.stop()
        lab_cli("down", check=False)


def alert(status="firing"):
    return {"receiver": "genesis-eda", "status": status, "groupLabels": {"alertname": "GenesisOrderBookDesync"},
            "alerts": [{"status": status,
                        "labels": {"alertname": "GenesisOrderBookDesync", "genesis_scenario": "13", "node": "node1",
                                   "severity": "high"},
                        "annotations": {"summary": "order book of node1 differs from the exchange"},
                        "startsAt": "2026-01-01T00:00:00Z", "fingerprint": "eda13node1"}]}


def post(eda, body):
    import requests
    resp = requests.post(eda["url"], json=body, timeout=10)
    assert resp.status_code == 200, resp.text


def node(eda, name):
    return [n for n in eda["lab"].nodes if n.name == name][0]


def scenario_reports(eda, host):
    return sorted(glob.glob(os.path.join(eda["reports"], host, "scenario_13-*.json")))


def test_a_resolved_alert_runs_nothing(eda):
    post(eda, alert("resolved"))
    time.sleep(3)
    assert eda["rulebook"].calls() == 0, eda["rulebook"].output()[-3000:]


def test_alert_runs_the_scenario_playbook_and_fixes_node1(eda, capsys):
    rulebook = eda["rulebook"]
    eda["state"]["baseline"] = set(runbook_actions(node(eda, "node1")))
    started = time.monotonic()
    post(eda, alert())
    latest = os.path.join(eda["reports"], "node1", "scenario_13.json")
    wait_for(lambda: os.path.exists(latest) and "PLAY RECAP" in rulebook.output(), ALERT_TIMEOUT,
             "report node1/scenario_13.json and the end of the playbook run")
    took = time.monotonic() - started
    with open(latest) as handle:
        report = json.load(handle)
    assert report["detected"] is True and report["changes"], report
    assert all(book["in_sync"] for book in report["validation"]["books"].values()), report["validation"]
    assert rulebook.calls() == 1
    assert re.search(r"node1\s*: ok=\d+\s+changed=[1-9]\d*\s+unreachable=0\s+failed=0", rulebook.output())
    assert report["run_id"] in runbook_actions(node(eda, "node1"))
    eda["state"]["run_id"] = report["run_id"]
    with capsys.disabled():
        print("\nEDA: alert -> scenario 13 fixed on node1 in %.1f s" % took)

    # read-only re-check, in a report directory of its own
    recheck = os.path.join(eda["workdir"], "recheck")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               GENESIS_REPORT_DIR=recheck, GENESIS_RUN_ID="eda-recheck",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "triage.yml"),
                           "-i", str(eda["lab"].inventory_path), "--limit", "node1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(os.path.join(recheck, "triage-eda-recheck.json")) as handle:
        triage = json.load(handle)
    assert triage["nodes"]["node1"]["findings"] == [], triage["nodes"]["node1"]
    assert "node1" not in triage["affected"]


def test_the_identical_alert_is_throttled(eda):
    rulebook = eda["rulebook"]
    before = scenario_reports(eda, "node1")
    post(eda, alert())
    # drools logs the held-back event as an activation of the throttle's once_within control
    wait_for(lambda: "once_within_control" in rulebook.output(), 30, "the throttle holding back the second alert")
    time.sleep(THROTTLE_WINDOW)
    assert rulebook.calls() == 1, rulebook.output()[-3000:]
    assert scenario_reports(eda, "node1") == before
    # the audit trail of node1 holds the first run's actions and nothing newer
    assert set(runbook_actions(node(eda, "node1"))) - eda["state"]["baseline"] == {eda["state"]["run_id"]}


def test_node2_and_the_healthy_poll_did_nothing(eda):
    assert not os.path.exists(os.path.join(eda["reports"], "node2"))
    assert not glob.glob(os.path.join(eda["reports"], "triage-*.json"))
    assert runbook_actions(node(eda, "node2")) == []
    # one action in the whole run: the health poll of the two healthy nodes triggered nothing
    assert eda["rulebook"].calls() == 1


def test_a_failing_health_poll_triages_and_restarts_node1(eda, capsys):
    rulebook = eda["rulebook"]
    started = time.monotonic()
    lab_cli("inject", "1", "--node", "node1")
    latest = os.path.join(eda["reports"], "node1", "scenario_01.json")
    wait_for(lambda: os.path.exists(latest) and rulebook.output().count("PLAY RECAP") == 2, ALERT_TIMEOUT,
             "triage started by the health poll and its remediation of node1")
    took = time.monotonic() - started
    assert rulebook.calls() == 2
    assert len(glob.glob(os.path.join(eda["reports"], "triage-*.json"))) == 1
    with open(latest) as handle:
        report = json.load(handle)
    assert report["detected"] is True and report["changes"], report
    import requests
    assert requests.get(node(eda, "node1").api_url + "/health", timeout=5).status_code == 200
    assert not os.path.exists(os.path.join(eda["reports"], "node2"))
    assert runbook_actions(node(eda, "node2")) == []
    with capsys.disabled():
        print("\nEDA: /health failing -> triage restarted node1 in %.1f s" % took)
