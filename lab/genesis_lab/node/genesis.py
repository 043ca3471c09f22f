"""`genesis` (main): the control API of contract section 3, heartbeat, position monitor,
tilt monitor and cluster membership. Blocking work (psycopg2, redis, the exchange client)
runs in a small thread pool; the event loop only serves HTTP and schedules."""
from __future__ import annotations

import asyncio
import gc
import hmac
import json
import os
import signal
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from genesis_lab.node import VERSION
from genesis_lab.node import breaker as brk
from genesis_lab.node import orders as ordmod
from genesis_lab.node import strategy_state as sst
from genesis_lab.node.audit import Audit, event_row_json
from genesis_lab.node.cluster import ClusterMember
from genesis_lab.node.common import (ClockOffset, Database, DbDown, JsonLog, Settings, account_id, dumps,
                                     flag_enabled, iso, make_redis, num, parse_time, read_json_file,
                                     redis_errors, rss_bytes, start_exit_watchdog, take_fault, truthy,
                                     write_json_file)
from genesis_lab.node.config import (DEFAULT_TIERS, config_digest, load_config_docs, tier_limits,
                                     validate_config_dir)
from genesis_lab.node.exchange_client import ExchangeClient
from genesis_lab.node.ratelimit import EXCHANGE_LIMIT, QUEUE_KEY, RateLimiter

PUBLIC = {"/health", "/health/live", "/health/ready", "/metrics", "/cluster/peer"}
PHRASE_HALT = "HALT TRADING NOW"
PHRASE_CLOSE = "CLOSE ALL POSITIONS"
PHRASE_RESUME = "OVERRIDE EMERGENCY HALT"
WS_CONNECTIONS = ("execution", "monitoring", "backup")
HALT_KEY, SAFE_KEY, LIMITS_KEY = "genesis:halt", "genesis:safe_mode", "genesis:limits"
MODE_KEY = "genesis:market_data:mode"
WS_RESTART_KEY = "genesis:market_data:restart_requested"
CONFIG_VERSION_KEY = "genesis:config:version"
AUDIT_VERIFY_KEY = "genesis:audit:verification"
PARTITION_KEY = "lab:partition"
TILT_LEVELS = ("NORMAL", "LEVEL1", "LEVEL2", "LEVEL3")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def bad_request(msg: str) -> ApiError:
    return ApiError(400, "bad_request", msg)


def tilt_level_for(score: float) -> str:
    if score >= 80:
        return "LEVEL3"
    if score >= 60:
        return "LEVEL2"
    if score >= 40:
        return "LEVEL1"
    return "NORMAL"


def _intish(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


class Main:
    def __init__(self, home: str):
        self.s = Settings(home)
        s = self.s
        self.log = JsonLog(s.logs_dir, "genesis.log", "genesis.main", s.node, "genesis")
        self.tlog = self.log.child("tilt.log", "genesis.tilt")
        self.alog = self.log.child("audit.log", "audit")
        self.db = Database(s.db_url, f"genesis-main-{s.node}")
        self.r = make_redis(s.redis_url)
        self.audit = Audit(self.db, self.alog, self.r, self.log)
        self.breakers = brk.Breakers(self.r, self.log)
        self.limiter = RateLimiter(self.r, self.log, "genesis")
        self.clock = ClockOffset(s.clock_offset_file)
        self.exchange = ExchangeClient(s.exchange_url, s.exchange_key, s.exchange_secret, self.clock.now_ms,
                                       timeout=4.0, on_response=self._record_rate)
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="genesis")
        self.started_at = time.time()
        self.components = {"database": "down", "redis": "down", "exchange_gateway": "down",
                           "websocket_streams": "down", "event_bus": "down"}
        self.heartbeat_last: float | None = None
        self.startup_done = False
        self.monitored_at: float | None = None
        self.metrics = {"tilt_score": 0.0, "position_count": 0, "orders_failed": 0}
        self.flags = {"halt": {}, "safe": {}, "mode": "websocket"}
        self.account: str | None = None
        self.config_digest, _ = config_digest(s.home)
        self.config_docs = load_config_docs(s.config_dir)
        self.tiers = tier_limits(self.config_docs.get("tier_gates.yaml"))
        persisted = read_json_file(s.state_dir / "cluster.json") or {}
        self.cluster = ClusterMember.create(s.node, s.cluster, s.priority, s.lease_ttl, s.peers, persisted)
        self.cluster_persisted = dict(persisted)
        self.last_event_id: int | None = None
        self.partitioned: set[str] = set()
        self.split_logged_at = 0.0
        self.api_cache: dict[str, Any] = {}
        self.bloat: list | None = None
        self.leak: list[bytes] = []
        self.leak_rate_mb = 0.0
        self.tilt_tick_at: float | None = None
        self.tilt_state = {"cooldown": False, "over": False, "logged_at": 0.0}
        self.ssl_ctx: ssl.SSLContext | None = None
        self.stop_event: asyncio.Event | None = None
        self.tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------------ helpers
    async def call(self, fn, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, fn, *args)

    def _record_rate(self, resp) -> None:
        try:
            self.limiter.record(resp)
        except redis_errors():
            pass

    def node_agg(self) -> str:
        return f"system:{self.s.node}"

    def sys_event(self, event_type: str, data: dict) -> dict | None:
        data = dict(data)
        data.setdefault("actor", "api")
        data.setdefault("node", self.s.node)
        return self.audit.try_write(event_type, self.node_agg(), data)

    def acct(self) -> str:
        if self.account is None:
            self.account = account_id(self.db, self.s)
        if self.account is None:
            raise ApiError(409, "conflict", "The node has no trading account.")
        return self.account

    @staticmethod
    def j(data: Any, status: int = 200) -> web.Response:
        return web.Response(text=dumps(data), status=status, content_type="application/json")

    async def body(self, request: web.Request) -> dict:
        if not request.can_read_body:
            return {}
        try:
            data = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The request body is not valid JSON.") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise bad_request("The request body must be a JSON object.")
        return data

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def middleware(self, request: web.Request, handler):
        try:
            if request.path not in PUBLIC:
                key = request.headers.get("X-API-Key", "")
                if not self.s.api_key or not hmac.compare_digest(key.encode(), self.s.api_key.encode()):
                    raise ApiError(401, "unauthorized", "A valid X-API-Key header is required.")
                if self.bloat is not None:
                    self._slow_cache_lookup(request.path)
            return await handler(request)
        except ApiError as e:
            return self.j({"error": e.code, "message": e.message, **e.extra}, e.status)
        except web.HTTPException as e:
            if e.status == 404:
                return self.j({"error": "not_found", "message": f"No endpoint {request.method} {request.path}."}, 404)
            if e.status == 405:
                return self.j({"error": "bad_request",
                               "message": f"Method {request.method} is not allowed on {request.path}."}, 405)
            raise
        except DbDown as e:
            return self.j({"error": "unavailable", "message": f"The database is down ({e})."}, 503)
        except redis_errors() as e:
            return self.j({"error": "unavailable", "message": f"Redis is down ({type(e).__name__})."}, 503)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001
            self.log.error("API request failed", path=request.path, method=request.method,
                           exception=f"{type(e).__name__}: {e}")
            return self.j({"error": "internal", "message": f"Internal error: {type(e).__name__}."}, 500)

    def _slow_cache_lookup(self, path: str) -> None:
        """The `slow_cache` fault: a bloated cache scanned on every authenticated request."""
        t0 = time.thread_time()
        bloat = self.bloat or []
        hits = 0
        while time.thread_time() - t0 < 1.2 and bloat:
            for k, _v in bloat:
                if k == path:
                    hits += 1
            if not bloat:
                break
        self.api_cache["last_slow_lookup"] = hits

    # ------------------------------------------------------------------ health
    def health_doc(self) -> tuple[dict, int]:
        now = time.time()
        comps = dict(self.components)
        hb_age = (now - self.heartbeat_last) if self.heartbeat_last else None
        halted = flag_enabled(self.flags["halt"])
        safe = flag_enabled(self.flags["safe"])
        mode = self.flags["mode"]
        if comps["database"] != "up" or comps["redis"] != "up" or hb_age is None or \
                hb_age > 3 * self.s.heartbeat_interval:
            status = "unhealthy"
        elif any(v != "up" for v in comps.values()) or halted or safe or mode == "rest":
            status = "degraded"
        else:
            status = "healthy"
        doc = {"status": status, "timestamp": iso(now), "version": VERSION, "node": self.s.node,
               "uptime_seconds": round(now - self.started_at, 1), "started_at": iso(self.started_at),
               "components": comps,
               "heartbeat": {"last": iso(self.heartbeat_last) if self.heartbeat_last else None,
                             "age_s": round(hb_age, 3) if hb_age is not None else None},
               "safe_mode": safe, "halted": halted, "market_data_mode": mode}
        return doc, (503 if status == "unhealthy" else 200)

    async def h_health(self, request):
        doc, status = self.health_doc()
        return self.j(doc, status)

    async def h_live(self, request):
        return self.j({"status": "alive"})

    async def h_ready(self, request):
        reasons = []
        if not self.startup_done:
            reasons.append("startup not complete")
        if self.components["database"] != "up":
            reasons.append("database is down")
        if self.components["redis"] != "up":
            reasons.append("redis is down")
        if reasons:
            return self.j({"ready": False, "reasons": reasons}, 503)
        return self.j({"ready": True})

    # ------------------------------------------------------------------ account & co
    def _account_row(self) -> dict:
        acc = self.acct()
        ck = "genesis:cache:account"
        try:
            cached = self.r.get(ck)
        except redis_errors():
            cached = None
        if cached:
            try:
                return json.loads(cached)
            except ValueError:
                pass
        row = self.db.one("SELECT account_id, balance_usdt, tier, locked_features FROM accounts WHERE account_id=%s",
                          (acc,))
        if row is None:
            raise ApiError(404, "not_found", f"Account {acc} does not exist.")
        row = {"account_id": row["account_id"], "balance_usdt": float(row["balance_usdt"]), "tier": row["tier"],
               "locked_features": row["locked_features"] or []}
        try:
            self.r.set(ck, dumps(row), px=1000)
        except redis_errors():
            pass
        return row

    def _flags_now(self) -> tuple[dict, dict]:
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(HALT_KEY)
        pipe.hgetall(SAFE_KEY)
        halt, safe = pipe.execute()
        self.flags["halt"], self.flags["safe"] = halt or {}, safe or {}
        return halt or {}, safe or {}

    def op_account(self) -> dict:
        row = self._account_row()
        halt, safe = self._flags_now()
        return {**row, "trading_enabled": not flag_enabled(halt), "safe_mode": flag_enabled(safe),
                "halted": flag_enabled(halt)}

    async def h_account(self, request):
        return self.j(await self.call(self.op_account))

    def op_positions(self, status: str) -> dict:
        acc = self.acct()
        where = {"open": "AND status='OPEN'", "closed": "AND status='CLOSED'", "all": ""}[status]
        rows = self.db.query(
            "SELECT position_id, account_id, symbol, side, entry_price, current_price, quantity, dollar_value, "
            f"pnl_dollars, status, close_reason, created_at, closed_at, updated_at FROM positions "
            f"WHERE account_id=%s {where} ORDER BY created_at, position_id", (acc,))
        out = []
        for r in rows:
            out.append({k: (float(v) if isinstance(v, Decimal) else (iso(v) if hasattr(v, "tzinfo") else v))
                        for k, v in r.items()})
        return {"positions": out, "count": len(out),
                "monitored_at": iso(self.monitored_at) if self.monitored_at else None}

    async def h_positions(self, request):
        status = request.query.get("status", "open").lower()
        if status not in ("open", "closed", "all"):
            raise bad_request("status must be open, closed or all.")
        return self.j(await self.call(self.op_positions, status))

    def _tilt_profile(self) -> dict:
        acc = self.acct()
        prof = self.db.one("SELECT * FROM tilt_profiles WHERE account_id=%s ORDER BY profile_id LIMIT 1", (acc,))
        if prof is None:
            raise ApiError(404, "not_found", f"No tilt profile for account {acc}.")
        return prof

    def op_tilt(self) -> dict:
        prof = self._tilt_profile()
        pid = prof["profile_id"]
        v = self.db.one("SELECT count(*) AS n FROM tilt_events WHERE profile_id=%s AND "
                        "event_type='RISK_LIMIT_VIOLATION' AND created_at > now() - interval '1 hour'", (pid,))
        recent = self.db.query("SELECT event_type, severity, description, created_at FROM tilt_events "
                               "WHERE profile_id=%s ORDER BY created_at DESC, tilt_event_id DESC LIMIT 10", (pid,))
        lock = prof["lockout_expiration"]
        return {"profile_id": pid, "score": float(prof["current_tilt_score"]), "level": prof["tilt_level"],
                "consecutive_losses": prof["consecutive_losses"], "lockout_expiration": iso(lock) if lock else None,
                "cooldown_active": bool(lock and lock.timestamp() > time.time()),
                "violations_last_hour": int(v["n"]),
                "last_intervention_at": iso(prof["last_intervention_at"]) if prof["last_intervention_at"] else None,
                "recent_events": [{"event_type": e["event_type"], "severity": e["severity"],
                                   "description": e["description"], "created_at": iso(e["created_at"])}
                                  for e in recent]}

    async def h_tilt(self, request):
        return self.j(await self.call(self.op_tilt))

    def limits_factor(self) -> float:
        try:
            v = self.r.hget(LIMITS_KEY, "factor")
        except redis_errors():
            v = None
        if v is None:
            st = read_json_file(self.s.state_dir / "tier_state.json") or {}
            v = st.get("limits_factor", 1.0)
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = 1.0
        return f

    def op_tier(self) -> dict:
        row = self._account_row()
        tier = row["tier"]
        factor = self.limits_factor()
        halt, safe = self._flags_now()
        mx = self.tiers.get(tier, DEFAULT_TIERS.get(tier, 0.0))
        if flag_enabled(halt):
            state = "LOCKED"
        elif factor < 1.0 or flag_enabled(safe):
            state = "PROTECTED"
        else:
            state = "STABLE"
        return {"tier": tier, "max_position_size": _intish(mx), "limits_factor": factor,
                "effective_max_position_size": round(mx * factor, 8),
                "tiers": {k: _intish(v) for k, v in self.tiers.items()}, "state": state}

    async def h_tier(self, request):
        return self.j(await self.call(self.op_tier))

    def op_events(self, after: int, limit: int) -> dict:
        rows = self.db.query("SELECT event_id, event_type, aggregate_id, event_data, sequence_number, created_at "
                             "FROM events WHERE event_id > %s ORDER BY event_id LIMIT %s", (after, limit))
        events = [event_row_json(r) for r in rows]
        return {"events": events, "last_event_id": events[-1]["event_id"] if events else after}

    async def h_events(self, request):
        try:
            after = int(request.query.get("after", "0"))
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            raise bad_request("after and limit must be integers.") from None
        if after < 0:
            raise bad_request("after must be 0 or more.")
        if not 1 <= limit <= 1000:
            raise bad_request("limit must be between 1 and 1000.")
        return self.j(await self.call(self.op_events, after, limit))

    # ------------------------------------------------------------------ emergency
    def op_halt(self, reason: str) -> dict:
        h = self.r.hgetall(HALT_KEY)
        if flag_enabled(h):
            return {"changed": False, "halted": True, "since": h.get("since") or None, "reason": h.get("reason") or None}
        since = iso()
        self.r.hset(HALT_KEY, mapping={"enabled": "1", "since": since, "reason": reason})
        self.flags["halt"] = {"enabled": "1", "since": since, "reason": reason}
        self.log.warning("Trading halted", reason=reason)
        self.sys_event("EMERGENCY_HALT", {"reason": reason, "before": {"halted": False}, "after": {"halted": True}})
        return {"changed": True, "halted": True, "since": since, "reason": reason}

    async def h_halt(self, request):
        b = await self.body(request)
        if b.get("confirmation") != PHRASE_HALT:
            raise ApiError(403, "confirmation_required", f"confirmation must be '{PHRASE_HALT}'.")
        reason = b.get("reason", "operator halt")
        if not isinstance(reason, str) or not reason.strip():
            raise bad_request("reason must be a non-empty string.")
        return self.j(await self.call(self.op_halt, reason.strip()))

    def op_resume(self) -> dict:
        h = self.r.hgetall(HALT_KEY)
        if not flag_enabled(h):
            return {"changed": False, "halted": False}
        self.r.hset(HALT_KEY, mapping={"enabled": "0", "since": iso(), "reason": ""})
        self.flags["halt"] = {"enabled": "0"}
        self.log.warning("Trading resumed", halted_since=h.get("since"), reason=h.get("reason"))
        self.sys_event("EMERGENCY_RESUME", {"before": {"halted": True, "since": h.get("since"),
                                                      "reason": h.get("reason")}, "after": {"halted": False}})
        return {"changed": True, "halted": False}

    async def h_resume(self, request):
        b = await self.body(request)
        if b.get("confirmation") != PHRASE_RESUME:
            raise ApiError(403, "confirmation_required", f"confirmation must be '{PHRASE_RESUME}'.")
        return self.j(await self.call(self.op_resume))

    def op_close_all(self, max_slippage: float | None) -> dict:
        acc = self.acct()
        rows = self.db.query("SELECT position_id, symbol, side, quantity, entry_price FROM positions "
                             "WHERE account_id=%s AND status='OPEN' ORDER BY created_at, position_id", (acc,))
        closed, failed = [], []
        for p in rows:
            side = "SELL" if p["side"] == "LONG" else "BUY"
            try:
                order = ordmod.create_order(self.db, self.audit, account_id=acc, node=self.s.node,
                                            symbol=p["symbol"], side=side, quantity=p["quantity"],
                                            strategy="emergency", position_id=p["position_id"])
                ordmod.mark_submitted(self.db, self.audit, order, {"reason": "emergency close-all"})
                resp = ordmod.submit(self.exchange, order)
                outcome = ordmod.classify(resp)
                if outcome in ("RATE_LIMITED", "UNREACHABLE", "OPEN"):
                    outcome = "FAILED"
                res = ordmod.record_result(self.db, self.audit, order, resp, outcome, close_reason="emergency")
            except DbDown:
                raise
            except Exception as exc:  # noqa: BLE001
                failed.append({"position_id": p["position_id"], "symbol": p["symbol"],
                               "quantity": float(p["quantity"]), "error": f"{type(exc).__name__}: {exc}"})
                continue
            if res["status"] in ("FILLED", "PARTIAL"):
                slip = None
                if res["price"] and max_slippage is not None:
                    tick = num(self._ticker_price(p["symbol"]))
                    if tick:
                        slip = abs(res["price"] - tick) / tick * 100
                closed.append({"position_id": p["position_id"], "symbol": p["symbol"],
                               "quantity": float(p["quantity"]), "order_id": order["order_id"],
                               "exchange_order_id": res["exchange_order_id"], "price": res["price"],
                               "slippage_percent": round(slip, 4) if slip is not None else None})
            else:
                failed.append({"position_id": p["position_id"], "symbol": p["symbol"],
                               "quantity": float(p["quantity"]), "order_id": order["order_id"],
                               "error": res["error"]})
        if rows:
            self.log.warning("Emergency close-all", closed=len(closed), failed=len(failed))
            self.sys_event("EMERGENCY_CLOSE_ALL", {"closed": [c["position_id"] for c in closed],
                                                   "failed": [f["position_id"] for f in failed],
                                                   "max_slippage_percent": max_slippage})
        return {"changed": bool(closed), "closed": closed, "failed": failed}

    def _ticker_price(self, symbol: str):
        try:
            return self.r.hget(f"market:ticker:{symbol}", "price")
        except redis_errors():
            return None

    async def h_close_all(self, request):
        b = await self.body(request)
        if b.get("confirmation") != PHRASE_CLOSE:
            raise ApiError(403, "confirmation_required", f"confirmation must be '{PHRASE_CLOSE}'.")
        ms = b.get("max_slippage_percent")
        if ms is not None and (isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms < 0):
            raise bad_request("max_slippage_percent must be a non-negative number.")
        return self.j(await self.call(self.op_close_all, ms))

    # ------------------------------------------------------------------ breakers
    def op_breakers(self) -> dict:
        return {"breakers": {n: brk.public(st) for n, st in self.breakers.all().items()}}

    async def h_breakers(self, request):
        return self.j(await self.call(self.op_breakers))

    def op_breaker_reset(self, name: str) -> dict:
        before, after = self.breakers.reset(name)
        changed = before["state"] != "closed" or before["failures"] > 0
        if changed:
            self.log.info("Circuit breaker reset", breaker=name, before=before["state"])
            self.sys_event("CIRCUIT_BREAKER_RESET", {"name": name, "before": brk.public(before),
                                                     "after": brk.public(after)})
        return {"changed": changed, "name": name, "before": before["state"], "state": "closed"}

    async def h_breaker_reset(self, request):
        name = request.match_info["name"]
        if name not in brk.NAMES:
            raise ApiError(404, "not_found", f"Unknown circuit breaker {name}; known: {', '.join(brk.NAMES)}.")
        return self.j(await self.call(self.op_breaker_reset, name))

    # ------------------------------------------------------------------ market data
    def op_websocket(self) -> dict:
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        pipe.get(MODE_KEY)
        for c in WS_CONNECTIONS:
            pipe.hgetall(f"genesis:ws:{c}")
        for sym in self.s.symbols:
            pipe.hgetall(f"market:ticker:{sym}")
        res = pipe.execute()
        mode = res[0] or "websocket"
        conns = {}
        for c, h in zip(WS_CONNECTIONS, res[1:1 + len(WS_CONNECTIONS)]):
            h = h or {}
            lm = parse_time(h.get("last_message_ts"))
            conns[c] = {"state": h.get("state") or "disconnected",
                        "since": iso(parse_time(h["since"])) if parse_time(h.get("since")) else None,
                        "last_message_age_s": round(now - lm, 3) if lm else None,
                        "last_error": h.get("last_error") or None}
        tickers = {}
        for sym, h in zip(self.s.symbols, res[1 + len(WS_CONNECTIONS):]):
            ts = parse_time((h or {}).get("ts"))
            tickers[sym] = {"price": num((h or {}).get("price")), "age_s": round(now - ts, 3) if ts else None,
                            "source": (h or {}).get("source")}
        return {"mode": mode, "connections": conns, "tickers": tickers}

    async def h_websocket(self, request):
        return self.j(await self.call(self.op_websocket))

    def op_ws_restart(self) -> dict:
        at = iso()
        self.r.set(WS_RESTART_KEY, at, ex=600)
        self.log.info("WebSocket restart requested", requested_at=at)
        self.sys_event("WEBSOCKET_RESTART_REQUESTED", {"requested_at": at})
        return {"changed": True, "requested_at": at}

    async def h_ws_restart(self, request):
        return self.j(await self.call(self.op_ws_restart), 202)

    def op_mode(self, mode: str) -> dict:
        before = self.r.get(MODE_KEY) or "websocket"
        if before == mode:
            return {"changed": False, "before": before, "mode": mode}
        self.r.set(MODE_KEY, mode)
        self.flags["mode"] = mode
        self.log.warning("Market data mode changed", before=before, mode=mode)
        self.sys_event("MARKET_DATA_MODE_CHANGED", {"before": before, "after": mode})
        return {"changed": True, "before": before, "mode": mode}

    async def h_mode(self, request):
        b = await self.body(request)
        mode = b.get("mode")
        if mode not in ("websocket", "rest"):
            raise bad_request("mode must be 'websocket' or 'rest'.")
        return self.j(await self.call(self.op_mode, mode))

    # ------------------------------------------------------------------ rate limits
    async def h_rate_limits(self, request):
        return self.j(await self.call(self.limiter.summary))

    def op_rate_set(self, protection, limit) -> dict:
        bp, bl = self.limiter.config()
        ap = bp if protection is None else bool(protection)
        al = bl if limit is None else int(limit)
        before = {"protection": bp, "limit_per_minute": bl}
        after = {"protection": ap, "limit_per_minute": al}
        if before == after:
            return {"changed": False, "before": before, "after": after}
        self.limiter.set_config(ap, al)
        self.log.info("Rate limit configuration changed", before=before, after=after)
        self.sys_event("RATE_LIMIT_CONFIG_CHANGED", {"before": before, "after": after})
        return {"changed": True, "before": before, "after": after}

    async def h_rate_set(self, request):
        b = await self.body(request)
        protection = b.get("protection")
        limit = b.get("limit_per_minute")
        if protection is not None and not isinstance(protection, bool):
            raise bad_request("protection must be a boolean.")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1200):
            raise bad_request("limit_per_minute must be an integer between 1 and 1200.")
        if protection is None and limit is None:
            raise bad_request("protection or limit_per_minute is required.")
        return self.j(await self.call(self.op_rate_set, protection, limit))

    def op_queue_clear(self) -> dict:
        pipe = self.r.pipeline(transaction=True)
        pipe.llen(QUEUE_KEY)
        pipe.delete(QUEUE_KEY)
        n = int(pipe.execute()[0])
        if n:
            self.log.info("Request queue cleared", cleared=n)
            self.sys_event("REQUEST_QUEUE_CLEARED", {"cleared": n})
        return {"changed": n > 0, "cleared": n}

    async def h_queue_clear(self, request):
        return self.j(await self.call(self.op_queue_clear))

    # ------------------------------------------------------------------ strategies
    async def h_strategies(self, request):
        def op():
            return {"strategies": {n: sst.view(self.r, n) for n in sst.STRATEGIES}}
        return self.j(await self.call(op))

    def op_strategy(self, name: str, action: str, safe_mode: bool) -> dict:
        k = sst.key(name)
        h = sst.ensure(self.r, name)
        before = {"state": h.get("state") or "IDLE", "enabled": truthy(h.get("enabled", "1")),
                  "safe_mode": truthy(h.get("safe_mode", "0"))}
        changes: dict[str, str] = {}
        clear_errors = False
        if action == "disable":
            if before["enabled"] or before["state"] != "STOPPED":
                changes = {"enabled": "0", "state": "STOPPED"}
        elif action == "enable":
            if not before["enabled"] or before["safe_mode"] != safe_mode or \
                    before["state"] in ("STOPPED", "STOPPING", "ERROR", "IDLE"):
                changes = {"enabled": "1", "safe_mode": "1" if safe_mode else "0", "state": "RUNNING"}
        else:  # reset
            dirty = (int(float(h.get("errors_total") or 0)) > 0 or bool(h.get("last_error"))
                     or before["state"] == "ERROR" or h.get("params") != sst.defaults_json(name)
                     or self.r.zcard(sst.errors_key(name)) > 0)
            if dirty:
                changes = {"errors_total": "0", "last_error": "", "params": sst.defaults_json(name)}
                if before["state"] in ("ERROR", "RECOVERING"):
                    changes["state"] = "IDLE"
                clear_errors = True
        if changes:
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(k, mapping=changes)
            if clear_errors:
                pipe.delete(sst.errors_key(name))
            pipe.execute()
        h2 = self.r.hgetall(k)
        after = {"state": h2.get("state") or "IDLE", "enabled": truthy(h2.get("enabled", "1")),
                 "safe_mode": truthy(h2.get("safe_mode", "0"))}
        changed = bool(changes)
        if changed:
            self.log.info(f"Strategy {action}", strategy=name, before=before, after=after)
            self.sys_event(f"STRATEGY_{action.upper()}", {"strategy": name, "before": before, "after": after})
        return {"changed": changed, "name": name, "before": before, "after": after, "state": after["state"]}

    async def h_strategy_action(self, request):
        name, action = request.match_info["name"], request.match_info["action"]
        if name not in sst.STRATEGIES:
            raise ApiError(404, "not_found", f"Unknown strategy {name}; known: {', '.join(sst.STRATEGIES)}.")
        if action not in ("disable", "enable", "reset"):
            raise ApiError(404, "not_found", f"Unknown strategy action {action}.")
        b = await self.body(request)
        sm = b.get("safe_mode", False)
        if not isinstance(sm, bool):
            raise bad_request("safe_mode must be a boolean.")
        return self.j(await self.call(self.op_strategy, name, action, sm))

    # ------------------------------------------------------------------ tilt & limits & notifications
    def op_cooldown(self, minutes: int) -> dict:
        prof = self._tilt_profile()
        now = time.time()
        requested = now + minutes * 60
        cur = prof["lockout_expiration"]
        cur_ts = cur.timestamp() if cur else None
        if cur_ts is not None and cur_ts >= requested - 60:
            return {"changed": False, "lockout_expiration": iso(cur_ts), "minutes": minutes}
        with self.db.tx() as c:
            c.execute("UPDATE tilt_profiles SET lockout_expiration = to_timestamp(%s), last_intervention_at = now() "
                      "WHERE profile_id=%s", (requested, prof["profile_id"]))
            c.execute("INSERT INTO tilt_events (profile_id, event_type, severity, description) "
                      "VALUES (%s, 'COOLDOWN_STARTED', 'MEDIUM', %s)",
                      (prof["profile_id"], f"operator cooldown of {minutes} minutes"))
        self.tlog.warning("Tilt cooldown started", minutes=minutes, lockout_expiration=iso(requested),
                          score=float(prof["current_tilt_score"]))
        self.sys_event("TILT_COOLDOWN_STARTED", {"minutes": minutes,
                                                 "before": {"lockout_expiration": iso(cur_ts) if cur_ts else None},
                                                 "after": {"lockout_expiration": iso(requested)}})
        return {"changed": True, "lockout_expiration": iso(requested), "minutes": minutes}

    async def h_cooldown(self, request):
        b = await self.body(request)
        m = b.get("minutes")
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 1440:
            raise bad_request("minutes must be an integer between 1 and 1440.")
        return self.j(await self.call(self.op_cooldown, m))

    def op_limits(self, factor: float) -> dict:
        before = self.limits_factor()
        if abs(before - factor) < 1e-9:
            return {"changed": False, "before": before, "factor": factor}
        self.r.hset(LIMITS_KEY, mapping={"factor": repr(float(factor)), "since": iso()})
        try:
            tier = self._account_row()["tier"]
        except (ApiError, DbDown):
            tier = None
        write_json_file(self.s.state_dir / "tier_state.json",
                        {"tier": tier, "since": iso(), "limits_factor": float(factor)})
        self.log.warning("Position limits changed", before=before, factor=factor)
        self.sys_event("LIMITS_CHANGED", {"before": {"factor": before}, "after": {"factor": factor}})
        return {"changed": True, "before": before, "factor": factor}

    async def h_limits(self, request):
        b = await self.body(request)
        f = b.get("factor")
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise bad_request("factor must be a number with 0 < factor <= 1.")
        return self.j(await self.call(self.op_limits, float(f)))

    async def h_limits_get(self, request):
        def op():
            f = self.limits_factor()
            return {"factor": f}
        return self.j(await self.call(op))

    def op_notify(self, kind: str, message: str, severity: str) -> dict:
        row = self.db.one("INSERT INTO notifications (kind, severity, message) VALUES (%s,%s,%s) "
                          "RETURNING notification_id, created_at", (kind, severity, message))
        self.log.info("Operator notification", kind=kind, severity=severity, notification_id=row["notification_id"],
                      message=message)
        self.sys_event("NOTIFICATION_CREATED", {"notification_id": row["notification_id"], "kind": kind,
                                                "severity": severity})
        return {"changed": True, "notification_id": row["notification_id"]}

    async def h_notify(self, request):
        b = await self.body(request)
        for f in ("kind", "message", "severity"):
            if not isinstance(b.get(f), str) or not b.get(f).strip():
                raise bad_request(f"{f} must be a non-empty string.")
        return self.j(await self.call(self.op_notify, b["kind"], b["message"], b["severity"]))

    async def h_notifications(self, request):
        def op():
            rows = self.db.query("SELECT notification_id, kind, severity, message, created_at, acknowledged_at "
                                 "FROM notifications ORDER BY notification_id DESC LIMIT 500")
            out = [{**r, "created_at": iso(r["created_at"]),
                    "acknowledged_at": iso(r["acknowledged_at"]) if r["acknowledged_at"] else None} for r in rows]
            return {"notifications": out, "count": len(out)}
        return self.j(await self.call(op))

    # ------------------------------------------------------------------ safe mode, config, caches, heap, audit
    async def h_safe_get(self, request):
        def op():
            h = self.r.hgetall(SAFE_KEY) or {}
            self.flags["safe"] = h
            return {"enabled": flag_enabled(h), "since": h.get("since") or None, "reason": h.get("reason") or None}
        return self.j(await self.call(op))

    def op_safe_set(self, enabled: bool, reason: str | None) -> dict:
        h = self.r.hgetall(SAFE_KEY) or {}
        before = flag_enabled(h)
        if before == enabled:
            return {"changed": False, "before": before, "enabled": enabled}
        new = {"enabled": "1" if enabled else "0", "since": iso(), "reason": reason or ""}
        self.r.hset(SAFE_KEY, mapping=new)
        self.flags["safe"] = new
        self.log.warning("Safe mode " + ("enabled" if enabled else "disabled"), reason=reason)
        self.sys_event("SAFE_MODE_ENABLED" if enabled else "SAFE_MODE_DISABLED",
                       {"reason": reason, "before": {"enabled": before}, "after": {"enabled": enabled}})
        return {"changed": True, "before": before, "enabled": enabled}

    async def h_safe_set(self, request):
        b = await self.body(request)
        if not isinstance(b.get("enabled"), bool):
            raise bad_request("enabled must be a boolean.")
        reason = b.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise bad_request("reason must be a string.")
        return self.j(await self.call(self.op_safe_set, b["enabled"], reason))

    async def h_config_validate(self, request):
        errors, version = await self.call(validate_config_dir, self.s.config_dir)
        return self.j({"valid": not errors, "errors": errors, "version": version})

    def op_reload(self) -> tuple[dict, int]:
        errors, version = validate_config_dir(self.s.config_dir)
        if errors:
            self.log.error("Configuration invalid", errors=errors, version=version)
            return {"error": "invalid_config", "message": f"The configuration on disk is invalid ({len(errors)} "
                                                          f"error(s)); the running configuration is kept.",
                    "errors": errors, "version": version}, 422
        digest, files = config_digest(self.s.home)
        changed = digest != self.config_digest
        if changed:
            self.s.reload()
            self.config_docs = load_config_docs(self.s.config_dir)
            self.tiers = tier_limits(self.config_docs.get("tier_gates.yaml"))
            self.exchange.set_credentials(self.s.exchange_key, self.s.exchange_secret, self.s.exchange_url)
            self.clock.path = self.s.clock_offset_file
            self.cluster.priority = self.s.priority
            self.cluster.lease_ttl = self.s.lease_ttl
            self.cluster.set_peers(self.s.peers)
            self.account = None
            self.config_digest = digest
            self._load_tls(reload=True)
            try:
                self.r.incr(CONFIG_VERSION_KEY)
            except redis_errors():
                pass
            self.sys_event("CONFIG_RELOADED", {"version": version, "files": files})
        self.log.info("Configuration reloaded", version=version, changed=changed, files=files)
        return {"changed": changed, "version": version, "files": files}, 200

    async def h_reload(self, request):
        doc, status = await self.call(self.op_reload)
        return self.j(doc, status)

    def op_caches_clear(self) -> dict:
        n = 0
        keys = list(self.r.scan_iter(match="genesis:cache:*", count=500))
        if keys:
            n += int(self.r.delete(*keys))
        n += len(self.api_cache)
        self.api_cache.clear()
        if self.bloat is not None:
            n += len(self.bloat)
            self.bloat = None
        if n:
            self.log.info("Caches cleared", cleared_entries=n)
            self.sys_event("CACHES_CLEARED", {"cleared_entries": n})
        return {"changed": n > 0, "cleared_entries": n}

    async def h_caches_clear(self, request):
        return self.j(await self.call(self.op_caches_clear))

    def op_heap_dump(self) -> dict:
        gc.collect()
        stats: dict[str, list[int]] = {}
        seen: set[int] = set()
        containers = (list, tuple, dict, set)
        for o in gc.get_objects():
            t = type(o).__name__
            st = stats.setdefault(t, [0, 0])
            st[0] += 1
            try:
                st[1] += sys.getsizeof(o)
            except TypeError:
                pass
            if isinstance(o, containers):
                for ref in gc.get_referents(o):
                    if gc.is_tracked(ref) or id(ref) in seen:
                        continue
                    seen.add(id(ref))
                    rt = type(ref).__name__
                    rs = stats.setdefault(rt, [0, 0])
                    rs[0] += 1
                    try:
                        rs[1] += sys.getsizeof(ref)
                    except TypeError:
                        pass
        top = sorted(({"type": t, "count": c, "size_bytes": b} for t, (c, b) in stats.items()),
                     key=lambda x: x["size_bytes"], reverse=True)
        rss = rss_bytes()
        now = time.time()
        path = self.s.genesis_dir / "data" / "heapdumps" / \
            f"heap-{self.s.node}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}-{os.getpid()}.json"
        ok = write_json_file(path, {"created_at": iso(now), "node": self.s.node, "pid": os.getpid(),
                                    "rss_bytes": rss, "objects": sum(x["count"] for x in top), "top": top[:100]})
        if not ok:
            raise ApiError(503, "unavailable", "The heap dump could not be written (the disk is full or unwritable).")
        self.log.info("Heap dump written", path=str(path), rss_bytes=rss)
        return {"changed": True, "path": str(path), "rss_bytes": rss, "top": top[:20]}

    async def h_heap_dump(self, request):
        return self.j(await self.call(self.op_heap_dump))

    async def h_audit_get(self, request):
        def op():
            return {"enabled": truthy(self.r.hget(AUDIT_VERIFY_KEY, "enabled") or "0")}
        return self.j(await self.call(op))

    def op_audit_set(self, enabled: bool) -> dict:
        before = truthy(self.r.hget(AUDIT_VERIFY_KEY, "enabled") or "0")
        if before == enabled:
            return {"changed": False, "before": before, "enabled": enabled}
        self.r.hset(AUDIT_VERIFY_KEY, mapping={"enabled": "1" if enabled else "0", "since": iso()})
        self.audit.invalidate()
        self.log.info("Audit verification " + ("enabled" if enabled else "disabled"))
        self.sys_event("AUDIT_VERIFICATION_CHANGED", {"before": {"enabled": before}, "after": {"enabled": enabled}})
        return {"changed": True, "before": before, "enabled": enabled}

    async def h_audit_set(self, request):
        b = await self.body(request)
        if not isinstance(b.get("enabled"), bool):
            raise bad_request("enabled must be a boolean.")
        return self.j(await self.call(self.op_audit_set, b["enabled"]))

    # ------------------------------------------------------------------ cluster
    def cluster_doc(self) -> dict:
        c = self.cluster
        return {"node": self.s.node, "cluster": self.s.cluster, "role": c.role, "term": c.term, "fenced": c.fenced,
                "fenced_at": c.fenced_at, "fenced_by": c.fenced_by, "priority": c.priority,
                "lease": {"holder": c.lease_holder, "term": c.lease_term,
                          "expires_at": iso(c.lease_expires) if c.lease_expires else None},
                "peers": c.peer_view(), "split_brain": c.split_brain,
                "last_state_change": iso(c.last_state_change)}

    async def h_cluster(self, request):
        return self.j(self.cluster_doc())

    async def h_cluster_peer(self, request):
        c = self.cluster
        return self.j({"node": self.s.node, "role": c.role, "term": c.term, "fenced": c.fenced,
                       "priority": c.priority, "lease_expires_ts": c.lease_expires if c.lease_expires else None,
                       "last_event_id": self.last_event_id})

    async def h_cluster_set(self, request):
        b = await self.body(request)
        role, fenced = b.get("role"), b.get("fenced")
        if role is not None and role not in ("standby", "primary"):
            raise bad_request("role must be 'standby' or 'primary'.")
        if fenced is not None and not isinstance(fenced, bool):
            raise bad_request("fenced must be a boolean.")
        if role is None and fenced is None:
            raise bad_request("role or fenced is required.")
        if fenced is True and b.get("confirmation") != PHRASE_HALT:
            raise ApiError(403, "confirmation_required", f"Fencing needs confirmation '{PHRASE_HALT}'.")
        c = self.cluster
        before = c.snapshot()
        if fenced is not None:
            c.set_fenced(fenced, by="api")
        if role is not None:
            c.set_role(role)
        after = c.snapshot()
        changed = before != after
        if changed:
            await self.call(self._cluster_changed, before, after)
        return self.j({"changed": changed, "before": before, "after": after})

    def _cluster_changed(self, before: dict, after: dict) -> None:
        self._persist_cluster()
        self._write_lease()
        self.log.warning("Cluster membership changed", before=before, after=after)
        if before["fenced"] != after["fenced"]:
            self.sys_event("NODE_FENCED" if after["fenced"] else "NODE_UNFENCED", {"before": before, "after": after})
        if before["role"] != after["role"] or before["term"] != after["term"]:
            self.sys_event("CLUSTER_ROLE_CHANGED", {"before": before, "after": after})

    def _persist_cluster(self) -> None:
        data = self.cluster.persisted()
        if data != self.cluster_persisted:
            if write_json_file(self.s.state_dir / "cluster.json", data):
                self.cluster_persisted = data

    def _write_lease(self) -> None:
        c = self.cluster
        try:
            self.r.hset(f"genesis:cluster:{self.s.cluster}",
                        mapping={"holder": c.lease_holder or "", "term": str(c.lease_term),
                                 "expires_ts": f"{c.lease_expires:.3f}"})
        except redis_errors():
            pass

    async def _poll_peers(self, session: ClientSession) -> dict[str, dict | None]:
        async def one(peer):
            if peer.name in self.partitioned:
                return peer.name, None
            try:
                async with session.get(f"{peer.url}/cluster/peer") as resp:
                    if resp.status != 200:
                        return peer.name, None
                    return peer.name, await resp.json(content_type=None)
            except (asyncio.TimeoutError, OSError, ValueError, Exception):  # noqa: BLE001
                return peer.name, None
        peers = list(self.cluster.peers.values())
        if not peers:
            return {}
        res = await asyncio.gather(*(one(p) for p in peers))
        return dict(res)

    def _cluster_io(self) -> None:
        """Per-round I/O in a thread: partition emulation set, lease, last event id, persistence."""
        try:
            self.partitioned = set(self.r.smembers(PARTITION_KEY) or ())
        except redis_errors():
            pass
        self._write_lease()
        self._persist_cluster()
        try:
            row = self.db.one("SELECT max(event_id) AS m FROM events")
            self.last_event_id = int(row["m"]) if row and row["m"] is not None else 0
        except DbDown:
            pass

    async def cluster_loop(self) -> None:
        timeout = ClientTimeout(total=0.8, connect=0.5)
        async with ClientSession(timeout=timeout) as session:
            await self.call(self._cluster_io)
            infos = await self._poll_peers(session)
            self.cluster.start(infos)
            self.log.info("Cluster membership started", role=self.cluster.role, term=self.cluster.term,
                          fenced=self.cluster.fenced, peers=list(self.cluster.peers))
            await self.call(self._cluster_io)
            while True:
                await asyncio.sleep(1.0)
                try:
                    infos = await self._poll_peers(session)
                    before = self.cluster.snapshot()
                    events = self.cluster.observe(infos)
                    after = self.cluster.snapshot()
                    await self.call(self._cluster_io)
                    await self.call(self._cluster_events, events, before, after)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    self.log.error("Cluster membership round failed", exception=f"{type(exc).__name__}: {exc}")

    def _cluster_events(self, events: list[str], before: dict, after: dict) -> None:
        c = self.cluster
        now = time.time()
        if "promoted" in events:
            self.log.warning("Promoted to primary", term=c.term, before=before, after=after)
            self.sys_event("CLUSTER_PROMOTED", {"actor": "election", "before": before, "after": after})
        if "split_brain" in events or (c.split_brain and now - self.split_logged_at > 30):
            others = {n: {"role": p.role, "term": p.term} for n, p in c.peers.items() if p.live_primary()}
            self.log.error("Split-brain detected", term=c.term, role=c.role, peers=others)
            if "split_brain" in events:
                self.sys_event("SPLIT_BRAIN_DETECTED", {"actor": "cluster", "term": c.term, "peers": others})
            self.split_logged_at = now
        if "split_brain_cleared" in events:
            self.log.info("Split-brain resolved", role=c.role, term=c.term, fenced=c.fenced)

    # ------------------------------------------------------------------ metrics
    def op_metrics(self) -> str:
        health, _ = self.health_doc()
        lines = ["# HELP genesis_up 1 when the node is healthy or degraded.", "# TYPE genesis_up gauge",
                 f"genesis_up {0 if health['status'] == 'unhealthy' else 1}",
                 "# HELP genesis_tilt_score Current tilt score (0..100).", "# TYPE genesis_tilt_score gauge",
                 f"genesis_tilt_score {self.metrics['tilt_score']}"]
        try:
            bs = self.breakers.all()
            lines += ["# HELP genesis_circuit_breaker_state 0 closed, 1 half_open, 2 open.",
                      "# TYPE genesis_circuit_breaker_state gauge"]
            lines += [f'genesis_circuit_breaker_state{{service="{n}"}} {brk.STATE_NUMBER[st["state"]]}'
                      for n, st in bs.items()]
            h = self.r.hgetall("ratelimit:exchange") or {}
            used = float(h.get("used_weight_1m") or 0)
            lines += ["# HELP genesis_rate_limit_usage_ratio Last used weight over the 1200/min limit.",
                      "# TYPE genesis_rate_limit_usage_ratio gauge",
                      f"genesis_rate_limit_usage_ratio {round(used / EXCHANGE_LIMIT, 4)}"]
        except redis_errors():
            pass
        lines += ["# HELP genesis_orders_failed_total Orders rejected or failed.",
                  "# TYPE genesis_orders_failed_total counter",
                  f"genesis_orders_failed_total {self.metrics['orders_failed']}",
                  "# HELP genesis_position_count Open positions.", "# TYPE genesis_position_count gauge",
                  f"genesis_position_count {self.metrics['position_count']}",
                  "# HELP genesis_memory_usage_bytes RSS of the main process.",
                  "# TYPE genesis_memory_usage_bytes gauge",
                  f"genesis_memory_usage_bytes {rss_bytes()}"]
        return "\n".join(lines) + "\n"

    async def h_metrics(self, request):
        text = await self.call(self.op_metrics)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    # ------------------------------------------------------------------ background work
    def deps_tick(self) -> None:
        redis_up = True
        try:
            self.r.ping()
        except redis_errors():
            redis_up = False
        db_up = self.db.ping()
        if db_up != (self.components["database"] == "up") and self.startup_done:
            (self.log.info if db_up else self.log.error)(
                "Database " + ("connection restored" if db_up else "connection lost"), error=self.db.last_error)
        if redis_up != (self.components["redis"] == "up") and self.startup_done:
            (self.log.info if redis_up else self.log.error)("Redis " + ("connection restored" if redis_up
                                                                        else "connection lost"))
        self.components["database"] = "up" if db_up else "down"
        self.components["redis"] = "up" if redis_up else "down"
        self.components["event_bus"] = "up" if redis_up else "down"
        if redis_up:
            try:
                pipe = self.r.pipeline(transaction=False)
                pipe.hgetall(HALT_KEY)
                pipe.hgetall(SAFE_KEY)
                pipe.get(MODE_KEY)
                for c in WS_CONNECTIONS:
                    pipe.hgetall(f"genesis:ws:{c}")
                res = pipe.execute()
                self.flags["halt"], self.flags["safe"] = res[0] or {}, res[1] or {}
                self.flags["mode"] = res[2] or "websocket"
                states = [(h or {}).get("state") for h in res[3:]]
                n_conn = sum(1 for s in states if s == "connected")
                self.components["websocket_streams"] = ("up" if n_conn == len(WS_CONNECTIONS)
                                                        else "degraded" if n_conn else "down")
                fault = take_fault(self.r, "genesis")
                if fault:
                    self.apply_fault(fault)
            except redis_errors():
                pass
        self.grow_leak()
        if db_up and redis_up and not self.startup_done:
            self.startup_done = True
            self.log.info("startup.complete", version=VERSION, api_port=self.s.api_port, tls_port=self.s.tls_port,
                          pid=os.getpid())
            self.log.info("System initialized successfully", node=self.s.node, version=VERSION)

    def apply_fault(self, fault: dict) -> None:
        self.log.warning("Lab fault applied", fault=fault)
        if "leak_mb_per_s" in fault:
            try:
                self.leak_rate_mb = max(0.0, float(fault["leak_mb_per_s"]))
            except ValueError:
                self.leak_rate_mb = 20.0
        if truthy(fault.get("slow_cache", "0")):
            self.bloat = [(f"cache-entry-{i}", i) for i in range(400_000)]

    def grow_leak(self) -> None:
        if self.leak_rate_mb <= 0:
            return
        target = 0.95 * self.s.memory_budget_mb * 1024 * 1024 + 8 * 1024 * 1024
        rss = rss_bytes()
        if rss >= target:
            return
        chunk = int(min(self.leak_rate_mb * 1024 * 1024, target - rss + 1024 * 1024))
        if chunk > 0:
            self.leak.append(b"\xa5" * chunk)

    def heartbeat_tick(self) -> None:
        now = time.time()
        ok = True
        try:
            self.r.hset("genesis:heartbeat", mapping={"ts": f"{now:.3f}", "pid": str(os.getpid()),
                                                      "node": self.s.node, "at": iso(now)})
        except redis_errors():
            ok = False
        self.heartbeat_last = now
        self.log.info("Heartbeat sent", interval_s=self.s.heartbeat_interval, redis=ok,
                      uptime_seconds=round(now - self.started_at, 1))

    def position_tick(self) -> None:
        rows = self.db.query("SELECT position_id, symbol, side, entry_price, quantity FROM positions "
                             "WHERE status='OPEN'")
        symbols = sorted({r["symbol"] for r in rows})
        prices: dict[str, Decimal] = {}
        if symbols:
            try:
                pipe = self.r.pipeline(transaction=False)
                for s in symbols:
                    pipe.hget(f"market:ticker:{s}", "price")
                for s, p in zip(symbols, pipe.execute()):
                    try:
                        if p is not None and float(p) > 0:
                            prices[s] = Decimal(str(p))
                    except ValueError:
                        pass
            except redis_errors():
                prices = {}
        updates = []
        for r in rows:
            price = prices.get(r["symbol"])
            if price is None:
                continue
            sign = 1 if r["side"] == "LONG" else -1
            pnl = ((price - r["entry_price"]) * r["quantity"] * sign).quantize(ordmod.Q8)
            updates.append((price, pnl, (price * r["quantity"]).quantize(ordmod.Q8), r["position_id"]))
        if updates:
            with self.db.tx() as cur:
                from psycopg2.extras import execute_batch
                execute_batch(cur, "UPDATE positions SET current_price=%s, pnl_dollars=%s, dollar_value=%s, "
                                   "updated_at=now() WHERE position_id=%s AND status='OPEN'", updates)
        self.monitored_at = time.time()
        self.metrics["position_count"] = len(rows)
        row = self.db.one("SELECT count(*) AS n FROM orders WHERE status IN ('REJECTED','FAILED')")
        self.metrics["orders_failed"] = int(row["n"]) if row else 0

    def tilt_tick(self) -> None:
        acc = account_id(self.db, self.s) if self.account is None else self.account
        self.account = acc
        if acc is None:
            return
        prof = self.db.one("SELECT profile_id, current_tilt_score, tilt_level, lockout_expiration FROM tilt_profiles "
                           "WHERE account_id=%s ORDER BY profile_id LIMIT 1", (acc,))
        now = time.time()
        last, self.tilt_tick_at = self.tilt_tick_at, now
        if prof is None:
            return
        score = float(prof["current_tilt_score"])
        lock = prof["lockout_expiration"]
        cooldown = bool(lock and lock.timestamp() > now)
        st = self.tilt_state
        if cooldown and score > 0 and last is not None:
            dt_s = min(max(0.0, now - last), 15.0)
            new = max(0.0, round(score - 5.0 * dt_s / 60.0, 2))
            if new != score:
                cur_idx = TILT_LEVELS.index(prof["tilt_level"]) if prof["tilt_level"] in TILT_LEVELS else 3
                level = TILT_LEVELS[min(cur_idx, TILT_LEVELS.index(tilt_level_for(new)))]
                self.db.query("UPDATE tilt_profiles SET current_tilt_score=%s, tilt_level=%s WHERE profile_id=%s",
                              (Decimal(str(new)), level, prof["profile_id"]))
                if now - st["logged_at"] >= 60 or level != prof["tilt_level"]:
                    self.tlog.info("Tilt score decaying", score=new, tilt_level=level,
                                   lockout_expiration=iso(lock), profile_id=prof["profile_id"])
                    st["logged_at"] = now
                score = new
        if cooldown and not st["cooldown"]:
            self.tlog.info("Tilt cooldown active", lockout_expiration=iso(lock), score=score)
        if not cooldown and st["cooldown"]:
            self.tlog.info("Tilt cooldown ended", score=score)
        st["cooldown"] = cooldown
        over = score > 70
        if over and not st["over"]:
            self.tlog.warning("Tilt threshold exceeded", score=score, tilt_level=prof["tilt_level"], threshold=70)
        elif not over and st["over"]:
            self.tlog.info("Tilt score back under threshold", score=score)
        st["over"] = over
        self.metrics["tilt_score"] = score

    def exchange_tick(self) -> None:
        try:
            if self.limiter.paused():
                self.components["exchange_gateway"] = "degraded"
                return
            allowed, _ = self.limiter.try_acquire(2)      # ping + system status
            if not allowed:
                return                                     # the node's weight budget is used up
        except redis_errors():
            pass
        resp = self.exchange.request("GET", "/api/v3/ping", timeout=2.0)
        if resp.status == 0:
            state = "down"
        elif resp.status in (429, 418):
            state = "degraded"
        elif resp.ok:
            state = "up"
            st = self.exchange.request("GET", "/sapi/v1/system/status", timeout=2.0)
            if st.ok and isinstance(st.data, dict) and int(st.data.get("status", 0) or 0) != 0:
                state = "degraded"
        else:
            state = "degraded"
        if state != self.components["exchange_gateway"] and self.startup_done:
            self.log.info("Exchange gateway " + state, status=resp.status, error=resp.error)
        self.components["exchange_gateway"] = state

    async def every(self, interval_fn, fn, name: str, first_delay: float = 0.0) -> None:
        if first_delay:
            await asyncio.sleep(first_delay)
        while True:
            t0 = time.monotonic()
            try:
                await self.call(fn)
            except asyncio.CancelledError:
                raise
            except (DbDown, *redis_errors()):
                pass  # reported by the dependency check
            except Exception as exc:  # noqa: BLE001
                self.log.error(f"{name} failed", exception=f"{type(exc).__name__}: {exc}")
            interval = interval_fn()
            await asyncio.sleep(max(0.05, interval - (time.monotonic() - t0)))

    async def heartbeat_loop(self) -> None:
        while not self.startup_done:
            await asyncio.sleep(0.2)
        await self.every(lambda: self.s.heartbeat_interval, self.heartbeat_tick, "Heartbeat")

    # ------------------------------------------------------------------ server
    def _load_tls(self, reload: bool = False) -> None:
        if not self.s.tls_port or not self.s.cert_path or not self.s.key_path:
            return
        try:
            if self.ssl_ctx is None:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(self.s.cert_path, self.s.key_path)
                self.ssl_ctx = ctx
            elif reload:
                self.ssl_ctx.load_cert_chain(self.s.cert_path, self.s.key_path)
            self.log.info("TLS certificate loaded", cert_path=str(self.s.cert_path))
        except (OSError, ssl.SSLError) as exc:
            self.log.error("TLS certificate could not be loaded", cert_path=str(self.s.cert_path),
                           error=f"{type(exc).__name__}: {exc}")

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware], client_max_size=1024 * 1024)
        g, p = app.router.add_get, app.router.add_post
        g("/health", self.h_health)
        g("/health/live", self.h_live)
        g("/health/ready", self.h_ready)
        g("/metrics", self.h_metrics)
        g("/cluster/peer", self.h_cluster_peer)
        g("/account/status", self.h_account)
        g("/positions", self.h_positions)
        g("/tilt/status", self.h_tilt)
        g("/config/tier", self.h_tier)
        g("/system/events", self.h_events)
        p("/emergency/halt", self.h_halt)
        p("/emergency/close-all", self.h_close_all)
        p("/emergency/resume", self.h_resume)
        g("/admin/circuit-breakers", self.h_breakers)
        p("/admin/circuit-breakers/{name}/reset", self.h_breaker_reset)
        g("/admin/websocket", self.h_websocket)
        p("/admin/websocket/restart", self.h_ws_restart)
        p("/admin/market-data/mode", self.h_mode)
        g("/admin/rate-limits", self.h_rate_limits)
        p("/admin/rate-limits", self.h_rate_set)
        p("/admin/request-queue/clear", self.h_queue_clear)
        g("/admin/strategies", self.h_strategies)
        p("/admin/strategies/{name}/{action}", self.h_strategy_action)
        p("/admin/tilt/cooldown", self.h_cooldown)
        g("/admin/limits", self.h_limits_get)
        p("/admin/limits", self.h_limits)
        g("/admin/notifications", self.h_notifications)
        p("/admin/notifications", self.h_notify)
        g("/admin/safe-mode", self.h_safe_get)
        p("/admin/safe-mode", self.h_safe_set)
        g("/admin/config/validate", self.h_config_validate)
        p("/admin/config/reload", self.h_reload)
        p("/admin/caches/clear", self.h_caches_clear)
        p("/admin/heap-dump", self.h_heap_dump)
        g("/admin/audit/verification", self.h_audit_get)
        p("/admin/audit/verification", self.h_audit_set)
        g("/admin/cluster", self.h_cluster)
        p("/admin/cluster", self.h_cluster_set)
        return app

    def request_stop(self) -> None:
        if self.stop_event is not None and not self.stop_event.is_set():
            self.log.info("Shutdown requested", signal="SIGTERM")
            self.stop_event.set()
            start_exit_watchdog(4.5)

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        self.log.info("Starting genesis node", version=VERSION, pid=os.getpid(), home=str(self.s.home),
                      api_port=self.s.api_port)
        await self.call(self.deps_tick)
        runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.s.api_host, self.s.api_port, reuse_address=True).start()
        except OSError as exc:
            self.log.critical("Control API could not start", host=self.s.api_host, port=self.s.api_port,
                              error=str(exc))
            await runner.cleanup()
            return 1
        self._load_tls()
        if self.ssl_ctx is not None:
            try:
                await web.TCPSite(runner, self.s.api_host, self.s.tls_port, ssl_context=self.ssl_ctx,
                                  reuse_address=True).start()
            except OSError as exc:
                self.log.error("TLS listener could not start", port=self.s.tls_port, error=str(exc))
        self.tlog.info("Tilt monitor started", cooldown_decay_points_per_minute=5, threshold=70)
        self.log.info("Control API listening", host=self.s.api_host, port=self.s.api_port,
                      tls_port=self.s.tls_port if self.ssl_ctx is not None else None)
        self.tasks = [
            asyncio.create_task(self.every(lambda: 1.0, self.deps_tick, "Dependency check", 1.0)),
            asyncio.create_task(self.heartbeat_loop()),
            asyncio.create_task(self.every(lambda: 2.0, self.position_tick, "Position monitor", 0.5)),
            asyncio.create_task(self.every(lambda: 5.0, self.tilt_tick, "Tilt monitor", 1.0)),
            asyncio.create_task(self.every(lambda: 5.0, self.exchange_tick, "Exchange check")),
            asyncio.create_task(self.cluster_loop()),
        ]
        await self.stop_event.wait()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(runner.cleanup(), timeout=2.0)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001
            pass
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.log.info("genesis stopped")
        return 0


def run(home: str) -> int:
    m = Main(home)
    try:
        rc = asyncio.run(m.main())
    except KeyboardInterrupt:
        rc = 0
    sys.stdout.flush()
    os._exit(rc)  # threads blocked in a dead database must not delay the exit
