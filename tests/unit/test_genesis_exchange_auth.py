# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_exchange_auth_info and genesis_exchange_auth against the fake exchange, control API and database."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import time

import pytest

import genesis_fakes
from fakes_backup import log_lines, make_home
from ansible_collections.genesis.runbook.plugins.modules import genesis_exchange_auth, genesis_exchange_auth_info

DSN = "postgresql://genesis:dbpa55@127.0.0.1:5432/genesis"
OLD_KEY, OLD_SECRET = "old-k3y-revoked-0001", "old-s3cret-0001"
NEW_KEY, NEW_SECRET = "ex-k3y-0123456789", "ex-s3cret-abcdef"  # what the fake exchange accepts
RELOAD = "http://127.0.0.1:8080/admin/config/reload"


@pytest.fixture
def home(tmp_path):
    return make_home(tmp_path / "node", env_extra=["GENESIS_EXCHANGE_URL=http://exchange.test",
                                                   "GENESIS_EXCHANGE_API_KEY=%s" % OLD_KEY,
                                                   "GENESIS_EXCHANGE_API_SECRET=%s" % OLD_SECRET])


@pytest.fixture
def reload_calls(http, api_fake):
    calls = []

    def reload(request):
        if request.headers.get("X-API-Key") != api_fake.api_key:
            return (401, {"error": "unauthorized", "message": "A valid X-API-Key header is required."}, {})
        calls.append(request)
        return (200, {"changed": True, "version": 7, "files": [".env", "config/node.yaml"]}, {})
    http.route("POST", RELOAD, reload)
    return calls


def args(home, **extra):
    values = dict(genesis_home=home, exchange_url="http://exchange.test", node_name="node1", run_id="run-14", scenario="14")
    values.update(extra)
    return values


def rotate_args(home, **extra):
    values = args(home, api_key="k3y-api-secret", db_dsn=DSN, new_api_key=NEW_KEY, new_api_secret=NEW_SECRET)
    values.update(extra)
    return values


def env_text(home):
    with open(os.path.join(home, ".env")) as handle:
        return handle.read()


def no_secret(result):
    text = json.dumps(result)
    return not any(s in text for s in (OLD_KEY, OLD_SECRET, NEW_KEY, NEW_SECRET, "dbpa55", "k3y-api-secret"))


# ---------------------------------------------------------------------------- genesis_exchange_auth_info
def test_info_healthy_node(run_module, home, exchange_fake):
    exchange_fake.api_key, exchange_fake.secret = OLD_KEY, OLD_SECRET
    result, failed = run_module(genesis_exchange_auth_info.main, args(home))
    assert not failed and result["changed"] is False and result["reachable"]
    assert result["auth"]["ok"] and result["all_ok"] and not result["key_rejected"]
    assert abs(result["drift_ms"]) < 500 and result["clock_offset_ms"] == 0
    assert result["credentials"]["source"] == "env_file" and result["credentials"]["key_id"].startswith("sha256:")
    assert result["rotation_pending"] is False and no_secret(result)


def test_info_revoked_key_names_the_fingerprint_not_the_key(run_module, home, exchange_fake):
    result, failed = run_module(genesis_exchange_auth_info.main, args(home))
    assert not failed and not result["auth"]["ok"] and result["key_rejected"]
    assert result["auth"]["code"] == -2015 and result["auth"]["status"] == 401
    assert result["auth"]["error"] == ("Exchange GET http://exchange.test/api/v3/account rejected the key %s from %s/.env "
                                       "(-2015, HTTP 401)." % (result["credentials"]["key_id"], home))
    assert no_secret(result)


def test_info_clock_ahead_is_drift_and_1021(run_module, home, exchange_fake, tmp_path):
    exchange_fake.api_key, exchange_fake.secret = OLD_KEY, OLD_SECRET
    offset = tmp_path / "clock_offset_ms"
    offset.write_text("2500\n")
    result, failed = run_module(genesis_exchange_auth_info.main, args(home, clock_offset_file=str(offset)))
    assert not failed and result["clock_offset_ms"] == 2500.0 and 2000 < result["drift_ms"] < 3000
    assert result["auth"]["code"] == -1021 and not result["key_rejected"]
    assert "outside the receive window" in result["auth"]["error"]


def test_info_rotation_pending_and_samples_window(run_module, home, exchange_fake, no_sleep):
    exchange_fake.api_key, exchange_fake.secret = OLD_KEY, OLD_SECRET
    result, failed = run_module(genesis_exchange_auth_info.main, args(home, new_api_key=NEW_KEY, samples=3, interval=2))
    assert not failed and result["rotation_pending"] and result["new_key_id"].startswith("sha256:")
    assert len(result["samples"]) == 3 and result["all_ok"] and no_sleep.count(2.0) == 2
    assert no_secret(result)


def test_info_counts_auth_rejections_since(run_module, home, exchange_fake):
    now = time.time()

    def stamp(ago):
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - ago))
    log_lines(home, "trading.log", [
        {"timestamp": stamp(900), "event": "Order rejected", "code": -2015, "http_status": 401},
        {"timestamp": stamp(100), "event": "Order rejected", "code": -2015, "http_status": 401},
        {"timestamp": stamp(90), "event": "Order rejected", "code": -1013, "http_status": 400},
        {"timestamp": stamp(80), "event": "Order filled"},
        {"timestamp": stamp(70), "event": "Order rejected", "code": -1021, "http_status": 400}])
    result, failed = run_module(genesis_exchange_auth_info.main, args(home))
    assert not failed and result["rejections"]["count"] == 2
    assert result["rejections"]["codes"] == {"-2015": 1, "-1021": 1} and result["rejections"]["last_at"] == stamp(70)
    fresh, _failed = run_module(genesis_exchange_auth_info.main, args(home, fresh_window=True))
    assert fresh["rejections"]["count"] == 0


def test_info_unreachable_exchange_is_evidence(run_module, home, exchange_fake):
    exchange_fake.down = True
    result, failed = run_module(genesis_exchange_auth_info.main, args(home, api_retries=0))
    assert not failed and result["reachable"] is False and result["samples"] == []
    assert result["error"] == "Exchange GET http://exchange.test/api/v3/time is unreachable: connection refused."


def test_info_missing_credentials_in_env(run_module, tmp_path, exchange_fake):
    home = make_home(tmp_path / "n2")
    result, failed = run_module(genesis_exchange_auth_info.main, args(home))
    assert not failed and result["key_rejected"] and not result["credentials"]["installed"]
    assert result["auth"]["error"] == "No exchange API key and secret are set in %s/.env, so the node cannot sign." % home


@pytest.mark.parametrize("extra, message", [
    (dict(samples=0), "samples must be between 1 and 30, got 0."),
    (dict(interval=11.0), "interval must be between 0 and 10 seconds, got 11.0."),
    (dict(rejections_since="yesterday"), "rejections_since must be an ISO 8601 timestamp or epoch seconds, got yesterday."),
    (dict(exchange_url=""), "exchange_url (inventory variable genesis_exchange_url) is not set: genesis_exchange_auth_info "
                            "needs it to check authentication at the exchange."),
])
def test_info_bad_input_is_one_sentence(run_module, home, exchange_fake, extra, message):
    result, failed = run_module(genesis_exchange_auth_info.main, args(home, **extra))
    assert failed and result["msg"] == message


def test_info_bad_clock_offset_file(run_module, home, exchange_fake, tmp_path):
    offset = tmp_path / "clock"
    offset.write_text("soon\n")
    result, failed = run_module(genesis_exchange_auth_info.main, args(home, clock_offset_file=str(offset)))
    assert failed and result["msg"] == "clock_offset_file %s does not hold a number of milliseconds (found 'soon')." % offset


def test_info_missing_env_file(run_module, tmp_path, exchange_fake):
    result, failed = run_module(genesis_exchange_auth_info.main, args(str(tmp_path / "nowhere")))
    assert failed and result["msg"] == "The node's environment file %s/.env cannot be read: does not exist." % (tmp_path / "nowhere")


# ---------------------------------------------------------------------------- genesis_exchange_auth
def test_rotate_verifies_backs_up_replaces_reloads_and_audits(run_module, home, exchange_fake, pg, reload_calls):
    before = env_text(home)
    result, failed = run_module(genesis_exchange_auth.main, rotate_args(home), diff=True)
    assert not failed and result["changed"] is True and result["rotated"] is True
    assert result["verification"]["ok"] and result["reload"] == {"changed": True, "version": 7, "files": [".env", "config/node.yaml"]}
    assert len(reload_calls) == 1
    assert env_text(home) == before.replace(OLD_KEY, NEW_KEY).replace(OLD_SECRET, NEW_SECRET)
    assert os.stat(os.path.join(home, ".env")).st_mode & 0o777 == 0o600
    with open(result["backup_path"]) as handle:
        assert handle.read() == before
    assert os.stat(result["backup_path"]).st_mode & 0o777 == 0o600
    actions = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "rotate_exchange_key"
    assert actions[0]["event_data"]["after"]["key_id"] == result["after_key_id"] != result["before_key_id"]
    with open(os.path.join(home, ".genesis", "logs", "audit.log")) as handle:
        audit_log = handle.read()
    assert NEW_KEY not in audit_log and NEW_SECRET not in json.dumps(actions, default=str) + audit_log
    assert no_secret(result) and result["diff"]["after"]["GENESIS_EXCHANGE_API_KEY"].startswith("sha256:")


def test_rotate_check_mode_writes_nothing(run_module, home, exchange_fake, pg, reload_calls):
    before = env_text(home)
    result, failed = run_module(genesis_exchange_auth.main, rotate_args(home), check_mode=True)
    assert not failed and result["changed"] is True and result["backup_path"] is None
    assert env_text(home) == before and reload_calls == [] and pg.connections == []
    assert [n for n in os.listdir(home) if n.startswith(".env.bak")] == []


def test_rotate_is_idempotent(run_module, home, exchange_fake, pg, reload_calls):
    first, _failed = run_module(genesis_exchange_auth.main, rotate_args(home))
    second, failed = run_module(genesis_exchange_auth.main, rotate_args(home))
    assert first["changed"] and not failed and second["changed"] is False and second["rotated"] is False
    assert len(pg.events) == 1 and len(reload_calls) == 1


def test_rotate_refuses_a_rejected_key(run_module, home, exchange_fake, pg, reload_calls):
    before = env_text(home)
    result, failed = run_module(genesis_exchange_auth.main, rotate_args(home, new_api_key="bad-k3y-99999"))
    assert failed and result["msg"] == ("The exchange rejects the key supplied in new_api_key (-2015): it was not installed and "
                                        "nothing was changed.")
    assert env_text(home) == before and pg.events == [] and reload_calls == []


def test_rotate_with_a_skewed_clock(run_module, home, exchange_fake, pg, reload_calls, tmp_path):
    offset = tmp_path / "clock_offset_ms"
    offset.write_text("2500\n")
    before = env_text(home)
    planned, failed = run_module(genesis_exchange_auth.main, rotate_args(home, clock_offset_file=str(offset)), check_mode=True)
    assert not failed and planned["changed"] and planned["verification"]["code"] == -1021
    result, failed = run_module(genesis_exchange_auth.main, rotate_args(home, clock_offset_file=str(offset)))
    assert failed and result["msg"] == ("The new key could not be verified because the node's clock is outside the exchange's "
                                        "receive window (-1021): synchronise the clock first; nothing was changed.")
    assert env_text(home) == before


def test_rotate_database_down_changes_nothing(run_module, home, exchange_fake, pg, reload_calls):
    before = env_text(home)
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_exchange_auth.main, rotate_args(home))
    assert failed and result["msg"].startswith("The exchange key was not rotated because the audit trail cannot be written: PostgreSQL")
    assert env_text(home) == before and reload_calls == [] and "dbpa55" not in result["msg"]


def test_rotate_reload_failure_says_what_was_done(run_module, home, exchange_fake, pg, http):
    http.route("POST", RELOAD, (422, {"error": "invalid_config", "message": "The configuration on disk is invalid (1 error(s))."}, {}))
    result, failed = run_module(genesis_exchange_auth.main, rotate_args(home))
    assert failed and result["msg"].startswith("The exchange key was rotated in %s/.env (previous file saved as %s/.env.bak-"
                                               % (home, home))
    assert "but genesis did not reload it: Control API POST http://127.0.0.1:8080/admin/config/reload answered HTTP 422" in result["msg"]
    assert NEW_KEY in env_text(home) and len(pg.events) == 1 and no_secret(result)


def test_rotate_unreachable_exchange_changes_nothing(run_module, home, exchange_fake, pg):
    exchange_fake.down = True
    before = env_text(home)
    result, failed = run_module(genesis_exchange_auth.main, rotate_args(home, api_retries=0))
    assert failed and result["msg"] == ("The new key could not be verified because Exchange GET "
                                        "http://exchange.test/api/v3/account is unreachable: connection refused; nothing was changed.")
    assert env_text(home) == before


@pytest.mark.parametrize("extra, message", [
    (dict(new_api_key=" "), "new_api_key and new_api_secret must both be set (from a vault) to rotate the exchange key; "
                            "nothing was changed."),
    (dict(new_api_secret="has space"), "new_api_key and new_api_secret must not contain spaces, quotes or #; nothing was changed."),
    (dict(backup_dir="/nonexistent/dir"), "backup_dir /nonexistent/dir is not a folder; nothing was changed."),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set: genesis_exchange_auth needs it to ask "
                       "genesis to reload the rotated key."),
])
def test_rotate_bad_input_is_one_sentence(run_module, home, exchange_fake, pg, extra, message):
    before = env_text(home)
    result, failed = run_module(genesis_exchange_auth.main, rotate_args(home, **extra))
    assert failed and result["msg"] == message and env_text(home) == before
