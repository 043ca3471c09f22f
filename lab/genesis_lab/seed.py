"""Seed data of a fresh node: account, positions, order history with its audit trail, tilt,
correlations, sessions, tier transitions, alembic version.

Deterministic per node (random.Random(seed)); timestamps are relative to `now`.
Every event row is also written to audit.log (contract 4.3).
"""
from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
BASE_PRICES = {"BTCUSDT": 64000.0, "ETHUSDT": 3400.0, "SOLUSDT": 150.0}
# A valid (symmetric, unit diagonal, positive definite) correlation matrix.
CORRELATION_MATRIX = [[1.0, 0.82, 0.71],
                      [0.82, 1.0, 0.76],
                      [0.71, 0.76, 1.0]]
# the exchange's filters (genesis_lab/exchange/market.py): tick size and lot step
QTY_STEP = {"BTCUSDT": Decimal("0.00001"), "ETHUSDT": Decimal("0.0001"), "SOLUSDT": Decimal("0.001")}
PRICE_STEP = {"BTCUSDT": Decimal("0.01"), "ETHUSDT": Decimal("0.01"), "SOLUSDT": Decimal("0.01")}
STRATEGIES = ["mean_reversion", "momentum"]
ALEMBIC_VERSION = "genesis_0007"
BALANCE = Decimal("5000")
TIER = "HUNTER"


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def correlation_doc(source: str = "defaults", now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.now(dt.timezone.utc)
    return {"symbols": list(SYMBOLS), "matrix": [list(r) for r in CORRELATION_MATRIX],
            "calculated_at": iso(now), "source": source}


def _q(sym: str, x: float) -> Decimal:
    return (Decimal(str(x)) / QTY_STEP[sym]).quantize(Decimal(1)) * QTY_STEP[sym]


def _p(sym: str, x: float) -> Decimal:
    return (Decimal(str(x)) / PRICE_STEP[sym]).quantize(Decimal(1)) * PRICE_STEP[sym]


def _num(d: Decimal) -> float:
    return float(d)


class _Events:
    """Collects events with per-aggregate sequence numbers."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.seq: dict[str, int] = {}

    def add(self, event_type: str, aggregate_id: str, data: dict, at: dt.datetime) -> None:
        n = self.seq.get(aggregate_id, 0) + 1
        self.seq[aggregate_id] = n
        self.rows.append((event_type, aggregate_id, data, n, at))


def build(node: str, account_id: str, now: dt.datetime, seed: int = 0,
          prices: dict[str, float] | None = None, n_closed: int = 98) -> dict:
    """All rows of the seed, as plain Python data (no database needed)."""
    rnd = random.Random(f"genesis-lab-seed-{node}-{seed}")
    prices = dict(BASE_PRICES, **(prices or {}))
    out: dict = {"positions": [], "orders": [], "sessions": [], "tilt_events": []}
    ev = _Events()
    order_no = 0

    def order(sym: str, side: str, qty: Decimal, price: Decimal, at: dt.datetime, position_id: str,
              strategy: str, otype: str = "MARKET") -> dict:
        nonlocal order_no
        order_no += 1
        oid = f"ord-{node}-{order_no:05d}"
        o = {"order_id": oid, "account_id": account_id, "position_id": position_id,
             "client_order_id": f"gl{node}{order_no:05d}", "exchange_order_id": str(100000 + seed * 10000 + order_no),
             "symbol": sym, "type": otype, "side": side, "price": price, "quantity": qty,
             "filled_quantity": qty, "status": "FILLED", "last_error": None, "strategy": strategy,
             "node": node, "created_at": at, "executed_at": at + dt.timedelta(milliseconds=rnd.randint(40, 400))}
        out["orders"].append(o)
        agg = f"order:{oid}"
        ev.add("ORDER_CREATED", agg, {"order_id": oid, "client_order_id": o["client_order_id"], "symbol": sym,
                                      "side": side, "type": otype, "quantity": _num(qty), "price": _num(price),
                                      "strategy": strategy, "position_id": position_id, "node": node}, at)
        ev.add("ORDER_SUBMITTED", agg, {"order_id": oid, "client_order_id": o["client_order_id"],
                                        "exchange_order_id": o["exchange_order_id"]},
               at + dt.timedelta(milliseconds=20))
        ev.add("ORDER_FILLED", agg, {"order_id": oid, "exchange_order_id": o["exchange_order_id"],
                                     "filled_quantity": _num(qty), "price": _num(price)}, o["executed_at"])
        return o

    # closed positions spread over the last 7 days, each with an opening and a closing order
    start = now - dt.timedelta(days=7)
    span = (now - dt.timedelta(hours=1) - start).total_seconds()
    opened_times = sorted(start + dt.timedelta(seconds=rnd.uniform(0, span)) for _ in range(n_closed))
    for i, t_open in enumerate(opened_times, 1):
        sym = rnd.choice(SYMBOLS)
        side = rnd.choice(["LONG", "SHORT"])
        strategy = rnd.choice(STRATEGIES)
        entry = _p(sym, prices[sym] * rnd.uniform(0.97, 1.03))
        value = rnd.uniform(60, 300)
        qty = _q(sym, value / float(entry))
        move = rnd.uniform(-0.012, 0.015)
        exit_p = _p(sym, float(entry) * (1 + move))
        pnl = (exit_p - entry) * qty * (1 if side == "LONG" else -1)
        reason = "take_profit" if pnl > 0 else rnd.choice(["stop_loss", "stop_loss", "manual"])
        t_close = min(t_open + dt.timedelta(minutes=rnd.uniform(3, 240)), now - dt.timedelta(minutes=30))
        pid = f"pos-{node}-{i:04d}"
        out["positions"].append({
            "position_id": pid, "account_id": account_id, "symbol": sym, "side": side, "entry_price": entry,
            "current_price": exit_p, "quantity": qty, "dollar_value": (entry * qty).quantize(Decimal("0.00000001")),
            "pnl_dollars": pnl.quantize(Decimal("0.00000001")), "status": "CLOSED", "close_reason": reason,
            "created_at": t_open, "closed_at": t_close, "updated_at": t_close})
        o1 = order(sym, "BUY" if side == "LONG" else "SELL", qty, entry, t_open, pid, strategy)
        ev.add("POSITION_OPENED", f"position:{pid}", {"position_id": pid, "symbol": sym, "side": side,
                                                      "entry_price": _num(entry), "quantity": _num(qty),
                                                      "order_id": o1["order_id"]}, o1["executed_at"])
        o2 = order(sym, "SELL" if side == "LONG" else "BUY", qty, exit_p, t_close, pid, strategy)
        ev.add("POSITION_CLOSED", f"position:{pid}", {"position_id": pid, "close_reason": reason,
                                                      "exit_price": _num(exit_p), "pnl_dollars": _num(pnl),
                                                      "order_id": o2["order_id"]}, o2["executed_at"])

    # three open positions, well under HUNTER's 500 USDT limit
    open_specs = [("BTCUSDT", "LONG", 180.0, 0.996), ("ETHUSDT", "LONG", 150.0, 1.004),
                  ("SOLUSDT", "SHORT", 120.0, 1.006)]
    for j, (sym, side, value, f) in enumerate(open_specs, 1):
        pid = f"pos-{node}-open{j}"
        entry = _p(sym, prices[sym] * f)
        qty = _q(sym, value / float(entry))
        cur = _p(sym, prices[sym])
        pnl = (cur - entry) * qty * (1 if side == "LONG" else -1)
        t_open = now - dt.timedelta(minutes=20 + 15 * j)
        out["positions"].append({
            "position_id": pid, "account_id": account_id, "symbol": sym, "side": side, "entry_price": entry,
            "current_price": cur, "quantity": qty, "dollar_value": (cur * qty).quantize(Decimal("0.00000001")),
            "pnl_dollars": pnl.quantize(Decimal("0.00000001")), "status": "OPEN", "close_reason": None,
            "created_at": t_open, "closed_at": None, "updated_at": now})
        o = order(sym, "BUY" if side == "LONG" else "SELL", qty, entry, t_open, pid, STRATEGIES[j % 2])
        ev.add("POSITION_OPENED", f"position:{pid}", {"position_id": pid, "symbol": sym, "side": side,
                                                      "entry_price": _num(entry), "quantity": _num(qty),
                                                      "order_id": o["order_id"]}, o["executed_at"])

    # trading sessions: one per day, today's still open
    by_day: dict[dt.date, list] = {}
    for p in out["positions"]:
        by_day.setdefault(p["created_at"].date(), []).append(p)
    for k, day in enumerate(sorted(by_day), 1):
        ps = by_day[day]
        s_start = dt.datetime.combine(day, dt.time(0, 0), dt.timezone.utc)
        today = day == now.date()
        out["sessions"].append({
            "session_id": f"sess-{node}-{day.isoformat()}", "account_id": account_id,
            "started_at": max(s_start, start - dt.timedelta(hours=1)),
            "ended_at": None if today else s_start + dt.timedelta(days=1) - dt.timedelta(seconds=1),
            "total_trades": sum(2 if p["status"] == "CLOSED" else 1 for p in ps),
            "pnl_dollars": sum((p["pnl_dollars"] for p in ps if p["status"] == "CLOSED"), Decimal(0))})

    out["tilt_events"] = [
        ("RAPID_ORDER_CANCELLATION", "LOW", "3 cancellations within 2 minutes", now - dt.timedelta(days=3, hours=2)),
        ("LOSS_STREAK", "MEDIUM", "3 consecutive losing trades", now - dt.timedelta(days=2, hours=5)),
        ("POSITION_SIZE_VARIANCE", "LOW", "position size 1.8x the 20-trade median", now - dt.timedelta(days=1, hours=3)),
        ("REVENGE_TRADING", "LOW", "re-entry 40 s after a stop loss", now - dt.timedelta(hours=6)),
    ]
    out["tier_transitions"] = [
        (None, "SNIPER", "account created", now - dt.timedelta(days=45)),
        ("SNIPER", "HUNTER", "balance above 2000 USDT with 30 profitable days", now - dt.timedelta(days=12)),
    ]
    out["events"] = sorted(ev.rows, key=lambda r: r[4])
    return out


def seed(conn, node: str, account_id: str, audit_log: Path | None, seed: int = 0,
         prices: dict[str, float] | None = None, now: dt.datetime | None = None) -> dict:
    """Insert the seed through a psycopg2 connection and append the audit.log lines."""
    from psycopg2.extras import Json, execute_values

    now = now or dt.datetime.now(dt.timezone.utc)
    data = build(node, account_id, now, seed=seed, prices=prices)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO alembic_version (version_num) VALUES (%s)", (ALEMBIC_VERSION,))
        cur.execute("INSERT INTO accounts (account_id, balance_usdt, tier, locked_features, created_at) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (account_id, BALANCE, TIER, Json(["statistical_arbitrage", "vwap_execution"]),
                     now - dt.timedelta(days=45)))
        cols = ["position_id", "account_id", "symbol", "side", "entry_price", "current_price", "quantity",
                "dollar_value", "pnl_dollars", "status", "close_reason", "created_at", "closed_at", "updated_at"]
        execute_values(cur, f"INSERT INTO positions ({', '.join(cols)}) VALUES %s",
                       [tuple(p[c] for c in cols) for p in data["positions"]])
        cols = ["order_id", "account_id", "position_id", "client_order_id", "exchange_order_id", "symbol", "type",
                "side", "price", "quantity", "filled_quantity", "status", "last_error", "strategy", "node",
                "created_at", "executed_at"]
        execute_values(cur, f"INSERT INTO orders ({', '.join(cols)}) VALUES %s",
                       [tuple(o[c] for c in cols) for o in data["orders"]], page_size=500)
        rows = execute_values(
            cur, "INSERT INTO events (event_type, aggregate_id, event_data, sequence_number, created_at) "
                 "VALUES %s RETURNING event_id, event_type, aggregate_id, event_data, sequence_number, created_at",
            [(t, a, Json(d), n, at) for (t, a, d, n, at) in data["events"]], page_size=2000, fetch=True)
        profile_id = f"tilt-{account_id}"
        cur.execute("INSERT INTO tilt_profiles (profile_id, account_id, current_tilt_score, tilt_level, "
                    "consecutive_losses, lockout_expiration, last_intervention_at) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                    (profile_id, account_id, Decimal("15.00"), "NORMAL", 1, None, now - dt.timedelta(days=9)))
        execute_values(cur, "INSERT INTO tilt_events (profile_id, event_type, severity, description, created_at) "
                            "VALUES %s", [(profile_id, *e) for e in data["tilt_events"]])
        corr = []
        for i, s1 in enumerate(SYMBOLS):
            for j, s2 in enumerate(SYMBOLS):
                if i != j:
                    corr.append((s1, s2, CORRELATION_MATRIX[i][j], now - dt.timedelta(minutes=10)))
        execute_values(cur, "INSERT INTO position_correlations (symbol_1, symbol_2, correlation_coefficient, "
                            "calculated_at) VALUES %s", corr)
        cols = ["session_id", "account_id", "started_at", "ended_at", "total_trades", "pnl_dollars"]
        execute_values(cur, f"INSERT INTO trading_sessions ({', '.join(cols)}) VALUES %s",
                       [tuple(s[c] for c in cols) for s in data["sessions"]])
        execute_values(cur, "INSERT INTO tier_transitions (account_id, from_tier, to_tier, reason, created_at) "
                            "VALUES %s", [(account_id, *t) for t in data["tier_transitions"]])
    if audit_log is not None:
        audit_log.parent.mkdir(parents=True, exist_ok=True)
        with open(audit_log, "a") as f:
            for event_id, etype, agg, edata, seq, created in sorted(rows, key=lambda r: r[0]):
                ts = iso(created)
                f.write(json.dumps({"timestamp": ts, "level": "info", "event": "audit_event", "logger": "audit",
                                    "event_id": event_id, "event_type": etype, "aggregate_id": agg,
                                    "sequence_number": seq, "event_data": edata, "created_at": ts}) + "\n")
    return {"orders": len(data["orders"]), "positions": len(data["positions"]), "events": len(rows),
            "open_positions": sum(1 for p in data["positions"] if p["status"] == "OPEN")}
