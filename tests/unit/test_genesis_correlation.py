# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_correlation_info, genesis_correlation and module_utils.correlation (runbook scenario 12)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

import fakes_correlation_strategy_config as fakes
import genesis_fakes
from ansible_collections.genesis.runbook.plugins.module_utils import correlation
from ansible_collections.genesis.runbook.plugins.modules import genesis_correlation, genesis_correlation_info

CORRUPT = [[1.0, 1.35, 0.71], [0.82, 1.0, 0.76], [-0.42, 0.76, 1.0]]
NOT_PSD = [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]


@pytest.fixture
def pg(monkeypatch):
    fake = fakes.Pg()
    from ansible_collections.genesis.runbook.plugins.module_utils import db
    monkeypatch.setattr(db.psycopg2, "connect", fake.connect)
    return fake


@pytest.fixture
def home(tmp_path):
    return fakes.make_home(tmp_path)


@pytest.fixture
def klines(http, exchange_fake):
    return fakes.route_klines(http, exchange_fake.base, fakes.correlated_klines())


@pytest.fixture
def args(home, exchange_fake):
    return dict(genesis_home=str(home), db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis", node_name="node1",
                run_id="run-12", scenario="12", exchange_url=exchange_fake.base, symbols=list(fakes.SYMBOLS))


def corrupt(home, pg):
    fakes.write_matrix(home / ".genesis" / "state" / "correlation_matrix.json", CORRUPT)
    pg.set_matrix(fakes.SYMBOLS, CORRUPT)


def live(home):
    return json.loads((home / ".genesis" / "state" / "correlation_matrix.json").read_text())


# -- module_utils ------------------------------------------------------------------------------------------
def test_validate_matrix_reasons():
    doc = {"symbols": list(fakes.SYMBOLS), "matrix": fakes.GOOD}
    assert correlation.validate_matrix(doc)[0] == []
    reasons, dummy = correlation.validate_matrix({"symbols": list(fakes.SYMBOLS), "matrix": CORRUPT})
    assert "BTCUSDT/ETHUSDT = 1.35 is outside [-1, 1]" in reasons
    assert any(r.startswith("asymmetric: BTCUSDT/SOLUSDT") for r in reasons)
    reasons, smallest = correlation.validate_matrix({"symbols": list(fakes.SYMBOLS), "matrix": NOT_PSD})
    assert smallest < 0 and reasons == ["not positive semi-definite (smallest eigenvalue %.6g)" % smallest]
    bad_diagonal = [[0.5, 0.1], [0.1, 1.0]]
    assert correlation.validate_matrix({"symbols": ["A1", "B1"], "matrix": bad_diagonal})[0] == ["diagonal A1 = 0.5 is not 1"]
    assert correlation.validate_matrix({"symbols": ["A1", "B1"], "matrix": [[1.0, "x"], [0.1, 1.0]]})[0] == [
        "A1/B1 is not a finite number"]
    assert correlation.validate_matrix(doc, ["BTCUSDT", "XRPUSDT"])[0][0].startswith("the matrix covers")


def test_matrix_from_closes_needs_enough_history():
    series = dict((s, {1: 1.0, 2: 1.1}) for s in fakes.SYMBOLS)
    with pytest.raises(ValueError, match="only 2 common candles"):
        correlation.matrix_from_closes(series, list(fakes.SYMBOLS), 24)
    flat = dict((s, dict((t, 5.0) for t in range(40))) for s in fakes.SYMBOLS)
    with pytest.raises(ValueError, match="flat prices"):
        correlation.matrix_from_closes(flat, list(fakes.SYMBOLS), 24)


# -- genesis_correlation_info ----------------------------------------------------------------------------------
def test_info_valid(run_module, pg, args):
    result, failed = run_module(genesis_correlation_info.main, args)
    assert not failed and result["changed"] is False and result["valid"] is True and result["reasons"] == []
    assert result["database"]["checked"] is True and len(result["database"]["rows"]) == 6
    assert result["state_file"]["smallest_eigenvalue"] > 0 and "document" not in result["state_file"]
    assert result["calculation_errors"] == {"count": 0, "since": None, "lines": []}


def test_info_detects_corruption_in_file_and_database(run_module, pg, home, args):
    corrupt(home, pg)
    fakes.log(home, [{"timestamp": "2026-11-27T18:00:00.000Z", "level": "error", "event": "Correlation calculation error",
                      "reason": "old"},
                     {"timestamp": "2026-11-27T18:05:00.000Z", "level": "error", "event": "Correlation calculation error",
                      "reason": "new"}])
    result, failed = run_module(genesis_correlation_info.main, dict(args, log_since="2026-11-27T18:01:00Z"), check_mode=True)
    assert not failed and result["valid"] is False
    assert "correlation_matrix.json: BTCUSDT/ETHUSDT = 1.35 is outside [-1, 1]" in result["reasons"]
    assert "position_correlations BTCUSDT/ETHUSDT = 1.35 is outside [-1, 1]" in result["reasons"]
    assert any(r.startswith("position_correlations asymmetric: BTCUSDT/SOLUSDT") for r in result["reasons"])
    assert result["calculation_errors"]["count"] == 1 and result["calculation_errors"]["lines"][0]["reason"] == "new"
    assert result["defaults_file"]["valid"] is True


def test_info_not_psd_and_missing_file(run_module, pg, home, args):
    fakes.write_matrix(home / ".genesis" / "state" / "correlation_matrix.json", NOT_PSD)
    result, failed = run_module(genesis_correlation_info.main, dict(args, check_db=False, db_dsn=""))
    assert not failed and result["valid"] is False and "not positive semi-definite" in result["reasons"][0]
    assert result["database"]["checked"] is False
    (home / ".genesis" / "state" / "correlation_matrix.json").unlink()
    result, failed = run_module(genesis_correlation_info.main, args)
    assert not failed and result["valid"] is False and "cannot be read" in result["reasons"][0]


def test_info_symbols_default_to_the_file(run_module, pg, args):
    result, failed = run_module(genesis_correlation_info.main, dict(args, symbols=None))
    assert not failed and result["symbols"] == list(fakes.SYMBOLS) and result["valid"] is True


def test_info_database_unreachable_hides_password(run_module, pg, args):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_correlation_info.main, args)
    assert failed and result["msg"].startswith("PostgreSQL postgresql://genesis:********@127.0.0.1:5432/genesis is unreachable")
    assert "dbpa55" not in result["msg"]


@pytest.mark.parametrize("override, start", [
    (dict(symbols=["BTC/USDT"]), "symbols holds invalid symbols BTC/USDT"),
    (dict(symbols=[]), "symbols is empty"),
    (dict(log_since="yesterday"), "log_since must be an ISO 8601 time"),
    (dict(log_lines=5000), "log_lines must be between 0 and 1000"),
    (dict(db_dsn=""), "db_dsn (inventory variable genesis_db_dsn) is not set"),
])
def test_info_bad_input(run_module, pg, args, override, start):
    result, failed = run_module(genesis_correlation_info.main, dict(args, **override))
    assert failed and result["msg"].startswith(start), result["msg"]


# -- genesis_correlation ----------------------------------------------------------------------------------------
def test_valid_matrix_changes_nothing(run_module, pg, home, args, klines):
    before = (home / ".genesis" / "state" / "correlation_matrix.json").read_text()
    result, failed = run_module(genesis_correlation.main, args)
    assert not failed and result["changed"] is False and result["source"] is None and klines == []
    assert (home / ".genesis" / "state" / "correlation_matrix.json").read_text() == before and pg.events == []


def test_check_mode_plans_the_rebuild_and_writes_nothing(run_module, pg, home, args, klines):
    corrupt(home, pg)
    before = (home / ".genesis" / "state" / "correlation_matrix.json").read_text()
    db_before = dict(pg.correlations)
    result, failed = run_module(genesis_correlation.main, args, check_mode=True, diff=True)
    assert not failed and result["changed"] is True and result["source"] == "klines"
    assert correlation.validate_matrix(result["matrix"])[0] == []
    assert result["diff"]["before"]["pairs"]["BTCUSDT/ETHUSDT"] == 1.35
    assert (home / ".genesis" / "state" / "correlation_matrix.json").read_text() == before
    assert pg.correlations == db_before and pg.events == [] and result["audit_events"] == []


def test_rebuild_from_klines_writes_file_rows_and_one_audit_event(run_module, pg, home, args, klines):
    corrupt(home, pg)
    (home / ".genesis" / "state" / "correlation_matrix.json").chmod(0o640)
    result, failed = run_module(genesis_correlation.main, args)
    assert not failed and result["changed"] is True and result["source"] == "klines"
    assert result["attempts"] == [{"source": "klines", "ok": True, "reason": None, "points": 167}]
    doc = live(home)
    assert doc["source"] == "klines" and correlation.validate_matrix(doc)[0] == []
    assert oct((home / ".genesis" / "state" / "correlation_matrix.json").stat().st_mode & 0o777) == "0o640"
    rows = [dict(symbol_1=a, symbol_2=b, correlation_coefficient=v) for (a, b), v in pg.correlations.items()]
    assert correlation.validate_rows(rows, list(fakes.SYMBOLS)) == []
    assert pg.correlations[("BTCUSDT", "ETHUSDT")] == doc["matrix"][0][1]
    actions = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "rebuild_correlations"
    assert actions[0]["event_data"]["before"]["database"]["BTCUSDT/ETHUSDT"] == 1.35
    assert actions[0]["event_data"]["scenario"] == "12" and len(result["audit_events"]) == 1
    assert [q["interval"] for q in klines] == ["1h"] * 3 and klines[0]["limit"] == "168"
    again, failed = run_module(genesis_correlation.main, args)
    assert not failed and again["changed"] is False and len(pg.events) == 1


def test_rebuild_falls_back_to_the_defaults(run_module, pg, home, args, http, exchange_fake):
    corrupt(home, pg)
    http.route("GET", exchange_fake.base + "/api/v3/klines", genesis_fakes.refused())
    result, failed = run_module(genesis_correlation.main, dict(args, api_retries=0))
    assert not failed and result["changed"] is True and result["source"] == "defaults"
    assert result["attempts"][0]["ok"] is False and "is unreachable" in result["attempts"][0]["reason"]
    assert live(home)["matrix"] == fakes.GOOD and live(home)["source"] == "defaults"


def test_short_history_falls_back_to_the_defaults(run_module, pg, home, args, http, exchange_fake):
    fakes.route_klines(http, exchange_fake.base, fakes.correlated_klines(count=10))
    corrupt(home, pg)
    result, failed = run_module(genesis_correlation.main, args)
    assert not failed and result["source"] == "defaults" and "common candles" in result["attempts"][0]["reason"]


def test_no_source_gives_a_valid_matrix_changes_nothing(run_module, pg, home, args, http, exchange_fake):
    corrupt(home, pg)
    fakes.write_matrix(home / "config" / "default_correlations.json", NOT_PSD, source="defaults")
    http.route("GET", exchange_fake.base + "/api/v3/klines", genesis_fakes.refused())
    before = (home / ".genesis" / "state" / "correlation_matrix.json").read_text()
    result, failed = run_module(genesis_correlation.main, dict(args, api_retries=0))
    assert failed and result["msg"].startswith("No valid correlation matrix could be built, nothing was changed: klines:")
    assert "defaults:" in result["msg"] and "not positive semi-definite" in result["msg"]
    assert (home / ".genesis" / "state" / "correlation_matrix.json").read_text() == before and pg.events == []


def test_failed_commit_puts_the_old_file_back(run_module, pg, home, args, klines):
    corrupt(home, pg)
    before = (home / ".genesis" / "state" / "correlation_matrix.json").read_text()
    pg.fail_commit = True
    result, failed = run_module(genesis_correlation.main, args)
    assert failed and result["msg"].startswith("The correlation matrix was not rebuilt: PostgreSQL")
    assert (home / ".genesis" / "state" / "correlation_matrix.json").read_text() == before
    assert pg.correlations[("BTCUSDT", "ETHUSDT")] == 1.35 and pg.events_of(event_type="RUNBOOK_ACTION") == []
    assert [p.name for p in (home / ".genesis" / "state").iterdir()] == ["correlation_matrix.json"]


def test_audit_trail_unreachable_changes_nothing(run_module, pg, home, args, klines):
    corrupt(home, pg)
    before = (home / ".genesis" / "state" / "correlation_matrix.json").read_text()
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_correlation.main, dict(args, check_db=False))
    assert failed and result["msg"].startswith("The correlation matrix was not rebuilt because the audit trail cannot be written")
    assert "dbpa55" not in result["msg"]
    assert (home / ".genesis" / "state" / "correlation_matrix.json").read_text() == before


def test_invalid_rows_outside_the_symbols_are_refused(run_module, pg, home, args, klines):
    corrupt(home, pg)
    pg.correlations[("XRPUSDT", "BTCUSDT")] = 2.0
    result, failed = run_module(genesis_correlation.main, args)
    assert failed and result["msg"].startswith("position_correlations has invalid rows outside symbols (position_correlations "
                                               "XRPUSDT/BTCUSDT = 2.0 is outside [-1, 1]), nothing was changed")
    assert pg.events == [] and pg.correlations[("BTCUSDT", "ETHUSDT")] == 1.35


@pytest.mark.parametrize("override, start", [
    (dict(sources=[]), "sources is empty"),
    (dict(sources=["stored"]), "value of sources must be one or more of"),
    (dict(limit=1), "limit must be between 2 and 1000"),
    (dict(min_points=1), "min_points must be at least 2"),
    (dict(limit=20, min_points=24), "min_points (24) must be below limit (20)"),
    (dict(interval=" "), "interval is empty"),
    (dict(exchange_url="ftp://x"), "exchange_url (inventory variable genesis_exchange_url) must be an http"),
])
def test_bad_input(run_module, pg, home, args, override, start):
    corrupt(home, pg)
    result, failed = run_module(genesis_correlation.main, dict(args, **override))
    assert failed and result["msg"].startswith(start), result["msg"]
    assert pg.events == []
