"""`market_data`: three websocket connections to the exchange stream (`execution`: ticker +
20-level book of every symbol; `monitoring` and `backup`: tickers), `market:ticker:<SYM>` and
`orderbook:<SYM>` written every second, REST fallback mode, the websocket restart request,
and the limited drain of `genesis:request_queue` (contract 3.5, 3.6, section 5).

Lab key: `genesis:market_data:restart_requested` (string, set by `POST /admin/websocket/restart`),
taken (GET + DEL) by this program, which then reconnects every stream within a second."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp

from genesis_lab.node.breaker import Breakers, blank, to_hash
from genesis_lab.node.common import (ClockOffset, ConfigWatcher, JsonLog, Settings, dumps, iso, make_redis,
                                     redis_errors, start_exit_watchdog, take_fault)
from genesis_lab.node.exchange_client import ExchangeClient, request_weight
from genesis_lab.node.ratelimit import QUEUE_KEY, RateLimiter

CONNECTIONS = ("execution", "monitoring", "backup")
MODE_KEY = "genesis:market_data:mode"
RESTART_KEY = "genesis:market_data:restart_requested"
STALE_S = 10.0
STALE_RELOG_S = 30.0
UNPROTECTED_PACE_S = 0.2     # queue drain pace with protection off (5 requests a second)
BOOK_LEVELS = 20


class Conn:
    def __init__(self, name: str):
        self.name = name
        self.state = "disconnected"
        self.since = time.time()
        self.last_message_ts: float | None = None
        self.last_error: str | None = None
        self.task: asyncio.Task | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.attempt = 0

    def set(self, state: str, error: str | None = None) -> None:
        if state != self.state:
            self.state = state
            self.since = time.time()
        if error is not None:
            self.last_error = error


class MarketData:
    def __init__(self, home: str):
        self.s = Settings(home)
        s = self.s
        self.log = JsonLog(s.logs_dir, "genesis.log", "genesis.market_data", s.node, "market_data")
        self.r = make_redis(s.redis_url)
        self.pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="md")
        self.limiter = RateLimiter(self.r, self.log, "market_data")
        self.breakers = Breakers(self.r, self.log)
        self.clock = ClockOffset(s.clock_offset_file)
        self.rest = ExchangeClient(s.exchange_url, s.exchange_key, s.exchange_secret, self.clock.now_ms,
                                   timeout=4.0, on_response=self._record)
        self.qclient = ExchangeClient(s.exchange_url, s.exchange_key, s.exchange_secret, self.clock.now_ms,
                                      timeout=4.0, on_response=self._record)
        self.conns = {c: Conn(c) for c in CONNECTIONS}
        self.started = time.time()
        # symbol -> (price, received_ts, source)
        self.tickers: dict[str, tuple[float, float, str]] = {}
        # symbol -> dict(bids, asks, lastUpdateId, ts, source)
        self.books: dict[str, dict] = {}
        self.desync: dict[str, dict] = {}
        self.suppressed = False          # ws_disconnect fault: no reconnect until a restart request
        self.mode = "websocket"
        self.stale_logged: dict[str, float] = {}
        self.rest_rr = 0
        self.watcher: ConfigWatcher | None = None
        self.session: aiohttp.ClientSession | None = None
        self.redis_down_since: float | None = None
        self.stop_event: asyncio.Event | None = None

    def _record(self, resp) -> None:
        try:
            self.limiter.record(resp)
        except redis_errors():
            pass

    async def call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    # ------------------------------------------------------------------ websocket
    def ws_url(self, conn: str) -> str:
        base = self.s.exchange_url
        if base.startswith("https://"):
            base = "wss://" + base[len("https://"):]
        elif base.startswith("http://"):
            base = "ws://" + base[len("http://"):]
        streams = []
        for sym in self.s.symbols:
            low = sym.lower()
            streams.append(f"{low}@ticker")
            if conn == "execution":
                streams.append(f"{low}@depth{BOOK_LEVELS}")
        return f"{base}/ws?streams={'/'.join(streams)}"

    def handle_message(self, conn: Conn, raw: str) -> None:
        now = time.time()
        conn.last_message_ts = now
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        items = msg if isinstance(msg, list) else [msg]
        for m in items:
            if not isinstance(m, dict):
                continue
            stream = str(m.get("stream") or "")
            data = m.get("data") if isinstance(m.get("data"), dict) else m
            sym = str(data.get("s") or data.get("symbol") or stream.split("@")[0]).upper()
            if not sym:
                continue
            kind = stream.split("@")[1] if "@" in stream else str(data.get("e") or "")
            if "bids" in data or "asks" in data or kind.startswith("depth") or data.get("e") == "depthUpdate":
                bids = data.get("bids") if "bids" in data else data.get("b")
                asks = data.get("asks") if "asks" in data else data.get("a")
                if bids is None or asks is None or sym in self.desync:
                    continue
                self.books[sym] = {"bids": [[float(p), float(q)] for p, q in bids[:BOOK_LEVELS]],
                                   "asks": [[float(p), float(q)] for p, q in asks[:BOOK_LEVELS]],
                                   "lastUpdateId": data.get("lastUpdateId") or data.get("u") or 0,
                                   "ts": now, "source": "websocket"}
            else:
                price = data.get("c") or data.get("price") or data.get("p") or data.get("lastPrice")
                try:
                    p = float(price)
                except (TypeError, ValueError):
                    continue
                if p > 0:
                    self.tickers[sym] = (p, now, "websocket")

    async def run_conn(self, conn: Conn) -> None:
        while True:
            if self.suppressed:
                return
            conn.set("connecting" if conn.attempt == 0 else "reconnecting")
            error: str | None = None
            try:
                async with self.session.ws_connect(self.ws_url(conn.name), heartbeat=10,
                                                   autoping=True) as ws:
                    conn.ws = ws
                    conn.set("connected")
                    conn.last_error = None
                    conn.attempt = 0
                    await self.call(self._breaker_ok)
                    self.log.info("WebSocket connected", connection=conn.name)
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self.handle_message(conn, msg.data)
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE,
                                          aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                            break
                    error = f"stream closed (code {ws.close_code})"
            except asyncio.CancelledError:
                conn.ws = None
                raise
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}".strip()
            conn.ws = None
            was_connected = conn.state == "connected"
            conn.set("disconnected", error)
            if was_connected:
                self.log.warning("WebSocket disconnected", connection=conn.name, reason=error)
            elif conn.name == "execution":
                await self.call(self._breaker_fail, error)
            if self.suppressed:
                return
            await asyncio.sleep(min(10.0, 0.5 * (2 ** min(conn.attempt, 5))))
            conn.attempt += 1

    def _breaker_ok(self) -> None:
        """A stream is up again: the `websocket` breaker closes (it only reports, it never
        holds back a reconnect)."""
        try:
            st = self.breakers.raw("websocket")
            if st["state"] != "closed" or st["failures"]:
                self.breakers.r.hset(self.breakers.key("websocket"), mapping=to_hash(blank()))
                if st["state"] != "closed":
                    self.log.info("Circuit breaker closed", breaker="websocket")
        except redis_errors():
            pass

    def _breaker_fail(self, error: str | None) -> None:
        try:
            self.breakers.failure("websocket", error)
        except redis_errors():
            pass

    def start_conns(self) -> None:
        for c in self.conns.values():
            if c.task is None or c.task.done():
                c.attempt = 0
                c.task = asyncio.create_task(self.run_conn(c))

    async def stop_conns(self, state: str = "disconnected", reason: str = "closed") -> None:
        tasks = []
        for c in self.conns.values():
            if c.ws is not None:
                try:
                    await asyncio.wait_for(c.ws.close(), 1.0)
                except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                    pass
            if c.task is not None and not c.task.done():
                c.task.cancel()
                tasks.append(c.task)
            c.task = None
            was = c.state
            c.set(state, reason)
            if was == "connected":
                self.log.warning("WebSocket disconnected", connection=c.name, reason=reason)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def restart(self) -> None:
        self.log.info("WebSocket restart", connections=list(self.conns))
        self.suppressed = False
        await self.stop_conns("reconnecting", "restart requested")
        self.start_conns()

    # ------------------------------------------------------------------ 1 s tick (thread)
    def sync_tick(self) -> dict:
        """Redis side of the tick. Returns actions for the event loop."""
        actions: dict[str, Any] = {}
        if self.watcher is None:
            self.watcher = ConfigWatcher(self.r)
        elif self.watcher.changed():
            self.s.reload()
            for c in (self.rest, self.qclient):
                c.set_credentials(self.s.exchange_key, self.s.exchange_secret, self.s.exchange_url)
            self.clock.path = self.s.clock_offset_file
            self.log.info("Credentials reloaded", exchange_url=self.s.exchange_url)
            actions["restart"] = True
        fault = take_fault(self.r, "market_data")
        if fault:
            self.log.warning("Lab fault applied", fault=fault)
            actions["fault"] = fault
        pipe = self.r.pipeline(transaction=True)
        pipe.get(RESTART_KEY)
        pipe.delete(RESTART_KEY)
        pipe.get(MODE_KEY)
        req, _, mode = pipe.execute()
        if req:
            actions["restart"] = True
        self.mode = mode if mode in ("websocket", "rest") else "websocket"
        if self.mode == "rest":
            self.rest_poll()
        self.publish()
        return actions

    def rest_poll(self) -> None:
        """REST fallback: all tickers (w4) and one symbol's book (w5) each second."""
        allowed, _ = self.limiter.try_acquire(request_weight("GET", "/api/v3/ticker/price"))
        if allowed:
            resp = self.rest.request("GET", "/api/v3/ticker/price")
            if resp.ok and isinstance(resp.data, list):
                now = time.time()
                wanted = set(self.s.symbols)
                for item in resp.data:
                    try:
                        sym, p = str(item["symbol"]).upper(), float(item["price"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    if sym in wanted and p > 0:
                        self.tickers[sym] = (p, now, "rest")
        if not self.s.symbols:
            return
        sym = self.s.symbols[self.rest_rr % len(self.s.symbols)]
        self.rest_rr += 1
        params = {"symbol": sym, "limit": BOOK_LEVELS}
        allowed, _ = self.limiter.try_acquire(request_weight("GET", "/api/v3/depth", params))
        if allowed and sym not in self.desync:
            resp = self.rest.request("GET", "/api/v3/depth", params)
            if resp.ok and isinstance(resp.data, dict) and "bids" in resp.data:
                d = resp.data
                self.books[sym] = {"bids": [[float(p), float(q)] for p, q in d["bids"][:BOOK_LEVELS]],
                                   "asks": [[float(p), float(q)] for p, q in d["asks"][:BOOK_LEVELS]],
                                   "lastUpdateId": d.get("lastUpdateId", 0), "ts": time.time(), "source": "rest"}

    def publish(self) -> None:
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        for sym, (price, ts, source) in list(self.tickers.items()):
            pipe.hset(f"market:ticker:{sym}", mapping={"price": repr(price), "ts": f"{ts:.3f}", "source": source})
        for sym, book in list(self.books.items()):
            pipe.hset(f"orderbook:{sym}", mapping={"bids": dumps(book["bids"]), "asks": dumps(book["asks"]),
                                                   "lastUpdateId": str(book["lastUpdateId"]),
                                                   "ts": f"{book['ts']:.3f}", "source": book.get("source", "")})
        for sym, book in self.desync.items():
            pipe.hset(f"orderbook:{sym}", mapping={"bids": dumps(book["bids"]), "asks": dumps(book["asks"]),
                                                   "lastUpdateId": str(book["lastUpdateId"]),
                                                   "ts": f"{now:.3f}", "source": "websocket"})
        for c in self.conns.values():
            pipe.hset(f"genesis:ws:{c.name}", mapping={
                "state": c.state, "since": iso(c.since),
                "last_message_ts": f"{c.last_message_ts:.3f}" if c.last_message_ts else "",
                "last_error": c.last_error or ""})
        pipe.execute()
        for sym in self.s.symbols:
            t = self.tickers.get(sym)
            last = t[1] if t else self.started
            age = now - last
            if age > STALE_S:
                if now - self.stale_logged.get(sym, 0.0) >= STALE_RELOG_S:
                    self.log.warning("Market data stale", symbol=sym, age_s=round(age, 1), mode=self.mode)
                    self.stale_logged[sym] = now
            elif sym in self.stale_logged:
                self.stale_logged.pop(sym, None)
                self.log.info("Market data fresh again", symbol=sym)

    def apply_fault(self, fault: dict) -> bool:
        """Returns True when the streams must be closed (ws_disconnect)."""
        close = False
        if str(fault.get("ws_disconnect", "0")).strip() in ("1", "true", "yes"):
            self.suppressed = True
            close = True
        sym = (fault.get("book_desync") or "").strip().upper()
        if sym:
            book = self.books.get(sym)
            if book and book["bids"] and book["asks"]:
                best_ask = book["asks"][0][0]
                factor = best_ask * 1.02 / book["bids"][0][0]
                bids = [[round(p * factor, 8), q] for p, q in book["bids"]]
                asks = [list(a) for a in book["asks"]]
            else:
                price = self.tickers.get(sym, (100.0,))[0]
                bids = [[round(price * 1.02 - i * price * 0.0001, 8), 1.0] for i in range(BOOK_LEVELS)]
                asks = [[round(price + i * price * 0.0001, 8), 1.0] for i in range(BOOK_LEVELS)]
            self.desync[sym] = {"bids": bids, "asks": asks, "lastUpdateId": (book or {}).get("lastUpdateId", 0)}
            self.books.pop(sym, None)
            self.log.warning("Order book update rejected", symbol=sym, reason="sequence gap; book frozen")
        return close

    async def tick_loop(self) -> None:
        while True:
            t0 = time.monotonic()
            try:
                actions = await self.call(self.sync_tick)
                if self.redis_down_since is not None:
                    self.log.info("Redis connection restored")
                    self.redis_down_since = None
                fault = actions.get("fault")
                if fault and self.apply_fault(fault):
                    await self.stop_conns("disconnected", "lab fault: streams closed")
                if actions.get("restart"):
                    await self.restart()
            except asyncio.CancelledError:
                raise
            except redis_errors() as exc:
                if self.redis_down_since is None:
                    self.redis_down_since = time.time()
                    self.log.error("Redis connection lost", error=str(exc))
            except Exception as exc:  # noqa: BLE001
                self.log.error("Market data tick failed", exception=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(max(0.1, 1.0 - (time.monotonic() - t0)))

    # ------------------------------------------------------------------ request queue
    def drain_step(self) -> float:
        """Send at most one queued request; returns how long to wait before the next step."""
        raw = self.r.lindex(QUEUE_KEY, 0)
        if raw is None:
            return 0.5
        try:
            item = json.loads(raw)
            method = str(item.get("method", "GET")).upper()
            path = str(item["path"])
            params = item.get("params") or {}
            if not isinstance(params, dict):
                raise ValueError("params")
        except (ValueError, KeyError, TypeError, AttributeError):
            self.r.lpop(QUEUE_KEY)
            self.log.warning("Dropped malformed queued request", item=str(raw)[:200])
            return 0.0
        if method != "GET" or "/order" in path:
            self.r.lpop(QUEUE_KEY)
            self.log.warning("Dropped queued request that is not a market-data read", method=method, path=path)
            return 0.0
        weight = request_weight(method, path, params)
        protection, _limit = self.limiter.config()
        allowed, wait = self.limiter.try_acquire(weight)
        if not allowed:
            return min(max(wait, 0.2), 1.0)
        if self.r.lpop(QUEUE_KEY) is None:
            return 0.2
        self.qclient.request(method, path, params)
        return 0.0 if protection else UNPROTECTED_PACE_S

    async def drain_loop(self) -> None:
        while True:
            try:
                wait = await self.call(self.drain_step)
            except asyncio.CancelledError:
                raise
            except redis_errors():
                wait = 2.0
            except Exception as exc:  # noqa: BLE001
                self.log.error("Request queue drain failed", exception=f"{type(exc).__name__}: {exc}")
                wait = 2.0
            await asyncio.sleep(max(0.05, wait))

    # ------------------------------------------------------------------ main
    def request_stop(self) -> None:
        if self.stop_event is not None and not self.stop_event.is_set():
            self.stop_event.set()
            start_exit_watchdog(4.5)

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        self.log.info("Market data started", symbols=self.s.symbols, exchange_url=self.s.exchange_url)
        self.session = aiohttp.ClientSession()
        self.start_conns()
        tasks = [asyncio.create_task(self.tick_loop()), asyncio.create_task(self.drain_loop())]
        await self.stop_event.wait()
        for t in tasks:
            t.cancel()
        try:
            await asyncio.wait_for(self.stop_conns("closed", "shutdown"), 2.0)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001
            pass
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self.call(self.publish), 1.0)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001
            pass
        await self.session.close()
        self.log.info("Market data stopped")
        return 0


def run(home: str) -> int:
    md = MarketData(home)
    try:
        rc = asyncio.run(md.main())
    except KeyboardInterrupt:
        rc = 0
    os._exit(rc)
