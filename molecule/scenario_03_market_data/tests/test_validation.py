"""Scenario 3 validation on node1: prices updating, websocket connected (or the REST fallback
active and reported), price timestamps under 2 s old; only market-data keys were deleted."""
import os
import subprocess
import time

import pytest

from labprobe import runbook_actions_since

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
FRESH_S = 2.0


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _ticker_ts(node):
    redis = node.redis()
    out = {}
    for symbol in SYMBOLS:
        data = {_text(k): _text(v) for k, v in redis.hgetall("market:ticker:%s" % symbol).items()}
        out[symbol] = float(data["ts"])
    return out


def _eventually(check, seconds=10.0, interval=0.5):
    """The check's first truthy answer within `seconds` (a busy lab host may lag a tick), else its last answer."""
    deadline = time.time() + seconds
    while True:
        answer = check()
        if answer[0] or time.time() >= deadline:
            return answer
        time.sleep(interval)


def test_websocket_connected_or_fallback_reported(node1, api_get, converge_report):
    state = api_get(node1, "/admin/websocket").json()
    states = {name: conn["state"] for name, conn in state["connections"].items()}
    if state["mode"] == "rest":
        assert converge_report["validation"]["degraded"] is True, "REST fallback active but not reported"
        assert converge_report["validation"]["fallback_active"] is True
    else:
        assert set(states.values()) == {"connected"}, states
        assert converge_report["validation"]["websocket_connected"] is True


def test_price_timestamps_under_two_seconds(node1, api_get):
    def check():
        tickers = api_get(node1, "/admin/websocket").json()["tickers"]
        ages = {s: tickers[s]["age_s"] for s in SYMBOLS}
        redis_ages = {s: time.time() - ts for s, ts in _ticker_ts(node1).items()}
        ok = all(a is not None and a < FRESH_S for a in ages.values()) and all(a < FRESH_S for a in redis_ages.values())
        return ok, ages, redis_ages
    ok, ages, redis_ages = _eventually(check)
    assert ok, "ticker ages: API %s, Redis %s" % (ages, redis_ages)


def test_prices_are_updating(node1):
    first = _ticker_ts(node1)

    def check():
        now = _ticker_ts(node1)
        return all(now[s] > first[s] for s in SYMBOLS), now
    ok, now = _eventually(check, seconds=6.0)
    assert ok, "ticker timestamps did not move: %s -> %s" % (first, now)


def test_only_market_data_keys_were_deleted(node1, baseline):
    redis = node1.redis()
    sentinel = {_text(k): _text(v) for k, v in redis.hgetall("runbook:sentinel:scenario03").items()}
    assert sentinel == {"planted": "prepare", "ts": "1"}, "a key that is not market data was touched: %s" % sentinel
    assert redis.exists("genesis:heartbeat"), "genesis:heartbeat is gone: was Redis flushed?"
    events = runbook_actions_since(node1, baseline["node1"]["last_event_id"])
    cleared = [e for e in events if e["event_data"].get("step") == "clear_stale_market_data"]
    for event in cleared:
        for key in event["event_data"]["after"]["deleted"]:
            assert key.startswith(("market:ticker:", "orderbook:")), key


def test_the_fix_reconnected_the_streams(converge_report):
    steps = {c["step"] for c in converge_report["changes"]}
    assert "restart_websocket" in steps, steps
    assert converge_report["validation"]["prices_updating"] is True
    assert converge_report["validation"]["prices_fresh"] is True


ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _run_playbook(lab, tmp_path, *extra):
    """The scenario playbook in check mode on the healthy node2 with extra vars; (rc, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    argv = ["ansible-playbook", "--check", "--limit", "node2", "-i", str(lab.inventory_path),
            os.path.join(ROOT, "playbooks", 'scenario_03_market_data.yml'), "-e", "genesis_report_dir=%s" % tmp_path] + list(extra)
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    return done.returncode, " ".join(done.stdout.split())


@pytest.mark.parametrize("extra, sentence", [
    (["-e", "restore_market_data_fresh_age=20"],
     "restore_market_data_fresh_age must be above 0 and at most restore_market_data_max_age (10 s), got 20."),
    (["-e", '{"restore_market_data_symbols": []}'],
     "restore_market_data_symbols is empty: name the symbols whose prices must be fresh, like [BTCUSDT]."),
    (["-e", "restore_market_data_reconnect_wait=soon"], "restore_market_data_reconnect_wait"),
    (["-e", "genesis_api_url=http://127.0.0.1:9"],
     "Control API GET http://127.0.0.1:9/admin/websocket is unreachable: connection refused."),
])
def test_bad_input_fails_with_one_sentence_before_any_change(lab, tmp_path, extra, sentence):
    rc, output = _run_playbook(lab, tmp_path, *extra)
    assert rc != 0 and sentence in output, output[-2000:]
