"""Scenario 14 validation on node1: a signed call with the node's own credentials and clock
succeeds, no 401/403 in a fresh window, the clock is synchronised, the key was rotated from the
vaulted variables (old .env backed up, no secret in the audit trail). Plus the escalation path:
an invalid key and no new one stops the role with one sentence and changes nothing."""
import glob
import hashlib
import hmac
import json
import os
import subprocess
import time
from urllib.parse import urlencode

import requests
from labprobe import runbook_actions_since

AUTH_CODES = {-2014, -2015, -1021, -1022}


def _env(node):
    values = {}
    with open(os.path.join(node.home, ".env")) as handle:
        for line in handle:
            if "=" in line:
                key, value = line.strip().split("=", 1)
                values[key] = value
    return values


def _offset_ms(node):
    try:
        return float(open(node.clock_offset_file).read().strip() or 0)
    except OSError:
        return 0.0


def _signed_account(lab, key, secret, offset_ms=0.0):
    query = urlencode([("timestamp", int(time.time() * 1000 + offset_ms)), ("recvWindow", 5000)])
    query += "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return requests.get(lab.exchange_url + "/api/v3/account?" + query, headers={"X-MBX-APIKEY": key}, timeout=5)


def _auth_rejections_since(node, since):
    found = []
    with open(os.path.join(node.home, ".genesis", "logs", "trading.log")) as handle:
        for line in handle:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event", "").startswith("Order rejected") and rec.get("timestamp", "") >= since and (
                    rec.get("code") in AUTH_CODES or rec.get("http_status") in (401, 403)):
                found.append(rec)
    return found


def test_clock_synchronised(node1):
    assert abs(_offset_ms(node1)) <= 1000, _offset_ms(node1)


def test_signed_call_with_the_nodes_credentials_succeeds(lab, node1):
    env = _env(node1)
    answer = _signed_account(lab, env["GENESIS_EXCHANGE_API_KEY"], env["GENESIS_EXCHANGE_API_SECRET"], _offset_ms(node1))
    assert answer.status_code == 200, answer.text


def test_no_401_or_403_in_a_fresh_window(node1, api_get):
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    time.sleep(8)
    assert _auth_rejections_since(node1, since) == []
    breakers = api_get(node1, "/admin/circuit-breakers").json()["breakers"]
    assert breakers["orders"]["state"] != "open", breakers["orders"]


def test_key_rotated_with_a_backup_of_the_old_env(lab, node1):
    backups = glob.glob(os.path.join(node1.home, ".env.bak-*"))
    assert len(backups) == 1, backups
    assert os.stat(backups[0]).st_mode & 0o777 == 0o600 and os.stat(os.path.join(node1.home, ".env")).st_mode & 0o777 == 0o600
    old = {}
    with open(backups[0]) as handle:
        for line in handle:
            if "=" in line:
                old.__setitem__(*line.strip().split("=", 1))
    new = _env(node1)
    assert new["GENESIS_EXCHANGE_API_KEY"] != old["GENESIS_EXCHANGE_API_KEY"]
    assert {k: v for k, v in new.items() if not k.startswith("GENESIS_EXCHANGE_API_")} == \
        {k: v for k, v in old.items() if not k.startswith("GENESIS_EXCHANGE_API_")}
    revoked = _signed_account(lab, old["GENESIS_EXCHANGE_API_KEY"], old["GENESIS_EXCHANGE_API_SECRET"])
    assert revoked.status_code == 401 and revoked.json()["code"] == -2015


def test_no_secret_in_the_audit_trail(node1, baseline):
    env = _env(node1)
    events = runbook_actions_since(node1, baseline["node1"]["last_event_id"])
    text = json.dumps(events) + open(os.path.join(node1.home, ".genesis", "logs", "audit.log")).read()
    assert env["GENESIS_EXCHANGE_API_KEY"] not in text and env["GENESIS_EXCHANGE_API_SECRET"] not in text
    rotation = [e for e in events if e["event_data"]["step"] == "rotate_exchange_key"]
    assert len(rotation) == 1 and rotation[0]["event_data"]["after"]["key_id"].startswith("sha256:")


def test_converge_did_the_runbook_steps(converge_report):
    steps = {c["step"] for c in converge_report["changes"]}
    assert {"sync_time", "rotate_exchange_key", "reset_circuit_breaker"} <= steps, steps
    assert converge_report["evidence"]["drift_ms"] > 1000 and converge_report["evidence"]["key_rejected"]
    validation = converge_report["validation"]
    assert validation["auth_ok"] and validation["time_synchronised"] and int(validation["window_rejections"]) == 0


def _run_playbook(extra_vars, report):
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    scenario_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        ["ansible-playbook", "-i", "/var/lib/genesis-lab/m14/inventory.yml", "--limit", "node1",
         os.path.join(project, "playbooks", "scenario_14_authentication.yml"), "-e", json.dumps(extra_vars),
         "-e", "genesis_report_dir=%s/reports/%s" % (os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], report)],
        cwd=project, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                 ANSIBLE_VAULT_PASSWORD_FILE=os.path.join(scenario_dir, "vault-password")))
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_unreachable_exchange_is_one_sentence_and_changes_nothing(node1, baseline):
    env_before = open(os.path.join(node1.home, ".env")).read()
    events = runbook_actions_since(node1, baseline["node1"]["last_event_id"])
    rc, out = _run_playbook({"genesis_exchange_url": "http://127.0.0.1:9", "genesis_api_retries": 0}, "unreachable")
    assert rc != 0, out[-2000:]
    assert ("Exchange GET http://127.0.0.1:9/api/v3/time is unreachable: connection refused: authentication of node1 "
            "cannot be checked, so nothing was changed.") in out, out[-2000:]
    assert open(os.path.join(node1.home, ".env")).read() == env_before
    assert runbook_actions_since(node1, baseline["node1"]["last_event_id"]) == events


def test_invalid_key_without_a_new_one_escalates_and_changes_nothing(lab, node1, baseline):
    """Runs last: it revokes node1's current key."""
    env_before = open(os.path.join(node1.home, ".env")).read()
    events = runbook_actions_since(node1, baseline["node1"]["last_event_id"])
    lab.exchange_request("POST", "/_lab/keys/revoke", {"api_key": _env(node1)["GENESIS_EXCHANGE_API_KEY"]})
    rc, out = _run_playbook({"fix_auth_new_api_key": "", "fix_auth_new_api_secret": ""}, "escalation")
    assert rc != 0, out[-2000:]
    assert "no new key was supplied: nothing was changed; escalate" in out, out[-2000:]
    assert open(os.path.join(node1.home, ".env")).read() == env_before
    assert runbook_actions_since(node1, baseline["node1"]["last_event_id"]) == events
