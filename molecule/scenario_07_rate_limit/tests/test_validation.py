"""Scenario 7 validation on node1: calls succeed, the rate is under the limit, no 429 in a
fresh window; the limit was lowered in the configuration file after a backup of it."""
import glob
import hashlib
import hmac
import os
import subprocess
import time
from datetime import datetime
from urllib.parse import urlencode

import pytest
import requests

QUIET_WINDOW_S = 60
TARGET_LIMIT = 600
PLANTED = """# genesis exchange rate limits (planted by the Molecule prepare)
exchange:
  protection: false
  # request weight a minute the node may send
  limit_per_minute: 6000
"""


def _epoch(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _env(node, key):
    with open(os.path.join(node.home, ".env")) as handle:
        for line in handle:
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip()
    raise KeyError(key)


def _config(node):
    return os.path.join(node.home, "config", "rate_limits.yaml")


def test_signed_calls_succeed(lab, node1):
    key, secret = _env(node1, "GENESIS_EXCHANGE_API_KEY"), _env(node1, "GENESIS_EXCHANGE_API_SECRET")
    query = urlencode({"timestamp": int(time.time() * 1000), "recvWindow": 10000})
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    answer = requests.get(lab.exchange_url + "/api/v3/account?%s&signature=%s" % (query, signature),
                          headers={"X-MBX-APIKEY": key}, timeout=5)
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["X-MBX-USED-WEIGHT-1M"]) < 0.8 * 1200


def test_rate_under_the_limit_with_protection(node1, api_get):
    state = api_get(node1, "/admin/rate-limits").json()
    assert state["protection"] is True
    assert state["limit_per_minute"] <= TARGET_LIMIT
    assert state["usage_ratio"] < state["warn_ratio"], state
    assert state["queue_length"] == 0, state


def test_no_429_in_a_fresh_window(node1, api_get):
    first = api_get(node1, "/admin/rate-limits").json()
    assert first["last_429_at"], "the fault left no 429 behind: was it injected?"
    assert time.time() - _epoch(first["last_429_at"]) >= QUIET_WINDOW_S, first
    if first["retry_after_until"]:
        assert _epoch(first["retry_after_until"]) <= time.time()
    time.sleep(3)
    second = api_get(node1, "/admin/rate-limits").json()
    assert second["count_429"] == first["count_429"] and second["last_429_at"] == first["last_429_at"]


def test_config_file_lowered_after_a_backup(node1, node2):
    with open(_config(node1)) as handle:
        text = handle.read()
    assert "  limit_per_minute: %d\n" % TARGET_LIMIT in text
    assert text == PLANTED.replace("limit_per_minute: 6000", "limit_per_minute: %d" % TARGET_LIMIT), text
    backups = glob.glob(_config(node1) + ".*~")
    assert len(backups) == 1, backups
    with open(backups[0]) as handle:
        assert handle.read() == PLANTED
    with open(_config(node2)) as handle:
        assert handle.read() == PLANTED
    assert glob.glob(_config(node2) + ".*~") == []


def test_the_fix_protected_and_slowed_the_node(converge_report):
    steps = [c["step"] for c in converge_report["changes"]]
    assert steps[:2] == ["enable_protection", "lower_rate_limit"], steps
    assert "update_config_rate_limit" in steps, steps
    validation = converge_report["validation"]
    assert validation["calls_ok"] is True and validation["no_429_in_fresh_window"] is True
    assert validation["under_limit"] is True


ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _run_playbook(lab, tmp_path, *extra):
    """The scenario playbook in check mode on the healthy node2 with extra vars; (rc, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    argv = ["ansible-playbook", "--check", "--limit", "node2", "-i", str(lab.inventory_path),
            os.path.join(ROOT, "playbooks", 'scenario_07_rate_limit.yml'), "-e", "genesis_report_dir=%s" % tmp_path] + list(extra)
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    return done.returncode, " ".join(done.stdout.split())


@pytest.mark.parametrize("extra, sentence", [
    (["-e", "rate_limit_recovery_limit_per_minute=0"],
     "rate_limit_recovery_limit_per_minute must be between 1 and 1200 (the exchange's weight limit a minute), got 0."),
    (["-e", "rate_limit_recovery_quiet_window=soon"], "rate_limit_recovery_quiet_window"),
    (["-e", "rate_limit_recovery_config_file=/nonexistent/rate_limits.yaml"],
     "rate_limit_recovery_config_file /nonexistent/rate_limits.yaml is not a file on node2"),
    (["-e", "rate_limit_recovery_config_file={{ genesis_home }}/config/rate_limits.yaml", "-e",
      "rate_limit_recovery_config_key=max_rate"], "has no line 'max_rate: <number>'"),
    (["-e", "genesis_exchange_url=http://127.0.0.1:9"],
     "The configured exchange http://127.0.0.1:9 is unreachable from node2"),
])
def test_bad_input_fails_with_one_sentence_before_any_change(lab, tmp_path, extra, sentence):
    rc, output = _run_playbook(lab, tmp_path, *extra)
    assert rc != 0 and sentence in output, output[-2000:]
