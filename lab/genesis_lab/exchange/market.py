"""Market model of the fake exchange: prices, candles, order books.

Everything here is plain synchronous Python driven by ``Market.tick(now)`` (once a
second in the server) and read by the HTTP/websocket handlers.  Randomness comes from
``random.Random`` instances derived from the seed, so the synthesised history (the
klines before the start) and the order books are reproducible for a given seed.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import math
import random
from array import array
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

HISTORY_MINUTES = 7 * 24 * 60  # default synthesised 1m history (7 days)
SECOND_HISTORY = 3600  # per-second prices kept (for the 1s klines interval)
TRIM_CHUNK = 1440  # 1m columns are trimmed by whole days to keep trimming rare


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    base_price: float
    tick_size: str
    step_size: str
    min_qty: str
    max_qty: str
    min_price: str
    max_price: str
    min_notional: str
    sigma_minute: float  # volatility of one-minute log returns
    beta: float  # loading on the common market factor (gives BTC/ETH/SOL correlation)
    minute_volume: float  # typical base volume per minute
    level_qty: float  # typical base quantity of one book level

    @property
    def tick(self) -> float:
        return float(self.tick_size)

    @property
    def price_decimals(self) -> int:
        return max(0, -Decimal(self.tick_size).as_tuple().exponent)

    @property
    def qty_decimals(self) -> int:
        return max(0, -Decimal(self.step_size).as_tuple().exponent)


SPECS: dict[str, SymbolSpec] = {
    "BTCUSDT": SymbolSpec("BTCUSDT", "BTC", "USDT", 64000.0, "0.01", "0.00001", "0.00001",
                          "9000", "0.01", "1000000", "5", 0.0006, 0.90, 15.0, 0.35),
    "ETHUSDT": SymbolSpec("ETHUSDT", "ETH", "USDT", 3400.0, "0.01", "0.0001", "0.0001",
                          "9000", "0.01", "1000000", "5", 0.0008, 0.85, 150.0, 5.0),
    "SOLUSDT": SymbolSpec("SOLUSDT", "SOL", "USDT", 150.0, "0.01", "0.001", "0.001",
                          "90000", "0.01", "1000000", "5", 0.0011, 0.75, 2500.0, 110.0),
}

# interval -> length in seconds (None: calendar month)
INTERVALS: dict[str, int | None] = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200,
    "1d": 86400, "3d": 259200, "1w": 604800, "1M": None,
}
_WEEK_OFFSET_MS = 4 * 86400 * 1000  # 1970-01-05 was a Monday; Binance weeks start Monday


def fmt8(x: float) -> str:
    """Binance formats prices and quantities as decimal strings with 8 places."""
    s = f"{x:.8f}"
    return "0.00000000" if s == "-0.00000000" else s


def _month_start(ms: int) -> int:
    d = _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc)
    return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000


def _month_add(ms: int, n: int) -> int:
    d = _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc)
    m = d.year * 12 + (d.month - 1) + n
    return calendar.timegm((m // 12, m % 12 + 1, 1, 0, 0, 0)) * 1000


def bucket_start(ms: int, interval: str) -> int:
    secs = INTERVALS[interval]
    if secs is None:
        return _month_start(ms)
    size = secs * 1000
    if interval == "1w":
        return (ms - _WEEK_OFFSET_MS) // size * size + _WEEK_OFFSET_MS
    return ms // size * size


def bucket_shift(start: int, interval: str, n: int) -> int:
    secs = INTERVALS[interval]
    if secs is None:
        return _month_add(start, n)
    return start + n * secs * 1000


class Candles:
    """Column store of consecutive one-minute candles (compact: ``array``)."""

    __slots__ = ("t", "o", "h", "l", "c", "v", "q", "n")

    def __init__(self) -> None:
        self.t = array("q")
        self.o = array("d")
        self.h = array("d")
        self.l = array("d")
        self.c = array("d")
        self.v = array("d")
        self.q = array("d")
        self.n = array("q")

    def __len__(self) -> int:
        return len(self.t)

    def append(self, t: int, o: float, h: float, l: float, c: float, v: float, q: float, n: int) -> None:
        self.t.append(t)
        self.o.append(o)
        self.h.append(h)
        self.l.append(l)
        self.c.append(c)
        self.v.append(v)
        self.q.append(q)
        self.n.append(n)

    def trim(self, keep: int) -> None:
        extra = len(self.t) - keep
        if extra >= TRIM_CHUNK:
            for col in (self.t, self.o, self.h, self.l, self.c, self.v, self.q, self.n):
                del col[:extra]

    def index(self, ms: int) -> int:
        """Index of the candle whose open time is the first >= ms (clamped to 0..len)."""
        if not self.t:
            return 0
        i = -((self.t[0] - ms) // 60000)  # ceil((ms - t0) / 60000)
        return min(max(i, 0), len(self.t))


class SymbolState:
    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.mid = spec.base_price  # unrounded random-walk level
        self.price = spec.base_price  # last price, rounded to the tick
        self.bid = spec.base_price
        self.ask = spec.base_price
        self.update_id = 0
        self.trade_id = 0
        self.last_qty = 0.0
        self.candles = Candles()
        self.seconds: deque[tuple[int, float, float, float, int]] = deque(maxlen=SECOND_HISTORY)
        self.move: dict | None = None
        self.book_cache: tuple[int, list, list] | None = None
        self.last_tick_s = 0


class Market:
    def __init__(self, seed: int, now: float, history_minutes: int = HISTORY_MINUTES) -> None:
        self.seed = seed
        self.history_minutes = max(int(history_minutes), 500)
        self.symbols: dict[str, SymbolState] = {name: SymbolState(spec) for name, spec in SPECS.items()}
        self._walk = random.Random(f"genesis-lab:{seed}:walk")
        boot = random.Random(f"genesis-lab:{seed}:ids")
        for st in self.symbols.values():
            st.update_id = boot.randrange(10_000_000_000, 50_000_000_000)
            st.trade_id = boot.randrange(1_000_000_000, 4_000_000_000)
        self._synthesize(now)
        for st in self.symbols.values():
            self._quote(st)

    # ------------------------------------------------------------------ history
    def _synthesize(self, now: float) -> None:
        """Deterministic (from the seed) 1m candles for the history before ``now``,
        ending exactly at each symbol's base price; then open the current minute."""
        rng = random.Random(f"genesis-lab:{self.seed}:history")
        n = self.history_minutes
        names = list(self.symbols)
        rets: dict[str, list[float]] = {s: [0.0] * n for s in names}
        for k in range(n):
            zc = rng.gauss(0.0, 1.0)
            for s in names:
                sp = self.symbols[s].spec
                zi = rng.gauss(0.0, 1.0)
                rets[s][k] = sp.sigma_minute * (sp.beta * zc + math.sqrt(1 - sp.beta ** 2) * zi)
        cur_min = int(now // 60) * 60_000
        first = cur_min - n * 60_000
        for s in names:
            st = self.symbols[s]
            sp = st.spec
            closes = [0.0] * n
            c = sp.base_price
            for k in range(n - 1, -1, -1):
                closes[k] = c
                c = c / math.exp(rets[s][k])
            prev = c
            nd = sp.price_decimals
            trade_id = st.trade_id - 1
            for k in range(n):
                o = round(prev, nd)
                cl = round(closes[k], nd)
                wig = sp.sigma_minute * 0.6
                h = round(max(o, cl) * (1 + abs(rng.gauss(0, wig))), nd)
                lo = round(min(o, cl) * (1 - abs(rng.gauss(0, wig))), nd)
                v = round(sp.minute_volume * rng.lognormvariate(-0.125, 0.5), sp.qty_decimals)
                q = v * (o + cl + h + lo) / 4
                cnt = 20 + int(v / sp.minute_volume * 600)
                trade_id += cnt
                st.candles.append(first + k * 60_000, o, h, lo, cl, v, q, cnt)
                prev = closes[k]
            st.trade_id = trade_id + 1
            st.mid = sp.base_price
            st.price = round(sp.base_price, nd)
            st.candles.append(cur_min, st.price, st.price, st.price, st.price, 0.0, 0.0, 0)
            st.last_tick_s = int(now)
            st.seconds.append((int(now) * 1000, st.price, st.price, 0.0, 0))

    # ------------------------------------------------------------------ ticking
    def _quote(self, st: SymbolState) -> None:
        sp = st.spec
        tick = sp.tick
        nd = sp.price_decimals
        half = st.mid * self._walk.uniform(0.5, 1.5) * 1e-4  # spread of 1..3 bps
        bid = round(math.floor((st.mid - half) / tick) * tick, nd)
        ask = round(math.ceil((st.mid + half) / tick) * tick, nd)
        if ask <= bid:
            ask = round(bid + tick, nd)
        st.bid, st.ask = bid, ask
        st.price = min(max(round(st.mid, nd), bid), ask)
        st.book_cache = None

    def tick(self, now: float) -> None:
        zc = self._walk.gauss(0.0, 1.0)
        for st in self.symbols.values():
            sp = st.spec
            zi = self._walk.gauss(0.0, 1.0)
            if st.move is not None:
                self._apply_move(st, now)
            else:
                sig = sp.sigma_minute / math.sqrt(60.0)
                st.mid *= math.exp(sig * (sp.beta * zc + math.sqrt(1 - sp.beta ** 2) * zi))
            st.mid = max(st.mid, sp.tick * 10)
            st.update_id += self._walk.randint(3, 60)
            self._quote(st)
            vol = round(self._walk.expovariate(60.0 / sp.minute_volume), sp.qty_decimals)
            cnt = 1 + int(self._walk.expovariate(1 / 9.0))
            st.last_qty = round(vol * self._walk.uniform(0.02, 0.3), sp.qty_decimals) or float(sp.min_qty)
            st.trade_id += cnt
            self._record(st, now, vol, st.price * vol, cnt)

    def _record(self, st: SymbolState, now: float, vol: float, quote: float, cnt: int) -> None:
        """Add a price observation (and volume) at ``now`` to the current candle."""
        c = st.candles
        minute = int(now // 60) * 60_000
        last_t = c.t[-1]
        if minute > last_t:
            close = c.c[-1]
            gap = (minute - last_t) // 60_000 - 1
            if gap > self.history_minutes:
                gap = self.history_minutes  # a suspended process: do not fill forever
                last_t = minute - (gap + 1) * 60_000
            for k in range(gap):  # minutes without ticks: flat candles
                c.append(last_t + (k + 1) * 60_000, close, close, close, close, 0.0, 0.0, 0)
            c.append(minute, close, close, close, close, 0.0, 0.0, 0)
            c.trim(self.history_minutes + TRIM_CHUNK)
        elif minute < last_t:
            return  # clock went backwards: ignore
        p = st.price
        if p > c.h[-1]:
            c.h[-1] = p
        if p < c.l[-1]:
            c.l[-1] = p
        c.c[-1] = p
        c.v[-1] += vol
        c.q[-1] += quote
        c.n[-1] += cnt
        sec = int(now)
        if st.seconds and st.seconds[-1][0] == sec * 1000:
            t, o, _, v, n = st.seconds[-1]
            st.seconds[-1] = (t, o, p, v + vol, n + cnt)
        elif sec * 1000 > (st.seconds[-1][0] if st.seconds else 0):
            o = st.seconds[-1][2] if st.seconds else p
            st.seconds.append((sec * 1000, o, p, vol, cnt))
        st.last_tick_s = sec

    def record_trade(self, symbol: str, now: float, qty: float, quote: float) -> int:
        """A fill at the exchange: count it in the candle; returns a trade id."""
        st = self.symbols[symbol]
        st.trade_id += 1
        st.last_qty = qty
        self._record(st, now, qty, quote, 1)
        return st.trade_id

    def _apply_move(self, st: SymbolState, now: float) -> None:
        mv = st.move
        span = mv["over_seconds"]
        frac = 1.0 if span <= 0 else min(1.0, max(0.0, (now - mv["start"]) / span))
        st.mid = max(mv["from"] + (mv["target"] - mv["from"]) * frac, st.spec.tick * 10)
        if frac >= 1.0:
            st.move = None  # the random walk resumes from the new level

    def start_move(self, symbol: str, move_percent: float, over_seconds: float, now: float) -> dict:
        """Move the price linearly by ``move_percent`` over ``over_seconds`` (0: at once)."""
        st = self.symbols[symbol]
        st.move = {"from": st.mid, "target": st.mid * (1 + move_percent / 100.0),
                   "start": now, "over_seconds": max(0.0, float(over_seconds)),
                   "move_percent": move_percent}
        info = dict(st.move)
        if over_seconds <= 0:
            self._apply_move(st, now)
            st.update_id += 1
            self._quote(st)
            self._record(st, now, 0.0, 0.0, 0)
        return info

    def stop_moves(self) -> None:
        for st in self.symbols.values():
            st.move = None

    # ------------------------------------------------------------------ books
    def book(self, symbol: str, depth: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Order book of ``depth`` levels per side (best first), cached per update id.
        Levels are generated from a RNG keyed by (seed, symbol, update id, side), so the
        first N levels are the same whatever depth is asked."""
        st = self.symbols[symbol]
        depth = max(1, min(int(depth), 5000))
        cache = st.book_cache
        if cache is not None and cache[0] == st.update_id and len(cache[1]) >= depth:
            return cache[1][:depth], cache[2][:depth]
        n = max(depth, 20)
        bids = self._side(st, st.bid, -1, n, random.Random(f"{self.seed}:{symbol}:{st.update_id}:b"))
        asks = self._side(st, st.ask, +1, n, random.Random(f"{self.seed}:{symbol}:{st.update_id}:a"))
        st.book_cache = (st.update_id, bids, asks)
        return bids[:depth], asks[:depth]

    @staticmethod
    def _side(st: SymbolState, best: float, sign: int, n: int, rng: random.Random) -> list[tuple[float, float]]:
        sp = st.spec
        tick = sp.tick
        nd = sp.price_decimals
        qd = sp.qty_decimals
        minq = float(sp.min_qty)
        out = []
        price = best
        for i in range(n):
            if price <= 0:
                break
            qty = round(sp.level_qty * rng.lognormvariate(-0.3, 0.9) * (1 + 0.04 * i), qd)
            out.append((price, max(qty, minq)))
            gap = max(1, round(st.mid * rng.uniform(0.1, 0.8) * 1e-4 / tick))
            price = round(price + sign * gap * tick, nd)
        return out

    # ------------------------------------------------------------------ klines / stats
    def klines(self, symbol: str, interval: str, start_ms: int | None, end_ms: int | None,
               limit: int, now_ms: int) -> list[list]:
        st = self.symbols[symbol]
        if interval == "1s":
            return self._klines_1s(st, start_ms, end_ms, limit, now_ms)
        c = st.candles
        if not len(c):
            return []
        end = now_ms if end_ms is None else min(end_ms, now_ms)
        last_open = c.t[-1]
        first_open = c.t[0]
        starts: list[int] = []
        if start_ms is not None:
            b = bucket_start(start_ms, interval)
            if b < start_ms:
                b = bucket_shift(b, interval, 1)
            if bucket_shift(b, interval, 1) <= first_open:  # before the history: skip ahead
                b = bucket_start(first_open, interval)
                if b < start_ms:
                    b = bucket_shift(b, interval, 1)
            while len(starts) < limit and b <= end and b <= last_open:
                if bucket_shift(b, interval, 1) > first_open:
                    starts.append(b)
                b = bucket_shift(b, interval, 1)
        else:
            b = bucket_start(min(end, last_open), interval)
            while len(starts) < limit and bucket_shift(b, interval, 1) > first_open:
                starts.append(b)
                b = bucket_shift(b, interval, -1)
            starts.reverse()
        out = []
        for b in starts:
            nb = bucket_shift(b, interval, 1)
            i0, i1 = c.index(b), c.index(nb)
            if i0 >= i1:
                continue
            v = sum(c.v[i0:i1])
            q = sum(c.q[i0:i1])
            out.append([b, fmt8(c.o[i0]), fmt8(max(c.h[i0:i1])), fmt8(min(c.l[i0:i1])),
                        fmt8(c.c[i1 - 1]), fmt8(v), nb - 1, fmt8(q), int(sum(c.n[i0:i1])),
                        fmt8(v * 0.5), fmt8(q * 0.5), "0"])
        return out

    @staticmethod
    def _klines_1s(st: SymbolState, start_ms, end_ms, limit, now_ms) -> list[list]:
        end = now_ms if end_ms is None else min(end_ms, now_ms)
        rows = [r for r in st.seconds if r[0] <= end and (start_ms is None or r[0] >= start_ms)]
        rows = rows[:limit] if start_ms is not None else rows[-limit:]
        return [[t, fmt8(o), fmt8(max(o, cl)), fmt8(min(o, cl)), fmt8(cl), fmt8(v), t + 999,
                 fmt8(v * cl), n, fmt8(v * 0.5), fmt8(v * cl * 0.5), "0"] for t, o, cl, v, n in rows]

    def stats(self, symbol: str, now_ms: int, window_minutes: int = 1440) -> dict:
        """Rolling statistics over the last ``window_minutes`` one-minute candles."""
        st = self.symbols[symbol]
        c = st.candles
        n = len(c)
        i0 = max(0, n - window_minutes)
        o = c.o[i0]
        v = sum(c.v[i0:])
        q = sum(c.q[i0:])
        cnt = int(sum(c.n[i0:]))
        last = st.price
        prev = c.c[i0 - 1] if i0 > 0 else o
        return {
            "open": o, "high": max(max(c.h[i0:]), last), "low": min(min(c.l[i0:]), last),
            "last": last, "prev_close": prev, "volume": v, "quote_volume": q,
            "wavg": (q / v) if v else last, "count": cnt,
            "first_id": st.trade_id - cnt + 1, "last_id": st.trade_id,
            "open_time": now_ms - window_minutes * 60_000, "close_time": now_ms,
            "change": last - o, "change_pct": ((last - o) / o * 100.0) if o else 0.0,
        }

    def avg_price(self, symbol: str, minutes: int = 5) -> float:
        c = self.symbols[symbol].candles
        i0 = max(0, len(c) - minutes)
        v = sum(c.v[i0:])
        return (sum(c.q[i0:]) / v) if v else self.symbols[symbol].price
