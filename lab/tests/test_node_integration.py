"""Integration test of the node programs on real services, loopback only:
a private PostgreSQL (initdb as user postgres into a temp dir, own port, socket in the temp
dir), a private redis-server on 127.0.0.1, the lab exchange when it is present, a minimal
genesis_home, and the node programs as subprocesses. Everything is stopped by pid in
finalizers, also on failure."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[1]
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))

import requests  # noqa: E402
import yaml  # noqa: E402

PGBIN = Path("/usr/lib/postgresql/15/bin")
PY = sys.executable
SCHEMA = LAB / "genesis_lab" / "schema.sql"
HAVE_EXCHANGE = (LAB / "genesis_lab" / "exchange" / "__main__.py").exists()
NODE = "node1"
ACCOUNT = "acct-node1"
API_KEY = "test-api-key-0123456789"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (PGBIN / "initdb").exists() or shutil.which("redis-server") is None,
    reason="needs root, PostgreSQL 15 binaries and redis-server")


# ---------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as exc:  # noqa: BLE001
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_exc})")


def stop_pid(proc: subprocess.Popen, timeout: float = 6.0) -> int | None:
    """SIGTERM the process we started, SIGKILL if it does not go."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        return None
    except ProcessLookupError:
        return proc.returncode


def as_postgres():
    pw = pwd.getpwnam("postgres")

    def fn():
        os.setgid(pw.pw_gid)
        os.setgroups([])
        os.setuid(pw.pw_uid)
    return fn


def read_log(home: Path, name: str) -> list[dict]:
    p = home / ".genesis" / "logs" / name
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def log_events(home: Path, name: str) -> list[str]:
    return [x.get("event") for x in read_log(home, name)]


class Stack:
    """Holds every process of the test and stops them all (by pid) at the end."""

    def __init__(self, base: Path):
        self.base = base
        self.procs: dict[str, subprocess.Popen] = {}
        self.files: dict[str, object] = {}

    def spawn(self, name: str, argv: list[str], **kw) -> subprocess.Popen:
        out = open(self.base / f"{name}.out", "ab")
        self.files[name] = out
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
        self.procs[name] = p
        return p

    def stop(self, name: str) -> int | None:
        p = self.procs.pop(name, None)
        rc = stop_pid(p) if p is not None else None
        f = self.files.pop(name, None)
        if f is not None:
            f.close()
        return rc

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            try:
                self.stop(name)
            except Exception:  # noqa: BLE001
                pass


def node_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(LAB) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def seed(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO alembic_version VALUES ('genesis_0007')")
        cur.execute("INSERT INTO accounts (account_id, balance_usdt, tier) VALUES (%s, 5000, 'HUNTER')", (ACCOUNT,))
        cur.execute("INSERT INTO tilt_profiles (profile_id, account_id, current_tilt_score, tilt_level) "
                    "VALUES ('tilt-acct-node1', %s, 15, 'NORMAL')", (ACCOUNT,))
        for i, (sym, side, entry, qty) in enumerate([("BTCUSDT", "LONG", 63800, "0.0028"),
                                                     ("ETHUSDT", "LONG", 3410, "0.044"),
                                                     ("SOLUSDT", "SHORT", 151, "0.8")], 1):
            cur.execute("INSERT INTO positions (position_id, account_id, symbol, side, entry_price, current_price, "
                        "quantity, dollar_value, status) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,'OPEN')",
                        (f"pos-node1-open{i}", ACCOUNT, sym, side, entry, entry, qty, float(entry) * float(qty)))
        corr = {("BTCUSDT", "ETHUSDT"): 0.82, ("BTCUSDT", "SOLUSDT"): 0.71, ("ETHUSDT", "SOLUSDT"): 0.76}
        for (a, b), v in corr.items():
            cur.execute("INSERT INTO position_correlations VALUES (%s,%s,%s), (%s,%s,%s)", (a, b, v, b, a, v))


CORR = {"symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        "matrix": [[1.0, 0.82, 0.71], [0.82, 1.0, 0.76], [0.71, 0.76, 1.0]],
        "calculated_at": "2026-01-01T00:00:00.000Z", "source": "defaults"}


def write_home(home: Path, pg_port: int, redis_port: int, redis_pw: str, api_port: int, tls_port: int,
               exchange_url: str, ex_key: str, ex_secret: str, clock_file: Path) -> None:
    for d in ("config", "config.backup", ".genesis/logs", ".genesis/state", ".genesis/data/heapdumps",
              ".genesis/tmp", ".genesis/backups"):
        (home / d).mkdir(parents=True, exist_ok=True)
    (home / ".env").write_text(
        f"GENESIS_NODE={NODE}\nGENESIS_CLUSTER=tlab\nGENESIS_API_KEY={API_KEY}\n"
        f"GENESIS_DATABASE_URL=postgresql://genesis:dbpw@127.0.0.1:{pg_port}/genesis\n"
        f"GENESIS_REDIS_URL=redis://:{redis_pw}@127.0.0.1:{redis_port}/0\n"
        f"GENESIS_EXCHANGE_URL={exchange_url}\nGENESIS_EXCHANGE_API_KEY={ex_key}\n"
        f"GENESIS_EXCHANGE_API_SECRET={ex_secret}\n")
    os.chmod(home / ".env", 0o600)
    cfgs = {
        "trading_rules.yaml": {"max_leverage": 3, "max_open_positions": 10, "stop_loss_percent": 2.0,
                               "take_profit_percent": 4.0, "max_daily_loss_percent": 5.0,
                               "order_timeout_seconds": 30},
        "tier_gates.yaml": {"tiers": {"SNIPER": {"max_position_size": 100}, "HUNTER": {"max_position_size": 500},
                                      "STRATEGIST": {"max_position_size": 2000},
                                      "ARCHITECT": {"max_position_size": 10000}}},
        "emergency_thresholds.yaml": {"price_move_percent": 10, "price_move_window_seconds": 60,
                                      "override_phrase": "OVERRIDE EMERGENCY HALT"},
        "node.yaml": {"version": 7, "node": NODE, "cluster": "tlab", "priority": 1,
                      "api": {"host": "127.0.0.1", "port": api_port, "tls_port": tls_port},
                      "cert_path": str(home.parent / "certs" / "cert.pem"),
                      "key_path": str(home.parent / "certs" / "privkey.pem"),
                      "heartbeat_interval": 1, "memory_budget_mb": 400,
                      "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "peers": [], "lease_ttl": 3,
                      "lab_clock_offset_file": str(clock_file), "lab_node_root": str(home.parent)},
    }
    for name, doc in cfgs.items():
        for d in ("config", "config.backup"):
            (home / d / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    for d in ("config", "config.backup"):
        (home / d / "default_correlations.json").write_text(json.dumps(CORR))
    (home / ".genesis" / "state" / "correlation_matrix.json").write_text(json.dumps(CORR))
    (home / ".genesis" / "state" / "tier_state.json").write_text(
        json.dumps({"tier": "HUNTER", "since": "2026-01-01T00:00:00.000Z", "limits_factor": 1.0}))


def make_cert(d: Path) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node1.genesis.lab")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("node1.genesis.lab")]), critical=False)
            .sign(key, hashes.SHA256()))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "privkey.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))


# ---------------------------------------------------------------------------- the stack
@pytest.fixture(scope="module")
def stack(request):
    import psycopg2
    import redis as redislib

    base = Path(tempfile.mkdtemp(prefix="genesis-node-test-", dir="/tmp"))
    os.chmod(base, 0o755)
    st = Stack(base)
    info: dict = {"base": base, "stack": st}

    def finish():
        st.stop_all()
        shutil.rmtree(base, ignore_errors=True)
    request.addfinalizer(finish)

    # PostgreSQL
    pgdata, pgsock = base / "pgdata", base / "pgsock"
    pw = pwd.getpwnam("postgres")
    for d in (pgdata, pgsock):
        d.mkdir(mode=0o700)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    subprocess.run([str(PGBIN / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True, preexec_fn=as_postgres(), cwd="/tmp")
    pg_port = free_port()
    pg_argv = [str(PGBIN / "postgres"), "-D", str(pgdata), "-p", str(pg_port), "-k", str(pgsock),
               "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=16MB"]
    info["pg_argv"] = pg_argv
    st.spawn("postgres", pg_argv, preexec_fn=as_postgres(), cwd="/tmp")

    def pg_up():
        c = psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="postgres", connect_timeout=2)
        c.close()
        return True
    wait_for(pg_up, 20, what="postgres")
    admin = psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE ROLE genesis LOGIN PASSWORD 'dbpw'")
        cur.execute("CREATE DATABASE genesis OWNER genesis")
    admin.close()
    conn = psycopg2.connect(host="127.0.0.1", port=pg_port, user="genesis", password="dbpw", dbname="genesis")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(SCHEMA.read_text())
    seed(conn)
    conn.close()
    info["dsn"] = dict(host="127.0.0.1", port=pg_port, user="genesis", password="dbpw", dbname="genesis")

    # Redis
    redis_port, redis_pw = free_port(), "redispw"
    st.spawn("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--requirepass", redis_pw,
                       "--save", "", "--appendonly", "no", "--dir", str(base)])
    r = redislib.Redis(host="127.0.0.1", port=redis_port, password=redis_pw, decode_responses=True)
    wait_for(r.ping, 10, what="redis")
    info["redis"] = r

    # Exchange (when the lab has it)
    ex_url, ex_key, ex_secret = "http://127.0.0.1:9", "", ""
    if HAVE_EXCHANGE:
        ex_port = free_port()
        token = "node-test-token"
        (base / "token").write_text(token)
        st.spawn("exchange", [PY, "-m", "genesis_lab.exchange", "--host", "127.0.0.1", "--port", str(ex_port),
                              "--token-file", str(base / "token"), "--history-minutes", "600"], env=node_env())
        ex_url = f"http://127.0.0.1:{ex_port}"
        wait_for(lambda: requests.get(ex_url + "/api/v3/ping", timeout=1).ok, 30, what="exchange")
        keys = requests.post(ex_url + "/_lab/keys", json={"label": NODE}, headers={"X-Lab-Token": token},
                             timeout=5).json()
        ex_key, ex_secret = keys["api_key"], keys["secret"]
        info["exchange_token"] = token
    info["exchange_url"] = ex_url

    # genesis_home
    root = base / "node1"
    home = root / "app"
    home.mkdir(parents=True)
    (root / "lab").mkdir()
    clock = root / "lab" / "clock_offset_ms"
    clock.write_text("0\n")
    make_cert(root / "certs")
    api_port, tls_port = free_port(), free_port()
    write_home(home, pg_port, redis_port, redis_pw, api_port, tls_port, ex_url, ex_key, ex_secret, clock)
    info.update(home=home, root=root, api=f"http://127.0.0.1:{api_port}", tls_port=tls_port, clock=clock)
    return info


@pytest.fixture(scope="module")
def node(stack):
    st: Stack = stack["stack"]
    st.spawn("genesis", [PY, "-m", "genesis_lab.node", "genesis", "--home", str(stack["home"])], env=node_env())
    api = stack["api"]
    wait_for(lambda: requests.get(api + "/health", timeout=2).status_code == 200, 30, what="genesis /health 200")
    return stack


def H(extra: dict | None = None) -> dict:
    h = {"X-API-Key": API_KEY}
    h.update(extra or {})
    return h


def sql(node, query: str, params=None) -> list[tuple]:
    """A fresh connection per call (the test restarts PostgreSQL)."""
    import psycopg2
    conn = psycopg2.connect(connect_timeout=5, **node["dsn"])
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def get(node, path, **kw):
    return requests.get(node["api"] + path, headers=H(), timeout=10, **kw)


def post(node, path, body=None, **kw):
    return requests.post(node["api"] + path, headers=H(), json=body if body is not None else {}, timeout=15, **kw)


# ---------------------------------------------------------------------------- main program
def test_health_and_startup_logs(node):
    doc = requests.get(node["api"] + "/health", timeout=5).json()
    assert doc["status"] in ("healthy", "degraded")
    assert doc["components"]["database"] == "up" and doc["components"]["redis"] == "up"
    assert doc["node"] == NODE and doc["version"] == "1.0.0-lab" and doc["halted"] is False
    assert requests.get(node["api"] + "/health/live", timeout=5).json() == {"status": "alive"}
    assert requests.get(node["api"] + "/health/ready", timeout=5).json() == {"ready": True}
    home = node["home"]
    wait_for(lambda: log_events(home, "genesis.log").count("Heartbeat sent") >= 2, 10, what="heartbeats")
    events = log_events(home, "genesis.log")
    assert events.count("startup.complete") == 1 and events.count("System initialized successfully") == 1
    assert events.index("startup.complete") < events.index("Heartbeat sent")
    assert node["redis"].hget("genesis:heartbeat", "ts")
    assert all({"timestamp", "level", "event", "logger"} <= set(x) for x in read_log(home, "genesis.log"))
    if HAVE_EXCHANGE:
        wait_for(lambda: requests.get(node["api"] + "/health", timeout=5).json()["components"]
                 ["exchange_gateway"] == "up", 15, what="exchange_gateway up")


def test_auth(node):
    assert requests.get(node["api"] + "/account/status", timeout=5).status_code == 401
    r = requests.get(node["api"] + "/account/status", headers={"X-API-Key": "wrong"}, timeout=5)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    for public in ("/health", "/health/live", "/metrics", "/cluster/peer"):
        assert requests.get(node["api"] + public, timeout=5).status_code in (200, 503)
    r = get(node, "/no/such/thing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_https_listener(node):
    import ssl
    import urllib.request
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://127.0.0.1:{node['tls_port']}/health/live", context=ctx,
                                timeout=5) as resp:
        assert json.loads(resp.read()) == {"status": "alive"}


def test_read_endpoints(node):
    acc = get(node, "/account/status").json()
    assert acc["account_id"] == ACCOUNT and acc["tier"] == "HUNTER" and acc["balance_usdt"] == 5000.0
    pos = get(node, "/positions").json()
    assert pos["count"] == 3 and {p["status"] for p in pos["positions"]} == {"OPEN"}
    assert set(pos["positions"][0]) >= {"position_id", "account_id", "symbol", "side", "entry_price",
                                        "current_price", "quantity", "dollar_value", "pnl_dollars", "status",
                                        "close_reason", "created_at", "closed_at", "updated_at"}
    wait_for(lambda: get(node, "/positions").json()["monitored_at"], 10, what="position monitor")
    assert get(node, "/positions", params={"status": "bogus"}).status_code == 400
    assert get(node, "/positions", params={"status": "all"}).json()["count"] >= 3
    tilt = get(node, "/tilt/status").json()
    assert tilt["score"] == 15.0 and tilt["level"] == "NORMAL" and tilt["cooldown_active"] is False
    tier = get(node, "/config/tier").json()
    assert tier["tier"] == "HUNTER" and tier["max_position_size"] == 500 and tier["state"] == "STABLE"
    assert tier["tiers"] == {"SNIPER": 100, "HUNTER": 500, "STRATEGIST": 2000, "ARCHITECT": 10000}
    assert get(node, "/system/events", params={"limit": 5000}).status_code == 400
    metrics = requests.get(node["api"] + "/metrics", timeout=5).text
    for name in ("genesis_up 1", "genesis_tilt_score", 'genesis_circuit_breaker_state{service="orders"} 0',
                 "genesis_rate_limit_usage_ratio", "genesis_orders_failed_total", "genesis_position_count",
                 "genesis_memory_usage_bytes"):
        assert name in metrics


def test_emergency_halt_resume_idempotent(node):
    r = post(node, "/emergency/halt", {"reason": "test"})
    assert r.status_code == 403 and r.json()["error"] == "confirmation_required"
    r = post(node, "/emergency/halt", {"reason": "test", "confirmation": "HALT TRADING NOW"})
    assert r.status_code == 200 and r.json()["changed"] is True and r.json()["halted"] is True
    again = post(node, "/emergency/halt", {"reason": "other", "confirmation": "HALT TRADING NOW"}).json()
    assert again["changed"] is False and again["reason"] == "test"
    h = requests.get(node["api"] + "/health", timeout=5).json()
    assert h["halted"] is True and h["status"] in ("degraded", "unhealthy")
    assert get(node, "/account/status").json()["trading_enabled"] is False
    assert post(node, "/emergency/resume", {"confirmation": "nope"}).status_code == 403
    assert post(node, "/emergency/resume", {"confirmation": "OVERRIDE EMERGENCY HALT"}).json() == \
        {"changed": True, "halted": False}
    assert post(node, "/emergency/resume", {"confirmation": "OVERRIDE EMERGENCY HALT"}).json()["changed"] is False


def test_circuit_breaker_reset_writes_event(node):
    r = node["redis"]
    r.hset("genesis:breaker:orders", mapping={"state": "open", "failures": "5",
                                              "opened_at": "2030-01-01T00:00:00.000Z", "last_failure": ""})
    b = get(node, "/admin/circuit-breakers").json()["breakers"]
    assert set(b) == {"binance_api", "api", "websocket", "orders"} and b["orders"]["state"] == "open"
    metrics = requests.get(node["api"] + "/metrics", timeout=5).text
    assert 'genesis_circuit_breaker_state{service="orders"} 2' in metrics
    res = post(node, "/admin/circuit-breakers/orders/reset").json()
    assert res == {"changed": True, "name": "orders", "before": "open", "state": "closed"}
    assert post(node, "/admin/circuit-breakers/orders/reset").json()["changed"] is False
    assert post(node, "/admin/circuit-breakers/nope/reset").status_code == 404
    ev = get(node, "/system/events", params={"after": 0, "limit": 1000}).json()
    types = [(e["event_type"], e["aggregate_id"]) for e in ev["events"]]
    assert ("CIRCUIT_BREAKER_RESET", f"system:{NODE}") in types
    assert ev["last_event_id"] == ev["events"][-1]["event_id"]
    seqs = [e["sequence_number"] for e in ev["events"] if e["aggregate_id"] == f"system:{NODE}"]
    assert seqs == list(range(1, len(seqs) + 1))
    audit = [x for x in read_log(node["home"], "audit.log") if x["event_type"] == "CIRCUIT_BREAKER_RESET"]
    assert audit and audit[0]["event"] == "audit_event" and audit[0]["logger"] == "audit"


def test_admin_settings_idempotent(node):
    assert post(node, "/admin/safe-mode", {"enabled": "yes"}).status_code == 400
    assert post(node, "/admin/safe-mode", {"enabled": True, "reason": "t"}).json() == \
        {"changed": True, "before": False, "enabled": True}
    assert post(node, "/admin/safe-mode", {"enabled": True}).json()["changed"] is False
    assert get(node, "/admin/safe-mode").json()["enabled"] is True
    assert post(node, "/admin/safe-mode", {"enabled": False}).json()["changed"] is True

    rl = post(node, "/admin/rate-limits", {"protection": True, "limit_per_minute": 600}).json()
    assert rl["changed"] is True and rl["after"] == {"protection": True, "limit_per_minute": 600}
    assert post(node, "/admin/rate-limits", {"limit_per_minute": 600}).json()["changed"] is False
    assert post(node, "/admin/rate-limits", {"limit_per_minute": 5000}).status_code == 400
    summary = get(node, "/admin/rate-limits").json()
    assert summary["exchange_limit"] == 1200 and summary["warn_ratio"] == 0.8 and summary["limit_per_minute"] == 600
    node["redis"].rpush("genesis:request_queue", json.dumps({"method": "GET", "path": "/api/v3/ping"}),
                        json.dumps({"method": "GET", "path": "/api/v3/time"}))
    q = post(node, "/admin/request-queue/clear").json()
    assert q["changed"] is True and q["cleared"] >= 1
    assert post(node, "/admin/request-queue/clear").json() == {"changed": False, "cleared": 0}

    assert post(node, "/admin/market-data/mode", {"mode": "tcp"}).status_code == 400
    assert post(node, "/admin/market-data/mode", {"mode": "rest"}).json() == \
        {"changed": True, "before": "websocket", "mode": "rest"}
    assert post(node, "/admin/market-data/mode", {"mode": "rest"}).json()["changed"] is False
    assert post(node, "/admin/market-data/mode", {"mode": "websocket"}).json()["changed"] is True
    r = post(node, "/admin/websocket/restart")
    assert r.status_code == 202 and r.json()["changed"] is True
    ws = get(node, "/admin/websocket").json()
    assert set(ws["connections"]) == {"execution", "monitoring", "backup"} and ws["mode"] == "websocket"

    assert post(node, "/admin/limits", {"factor": 0}).status_code == 400
    assert post(node, "/admin/limits", {"factor": 0.5}).json() == {"changed": True, "before": 1.0, "factor": 0.5}
    assert post(node, "/admin/limits", {"factor": 0.5}).json()["changed"] is False
    tier = get(node, "/config/tier").json()
    assert tier["effective_max_position_size"] == 250 and tier["state"] == "PROTECTED"
    state = json.loads((node["home"] / ".genesis" / "state" / "tier_state.json").read_text())
    assert state["limits_factor"] == 0.5
    assert post(node, "/admin/limits", {"factor": 1}).json()["changed"] is True

    assert post(node, "/admin/tilt/cooldown", {"minutes": 0}).status_code == 400
    cd = post(node, "/admin/tilt/cooldown", {"minutes": 5}).json()
    assert cd["changed"] is True and cd["lockout_expiration"]
    assert post(node, "/admin/tilt/cooldown", {"minutes": 5}).json()["changed"] is False
    tilt = get(node, "/tilt/status").json()
    assert tilt["cooldown_active"] is True and tilt["recent_events"][0]["event_type"] == "COOLDOWN_STARTED"
    wait_for(lambda: get(node, "/tilt/status").json()["score"] < 15.0, 15, what="tilt decay")
    wait_for(lambda: "Tilt score decaying" in log_events(node["home"], "tilt.log"), 5, what="decay logged")
    assert "Tilt cooldown started" in log_events(node["home"], "tilt.log")
    sql(node, "UPDATE tilt_profiles SET lockout_expiration = NULL")

    n = post(node, "/admin/notifications", {"kind": "test", "message": "hello", "severity": "info"}).json()
    assert n["changed"] is True and n["notification_id"] >= 1
    lst = get(node, "/admin/notifications").json()["notifications"]
    assert lst[0]["message"] == "hello" and lst[0]["acknowledged_at"] is None
    assert post(node, "/admin/notifications", {"kind": "x"}).status_code == 400

    assert get(node, "/admin/audit/verification").json() == {"enabled": False}
    assert post(node, "/admin/audit/verification", {"enabled": True}).json()["changed"] is True
    assert post(node, "/admin/audit/verification", {"enabled": True}).json()["changed"] is False
    node["redis"].set("genesis:cache:junk", "1")
    cc = post(node, "/admin/caches/clear").json()
    assert cc["changed"] is True and cc["cleared_entries"] >= 1
    hd = post(node, "/admin/heap-dump").json()
    assert Path(hd["path"]).exists() and hd["rss_bytes"] > 0 and hd["top"][0]["size_bytes"] > 0
    assert post(node, "/admin/audit/verification", {"enabled": False}).json()["changed"] is True


def test_strategy_admin(node):
    s = get(node, "/admin/strategies").json()["strategies"]
    assert set(s) == {"mean_reversion", "momentum", "cluster_arbitrage"}
    assert s["cluster_arbitrage"]["primary_only"] is True
    r = post(node, "/admin/strategies/momentum/disable").json()
    assert r["changed"] is True and r["state"] == "STOPPED"
    assert post(node, "/admin/strategies/momentum/disable").json()["changed"] is False
    r = post(node, "/admin/strategies/momentum/enable", {"safe_mode": True}).json()
    assert r["changed"] is True and r["state"] == "RUNNING" and r["after"]["safe_mode"] is True
    assert post(node, "/admin/strategies/momentum/enable", {"safe_mode": True}).json()["changed"] is False
    assert post(node, "/admin/strategies/momentum/enable", {"safe_mode": False}).json()["changed"] is True
    node["redis"].hset("genesis:strategy:momentum", mapping={"params": "{broken", "state": "ERROR",
                                                             "errors_total": "3"})
    r = post(node, "/admin/strategies/momentum/reset").json()
    assert r["changed"] is True and r["state"] == "IDLE"
    assert post(node, "/admin/strategies/momentum/reset").json()["changed"] is False
    assert post(node, "/admin/strategies/nope/reset").status_code == 404


def test_config_validate_and_reload(node):
    home = node["home"]
    v = get(node, "/admin/config/validate").json()
    assert v == {"valid": True, "errors": [], "version": 7}
    first = post(node, "/admin/config/reload").json()
    assert first["changed"] is False and first["version"] == 7 and "config/node.yaml" in first["files"]
    rules = home / "config" / "trading_rules.yaml"
    good = rules.read_text()
    rules.write_text(good.replace("max_leverage: 3", "max_leverage: 50"))
    v = get(node, "/admin/config/validate").json()
    assert v["valid"] is False and "trading_rules.yaml: max_leverage 50 is outside 1..10" in v["errors"]
    r = post(node, "/admin/config/reload")
    assert r.status_code == 422 and r.json()["error"] == "invalid_config" and r.json()["errors"]
    assert "Configuration invalid" in log_events(home, "genesis_error.log")
    rules.write_text(good)
    version_before = node["redis"].get("genesis:config:version")
    nyaml = home / "config" / "node.yaml"
    nyaml.write_text(nyaml.read_text().replace("version: 7", "version: 8"))
    r = post(node, "/admin/config/reload").json()
    assert r["changed"] is True and r["version"] == 8
    assert node["redis"].get("genesis:config:version") != version_before
    assert post(node, "/admin/config/reload").json()["changed"] is False
    assert "Configuration reloaded" in log_events(home, "genesis.log")


def test_cluster_admin(node):
    c = get(node, "/admin/cluster").json()
    assert c["role"] == "primary" and c["fenced"] is False and c["lease"]["holder"] == NODE
    assert c["split_brain"] is False and c["peers"] == {}
    peer = requests.get(node["api"] + "/cluster/peer", timeout=5).json()
    assert peer["node"] == NODE and peer["role"] == "primary" and peer["lease_expires_ts"] > time.time()
    assert post(node, "/admin/cluster", {"fenced": True}).status_code == 403
    r = post(node, "/admin/cluster", {"fenced": True, "confirmation": "HALT TRADING NOW"}).json()
    assert r["changed"] is True and r["after"]["fenced"] is True
    assert post(node, "/admin/cluster", {"fenced": True, "confirmation": "HALT TRADING NOW"}).json()["changed"] is False
    persisted = json.loads((node["home"] / ".genesis" / "state" / "cluster.json").read_text())
    assert persisted["fenced"] is True and persisted["fenced_by"] == "api"
    assert post(node, "/admin/cluster", {"fenced": False}).json()["changed"] is True
    r = post(node, "/admin/cluster", {"role": "standby"}).json()
    assert r["changed"] is True and r["after"]["role"] == "standby"
    # alone in its cluster, the standby promotes itself after lease_ttl (3 s) with term + 1
    wait_for(lambda: get(node, "/admin/cluster").json()["role"] == "primary", 10, what="re-promotion")
    assert get(node, "/admin/cluster").json()["term"] > r["before"]["term"]
    wait_for(lambda: "Promoted to primary" in log_events(node["home"], "genesis.log"), 5, what="promotion log")
    wanted = {"NODE_FENCED", "NODE_UNFENCED", "CLUSTER_ROLE_CHANGED", "CLUSTER_PROMOTED"}
    # the promotion's event row may land just after the role is visible
    wait_for(lambda: wanted <= {e["event_type"] for e in
                                get(node, "/system/events", params={"limit": 1000}).json()["events"]},
             10, what="cluster events")


def test_two_node_cluster_partition_split_brain(node):
    """node2 (own database and Redis db) joins; a partition (lab:partition sets) makes it promote;
    healing shows the split brain on both; demoting node2 resolves it."""
    import psycopg2
    import redis as redislib
    st: Stack = node["stack"]
    admin = psycopg2.connect(**dict(node["dsn"], user="postgres", password=None))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE genesis2 OWNER genesis")
    admin.close()
    conn = psycopg2.connect(**dict(node["dsn"], dbname="genesis2"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(SCHEMA.read_text())
    seed(conn)
    conn.close()
    home1, home2 = node["home"], node["base"] / "node2" / "app"
    shutil.copytree(home1 / "config", home2 / "config")
    for d in (".genesis/logs", ".genesis/state"):
        (home2 / d).mkdir(parents=True)
    env1 = (home1 / ".env").read_text()
    redis_url1 = [x for x in env1.splitlines() if x.startswith("GENESIS_REDIS_URL=")][0]
    (home2 / ".env").write_text(env1.replace("GENESIS_NODE=node1", "GENESIS_NODE=node2")
                                .replace("/genesis\n", "/genesis2\n").replace(redis_url1, redis_url1[:-1] + "1"))
    port2 = free_port()
    n1 = yaml.safe_load((home1 / "config" / "node.yaml").read_text())
    n2 = dict(n1, node="node2", priority=2, api={"host": "127.0.0.1", "port": port2, "tls_port": free_port()},
              peers=[{"name": "node1", "url": node["api"]}])
    (home2 / "config" / "node.yaml").write_text(yaml.safe_dump(n2))
    api2 = f"http://127.0.0.1:{port2}"
    r1 = node["redis"]
    r2 = redislib.Redis(connection_pool=redislib.ConnectionPool(**dict(r1.connection_pool.connection_kwargs, db=1)))
    st.spawn("genesis2", [PY, "-m", "genesis_lab.node", "genesis", "--home", str(home2)], env=node_env())
    (home1 / "config" / "node.yaml").write_text(yaml.safe_dump(dict(n1, peers=[{"name": "node2", "url": api2}])))
    try:
        assert post(node, "/admin/config/reload").json()["changed"] is True
        wait_for(lambda: requests.get(api2 + "/health", timeout=2).status_code == 200, 30, what="node2 up")

        def c1():
            return get(node, "/admin/cluster").json()

        def c2():
            return requests.get(api2 + "/admin/cluster", headers=H(), timeout=5).json()
        wait_for(lambda: c1()["peers"]["node2"]["reachable"] and c2()["peers"]["node1"]["reachable"], 10,
                 what="peers reachable")
        assert c1()["role"] == "primary" and c2()["role"] == "standby"
        assert c2()["lease"]["holder"] == "node1" and c2()["term"] == c1()["term"]
        # partition (application-level emulation, as in local isolation)
        r1.sadd("lab:partition", "node2")
        r2.sadd("lab:partition", "node1")
        wait_for(lambda: c2()["role"] == "primary", 10, what="node2 promotes after lease_ttl")
        assert c2()["term"] == c1()["term"] + 1 and c1()["role"] == "primary"
        assert not c1()["split_brain"]
        # heal: both claim primary -> split brain on both, nobody steps down on its own
        r1.delete("lab:partition")
        r2.delete("lab:partition")
        wait_for(lambda: c1()["split_brain"] and c2()["split_brain"], 10, what="split brain")
        wait_for(lambda: "Split-brain detected" in log_events(home1, "genesis_error.log") and
                 "Split-brain detected" in log_events(home2, "genesis_error.log"), 5, what="split-brain logs")
        demote = requests.post(api2 + "/admin/cluster", headers=H(), json={"role": "standby"}, timeout=5).json()
        assert demote["changed"] is True and demote["after"]["role"] == "standby"
        wait_for(lambda: not c1()["split_brain"] and not c2()["split_brain"], 10, what="split brain resolved")
        assert c2()["lease"]["holder"] == "node1"
    finally:
        st.stop("genesis2")
        (home1 / "config" / "node.yaml").write_text(yaml.safe_dump(n1))
        post(node, "/admin/config/reload")


def test_db_down_is_reported_and_survived(node):
    """Stopping PostgreSQL makes health 503 and DB endpoints 503; the node recovers when it is back."""
    st: Stack = node["stack"]
    pg = st.procs["postgres"]
    pg.send_signal(signal.SIGINT)            # our own postgres: fast shutdown
    pg.wait(timeout=20)
    st.stop("postgres")
    try:
        wait_for(lambda: requests.get(node["api"] + "/health", timeout=8).status_code == 503, 30,
                 what="unhealthy")
        doc = requests.get(node["api"] + "/health", timeout=8).json()
        assert doc["status"] == "unhealthy" and doc["components"]["database"] == "down"
        r = get(node, "/account/status")
        assert r.status_code == 503 and r.json()["error"] == "unavailable" and "database" in r.json()["message"]
        assert requests.get(node["api"] + "/health/ready", timeout=8).status_code == 503
    finally:
        st.spawn("postgres", node["pg_argv"], preexec_fn=as_postgres(), cwd="/tmp")
    wait_for(lambda: requests.get(node["api"] + "/health", timeout=8).status_code == 200, 30, what="healthy again")
    assert get(node, "/account/status").status_code == 200
    assert "Database connection lost" in log_events(node["home"], "genesis_error.log")


# ---------------------------------------------------------------------------- the whole node
@pytest.mark.skipif(not HAVE_EXCHANGE, reason="the lab exchange is not present")
def test_node_programs_trade_and_react_to_faults(node):
    st: Stack = node["stack"]
    home, r, api = node["home"], node["redis"], node["api"]
    env = node_env()
    for prog in ("market_data", "executor", "strategies"):
        st.spawn(prog, [PY, "-m", "genesis_lab.node", prog, "--home", str(home)], env=env)
    # market data: tickers fresh, books, connections
    wait_for(lambda: all(r.hget(f"market:ticker:{s}", "price") for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")), 20,
             what="tickers")
    ws = wait_for(lambda: (lambda d: d if all(c["state"] == "connected" for c in d["connections"].values())
                           else None)(get(node, "/admin/websocket").json()), 15, what="ws connected")
    assert all(t["age_s"] is not None and t["age_s"] < 3 for t in ws["tickers"].values())
    # tickers and books are written separately: wait for the book as well
    book = wait_for(lambda: (lambda b: b if "bids" in b else None)(r.hgetall("orderbook:BTCUSDT")), 15, what="book")
    assert len(json.loads(book["bids"])) == 20 and json.loads(book["bids"])[0][0] < json.loads(book["asks"])[0][0]
    wait_for(lambda: requests.get(api + "/health", timeout=5).json()["status"] == "healthy", 20, what="healthy")
    # strategies -> executor -> exchange
    def filled():
        return sql(node, "SELECT count(*) FROM orders WHERE status='FILLED' AND strategy IS NOT NULL AND node=%s",
                   (NODE,))[0][0] >= 2
    wait_for(filled, 45, interval=0.5, what="filled strategy orders")
    assert "Order filled" in log_events(home, "trading.log")
    assert sql(node, "SELECT count(*) FROM positions WHERE position_id LIKE 'pos-node1-%%' "
                     "AND position_id NOT LIKE 'pos-node1-open%%'")[0][0] >= 1
    chains = dict(sql(node, "SELECT aggregate_id, array_agg(event_type ORDER BY sequence_number) FROM events "
                            "WHERE aggregate_id LIKE 'order:%%' GROUP BY aggregate_id"))
    assert any(v[:3] == ["ORDER_CREATED", "ORDER_SUBMITTED", "ORDER_FILLED"] for v in chains.values())
    s = get(node, "/admin/strategies").json()["strategies"]
    assert s["mean_reversion"]["state"] == "RUNNING" and s["cluster_arbitrage"]["state"] in ("RUNNING", "PAUSED")
    # request queue drained through the limiter, used weight recorded
    r.rpush("genesis:request_queue", *[json.dumps({"method": "GET", "path": "/api/v3/depth",
                                                   "params": {"symbol": "BTCUSDT", "limit": 100}})] * 3)
    wait_for(lambda: r.llen("genesis:request_queue") == 0, 10, what="queue drained")
    assert get(node, "/admin/rate-limits").json()["used_weight_1m"] > 0
    # invalid strategy params: ERROR every tick until reset
    r.hset("genesis:strategy:momentum", "params", "{broken json")
    wait_for(lambda: get(node, "/admin/strategies").json()["strategies"]["momentum"]["state"] == "ERROR", 10,
             what="strategy ERROR")
    assert "Strategy error" in log_events(home, "trading.log")
    assert post(node, "/admin/strategies/momentum/reset").json()["changed"] is True
    wait_for(lambda: get(node, "/admin/strategies").json()["strategies"]["momentum"]["state"] == "RUNNING", 10,
             what="strategy RUNNING again")
    # invalid correlation matrix: error logged
    corr_path = home / ".genesis" / "state" / "correlation_matrix.json"
    bad = dict(CORR, matrix=[[1.0, 1.7, 0.71], [0.82, 1.0, 0.76], [0.71, 0.76, 1.0]])
    corr_path.write_text(json.dumps(bad))
    wait_for(lambda: "Correlation calculation error" in log_events(home, "trading.log"), 10, what="corr error")
    corr_path.write_text(json.dumps(CORR))
    # REST fallback mode
    assert post(node, "/admin/market-data/mode", {"mode": "rest"}).json()["changed"] is True
    wait_for(lambda: r.hget("market:ticker:BTCUSDT", "source") == "rest", 6, what="rest tickers")
    assert requests.get(api + "/health", timeout=5).json()["status"] == "degraded"
    assert post(node, "/admin/market-data/mode", {"mode": "websocket"}).json()["changed"] is True
    wait_for(lambda: r.hget("market:ticker:BTCUSDT", "source") == "websocket", 6, what="websocket tickers")
    # book_desync fault: crossed and frozen book, written with a fresh ts
    r.hset("lab:fault:market_data", "book_desync", "ETHUSDT")

    def crossed():
        b = r.hgetall("orderbook:ETHUSDT")
        return json.loads(b["bids"])[0][0] > json.loads(b["asks"])[0][0] and time.time() - float(b["ts"]) < 2.5
    wait_for(crossed, 6, what="crossed ETHUSDT book")
    time.sleep(1.5)
    assert crossed()
    # slow_cache fault: authenticated requests take > 1 s until the caches are cleared
    r.hset("lab:fault:genesis", "slow_cache", "1")

    def slow():
        t0 = time.monotonic()
        get(node, "/account/status")
        return time.monotonic() - t0 > 1.0
    wait_for(slow, 6, what="slow API")
    assert requests.get(api + "/health", timeout=5).elapsed.total_seconds() < 1.0
    assert post(node, "/admin/caches/clear").json()["cleared_entries"] > 1000
    assert not slow()
    # emergency close-all with real exchange orders (halted first so nothing reopens)
    post(node, "/emergency/halt", {"reason": "test close-all", "confirmation": "HALT TRADING NOW"})
    assert post(node, "/emergency/close-all", {"max_slippage_percent": 1}).status_code == 403
    res = post(node, "/emergency/close-all", {"confirmation": "CLOSE ALL POSITIONS", "max_slippage_percent": 1}).json()
    assert res["changed"] is True and res["closed"] and res["failed"] == []
    assert all(c["exchange_order_id"] and c["price"] > 0 for c in res["closed"])
    assert get(node, "/positions").json()["count"] == 0
    reasons = {x[0] for x in sql(node, "SELECT close_reason FROM positions WHERE position_id = ANY(%s)",
                                 ([c["position_id"] for c in res["closed"]],))}
    assert reasons == {"emergency"}
    assert post(node, "/emergency/close-all", {"confirmation": "CLOSE ALL POSITIONS"}).json() == \
        {"changed": False, "closed": [], "failed": []}
    post(node, "/emergency/resume", {"confirmation": "OVERRIDE EMERGENCY HALT"})
    # ws_disconnect fault, then the restart request reconnects
    r.hset("lab:fault:market_data", "ws_disconnect", "1")
    wait_for(lambda: all(c["state"] != "connected" for c in get(node, "/admin/websocket").json()["connections"]
                         .values()), 10, what="ws disconnected")
    assert "WebSocket disconnected" in log_events(home, "genesis.log")
    assert post(node, "/admin/websocket/restart").status_code == 202
    wait_for(lambda: all(c["state"] == "connected" for c in get(node, "/admin/websocket").json()["connections"]
                         .values()), 5, what="ws reconnected within 3 s (+ polling)")
    # wedged executor: Order rejected + orders breaker opens
    r.hset("lab:fault:executor", "wedge", "1")
    wait_for(lambda: get(node, "/admin/circuit-breakers").json()["breakers"]["orders"]["state"] == "open", 40,
             interval=0.5, what="orders breaker open")
    rejected = [x for x in read_log(home, "trading.log") if x["event"] == "Order rejected"]
    assert rejected and rejected[-1]["reason"] == "executor session wedged"
    # SIGTERM: every program exits 0 promptly
    for prog in ("strategies", "executor", "market_data"):
        t0 = time.monotonic()
        assert st.stop(prog) == 0
        assert time.monotonic() - t0 < 5


EXPECTED_ERRORS = {"Configuration invalid", "Database connection lost", "Order rejected", "Strategy error",
                   "Correlation calculation error", "Split-brain detected", "Backup failed",
                   "Emergency close requested"}


def test_no_unexpected_errors_logged(node):
    """Everything at error level so far was provoked by a test."""
    unexpected = [x for x in read_log(node["home"], "genesis_error.log") if x["event"] not in EXPECTED_ERRORS]
    assert unexpected == []


def test_genesis_sigterm_exits_zero_promptly(node):
    st: Stack = node["stack"]
    t0 = time.monotonic()
    assert st.stop("genesis") == 0
    assert time.monotonic() - t0 < 5
    assert "Shutdown requested" in log_events(node["home"], "genesis.log")


def test_backup_program(stack, tmp_path):
    if shutil.which("restic") is None:
        pytest.skip("restic is not installed")
    home = stack["home"]
    pwfile = home / ".genesis" / "backups" / "restic-password"
    pwfile.write_text("test-restic-password\n")
    os.chmod(pwfile, 0o600)
    repo = home / ".genesis" / "backups" / "restic-repo"
    env = dict(os.environ, RESTIC_PASSWORD_FILE=str(pwfile))
    subprocess.run(["restic", "-r", str(repo), "init", "--no-cache"], check=True, capture_output=True, env=env,
                   timeout=60)
    out = subprocess.run([PY, "-m", "genesis_lab.node", "backup", "--home", str(home)], env=node_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    done = [x for x in read_log(home, "genesis.log") if x["event"] == "Backup completed"]
    assert done and done[-1]["snapshot_id"]
    snaps = subprocess.run(["restic", "-r", str(repo), "snapshots", "--json", "--no-cache", "--tag", "genesis"],
                           check=True, capture_output=True, text=True, env=env, timeout=60)
    assert len(json.loads(snaps.stdout)) == 1
    pwfile.write_text("wrong\n")
    bad = subprocess.run([PY, "-m", "genesis_lab.node", "backup", "--home", str(home)], env=node_env(),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Backup failed" in log_events(home, "genesis_error.log")


def test_listener_writes_event_row(stack):
    p = "processname:executor groupname:genesis from_state:RUNNING expected:0 pid:4242"
    data = f"ver:3.0 server:supervisor serial:1 pool:genesis_exit poolserial:1 eventname:PROCESS_STATE_EXITED " \
           f"len:{len(p)}\n{p}"
    out = subprocess.run([PY, "-m", "genesis_lab.node", "listener", "--home", str(stack["home"])], input=data,
                         env=node_env(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("READY\nRESULT 2\nOK")
    rows = sql(stack, "SELECT event_data FROM events WHERE event_type='EMERGENCY_CLOSE_REQUESTED' "
                      "AND aggregate_id=%s", (f"system:{NODE}",))
    assert rows and rows[-1][0]["processname"] == "executor"
    assert "Emergency close requested" in log_events(stack["home"], "genesis.log")


def test_listener_under_real_supervisord(stack, tmp_path):
    """A killed `genesis` group program fires the listener; a supervisor stop does not."""
    supervisord = Path(PY).parent / "supervisord"
    if not supervisord.exists():
        pytest.skip("supervisord is not installed in the venv")
    home = stack["home"]
    jsonl = home / ".genesis" / "state" / "emergency_close_requests.jsonl"
    before = len(jsonl.read_text().splitlines()) if jsonl.exists() else 0
    sock = tmp_path / "supervisor.sock"
    conf = tmp_path / "supervisord.conf"
    env_line = f"PYTHONPATH=\"{LAB}\""
    conf.write_text(f"""[unix_http_server]
file={sock}
[supervisord]
logfile={tmp_path}/supervisord.log
pidfile={tmp_path}/supervisord.pid
childlogdir={tmp_path}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:sleeper]
command={PY} -c "import time; time.sleep(3600)"
startsecs=1
autorestart=false
[program:other]
command={PY} -c "import time; time.sleep(3600)"
startsecs=1
autorestart=false
[group:genesis]
programs=sleeper
[eventlistener:genesis_exit]
command={PY} -m genesis_lab.node listener --home {home}
events=PROCESS_STATE_EXITED,PROCESS_STATE_FATAL
environment={env_line}
""")
    st: Stack = stack["stack"]
    st.spawn("supervisord", [str(supervisord), "-n", "-c", str(conf)])
    import xmlrpc.client

    from supervisor.xmlrpc import SupervisorTransport
    def sup():
        return xmlrpc.client.ServerProxy("http://127.0.0.1",
                                         transport=SupervisorTransport(None, None, f"unix://{sock}")).supervisor
    try:
        wait_for(lambda: sup().getProcessInfo("genesis:sleeper")["statename"] == "RUNNING" and
                 sup().getProcessInfo("genesis_exit")["statename"] == "RUNNING", 20, what="supervisor up")
        sup().stopProcess("genesis:sleeper", True)        # expected: no fire
        pid = sup().getProcessInfo("other")["pid"]
        os.kill(pid, signal.SIGKILL)                                  # not in the genesis group: no fire
        sup().startProcess("genesis:sleeper", True)
        pid = sup().getProcessInfo("genesis:sleeper")["pid"]
        os.kill(pid, signal.SIGKILL)                                  # unexpected exit: fires
        wait_for(lambda: jsonl.exists() and len(jsonl.read_text().splitlines()) == before + 1, 15,
                 what="emergency close request line")
        time.sleep(1.0)
        lines = jsonl.read_text().splitlines()
        assert len(lines) == before + 1
        rec = json.loads(lines[-1])
        assert rec["processname"] == "sleeper" and rec["groupname"] == "genesis" and rec["expected"] == "0"
    finally:
        st.stop("supervisord")
