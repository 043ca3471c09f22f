"""Unit tests of the pure pieces of the node programs (no services needed)."""
from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[1]
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))

from genesis_lab.node import breaker as brk  # noqa: E402
from genesis_lab.node import config as cfg  # noqa: E402
from genesis_lab.node import strategy_state as sst  # noqa: E402
from genesis_lab.node.cluster import ClusterMember  # noqa: E402
from genesis_lab.node.common import JsonLog, iso, parse_time, read_env_file  # noqa: E402
from genesis_lab.node.correlation import check_db_rows, jacobi_eigenvalues, validate_matrix  # noqa: E402
from genesis_lab.node.exchange_client import (ExchangeResponse, fill_price, request_weight, sign,  # noqa: E402
                                              signed_query)
from genesis_lab.node.listener import Listener, parse_header, parse_payload, should_fire  # noqa: E402
from genesis_lab.node.orders import classify, fmt_qty, round_qty  # noqa: E402
from genesis_lab.node.ratelimit import parse_config, window_check  # noqa: E402

# ---------------------------------------------------------------------------- signing


def test_sign_matches_binance_documentation_example():
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    query = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
             "&recvWindow=5000&timestamp=1499827319559")
    assert sign(query, secret) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_signed_query_appends_recv_window_timestamp_and_signature():
    q = signed_query({"symbol": "BTCUSDT", "side": "BUY", "skip": None}, "s3cret", 1700000000123)
    body, sig = q.rsplit("&signature=", 1)
    assert body == "symbol=BTCUSDT&side=BUY&recvWindow=5000&timestamp=1700000000123"
    assert sig == sign(body, "s3cret")


@pytest.mark.parametrize("method,path,params,weight", [
    ("GET", "/api/v3/depth", {"limit": 20}, 5), ("GET", "/api/v3/depth", {"limit": 500}, 25),
    ("GET", "/api/v3/depth", {"limit": 1000}, 50), ("GET", "/api/v3/depth", {"limit": 5000}, 250),
    ("GET", "/api/v3/ticker/price", {}, 4), ("GET", "/api/v3/ticker/price", {"symbol": "BTCUSDT"}, 2),
    ("GET", "/api/v3/account", {}, 20), ("POST", "/api/v3/order", {}, 1), ("GET", "/api/v3/order", {}, 4),
    ("GET", "/api/v3/openOrders", {}, 6), ("GET", "/api/v3/ping", {}, 1), ("GET", "/api/v3/exchangeInfo", {}, 20),
])
def test_request_weights(method, path, params, weight):
    assert request_weight(method, path, params) == weight


def test_fill_price_and_classification():
    data = {"status": "FILLED", "executedQty": "0.002", "cummulativeQuoteQty": "128.0",
            "fills": [{"price": "64000", "qty": "0.001"}, {"price": "64010", "qty": "0.001"}]}
    assert fill_price(data) == pytest.approx(64005.0)
    assert fill_price({"executedQty": "2", "cummulativeQuoteQty": "300"}) == 150.0
    assert classify(ExchangeResponse(200, data)) == "FILLED"
    assert classify(ExchangeResponse(400, {"code": -1013, "msg": "Invalid quantity."})) == "REJECTED"
    assert classify(ExchangeResponse(401, {"code": -2015, "msg": "Invalid API-key"})) == "REJECTED"
    assert classify(ExchangeResponse(429, {"code": -1003}, {"retry-after": "7"})) == "RATE_LIMITED"
    assert classify(ExchangeResponse(0, error="refused")) == "UNREACHABLE"
    assert classify(ExchangeResponse(503, {})) == "FAILED"
    r = ExchangeResponse(429, {"code": -1003, "msg": "x"}, {"retry-after": "7", "x-mbx-used-weight-1m": "1250"})
    assert r.retry_after == 7.0 and r.used_weight == 1250 and r.describe() == "-1003: x"


def test_quantity_rounding_follows_lot_sizes():
    assert str(round_qty("BTCUSDT", 20 / 64000)) == "0.00031"
    assert round_qty("SOLUSDT", 0.1337) == round_qty("SOLUSDT", "0.133")
    assert fmt_qty("10.000") == "10" and fmt_qty("0.00031000") == "0.00031"


# ---------------------------------------------------------------------------- config validation

GOOD = {
    "trading_rules.yaml": {"max_leverage": 3, "max_open_positions": 10, "stop_loss_percent": 2.0,
                           "take_profit_percent": 4.0, "max_daily_loss_percent": 5},
    "tier_gates.yaml": {"tiers": {"SNIPER": {"max_position_size": 100}, "HUNTER": {"max_position_size": 500},
                                  "STRATEGIST": {"max_position_size": 2000},
                                  "ARCHITECT": {"max_position_size": 10000}}},
    "emergency_thresholds.yaml": {"price_move_percent": 10, "price_move_window_seconds": 60,
                                  "override_phrase": "OVERRIDE EMERGENCY HALT"},
    "node.yaml": {"version": 7, "node": "node1", "cluster": "glab", "priority": 1,
                  "api": {"host": "0.0.0.0", "port": 8080, "tls_port": 8443}, "heartbeat_interval": 5,
                  "memory_budget_mb": 400, "symbols": ["BTCUSDT"], "peers": [], "lease_ttl": 6},
}


def write_config(d: Path, docs: dict) -> None:
    import yaml
    d.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (d / name).write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)


def test_valid_config_has_no_errors(tmp_path):
    write_config(tmp_path, GOOD)
    assert cfg.validate_config_dir(tmp_path) == ([], 7)


def test_config_errors_name_file_key_and_range(tmp_path):
    docs = json.loads(json.dumps(GOOD))
    docs["trading_rules.yaml"]["max_leverage"] = 50
    del docs["trading_rules.yaml"]["stop_loss_percent"]
    docs["tier_gates.yaml"]["tiers"]["HUNTER"]["max_position_size"] = 50000
    docs["node.yaml"]["api"]["port"] = 0
    write_config(tmp_path, docs)
    errors, version = cfg.validate_config_dir(tmp_path)
    assert version == 7
    assert "trading_rules.yaml: max_leverage 50 is outside 1..10" in errors
    assert "trading_rules.yaml: required key stop_loss_percent is missing" in errors
    assert "tier_gates.yaml: HUNTER max_position_size 50000 is outside 1..500" in errors
    assert any(e.startswith("node.yaml: api.port") for e in errors)


def test_config_yaml_syntax_error_and_missing_file(tmp_path):
    write_config(tmp_path, GOOD)
    (tmp_path / "emergency_thresholds.yaml").write_text("price_move_percent: [1, 2\n")
    (tmp_path / "tier_gates.yaml").unlink()
    errors, _ = cfg.validate_config_dir(tmp_path)
    assert any(e.startswith("emergency_thresholds.yaml: YAML syntax error") for e in errors)
    assert "tier_gates.yaml: file is missing" in errors


def test_tier_gates_shapes_and_order():
    assert cfg.tier_limits({"SNIPER": 50, "HUNTER": {"max_position_size": 400}})["HUNTER"] == 400.0
    assert cfg.tier_limits(None) == cfg.DEFAULT_TIERS
    errs = cfg.validate_tier_gates({"tiers": {"SNIPER": 100, "HUNTER": 90, "STRATEGIST": 2000, "ARCHITECT": "x"}})
    assert any("HUNTER max_position_size 90 is not above" in e for e in errs)
    assert any("ARCHITECT max_position_size 'x' is not a number" in e for e in errs)


def test_env_file_parsing(tmp_path):
    p = tmp_path / ".env"
    p.write_text("# c\nGENESIS_NODE=node1\nexport GENESIS_API_KEY='k=ey'\n\nBROKEN\nX=\"q\"\n")
    assert read_env_file(p) == {"GENESIS_NODE": "node1", "GENESIS_API_KEY": "k=ey", "X": "q"}


def test_time_helpers():
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert parse_time("1970-01-01T00:00:01.500Z") == 1.5
    assert parse_time("12.25") == 12.25 and parse_time("") is None and parse_time("nope") is None


# ---------------------------------------------------------------------------- correlation

VALID = {"symbols": ["A", "B", "C"], "matrix": [[1.0, 0.82, 0.71], [0.82, 1.0, 0.76], [0.71, 0.76, 1.0]]}


def test_valid_matrix():
    assert validate_matrix(VALID) == []


def test_matrix_out_of_range_asymmetric_diagonal():
    m = json.loads(json.dumps(VALID))
    m["matrix"][0][1] = 1.7
    reasons = validate_matrix(m)
    assert any("outside [-1, 1]" in r for r in reasons) and any(r.startswith("asymmetric") for r in reasons)
    m = json.loads(json.dumps(VALID))
    m["matrix"][2][2] = 0.5
    assert any("diagonal C" in r for r in validate_matrix(m))


def test_matrix_not_psd():
    m = {"symbols": ["A", "B", "C"], "matrix": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]}
    reasons = validate_matrix(m)
    assert len(reasons) == 1 and "not positive semi-definite" in reasons[0]


def test_matrix_shape_errors():
    assert validate_matrix([]) == ["correlation matrix is not a JSON object"]
    assert validate_matrix({"symbols": ["A"], "matrix": [[1, 2]]})[0].startswith("row 0")
    assert "not a finite number" in validate_matrix({"symbols": ["A"], "matrix": [["x"]]})[0]


def test_jacobi_eigenvalues():
    eig = jacobi_eigenvalues([[2, 1], [1, 2]])
    assert eig == pytest.approx([1.0, 3.0])


def test_db_correlation_rows():
    rows = [{"symbol_1": "A", "symbol_2": "B", "correlation_coefficient": 0.5},
            {"symbol_1": "B", "symbol_2": "A", "correlation_coefficient": 1.5}]
    reasons = check_db_rows(rows)
    assert any("outside [-1, 1]" in r for r in reasons) and any("asymmetric" in r for r in reasons)


# ---------------------------------------------------------------------------- breakers

def test_breaker_opens_after_five_failures_and_half_opens_after_300s():
    st = brk.blank()
    for i in range(4):
        st = brk.on_failure(st, now=100.0 + i)
        assert st["state"] == "closed"
    st = brk.on_failure(st, now=105.0)
    assert st["state"] == "open" and st["failures"] == 5 and st["opened_at"] == 105.0
    assert not brk.allows(st, now=200.0)
    assert brk.effective(st, now=404.9)["state"] == "open"
    assert brk.effective(st, now=405.0)["state"] == "half_open"
    assert brk.allows(st, now=405.0) and not brk.allows(st, now=405.0, trial=False)
    again = brk.on_failure(st, now=406.0)
    assert again["state"] == "open" and again["opened_at"] == 406.0
    closed = brk.on_success(brk.effective(st, now=500.0), now=500.0)
    assert closed["state"] == "closed" and closed["failures"] == 0


def test_breaker_success_resets_failures_and_hash_roundtrip():
    st = brk.on_failure(brk.on_failure(brk.blank(), 1.0), 2.0)
    assert brk.on_success(st)["failures"] == 0
    h = brk.to_hash(brk.on_failure(brk.blank(), 1000.0))
    back = brk.from_hash(h)
    assert back["failures"] == 1 and back["last_failure"] == 1000.0
    assert brk.from_hash({"state": "open", "failures": "5", "opened_at": "1000.5"})["opened_at"] == 1000.5
    assert brk.public(back)["last_failure"] == "1970-01-01T00:16:40.000Z"


# ---------------------------------------------------------------------------- rate limiter

def test_window_check_allows_within_limit_and_computes_wait():
    entries = [(100.0, 400), (110.0, 400)]
    assert window_check(entries, 120.0, 100, 900) == (True, 0.0)
    ok, wait = window_check(entries, 120.0, 200, 900)
    assert not ok and wait == pytest.approx(40.0)          # the 100.0 entry leaves at 160
    assert window_check(entries, 161.0, 200, 900) == (True, 0.0)
    ok, wait = window_check([(100.0, 10)], 101.0, 2000, 900)
    assert not ok and wait == pytest.approx(59.0)


def test_rate_config_defaults_and_parsing():
    assert parse_config({}) == (True, 900)
    assert parse_config({"protection": "0", "limit_per_minute": "6000"}) == (False, 6000)


# ---------------------------------------------------------------------------- cluster

def member(name="node1", prio=1, peers=("node2",), persisted=None, ttl=6.0):
    return ClusterMember.create(name, "glab", prio, ttl, [{"name": p, "url": f"http://{p}"} for p in peers],
                                persisted, now=0.0)


def test_cluster_alone_starts_primary():
    m = member(peers=())
    m.start({}, now=0.0)
    assert m.role == "primary" and m.term == 1 and m.lease_holder == "node1"


def test_cluster_lowest_priority_reachable_starts_primary_else_standby():
    m = member()
    m.start({"node2": {"role": "standby", "term": 3, "priority": 2}}, now=0.0)
    assert m.role == "primary" and m.term == 3
    m2 = member("node2", 2, ("node1",))
    m2.start({"node1": {"role": "primary", "term": 3, "priority": 1}}, now=0.0)
    assert m2.role == "standby" and m2.lease_holder == "node1"


def test_cluster_unreachable_peer_means_standby_then_promotion_after_lease_ttl():
    m = member()
    m.start({"node2": None}, now=0.0)
    assert m.role == "standby"
    assert m.observe({"node2": None}, now=5.0) == []
    assert m.observe({"node2": None}, now=6.0) == ["promoted"]
    assert m.role == "primary" and m.term == 1


def test_cluster_standby_defers_to_lower_priority_standby():
    m = member("node2", 2, ("node1",))
    m.start({"node1": None}, now=0.0)
    assert m.observe({"node1": {"role": "standby", "term": 0, "priority": 1}}, now=10.0) == []
    assert m.role == "standby"


def test_cluster_split_brain_and_resolution():
    m = member()
    m.start({"node2": None}, now=0.0)
    m.observe({"node2": None}, now=7.0)                  # promoted, term 1
    peer_primary = {"role": "primary", "term": 2, "priority": 2, "fenced": False}
    assert m.observe({"node2": peer_primary}, now=8.0) == ["split_brain"]
    assert m.split_brain and m.role == "primary"          # nobody steps down on its own
    assert m.observe({"node2": peer_primary}, now=9.0) == []
    assert m.observe({"node2": dict(peer_primary, fenced=True)}, now=10.0) == ["split_brain_cleared"]


def test_cluster_fenced_node_never_promotes_and_persists():
    m = member(persisted={"role": "primary", "term": 4, "fenced": True, "fenced_at": "x", "fenced_by": "api"})
    m.start({"node2": None}, now=0.0)
    assert m.role == "standby" and m.fenced and m.term == 4
    assert m.observe({"node2": None}, now=100.0) == []
    assert m.persisted()["fenced"] is True
    assert m.set_fenced(False, "api", now=101.0)
    assert m.observe({"node2": None}, now=108.0) == ["promoted"] and m.term == 5


def test_cluster_manual_role_changes():
    m = member(peers=())
    m.start({}, now=0.0)
    assert not m.set_role("primary", now=1.0)
    assert m.set_role("standby", now=1.0) and m.role == "standby"
    assert m.set_role("primary", now=2.0) and m.term == 2


# ---------------------------------------------------------------------------- strategies

def test_strategy_params_validation():
    assert sst.validate_params("momentum", None) == sst.STRATEGIES["momentum"]["defaults"]
    assert sst.validate_params("momentum", '{"window": 30}')["window"] == 30
    for bad in ("{not json", "[1]", '{"window": -5}', '{"size_usdt": "x"}', '{"window": 2.5}'):
        with pytest.raises(ValueError):
            sst.validate_params("momentum", bad)


# ---------------------------------------------------------------------------- listener

def test_listener_protocol_parsing():
    h = parse_header("ver:3.0 server:supervisor serial:21 pool:genesis_exit poolserial:10 "
                     "eventname:PROCESS_STATE_EXITED len:84\n")
    assert h["eventname"] == "PROCESS_STATE_EXITED" and h["len"] == "84"
    p = parse_payload("processname:executor groupname:genesis from_state:RUNNING expected:0 pid:2766")
    assert should_fire("PROCESS_STATE_EXITED", p)
    assert not should_fire("PROCESS_STATE_EXITED", dict(p, expected="1"))
    assert not should_fire("PROCESS_STATE_EXITED", dict(p, groupname="backup"))
    assert should_fire("PROCESS_STATE_FATAL", dict(p, expected="1"))


def test_listener_serves_protocol_and_records(tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / ".env").write_text("GENESIS_NODE=nodeX\n")
    (home / "config" / "node.yaml").write_text("node: nodeX\n")
    payloads = ["processname:genesis groupname:genesis from_state:RUNNING expected:0 pid:11",
                "processname:executor groupname:genesis from_state:RUNNING expected:1 pid:12",
                "processname:backup groupname:backup from_state:STARTING expected:0 pid:13"]
    events = ["PROCESS_STATE_EXITED", "PROCESS_STATE_EXITED", "PROCESS_STATE_FATAL"]
    data = "".join(f"ver:3.0 server:supervisor serial:{i} pool:genesis_exit poolserial:{i} eventname:{e} "
                   f"len:{len(p)}\n{p}" for i, (e, p) in enumerate(zip(events, payloads)))
    out = io.StringIO()
    Listener(str(home)).serve(io.StringIO(data), out)
    assert out.getvalue() == "READY\n" + "RESULT 2\nOKREADY\n" * 3
    lines = (home / ".genesis" / "state" / "emergency_close_requests.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["processname"] == "genesis"
    log = [json.loads(x) for x in (home / ".genesis" / "logs" / "genesis.log").read_text().splitlines()]
    assert [x["event"] for x in log] == ["Emergency close requested"]
    assert (home / ".genesis" / "logs" / "genesis_error.log").exists()


# ---------------------------------------------------------------------------- logging

def test_json_log_shape_and_error_copy(tmp_path):
    log = JsonLog(tmp_path, "trading.log", "genesis.test", "node1", "test")
    log.info("Order filled", order_id="o1")
    log.error("Order rejected", reason="x")
    lines = [json.loads(x) for x in (tmp_path / "trading.log").read_text().splitlines()]
    assert [x["event"] for x in lines] == ["Order filled", "Order rejected"]
    assert all({"timestamp", "level", "event", "logger"} <= set(x) for x in lines)
    err = [json.loads(x) for x in (tmp_path / "genesis_error.log").read_text().splitlines()]
    assert [x["event"] for x in err] == ["Order rejected"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_json_log_survives_a_full_disk(tmp_path, capsys):
    (tmp_path / "genesis.log").symlink_to("/dev/full")
    log = JsonLog(tmp_path, "genesis.log", "genesis.test", "node1", "test")
    log.info("Heartbeat sent")
    log.info("Heartbeat sent")
    err = capsys.readouterr().err
    assert err.count("cannot write log genesis.log") == 1 and "No space left" in err


def test_main_dispatch_help():
    import subprocess
    env = dict(os.environ, PYTHONPATH=str(LAB))
    out = subprocess.run([sys.executable, "-m", "genesis_lab.node", "--help"], capture_output=True, text=True,
                         env=env, timeout=30)
    assert out.returncode == 0 and "strategies" in out.stdout
