"""`genesis-lab inject`: every scenario's detection signal is observable, for real, on the
injected node through the contract's own interfaces (control API, DB, Redis, files,
supervisor), while the other node stays healthy (GET /health 200, programs RUNNING).

Run: .venv/bin/python -m pytest lab/tests/test_lab_inject.py -q -m lab

Two labs of their own (2 nodes each, unique names, always brought down):
- the session lab (`lab`): node2 takes scenarios 1-10, 12, 13, 15-19 one after the other;
  after each test a lab-internal restore puts node2 back (programs restarted through
  supervisor, rows and files restored) and checks it healthy;
- `lab_b`: the scenarios that touch the whole cluster or the exchange (11, 14, 20).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import api, api_get, assert_healthy, log_lines, restart, states, wait_settled, wait_until

pytestmark = pytest.mark.lab

GENESIS = ("genesis:genesis", "genesis:executor", "genesis:market_data", "genesis:strategies")


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def inj(gl):
    def run(lab, scenario: str, node: str, timeout: float = 200) -> dict:
        p = gl("inject", scenario, "--lab", lab.name, "--node", node, timeout=timeout, check=False)
        assert p.returncode == 0, f"inject {scenario} --node {node} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        doc = json.loads(p.stdout)
        assert doc["observed"] is True and doc["node"] == node and doc["detect"], doc
        print(f"inject {scenario} on {node}: {doc['elapsed_s']} s")
        return doc
    return run


def t_of(doc: dict) -> float:
    from genesis_lab.status import _ts
    return _ts(doc["started_at"])


def sql(node, q: str, params=None, fetch: bool = True):
    conn = node.db()
    try:
        with conn.cursor() as cur:
            cur.execute(q, params)
            return cur.fetchall() if fetch and cur.description else []
    finally:
        conn.close()


def redis_hash(node, key: str) -> dict:
    r = node.redis()
    try:
        return r.hgetall(key)
    finally:
        r.close()


def env_of(node) -> dict:
    return dict(l.split("=", 1) for l in node.env_file.read_text().splitlines() if "=" in l)


def signed(lab, node, offset_ms: int = 0) -> dict:
    env = env_of(node)
    q = urllib.parse.urlencode({"recvWindow": 5000, "timestamp": int(time.time() * 1000) + offset_ms})
    sig = hmac.new(env["GENESIS_EXCHANGE_API_SECRET"].encode(), q.encode(), hashlib.sha256).hexdigest()
    r = requests.get(f"{lab.exchange_url}/api/v3/account?{q}&signature={sig}",
                     headers={"X-MBX-APIKEY": env["GENESIS_EXCHANGE_API_KEY"]}, timeout=5)
    return {"status": r.status_code, **r.json()}


def reset_breakers(node) -> None:
    for name, b in api_get(node, "/admin/circuit-breakers")["breakers"].items():
        if b["state"] != "closed" or b["failures"]:
            api(node, "POST", f"/admin/circuit-breakers/{name}/reset")


def snapshot(lab) -> dict:
    """What an injection could change: lab.json, node files, fault hooks, programs, keys."""
    out = {"lab.json": lab.state_file.read_bytes(),
           "exchange": {lbl: [k["revoked"] for k in a["keys"]]
                        for lbl, a in lab.exchange_request("GET", "/_lab/state")["accounts"].items()}}
    for n in lab.nodes:
        files = {}
        for d in (n.config_dir, n.home / ".genesis" / "tmp", n.state_path):
            for p in sorted(d.iterdir()):
                if p.is_file() and p.name != "cluster.json":
                    files[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        files[str(n.env_file)] = hashlib.sha256(n.env_file.read_bytes()).hexdigest()
        files[str(n.clock_offset_file)] = n.clock_offset_file.read_text()
        r = n.redis()
        faults = sorted(r.scan_iter("lab:*"))
        rl = r.hgetall("genesis:ratelimit:config")
        r.close()
        out[n.name] = {"files": files, "faults": faults, "ratelimit": rl, "programs": states(n),
                       "tilt": sql(n, "SELECT current_tilt_score, tilt_level FROM tilt_profiles")}
    return out


@pytest.fixture(scope="module")
def nodes(lab):
    """(injected, other) of the session lab."""
    return lab.node("node2"), lab.node("node1")


# ---------------------------------------------------------------------------- input errors
@pytest.mark.parametrize("scenario,node,expect", [
    ("foo", "node2", ["system_outage", "emergency_shutdown", "1-20"]),
    ("21", "node2", ["system_outage", "1-20"]),
    ("3:clock", "node2", ["no variant"]),
    ("3", "node9", ["node1, node2"]),
    ("bogus", "node9", ["node1, node2"]),
])
def test_unknown_scenario_or_node_exit_2_nothing_changed(lab, gl, scenario, node, expect):
    before = snapshot(lab)
    p = gl("inject", scenario, "--lab", lab.name, "--node", node, check=False)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    msg = p.stderr.strip()
    assert msg.count("\n") == 0, msg           # one sentence
    for word in expect:
        assert word in msg, msg
    assert snapshot(lab) == before


def test_disk_fill_refused_in_local_isolation(lab):
    from genesis_lab import inject
    from genesis_lab.labspec import Lab

    data = json.loads(lab.state_file.read_text())
    data["isolation"] = "local"
    with pytest.raises(inject.InjectUsage, match="netns isolation"):
        inject.inject(Lab(data), "disk_space", "node2")
    assert not [p for p in (lab.node("node2").home / ".genesis" / "tmp").iterdir()]


# ---------------------------------------------------------------------------- state faults (node2)
def test_s06_tilt(lab, nodes, inj, restore):
    n, other = nodes
    (score, level, losses), = sql(n, "SELECT current_tilt_score, tilt_level, consecutive_losses FROM tilt_profiles")

    def undo():
        sql(n, "UPDATE tilt_profiles SET current_tilt_score=%s, tilt_level=%s, consecutive_losses=%s",
            (score, level, losses), fetch=False)
        sql(n, "DELETE FROM tilt_events WHERE created_at >= to_timestamp(%s)", (t0 - 1,), fetch=False)
    t0 = time.time()
    restore.add("tilt profile", undo)
    restore.healthy_after(n)
    inj(lab, "tilt", "node2")
    doc = api_get(n, "/tilt/status")
    assert doc["score"] > 70 and doc["level"] == "LEVEL3"
    assert doc["violations_last_hour"] >= 1
    assert any(e["event_type"] == "RISK_LIMIT_VIOLATION" and e["severity"] == "HIGH" for e in doc["recent_events"])
    # the tilt monitor (every 5 s) exports it and logs the threshold crossing
    wait_until("genesis_tilt_score > 70", lambda: [
        float(l.split()[1]) for l in requests.get(n.api_url + "/metrics", timeout=5).text.splitlines()
        if l.startswith("genesis_tilt_score ") and float(l.split()[1]) > 70], 10)
    assert log_lines(n, "tilt.log", "Tilt threshold exceeded", t0)
    assert_healthy(other)


def test_s08_position_size(lab, nodes, inj, restore):
    n, other = nodes
    before = {r[0]: r[1] for r in sql(n, "SELECT position_id, quantity FROM positions WHERE status='OPEN'")}

    def undo():
        for pid, q in before.items():
            sql(n, "UPDATE positions SET quantity=%s, dollar_value=COALESCE(current_price, entry_price)*%s "
                   "WHERE position_id=%s", (q, q, pid), fetch=False)
    restore.add("positions", undo)
    restore.healthy_after(n)
    inj(lab, "position_size", "node2")
    tier = api_get(n, "/config/tier")
    pos = api_get(n, "/positions?status=open")["positions"]
    over = [p for p in pos if p["dollar_value"] > tier["max_position_size"]]
    assert over, (tier, pos)
    (mx,), = sql(n, "SELECT max(dollar_value) FROM positions WHERE status='OPEN'")
    assert float(mx) > tier["tiers"][tier["tier"]]
    assert_healthy(other)


def test_s12_correlation(lab, nodes, inj, restore):
    from genesis_lab.node.correlation import validate_matrix

    n, other = nodes
    rows = sql(n, "SELECT symbol_1, symbol_2, correlation_coefficient FROM position_correlations")
    mfile = n.state_path / "correlation_matrix.json"
    saved = mfile.read_bytes()

    def undo():
        for a, b, v in rows:
            sql(n, "UPDATE position_correlations SET correlation_coefficient=%s WHERE symbol_1=%s AND symbol_2=%s",
                (v, a, b), fetch=False)
        mfile.write_bytes(saved)
    restore.add("correlations", undo)
    restore.healthy_after(n)
    doc = inj(lab, "correlation", "node2")
    vals = {(a, b): float(v) for a, b, v in
            sql(n, "SELECT symbol_1, symbol_2, correlation_coefficient FROM position_correlations")}
    assert any(not -1 <= v <= 1 for v in vals.values()), vals
    assert any(abs(v - vals.get((b, a), v)) > 1e-6 for (a, b), v in vals.items()), vals
    reasons = validate_matrix(json.loads(mfile.read_text()))
    assert any("outside [-1, 1]" in r for r in reasons) and any("asymmetric" in r for r in reasons), reasons
    assert log_lines(n, "trading.log", "Correlation calculation error", t_of(doc))
    assert_healthy(other)


def test_s18_audit_trail(lab, nodes, inj, restore):
    n, other = nodes
    doc = inj(lab, "audit_trail", "node2")
    deleted = doc["evidence"]["deleted"]

    def undo():
        for d in deleted:
            sql(n, "INSERT INTO events (event_id, event_type, aggregate_id, event_data, sequence_number, created_at) "
                   "VALUES (%s,%s,%s,%s::jsonb,%s,%s)", (d["event_id"], d["event_type"], d["aggregate_id"],
                                                         json.dumps(d["event_data"]), d["sequence_number"],
                                                         d["created_at"]), fetch=False)
    restore.add("events", undo)
    restore.healthy_after(n)
    assert len(deleted) == 2
    gaps = sql(n, "SELECT aggregate_id FROM (SELECT aggregate_id, sequence_number, lag(sequence_number) OVER "
                  "(PARTITION BY aggregate_id ORDER BY sequence_number) AS prev FROM events) x "
                  "WHERE prev IS NOT NULL AND sequence_number <> prev + 1")
    aggs = {g[0] for g in gaps}
    assert {d["aggregate_id"] for d in deleted} <= aggs
    assert all(a.startswith("order:") for a in aggs)
    ids = {d["event_id"] for d in deleted}
    in_log = set()
    for line in (n.logs_dir / "audit.log").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("event_id") in ids:
            assert rec["sequence_number"] == 2
            in_log.add(rec["event_id"])
    assert in_log == ids
    assert_healthy(other)


def test_s19_config_drift(lab, nodes, inj, restore):
    n, other = nodes

    def undo():
        for f in ("trading_rules.yaml", "node.yaml"):
            shutil.copy2(n.home / "config.backup" / f, n.config_dir / f)
    restore.add("config", undo)
    restore.healthy_after(n)
    inj(lab, "config_drift", "node2")
    differ = [f for f in os.listdir(n.config_dir)
              if (n.config_dir / f).read_bytes() != (n.home / "config.backup" / f).read_bytes()]
    assert sorted(differ) == ["node.yaml", "trading_rules.yaml"]
    v = api_get(n, "/admin/config/validate")
    assert v["valid"] is False
    assert any(e.startswith("trading_rules.yaml: max_leverage 50") for e in v["errors"]), v
    assert_healthy(other)


# ---------------------------------------------------------------------------- process faults (node2)
def test_s15_strategy(lab, nodes, inj, restore):
    n, other = nodes

    def undo():
        api(n, "POST", "/admin/strategies/momentum/reset")
        wait_until("momentum out of ERROR", lambda: api_get(n, "/admin/strategies")["strategies"]["momentum"]["state"]
                   != "ERROR", 15)
    restore.add("momentum reset", undo)
    restore.healthy_after(n)
    doc = inj(lab, "strategy", "node2")
    s = api_get(n, "/admin/strategies")["strategies"]["momentum"]
    assert s["state"] == "ERROR" and s["errors_last_5m"] > 0 and s["last_error"], s
    assert log_lines(n, "trading.log", "Strategy error", t_of(doc))[0]["strategy"] == "momentum"
    assert_healthy(other)


def test_s13_orderbook(lab, nodes, inj, restore):
    n, other = nodes
    restore.programs(n, "genesis:market_data")
    doc = inj(lab, "orderbook", "node2")
    h = redis_hash(n, "orderbook:BTCUSDT")
    bids, asks = json.loads(h["bids"]), json.loads(h["asks"])
    assert float(bids[0][0]) >= float(asks[0][0]), (bids[0], asks[0])
    assert time.time() - float(h["ts"]) < 3 and float(h["ts"]) > t_of(doc)
    ex = requests.get(lab.exchange_url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5}, timeout=5).json()
    assert float(ex["bids"][0][0]) < float(ex["asks"][0][0])
    assert_healthy(other)


def test_s03_market_data(lab, nodes, inj, restore):
    n, other = nodes
    restore.programs(n, "genesis:market_data")
    doc = inj(lab, "market_data", "node2")
    ws = api_get(n, "/admin/websocket")
    assert all(t["age_s"] > 10 for t in ws["tickers"].values()), ws
    assert any(c["state"] != "connected" for c in ws["connections"].values()), ws
    now = time.time()
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        assert now - float(redis_hash(n, f"market:ticker:{sym}")["ts"]) > 10
    assert log_lines(n, "genesis.log", "WebSocket disconnected", t_of(doc))
    assert_healthy(other)


def test_s02_order_execution(lab, nodes, inj, restore):
    n, other = nodes

    def undo():
        restart(n, "genesis:executor")
        reset_breakers(n)
    restore.add("executor restart, breakers reset", undo)
    restore.healthy_after(n)
    doc = inj(lab, "order_execution", "node2")
    t0 = t_of(doc)
    br = api_get(n, "/admin/circuit-breakers")["breakers"]["orders"]
    assert br["state"] == "open", br
    rej = log_lines(n, "trading.log", "Order rejected", t0)
    assert rej and rej[0]["reason"] == "executor session wedged"
    ids = doc["evidence"]["pending_orders"]
    assert ids
    # PENDING older than 30 s: reached naturally 30 s after the injection (bounded 45 s)
    age = wait_until("a PENDING order older than 30 s", lambda: (lambda r: r[0][0] if r[0][0] and r[0][0] > 30
                                                                else None)(
        sql(n, "SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float FROM orders WHERE status='PENDING'")),
        max(1.0, 45 - (time.time() - t0)), 0.5)
    assert age > 30
    st = dict(sql(n, "SELECT order_id, status FROM orders WHERE order_id = ANY(%s)", (ids,)))
    assert set(st.values()) == {"PENDING"}, st
    assert api_get(n, "/admin/circuit-breakers")["breakers"]["orders"]["state"] == "open"
    assert_healthy(other)


def test_s17_performance(lab, nodes, inj, restore):
    from genesis_lab.status import cpu_demand_percent

    n, other = nodes
    restore.programs(n, "genesis:genesis", "genesis:strategies")
    inj(lab, "performance", "node2")
    t = time.monotonic()
    code, _ = api(n, "GET", "/account/status", timeout=20)
    took = time.monotonic() - t
    assert code == 200 and took > 1.0, took
    pid = n.supervisor().supervisor.getProcessInfo("genesis:strategies")["pid"]
    # CPU demand of the strategies program over 1 s (used + waited for: the host is shared)
    wait_until("strategies above 80 % CPU", lambda: cpu_demand_percent(pid, 1.0) > 80, 15, 0)
    t = time.monotonic()
    assert requests.get(other.api_url + "/account/status", headers={"X-API-Key": other.api_key},
                        timeout=5).status_code == 200
    assert time.monotonic() - t < 1.0
    assert_healthy(other)


def test_s05_memory(lab, nodes, inj, restore):
    from genesis_lab.status import tree_rss

    n, other = nodes
    restore.programs(n, "genesis:genesis")
    inj(lab, "memory", "node2")
    budget = 400 * 1024 * 1024
    info = n.supervisor().supervisor.getAllProcessInfo()
    rss = sum(tree_rss(i["pid"]) for i in info if i["group"] == "genesis" and i["pid"])
    assert rss > 0.9 * budget, rss
    metric = [float(l.split()[1]) for l in requests.get(n.api_url + "/metrics", timeout=5).text.splitlines()
              if l.startswith("genesis_memory_usage_bytes ")]
    assert metric and metric[0] > 0.9 * budget, metric
    assert_healthy(other)


def test_s07_rate_limit(lab, nodes, inj, restore):
    n, other = nodes

    def undo():
        r = n.redis()
        try:
            r.delete("genesis:request_queue", "genesis:ratelimit:config")
            r.hdel("ratelimit:exchange", "retry_after_until")
        finally:
            r.close()
        lab.exchange_request("POST", "/_lab/reset")     # the exchange forgets the used weight
        reset_breakers(n)
    restore.add("rate limit config, queue, exchange weights", undo)
    restore.healthy_after(n)
    doc = inj(lab, "rate_limit", "node2")
    rl = api_get(n, "/admin/rate-limits")
    assert rl["recent_429"] > 0 and rl["protection"] is False, rl
    assert redis_hash(n, "ratelimit:exchange").get("last_429_at")
    assert log_lines(n, "genesis.log", "Rate limit exceeded", t_of(doc))
    assert api_get(other, "/admin/rate-limits")["recent_429"] == 0
    assert_healthy(other)


def test_s16_backup(lab, nodes, inj, restore):
    n, other = nodes
    env_before = n.env_file.read_bytes()
    restore.add(".env", lambda: n.env_file.write_bytes(env_before))
    schedule = n.backup_cron_file.read_text()
    assert schedule.startswith("#Ansible: genesis restic backup\n17 */6 * * * root ") and " start backup" in schedule
    restore.add("schedule", lambda: n.backup_cron_file.write_text(schedule))
    restore.healthy_after(n)
    doc = inj(lab, "backup", "node2")
    assert not n.backup_cron_file.exists()
    assert other.backup_cron_file.read_text().startswith("#Ansible: genesis restic backup")
    p = subprocess.run(["restic", "-r", str(n.restic_repository), "--password-file", str(n.restic_password_file),
                        "--no-cache", "snapshots", "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    from genesis_lab.inject import snap_time
    snaps = json.loads(p.stdout)
    assert snaps and max(snap_time(s) for s in snaps) < time.time() - 24 * 3600
    info = n.supervisor().supervisor.getProcessInfo("backup")
    assert info["statename"] == "EXITED" and info["exitstatus"] != 0, info
    assert log_lines(n, "genesis.log", "Backup failed", t_of(doc))
    assert_healthy(other)


def test_s09_certificates(lab, nodes, inj, restore):
    from genesis_lab.certs import not_after
    from genesis_lab.inject import served_not_after

    n, other = nodes

    def undo():
        from genesis_lab import provision
        provision.issue_cert(lab, n, 90)
        restart(n, "genesis:genesis")
    restore.add("90-day certificate", undo)
    restore.healthy_after(n)
    inj(lab, "certificates", "node2")
    left = not_after(n.cert_path).timestamp() - time.time()
    assert 0 < left < 7 * 86400, left
    assert served_not_after(n) - time.time() < 7 * 86400
    assert served_not_after(other) - time.time() > 30 * 86400
    assert_healthy(other)


def test_s10_disk_space(lab, nodes, inj, restore):
    n, other = nodes
    doc = inj(lab, "disk_space", "node2")
    files = [f["path"] for f in doc["evidence"]["files"]]

    def undo():
        for f in files:
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
    restore.add("filler files", undo)
    restore.healthy_after(n)
    st = os.statvfs(n.tmpfs_mount)
    assert (st.f_blocks - st.f_bfree) / st.f_blocks > 0.95
    df = subprocess.run(["df", "--output=pcent", str(n.tmpfs_mount)], capture_output=True, text=True).stdout
    assert int(df.split()[-1].rstrip("%")) > 95, df
    now = time.time()
    rotated = [p for p in n.logs_dir.iterdir() if ".log." in p.name]
    assert rotated and all(now - p.stat().st_mtime > 30 * 86400 for p in rotated)
    for p in rotated:
        first = json.loads(p.open().readline())
        assert {"timestamp", "level", "event", "logger"} <= set(first)
    tmp = list((n.home / ".genesis" / "tmp").iterdir())
    assert tmp and all(now - p.stat().st_mtime > 7 * 86400 for p in tmp)
    st1 = os.statvfs(other.tmpfs_mount)
    assert (st1.f_blocks - st1.f_bfree) / st1.f_blocks < 0.5
    assert_healthy(other)


def test_s04_database(lab, nodes, inj, restore):
    n, other = nodes
    restore.add("start postgresql", lambda: n.supervisor().supervisor.startProcess("postgresql", True))
    restore.healthy_after(n)
    inj(lab, "database", "node2")
    r = requests.get(n.api_url + "/health", timeout=5)
    assert r.status_code == 503 and r.json()["components"]["database"] == "down", r.text
    assert states(n)["postgresql"] == "STOPPED"
    import psycopg2
    with pytest.raises(psycopg2.OperationalError):
        n.db(connect_timeout=2)
    assert_healthy(other)


def test_s01_system_outage(lab, nodes, inj, restore):
    n, other = nodes
    restore.add("start the genesis group", lambda: n.supervisor().supervisor.startProcessGroup("genesis", True))
    restore.healthy_after(n)
    inj(lab, "system_outage", "node2")
    with pytest.raises(requests.RequestException):
        requests.get(n.api_url + "/health", timeout=3)
    st = states(n)
    assert all(st[p] == "STOPPED" for p in GENESIS), st
    hb = float(redis_hash(n, "genesis:heartbeat")["ts"])
    # the heartbeat stops advancing: older than one interval (5 s) plus margin, and unchanged
    wait_until("heartbeat older than 6 s", lambda: time.time() - hb > 6, 10)
    assert float(redis_hash(n, "genesis:heartbeat")["ts"]) == hb
    assert not (n.state_path / "emergency_close_requests.jsonl").exists()   # an expected stop
    assert_healthy(other)


# ---------------------------------------------------------------------------- lab B: cluster and exchange
@pytest.fixture(scope="module")
def lab_b(lab_factory):
    lb = lab_factory.up("tj", 2)
    yield lb
    lab_factory.down(lb.name)


def test_s11_network_partition(lab_b, inj, restore):
    from genesis_lab import netns

    a, b = lab_b.node("node1"), lab_b.node("node2")
    table = f"genesis_lab_{lab_b.name}_partition"

    def undo():
        for x in (a, b):
            netns.heal(x.netns, table)
        api(promoted_node[0], "POST", "/admin/cluster", {"role": "standby"})
        wait_settled(lab_b)
    promoted_node = [b]
    restore.add("heal and demote", undo)
    restore.healthy_after(a, b)
    doc = inj(lab_b, "network_partition", "node2", timeout=120)
    promoted_node[0] = lab_b.node(doc["evidence"]["promoted"])
    for x in (a, b):
        c = api_get(x, "/admin/cluster")
        assert c["role"] == "primary" and not c["fenced"], c
        assert not any(p["reachable"] for p in c["peers"].values()), c
        tables = subprocess.run(["nsenter", f"--net=/run/netns/{x.netns}", "nft", "list", "tables"],
                                capture_output=True, text=True).stdout
        assert f"inet {table}" in tables
    p = promoted_node[0]
    n_arb = sql(p, "SELECT count(*) FROM orders WHERE strategy='cluster_arbitrage' AND created_at > to_timestamp(%s)",
                (t_of(doc),))[0][0]
    assert n_arb > 0
    assert {"nft_tables"} <= set(json.loads(lab_b.state_file.read_text()))
    # both nodes keep serving (they are the two halves of the split)
    assert_healthy(a)
    assert_healthy(b)
    # once they see each other again, each reports the split brain
    for x in (a, b):
        netns.heal(x.netns, table)
    for x in (a, b):
        wait_until(f"{x.name} split_brain", lambda: api_get(x, "/admin/cluster")["split_brain"], 15)
        assert log_lines(x, "genesis.log", "Split-brain detected", t_of(doc))


def test_s14_authentication_clock(lab_b, inj, gl, restore):
    a, b = lab_b.node("node1"), lab_b.node("node2")
    def undo():
        gl("clock", "sync", "--lab", lab_b.name, "--node", "node2")
        reset_breakers(b)
    restore.add("clock sync", undo)
    restore.healthy_after(b)
    doc = inj(lab_b, "authentication:clock", "node2")
    assert doc["variant"] == "clock"
    assert gl("clock", "show", "--lab", lab_b.name, "--node", "node2").stdout.strip() == "2500"
    assert signed(lab_b, b, offset_ms=2500)["code"] == -1021
    # the node's own signed requests fail the same way (next strategy order, within ~15 s)
    rec = wait_until("the executor rejecting with -1021", lambda: [
        r for r in log_lines(b, "trading.log", "Order rejected", t_of(doc)) if r.get("code") == -1021], 30, 0.5)
    assert rec
    assert signed(lab_b, a)["status"] == 200
    assert_healthy(a)


def test_s14_authentication_revoke(lab_b, inj, gl, restore):
    a, b = lab_b.node("node1"), lab_b.node("node2")

    def undo():
        k = json.loads(gl("exchange", "key", "--lab", lab_b.name, "--node", "node2").stdout)
        text = b.env_file.read_text().splitlines()
        text = [f"GENESIS_EXCHANGE_API_KEY={k['api_key']}" if l.startswith("GENESIS_EXCHANGE_API_KEY=") else
                f"GENESIS_EXCHANGE_API_SECRET={k['secret']}" if l.startswith("GENESIS_EXCHANGE_API_SECRET=") else l
                for l in text]
        b.env_file.write_text("\n".join(text) + "\n")
        code, body = api(b, "POST", "/admin/config/reload")
        assert code == 200, body
        reset_breakers(b)
    restore.add("new exchange key", undo)
    restore.healthy_after(b)
    doc = inj(lab_b, "authentication", "node2")
    res = signed(lab_b, b)
    assert res["status"] == 401 and res["code"] == -2015, res
    keys = lab_b.exchange_request("GET", "/_lab/state")["accounts"]["node2"]["keys"]
    assert any(k["revoked"] and k["api_key"] == env_of(b)["GENESIS_EXCHANGE_API_KEY"] for k in keys)
    rec = wait_until("the executor rejecting with -2015", lambda: [
        r for r in log_lines(b, "trading.log", "Order rejected", t_of(doc)) if r.get("code") == -2015], 30, 0.5)
    assert rec
    assert signed(lab_b, a)["status"] == 200
    assert_healthy(a)


def test_s20_emergency(lab_b, inj, restore):
    a, b = lab_b.node("node1"), lab_b.node("node2")
    restore.add("exchange reset", lambda: lab_b.exchange_request("POST", "/_lab/reset"))
    before = {s: float(redis_hash(b, f"market:ticker:{s}")["price"]) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    inj(lab_b, "emergency", "node2")
    ws = api_get(b, "/admin/websocket")["tickers"]
    for s, p0 in before.items():
        assert (p0 - ws[s]["price"]) / p0 > 0.10, (s, p0, ws[s])
        assert ws[s]["age_s"] < 3
    st = requests.get(lab_b.exchange_url + "/sapi/v1/system/status", timeout=5).json()
    assert st["status"] == 1
    assert_healthy(a)
