"""`strategies`: mean_reversion and momentum (every node) and cluster_arbitrage (primary only).
Each running strategy creates a small PENDING MARKET order every 5-10 s: a BUY opens a
position, the next order (a SELL) closes it (contract 3.7)."""
from __future__ import annotations

import random
import threading
import time
from decimal import Decimal

from genesis_lab.node import strategy_state as sst
from genesis_lab.node.audit import Audit
from genesis_lab.node.common import (ConfigWatcher, Database, DbDown, JsonLog, Settings, account_id, flag_enabled,
                                     iso, make_redis, num, parse_time, redis_errors, run_tick_loop, take_fault,
                                     truthy)
from genesis_lab.node.config import load_config_docs, tier_limits
from genesis_lab.node.correlation import check_db_rows, check_live
from genesis_lab.node.orders import create_order, round_qty

TICK_S = 1.0
PRICE_MAX_AGE_S = 10.0
CORR_RELOG_S = 30.0
MIN_ORDER_USDT = 6.0        # the exchange's MIN_NOTIONAL is 5 USDT


class Strategies:
    def __init__(self, home: str):
        self.s = Settings(home)
        s = self.s
        self.log = JsonLog(s.logs_dir, "trading.log", "genesis.strategies", s.node, "strategies")
        self.alog = self.log.child("audit.log", "audit")
        self.db = Database(s.db_url, f"genesis-strategies-{s.node}")
        self.r = make_redis(s.redis_url)
        self.audit = Audit(self.db, self.alog, self.r, self.log)
        self.rng = random.Random()
        self.next_due = {n: time.time() + self.rng.uniform(3, 8) for n in sst.STRATEGIES}
        self.symbol_rr = {n: i for i, n in enumerate(sst.STRATEGIES)}
        self.corr_bad_logged = 0.0
        self.corr_ok = True
        self.watcher: ConfigWatcher | None = None
        self.account: str | None = None
        self.burners: list[threading.Thread] = []
        self.tiers = tier_limits(load_config_docs(s.config_dir).get("tier_gates.yaml"))

    # ------------------------------------------------------------------ gates
    def is_primary(self) -> bool:
        h = self.r.hgetall(f"genesis:cluster:{self.s.cluster}") or {}
        exp = parse_time(h.get("expires_ts")) or 0.0
        return h.get("holder") == self.s.node and exp > time.time()

    def cooldown_active(self) -> bool:
        row = self.db.one("SELECT lockout_expiration > now() AS active FROM tilt_profiles WHERE account_id=%s "
                          "ORDER BY profile_id LIMIT 1", (self.account,))
        return bool(row and row["active"])

    def correlation_reasons(self) -> list[str]:
        reasons = check_live(self.s.home)
        rows = self.db.query("SELECT symbol_1, symbol_2, correlation_coefficient FROM position_correlations")
        return reasons + check_db_rows(rows)

    def tier_max(self) -> float:
        row = self.db.one("SELECT tier FROM accounts WHERE account_id=%s", (self.account,))
        mx = self.tiers.get(row["tier"], 100.0) if row else 100.0
        try:
            factor = float(self.r.hget("genesis:limits", "factor") or 1.0)
        except ValueError:
            factor = 1.0
        return mx * factor

    # ------------------------------------------------------------------ faults
    def burn(self) -> None:
        def spin():
            x = 0
            while True:
                x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        t = threading.Thread(target=spin, daemon=True, name="cpu-burn")
        t.start()
        self.burners.append(t)

    # ------------------------------------------------------------------ one tick
    def tick(self) -> None:
        if self.watcher is None:
            self.watcher = ConfigWatcher(self.r)
        elif self.watcher.changed():
            self.s.reload()
            self.tiers = tier_limits(load_config_docs(self.s.config_dir).get("tier_gates.yaml"))
            self.account = None
            self.log.info("Configuration reloaded")
        fault = take_fault(self.r, "strategies")
        if fault:
            self.log.warning("Lab fault applied", fault=fault)
            if truthy(fault.get("cpu_burn", "0")):
                self.burn()
        if self.account is None:
            self.account = account_id(self.db, self.s)
            if self.account is None:
                return
        now = time.time()
        halted = flag_enabled(self.r.hgetall("genesis:halt"))
        cooldown = self.cooldown_active()
        reasons = self.correlation_reasons()
        if reasons:
            if self.corr_ok or now - self.corr_bad_logged >= CORR_RELOG_S:
                self.log.error("Correlation calculation error", reason="; ".join(reasons[:5]), count=len(reasons))
                self.corr_bad_logged = now
            self.corr_ok = False
        elif not self.corr_ok:
            self.log.info("Correlation matrix valid again")
            self.corr_ok = True
        primary = None
        for name, spec in sst.STRATEGIES.items():
            h = sst.ensure(self.r, name)
            if not truthy(h.get("enabled", "1")):
                if h.get("state") not in ("STOPPED", "STOPPING"):
                    self.set_state(name, "STOPPED")
                continue
            try:
                params = sst.validate_params(name, h.get("params"))
            except ValueError as exc:
                self.strategy_error(name, h, exc)
                continue
            if h.get("state") == "ERROR":
                self.set_state(name, "RECOVERING")
                self.log.info("Strategy recovering", strategy=name)
                continue
            gate = None
            if halted:
                gate = "halted"
            elif cooldown:
                gate = "tilt cooldown"
            elif reasons:
                gate = "correlation matrix invalid"
            elif spec["primary_only"]:
                if primary is None:
                    primary = self.is_primary()
                if not primary:
                    gate = "not the active primary"
            if gate is not None:
                if h.get("state") != "PAUSED":
                    self.set_state(name, "PAUSED")
                    self.log.info("Strategy paused", strategy=name, reason=gate)
                continue
            if h.get("state") != "RUNNING":
                if h.get("state") == "PAUSED":
                    self.log.info("Strategy resumed", strategy=name)
                self.set_state(name, "RUNNING")
            if now >= self.next_due[name]:
                self.next_due[name] = now + self.rng.uniform(5.0, 10.0)
                try:
                    self.trade(name, params, truthy(h.get("safe_mode", "0")))
                except (DbDown, *redis_errors()):
                    raise
                except Exception as exc:  # noqa: BLE001
                    self.strategy_error(name, h, exc)

    def set_state(self, name: str, state: str) -> None:
        self.r.hset(sst.key(name), "state", state)

    def strategy_error(self, name: str, h: dict, exc: Exception) -> None:
        now = time.time()
        msg = f"{type(exc).__name__}: {exc}"
        pipe = self.r.pipeline(transaction=False)
        pipe.hincrby(sst.key(name), "errors_total", 1)
        pipe.hset(sst.key(name), mapping={"state": "ERROR", "last_error": msg[:500], "last_error_at": iso(now)})
        pipe.zadd(sst.errors_key(name), {f"{now:.6f}": now})
        pipe.zremrangebyscore(sst.errors_key(name), "-inf", now - 3600)
        pipe.execute()
        self.log.error("Strategy error", strategy=name, exception=msg)

    # ------------------------------------------------------------------ orders
    def trade(self, name: str, params: dict, safe_mode: bool) -> None:
        pending = self.db.one("SELECT order_id FROM orders WHERE status='PENDING' AND strategy=%s AND node=%s LIMIT 1",
                              (name, self.s.node))
        if pending is not None:
            return
        pos = self.db.one(
            "SELECT p.position_id, p.symbol, p.quantity, p.side FROM positions p WHERE p.status='OPEN' "
            "AND p.account_id=%s AND EXISTS (SELECT 1 FROM orders o WHERE o.position_id=p.position_id "
            "AND o.strategy=%s AND o.node=%s AND o.side='BUY') ORDER BY p.created_at LIMIT 1",
            (self.account, name, self.s.node))
        if pos is not None:
            side = "SELL" if pos["side"] == "LONG" else "BUY"
            order = create_order(self.db, self.audit, account_id=self.account, node=self.s.node, symbol=pos["symbol"],
                                 side=side, quantity=pos["quantity"], strategy=name, position_id=pos["position_id"])
            self.traded(name, order)
            return
        symbols = self.s.symbols[:1] if safe_mode else self.s.symbols
        sym = symbols[self.symbol_rr[name] % len(symbols)]
        self.symbol_rr[name] += 1
        t = self.r.hgetall(f"market:ticker:{sym}") or {}
        price, ts = num(t.get("price")), parse_time(t.get("ts"))
        if not price or not ts or time.time() - ts > PRICE_MAX_AGE_S:
            return
        size = float(params.get("size_usdt", 20)) * self.rng.uniform(0.5, 1.5)
        size = min(max(size, 10.0), 30.0)
        if safe_mode:
            size /= 2
        size = max(MIN_ORDER_USDT, min(size, self.tier_max() * 0.9))
        qty = round_qty(sym, Decimal(str(size / price)))
        if qty <= 0:
            return
        order = create_order(self.db, self.audit, account_id=self.account, node=self.s.node, symbol=sym, side="BUY",
                             quantity=qty, strategy=name)
        self.traded(name, order)

    def traded(self, name: str, order: dict) -> None:
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(sst.key(name), "last_trade_at", iso(now))
        pipe.zadd(sst.trades_key(name), {order["order_id"]: now})
        pipe.zremrangebyscore(sst.trades_key(name), "-inf", now - 3600)
        pipe.execute()
        self.log.info("Order created", strategy=name, order_id=order["order_id"], symbol=order["symbol"],
                      side=order["side"], quantity=float(order["quantity"]), position_id=order["position_id"])

    # ------------------------------------------------------------------ loop
    def run(self) -> int:
        self.log.info("Strategies started", strategies=list(sst.STRATEGIES))
        return run_tick_loop(self.log, "Strategies", self.tick, TICK_S, 1.0, 8.0)


def run(home: str) -> int:
    return Strategies(home).run()
