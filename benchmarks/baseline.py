"""Bare-action baselines: for each scenario, only the API / SQL / supervisor / Redis / exchange calls the
scenario role's recover.yml makes for the fix, then a wait until the same criterion the role's validate.yml
checks holds. No Ansible, no SSH, no detection (the fault is known), no lock, budget, audit rows or report.

The calls go from the controller straight to the node of a genesis-lab lab: the control API over HTTP,
PostgreSQL, Redis and supervisord over the node's unix sockets, files on the node's (shared) filesystem,
the exchange over HTTP with the node's key. Each function marks its `validate` phase; everything before
it is `recover`. `run(lab, node, number)` times one call; BASELINES lists the scenarios that have one,
NO_BASELINE says why the others have none.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import hmac
import json
import math
import os
import shutil
import ssl
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
GENESIS_PROGRAMS = ("genesis:genesis", "genesis:executor", "genesis:market_data", "genesis:strategies")


class BaselineFailed(Exception):
    """The bare fix did not reach the validation criterion (one sentence)."""


# ---------------------------------------------------------------------------- access to one node
class Bare:
    """One bare run on one node: clients, waits and phase marks."""

    def __init__(self, lab, node, options: dict | None = None):
        self.lab, self.node = lab, node
        self.options = options or {}
        self.marks: list[tuple[str, float]] = [("recover", time.monotonic())]
        self._redis = None
        self.details: dict[str, Any] = {}

    # phases
    def phase(self, name: str) -> None:
        self.marks.append((name, time.monotonic()))

    def phase_seconds(self, end: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, (name, t) in enumerate(self.marks):
            nxt = self.marks[i + 1][1] if i + 1 < len(self.marks) else end
            out[name] = round(out.get(name, 0.0) + max(0.0, nxt - t), 3)
        return out

    # waits
    def wait(self, what: str, fn: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        last_exc = None
        while True:
            try:
                value = fn()
                if value:
                    return value
            except Exception as exc:  # noqa: BLE001  (a probe failing is "not yet")
                last_exc = exc
            if time.monotonic() >= deadline:
                extra = f" (last error: {type(last_exc).__name__}: {last_exc})" if last_exc else ""
                raise BaselineFailed(f"{what}: not reached within {timeout:.0f} s{extra}")
            time.sleep(interval)

    # control API
    def api_raw(self, method: str, path: str, body: dict | None = None, timeout: float = 10.0, auth: bool = True):
        import requests
        headers = {"X-API-Key": self.node.api_key} if auth else {}
        t0 = time.monotonic()
        r = requests.request(method, self.node.api_url + path, json=body, headers=headers, timeout=timeout)
        took = time.monotonic() - t0
        try:
            doc = r.json()
        except ValueError:
            doc = {"raw": r.text[:300]}
        return r.status_code, doc, took

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 10.0, ok=(200, 202)) -> dict:
        code, doc, _ = self.api_raw(method, path, body, timeout)
        if code not in ok:
            raise BaselineFailed(f"{method} {path} answered {code}: {str(doc)[:200]}")
        return doc

    # supervisor, SQL, Redis
    def sup(self):
        return self.node.supervisor().supervisor

    def restart(self, *programs: str) -> None:
        s = self.sup()
        for p in programs:
            if s.getProcessInfo(p)["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
                s.stopProcess(p, True)
        for p in programs:
            s.startProcess(p, True)

    def sql(self, query: str, params: Any = None, fetch: bool = True) -> list[tuple]:
        conn = self.node.db(connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if fetch and cur.description else []
        finally:
            conn.close()

    def redis(self):
        if self._redis is None:
            self._redis = self.node.redis(socket_timeout=5, socket_connect_timeout=5)
        return self._redis

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()

    # files
    def env(self) -> dict[str, str]:
        out = {}
        for line in self.node.env_file.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
        return out

    def clock_offset_ms(self) -> float:
        try:
            return float(self.node.clock_offset_file.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    def log_size(self, name: str) -> int:
        try:
            return (self.node.logs_dir / name).stat().st_size
        except OSError:
            return 0

    def log_lines_since(self, name: str, offset: int, event: str, **fields: Any) -> list[dict]:
        out = []
        try:
            with open(self.node.logs_dir / name, "rb") as f:
                f.seek(offset if offset <= os.fstat(f.fileno()).st_size else 0)
                data = f.read()
        except OSError:
            return out
        for line in data.decode("utf-8", "replace").splitlines():
            if event not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if str(rec.get("event", "")).startswith(event) and all(str(rec.get(k)) == str(v) for k, v in fields.items()):
                out.append(rec)
        return out

    # exchange
    def exchange(self, method: str, path: str, params: list | dict | None = None, signed: bool = False,
                 key: str | None = None, secret: str | None = None, timeout: float = 10.0):
        import requests
        env = self.env() if signed or key is None else {}
        key = key or env.get("GENESIS_EXCHANGE_API_KEY", "")
        secret = secret or env.get("GENESIS_EXCHANGE_API_SECRET", "")
        q = list(params.items()) if isinstance(params, dict) else list(params or [])
        if signed:
            q += [("timestamp", int(time.time() * 1000 + self.clock_offset_ms())), ("recvWindow", 5000)]
        query = urllib.parse.urlencode(q)
        if signed:
            query += "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        url = self.lab.exchange_url + path + ("?" + query if query else "")
        r = requests.request(method, url, headers={"X-MBX-APIKEY": key} if key else {}, timeout=timeout)
        try:
            doc = r.json()
        except ValueError:
            doc = {"raw": r.text[:300]}
        return r.status_code, doc

    def test_order(self, quantity: str = "0.0002") -> bool:
        params = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", quantity)]
        code, doc = self.exchange("POST", "/api/v3/order/test", params, signed=True)
        if code != 200:
            raise BaselineFailed(f"the test order was rejected: {code} {doc}")
        return True

    def db_now(self) -> float:
        return float(self.sql("SELECT EXTRACT(EPOCH FROM now())::float")[0][0])


def _write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    tmp = path.with_name(f".{path.name}.bare")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode if mode is not None else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# ---------------------------------------------------------------------------- scenario 1 (system outage)
def b01(c: Bare) -> None:
    """supervisor startProcessGroup genesis; then health 200, `System initialized successfully` after the
    start, a heartbeat since the start and a fresh position monitor (as system_restart's validate)."""
    offset = c.log_size("genesis.log")
    started = time.time()
    c.sup().startProcessGroup("genesis", True)
    c.phase("validate")

    def ok():
        code, doc, _ = c.api_raw("GET", "/health", auth=False, timeout=3)
        if code != 200 or not c.log_lines_since("genesis.log", offset, "System initialized successfully"):
            return None
        hb = float(c.redis().hget("genesis:heartbeat", "ts") or 0)
        pos = c.api("GET", "/positions")
        mon = _parse_iso(pos.get("monitored_at"))
        return hb > started and mon is not None and time.time() - mon < 10
    c.wait("health 200, start-up line, heartbeat and position monitor", ok, 60, 1)


# ---------------------------------------------------------------------------- scenario 2 (order execution)
def b02(c: Bare) -> None:
    """stop genesis:executor; cancel each PENDING order older than 30 s at the exchange (DELETE /api/v3/order by
    origClientOrderId), mark it CANCELLED with an ORDER_CANCELLED event; reset the `orders` breaker; start the
    executor. Validate: no PENDING older than 30 s, the breaker closed, a test order accepted."""
    s = c.sup()
    s.stopProcess("genesis:executor", True)
    rows = c.sql("SELECT order_id, symbol, client_order_id, status FROM orders WHERE status='PENDING' AND node=%s "
                 "AND created_at < now() - interval '30 seconds' ORDER BY created_at LIMIT 100", (c.node.name,))
    for oid, sym, cid, status in rows:
        code, doc = c.exchange("DELETE", "/api/v3/order", [("symbol", sym), ("origClientOrderId", cid)], signed=True)
        if code != 200 and doc.get("code") != -2011:
            raise BaselineFailed(f"cancel of {oid} at the exchange answered {code} {doc}")
        _cancel_in_db(c, oid, status, "cancelled by bare baseline: stuck PENDING")
    c.api("POST", "/admin/circuit-breakers/orders/reset")
    s.startProcess("genesis:executor", True)
    c.details["cancelled"] = len(rows)
    c.phase("validate")
    c.wait("no PENDING order older than 30 s", lambda: c.sql(
        "SELECT count(*) FROM orders WHERE status='PENDING' AND node=%s AND created_at < now() - interval '30 seconds'",
        (c.node.name,))[0][0] == 0, 30, 2)
    c.wait("breaker orders closed", lambda: c.api("GET", "/admin/circuit-breakers")["breakers"]["orders"]["state"] == "closed",
           30, 2)
    c.test_order("0.0001")


def _cancel_in_db(c: Bare, order_id: str, status: str, reason: str) -> None:
    conn = c.node.db()
    try:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE orders SET status='CANCELLED', last_error=%s WHERE order_id=%s AND status=%s",
                        (reason, order_id, status))
            if cur.rowcount:
                agg = f"order:{order_id}"
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (agg,))
                cur.execute("INSERT INTO events (event_type, aggregate_id, event_data, sequence_number) VALUES "
                            "('ORDER_CANCELLED', %s, %s::jsonb, (SELECT COALESCE(MAX(sequence_number), 0) + 1 "
                            "FROM events WHERE aggregate_id = %s))",
                            (agg, json.dumps({"order_id": order_id, "previous_status": status, "reason": reason}), agg))
    finally:
        conn.close()


# ---------------------------------------------------------------------------- scenario 3 (market data)
def b03(c: Bare) -> None:
    """DEL the stale market:ticker:* keys (older than 10 s), POST /admin/websocket/restart, then wait for the
    tickers to be fresh (< 2 s), their timestamps moving and the streams connected (restore_market_data)."""
    r = c.redis()
    now = time.time()
    stale = [f"market:ticker:{s}" for s in SYMBOLS if now - float(r.hget(f"market:ticker:{s}", "ts") or 0) > 10]
    if stale:
        r.delete(*stale)
    c.api("POST", "/admin/websocket/restart")
    c.details["deleted"] = stale
    c.phase("validate")
    first: dict[str, float] = {}

    def updating():
        doc = c.api("GET", "/admin/websocket")
        if any(v.get("state") != "connected" for v in doc["connections"].values()):
            return False
        ts = {s: float(r.hget(f"market:ticker:{s}", "ts") or 0) for s in SYMBOLS}
        if any(time.time() - t > 2 for t in ts.values()):
            return False
        if not first:
            first.update(ts)
            return False
        return all(ts[s] > first[s] for s in SYMBOLS)
    c.wait("tickers fresh, moving, streams connected", updating, 30, 0.5)


# ---------------------------------------------------------------------------- scenario 4 (database)
def b04(c: Bare) -> None:
    """supervisor start postgresql; then SELECT 1, recent trades visible, genesis writing events again and
    health 200 (database_recovery's validate)."""
    c.sup().startProcess("postgresql", True)
    c.phase("validate")
    c.wait("SELECT 1", lambda: c.sql("SELECT 1")[0][0] == 1, 30, 0.5)
    last = c.sql("SELECT COALESCE(max(event_id), 0) FROM events")[0][0]
    c.wait("recent trades visible", lambda: c.sql("SELECT count(*) FROM orders WHERE status='FILLED'")[0][0] > 0, 30, 1)
    c.wait("genesis writes events again", lambda: c.sql("SELECT COALESCE(max(event_id), 0) FROM events")[0][0] > last, 30, 1)
    c.wait("health 200", lambda: c.api_raw("GET", "/health", auth=False, timeout=3)[0] == 200, 30, 1)


# ---------------------------------------------------------------------------- scenario 5 (memory)
def _group_rss(c: Bare) -> dict[str, int]:
    from genesis_lab import status as st
    kids = st.children_map()
    out = {}
    for i in c.sup().getAllProcessInfo():
        if i["group"] == "genesis" and i["statename"] == "RUNNING" and i["pid"]:
            out[f"genesis:{i['name']}"] = st.tree_rss(i["pid"], kids)
    return out


def _budget_mb(c: Bare) -> float:
    import yaml
    try:
        return float(yaml.safe_load((c.node.config_dir / "node.yaml").read_text()).get("memory_budget_mb") or 400)
    except (OSError, ValueError, AttributeError):
        return 400.0


def b05(c: Bare) -> None:
    """POST /admin/heap-dump; restart (supervisor stop + start) the program holding the most memory; then RSS of
    the genesis programs under 50 % of memory_budget_mb, not growing over 6 samples a second apart, health
    `healthy` (memory_cleanup's validate)."""
    c.api("POST", "/admin/heap-dump", {}, timeout=60)
    rss = _group_rss(c)
    hot = max(rss, key=rss.get)
    c.restart(hot)
    c.details["restarted"] = hot
    c.phase("validate")
    limit = 0.5 * _budget_mb(c) * 1048576

    def settled():
        samples = []
        for _ in range(6):
            samples.append(sum(_group_rss(c).values()))
            time.sleep(1)
        growth_mb_min = (samples[-1] - samples[0]) / 1048576 / (5 / 60)
        return samples[-1] < limit and growth_mb_min <= 10
    c.wait("RSS under 50 % of the budget and not growing", settled, 60, 1)
    c.wait("health healthy", lambda: c.api_raw("GET", "/health", auth=False)[1].get("status") == "healthy", 30, 1)


# ---------------------------------------------------------------------------- scenario 6 (tilt)
def b06(c: Bare) -> None:
    """POST /admin/tilt/cooldown 30 min, POST /admin/limits factor 0.5, POST /admin/notifications, the webhook
    when configured; then cooldown active (or score falling), no new risk violation since, trader notified."""
    before = c.api("GET", "/tilt/status")
    cd = c.api("POST", "/admin/tilt/cooldown", {"minutes": 30})
    c.api("POST", "/admin/limits", {"factor": 0.5})
    note = c.api("POST", "/admin/notifications", {
        "kind": "tilt_intervention", "severity": "HIGH",
        "message": f"Tilt intervention on {c.node.name}: score {before['score']}; trading paused for 30 minutes and "
                   f"position limits at 0.5 of the tier limit. Please acknowledge."})
    url = c.options.get("webhook_url")
    if url:
        import requests
        r = requests.post(url, json={"kind": "tilt_intervention", "node": c.node.name,
                                     "notification_id": note.get("notification_id")}, timeout=10,
                          headers=c.options.get("webhook_headers") or {})
        if r.status_code not in (200, 201, 202, 204):
            raise BaselineFailed(f"the webhook answered {r.status_code}")
    since = _parse_iso(cd.get("lockout_expiration"))
    c.phase("validate")

    def ok():
        t = c.api("GET", "/tilt/status")
        falling = t["score"] < before["score"] or t.get("cooldown_active")
        start = _parse_iso(t.get("last_intervention_at")) or (since - 1800 if since else time.time())
        new = c.sql("SELECT count(*) FROM tilt_events WHERE event_type='RISK_LIMIT_VIOLATION' "
                    "AND created_at > to_timestamp(%s)", (start,))[0][0]
        notes = c.api("GET", "/admin/notifications")
        items = notes.get("notifications", notes if isinstance(notes, list) else [])
        notified = any(n.get("kind") == "tilt_intervention" for n in items)
        return falling and new == 0 and notified
    c.wait("cooldown active, no new violation, trader notified", ok, 30, 1)


# ---------------------------------------------------------------------------- scenario 7 (rate limit)
def b07(c: Bare) -> None:
    """POST /admin/rate-limits protection on, limit_per_minute 600; POST /admin/request-queue/clear; then wait
    for the Retry-After to pass and a fresh 60 s window without 429, usage under 80 %, a signed call that
    succeeds (rate_limit_recovery's reset and quiet waits)."""
    c.api("POST", "/admin/rate-limits", {"protection": True, "limit_per_minute": 600})
    c.api("POST", "/admin/request-queue/clear")
    if c.options.get("rate_limit_config_file"):
        path = Path(c.options["rate_limit_config_file"])
        if path.exists():
            shutil.copy2(path, path.with_name(path.name + f".{int(time.time())}.bak"))
            text = path.read_text()
            import re
            _write_atomic(path, re.sub(r"(?m)^(\s*limit_per_minute:\s*)\d+", r"\g<1>600", text).encode())
    c.phase("validate")

    def quiet():
        doc = c.api("GET", "/admin/rate-limits")
        now = time.time()
        last = _parse_iso(doc.get("last_429_at"))
        until = _parse_iso(doc.get("retry_after_until")) or 0
        if (last is not None and now - last < 60) or until > now:
            return False
        if (doc.get("used_weight_1m") or 0) / float(doc.get("exchange_limit") or 1200) >= 0.8:
            return False
        code, _ = c.exchange("GET", "/api/v3/account", signed=True)
        return code == 200 and doc.get("protection") is True
    c.wait("a fresh window without 429 and a signed call that succeeds", quiet, 150, 1)


# ---------------------------------------------------------------------------- scenario 9 (certificates)
def b09(c: Bare) -> None:
    """The renewal command (genesis-lab cert issue, what genesis_cert_renew_command runs), the CA store update the
    Molecule scenario configures (copy + openssl rehash in the node's root), supervisor restart of
    genesis:genesis; then the certificate on disk valid > 30 days, served on the TLS port, verified handshake."""
    venv = Path(c.lab.data.get("venv_bin") or Path(sys.executable).parent)
    subprocess.run([str(venv / "genesis-lab"), "cert", "issue", "--lab", c.lab.name, "--node", c.node.name],
                   check=True, capture_output=True, text=True, timeout=120)
    store = c.node.root / "etc" / "ssl" / "certs"
    store.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(c.lab.ca_cert, store / "genesis-lab-ca.pem")
    subprocess.run(["openssl", "rehash", str(store)], check=True, capture_output=True, timeout=60)
    c.restart("genesis:genesis")
    c.phase("validate")
    disk = _cert_not_after(c.node.cert_path.read_bytes())
    if disk - time.time() < 30 * 86400:
        raise BaselineFailed("the renewed certificate is valid for less than 30 days")

    def served():
        ctx = ssl.create_default_context(cafile=str(c.lab.ca_cert))
        ctx.check_hostname = False
        with socket.create_connection((c.node.address, c.node.ports["tls"]), timeout=5) as sock:
            with ctx.wrap_socket(sock, server_hostname=c.node.domain) as tls:
                der = tls.getpeercert(binary_form=True)
        return abs(_cert_not_after(ssl.DER_cert_to_PEM_cert(der).encode()) - disk) < 1
    c.wait("the renewed certificate served with a verified handshake", served, 30, 1)


def _cert_not_after(pem: bytes) -> float:
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(pem)
    return cert.not_valid_after_utc.timestamp()


# ---------------------------------------------------------------------------- scenario 10 (disk space)
def b10(c: Bare) -> None:
    """Remove temp files older than 7 days in .genesis/tmp; gzip rotated logs older than 30 days into
    logs/archive and data files older than 90 days into data/archive (verified, then the originals removed);
    then usage under 80 % and a test write (disk_cleanup)."""
    gen = c.node.home / ".genesis"
    now = time.time()
    removed = archived = 0
    for p in (gen / "tmp").glob("*"):
        if p.is_file() and now - p.stat().st_mtime > 7 * 86400:
            p.unlink()
            removed += 1
    import fnmatch
    patterns = ("*.log.[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]", "*.log.[0-9]", "*.log.[0-9][0-9]")
    for src_dir, dest_dir, days, pats in ((gen / "logs", gen / "logs" / "archive", 30, patterns),
                                          (gen / "data", gen / "data" / "archive", 90, ("*",))):
        for p in sorted(src_dir.rglob("*")):
            if not p.is_file() or dest_dir in p.parents or "heapdumps" in p.parts or p.suffix == ".gz":
                continue
            if src_dir.name == "logs" and p.parent != src_dir:
                continue
            if not any(fnmatch.fnmatch(p.name, pat) for pat in pats) or now - p.stat().st_mtime <= days * 86400:
                continue
            dest_dir.mkdir(parents=True, exist_ok=True)
            gz = dest_dir / (p.name + ".gz")
            with open(p, "rb") as fin, gzip.open(gz, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            with gzip.open(gz, "rb") as check:
                if hashlib.sha256(check.read()).digest() != hashlib.sha256(p.read_bytes()).digest():
                    raise BaselineFailed(f"the archive of {p} does not match")
            p.unlink()
            archived += 1
    c.details.update(removed=removed, archived=archived)
    c.phase("validate")
    st = os.statvfs(gen)
    used = 100.0 * (1 - st.f_bavail / st.f_blocks)
    if used >= 80:
        raise BaselineFailed(f"{gen} is still {used:.1f} % used")
    probe = gen / f".bare-write-test-{os.getpid()}"
    probe.write_bytes(b"x" * 4096)
    probe.unlink()


# ---------------------------------------------------------------------------- scenario 12 (correlation)
def b12(c: Bare) -> None:
    """Rebuild the matrix from 168 hourly candles per symbol (GET /api/v3/klines; Pearson of log returns), else
    the node's default matrix; write state/correlation_matrix.json and position_correlations; restart
    genesis:strategies. Validate: matrix valid, strategies RUNNING and trading since, 10 s watch without a
    `Correlation calculation error` (fix_correlations)."""
    from genesis_lab.node.correlation import validate_matrix
    series = {}
    for s in SYMBOLS:
        code, doc = c.exchange("GET", "/api/v3/klines", [("symbol", s), ("interval", "1h"), ("limit", 168)])
        if code != 200:
            series = None
            break
        series[s] = {int(k[0]): float(k[4]) for k in doc}
    matrix, source = None, "klines"
    if series:
        matrix = _matrix_from_closes(series)
    if matrix is None:
        doc = json.loads((c.node.config_dir / "default_correlations.json").read_text())
        matrix, source = doc["matrix"], "defaults"
    doc = {"symbols": list(SYMBOLS), "matrix": matrix, "calculated_at": _iso(time.time()), "source": source}
    if validate_matrix(doc):
        raise BaselineFailed(f"the rebuilt matrix is invalid: {validate_matrix(doc)}")
    _write_atomic(c.node.state_path / "correlation_matrix.json", (json.dumps(doc, indent=2) + "\n").encode())
    conn = c.node.db()
    try:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            for i, a in enumerate(SYMBOLS):
                for j, b in enumerate(SYMBOLS):
                    if i != j:
                        cur.execute("INSERT INTO position_correlations (symbol_1, symbol_2, correlation_coefficient, "
                                    "calculated_at) VALUES (%s, %s, %s, now()) ON CONFLICT (symbol_1, symbol_2) DO UPDATE "
                                    "SET correlation_coefficient = EXCLUDED.correlation_coefficient, "
                                    "calculated_at = EXCLUDED.calculated_at", (a, b, matrix[i][j]))
    finally:
        conn.close()
    offset = c.log_size("trading.log")
    c.restart("genesis:strategies")
    since = c.db_now()
    c.details["source"] = source
    c.phase("validate")

    def trading():
        st = c.api("GET", "/admin/strategies")["strategies"]
        if any(v.get("enabled") and not v.get("primary_only") and v.get("state") != "RUNNING" for v in st.values()):
            return False
        return c.sql("SELECT count(*) FROM orders WHERE node=%s AND strategy IS NOT NULL AND created_at >= to_timestamp(%s)",
                     (c.node.name, since))[0][0] > 0
    c.wait("strategies RUNNING and trading again", trading, 60, 3)
    time.sleep(10)
    live = json.loads((c.node.state_path / "correlation_matrix.json").read_text())
    if validate_matrix(live):
        raise BaselineFailed(f"the matrix is invalid again: {validate_matrix(live)}")
    errors = c.log_lines_since("trading.log", offset, "Correlation calculation error")
    if errors:
        raise BaselineFailed(f"{len(errors)} Correlation calculation error lines since the fix")


def _matrix_from_closes(series: dict[str, dict[int, float]], min_points: int = 24) -> list[list[float]] | None:
    common = sorted(set.intersection(*(set(v) for v in series.values())))
    if len(common) < min_points + 1:
        return None
    rets = {s: [math.log(series[s][common[k + 1]] / series[s][common[k]]) for k in range(len(common) - 1)]
            for s in SYMBOLS}

    def pearson(x, y):
        mx, my = sum(x) / len(x), sum(y) / len(y)
        sx = math.sqrt(sum((a - mx) ** 2 for a in x))
        sy = math.sqrt(sum((b - my) ** 2 for b in y))
        if not sx or not sy:
            return None
        return sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sx * sy)
    m = [[1.0] * len(SYMBOLS) for _ in SYMBOLS]
    for i, a in enumerate(SYMBOLS):
        for j in range(i + 1, len(SYMBOLS)):
            v = pearson(rets[a], rets[SYMBOLS[j]])
            if v is None:
                return None
            m[i][j] = m[j][i] = round(max(-1.0, min(1.0, v)), 6)
    return m


# ---------------------------------------------------------------------------- scenario 13 (order book)
def _book_in_sync(c: Bare, symbol: str) -> tuple[bool, dict | None]:
    """(in sync, exchange depth) with orderbook_sync's criterion: not crossed, ts under 10 s, mid within 10 bps."""
    code, depth = c.exchange("GET", "/api/v3/depth", [("symbol", symbol), ("limit", 20)])
    if code != 200:
        raise BaselineFailed(f"GET /api/v3/depth {symbol} answered {code}")
    h = c.redis().hgetall(f"orderbook:{symbol}")
    try:
        bids, asks = json.loads(h["bids"]), json.loads(h["asks"])
        bb, ba = float(bids[0][0]), float(asks[0][0])
        age = time.time() - float(h["ts"])
    except (KeyError, ValueError, IndexError, TypeError):
        return False, depth
    xb, xa = float(depth["bids"][0][0]), float(depth["asks"][0][0])
    mid, xmid = (bb + ba) / 2, (xb + xa) / 2
    return (bb < ba and age <= 10 and abs(mid - xmid) / xmid * 10000 <= 10), depth


def b13(c: Bare) -> None:
    """supervisor stop + start genesis:market_data; replace each diverged orderbook:<SYMBOL> hash with the
    exchange's depth snapshot (20 levels); then every book in sync (orderbook_sync's criterion)."""
    c.restart("genesis:market_data")
    resynced = []
    for s in SYMBOLS:
        ok, depth = _book_in_sync(c, s)
        if not ok:
            pipe = c.redis().pipeline(transaction=True)
            pipe.delete(f"orderbook:{s}")
            pipe.hset(f"orderbook:{s}", mapping={"bids": json.dumps(depth["bids"][:20]), "asks": json.dumps(depth["asks"][:20]),
                                                 "lastUpdateId": str(depth.get("lastUpdateId", "")),
                                                 "ts": "%.3f" % time.time()})
            pipe.execute()
            resynced.append(s)
    c.details["resynced"] = resynced
    c.phase("validate")
    c.wait("every book in sync with the exchange", lambda: all(_book_in_sync(c, s)[0] for s in SYMBOLS), 20, 2)


# ---------------------------------------------------------------------------- scenario 14 (authentication)
def b14(c: Bare) -> None:
    """The time-sync command (genesis-lab clock sync, what genesis_time_sync_command runs); the new key and
    secret written into .env (backed up, replaced atomically) and POST /admin/config/reload; reset the
    `orders` and `binance_api` breakers. Validate: 5 signed calls 2 s apart with the node's clock succeed."""
    new_key, new_secret = c.options.get("new_api_key"), c.options.get("new_api_secret")
    if not (new_key and new_secret):
        raise BaselineFailed("scenario 14 needs a replacement key (options new_api_key/new_api_secret)")
    venv = Path(c.lab.data.get("venv_bin") or Path(sys.executable).parent)
    subprocess.run([str(venv / "genesis-lab"), "clock", "sync", "--lab", c.lab.name, "--node", c.node.name],
                   check=True, capture_output=True, text=True, timeout=60)
    env_file = c.node.env_file
    text = env_file.read_text()
    shutil.copy2(env_file, env_file.with_name(f".env.{int(time.time())}.bak"))
    lines = []
    for line in text.splitlines():
        if line.startswith("GENESIS_EXCHANGE_API_KEY="):
            line = "GENESIS_EXCHANGE_API_KEY=" + new_key
        elif line.startswith("GENESIS_EXCHANGE_API_SECRET="):
            line = "GENESIS_EXCHANGE_API_SECRET=" + new_secret
        lines.append(line)
    _write_atomic(env_file, ("\n".join(lines) + "\n").encode(), 0o600)
    c.api("POST", "/admin/config/reload", {})
    for b in ("orders", "binance_api"):
        c.api("POST", f"/admin/circuit-breakers/{b}/reset")
    c.phase("validate")
    for i in range(5):
        code, doc = c.exchange("GET", "/api/v3/account", signed=True)
        if code != 200:
            raise BaselineFailed(f"signed call {i + 1} answered {code} {doc}")
        if i < 4:
            time.sleep(2)


# ---------------------------------------------------------------------------- scenario 15 (strategy)
def b15(c: Bare) -> None:
    """For each strategy in ERROR (GET /admin/strategies): POST disable, reset, enable {safe_mode: true}.
    Validate: RUNNING, no errors, orders since the enable, then a 10 s watch without a new `Strategy error`
    (strategy_recovery)."""
    st = c.api("GET", "/admin/strategies")["strategies"]
    failing = [n for n, v in st.items() if v.get("state") == "ERROR" or int(v.get("errors_last_5m") or 0) > 0]
    offset = c.log_size("trading.log")
    for n in failing:
        c.api("POST", f"/admin/strategies/{n}/disable", {})
        c.api("POST", f"/admin/strategies/{n}/reset", {})
        c.api("POST", f"/admin/strategies/{n}/enable", {"safe_mode": True})
    since = c.db_now()
    c.details["recovered"] = failing
    c.phase("validate")

    def trading():
        now = c.api("GET", "/admin/strategies")["strategies"]
        for n in failing:
            v = now[n]
            if v.get("state") != "RUNNING" or int(v.get("errors_last_5m") or 0) > 0:
                return False
            if c.sql("SELECT count(*) FROM orders WHERE strategy=%s AND node=%s AND created_at >= to_timestamp(%s)",
                     (n, c.node.name, since))[0][0] == 0:
                return False
        return True
    c.wait("the recovered strategies RUNNING and trading", trading, 60, 3)
    time.sleep(10)
    for n in failing:
        if c.log_lines_since("trading.log", offset, "Strategy error", strategy=n):
            raise BaselineFailed(f"new Strategy error lines for {n}")


# ---------------------------------------------------------------------------- scenario 16 (backup)
def b16(c: Bare) -> None:
    """Remove the broken RESTIC_PASSWORD_FILE line from .env, supervisor start backup and wait for it to exit 0,
    install the cron schedule; validate: newest snapshot < 24 h, `restic check`, the schedule present."""
    env_file = c.node.env_file
    lines = [ln for ln in env_file.read_text().splitlines() if not ln.startswith("RESTIC_PASSWORD_FILE=")]
    _write_atomic(env_file, ("\n".join(lines) + "\n").encode(), 0o600)
    s = c.sup()
    s.startProcess("backup", False)
    info = c.wait("the backup program finishing", lambda: (lambda i: i if i["statename"] in (
        "EXITED", "FATAL", "BACKOFF", "STOPPED") else None)(s.getProcessInfo("backup")), 120, 0.5)
    if info["statename"] != "EXITED" or info["exitstatus"] != 0:
        raise BaselineFailed(f"the backup job ended {info['statename']} exit {info['exitstatus']}")
    cron = c.node.backup_cron_file
    cron.parent.mkdir(parents=True, exist_ok=True)
    venv = Path(c.lab.data.get("venv_bin") or Path(sys.executable).parent)
    _write_atomic(cron, (f"#Ansible: genesis restic backup\n17 */6 * * * root {venv / 'supervisorctl'} -s "
                         f"unix://{c.node.supervisor_socket} start backup\n").encode(), 0o644)
    c.phase("validate")
    env = dict(os.environ, RESTIC_REPOSITORY=str(c.node.restic_repository),
               RESTIC_PASSWORD_FILE=str(c.node.restic_password_file),
               RESTIC_CACHE_DIR=str(c.node.root / "run" / "restic-cache"))
    p = subprocess.run(["restic", "snapshots", "--json", "--no-lock"], capture_output=True, text=True, env=env, timeout=120)
    snaps = json.loads(p.stdout or "[]") or []
    import re
    newest = max((_parse_iso(re.sub(r"(\.\d{6})\d+", r"\1", x["time"])) or 0 for x in snaps), default=0)
    if time.time() - newest > 24 * 3600:
        raise BaselineFailed("no snapshot younger than 24 h")
    chk = subprocess.run(["restic", "check", "--no-lock"], capture_output=True, text=True, env=env, timeout=300)
    if chk.returncode != 0:
        raise BaselineFailed("restic check failed")
    if not cron.exists():
        raise BaselineFailed("the backup schedule is missing")


# ---------------------------------------------------------------------------- scenario 17 (performance)
def b17(c: Bare) -> None:
    """VACUUM (ANALYZE) orders, positions, events; POST /admin/caches/clear; restart (supervisor) the programs
    above 80 % CPU, and genesis:genesis too when the API is still slow; validate: median response of /health,
    /account/status, /positions under 500 ms and every genesis program under 60 % CPU (performance_tune)."""
    from genesis_lab import status as st
    conn = c.node.db()
    try:
        with conn.cursor() as cur:
            for t in ("orders", "positions", "events"):
                cur.execute(f"VACUUM (ANALYZE) {t}")
    finally:
        conn.close()
    c.api("POST", "/admin/caches/clear", {}, timeout=60)
    pids = {f"genesis:{i['name']}": i["pid"] for i in c.sup().getAllProcessInfo()
            if i["group"] == "genesis" and i["statename"] == "RUNNING"}
    hot = [n for n, pid in pids.items() if st.cpu_percent(pid, 0.5) > 80]
    if _slowest_median_ms(c) > 1000 and "genesis:genesis" not in hot:
        hot.append("genesis:genesis")
    if hot:
        c.restart(*hot)
    c.details["restarted"] = hot
    c.phase("validate")

    def normal():
        if _slowest_median_ms(c) >= 500:
            return False
        now = {f"genesis:{i['name']}": i["pid"] for i in c.sup().getAllProcessInfo()
               if i["group"] == "genesis" and i["statename"] == "RUNNING"}
        return len(now) == 4 and all(st.cpu_percent(pid, 2.0 / len(now)) < 60 for pid in now.values())
    c.wait("responses under 500 ms and CPU under 60 %", normal, 40, 3)


def _slowest_median_ms(c: Bare) -> float:
    worst = 0.0
    for path in ("/health", "/account/status", "/positions"):
        times = sorted(c.api_raw("GET", path, timeout=5)[2] * 1000 for _ in range(3))
        worst = max(worst, times[1])
    return worst


# ---------------------------------------------------------------------------- scenario 18 (audit trail)
def b18(c: Bare) -> None:
    """Read audit.log, INSERT each event the table lacks with its original event id, sequence, type, data (plus
    the reconstructed marker) and time; POST /admin/audit/verification enabled; write the gap report file.
    Validate: no sequence gap per aggregate, every audit.log event in the table, verification on."""
    records = {}
    with open(c.node.logs_dir / "audit.log", encoding="utf-8", errors="replace") as f:
        for line in f:
            if '"audit_event"' not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            records[(rec["aggregate_id"], rec["sequence_number"])] = rec
    present = set(c.sql("SELECT aggregate_id, sequence_number FROM events"))
    missing = [r for k, r in sorted(records.items()) if k not in present]
    conn = c.node.db()
    restored = []
    try:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            for r in missing:
                data = dict(r.get("event_data") or {}, reconstructed=True, source="audit.log",
                            original_event_id=r.get("event_id"))
                cur.execute("INSERT INTO events (event_id, event_type, aggregate_id, event_data, sequence_number, created_at) "
                            "VALUES (%s, %s, %s, %s::jsonb, %s, %s) ON CONFLICT DO NOTHING RETURNING event_id",
                            (r["event_id"], r["event_type"], r["aggregate_id"], json.dumps(data), r["sequence_number"],
                             r["created_at"]))
                if cur.fetchone():
                    restored.append(r["event_id"])
    finally:
        conn.close()
    c.api("POST", "/admin/audit/verification", {"enabled": True})
    report = c.node.home / ".genesis" / "data" / f"audit_gap_report_bare_{int(time.time())}.json"
    _write_atomic(report, json.dumps({"node": c.node.name, "reconstructed": restored}).encode(), 0o640)
    c.details["restored"] = len(restored)
    c.phase("validate")
    gaps = c.sql("SELECT aggregate_id FROM (SELECT aggregate_id, sequence_number, lag(sequence_number) OVER "
                 "(PARTITION BY aggregate_id ORDER BY sequence_number) AS prev FROM events) x "
                 "WHERE prev IS NOT NULL AND sequence_number <> prev + 1 LIMIT 1")
    present = set(c.sql("SELECT aggregate_id, sequence_number FROM events"))
    if gaps or any(k not in present for k in records):
        raise BaselineFailed("the trail still has gaps or events missing")
    if not c.api("GET", "/admin/audit/verification").get("enabled"):
        raise BaselineFailed("audit verification is off")


# ---------------------------------------------------------------------------- scenario 19 (config drift)
def b19(c: Bare) -> None:
    """Save the drifted files of config/ aside (config.drift/<UTC time>/), copy the known-good files of
    config.backup/ over them, POST /admin/config/reload; validate: GET /admin/config/validate valid, no drift,
    health 200, a test order accepted (config_restore)."""
    live, good = c.node.config_dir, c.node.home / "config.backup"
    drifted = [p.name for p in sorted(good.iterdir()) if p.is_file()
               and (not (live / p.name).exists() or (live / p.name).read_bytes() != p.read_bytes())]
    save = c.node.home / "config.drift" / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    save.mkdir(parents=True, exist_ok=True)
    for name in drifted:
        if (live / name).exists():
            shutil.copy2(live / name, save / name)
        _write_atomic(live / name, (good / name).read_bytes(), (good / name).stat().st_mode & 0o7777)
    c.api("POST", "/admin/config/reload", {})
    c.details["restored"] = drifted
    c.phase("validate")
    v = c.api("GET", "/admin/config/validate")
    if not v.get("valid"):
        raise BaselineFailed(f"the configuration is still invalid: {v.get('errors')}")
    if any((live / p.name).read_bytes() != p.read_bytes() for p in good.iterdir() if p.is_file()):
        raise BaselineFailed("config/ still differs from config.backup/")
    c.wait("health 200", lambda: c.api_raw("GET", "/health", auth=False, timeout=5)[0] == 200, 20, 2)
    c.test_order("0.0002")


# ---------------------------------------------------------------------------- scenario 20 (emergency)
def b20(c: Bare) -> None:
    """POST disable for every strategy, cancel every PENDING order at the exchange (and CANCELLED in the
    database), POST /admin/safe-mode on, POST /emergency/close-all with the phrase; validate: no open
    position, no PENDING order, safe mode on (emergency_shutdown)."""
    for n in c.api("GET", "/admin/strategies")["strategies"]:
        c.api("POST", f"/admin/strategies/{n}/disable", {})
    for oid, sym, cid, status in c.sql("SELECT order_id, symbol, client_order_id, status FROM orders "
                                       "WHERE status='PENDING' AND node=%s", (c.node.name,)):
        code, doc = c.exchange("DELETE", "/api/v3/order", [("symbol", sym), ("origClientOrderId", cid)], signed=True)
        if code != 200 and doc.get("code") != -2011:
            raise BaselineFailed(f"cancel of {oid} answered {code} {doc}")
        _cancel_in_db(c, oid, status, "cancelled by bare baseline: emergency")
    c.api("POST", "/admin/safe-mode", {"enabled": True, "reason": "bare baseline: emergency market conditions"})
    closed = c.api("POST", "/emergency/close-all", {"confirmation": "CLOSE ALL POSITIONS"}, timeout=60)
    if closed.get("failed"):
        raise BaselineFailed(f"close-all failed for {len(closed['failed'])} positions: {str(closed['failed'][0])[:200]}")
    c.details["closed"] = len(closed.get("closed") or [])
    c.phase("validate")

    def out():
        pos = c.api("GET", "/positions?status=open")
        pending = c.sql("SELECT count(*) FROM orders WHERE status='PENDING' AND node=%s", (c.node.name,))[0][0]
        return pos.get("count", len(pos.get("positions", []))) == 0 and pending == 0 and \
            c.api("GET", "/admin/safe-mode").get("enabled") is True
    c.wait("no open position, no pending order, safe mode on", out, 20, 2)


BASELINES: dict[int, Callable[[Bare], None]] = {
    1: b01, 2: b02, 3: b03, 4: b04, 5: b05, 6: b06, 7: b07, 9: b09, 10: b10, 12: b12, 13: b13, 14: b14, 15: b15,
    16: b16, 17: b17, 18: b18, 19: b19, 20: b20,
}
NO_BASELINE: dict[int, str] = {
    8: ("the reduction is a real MARKET order sized to the exchange's lot filter, recorded with the position change "
        "and its audit event in one transaction (genesis_positions); a bare copy would re-implement that module"),
    11: ("a two-node election (lease holder, consistent state, priority), fencing, split-era order reconciliation "
         "into the primary's audit trail and resume as standby across both nodes; not reproduced as bare calls"),
}


def run(lab, node, number: int, options: dict | None = None) -> dict:
    """Run scenario `number`'s bare fix on `node` and time it: {ok, wall_s, phases, details, error}."""
    fn = BASELINES[number]
    c = Bare(lab, node, options)
    t0 = time.monotonic()
    err = None
    try:
        fn(c)
    except BaselineFailed as e:
        err = str(e)
    except Exception as e:  # noqa: BLE001  (a bare step failed: record it, the harness goes on)
        err = f"{type(e).__name__}: {e}"
    finally:
        c.close()
    end = time.monotonic()
    return {"ok": err is None, "wall_s": round(end - t0, 3), "phases": c.phase_seconds(end), "details": c.details,
            "error": err}
