"""Node-wide exchange rate limiting (contract 3.6, Redis keys of section 5).

- `genesis:ratelimit:config` hash: protection (0/1), limit_per_minute.
- `genesis:ratelimit:window` zset (lab key): what this node sent in the last 60 s,
  members `<ts>:<weight>:<nonce>`; shared by every program of the node.
- `ratelimit:exchange` hash: used_weight_1m (last X-MBX-USED-WEIGHT-1M seen), used_weight_ts,
  last_429_at, retry_after_until, count_429 (total).
- `ratelimit:exchange:429s` zset (lab key): epoch of each 429, for "429s in the last 300 s".
"""
from __future__ import annotations

import os
import time
from typing import Iterable

from genesis_lab.node.common import iso, parse_time, truthy

EXCHANGE_LIMIT = 1200
WARN_RATIO = 0.8
DEFAULT_PROTECTION = True
DEFAULT_LIMIT = 900
WINDOW_S = 60.0
RECENT_429_S = 300.0

CONFIG_KEY = "genesis:ratelimit:config"
WINDOW_KEY = "genesis:ratelimit:window"
STATE_KEY = "ratelimit:exchange"
RECENT_KEY = "ratelimit:exchange:429s"
QUEUE_KEY = "genesis:request_queue"


def window_check(entries: Iterable[tuple[float, int]], now: float, weight: int, limit: int,
                 window: float = WINDOW_S) -> tuple[bool, float]:
    """May `weight` be sent now without the last `window` seconds exceeding `limit`?
    Returns (allowed, seconds to wait before it would be)."""
    live = sorted((ts, w) for ts, w in entries if ts > now - window)
    used = sum(w for _, w in live)
    if used + weight <= limit:
        return True, 0.0
    if weight > limit:
        # never fits; wait for the whole window to drain, then it goes alone
        if not live:
            return True, 0.0
        return False, max(0.0, live[-1][0] + window - now)
    excess = used + weight - limit
    freed = 0
    for ts, w in live:
        freed += w
        if freed >= excess:
            return False, max(0.0, ts + window - now)
    return False, window


def parse_config(h: dict | None) -> tuple[bool, int]:
    h = h or {}
    protection = truthy(h["protection"]) if "protection" in h else DEFAULT_PROTECTION
    try:
        limit = int(float(h.get("limit_per_minute", DEFAULT_LIMIT)))
    except ValueError:
        limit = DEFAULT_LIMIT
    return protection, max(1, limit)


class RateLimiter:
    def __init__(self, r, log=None, program: str = ""):
        self.r = r
        self.log = log
        self.program = program

    def config(self) -> tuple[bool, int]:
        return parse_config(self.r.hgetall(CONFIG_KEY))

    def set_config(self, protection: bool, limit: int) -> None:
        self.r.hset(CONFIG_KEY, mapping={"protection": "1" if protection else "0", "limit_per_minute": str(limit)})

    def retry_after_until(self) -> float:
        return parse_time(self.r.hget(STATE_KEY, "retry_after_until")) or 0.0

    def _entries(self, now: float) -> list[tuple[float, int]]:
        self.r.zremrangebyscore(WINDOW_KEY, "-inf", now - WINDOW_S)
        out = []
        for member, score in self.r.zrangebyscore(WINDOW_KEY, now - WINDOW_S, "+inf", withscores=True):
            try:
                out.append((float(score), int(member.split(":")[1])))
            except (IndexError, ValueError):
                continue
        return out

    def sent_last_minute(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return sum(w for _, w in self._entries(now))

    def try_acquire(self, weight: int, now: float | None = None) -> tuple[bool, float]:
        """With protection on: honour retry_after_until and the per-minute weight budget.
        Records the weight in the node's window when allowed."""
        now = time.time() if now is None else now
        protection, limit = self.config()
        if protection:
            until = self.retry_after_until()
            if until > now:
                return False, until - now
            allowed, wait = window_check(self._entries(now), now, weight, limit)
            if not allowed:
                return False, wait
        self.r.zadd(WINDOW_KEY, {f"{now:.6f}:{int(weight)}:{os.getpid()}{os.urandom(3).hex()}": now})
        self.r.expire(WINDOW_KEY, 120)
        return True, 0.0

    def paused(self, now: float | None = None) -> bool:
        """True while protection is on and a Retry-After is still running."""
        now = time.time() if now is None else now
        protection, _ = self.config()
        return protection and self.retry_after_until() > now

    def record(self, resp) -> None:
        """Bookkeeping of one exchange answer (used weight header, 429 with Retry-After)."""
        if resp.status == 0:
            return
        now = time.time()
        mapping = {}
        uw = resp.used_weight
        if uw is not None:
            mapping["used_weight_1m"] = str(uw)
            mapping["used_weight_ts"] = f"{now:.3f}"
        if resp.status in (429, 418):
            retry = resp.retry_after
            if retry is None:
                retry = 60.0
            mapping["last_429_at"] = iso(now)
            mapping["retry_after_until"] = iso(now + retry)
            pipe = self.r.pipeline(transaction=False)
            pipe.hset(STATE_KEY, mapping=mapping)
            pipe.hincrby(STATE_KEY, "count_429", 1)
            pipe.zadd(RECENT_KEY, {f"{now:.6f}:{os.getpid()}": now})
            pipe.zremrangebyscore(RECENT_KEY, "-inf", now - 3600)
            pipe.execute()
            if self.log is not None:
                self.log.warning("Rate limit exceeded", retry_after=retry, path=resp.path, status=resp.status,
                                 used_weight_1m=uw)
            return
        if mapping:
            self.r.hset(STATE_KEY, mapping=mapping)

    def summary(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        protection, limit = self.config()
        h = self.r.hgetall(STATE_KEY) or {}
        try:
            used = int(float(h.get("used_weight_1m") or 0))
        except ValueError:
            used = 0
        recent = self.r.zcount(RECENT_KEY, now - RECENT_429_S, "+inf")
        return {
            "exchange_limit": EXCHANGE_LIMIT,
            "limit_per_minute": limit,
            "protection": protection,
            "warn_ratio": WARN_RATIO,
            "used_weight_1m": used,
            "usage_ratio": round(used / EXCHANGE_LIMIT, 4),
            "recent_429": int(recent),
            "last_429_at": iso(parse_time(h["last_429_at"])) if parse_time(h.get("last_429_at")) else None,
            "retry_after_until": (iso(parse_time(h["retry_after_until"]))
                                  if parse_time(h.get("retry_after_until")) else None),
            "queue_length": int(self.r.llen(QUEUE_KEY)),
            "sent_weight_1m": self.sent_last_minute(now),
            "count_429": int(float(h.get("count_429") or 0)),
        }
