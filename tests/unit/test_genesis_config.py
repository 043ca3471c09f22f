# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_config_info and genesis_config (runbook scenario 19)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

import fakes_correlation_strategy_config as fakes
import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import genesis_config, genesis_config_info


@pytest.fixture
def pg(monkeypatch):
    fake = fakes.Pg()
    from ansible_collections.genesis.runbook.plugins.module_utils import db
    monkeypatch.setattr(db.psycopg2, "connect", fake.connect)
    return fake


@pytest.fixture
def home(tmp_path):
    home = fakes.make_home(tmp_path)
    fakes.make_config(home)
    return home


@pytest.fixture
def config_api(api_fake, home):
    return fakes.ConfigApi(api_fake, home)


@pytest.fixture
def args(home):
    return dict(genesis_home=str(home), api_key="k3y-api-secret", db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis",
                node_name="node1", run_id="run-19", scenario="19")


def drift(home):
    rules = home / "config" / "trading_rules.yaml"
    rules.write_text(rules.read_text().replace("max_leverage: 3", "max_leverage: 50"))
    node = home / "config" / "node.yaml"
    node.write_text(node.read_text().replace("heartbeat_interval: 5", "heartbeat_interval: 30"))


def snapshot(home):
    return dict((p.name, p.read_bytes()) for p in sorted((home / "config").iterdir()))


# -- genesis_config_info -----------------------------------------------------------------------------------
def test_info_no_drift(run_module, config_api, args):
    result, failed = run_module(genesis_config_info.main, args)
    assert not failed and result["changed"] is False and result["drifted"] == [] and result["validation"]["valid"] is True
    assert result["files"]["node.yaml"]["status"] == "same" and result["files"]["node.yaml"]["live_version"] == 7


def test_info_diffs_and_validates(run_module, config_api, home, args):
    drift(home)
    (home / "config" / "local_override.yaml").write_text("x: 1\n")
    (home / "config.backup" / "emergency_thresholds.yaml").write_text("version: 1\nprice_move_percent: 10\n")
    result, failed = run_module(genesis_config_info.main, dict(args, diff_lines=50), check_mode=True)
    assert not failed
    assert result["drifted"] == ["emergency_thresholds.yaml", "node.yaml", "trading_rules.yaml"]
    assert result["extra"] == ["default_correlations.json", "local_override.yaml"] and result["version_conflicts"] == []
    assert result["files"]["emergency_thresholds.yaml"]["status"] == "missing"
    diff = result["files"]["trading_rules.yaml"]["diff"]
    assert "-max_leverage: 3" in diff and "+max_leverage: 50" in diff and diff.startswith("--- config.backup/trading_rules.yaml")
    assert result["validation"] == {"valid": False, "errors": ["trading_rules.yaml: max_leverage 50 is outside 1..10"],
                                    "version": 7}


def test_info_version_conflict_and_parse_errors(run_module, config_api, home, args):
    (home / "config" / "node.yaml").write_text(fakes.CONFIG_FILES["node.yaml"].replace("version: 7", "version: 8"))
    (home / "config" / "tier_gates.yaml").write_text("version: 1\ntiers: [unclosed\n")
    result, failed = run_module(genesis_config_info.main, dict(args, validate=False))
    assert not failed and result["validation"] is None
    assert result["version_conflicts"] == ["node.yaml"]
    assert result["parse_errors"] == ["tier_gates.yaml: YAML syntax error at line 3"]


@pytest.mark.parametrize("override, start", [
    (dict(config_dir="/nonexistent/config"), "config_dir /nonexistent/config is not a folder on this node."),
    (dict(diff_lines=0), "diff_lines must be between 1 and 10000"),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set"),
])
def test_info_bad_input(run_module, config_api, args, override, start):
    result, failed = run_module(genesis_config_info.main, dict(args, **override))
    assert failed and result["msg"].startswith(start), result["msg"]


def test_info_api_unreachable(run_module, config_api, api_fake, args):
    api_fake.down = True
    result, failed = run_module(genesis_config_info.main, dict(args, api_retries=0))
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/admin/config/validate is unreachable: connection refused."


# -- genesis_config state=restored ---------------------------------------------------------------------------
def test_restore_saves_aside_restores_and_audits(run_module, config_api, pg, home, args):
    drift(home)
    (home / "config" / "local_override.yaml").write_text("x: 1\n")
    drifted = snapshot(home)
    result, failed = run_module(genesis_config.main, args, diff=True)
    assert not failed and result["changed"] is True and result["restored"] == ["node.yaml", "trading_rules.yaml"]
    for name in ("node.yaml", "trading_rules.yaml"):
        assert (home / "config" / name).read_bytes() == (home / "config.backup" / name).read_bytes()
        assert oct((home / "config" / name).stat().st_mode & 0o777) == "0o640"
    assert (home / "config" / "local_override.yaml").exists()
    saved = home / "config.drift"
    folders = list(saved.iterdir())
    assert len(folders) == 1 and result["saved_to"] == str(folders[0])
    assert sorted(p.name for p in folders[0].iterdir()) == ["node.yaml", "trading_rules.yaml"]
    assert (folders[0] / "trading_rules.yaml").read_bytes() == drifted["trading_rules.yaml"]
    actions = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "restore_config"
    assert actions[0]["event_data"]["details"]["saved_to"] == result["saved_to"]
    assert "+max_leverage: 50" in actions[0]["event_data"]["details"]["diff"]["trading_rules.yaml"]
    assert result["diff"][1]["prepared"].startswith("--- config.backup/trading_rules.yaml")
    again, failed = run_module(genesis_config.main, args)
    assert not failed and again["changed"] is False and len(pg.events) == 1 and len(list(saved.iterdir())) == 1


def test_restore_check_mode_touches_nothing(run_module, config_api, pg, home, args):
    drift(home)
    before = snapshot(home)
    result, failed = run_module(genesis_config.main, args, check_mode=True)
    assert not failed and result["changed"] is True and result["restored"] == ["node.yaml", "trading_rules.yaml"]
    assert snapshot(home) == before and not (home / "config.drift").exists() and pg.events == [] and pg.connections == []


def test_restore_puts_a_missing_file_back(run_module, config_api, pg, home, args):
    (home / "config" / "tier_gates.yaml").unlink()
    result, failed = run_module(genesis_config.main, args)
    assert not failed and result["restored"] == ["tier_gates.yaml"] and result["saved_to"] is None
    assert (home / "config" / "tier_gates.yaml").read_text() == fakes.CONFIG_FILES["tier_gates.yaml"]


def test_restore_only_named_files(run_module, config_api, pg, home, args):
    drift(home)
    result, failed = run_module(genesis_config.main, dict(args, files=["trading_rules.yaml"]))
    assert not failed and result["restored"] == ["trading_rules.yaml"]
    assert "heartbeat_interval: 30" in (home / "config" / "node.yaml").read_text()


def test_restore_refuses_a_version_rollback(run_module, config_api, pg, home, args):
    drift(home)
    node = home / "config" / "node.yaml"
    node.write_text(node.read_text().replace("version: 7", "version: 8"))
    before = snapshot(home)
    result, failed = run_module(genesis_config.main, args)
    assert failed and result["msg"].startswith("Version conflict, nothing was restored: node.yaml in ")
    assert "node.yaml version 8 > 7" in result["msg"] and "allow_version_rollback" in result["msg"]
    assert snapshot(home) == before and pg.events == []
    result, failed = run_module(genesis_config.main, dict(args, allow_version_rollback=True))
    assert not failed and result["restored"] == ["node.yaml", "trading_rules.yaml"]


def test_restore_refuses_a_broken_known_good_copy(run_module, config_api, pg, home, args):
    drift(home)
    (home / "config.backup" / "trading_rules.yaml").write_text("version: 1\nmax_leverage: [3\n")
    before = snapshot(home)
    result, failed = run_module(genesis_config.main, args)
    assert failed and result["msg"] == ("The known-good copy does not parse, nothing was restored: "
                                        "trading_rules.yaml: YAML syntax error at line 3.")
    assert snapshot(home) == before


def test_restore_audit_trail_unreachable_changes_nothing(run_module, config_api, pg, home, args):
    drift(home)
    before = snapshot(home)
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_config.main, args)
    assert failed and result["msg"].startswith("The configuration was not restored because the audit trail cannot be written")
    assert snapshot(home) == before and not (home / "config.drift").exists() and "dbpa55" not in result["msg"]


@pytest.mark.parametrize("override, start", [
    (dict(files=["nope.yaml"]), "files holds nope.yaml, which has no known-good copy in "),
    (dict(known_good_dir="/nonexistent"), "known_good_dir /nonexistent is not a folder on this node."),
    (dict(state="synced"), "value of state must be one of"),
])
def test_restore_bad_input(run_module, config_api, pg, home, args, override, start):
    drift(home)
    result, failed = run_module(genesis_config.main, dict(args, **override))
    assert failed and result["msg"].startswith(start), result["msg"]
    assert pg.events == []


# -- genesis_config state=reloaded ----------------------------------------------------------------------------
def test_reload_applies_and_audits(run_module, config_api, pg, home, args):
    (home / "config" / "node.yaml").write_text(fakes.CONFIG_FILES["node.yaml"].replace("heartbeat_interval: 5", "heartbeat_interval: 6"))
    result, failed = run_module(genesis_config.main, dict(args, state="reloaded"))
    assert not failed and result["changed"] is True and result["version"] == 7 and config_api.reloads == 1
    actions = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "reload_config"
    again, failed = run_module(genesis_config.main, dict(args, state="reloaded"))
    assert not failed and again["changed"] is False and len(pg.events) == 1


def test_reload_check_mode_posts_nothing(run_module, config_api, pg, args, http):
    result, failed = run_module(genesis_config.main, dict(args, state="reloaded"), check_mode=True)
    assert not failed and result["changed"] is True and http.calls_to("/admin/config/reload") == [] and pg.connections == []


def test_reload_refused_by_the_node(run_module, config_api, pg, home, args):
    drift(home)
    result, failed = run_module(genesis_config.main, dict(args, state="reloaded"))
    assert failed and result["msg"] == ("The node refused to reload its configuration and keeps the running one: "
                                        "trading_rules.yaml: max_leverage 50 is outside 1..10.")
    assert pg.events == [] and config_api.reloads == 0


def test_reload_api_unreachable(run_module, config_api, api_fake, pg, args):
    api_fake.down = True
    result, failed = run_module(genesis_config.main, dict(args, state="reloaded", api_retries=0))
    assert failed and result["msg"] == "Control API POST http://127.0.0.1:8080/admin/config/reload is unreachable: connection refused."
    assert pg.events == []
