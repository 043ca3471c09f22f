# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_rate_limit_info and genesis_rate_limit (runbook scenario 7)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

import genesis_fakes
from fakes_market_data import FakeClock
from fakes_rate_limit import RateLimitApi, iso
from ansible_collections.genesis.runbook.plugins.module_utils import rate_limit
from ansible_collections.genesis.runbook.plugins.modules import genesis_rate_limit, genesis_rate_limit_info

ARGS = dict(api_key="k3y-api-secret", exchange_url="http://exchange.test", exchange_api_key="ex-k3y-0123456789",
            exchange_api_secret="ex-s3cret-abcdef", db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis",
            node_name="node1", run_id="run-7", scenario="7")


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(rate_limit, "time", fake)
    return fake


@pytest.fixture
def api(http, exchange_fake, clock):
    exchange_fake.used_weight = 100
    return RateLimitApi(http, clock)


def info(run_module, **extra):
    return run_module(genesis_rate_limit_info.main, dict(ARGS, **extra))


# ---------------------------------------------------------------------------- genesis_rate_limit_info
def test_info_healthy(run_module, api, exchange_fake, http):
    result, failed = info(run_module)
    assert not failed and result["changed"] is False and result["fault"] is False and result["reasons"] == []
    assert result["used_weight"] == 101 and result["node_used_weight"] == 40 and result["under_limit"] is True
    assert result["protection"] is True and result["protected"] is False  # 900 is above the 600 target
    assert result["calls_ok"] is True and result["quiet"] is True and result["condition_met"] is None
    ping = http.calls_to("/api/v3/ping")[0]
    assert ping.headers["X-MBX-APIKEY"] == "ex-k3y-0123456789"  # the node's own weight budget


def test_info_detects_the_storm_without_calling_the_exchange(run_module, api, http):
    api.storm()
    result, failed = info(run_module)
    assert not failed and result["fault"] is True
    # a Retry-After runs: calling the exchange now would extend the ban
    assert http.calls_to("/api/v3/ping") == [] and result["probe"]["skipped"] is True and result["calls_ok"] is None
    assert result["probe"]["error"].startswith("not called: a Retry-After runs until ")
    assert result["reasons"] == [
        "used weight 1040 of 1200 is 87 % of the exchange limit (warning at 80 %)",
        "the last 429 was 0.5 s ago, within the 60 s quiet window",
        "the exchange's Retry-After runs for another 55.0 s",
        "120 429s in the last 300 s with rate-limit protection off",
    ]
    assert result["queue_length"] == 370 and result["retry_after_remaining_s"] == 55.0 and result["quiet"] is False


def test_info_recent_429s_with_the_limit_too_high(run_module, api):
    api.storm(last_429_ago=200, retry_after=-140, used=100)
    api.state.update(protection=True, limit_per_minute=1100)
    result, _failed = info(run_module)
    assert result["reasons"] == ["120 429s in the last 300 s with limit_per_minute 1100 above 600"]


def test_info_old_429s_under_protection_are_recovered(run_module, api):
    # the converge fixed it 70 s ago: recent_429 still counts the storm, but the window is quiet
    api.storm(last_429_ago=70, retry_after=-20, used=100, queue=0)
    api.state.update(protection=True, limit_per_minute=600)
    result, failed = info(run_module)
    assert not failed and result["fault"] is False and result["recent_429"] == 120 and result["protected"] is True
    assert result["quiet"] is True and result["seconds_since_last_429"] == 70.0


def test_info_probe_rate_limited(run_module, api, exchange_fake):
    exchange_fake.ban_seconds = 30
    result, failed = info(run_module)
    assert not failed and result["calls_ok"] is False and result["probe"]["rate_limited"] is True
    assert "the exchange answers 429 to the node's key" in result["reasons"]
    assert result["retry_after_remaining_s"] == 30.0


def test_info_signed_probe(run_module, api, http):
    result, failed = info(run_module, probe="signed")
    assert not failed and result["calls_ok"] is True and result["probe"]["kind"] == "signed"
    assert "signature=" in http.calls_to("/api/v3/account")[0].query_string


def test_info_signed_probe_rejected_key(run_module, api):
    result, failed = info(run_module, probe="signed", exchange_api_secret="wrong-s3cret")
    assert not failed and result["calls_ok"] is False and "-2015" in result["probe"]["error"]
    assert "wrong-s3cret" not in str(result)


def test_info_exchange_unreachable_is_evidence(run_module, api, exchange_fake):
    exchange_fake.down = True
    result, failed = info(run_module, api_retries=0)
    assert not failed and result["probe"]["reachable"] is False and result["calls_ok"] is False
    assert result["probe"]["error"] == "Exchange GET http://exchange.test/api/v3/ping is unreachable: connection refused."


def test_info_no_probe(run_module, api, http):
    result, failed = info(run_module, probe="none", exchange_url="")
    assert not failed and result["probe"] is None and result["calls_ok"] is None
    assert not http.calls_to("/api/v3/ping")


def test_info_waits_for_the_reset(run_module, api, clock, http):
    api.storm(retry_after=5)
    result, failed = info(run_module, wait_for="reset", wait_timeout=30)
    assert not failed and result["condition_met"] is True and result["retry_after_remaining_s"] == 0
    assert 5 <= result["waited_s"] <= 6 and result["beyond_bound"] is False
    assert len(http.calls_to("/api/v3/ping")) == 1 and result["calls_ok"] is True  # only once the Retry-After ended


def test_info_reset_honours_the_probes_own_retry_after(run_module, api, clock, exchange_fake, http):
    exchange_fake.ban_seconds = 3
    result, failed = info(run_module, wait_for="reset", wait_timeout=10)
    # pinged at 0, 3, 6 and 9 s only; at 9 s the next Retry-After ends beyond the 10 s bound
    assert not failed and result["condition_met"] is False and len(http.calls_to("/api/v3/ping")) == 4
    assert result["beyond_bound"] is True and result["probe"]["rate_limited"] is True
    result, failed = info(run_module, wait_for="reset", wait_timeout=2)
    assert not failed and result["beyond_bound"] is True and len(http.calls_to("/api/v3/ping")) == 5


def test_info_does_not_wait_for_a_retry_after_beyond_the_bound(run_module, api, clock):
    api.storm(retry_after=300)
    result, failed = info(run_module, wait_for="reset", wait_timeout=120)
    assert not failed and result["condition_met"] is False and result["beyond_bound"] is True
    assert clock.sleeps == [] and result["retry_after_remaining_s"] == 300.0


def test_info_waits_for_a_quiet_window(run_module, api, clock, http):
    api.storm(last_429_ago=50, retry_after=-1, used=100)
    api.state.update(protection=True, limit_per_minute=600)
    result, failed = info(run_module, wait_for="quiet", wait_timeout=30, probe="signed")
    assert not failed and result["condition_met"] is True and result["seconds_since_last_429"] >= 60
    assert 10 <= result["waited_s"] <= 11
    assert len(http.calls_to("/api/v3/account")) == 1  # weight 20: made once the node is quiet, not at every poll


def test_info_api_unreachable(run_module, api):
    api.down = True
    result, failed = info(run_module, api_retries=0)
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/admin/rate-limits is unreachable: connection refused."


@pytest.mark.parametrize("override, start", [
    (dict(target_limit_per_minute=0), "target_limit_per_minute must be between 1 and 1200"),
    (dict(target_limit_per_minute=1201), "target_limit_per_minute must be between 1 and 1200"),
    (dict(warn_ratio=0), "warn_ratio must be above 0 and at most 1"),
    (dict(warn_ratio=1.5), "warn_ratio must be above 0 and at most 1"),
    (dict(quiet_window=0), "quiet_window must be between 1 and 600"),
    (dict(wait_timeout=-1), "wait_timeout must be between 0 and 900"),
    (dict(exchange_api_key=""), "exchange_api_key (inventory variable genesis_exchange_api_key) is not set"),
    (dict(probe="signed", exchange_api_secret=""), "exchange_api_secret (inventory variable genesis_exchange_api_secret) is not set"),
    (dict(exchange_url=""), "exchange_url (inventory variable genesis_exchange_url) is not set"),
])
def test_info_bad_input(run_module, api, override, start):
    result, failed = info(run_module, **override)
    assert failed and result["msg"].startswith(start), result["msg"]
    assert "ex-s3cret-abcdef" not in result["msg"]


# ---------------------------------------------------------------------------- genesis_rate_limit
def test_protect_and_lower_in_one_post_with_two_audit_events(run_module, api, pg):
    api.storm()
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, protection=True, limit_per_minute=600), diff=True)
    assert not failed and result["changed"] is True and result["steps"] == ["enable_protection", "lower_rate_limit"]
    assert api.posts == [{"protection": True, "limit_per_minute": 600}]
    assert result["after"] == {"protection": True, "limit_per_minute": 600, "queue_length": 370}
    events = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert [(e["event_data"]["step"], e["event_data"]["before"], e["event_data"]["after"]) for e in events] == [
        ("enable_protection", {"protection": False}, {"protection": True}),
        ("lower_rate_limit", {"limit_per_minute": 6000}, {"limit_per_minute": 600})]
    assert result["diff"]["before"]["protection"] is False and len(result["audit_events"]) == 2


def test_lower_only_never_raises(run_module, api, pg):
    api.state.update(limit_per_minute=300)
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, limit_per_minute=600))
    assert not failed and result["changed"] is False and api.posts == [] and pg.connections == []
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, limit_per_minute=600, lower_only=False))
    assert not failed and result["steps"] == ["raise_rate_limit"] and api.state["limit_per_minute"] == 600


def test_clear_queue(run_module, api, pg):
    api.storm()
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, clear_queue=True))
    assert not failed and result["steps"] == ["clear_request_queue"] and result["cleared"] == 370 and api.clears == 1
    event = pg.events_of("runbook:node1", "RUNBOOK_ACTION")[0]
    assert event["event_data"]["after"] == {"queue_length": 0, "cleared": 370}
    again, failed = run_module(genesis_rate_limit.main, dict(ARGS, clear_queue=True))
    assert not failed and again["changed"] is False and api.clears == 1 and len(pg.events) == 1


def test_check_mode_posts_and_writes_nothing(run_module, api, pg):
    api.storm()
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, protection=True, limit_per_minute=600, clear_queue=True),
                                check_mode=True)
    assert not failed and result["changed"] is True
    assert result["steps"] == ["enable_protection", "lower_rate_limit", "clear_request_queue"] and result["cleared"] == 370
    assert api.posts == [] and api.clears == 0 and pg.connections == []


def test_idempotent(run_module, api, pg):
    api.storm()
    args = dict(ARGS, protection=True, limit_per_minute=600, clear_queue=True)
    first, _failed = run_module(genesis_rate_limit.main, args)
    second, failed = run_module(genesis_rate_limit.main, args)
    assert first["changed"] is True and not failed and second["changed"] is False and second["steps"] == []
    assert len(pg.events) == 3 and len(api.posts) == 1


def test_audit_trail_down_changes_nothing(run_module, api, pg):
    api.storm()
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, protection=True, clear_queue=True))
    assert failed and result["msg"].startswith("The rate-limit settings were not changed because the audit trail cannot be written")
    assert "dbpa55" not in result["msg"] and api.posts == [] and api.clears == 0


def test_post_error_names_the_step(run_module, api, pg):
    api.storm()
    api.post_error = (400, {"error": "bad_request", "message": "limit_per_minute must be an integer between 1 and 1200."}, {})
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, protection=True))
    assert failed and result["msg"] == ("Step enable_protection failed (done before it: nothing): Control API POST "
                                        "http://127.0.0.1:8080/admin/rate-limits answered HTTP 400 bad_request: "
                                        "limit_per_minute must be an integer between 1 and 1200.")
    assert pg.events == []


def test_api_unreachable(run_module, api):
    api.down = True
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, protection=True, api_retries=0))
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/admin/rate-limits is unreachable: connection refused."


@pytest.mark.parametrize("override, start", [
    (dict(), "Nothing to do: set protection, limit_per_minute or clear_queue."),
    (dict(limit_per_minute=0), "limit_per_minute must be between 1 and 1200"),
    (dict(limit_per_minute=6000), "limit_per_minute must be between 1 and 1200"),
    (dict(protection=True, api_key=""), "api_key (inventory variable genesis_api_key) is not set"),
    (dict(protection=True, db_dsn=""), "db_dsn (inventory variable genesis_db_dsn) is not set"),
])
def test_action_bad_input(run_module, api, pg, override, start):
    api.storm()
    result, failed = run_module(genesis_rate_limit.main, dict(ARGS, **override))
    assert failed and result["msg"].startswith(start), result["msg"]
    assert api.posts == [] and api.clears == 0


def test_iso_helper_round_trips():
    from ansible_collections.genesis.runbook.plugins.module_utils._common import parse_iso
    assert parse_iso(iso(1795800000.25)) == 1795800000.25
