"""`executor`: every 0.5 s submits this node's PENDING orders (oldest first) to the exchange
with signed requests and records the answer (contract 2, 3.3, 3.4, 3.6, 4.3)."""
from __future__ import annotations

import time
from decimal import Decimal

from genesis_lab.node import orders as ordmod
from genesis_lab.node.audit import Audit
from genesis_lab.node.breaker import Breakers
from genesis_lab.node.common import (ClockOffset, ConfigWatcher, Database, JsonLog, Settings, backoff, flag_enabled,
                                     make_redis, num, redis_errors, run_tick_loop, take_fault, truthy)
from genesis_lab.node.exchange_client import ExchangeClient
from genesis_lab.node.ratelimit import RateLimiter

TICK_S = 0.5
BATCH = 10
AUTH_CODES = {-2014, -2015, -1021, -1022}
MIN_ORDER_USDT = 6.0        # halving never goes under the exchange's 5 USDT MIN_NOTIONAL


class Executor:
    def __init__(self, home: str):
        self.s = Settings(home)
        s = self.s
        self.log = JsonLog(s.logs_dir, "trading.log", "genesis.executor", s.node, "executor")
        self.alog = self.log.child("audit.log", "audit")
        self.db = Database(s.db_url, f"genesis-executor-{s.node}")
        self.r = make_redis(s.redis_url)
        self.audit = Audit(self.db, self.alog, self.r, self.log)
        self.breakers = Breakers(self.r, self.log)
        self.limiter = RateLimiter(self.r, self.log, "executor")
        self.clock = ClockOffset(s.clock_offset_file)
        self.exchange = ExchangeClient(s.exchange_url, s.exchange_key, s.exchange_secret, self.clock.now_ms,
                                       timeout=5.0, on_response=self._record)
        self.watcher: ConfigWatcher | None = None
        self.wedged = False
        self.failures = 0
        self.retry_at = 0.0

    def _record(self, resp) -> None:
        try:
            self.limiter.record(resp)
        except redis_errors():
            pass

    def reload_credentials(self) -> None:
        self.s.reload()
        self.exchange.set_credentials(self.s.exchange_key, self.s.exchange_secret, self.s.exchange_url)
        self.clock.path = self.s.clock_offset_file
        self.log.info("Credentials reloaded", exchange_url=self.s.exchange_url,
                      api_key_suffix=self.s.exchange_key[-4:] if self.s.exchange_key else None)

    # ------------------------------------------------------------------ one tick
    def tick(self) -> None:
        if self.watcher is None:
            self.watcher = ConfigWatcher(self.r)
        elif self.watcher.changed():
            self.reload_credentials()
        fault = take_fault(self.r, "executor")
        if fault:
            self.log.warning("Lab fault applied", fault=fault)
            if truthy(fault.get("wedge", "0")):
                self.wedged = True
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall("genesis:halt")
        pipe.hgetall("genesis:safe_mode")
        halt, safe = pipe.execute()
        if flag_enabled(halt):
            return
        if not self.breakers.allows("orders", trial=False):
            return          # contract 3.4: while `orders` is not closed nothing is submitted
        if self.limiter.retry_after_until() > time.time() or time.monotonic() < self.retry_at:
            return          # a running Retry-After is always honoured by the order path
        rows = self.db.query(
            f"SELECT {ordmod.ORDER_COLUMNS} FROM orders WHERE status='PENDING' "
            "AND (node=%s OR node IS NULL) AND COALESCE(strategy, '') <> 'emergency' "
            "ORDER BY created_at, order_id LIMIT %s", (self.s.node, BATCH))
        for order in rows:
            if not self.submit_one(order, flag_enabled(safe)):
                break

    def submit_one(self, order: dict, safe_mode: bool) -> bool:
        """Submit one order; False stops this tick (breaker opened, rate limit, wedge, outage)."""
        oid = order["order_id"]
        if self.wedged:
            reason = "executor session wedged"
            self.log.error("Order rejected", order_id=oid, symbol=order["symbol"], side=order["side"], reason=reason)
            ordmod.note_error(self.db, oid, reason)
            self.breakers.failure("orders", reason)
            return False
        if not self.breakers.allows("orders", trial=False):
            return False
        if safe_mode and order["side"] == "BUY" and order["position_id"] is None \
                and not (order.get("last_error") or "").startswith("safe mode"):
            half = ordmod.round_qty(order["symbol"], Decimal(order["quantity"]) / 2)
            try:
                price = num(self.r.hget(f"market:ticker:{order['symbol']}", "price")) or 0.0
            except redis_errors():
                price = 0.0
            if half > 0 and float(half) * price >= MIN_ORDER_USDT:
                self.db.query("UPDATE orders SET quantity=%s, last_error=%s WHERE order_id=%s AND status='PENDING'",
                              (half, "safe mode: size halved", oid))
                order["quantity"] = half
                order["last_error"] = "safe mode: size halved"
        allowed, _wait = self.limiter.try_acquire(1)
        if not allowed:
            return False
        ordmod.mark_submitted(self.db, self.audit, order)
        resp = ordmod.submit(self.exchange, order)
        outcome = ordmod.classify(resp)
        if outcome == "RATE_LIMITED":
            # logged as `Rate limit exceeded` by the limiter; the order stays PENDING
            ordmod.note_error(self.db, oid, resp.describe())
            return False
        if outcome == "UNREACHABLE":
            # the order stays PENDING and is retried after a growing pause (1, 2, 4, 8, 10 s)
            ordmod.note_error(self.db, oid, resp.describe())
            self.log.error("Order rejected", order_id=oid, symbol=order["symbol"], side=order["side"],
                           reason=resp.describe(), retry_in_s=backoff(self.failures, 1.0, 10.0))
            self.retry_at = time.monotonic() + backoff(self.failures, 1.0, 10.0)
            self.failures += 1
            self.breakers.failure("binance_api", resp.describe())
            self.breakers.failure("orders", resp.describe())
            return False
        self.failures = 0
        if outcome == "OPEN":
            # accepted but not filled (not expected for MARKET orders): keep it pending
            ordmod.note_error(self.db, oid, f"accepted by the exchange, status {resp.data.get('status')}")
            return True
        tick_price = None
        try:
            tick_price = num(self.r.hget(f"market:ticker:{order['symbol']}", "price"))
        except redis_errors():
            pass
        result = ordmod.record_result(self.db, self.audit, order, resp, outcome, fallback_price=tick_price)
        if result["status"] in ("FILLED", "PARTIAL"):
            self.log.info("Order filled", order_id=oid, symbol=order["symbol"], side=order["side"],
                          quantity=float(order["quantity"]), price=result["price"],
                          exchange_order_id=result["exchange_order_id"], strategy=order.get("strategy"),
                          position_id=result.get("position_id"), position_event=result.get("position_event"))
            self.breakers.success("orders")
            self.breakers.success("binance_api")
            return True
        self.log.error("Order rejected", order_id=oid, symbol=order["symbol"], side=order["side"],
                       reason=result["error"], code=resp.code, http_status=resp.status,
                       strategy=order.get("strategy"))
        self.breakers.failure("orders", result["error"])
        if resp.status >= 500 or resp.code in AUTH_CODES:
            self.breakers.failure("binance_api", result["error"])
        else:
            self.breakers.success("binance_api")
        return self.breakers.allows("orders", trial=False)

    # ------------------------------------------------------------------ loop
    def run(self) -> int:
        self.log.info("Executor started", exchange_url=self.s.exchange_url, tick_s=TICK_S)
        return run_tick_loop(self.log, "Executor", self.tick, TICK_S, 0.5, 5.0)


def run(home: str) -> int:
    return Executor(home).run()
