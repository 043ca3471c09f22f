"""Strategy definitions and their shared state in Redis (contract 3.7 and section 5).

`genesis:strategy:<name>` hash: state, enabled, safe_mode, errors_total, last_error,
last_trade_at, params (JSON), primary_only. Lab keys `genesis:strategy:<name>:errors` and
`genesis:strategy:<name>:trades` are zsets of epoch times (for the *_last_5m counters)."""
from __future__ import annotations

import json
import math
import time
from typing import Any

from genesis_lab.node.common import iso, parse_time, truthy

STATES = ("IDLE", "STARTING", "RUNNING", "PAUSED", "STOPPING", "STOPPED", "ERROR", "RECOVERING")

STRATEGIES: dict[str, dict[str, Any]] = {
    "mean_reversion": {"primary_only": False, "defaults": {"window": 20, "size_usdt": 20}},
    "momentum": {"primary_only": False, "defaults": {"window": 10, "size_usdt": 20}},
    "cluster_arbitrage": {"primary_only": True, "defaults": {"window": 30, "size_usdt": 15, "spread_bps": 8}},
}

PARAM_RANGES = {"window": (2, 500, int), "size_usdt": (5, 100, float), "spread_bps": (0, 1000, float)}


def key(name: str) -> str:
    return f"genesis:strategy:{name}"


def errors_key(name: str) -> str:
    return f"genesis:strategy:{name}:errors"


def trades_key(name: str) -> str:
    return f"genesis:strategy:{name}:trades"


def defaults_json(name: str) -> str:
    return json.dumps(STRATEGIES[name]["defaults"], sort_keys=True)


def validate_params(name: str, raw: Any) -> dict:
    """The strategy's params, or ValueError saying why they are unusable."""
    if raw is None or raw == "":
        return dict(STRATEGIES[name]["defaults"])
    try:
        params = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ValueError(f"params are not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ValueError("params must be a JSON object")
    out = dict(STRATEGIES[name]["defaults"])
    for k, v in params.items():
        if k not in PARAM_RANGES:
            continue
        lo, hi, typ = PARAM_RANGES[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ValueError(f"param {k} = {v!r} is not a number")
        if typ is int and float(v) != int(v):
            raise ValueError(f"param {k} = {v!r} is not an integer")
        if not lo <= float(v) <= hi:
            raise ValueError(f"param {k} = {v!r} is outside {lo}..{hi}")
        out[k] = typ(v)
    return out


def initial_hash(name: str) -> dict:
    return {"state": "IDLE", "enabled": "1", "safe_mode": "0", "errors_total": "0", "last_error": "",
            "last_trade_at": "", "params": defaults_json(name),
            "primary_only": "1" if STRATEGIES[name]["primary_only"] else "0"}


def ensure(r, name: str) -> dict:
    """The strategy's hash, created with defaults when missing (fields filled in when absent)."""
    h = r.hgetall(key(name)) or {}
    missing = {k: v for k, v in initial_hash(name).items() if k not in h}
    if missing:
        r.hset(key(name), mapping=missing)
        h.update(missing)
    return h


def view(r, name: str, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    h = ensure(r, name)
    pipe = r.pipeline(transaction=False)
    pipe.zcount(errors_key(name), now - 300, "+inf")
    pipe.zcount(trades_key(name), now - 300, "+inf")
    errs5, trades5 = pipe.execute()
    state = h.get("state") or "IDLE"
    return {
        "state": state if state in STATES else state,
        "enabled": truthy(h.get("enabled", "1")),
        "safe_mode": truthy(h.get("safe_mode", "0")),
        "primary_only": STRATEGIES[name]["primary_only"],
        "errors_total": int(float(h.get("errors_total") or 0)),
        "errors_last_5m": int(errs5),
        "last_error": h.get("last_error") or None,
        "last_trade_at": iso(parse_time(h["last_trade_at"])) if parse_time(h.get("last_trade_at")) else None,
        "trades_last_5m": int(trades5),
        "params": _params_view(h.get("params")),
    }


def _params_view(raw: Any) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw
