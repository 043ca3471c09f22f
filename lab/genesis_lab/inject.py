"""genesis-lab inject SCENARIO --node NODE: reproduce one runbook scenario's fault for real.

Every injection works through the node's real interfaces (supervisor XML-RPC on the node's
socket, SQL over the unix socket, Redis, files, nft inside the namespaces, the exchange's
/_lab controls, and for faults that live in process memory the `lab:fault:<program>` hooks
of lab/DESIGN.md), then waits, bounded, until the scenario's detection signal
(docs/genesis-contract.md section 7) is observable through the contract's own interfaces.
`inject()` returns what it did and the evidence a role should detect; `main()` prints that
document as JSON and exits 0 (signal observed), 1 (injected but the signal did not appear in
time, or the injection failed) or 2 (unknown scenario or node, or a scenario this isolation
cannot do; nothing changed).

Scenarios (number, name, role name) and what they do are in SCENARIOS / the `_sNN`
functions below; each function's docstring is the documentation of that injection.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from . import status as st
from .labspec import SYMBOLS, Lab, Node

SCENARIOS: list[tuple[int, str, str]] = [
    (1, "system_outage", "system_restart"),
    (2, "order_execution", "fix_execution"),
    (3, "market_data", "restore_market_data"),
    (4, "database", "database_recovery"),
    (5, "memory", "memory_cleanup"),
    (6, "tilt", "tilt_intervention"),
    (7, "rate_limit", "rate_limit_recovery"),
    (8, "position_size", "position_compliance"),
    (9, "certificates", "cert_renewal"),
    (10, "disk_space", "disk_cleanup"),
    (11, "network_partition", "heal_partition"),
    (12, "correlation", "fix_correlations"),
    (13, "orderbook", "orderbook_sync"),
    (14, "authentication", "fix_auth"),
    (15, "strategy", "strategy_recovery"),
    (16, "backup", "backup_recovery"),
    (17, "performance", "performance_tune"),
    (18, "audit_trail", "audit_recovery"),
    (19, "config_drift", "config_restore"),
    (20, "emergency", "emergency_shutdown"),
]
VARIANTS = {14: ("revoke", "clock")}
GENESIS_GROUP = ("executor", "genesis", "market_data", "strategies")
LOG_FILES = ("genesis.log", "trading.log", "tilt.log", "audit.log", "genesis_error.log")
TIER_MAX = {"SNIPER": 100.0, "HUNTER": 500.0, "STRATEGIST": 2000.0, "ARCHITECT": 10000.0}


class InjectUsage(Exception):
    """Bad input or a scenario this lab cannot do: exit 2, nothing changed."""


class InjectFailed(Exception):
    """The injection ran but its signal did not appear (or a step failed): exit 1."""


# ---------------------------------------------------------------------------- scenario names
def valid_choices() -> str:
    names = ", ".join(n for _, n, _ in SCENARIOS)
    roles = ", ".join(r for _, _, r in SCENARIOS)
    return (f"1-20 or one of {names} (or the role names {roles}); scenario 14 also takes the variant "
            f"14:clock / authentication:clock")


def resolve(scenario: str) -> tuple[int, str, str | None]:
    """(number, name, variant) for '7', 'rate_limit', 'rate_limit_recovery', '14:clock'."""
    raw = str(scenario).strip()
    base, _, variant = raw.partition(":")
    key = base.strip().lower().replace("-", "_")
    num = None
    if key.isdigit():
        num = int(key) if 1 <= int(key) <= 20 else None
    else:
        for n, name, role in SCENARIOS:
            if key in (name, role):
                num = n
    if num is None:
        raise InjectUsage(f"unknown scenario {raw!r}; valid scenarios: {valid_choices()}.")
    variant = variant.strip().lower() or None
    if variant is not None and variant not in VARIANTS.get(num, ()):
        allowed = VARIANTS.get(num)
        raise InjectUsage(f"scenario {num} ({SCENARIOS[num - 1][1]}) has no variant {variant!r}; "
                          + (f"valid variants: {', '.join(allowed)}." if allowed else "it takes no variant."))
    return num, SCENARIOS[num - 1][1], variant


# ---------------------------------------------------------------------------- context
class Ctx:
    """One injection: the node, the clock, what was done and the evidence gathered."""

    def __init__(self, lab: Lab, node: Node, num: int, name: str, variant: str | None):
        self.lab, self.node, self.num, self.name, self.variant = lab, node, num, name, variant
        self.t0 = time.time()
        self.did: list[str] = []
        self.evidence: dict[str, Any] = {}
        self.notes: list[str] = []
        self.detect = ""
        self.logpos = {f: self._size(f) for f in LOG_FILES}

    def _size(self, fname: str) -> int:
        try:
            return (self.node.logs_dir / fname).stat().st_size
        except OSError:
            return 0

    def step(self, text: str) -> None:
        self.did.append(text)

    def since(self) -> float:
        return round(time.time() - self.t0, 2)

    # logs written since the injection started
    def logged(self, fname: str, event: str, **fields: Any) -> dict | None:
        path = self.node.logs_dir / fname
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                start = self.logpos.get(fname, 0)
                f.seek(start if start <= size else 0)
                data = f.read()
        except OSError:
            return None
        for line in data.decode("utf-8", "replace").splitlines():
            if event not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if str(rec.get("event", "")).startswith(event) and all(
                    str(rec.get(k)) == str(v) for k, v in fields.items()):
                return rec
        return None

    def wait(self, what: str, fn: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
        """Poll fn until it returns something truthy; InjectFailed after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last_exc = None
        while True:
            try:
                v = fn()
                if v:
                    return v
            except Exception as e:  # noqa: BLE001  (a probe failing is "not yet")
                last_exc = e
            if time.monotonic() >= deadline:
                extra = f" (last probe error: {st._err(last_exc)})" if last_exc else ""
                raise InjectFailed(f"{what}: not observed within {timeout:.0f} s{extra}")
            time.sleep(interval)

    def result(self) -> dict:
        return {"scenario": self.num, "name": self.name, "role": SCENARIOS[self.num - 1][2],
                "variant": self.variant, "node": self.node.name, "lab": self.lab.name,
                "started_at": _iso(self.t0), "elapsed_s": self.since(), "observed": True,
                "did": self.did, "detect": self.detect, "evidence": self.evidence, "notes": self.notes}


def _iso(ts: float | dt.datetime | None = None) -> str:
    if ts is None:
        ts = time.time()
    if isinstance(ts, (int, float)):
        ts = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------- node access helpers
def sup(node: Node):
    return node.supervisor().supervisor


def prog_states(node: Node) -> dict[str, str]:
    return {st.prog_name(i): i["statename"] for i in sup(node).getAllProcessInfo()}


def prog_pid(node: Node, name: str) -> int | None:
    group = "genesis" if name in GENESIS_GROUP else name
    info = sup(node).getProcessInfo(f"{group}:{name}")
    return info["pid"] if info["statename"] == "RUNNING" and info["pid"] else None


def health(node: Node) -> tuple[int | None, dict | str]:
    import requests
    try:
        code, doc, _ = st.api(node, "GET", "/health", auth=False, timeout=3)
        return code, doc
    except requests.RequestException as e:
        return None, st._err(e)


def api(node: Node, method: str, path: str, body: dict | None = None, timeout: float = 5.0):
    return st.api(node, method, path, body=body, timeout=timeout)


def api_json(node: Node, path: str, timeout: float = 5.0) -> dict:
    code, doc, _ = api(node, "GET", path, timeout=timeout)
    if code != 200 or not isinstance(doc, dict):
        raise InjectFailed(f"GET {path} on {node.name} answered {code}: {str(doc)[:200]}")
    return doc


def sql(node: Node, query: str, params: Any = None, fetch: bool = True) -> list[tuple]:
    conn = node.db(connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if fetch and cur.description else []
    finally:
        conn.close()


def rds(node: Node):
    return node.redis(socket_timeout=3, socket_connect_timeout=3)


def set_fault(node: Node, program: str, mapping: dict[str, str]) -> None:
    r = rds(node)
    try:
        r.hset(f"lab:fault:{program}", mapping=mapping)
    finally:
        r.close()


def fault_taken(node: Node, program: str) -> bool:
    r = rds(node)
    try:
        return not r.exists(f"lab:fault:{program}")
    finally:
        r.close()


def read_env(node: Node) -> dict[str, str]:
    env = {}
    for line in node.env_file.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def genesis_rss(node: Node) -> int:
    kids = st.children_map()
    total = 0
    for i in sup(node).getAllProcessInfo():
        if i["group"] == "genesis" and i["statename"] == "RUNNING" and i["pid"]:
            total += st.tree_rss(i["pid"], kids)
    return total


def memory_budget_mb(node: Node) -> float:
    try:
        import yaml
        doc = yaml.safe_load((node.config_dir / "node.yaml").read_text())
        return float(doc.get("memory_budget_mb") or 400)
    except Exception:  # noqa: BLE001
        return float(node.data.get("memory_budget_mb", 400))


def insert_event(cur, node: Node, event_type: str, aggregate_id: str, data: dict) -> dict:
    """An events row with the next sequence number of its aggregate (as genesis writes it,
    advisory-locked per aggregate) and its audit.log line."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (aggregate_id,))
    cur.execute("INSERT INTO events (event_type, aggregate_id, event_data, sequence_number) VALUES "
                "(%s, %s, %s::jsonb, (SELECT COALESCE(MAX(sequence_number), 0) + 1 FROM events "
                "WHERE aggregate_id = %s)) RETURNING event_id, sequence_number, created_at",
                (event_type, aggregate_id, json.dumps(data), aggregate_id))
    event_id, seq, created = cur.fetchone()
    return {"event_id": event_id, "event_type": event_type, "aggregate_id": aggregate_id,
            "sequence_number": seq, "event_data": data, "created_at": _iso(created)}


def audit_log(node: Node, rows: list[dict]) -> None:
    with open(node.logs_dir / "audit.log", "a") as f:
        for r in rows:
            f.write(json.dumps({"timestamp": r["created_at"], "level": "info", "event": "audit_event",
                                "logger": "audit", **r}) + "\n")


def signed_call(lab: Lab, api_key: str, secret: str, path: str = "/api/v3/account",
                offset_ms: int = 0) -> tuple[int, dict]:
    """A signed GET to the exchange with the node's credentials (from the root namespace)."""
    import hashlib
    import hmac
    import urllib.parse

    import requests
    q = urllib.parse.urlencode({"recvWindow": 5000, "timestamp": int(time.time() * 1000) + offset_ms})
    sig = hmac.new(secret.encode(), q.encode(), hashlib.sha256).hexdigest()
    r = requests.get(f"{lab.exchange_url}{path}?{q}&signature={sig}", headers={"X-MBX-APIKEY": api_key},
                     timeout=5)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, {"raw": r.text[:200]}


def redis_tickers(node: Node) -> dict[str, dict]:
    r = rds(node)
    try:
        now = time.time()
        out = {}
        for s in SYMBOLS:
            h = r.hgetall(f"market:ticker:{s}") or {}
            ts = st._num(h.get("ts"))
            out[s] = {"price": st._num(h.get("price")), "age_s": round(now - ts, 2) if ts else None}
        return out
    finally:
        r.close()


def restic(node: Node, *args: str, check: bool = True, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, RESTIC_REPOSITORY=str(node.restic_repository),
               RESTIC_PASSWORD_FILE=str(node.restic_password_file),
               RESTIC_CACHE_DIR=str(node.root / "run" / "restic-cache"))
    env.update(env_extra or {})
    p = subprocess.run(["restic", *args], capture_output=True, text=True, env=env, cwd=str(node.home), timeout=120)
    if check and p.returncode != 0:
        raise InjectFailed(f"restic {' '.join(args[:2])} failed: {(p.stderr or p.stdout).strip()[:300]}")
    return p


def snapshots(node: Node) -> list[dict]:
    p = restic(node, "snapshots", "--json", "--no-lock")
    return json.loads(p.stdout or "[]") or []


def snap_time(s: dict) -> float:
    return st._ts(re.sub(r"(\.\d{6})\d+", r"\1", s["time"])) or 0.0


# ---------------------------------------------------------------------------- the scenarios
def _s01(c: Ctx) -> None:
    """system_outage: stop every program of the `genesis` group through supervisor
    (stopProcessGroup, an expected exit: the genesis_exit listener does not fire).
    Signal: GET /health does not answer 200 (the API is gone), the genesis programs are
    STOPPED, and `genesis:heartbeat` stops advancing (older than 60 s one minute later)."""
    n = c.node
    r = rds(n)
    hb_before = r.hget("genesis:heartbeat", "ts")
    r.close()
    res = sup(n).stopProcessGroup("genesis", True)
    c.step("supervisor stopProcessGroup genesis: " + ", ".join(f"{x['name']}={x['description']}" for x in res))
    c.detect = ("GET /health does not answer 200; genesis:* programs not RUNNING; heartbeat older than 60 s "
                "(contract 7, scenario 1)")
    code, doc = c.wait("GET /health failing", lambda: (lambda h: h if h[0] != 200 else None)(health(n)), 15)
    states = prog_states(n)
    time.sleep(1.0)
    r = rds(n)
    hb_after = r.hget("genesis:heartbeat", "ts")
    r.close()
    if hb_after != hb_before and hb_after is not None and float(hb_after) > c.t0 + 0.5:
        raise InjectFailed("the heartbeat still advances after the genesis group was stopped")
    hb = st._num(hb_after)
    c.evidence = {"health": {"code": code, "body": doc}, "programs": states,
                  "heartbeat_ts": hb, "heartbeat_age_s": round(time.time() - hb, 1) if hb else None,
                  "heartbeat_older_than_60s_at": _iso(hb + 60) if hb else None}


def _s02(c: Ctx) -> None:
    """order_execution: the executor's `wedge` hook, then fresh PENDING orders.
    Sets `lab:fault:executor` wedge=1 and waits until the executor took it; then, if the node
    has no PENDING order, inserts 3 small MARKET BUY orders (status PENDING, created_at =
    now(), node = this node, strategy mean_reversion) with their ORDER_CREATED events and
    audit.log lines, as the strategies create orders. The wedged executor fails every submission locally: it logs
    `Order rejected` (reason `executor session wedged`) and records failures on the `orders`
    breaker, which opens at 5; the orders stay PENDING.
    Signal returned: `orders` breaker open (GET /admin/circuit-breakers) and `Order rejected`
    in trading.log. The contract's "PENDING older than 30 s" is reached naturally 30 s after
    the injection (`evidence.pending_older_than_30s_at`); nothing is backdated."""
    n = c.node
    set_fault(n, "executor", {"wedge": "1"})
    c.step("HSET lab:fault:executor wedge 1")
    c.wait("the executor taking the wedge hook", lambda: fault_taken(n, "executor"), 15)
    acct = n.account_id
    prices = redis_tickers(n)
    created = []
    (existing,), = sql(n, "SELECT count(*) FROM orders WHERE status='PENDING' AND node=%s", (n.name,))
    conn = n.db()
    try:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            for sym, qty in () if existing else (("BTCUSDT", "0.0003"), ("ETHUSDT", "0.006"), ("SOLUSDT", "0.15")):
                u = uuid.uuid4().hex
                oid, cid = f"ord-{n.name}-{u[:12]}", f"gl{n.name}{u[:14]}"[:36]
                cur.execute("INSERT INTO orders (order_id, account_id, client_order_id, symbol, type, side, "
                            "quantity, status, strategy, node) VALUES (%s,%s,%s,%s,'MARKET','BUY',%s,'PENDING',"
                            "'mean_reversion',%s) RETURNING created_at", (oid, acct, cid, sym, Decimal(qty), n.name))
                ev = insert_event(cur, n, "ORDER_CREATED", f"order:{oid}", {
                    "order_id": oid, "client_order_id": cid, "symbol": sym, "side": "BUY", "type": "MARKET",
                    "quantity": float(qty), "price": None, "strategy": "mean_reversion", "position_id": None,
                    "node": n.name})
                created.append({"order_id": oid, "symbol": sym, "quantity": qty,
                                "reference_price": prices.get(sym, {}).get("price"), "event": ev})
    finally:
        conn.close()
    audit_log(n, [o.pop("event") for o in created])
    if created:
        c.step(f"inserted {len(created)} PENDING orders with ORDER_CREATED events: "
               + ", ".join(o["order_id"] for o in created))
    else:
        c.step(f"kept the {existing} PENDING order(s) already there (none inserted)")
    c.detect = ("orders PENDING older than 30 s; circuit breaker `orders` open; `Order rejected` in trading.log "
                "(contract 7, scenario 2)")
    br = c.wait("circuit breaker `orders` open",
                lambda: (lambda d: d if d["breakers"]["orders"]["state"] == "open" else None)(
                    api_json(n, "/admin/circuit-breakers")), 30)
    rej = c.wait("`Order rejected` in trading.log", lambda: c.logged("trading.log", "Order rejected"), 10)
    rows = sql(n, "SELECT order_id, EXTRACT(EPOCH FROM created_at)::float FROM orders "
                  "WHERE status='PENDING' AND node=%s ORDER BY created_at", (n.name,))
    oldest = rows[0][1] if rows else c.t0
    c.evidence = {"created": created, "pending_orders": [r[0] for r in rows], "breaker": br["breakers"]["orders"],
                  "order_rejected_log": rej, "pending_count": len(rows),
                  "oldest_pending_age_s": round(time.time() - oldest, 1),
                  "pending_older_than_30s_at": _iso(oldest + 30)}
    c.notes.append("the PENDING > 30 s criterion is met 30 s after the injection (orders are created with "
                   "created_at = now(), never backdated)")


def _s03(c: Ctx) -> None:
    """market_data: the market_data `ws_disconnect` hook. market_data closes every stream
    (connections `disconnected`), logs `WebSocket disconnected` and does not reconnect by
    itself. Signal (waited for, about 11 s): every `market:ticker:*` older than 10 s and the
    connections not `connected` (GET /admin/websocket), `WebSocket disconnected` in genesis.log."""
    n = c.node
    set_fault(n, "market_data", {"ws_disconnect": "1"})
    c.step("HSET lab:fault:market_data ws_disconnect 1")
    c.detect = "tickers older than 10 s; a websocket connection not `connected` (contract 7, scenario 3)"
    c.wait("market_data taking the hook", lambda: fault_taken(n, "market_data"), 15)
    logrec = c.wait("`WebSocket disconnected` in genesis.log",
                    lambda: c.logged("genesis.log", "WebSocket disconnected"), 15)

    def stale():
        doc = api_json(n, "/admin/websocket")
        ages = [t["age_s"] for t in doc["tickers"].values()]
        if ages and all(a is not None and a > 10 for a in ages) and \
                any(v["state"] != "connected" for v in doc["connections"].values()):
            return doc
        return None
    doc = c.wait("every ticker older than 10 s", stale, 30, interval=0.5)
    c.evidence = {"websocket": doc, "websocket_disconnected_log": logrec}


def _s04(c: Ctx) -> None:
    """database: stop program `postgresql` through supervisor (the lab's service manager for
    the node's database). Signal: GET /health answers 503 with components.database `down`;
    the database refuses connections."""
    n = c.node
    res = sup(n).stopProcess("postgresql", True)
    c.step(f"supervisor stopProcess postgresql: {res}")
    c.detect = "GET /health 503 with components.database down; SQL connections refused (scenario 4)"

    def down():
        code, doc = health(n)
        if code == 503 and isinstance(doc, dict) and doc.get("components", {}).get("database") == "down":
            return code, doc
        return None
    code, doc = c.wait("GET /health 503 with database down", down, 20)
    try:
        sql(n, "SELECT 1")
        refused = None
    except Exception as e:  # noqa: BLE001
        refused = st._err(e)
    c.evidence = {"health": {"code": code, "body": doc}, "programs": prog_states(n), "sql_error": refused}


def _s05(c: Ctx) -> None:
    """memory: the genesis `leak_mb_per_s` hook (20 MB/s). The main process grows real memory
    until its RSS passes 95 % of `memory_budget_mb`, then holds. Signal (waited for): RSS of
    the node's genesis programs > 90 % of memory_budget_mb (/proc, `genesis_memory_usage_bytes`)."""
    n = c.node
    budget = memory_budget_mb(n)
    before = genesis_rss(n)
    set_fault(n, "genesis", {"leak_mb_per_s": "20"})
    c.step("HSET lab:fault:genesis leak_mb_per_s 20")
    c.detect = "RSS of the genesis programs > 90 % of memory_budget_mb (contract 7, scenario 5)"
    limit = 0.9 * budget * 1024 * 1024
    main_pid = prog_pid(n, "genesis")
    # the main process alone passes 90 %: so do the group's sum (procfs) and the main
    # process's own genesis_memory_usage_bytes (/metrics)
    main_rss = c.wait(f"the genesis main process RSS above 90 % of {budget:.0f} MB",
                      lambda: (lambda v: v if v > limit else None)(st.tree_rss(main_pid)), 90, interval=0.5)
    rss = genesis_rss(n)
    c.evidence = {"memory_budget_mb": budget, "genesis_rss_bytes_before": before, "genesis_rss_bytes": rss,
                  "percent_of_budget": round(100 * rss / (budget * 1024 * 1024), 1),
                  "main_pid": main_pid, "main_rss_bytes": main_rss,
                  "main_percent_of_budget": round(100 * main_rss / (budget * 1024 * 1024), 1)}


def _s06(c: Ctx) -> None:
    """tilt: through SQL, as genesis's tilt monitor records a tilt episode: the account's
    tilt_profiles row gets current_tilt_score 85, tilt_level LEVEL3, consecutive_losses 6, and
    three `RISK_LIMIT_VIOLATION` (HIGH) tilt_events plus a `LOSS_STREAK` (HIGH) event are
    inserted. Signal: GET /tilt/status score > 70 (85), level LEVEL3, violations_last_hour 3."""
    n = c.node
    conn = n.db()
    try:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            cur.execute("SELECT profile_id, current_tilt_score, tilt_level FROM tilt_profiles WHERE account_id=%s "
                        "ORDER BY profile_id LIMIT 1", (n.account_id,))
            row = cur.fetchone()
            if row is None:
                raise InjectFailed(f"{n.name} has no tilt profile for {n.account_id}")
            pid, before_score, before_level = row
            cur.execute("UPDATE tilt_profiles SET current_tilt_score=85, tilt_level='LEVEL3', "
                        "consecutive_losses=GREATEST(consecutive_losses, 6) WHERE profile_id=%s", (pid,))
            events = [
                ("LOSS_STREAK", "HIGH", "6 consecutive losing trades"),
                ("RISK_LIMIT_VIOLATION", "HIGH", "position size 2.4x the configured risk per trade"),
                ("RISK_LIMIT_VIOLATION", "HIGH", "daily loss limit 5.0 % reached (5.3 %)"),
                ("RISK_LIMIT_VIOLATION", "HIGH", "order rate 41/min above max_orders_per_minute 30"),
            ]
            for et, sev, desc in events:
                cur.execute("INSERT INTO tilt_events (profile_id, event_type, severity, description) "
                            "VALUES (%s,%s,%s,%s)", (pid, et, sev, desc))
    finally:
        conn.close()
    c.step(f"tilt_profiles {pid}: score {before_score} {before_level} -> 85 LEVEL3; inserted "
           f"{len(events)} tilt_events (3 RISK_LIMIT_VIOLATION HIGH)")
    c.detect = "tilt score > 70 (GET /tilt/status, genesis_tilt_score) (contract 7, scenario 6)"
    doc = c.wait("GET /tilt/status score > 70",
                 lambda: (lambda d: d if d["score"] > 70 else None)(api_json(n, "/tilt/status")), 10)
    c.evidence = {"tilt": doc, "before": {"score": float(before_score), "level": before_level}}


def _s07(c: Ctx) -> None:
    """rate_limit: sets `genesis:ratelimit:config` to protection 0 / limit_per_minute 6000 and
    queues 400 heavy depth requests (GET /api/v3/depth limit 5000, weight 250 each) on
    `genesis:request_queue`; market_data drains them unprotected (5 a second), the exchange's
    1200 weight/minute budget for the node's key is exceeded and real 429s follow.
    Signal (waited for): GET /admin/rate-limits recent_429 > 0 (and usage near or above 80 %),
    `Rate limit exceeded` in genesis.log."""
    n = c.node
    r = rds(n)
    try:
        before = r.hgetall("genesis:ratelimit:config")
        r.hset("genesis:ratelimit:config", mapping={"protection": "0", "limit_per_minute": "6000"})
        items = [json.dumps({"method": "GET", "path": "/api/v3/depth",
                             "params": {"symbol": SYMBOLS[i % len(SYMBOLS)], "limit": 5000},
                             "kind": "depth_refresh", "queued_at": _iso()}) for i in range(400)]
        r.rpush("genesis:request_queue", *items)
    finally:
        r.close()
    c.step(f"HSET genesis:ratelimit:config protection 0 limit_per_minute 6000 (was {before or 'unset'})")
    c.step("RPUSH genesis:request_queue: 400 x GET /api/v3/depth limit=5000 (weight 250 each)")
    c.detect = ("a 429 in the last 300 s (GET /admin/rate-limits recent_429), usage >= 80 % of 1200; "
                "`Rate limit exceeded` logged (contract 7, scenario 7)")
    doc = c.wait("a recorded 429",
                 lambda: (lambda d: d if d.get("recent_429", 0) > 0 else None)(api_json(n, "/admin/rate-limits")),
                 30, interval=0.5)
    rec = c.wait("`Rate limit exceeded` logged",
                 lambda: c.logged("genesis.log", "Rate limit exceeded") or c.logged("trading.log",
                                                                                    "Rate limit exceeded"), 10)
    c.evidence = {"rate_limits": doc, "rate_limit_log": rec, "config_before": before}


def _s08(c: Ctx) -> None:
    """position_size: raises the quantity of the account's largest OPEN position so that its
    dollar_value is 1.5x the tier's max_position_size (HUNTER: 500 -> 750 USDT), written the
    way genesis's position update writes a position (quantity, current_price, dollar_value,
    updated_at; no event: a size violation is a state). The position monitor keeps
    dollar_value = quantity x price every 2 s. Signal: GET /positions has a position whose
    dollar_value > GET /config/tier max_position_size."""
    n = c.node
    tier = api_json(n, "/config/tier")
    limit = float(tier.get("max_position_size") or TIER_MAX.get(tier.get("tier"), 500))
    rows = sql(n, "SELECT position_id, symbol, quantity, COALESCE(current_price, entry_price), dollar_value "
                  "FROM positions WHERE status='OPEN' AND account_id=%s ORDER BY dollar_value DESC LIMIT 1",
               (n.account_id,))
    if not rows:
        raise InjectFailed(f"{n.name} has no OPEN position to enlarge")
    pid, sym, qty, price, value = rows[0]
    tick = redis_tickers(n).get(sym, {}).get("price")
    price = Decimal(str(tick)) if tick else Decimal(price)
    step = {"BTCUSDT": Decimal("0.00001"), "ETHUSDT": Decimal("0.0001"), "SOLUSDT": Decimal("0.01")}.get(
        sym, Decimal("0.001"))
    new_qty = (Decimal(str(1.5 * limit)) / price / step).to_integral_value() * step
    new_value = (new_qty * price).quantize(Decimal("0.00000001"))
    sql(n, "UPDATE positions SET quantity=%s, current_price=%s, dollar_value=%s, updated_at=now() "
           "WHERE position_id=%s", (new_qty, price, new_value, pid), fetch=False)
    c.step(f"positions {pid} ({sym}): quantity {qty} -> {new_qty}, dollar_value {value} -> {new_value} "
           f"(tier {tier.get('tier')} max_position_size {limit:g})")
    c.detect = "an OPEN position's dollar_value > the tier's max_position_size (contract 7, scenario 8)"

    def over():
        doc = api_json(n, "/positions?status=open")
        big = [p for p in doc["positions"] if p["dollar_value"] > limit]
        return {"positions": big, "monitored_at": doc.get("monitored_at")} if big else None
    ev = c.wait("a position above the tier limit in GET /positions", over, 10)
    c.evidence = {"tier": tier, "position_id": pid, "before": {"quantity": float(qty), "dollar_value": float(value)},
                  "violations": ev["positions"], "monitored_at": ev["monitored_at"]}


def _s09(c: Ctx) -> None:
    """certificates: re-issues the node certificate from the lab CA with 5 days of validity
    into the letsencrypt layout (what `genesis-lab cert issue --node N --days 5` does), then
    restarts `genesis:genesis` through supervisor so the TLS endpoint serves it: genesis loads
    its certificate at start, and a restart does not hide this fault (the served and the
    on-disk certificate both expire in 5 days; the restart is quick and keeps the node's
    cluster role). Primary signal: cert.pem expires within 7 days (critical, contract 7:
    < 7 days); also the certificate presented on the TLS port (8443) expires within 7 days."""
    from . import provision
    n = c.node
    from .certs import not_after
    before = not_after(n.cert_path)
    end = provision.issue_cert(c.lab, n, 5)
    c.step(f"issued {n.cert_path} from the lab CA: notAfter {before:%Y-%m-%dT%H:%M:%SZ} -> {end:%Y-%m-%dT%H:%M:%SZ}")
    sup(n).stopProcess("genesis:genesis", True)
    sup(n).startProcess("genesis:genesis", True)
    c.step("supervisor restart genesis:genesis (loads the certificate at start)")
    c.detect = "certificate valid for less than 30 days (< 7: critical) on disk and on the TLS port (scenario 9)"
    c.wait("GET /health 200 after the restart", lambda: health(n)[0] == 200, 30)
    served = c.wait("the TLS endpoint serving the 5-day certificate",
                    lambda: (lambda t: t if t and t - time.time() < 7 * 86400 else None)(served_not_after(n)), 15)
    c.evidence = {"cert_path": str(n.cert_path), "not_after": _iso(end), "not_after_before": _iso(before),
                  "days_left": round((end.timestamp() - time.time()) / 86400, 2),
                  "served_not_after": _iso(served), "tls_url": n.tls_url}


def served_not_after(node: Node) -> float | None:
    import socket
    import ssl

    from cryptography import x509
    ctx = ssl.create_default_context(cafile=str(node.lab.ca_cert))
    ctx.check_hostname = False
    host, port = node.address, node.ports["tls"]
    with socket.create_connection((host, port), timeout=3) as s:
        with ctx.wrap_socket(s, server_hostname=node.domain) as t:
            der = t.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()


def _s10(c: Ctx) -> None:
    """disk_space: fills the node's `.genesis` tmpfs (64 MiB) to about 96.5 % with what a
    neglected node accumulates: rotated logs `<name>.log.<YYYY-MM-DD>` (JSON lines, dated and
    with mtimes 31 to 45 days back) in `.genesis/logs/`, and abandoned temp files in
    `.genesis/tmp/` with mtimes 8 to 20 days back. Live logs, state and data are untouched.
    Signal: the filesystem of `.genesis` more than 95 % used (statvfs / df).
    Refused in local isolation (no private filesystem)."""
    n = c.node
    if c.lab.isolation != "netns" or not os.path.ismount(n.tmpfs_mount):
        raise InjectUsage(f"scenario 10 (disk_space) needs netns isolation: {n.name}'s .genesis is not a private "
                          f"filesystem in {c.lab.isolation} isolation, so filling it would fill the host disk; "
                          f"refused, nothing changed.")
    d0 = st.disk(n)
    target = 0.965
    need = int(target * d0["total_bytes"] - d0["used_bytes"])
    c.detect = ".genesis filesystem more than 95 % used (contract 7, scenario 10)"
    if need <= 0:
        c.step(f".genesis already {d0['used_percent']} % used; nothing written")
    now = dt.datetime.now(dt.timezone.utc)
    logs, tmp = n.logs_dir, n.home / ".genesis" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    written: list[dict] = []
    log_budget = int(need * 0.8)
    tmp_budget = need - log_budget
    names = [("genesis", "genesis.main", "Heartbeat sent"), ("trading", "genesis.executor", "Order filled"),
             ("genesis", "genesis.market_data", "Market data stale")]
    day = 31                      # whole days: every mtime is more than 30 days back
    per_file = max(1, log_budget // 12)
    while log_budget > 4096:
        fname, logger, event = names[day % len(names)]
        date = (now - dt.timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        path = logs / f"{fname}.log.{date:%Y-%m-%d}"
        if path.exists():
            day += 1
            continue
        size = min(per_file, log_budget)
        _write_json_lines(path, size, date, logger, event, n.name)
        ts = (date + dt.timedelta(hours=23, minutes=59, seconds=59)).timestamp()
        os.utime(path, (ts, ts))
        written.append({"path": str(path), "bytes": path.stat().st_size, "mtime": _iso(ts)})
        log_budget -= size
        day += 1
    i = 0
    chunk = os.urandom(1 << 20)
    while tmp_budget > 4096:
        age = 8 + (i * 3) % 13
        path = tmp / f"genesis-export-{(now - dt.timedelta(days=age)):%Y%m%d}-{uuid.uuid4().hex[:6]}.tmp"
        size = min(4 << 20, tmp_budget)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
        ts = (now - dt.timedelta(days=age)).timestamp()
        os.utime(path, (ts, ts))
        written.append({"path": str(path), "bytes": size, "mtime": _iso(ts)})
        tmp_budget -= size
        i += 1
    d1 = st.disk(n)
    if d1["used_percent"] <= 95.0:   # tmpfs rounding: top up with one more temp file
        extra = int(0.962 * d1["total_bytes"] - d1["used_bytes"]) + 65536
        path = tmp / f"genesis-export-{(now - dt.timedelta(days=9)):%Y%m%d}-{uuid.uuid4().hex[:6]}.tmp"
        with open(path, "wb") as f:
            f.write(os.urandom(max(0, extra)))
        ts = (now - dt.timedelta(days=9)).timestamp()
        os.utime(path, (ts, ts))
        written.append({"path": str(path), "bytes": extra, "mtime": _iso(ts)})
    c.step(f"wrote {sum(1 for w in written if '.log.' in w['path'])} rotated logs and "
           f"{sum(1 for w in written if w['path'].endswith('.tmp'))} temp files "
           f"({sum(w['bytes'] for w in written) / 1048576:.1f} MiB)")
    disk = c.wait(".genesis more than 95 % used", lambda: (lambda d: d if d["used_percent"] > 95 else None)(st.disk(n)),
                  5)
    c.evidence = {"disk_before": d0, "disk": disk, "files": written}


def _write_json_lines(path: Path, size: int, date: dt.datetime, logger: str, event: str, node: str) -> None:
    start = dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc)
    lines = []
    total = 0
    i = 0
    while total < size:
        t = start + dt.timedelta(seconds=i * 5 % 86400, milliseconds=i % 1000)
        rec = (f'{{"timestamp": "{t:%Y-%m-%dT%H:%M:%S}.{i % 1000:03d}Z", "level": "info", "event": "{event}", '
               f'"logger": "{logger}", "node": "{node}", "seq": {i}, "interval_s": 5, '
               f'"uptime_seconds": {i * 5}.0}}\n')
        lines.append(rec)
        total += len(rec)
        i += 1
    with open(path, "w") as f:
        f.write("".join(lines)[:size])


def _s11(c: Ctx) -> None:
    """network_partition: cuts node1 and NODE (node2 when NODE is node1) from each other with
    nft drop rules (table `inet genesis_lab_<lab>_partition`, input and output, both
    directions) inside both nodes' namespaces, recorded in lab.json so `down` removes them.
    Both nodes stay reachable from the control host. The standby promotes itself after
    lease_ttl (6 s), so both claim primary; the promoted node's `cluster_arbitrage` strategy
    (primary_only) creates orders, so their states diverge. Signal (waited for): GET
    /admin/cluster on both answers role primary, not fenced (peers unreachable); new
    cluster_arbitrage orders on the promoted node. After a heal each logs
    `Split-brain detected` and reports split_brain true until one is demoted or fenced.
    Local isolation: emulated at the application level (Redis set `lab:partition` on each
    node names the peer it must not see)."""
    lab, n = c.lab, c.node
    if len(lab.nodes) < 2:
        raise InjectUsage("scenario 11 (network_partition) needs a lab with at least 2 nodes; nothing changed.")
    a = lab.node("node1")
    b = n if n.name != "node1" else lab.node("node2")
    def settled():
        docs = {x.name: api_json(x, "/admin/cluster") for x in lab.nodes}
        prim = [k for k, d in docs.items() if d["role"] == "primary" and not d["fenced"]]
        return docs if len(prim) == 1 else None
    # a lab just brought up elects its primary within lease_ttl: cut a settled cluster
    docs0 = c.wait("a cluster with exactly one primary (before the cut)", settled, 20, interval=0.5)
    before = {x.name: docs0[x.name] for x in (a, b)}
    if not any(d["role"] == "primary" for d in before.values()):
        raise InjectUsage(f"neither {a.name} nor {b.name} is the primary; cut the primary from a standby "
                          f"(nothing changed).")
    if lab.isolation == "netns":
        from . import netns
        table = f"genesis_lab_{lab.name}_partition"
        for x, y in ((a, b), (b, a)):
            netns.partition(x.netns, [y.address], table)
            lab.record("nft_tables", {"ns": x.netns, "table": f"inet {table}"})
            c.step(f"nft table inet {table} in {x.netns}: drop traffic to and from {y.name} ({y.address})")
        c.evidence["nft_table"] = f"inet {table}"
    else:
        for x, y in ((a, b), (b, a)):
            r = rds(x)
            r.sadd("lab:partition", y.name)
            r.close()
            c.step(f"SADD lab:partition {y.name} on {x.name} (application-level emulation)")
        c.notes.append("local isolation: the partition is emulated at the application level (lab:partition), "
                       "not with nft")
    c.detect = ("both nodes claim primary (GET /admin/cluster role primary, unfenced) with peers unreachable; "
                "diverging state (orders and events on both); `Split-brain detected` once they see each other")

    def both_primary():
        docs = {x.name: api_json(x, "/admin/cluster") for x in (a, b)}
        if all(d["role"] == "primary" and not d["fenced"] for d in docs.values()):
            return docs
        return None
    docs = c.wait("both nodes claiming primary", both_primary, 30, interval=0.5)
    promoted = [x for x in (a, b) if before[x.name]["role"] != "primary"] or [b]
    p = promoted[0]
    rows = c.wait(f"cluster_arbitrage orders on {p.name}",
                  lambda: (lambda r: r if r[0][0] > 0 else None)(
                      sql(p, "SELECT count(*), max(created_at) FROM orders WHERE strategy='cluster_arbitrage' "
                             "AND created_at > to_timestamp(%s)", (c.t0,))), 45, interval=1.0)
    c.evidence.update({"pair": [a.name, b.name], "before": {k: {"role": v["role"], "term": v["term"]}
                                                             for k, v in before.items()},
                       "cluster": docs, "promoted": p.name,
                       "promoted_cluster_arbitrage_orders": int(rows[0][0]),
                       "last_event_id": {x.name: sql(x, "SELECT max(event_id) FROM events")[0][0] for x in (a, b)}})


def _s12(c: Ctx) -> None:
    """correlation: writes invalid correlations. position_correlations: BTCUSDT/ETHUSDT = 1.35
    (outside [-1, 1]; ETHUSDT/BTCUSDT stays 0.82, so also asymmetric) and SOLUSDT/BTCUSDT =
    -0.42 (BTCUSDT/SOLUSDT 0.71: asymmetric); `.genesis/state/correlation_matrix.json` gets the
    same values. Signal: values outside [-1, 1], asymmetric (SQL, the file; contract 5.4);
    the strategies log `Correlation calculation error` when they read it."""
    n = c.node
    conn = n.db()
    try:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            cur.execute("SELECT symbol_1, symbol_2, correlation_coefficient FROM position_correlations "
                        "ORDER BY 1, 2")
            before = [(a, b, float(v)) for a, b, v in cur.fetchall()]
            for s1, s2, v in (("BTCUSDT", "ETHUSDT", 1.35), ("SOLUSDT", "BTCUSDT", -0.42)):
                cur.execute("INSERT INTO position_correlations (symbol_1, symbol_2, correlation_coefficient, "
                            "calculated_at) VALUES (%s,%s,%s,now()) ON CONFLICT (symbol_1, symbol_2) DO UPDATE "
                            "SET correlation_coefficient=EXCLUDED.correlation_coefficient, calculated_at=now()",
                            (s1, s2, v))
    finally:
        conn.close()
    c.step("position_correlations: BTCUSDT/ETHUSDT = 1.35, SOLUSDT/BTCUSDT = -0.42")
    path = n.state_path / "correlation_matrix.json"
    doc = json.loads(path.read_text())
    syms = doc["symbols"]
    m = doc["matrix"]
    i_b, i_e, i_s = syms.index("BTCUSDT"), syms.index("ETHUSDT"), syms.index("SOLUSDT")
    m[i_b][i_e] = 1.35
    m[i_s][i_b] = -0.42
    doc["calculated_at"] = _iso()
    tmp = path.with_name(f".{path.name}.inject")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    c.step(f"{path}: matrix BTCUSDT/ETHUSDT = 1.35, SOLUSDT/BTCUSDT = -0.42")
    c.detect = "correlations outside [-1, 1], asymmetric or not PSD (DB and matrix file) (contract 7, scenario 12)"
    from .node.correlation import validate_matrix
    reasons = validate_matrix(json.loads(path.read_text()))
    if not reasons:
        raise InjectFailed("the matrix file still validates")
    rows = sql(n, "SELECT symbol_1, symbol_2, correlation_coefficient FROM position_correlations "
                  "WHERE correlation_coefficient NOT BETWEEN -1 AND 1 OR EXISTS (SELECT 1 FROM position_correlations q "
                  "WHERE q.symbol_1 = position_correlations.symbol_2 AND q.symbol_2 = position_correlations.symbol_1 "
                  "AND abs(q.correlation_coefficient - position_correlations.correlation_coefficient) > 1e-6)")
    log = c.wait("`Correlation calculation error` in trading.log",
                 lambda: c.logged("trading.log", "Correlation calculation error"), 20)
    c.evidence = {"db_before": before, "db_invalid_rows": [(a, b, float(v)) for a, b, v in rows],
                  "matrix_file": str(path), "matrix_reasons": reasons, "strategy_log": log}


def _s13(c: Ctx) -> None:
    """orderbook: the market_data `book_desync` hook for BTCUSDT: its in-memory book is
    corrupted (best bid 2 % above best ask) and frozen, and still written to Redis with a
    fresh `ts`. Signal (waited for): `orderbook:BTCUSDT` crossed (best bid >= best ask) while
    its `ts` is fresh; differs from the exchange's GET /api/v3/depth."""
    n = c.node
    set_fault(n, "market_data", {"book_desync": "BTCUSDT"})
    c.step("HSET lab:fault:market_data book_desync BTCUSDT")
    c.detect = "orderbook:<SYMBOL> crossed (best bid >= best ask) or differing from the exchange (scenario 13)"

    def crossed():
        r = rds(n)
        try:
            h = r.hgetall("orderbook:BTCUSDT")
        finally:
            r.close()
        bids, asks = json.loads(h["bids"]), json.loads(h["asks"])
        if bids and asks and float(bids[0][0]) >= float(asks[0][0]) and float(h["ts"]) > c.t0:
            return {"best_bid": float(bids[0][0]), "best_ask": float(asks[0][0]), "ts": float(h["ts"]),
                    "lastUpdateId": h.get("lastUpdateId")}
        return None
    book = c.wait("orderbook:BTCUSDT crossed", crossed, 15)
    import requests
    try:
        ex = requests.get(c.lab.exchange_url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5},
                          timeout=5).json()
        exb = {"best_bid": float(ex["bids"][0][0]), "best_ask": float(ex["asks"][0][0])}
    except Exception as e:  # noqa: BLE001
        exb = {"error": st._err(e)}
    c.evidence = {"redis_book": book, "exchange_book": exb}


def _s14(c: Ctx) -> None:
    """authentication. Default (`14`, `authentication`): revokes the node's current exchange
    API key (GENESIS_EXCHANGE_API_KEY of its .env) through the exchange's
    `POST /_lab/keys/revoke`; every call with that key answers 401 -2015. Variant `14:clock`:
    sets the node's simulated clock error (`<node root>/lab/clock_offset_ms`) to +2500 ms, so
    its signed requests answer 400 -1021 (1000 ms ahead of the server's time).
    Signal: a signed call with the node's credentials answers -2015 / -1021; the executor logs
    `Order rejected` with that code on its next order; clock drift > 1000 ms."""
    n, lab = c.node, c.lab
    env = read_env(n)
    key, secret = env.get("GENESIS_EXCHANGE_API_KEY", ""), env.get("GENESIS_EXCHANGE_API_SECRET", "")
    if c.variant == "clock":
        f = n.clock_offset_file
        before = f.read_text().strip() if f.exists() else "0"
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{f.name}.inject")
        tmp.write_text("2500\n")
        os.replace(tmp, f)
        c.step(f"{f}: {before} -> 2500 (ms)")
        c.detect = "clock drift > 1000 ms; signed calls answer -1021 (contract 7, scenario 14)"
        last: list = []

        def drift():
            last[:] = [signed_call(lab, key, secret, offset_ms=2500)]
            return last[0] if last[0][1].get("code") == -1021 else None
        try:
            code, doc = c.wait("a signed call answering -1021", drift, 10)
        except InjectFailed as e:
            raise InjectFailed(f"{e}; the exchange answered {last[0] if last else 'nothing'}") from None
        c.evidence = {"clock_offset_ms": 2500, "clock_offset_before_ms": int(float(before or 0)),
                      "signed_call": {"status": code, "body": doc}}
        return
    lab.exchange_request("POST", "/_lab/keys/revoke", {"api_key": key})
    c.step(f"POST /_lab/keys/revoke {key[:8]}... (the key of {n.name}'s .env)")
    c.detect = "signed calls with the node's key answer 401 -2015 (contract 7, scenario 14)"
    code, doc = c.wait("a signed call answering -2015",
                       lambda: (lambda x: x if x[1].get("code") == -2015 else None)(signed_call(lab, key, secret)), 10)
    c.evidence = {"api_key_prefix": key[:8], "signed_call": {"status": code, "body": doc}}


def _s15(c: Ctx) -> None:
    """strategy: writes invalid `params` JSON (a truncated object) into `genesis:strategy:momentum`;
    the strategy raises on every tick until `POST /admin/strategies/momentum/reset` restores
    its defaults. Signal (waited for): GET /admin/strategies momentum state ERROR with
    errors_last_5m > 0, `Strategy error` (strategy momentum) in trading.log."""
    n = c.node
    r = rds(n)
    try:
        before = r.hget("genesis:strategy:momentum", "params")
        r.hset("genesis:strategy:momentum", "params", '{"window": 10, "size_usdt": 20, "threshold":')
    finally:
        r.close()
    c.step(f"HSET genesis:strategy:momentum params '{{\"window\": 10, \"size_usdt\": 20, \"threshold\":' "
           f"(was {before})")
    c.detect = "a strategy in state ERROR; `Strategy error` logged (scenario 15)"
    doc = c.wait("momentum in state ERROR",
                 lambda: (lambda d: d if d["strategies"]["momentum"]["state"] == "ERROR" else None)(
                     api_json(n, "/admin/strategies")), 20, interval=0.5)
    log = c.wait("`Strategy error` in trading.log",
                 lambda: c.logged("trading.log", "Strategy error", strategy="momentum"), 10)
    c.evidence = {"strategy": doc["strategies"]["momentum"], "strategy_error_log": log, "params_before": before}


def _s16(c: Ctx) -> None:
    """backup: makes the newest restic snapshot older than 24 h and breaks the backup job.
    1. `restic backup --time <now - 30 h>` of config, config.backup and .genesis/state (tags
       genesis, lab-provision), then `restic forget` of every snapshot younger than 24 h
       (only this node's lab repository is touched; no prune, the data stays).
    2. The backup job breaks the way a bad edit breaks it: the node's .env gets
       `RESTIC_PASSWORD_FILE=<home>/.genesis/backups/restic-password.old` (a path that does not
       exist), which the backup program reads at start; `supervisorctl start backup` then
       fails (restic: password file not found) and no new snapshot appears. The contract
       path of the password file is unchanged and still valid, so a role fixes the job by
       removing (or correcting) that .env line, runs the backup and checks it with
       `restic check`. The backup program is started once here to show the failure.
    Signal: newest snapshot older than 24 h (`restic snapshots --json`); the backup program
    exits with an error; the node's backup schedule (cron file) is removed."""
    n = c.node
    if shutil.which("restic") is None:
        raise InjectFailed("restic is not installed")
    snaps = snapshots(n)
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=30)
    paths = [p for p in ("config", "config.backup", ".genesis/state") if (n.home / p).exists()]
    restic(n, "backup", "-q", "--time", old.strftime("%Y-%m-%d %H:%M:%S"), "--host", n.name,
           "--tag", "genesis", "--tag", "lab-provision", *paths,
           env_extra={"TZ": "UTC"})
    c.step(f"restic backup --time {old:%Y-%m-%d %H:%M:%S} UTC of {', '.join(paths)}")
    limit = time.time() - 24 * 3600
    young = [s["id"] for s in snapshots(n) if snap_time(s) > limit]
    if young:
        restic(n, "forget", "-q", *young)
        c.step(f"restic forget {len(young)} snapshot(s) younger than 24 h: {', '.join(s[:8] for s in young)}")
    # break the job
    bad = n.home / ".genesis" / "backups" / "restic-password.old"
    envf = n.env_file
    text = envf.read_text()
    lines = [l for l in text.splitlines() if not l.startswith("RESTIC_PASSWORD_FILE=")]
    lines.append(f"RESTIC_PASSWORD_FILE={bad}")
    tmp = envf.with_name(".env.inject")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, envf)
    c.step(f"{envf}: RESTIC_PASSWORD_FILE={bad} (does not exist)")
    # and the schedule is gone: nothing would run the job again
    if n.backup_cron_file.exists():
        n.backup_cron_file.unlink()
        c.step(f"removed the backup schedule {n.backup_cron_file}")
    c.detect = ("newest restic snapshot older than 24 h; the backup job fails; no backup schedule "
                "(contract 7, scenario 16)")
    now_snaps = snapshots(n)
    newest = max((snap_time(s) for s in now_snaps), default=None)
    if newest is None or newest > limit:
        raise InjectFailed("the newest snapshot is not older than 24 h")
    job = _run_backup_once(n, c)
    c.evidence = {"snapshots_before": len(snaps), "snapshots": len(now_snaps),
                  "newest_snapshot": _iso(newest), "newest_age_h": round((time.time() - newest) / 3600, 2),
                  "backup_job": job}


def _run_backup_once(n: Node, c: Ctx) -> dict:
    """Start the backup program through supervisor and report how it ended."""
    s = sup(n)
    try:
        s.startProcess("backup", True)
    except Exception as e:  # noqa: BLE001  (startsecs=0: a fast failure may show as a fault)
        c.step(f"supervisor start backup: {st._err(e)}")
    info = c.wait("the backup program finishing",
                  lambda: (lambda i: i if i["statename"] in ("EXITED", "STOPPED", "FATAL", "BACKOFF") else None)(
                      s.getProcessInfo("backup")), 60, interval=0.5)
    c.step(f"supervisor start backup: {info['statename']} exit status {info['exitstatus']}")
    if info["exitstatus"] == 0 and info["statename"] == "EXITED":
        raise InjectFailed("the backup job still succeeds")
    rec = c.wait("`Backup failed` in genesis.log", lambda: c.logged("genesis.log", "Backup failed"), 10)
    return {"state": info["statename"], "exitstatus": info["exitstatus"], "backup_failed_log": rec}


def _s17(c: Ctx) -> None:
    """performance: the genesis `slow_cache` hook (a bloated API cache scanned on every
    authenticated request: > 1 s of real CPU each) and the strategies `cpu_burn` hook (a
    burner thread at 100 % of a core). Signal (waited for): an authenticated API call
    (GET /account/status) takes > 1 s; the strategies program uses > 80 % CPU."""
    n = c.node
    set_fault(n, "genesis", {"slow_cache": "1"})
    set_fault(n, "strategies", {"cpu_burn": "1"})
    c.step("HSET lab:fault:genesis slow_cache 1; HSET lab:fault:strategies cpu_burn 1")
    c.detect = "authenticated API responses > 1 s; a program's CPU > 80 % (contract 7, scenario 17)"
    c.wait("both hooks taken", lambda: fault_taken(n, "genesis") and fault_taken(n, "strategies"), 15)

    def slow():
        import requests
        try:
            code, _, took = api(n, "GET", "/account/status", timeout=15)
        except requests.Timeout:
            # on a busy host the bloated lookups queue up: no answer in 15 s is slower than 1 s too
            return {"status": None, "seconds": 15.0, "timed_out": True}
        return {"status": code, "seconds": round(took, 3)} if took > 1.0 else None
    call = c.wait("an authenticated API call slower than 1 s", slow, 20, interval=0.2)
    pid = prog_pid(n, "strategies")
    # demand (CPU used + CPU waited for): on a busy shared host the burner gets less than 80 % of a core
    cpu = c.wait("strategies CPU above 80 %",
                 lambda: (lambda v: v if v > 80 else None)(st.cpu_demand_percent(pid, 1.0)), 15, interval=0)
    c.evidence = {"api_call": call, "strategies_pid": pid, "strategies_cpu_demand_percent": cpu,
                  "strategies_cpu_percent": st.cpu_percent(pid, 1.0)}


def _s18(c: Ctx) -> None:
    """audit_trail: deletes a middle event (sequence 2 of 3 or more) of two `order:<id>`
    aggregates from the events table, so each has a sequence gap; audit.log keeps every line
    (the source for reconstruction). Signal: the gap check (partitioned by aggregate_id) finds
    the two aggregates; their events are still in audit.log."""
    n = c.node
    conn = n.db()
    try:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            cur.execute("SELECT aggregate_id FROM events WHERE aggregate_id LIKE 'order:%%' GROUP BY aggregate_id "
                        "HAVING count(*) >= 3 AND max(sequence_number) = count(*) "
                        "ORDER BY min(event_id) LIMIT 2")
            aggs = [r[0] for r in cur.fetchall()]
            if len(aggs) < 2:
                raise InjectFailed(f"{n.name} has fewer than 2 order aggregates with 3 or more events")
            cur.execute("DELETE FROM events WHERE aggregate_id = ANY(%s) AND sequence_number = 2 "
                        "RETURNING event_id, event_type, aggregate_id, event_data, sequence_number, created_at",
                        (aggs,))
            deleted = [{"event_id": r[0], "event_type": r[1], "aggregate_id": r[2], "event_data": r[3],
                        "sequence_number": r[4], "created_at": _iso(r[5])} for r in cur.fetchall()]
    finally:
        conn.close()
    for d in deleted:
        c.step(f"DELETE events event_id {d['event_id']} ({d['aggregate_id']} sequence 2, {d['event_type']})")
    c.detect = "sequence gaps per aggregate_id in events; the missing events are in audit.log (scenario 18)"
    gaps = sql(n, "SELECT aggregate_id, prev, sequence_number FROM (SELECT aggregate_id, sequence_number, "
                  "lag(sequence_number) OVER (PARTITION BY aggregate_id ORDER BY sequence_number) AS prev "
                  "FROM events) x WHERE prev IS NOT NULL AND sequence_number <> prev + 1 ORDER BY 1")
    found = {g[0] for g in gaps}
    if not set(aggs) <= found:
        raise InjectFailed(f"the gap check does not find {aggs}")
    in_log = []
    ids = {d["event_id"] for d in deleted}
    with open(n.logs_dir / "audit.log") as f:
        for line in f:
            if '"audit_event"' in line:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("event_id") in ids:
                    in_log.append(rec["event_id"])
    c.evidence = {"aggregates": aggs, "deleted": deleted,
                  "gaps": [{"aggregate_id": a, "after": p, "next": s} for a, p, s in gaps],
                  "deleted_event_ids_in_audit_log": sorted(in_log)}


def _s19(c: Ctx) -> None:
    """config_drift: edits the live config so it differs from config.backup/:
    config/trading_rules.yaml max_leverage 3 -> 50 (outside 1..10) and stop_loss_percent
    2.0 -> 4.0 (in range, changed); config/node.yaml heartbeat_interval 5 -> 30 (in range,
    changed; version not bumped: nobody made a deliberate change). Nothing is reloaded, the
    running configuration stays. Signal: config/ differs from config.backup/ (two files);
    GET /admin/config/validate valid false with `trading_rules.yaml: max_leverage 50 is
    outside 1..10`."""
    n = c.node
    changes = [("trading_rules.yaml", "max_leverage", "50"), ("trading_rules.yaml", "stop_loss_percent", "4.0"),
               ("node.yaml", "heartbeat_interval", "30")]
    for fname, key, value in changes:
        path = n.config_dir / fname
        text = path.read_text()
        new, k = re.subn(rf"(?m)^({re.escape(key)}:\s*)([^#\n]*?)(\s*(#.*)?)$", rf"\g<1>{value}\g<3>", text, count=1)
        if k != 1:
            raise InjectFailed(f"{path} has no top-level {key}")
        old = re.search(rf"(?m)^{re.escape(key)}:\s*([^#\n]*)", text).group(1).strip()
        st_ = path.stat()
        path.write_text(new)
        os.chmod(path, st_.st_mode & 0o7777)
        c.step(f"{path}: {key} {old} -> {value}")
    c.detect = "config/ differs from config.backup/; GET /admin/config/validate valid false (scenario 19)"
    diff = [f for f in sorted(os.listdir(n.config_dir))
            if (n.home / "config.backup" / f).exists()
            and (n.config_dir / f).read_bytes() != (n.home / "config.backup" / f).read_bytes()]
    v = c.wait("GET /admin/config/validate reporting the invalid value",
               lambda: (lambda d: d if not d["valid"] else None)(api_json(n, "/admin/config/validate")), 10)
    c.evidence = {"differs_from_backup": diff, "validate": v}


def _s20(c: Ctx) -> None:
    """emergency: a market crash and an exchange halt, for the whole lab (the exchange is
    shared): `POST /_lab/market {move_percent: -15, over_seconds: 30}` on every symbol and
    `POST /_lab/status {status: 1}` (new orders answer -3044). Signal (waited for, about 20 s):
    the node's tickers (`market:ticker:*`, GET /admin/websocket) more than 10 % below their
    price at injection; GET /sapi/v1/system/status answers status 1."""
    n, lab = c.node, c.lab
    before = redis_tickers(n)
    mv = lab.exchange_request("POST", "/_lab/market", {"move_percent": -15, "over_seconds": 30})
    c.step("POST /_lab/market move_percent -15 over_seconds 30 (all symbols)")
    stt = lab.exchange_request("POST", "/_lab/status", {"status": 1, "msg": "system maintenance"})
    c.step("POST /_lab/status status 1 (system maintenance)")
    c.detect = "a price move > 10 % within 60 s; exchange status 1 (contract 7, scenario 20)"

    def dropped():
        now = redis_tickers(n)
        drops = {}
        for s, b in before.items():
            if not b["price"] or not now[s]["price"]:
                return None
            drops[s] = round(100 * (b["price"] - now[s]["price"]) / b["price"], 2)
        return {"drop_percent": drops, "tickers": now} if all(v > 10 for v in drops.values()) else None
    ev = c.wait("tickers more than 10 % down", dropped, 45, interval=0.5)
    import requests
    sysst = requests.get(lab.exchange_url + "/sapi/v1/system/status", timeout=5).json()
    c.evidence = {"tickers_before": before, **ev, "exchange_status": sysst, "moves": mv.get("moves"),
                  "status_change": stt}


HANDLERS: dict[int, Callable[[Ctx], None]] = {i: globals()[f"_s{i:02d}"] for i in range(1, 21)}


# ---------------------------------------------------------------------------- entry points
def inject(lab: Lab, scenario: str, node: str) -> dict:
    """Inject; returns {scenario, name, node, did, detect, evidence, observed, ...}.
    Raises InjectUsage (nothing changed) or InjectFailed."""
    num, name, variant = resolve(scenario)
    try:
        n = lab.node(node)
    except KeyError:
        raise InjectUsage(f"lab {lab.name} has no node {node!r}; valid nodes: {', '.join(lab.node_names())}.") \
            from None
    ctx = Ctx(lab, n, num, name, variant)
    try:
        HANDLERS[num](ctx)
    except InjectUsage:
        raise
    except InjectFailed as e:
        e.did = list(ctx.did)
        raise
    except Exception as e:  # noqa: BLE001  (a step failed: say which, and what was already done)
        err = InjectFailed(f"scenario {num} ({name}) on {n.name} failed: {st._err(e)}")
        err.did = list(ctx.did)
        raise err from e
    return ctx.result()


def main(lab: Lab, scenario: str, node: str) -> int:
    try:
        doc = inject(lab, scenario, node)
    except InjectUsage as e:
        print(f"genesis-lab inject: {e}", file=sys.stderr)
        return 2
    except InjectFailed as e:
        did = getattr(e, "did", [])
        print(f"genesis-lab inject {scenario} --node {node}: {e}", file=sys.stderr)
        if did:
            print("already done (left in place, see `genesis-lab status`): " + "; ".join(did), file=sys.stderr)
        return 1
    json.dump(doc, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    print(f"injected scenario {doc['scenario']} ({doc['name']}) on {doc['node']} in {doc['elapsed_s']} s; "
          f"detect: {doc['detect']}", file=sys.stderr)
    return 0
