# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Risk helpers of the tilt, position and emergency modules (docs/genesis-contract.md sections 3.2, 3.3, 3.8, 6, 7).

Pure functions (no I/O) so they can be unit tested on their own: tier limits and position
violations, exchange lot filters and order quantities, price moves from 1 s klines.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import decimal
import math

from ansible_collections.genesis.runbook.plugins.module_utils._common import parse_iso

PHRASE_CLOSE = "CLOSE ALL POSITIONS"
LIMIT_SOURCES = ("max_position_size", "effective_max_position_size")
DEFAULT_TIERS = {"SNIPER": 100.0, "HUNTER": 500.0, "STRATEGIST": 2000.0, "ARCHITECT": 10000.0}


def number(value, default=None):
    """A JSON number or numeric string as float; default when missing or not a finite number."""
    if value is None or isinstance(value, bool):
        return default
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    if math.isnan(result) or math.isinf(result):
        return default
    return result


def tier_limit(tier, source="max_position_size", override=None):
    """The position limit in USDT from a GET /config/tier answer (or the override when given)."""
    if override is not None:
        return float(override)
    tier = tier or {}
    value = number(tier.get(source))
    if value is None and source == "effective_max_position_size":
        base = number(tier.get("max_position_size"))
        factor = number(tier.get("limits_factor"), 1.0)
        value = base * factor if base is not None else None
    if value is None:
        value = DEFAULT_TIERS.get(tier.get("tier"))
    return value


def violations(positions, limit):
    """Open positions whose dollar_value exceeds limit, largest excess first."""
    found = []
    for position in positions or []:
        if str(position.get("status", "OPEN")).upper() != "OPEN":
            continue
        value = number(position.get("dollar_value"), 0.0)
        if limit is not None and value > limit:
            entry = dict((k, position.get(k)) for k in ("position_id", "symbol", "side", "quantity", "current_price",
                                                        "entry_price", "dollar_value"))
            entry["limit"] = limit
            entry["excess"] = round(value - limit, 8)
            found.append(entry)
    return sorted(found, key=lambda v: -v["excess"])


def lot_filter(exchange_info, symbol):
    """{step, min_qty, min_notional} of a symbol from a GET /api/v3/exchangeInfo answer, or None."""
    for entry in (exchange_info or {}).get("symbols") or []:
        if entry.get("symbol") != symbol:
            continue
        result = dict(step=None, min_qty=None, min_notional=0.0, status=entry.get("status"))
        for item in entry.get("filters") or []:
            kind = item.get("filterType")
            if kind == "LOT_SIZE":
                result["step"] = str(item.get("stepSize"))
                result["min_qty"] = str(item.get("minQty"))
            elif kind in ("MIN_NOTIONAL", "NOTIONAL"):
                result["min_notional"] = number(item.get("minNotional"), 0.0)
        if result["step"] is None:
            return None
        return result
    return None


def _dec(value):
    return decimal.Decimal(str(value))


def fmt_qty(value):
    """A quantity as the exchange expects it: plain decimal notation, no exponent, no trailing zeros."""
    text = format(_dec(value).normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def reduction(quantity, price, target_value, lot):
    """How much of a position to sell (or buy back) so that its value is at most target_value.

    Returns {reduce_qty, remaining_qty, remaining_value, close_whole} with quantities as strings on the
    lot step. close_whole is true when what would remain is under the lot's minimum quantity or
    minimum notional (then only closing the whole position brings it within the limit).
    """
    qty = _dec(quantity)
    step = _dec(lot["step"])
    min_qty = _dec(lot.get("min_qty") or lot["step"])
    px = _dec(price)
    keep = (_dec(max(target_value, 0.0)) / px / step).to_integral_value(rounding=decimal.ROUND_FLOOR) * step
    keep = min(keep, qty)
    reduce_qty = qty - keep
    close_whole = keep <= 0 or keep < min_qty or float(keep * px) < float(lot.get("min_notional") or 0.0)
    if close_whole:
        reduce_qty, keep = qty, _dec(0)
    return dict(reduce_qty=fmt_qty(reduce_qty), remaining_qty=fmt_qty(keep),
                remaining_value=round(float(keep * px), 8), close_whole=close_whole)


def closing_side(position_side):
    """The order side that reduces a position: SELL for LONG, BUY for SHORT."""
    return "BUY" if str(position_side).upper() == "SHORT" else "SELL"


def fill_summary(answer, fallback_qty):
    """(executed_qty, average_price, exchange_order_id, status) of a POST /api/v3/order answer."""
    answer = answer if isinstance(answer, dict) else {}
    executed = number(answer.get("executedQty"))
    quote = number(answer.get("cummulativeQuoteQty"))
    price = None
    fills = answer.get("fills") or []
    if fills:
        total_qty = sum(number(f.get("qty"), 0.0) for f in fills)
        if total_qty > 0:
            price = sum(number(f.get("price"), 0.0) * number(f.get("qty"), 0.0) for f in fills) / total_qty
            if executed is None:
                executed = total_qty
    if price is None and executed and quote:
        price = quote / executed
    if price is None:
        price = number(answer.get("price")) or None
    if executed is None:
        executed = number(fallback_qty, 0.0)
    exchange_order_id = answer.get("orderId")
    return executed, price, str(exchange_order_id) if exchange_order_id is not None else None, answer.get("status")


def max_move(klines, window_s):
    """The largest price move, in percent, between two closes at most window_s seconds apart.

    klines are Binance rows [open_time_ms, open, high, low, close, ...]. Returns
    {move_percent, direction, from_price, to_price, from_time_ms, to_time_ms} (move 0 without data).
    """
    points = []
    for row in klines or []:
        try:
            points.append((int(row[0]), float(row[4])))
        except (TypeError, ValueError, IndexError):
            continue
    points.sort()
    best = dict(move_percent=0.0, direction=None, from_price=None, to_price=None, from_time_ms=None, to_time_ms=None)
    window_ms = float(window_s) * 1000.0
    start = 0
    for j, (t_j, p_j) in enumerate(points):
        while points[start][0] < t_j - window_ms:
            start += 1
        for i in range(start, j):
            t_i, p_i = points[i]
            if p_i <= 0:
                continue
            move = abs(p_j - p_i) / p_i * 100.0
            if move > best["move_percent"]:
                best = dict(move_percent=round(move, 4), direction="down" if p_j < p_i else "up", from_price=p_i,
                            to_price=p_j, from_time_ms=t_i, to_time_ms=t_j)
    return best


def symbol_move(exchange, symbol, window_s, lookback_s):
    """The largest move of one symbol over the last lookback_s 1-second klines (GET /api/v3/klines), with the sample count.

    ExchangeError propagates: the caller decides whether an unreachable exchange is evidence or a failure.
    """
    query = [("symbol", symbol), ("interval", "1s"), ("limit", lookback_s)]
    rows = exchange.request("GET", "/api/v3/klines", query).data
    rows = rows if isinstance(rows, list) else []
    move = max_move(rows, window_s)
    move["samples"] = len(rows)
    return move


def move_reason(symbol, move, window_s):
    return "%s moved %.1f %% %s within %s s" % (symbol, move["move_percent"], move["direction"], window_s)


def age_seconds(text, now):
    """Seconds between an ISO 8601 timestamp and now (epoch seconds), or None."""
    stamp = parse_iso(text)
    return None if stamp is None else now - stamp
