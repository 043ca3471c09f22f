"""Fixtures shared by every scenario's verifier: the running lab, the baseline, the reports."""
import glob
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

from genesis_lab.labspec import Lab  # noqa: E402


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail("environment variable %s is not set: run the verifier through molecule" % name)
    return value


@pytest.fixture(scope="session")
def lab():
    return Lab.load(name=_env("GENESIS_LAB_NAME"))


@pytest.fixture(scope="session")
def node1(lab):
    return lab.node("node1")


@pytest.fixture(scope="session")
def node2(lab):
    return lab.node("node2")


@pytest.fixture(scope="session")
def baseline():
    with open(os.path.join(_env("MOLECULE_EPHEMERAL_DIRECTORY"), "baseline.json")) as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def scenario():
    return int(_env("GENESIS_SCENARIO"))


@pytest.fixture(scope="session")
def converge_report(scenario):
    """The report of the run that found and fixed the fault (converge, not idempotence)."""
    folder = os.path.join(_env("MOLECULE_EPHEMERAL_DIRECTORY"), "reports", "converge", "node1")
    reports = []
    for path in sorted(glob.glob(os.path.join(folder, "scenario_%02d-*.json" % scenario))):
        with open(path) as handle:
            reports.append(json.load(handle))
    acted = [r for r in reports if r.get("detected") and not r.get("check_mode")]
    assert acted, "no converge report for node1 detected the fault (reports: %d)" % len(reports)
    return acted[0]


@pytest.fixture(scope="session")
def idempotence_report(scenario):
    path = os.path.join(_env("MOLECULE_EPHEMERAL_DIRECTORY"), "reports", "converge", "node1",
                        "scenario_%02d.json" % scenario)
    with open(path) as handle:
        return json.load(handle)


@pytest.fixture
def db_query():
    """Run one read-only query on a node and return all rows."""
    def run(node, sql, params=None):
        conn = node.db()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params or ())
                return cur.fetchall()
        finally:
            conn.close()
    return run


@pytest.fixture
def api_get():
    """GET a control-API path on a node from the controller, with the node's key."""
    import requests

    def get(node, path, timeout=5):
        return requests.get(node.api_url + path, headers={"X-API-Key": node.api_key}, timeout=timeout)
    return get
