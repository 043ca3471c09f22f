"""Circuit breakers (contract 3.4): names binance_api, api, websocket, orders; states
closed|open|half_open. Opens after 5 consecutive failures, half_open 300 s later.
State lives in the Redis hash `genesis:breaker:<name>` (state, failures, opened_at, last_failure)."""
from __future__ import annotations

import time
from typing import Any

from genesis_lab.node.common import iso, parse_time

NAMES = ("binance_api", "api", "websocket", "orders")
THRESHOLD = 5
OPEN_SECONDS = 300.0
STATE_NUMBER = {"closed": 0, "half_open": 1, "open": 2}


def blank() -> dict:
    return {"state": "closed", "failures": 0, "opened_at": None, "last_failure": None}


def from_hash(h: dict | None) -> dict:
    """Internal form (times as epoch floats) from a Redis hash, tolerant of missing fields."""
    st = blank()
    if not h:
        return st
    state = str(h.get("state") or "closed").lower()
    st["state"] = state if state in STATE_NUMBER else "closed"
    try:
        st["failures"] = int(float(h.get("failures") or 0))
    except ValueError:
        st["failures"] = 0
    st["opened_at"] = parse_time(h.get("opened_at"))
    st["last_failure"] = parse_time(h.get("last_failure"))
    return st


def to_hash(st: dict) -> dict:
    return {"state": st["state"], "failures": str(int(st["failures"])),
            "opened_at": iso(st["opened_at"]) if st.get("opened_at") else "",
            "last_failure": iso(st["last_failure"]) if st.get("last_failure") else ""}


def effective(st: dict, now: float | None = None) -> dict:
    """An open breaker turns half_open OPEN_SECONDS after it opened."""
    now = time.time() if now is None else now
    out = dict(st)
    if out["state"] == "open":
        opened = out.get("opened_at") or now
        if now - opened >= OPEN_SECONDS:
            out["state"] = "half_open"
    return out


def on_failure(st: dict, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    cur = effective(st, now)
    out = dict(cur)
    out["failures"] = int(cur["failures"]) + 1
    out["last_failure"] = now
    if cur["state"] == "half_open":
        out["state"], out["opened_at"] = "open", now           # the trial failed
    elif cur["state"] == "closed" and out["failures"] >= THRESHOLD:
        out["state"], out["opened_at"] = "open", now
    return out


def on_success(st: dict, now: float | None = None) -> dict:
    """A call went through: the breaker closes (from half_open after a trial; from open too,
    for the breakers that only report and never hold calls back, e.g. binance_api)."""
    cur = effective(st, now)
    return {"state": "closed", "failures": 0, "opened_at": None, "last_failure": cur.get("last_failure")}


def allows(st: dict, now: float | None = None, trial: bool = True) -> bool:
    """closed lets everything through; half_open lets a trial through when `trial`."""
    state = effective(st, now)["state"]
    return state == "closed" or (trial and state == "half_open")


def public(st: dict) -> dict:
    return {"state": st["state"], "failures": int(st["failures"]),
            "opened_at": iso(st["opened_at"]) if st.get("opened_at") else None,
            "last_failure": iso(st["last_failure"]) if st.get("last_failure") else None}


class Breakers:
    """Redis-backed breakers shared by the node's programs."""

    def __init__(self, r, log=None):
        self.r = r
        self.log = log

    @staticmethod
    def key(name: str) -> str:
        return f"genesis:breaker:{name}"

    def raw(self, name: str) -> dict:
        return from_hash(self.r.hgetall(self.key(name)))

    def get(self, name: str, now: float | None = None) -> dict:
        return effective(self.raw(name), now)

    def all(self, now: float | None = None) -> dict[str, dict]:
        pipe = self.r.pipeline(transaction=False)
        for n in NAMES:
            pipe.hgetall(self.key(n))
        res = pipe.execute()
        return {n: effective(from_hash(h), now) for n, h in zip(NAMES, res)}

    def _save(self, name: str, st: dict) -> None:
        self.r.hset(self.key(name), mapping=to_hash(st))

    def failure(self, name: str, error: Any = None) -> dict:
        before = self.raw(name)
        after = on_failure(before)
        self._save(name, after)
        if after["state"] == "open" and effective(before)["state"] != "open" and self.log is not None:
            self.log.warning("Circuit breaker opened", breaker=name, failures=after["failures"],
                             error=str(error) if error is not None else None)
        return after

    def success(self, name: str) -> dict:
        before = self.raw(name)
        after = on_success(before)
        if after != before:
            self._save(name, after)
            if effective(before)["state"] != "closed" and self.log is not None:
                self.log.info("Circuit breaker closed", breaker=name)
        return after

    def allows(self, name: str, trial: bool = True) -> bool:
        return allows(self.raw(name), trial=trial)

    def reset(self, name: str) -> tuple[dict, dict]:
        before = self.get(name)
        after = blank()
        after["last_failure"] = before.get("last_failure")
        if before["state"] != "closed" or before["failures"]:
            self._save(name, after)
        return before, after
