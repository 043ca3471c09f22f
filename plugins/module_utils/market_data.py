# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Market-data feed of a genesis node (runbook scenario 3, docs/genesis-contract.md sections 3.5 and 5).

Reads the feed's state from the control API (`GET /admin/websocket`), checks the configured
exchange (`GET /api/v3/ping`, `GET /sapi/v1/system/status`) and the supervisor program,
evaluates it against the contract's thresholds and, for the action module, deletes stale
market-data keys only (`market:ticker:<SYMBOL>`, `orderbook:<SYMBOL>`), each with a
conditional, atomic delete: a key refreshed in the meantime is kept.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re
import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import clause, redact_url
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCacheError
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError
from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import GenesisSupervisorError, SupervisorClient

WEBSOCKET_PATH = "/admin/websocket"
RESTART_PATH = "/admin/websocket/restart"
MODE_PATH = "/admin/market-data/mode"
MODES = ("websocket", "rest")
# The only key families this code ever deletes (contract section 5): prices and order books.
KEY_PREFIXES = ("market:ticker:", "orderbook:")
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")
WAIT_FOR = ("none", "websocket", "fresh", "updating")
POLL_INTERVAL = 0.5
# A ticker counts as updated when its timestamp moved forward by more than this (seconds).
UPDATE_EPSILON = 0.05

# DEL the key only while its `ts` field is older than the cutoff: one atomic step, so a
# price written by market_data between our read and our delete is never dropped.
DELETE_IF_OLDER_LUA = """
local ts = redis.call('HGET', KEYS[1], 'ts')
if ts and tonumber(ts) and tonumber(ts) < tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def market_data_argument_spec():
    return dict(
        symbols=dict(type="list", elements="str"),
        max_age=dict(type="float", default=10),
        fresh_age=dict(type="float", default=2),
    )


def check_params(gm):
    """Fail with one sentence on semantic errors of the shared options; returns the normalized symbols or None."""
    params = gm.params
    if params["max_age"] <= 0:
        gm.fail("max_age must be greater than 0 seconds, got %s." % params["max_age"])
    if params["fresh_age"] <= 0:
        gm.fail("fresh_age must be greater than 0 seconds, got %s." % params["fresh_age"])
    if params["fresh_age"] > params["max_age"]:
        gm.fail("fresh_age (%s s) must not be larger than max_age (%s s)." % (params["fresh_age"], params["max_age"]))
    if params["symbols"] is None:
        return None
    symbols, invalid = [], []
    for symbol in params["symbols"]:
        value = str(symbol).strip().upper()
        if not SYMBOL_RE.match(value):
            invalid.append(str(symbol))
        elif value not in symbols:
            symbols.append(value)
    if invalid:
        gm.fail("symbols holds invalid symbols %s: use exchange symbols like BTCUSDT." % ", ".join(invalid))
    if not symbols:
        gm.fail("symbols is empty: name the symbols to check, or leave it unset to check every ticker the node reports.")
    return symbols


def _num(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_feed(api):
    """The raw `GET /admin/websocket` answer as a dict (GenesisApiError on failure)."""
    data = api.get(WEBSOCKET_PATH).data
    if not isinstance(data, dict):
        raise GenesisApiError("Control API GET %s%s answered without a JSON object." % (api.endpoint, WEBSOCKET_PATH))
    return data


def evaluate(doc, symbols, max_age, fresh_age, fetched_at):
    """The feed's state against the thresholds: what is stale, what is disconnected, and the reasons."""
    mode = doc.get("mode") if doc.get("mode") in MODES else "websocket"
    raw_connections = doc.get("connections") if isinstance(doc.get("connections"), dict) else {}
    raw_tickers = doc.get("tickers") if isinstance(doc.get("tickers"), dict) else {}
    wanted = list(symbols) if symbols else sorted(raw_tickers)

    tickers = {}
    stale, not_fresh = [], []
    for symbol in wanted:
        entry = raw_tickers.get(symbol) if isinstance(raw_tickers.get(symbol), dict) else {}
        age = _num(entry.get("age_s"))
        tickers[symbol] = dict(price=_num(entry.get("price")), age_s=age, source=entry.get("source"),
                               updated_ts=round(fetched_at - age, 3) if age is not None else None)
        if age is None or age > max_age:
            stale.append(symbol)
        if age is None or age > fresh_age:
            not_fresh.append(symbol)

    connections = {}
    disconnected, silent = [], []
    for name in sorted(raw_connections):
        entry = raw_connections[name] if isinstance(raw_connections[name], dict) else {}
        state = entry.get("state") or "unknown"
        message_age = _num(entry.get("last_message_age_s"))
        connections[name] = dict(state=state, last_message_age_s=message_age, since=entry.get("since"),
                                 last_error=entry.get("last_error"))
        if state != "connected":
            disconnected.append(name)
        elif message_age is None or message_age > max_age:
            silent.append(name)

    websocket_healthy = bool(connections) and not disconnected and not silent
    reasons = []
    if not wanted:
        reasons.append("the node reports no ticker at all")
    for symbol in stale:
        age = tickers[symbol]["age_s"]
        reasons.append("%s price is %s (max %s s)" % (symbol, "missing" if age is None else "%s s old" % round(age, 1),
                                                      _fmt(max_age)))
    if not connections:
        reasons.append("the node reports no websocket connection")
    for name in disconnected:
        error = connections[name]["last_error"]
        reasons.append("websocket %s is %s%s" % (name, connections[name]["state"], " (%s)" % error if error else ""))
    for name in silent:
        age = connections[name]["last_message_age_s"]
        reasons.append("websocket %s is connected but silent for %s" % (name, "ever" if age is None else "%s s" % round(age, 1)))
    if mode == "rest" and websocket_healthy:
        reasons.append("the REST fallback is still active although every websocket is connected")

    return dict(
        mode=mode,
        fallback_active=mode == "rest",
        degraded=mode == "rest",
        connections=connections,
        tickers=tickers,
        stale=stale,
        not_fresh=not_fresh,
        disconnected=disconnected,
        silent=silent,
        websocket_healthy=websocket_healthy,
        fresh=bool(wanted) and not not_fresh,
        max_ticker_age_s=max([t["age_s"] for t in tickers.values() if t["age_s"] is not None] or [None]) if tickers else None,
        healthy=not reasons,
        reasons=reasons,
    )


def _fmt(value):
    return int(value) if float(value).is_integer() else value


def probe_exchange(exchange):
    """Reachability of the configured exchange: ping (weight 1) then system status (weight 1). Never raises."""
    result = dict(url=redact_url(exchange.base_url), reachable=False, ok=False, latency_ms=None, status=None,
                  msg=None, status_code=None, used_weight=None, error=None)
    try:
        answer = exchange.ping()
        result.update(reachable=True, ok=True, latency_ms=answer.elapsed_ms, status_code=answer.status,
                      used_weight=answer.used_weight)
    except ExchangeError as exc:
        result.update(reachable=not exc.unreachable, status_code=exc.status, used_weight=exc.used_weight, error=exc.message)
        return result
    try:
        status = exchange.system_status().data
        if isinstance(status, dict):
            result.update(status=status.get("status"), msg=status.get("msg"))
    except ExchangeError as exc:
        # the ping answered: the exchange is reachable; its status endpoint is only context
        result["msg"] = "system status unavailable: %s" % clause(exc.message)
    return result


def program_state(socket_path, program, timeout):
    """The supervisor state of one program (`genesis:market_data`). Never raises."""
    result = dict(name=program, state=None, pid=None, error=None)
    if not socket_path:
        result["error"] = "supervisor_socket is not set"
        return result
    try:
        for info in SupervisorClient(socket_path, timeout=timeout).get_all_process_info():
            if program in (info["fullname"], info["ctl_name"]):
                result.update(state=info["statename"], pid=info["pid"])
                return result
        result["error"] = "supervisord has no program %s" % program
    except GenesisSupervisorError as exc:
        result["error"] = exc.message
    return result


def condition_met(state, wait_for, first_seen):
    """Whether a polled state satisfies `wait_for` (first_seen: symbol -> updated_ts of the first read)."""
    if wait_for == "websocket":
        return state["websocket_healthy"] and state["fresh"]
    if wait_for == "fresh":
        return state["fresh"]
    if wait_for == "updating":
        return state["fresh"] and updating(state, first_seen)
    return True


def updating(state, first_seen):
    """True when every ticker's timestamp moved forward since the first read."""
    if not state["tickers"]:
        return False
    for symbol, ticker in state["tickers"].items():
        before = first_seen.get(symbol)
        if ticker["updated_ts"] is None or before is None or ticker["updated_ts"] <= before + UPDATE_EPSILON:
            return False
    return True


def observe(api, symbols, max_age, fresh_age, wait_for="none", wait_timeout=0, stable_for=2.0, clock=None, sleep=None):
    """Read the feed, polling every POLL_INTERVAL seconds up to wait_timeout until `wait_for` holds.

    The condition must hold on every poll for `stable_for` seconds, so a stream that connects
    for a moment and drops again is not taken for a recovered feed. Returns the last evaluated
    state plus `waited_s`, `condition_met` and `prices_updating` (None when nothing was
    waited for). Raises GenesisApiError.
    """
    clock = clock or time.time
    sleep = sleep or time.sleep
    started = clock()
    deadline = started + max(0, wait_timeout)
    polls = int(math.ceil(max(0, wait_timeout) / POLL_INTERVAL)) + 1
    first_seen = None
    state = None
    met = False
    met_since = None
    for attempt in range(polls):
        fetched_at = clock()
        state = evaluate(read_feed(api), symbols, max_age, fresh_age, fetched_at)
        if first_seen is None:
            first_seen = dict((s, t["updated_ts"]) for s, t in state["tickers"].items())
        if wait_for == "none":
            break
        if condition_met(state, wait_for, first_seen):
            met_since = fetched_at if met_since is None else met_since
            met = fetched_at - met_since >= stable_for
        else:
            met_since = None
            met = False
        if met or clock() >= deadline or attempt + 1 == polls:
            break
        sleep(POLL_INTERVAL)
    state["waited_s"] = round(clock() - started, 1)
    state["wait_for"] = wait_for
    state["condition_met"] = met if wait_for != "none" else None
    state["prices_updating"] = updating(state, first_seen) if wait_for == "updating" else None
    return state


def market_keys(cache, symbols):
    """The market-data keys to consider: per named symbol, or every market:ticker:* / orderbook:* key (SCAN)."""
    if symbols:
        return [prefix + symbol for prefix in KEY_PREFIXES for symbol in symbols]
    keys = []
    for prefix in KEY_PREFIXES:
        keys.extend(k for k in cache.scan_keys(prefix + "*") if SYMBOL_RE.match(k[len(prefix):]))
    return keys


def stale_keys(cache, symbols, max_age, now=None):
    """(stale, unreadable): market-data keys whose `ts` is older than max_age, and those without a readable `ts`."""
    now = time.time() if now is None else now
    stale, unreadable = {}, []
    for key in market_keys(cache, symbols):
        data = cache.hgetall(key)
        if not data:
            continue
        ts = _num(data.get("ts"))
        if ts is None:
            unreadable.append(key)
        elif now - ts > max_age:
            stale[key] = round(now - ts, 1)
    return stale, unreadable


def delete_if_older(cache, key, cutoff):
    """Atomically delete one market-data key while its `ts` is older than cutoff; True when it was deleted."""
    if not key.startswith(KEY_PREFIXES):
        raise GenesisCacheError("%s: refusing to delete %s, which is not a market-data key." % (cache.endpoint, key))
    deleted = cache.run_script("conditional DEL %s" % key, DELETE_IF_OLDER_LUA, [key], ["%.3f" % cutoff])
    return bool(deleted)
