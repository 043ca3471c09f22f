# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Comparison of the node's Redis order books with the exchange's depth (runbook scenario 13)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import time

from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCacheError
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError

KEY_PREFIX = "orderbook:"
DEPTH_LIMIT = 20
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")


def book_key(symbol):
    return KEY_PREFIX + symbol


def normalize_symbols(symbols):
    """Upper-cased, de-duplicated symbols; returns (symbols, invalid)."""
    seen = []
    invalid = []
    for symbol in symbols or []:
        value = str(symbol).strip().upper()
        if not SYMBOL_RE.match(value):
            invalid.append(str(symbol))
        elif value not in seen:
            seen.append(value)
    return seen, invalid


def discover_symbols(cache):
    return [key[len(KEY_PREFIX):] for key in cache.scan_keys(KEY_PREFIX + "*") if SYMBOL_RE.match(key[len(KEY_PREFIX):])]


def _levels(raw):
    levels = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(levels, list):
        raise ValueError("not a list of levels")
    return [(float(level[0]), float(level[1])) for level in levels]


def _bps(numerator, denominator):
    return round(numerator / denominator * 10000.0, 2) if denominator else None


def summarize(bids, asks):
    """Best prices, spread, mid and crossing of a book given as [(price, qty)], best first."""
    best_bid = bids[0][0] if bids else None
    best_ask = asks[0][0] if asks else None
    info = dict(best_bid=best_bid, best_ask=best_ask, bid_levels=len(bids), ask_levels=len(asks), crossed=None,
                spread_bps=None, mid=None)
    if best_bid is not None and best_ask is not None:
        info["crossed"] = best_bid >= best_ask
        info["mid"] = (best_bid + best_ask) / 2.0
        info["spread_bps"] = _bps(best_ask - best_bid, info["mid"])
    return info


def compare(cache, exchange, symbol, tolerance_bps, max_age, now=None):
    """One symbol's comparison. The exchange snapshot is kept under `_snapshot` for a resync (strip before returning)."""
    now = time.time() if now is None else now
    entry = dict(symbol=symbol, key=book_key(symbol), in_sync=False, reasons=[], local=None, exchange=None,
                 deviation_bps=None, tolerance_bps=tolerance_bps, _snapshot=None)
    raw = cache.hgetall(book_key(symbol))
    local = None
    if not raw:
        entry["reasons"].append("%s is missing in Redis" % book_key(symbol))
    else:
        try:
            bids, asks = _levels(raw.get("bids")), _levels(raw.get("asks"))
            local = summarize(bids, asks)
            try:
                local["age_s"] = round(now - float(raw.get("ts")), 3)
            except (TypeError, ValueError):
                local["age_s"] = None
            local["lastUpdateId"] = raw.get("lastUpdateId")
        except (TypeError, ValueError, IndexError) as exc:
            entry["reasons"].append("%s is unreadable (%s)" % (book_key(symbol), exc))
        entry["local"] = local
    try:
        depth = exchange.depth(symbol, DEPTH_LIMIT).data
        remote = summarize(_levels(depth.get("bids") or []), _levels(depth.get("asks") or []))
        remote["lastUpdateId"] = depth.get("lastUpdateId")
        entry["exchange"] = remote
        entry["_snapshot"] = depth
    except ExchangeError as exc:
        if exc.unreachable or exc.status in (418, 429):
            raise
        entry["exchange"] = dict(error=exc.message)
        entry["reasons"].append("the exchange has no depth for it (%s)" % exc.message.rstrip("."))
        remote = None
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        entry["exchange"] = dict(error="unreadable depth answer (%s)" % exc)
        entry["reasons"].append("the exchange's depth answer is unreadable")
        remote = None

    if local is not None:
        if local["best_bid"] is None or local["best_ask"] is None:
            entry["reasons"].append("the local book has an empty side")
        elif local["crossed"]:
            entry["reasons"].append("the local book is crossed (best bid %s >= best ask %s)" % (local["best_bid"], local["best_ask"]))
        if local.get("age_s") is None:
            entry["reasons"].append("the local book has no valid ts")
        elif max_age and local["age_s"] > max_age:
            entry["reasons"].append("the local book is %s s old (max %s s)" % (round(local["age_s"], 1), max_age))
    if local is not None and remote is not None and local["mid"] is not None and remote["mid"]:
        entry["deviation_bps"] = _bps(abs(local["mid"] - remote["mid"]), remote["mid"])
        if entry["deviation_bps"] > tolerance_bps:
            entry["reasons"].append("the mid-price deviates %s bps from the exchange (tolerance %s bps)"
                                    % (entry["deviation_bps"], tolerance_bps))
    entry["in_sync"] = not entry["reasons"]
    return entry


def public(entry):
    return dict((k, v) for k, v in entry.items() if not k.startswith("_"))


def snapshot_mapping(depth, now=None):
    """The contract's orderbook:<SYMBOL> hash for an exchange depth answer (20 levels, best first, ts now)."""
    now = time.time() if now is None else now
    return {
        "bids": json.dumps((depth.get("bids") or [])[:DEPTH_LIMIT]),
        "asks": json.dumps((depth.get("asks") or [])[:DEPTH_LIMIT]),
        "lastUpdateId": str(depth.get("lastUpdateId", "")),
        "ts": "%.3f" % now,
    }


def orderbook_argument_spec():
    return dict(
        symbols=dict(type="list", elements="str"),
        tolerance_bps=dict(type="float", default=10),
        max_age=dict(type="float", default=10),
    )


def compare_all(gm):
    """Compare every symbol for genesis_orderbook_info and genesis_orderbook.

    Returns (entries by symbol, warnings, exchange client, cache client); fails the module
    with one sentence on bad input or an unreachable Redis or exchange.
    """
    params = gm.params
    if params["tolerance_bps"] <= 0:
        gm.fail("tolerance_bps must be greater than 0, got %s." % params["tolerance_bps"])
    if params["max_age"] < 0:
        gm.fail("max_age must be 0 or more seconds, got %s." % params["max_age"])
    warnings = []
    cache = gm.cache("read the order books")
    exchange = gm.exchange("read the exchange's depth")
    try:
        if params["symbols"] is not None:
            symbols, invalid = normalize_symbols(params["symbols"])
            if invalid:
                gm.fail("symbols holds invalid symbols %s: use exchange symbols like BTCUSDT." % ", ".join(invalid))
            if not symbols:
                gm.fail("symbols is empty: name the symbols to compare, or leave it unset to compare every orderbook:* key.")
        else:
            symbols = discover_symbols(cache)
            if not symbols:
                warnings.append("Redis has no orderbook:* key and no symbols were given: nothing was compared.")
        entries = {}
        for symbol in symbols:
            entries[symbol] = compare(cache, exchange, symbol, params["tolerance_bps"], params["max_age"])
    except (GenesisCacheError, ExchangeError) as exc:
        gm.fail(exc.message)
    return entries, warnings, exchange, cache
