# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The triage sweep: each check against canned surfaces, inconclusive surfaces, the decision tree, bad input."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json

import pytest

from ansible_collections.genesis.runbook.plugins.module_utils import triage
from ansible_collections.genesis.runbook.plugins.modules import genesis_triage_info

NOW = 1795800000.0


class Canned(triage.Surfaces):
    """Surfaces whose readers answer from a dict; a value that is an exception is raised as Inconclusive."""

    def __init__(self, data, home="/nonexistent", params=None):
        triage.Surfaces.__init__(self, gm=None, params=dict(params or {}, genesis_home=home), clock=lambda: NOW)
        self.data = data
        self.calls = []

    def _answer(self, key):
        self.calls.append(key)
        value = self.data.get(key)
        if isinstance(value, Exception):
            raise triage.Inconclusive(str(value))
        if value is None:
            raise triage.Inconclusive("%s not canned" % key)
        return value

    def health(self):
        return self._answer("health")

    def get(self, path):
        return self._answer("GET " + path)

    def programs(self):
        return self._answer("programs")

    def db(self):
        return self._answer("db")

    def query(self, key, sql, args=None, what="query"):
        return self._answer("sql " + key)


def params(**over):
    p = dict(triage.DEFAULTS)
    p.update(over)
    return p


def program(name, state="RUNNING", pid=100):
    return dict(name=name, group="genesis", ctl_name=name if name == "genesis" else "genesis:" + name, statename=state, pid=pid)


HEALTHY = {
    "health": dict(status_code=200, body=dict(status="healthy", heartbeat=dict(age_s=1.0), components=dict(database="up")),
                   elapsed_ms=12.0),
    "programs": [program("genesis"), program("executor"), program("market_data"), program("strategies")],
    "db": object(),
    "sql stuck": [dict(n=0, oldest=None)],
    "GET /admin/circuit-breakers": dict(breakers=dict(orders=dict(state="closed"), api=dict(state="closed"))),
    "GET /tilt/status": dict(score=12.0, level="NORMAL"),
    "GET /config/tier": dict(tier="HUNTER", effective_max_position_size=500),
    "GET /positions": dict(positions=[dict(position_id="p1", symbol="BTCUSDT", dollar_value="120.5")]),
    "GET /admin/cluster": dict(role="primary", term=3, fenced=False, split_brain=False,
                               peers=dict(node2=dict(reachable=True, role="standby", fenced=False))),
    "sql gaps": [],
}


def run(number, data, **over):
    return triage.run_check(number, Canned(data), params(**over))


def test_healthy_node_detects_nothing_and_walks_to_specific_symptoms():
    checks = dict((n, run(n, HEALTHY)) for n in (1, 2, 4, 6, 8, 11, 18))
    assert all(c["detected"] is False and c["error"] is None for c in checks.values()), checks
    checks[3] = dict(detected=False)
    tree = triage.walk_tree(checks)
    assert tree["branch"] is None and tree["path"][-1] == "specific symptoms"


def test_outage_from_health_heartbeat_and_program_state():
    data = dict(HEALTHY, health=dict(status_code=503, body=dict(status="unhealthy", heartbeat=dict(age_s=75.2)), elapsed_ms=3),
                programs=[program("genesis", "STOPPED", None), program("executor")])
    result = run(1, data)
    assert result["detected"] is True
    assert "GET /health answered 503 (unhealthy)" in result["reasons"]
    assert "the last heartbeat is 75.2 s old (max 60 s)" in result["reasons"]
    assert "genesis programs not RUNNING: genesis (STOPPED)" in result["reasons"]


def test_outage_when_the_api_does_not_answer_but_supervisor_does():
    data = dict(HEALTHY, health=RuntimeError("control API http://127.0.0.1:8080/health is unreachable: connection refused"))
    result = run(1, data)
    assert result["detected"] is True and result["error"] is None
    assert result["reasons"][0].startswith("the control API does not answer: control API")


def test_outage_inconclusive_when_neither_api_nor_supervisor_answers():
    data = dict(HEALTHY, health=RuntimeError("api down"), programs=RuntimeError("supervisord socket /x is unreachable"))
    result = run(1, data)
    assert result["detected"] is None and "supervisord socket /x is unreachable" in result["error"]


def test_execution_counts_stuck_orders_and_open_breakers():
    data = dict(HEALTHY, **{"sql stuck": [dict(n=4, oldest=datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.timezone.utc))],
                            "GET /admin/circuit-breakers": dict(breakers=dict(orders=dict(state="open"), api=dict(state="open")))})
    result = run(2, data)
    assert result["reasons"] == ["4 orders PENDING longer than 30 s", "circuit breaker orders is open"]
    assert result["evidence"]["oldest_pending"] == "2026-11-28T01:00:00.000Z"
    # only the breakers named in the thresholds count
    assert run(2, data, breakers=["api"])["reasons"][-1] == "circuit breaker api is open"


def test_inconclusive_surface_spoils_only_its_checks():
    surfaces = Canned(dict(HEALTHY, db=RuntimeError("PostgreSQL genesis:********@127.0.0.1:5432/genesis is unreachable")))
    surfaces.data["sql stuck"] = RuntimeError("PostgreSQL genesis:********@127.0.0.1:5432/genesis is unreachable")
    p = params(db_dsn="postgresql://genesis:secret@127.0.0.1/genesis")
    execution = triage.run_check(2, surfaces, p)
    database = triage.run_check(4, surfaces, p)
    tilt = triage.run_check(6, surfaces, p)
    assert execution["detected"] is None and "unreachable" in execution["error"]
    assert database["detected"] is True and "unreachable" in database["reasons"][0]
    assert tilt["detected"] is False


def test_database_not_configured_is_inconclusive_not_a_fault():
    result = run(4, dict(HEALTHY, db=RuntimeError("db_dsn is not set, so the database was not checked")))
    assert result["detected"] is None and "db_dsn is not set" in result["error"]


def test_tilt_threshold_is_strictly_above():
    assert run(6, dict(HEALTHY, **{"GET /tilt/status": dict(score=70, level="LEVEL2")}))["detected"] is False
    result = run(6, dict(HEALTHY, **{"GET /tilt/status": dict(score=85.5, level="LEVEL3")}))
    assert result["reasons"] == ["tilt score 85.5 is above 70 (level LEVEL3)"]


def test_position_over_the_effective_tier_limit():
    data = dict(HEALTHY, **{"GET /positions": dict(positions=[dict(position_id="p9", symbol="ETHUSDT", dollar_value="812.00")])})
    result = run(8, data)
    assert result["reasons"] == ["position p9 ETHUSDT is 812.00 USDT, above the HUNTER limit of 500.0 USDT"]
    assert result["evidence"]["over_limit"] == ["p9"]


def test_partition_split_brain_and_two_primaries():
    doc = dict(role="primary", term=5, fenced=False, split_brain=True,
               peers=dict(node2=dict(reachable=True, role="primary", fenced=False), node3=dict(reachable=False)))
    result = run(11, dict(HEALTHY, **{"GET /admin/cluster": doc}))
    assert result["reasons"] == ["the node reports split brain (role primary, term 5)",
                                 "this node and node2 both claim primary", "peers unreachable: node3"]


def test_audit_gaps_listed_per_aggregate():
    rows = [dict(aggregate_id="order:o1", sequence_number=2), dict(aggregate_id="order:o1", sequence_number=3)]
    result = run(18, dict(HEALTHY, **{"sql gaps": rows}))
    assert result["reasons"] == ["order:o1 misses sequence numbers 2, 3"]


def test_config_drift_against_config_backup(tmp_path):
    home = tmp_path
    (home / "config").mkdir()
    (home / "config.backup").mkdir()
    (home / "config" / "trading_rules.yaml").write_text("version: 7\nmax_leverage: 50\n")
    (home / "config.backup" / "trading_rules.yaml").write_text("version: 7\nmax_leverage: 3\n")
    (home / "config" / "tier_gates.yaml").write_text("version: 7\n")
    (home / "config.backup" / "tier_gates.yaml").write_text("version: 7\n")
    surfaces = Canned(dict(HEALTHY, **{"GET /admin/config/validate": dict(valid=False, errors=["max_leverage 50 is outside 1..10"])}),
                      home=str(home))
    result = triage.run_check(19, surfaces, params())
    assert result["reasons"] == ["trading_rules.yaml differs from config.backup/", "validation: max_leverage 50 is outside 1..10"]


def test_correlation_matrix_out_of_range(tmp_path):
    state = tmp_path / ".genesis" / "state"
    state.mkdir(parents=True)
    (state / "correlation_matrix.json").write_text(json.dumps(
        dict(symbols=["BTCUSDT", "ETHUSDT"], matrix=[[1.0, 1.4], [1.4, 1.0]], calculated_at="2026-11-28T00:00:00Z")))
    result = triage.run_check(12, Canned(HEALTHY, home=str(tmp_path)), params())
    assert result["detected"] is True and any("outside [-1, 1]" in r for r in result["reasons"])


def _certificate(path, days):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"node1.genesis.lab")])
    now = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_certificate_days_left_against_the_renewal_threshold(tmp_path):
    cert = tmp_path / "cert.pem"
    _certificate(cert, 5)
    result = triage.run_check(9, Canned(HEALTHY), params(cert_path=str(cert)))
    assert result["detected"] is True and result["evidence"]["days_left"] == 5.0
    assert "expires in 5.0 days (renew below 30 days; critical below 7)" in result["reasons"][0]
    _certificate(cert, 60)
    assert triage.run_check(9, Canned(HEALTHY), params(cert_path=str(cert)))["detected"] is False


def test_certificate_path_from_node_yaml(tmp_path):
    (tmp_path / "config").mkdir()
    cert = tmp_path / "cert.pem"
    _certificate(cert, 90)
    (tmp_path / "config" / "node.yaml").write_text("version: 7\ncert_path: %s\n" % cert)
    result = triage.run_check(9, Canned(HEALTHY, home=str(tmp_path)), params())
    assert result["detected"] is False and result["evidence"]["path"] == str(cert)


def test_unexpected_error_is_inconclusive_with_a_sentence():
    class Broken(Canned):
        def get(self, path):
            raise ZeroDivisionError("division by zero")
    result = triage.run_check(6, Broken(HEALTHY), params())
    assert result["detected"] is None and result["error"] == "the check failed unexpectedly: division by zero"


@pytest.mark.parametrize("checks, branch, path_end", [
    ({1: dict(detected=True), 2: dict(detected=True)}, 1, "accepting trades? no"),
    ({1: dict(detected=False), 2: dict(detected=True), 3: dict(detected=True)}, 2, "executing? no"),
    ({1: dict(detected=False), 2: dict(detected=False), 3: dict(detected=True)}, 3, "market data active? no"),
    ({1: dict(detected=None), 2: dict(detected=False), 3: dict(detected=False)}, None, "specific symptoms"),
])
def test_decision_tree_branches(checks, branch, path_end):
    tree = triage.walk_tree(checks)
    assert tree["branch"] == branch and tree["path"][-1] == path_end


def test_surface_is_read_once_and_shared():
    surfaces = triage.Surfaces(gm=None, params=dict(genesis_home="/x"))
    counter = []
    assert surfaces._once("k", lambda: counter.append(1) or "v") == "v"
    assert surfaces._once("k", lambda: counter.append(1) or "w") == "v"
    assert counter == [1]


@pytest.mark.parametrize("args, message", [
    (dict(scenarios=[0, 21]), "scenarios must list runbook scenario numbers between 1 and 20, got [0, 21]."),
    (dict(thresholds=dict(tilt=70)), "thresholds has unknown names tilt: expected some of"),
    (dict(thresholds=dict(tilt_score="high")), "thresholds.tilt_score must be a number, got 'high'."),
    (dict(thresholds=dict(breakers="orders")), "thresholds.breakers must be a list of circuit-breaker names"),
    (dict(memory_budget_mb=0), "memory_budget_mb must be greater than 0, got 0.0."),
])
def test_bad_input_one_sentence(run_module, args, message):
    result, failed = run_module(genesis_triage_info.main, dict(args, api_url="http://127.0.0.1:1", node_name="node1"))
    assert failed and message in result["msg"]


def test_module_sweeps_in_scenario_order_with_unreachable_surfaces(run_module, tmp_path):
    result, failed = run_module(genesis_triage_info.main, dict(
        api_url="http://127.0.0.1:9", api_key="secret-key", api_retries=0, api_timeout=1, node_name="node1",
        genesis_home=str(tmp_path), scenarios=[6, 1, 12], supervisor_socket=str(tmp_path / "none.sock")))
    assert not failed and result["changed"] is False
    assert [c["scenario"] for c in result["checks"]] == [1, 6, 12]
    assert result["checks"][1]["detected"] is None and "127.0.0.1:9" in result["checks"][1]["error"]
    assert "secret-key" not in json.dumps(result)
    assert result["tree"]["branch"] is None and result["inconclusive"] == [1, 6]
    assert 12 in result["detected"]  # no correlation matrix file at all is a fault
