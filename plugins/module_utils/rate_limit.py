# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Exchange rate limiting of a genesis node (runbook scenario 7, docs/genesis-contract.md section 3.6).

The node's own view comes from `GET /admin/rate-limits`; the exchange's current view of the
node's API key comes from a probe with that key (`GET /api/v3/ping`, weight 1, or the signed
`GET /api/v3/account`, weight 20), whose `X-MBX-USED-WEIGHT-1M` is the weight used right now.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import parse_iso, redact_url
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError

RATE_LIMITS_PATH = "/admin/rate-limits"
QUEUE_CLEAR_PATH = "/admin/request-queue/clear"
EXCHANGE_LIMIT = 1200          # Binance spot: 1200 request weight per minute (REAL)
RECENT_429_S = 300             # the window of the API's recent_429 count
PROBES = ("none", "ping", "signed")
WAIT_FOR = ("none", "reset", "quiet")
POLL_INTERVAL = 1.0


def _num(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_state(api):
    """The raw `GET /admin/rate-limits` answer as a dict (GenesisApiError on failure)."""
    data = api.get(RATE_LIMITS_PATH).data
    if not isinstance(data, dict):
        raise GenesisApiError("Control API GET %s%s answered without a JSON object." % (api.endpoint, RATE_LIMITS_PATH))
    return data


def probe(exchange, kind):
    """One call to the exchange with the node's key. Never raises: an error is part of the answer."""
    if kind == "none" or exchange is None:
        return None
    result = dict(kind=kind, url=redact_url(exchange.base_url), skipped=False, ok=False, reachable=False, status_code=None,
                  used_weight=None, retry_after=None, rate_limited=False, error=None)
    try:
        answer = exchange.account() if kind == "signed" else exchange.ping()
        result.update(ok=True, reachable=True, status_code=answer.status, used_weight=answer.used_weight)
    except ExchangeError as exc:
        result.update(reachable=not exc.unreachable, status_code=exc.status, used_weight=exc.used_weight,
                      retry_after=exc.retry_after, rate_limited=exc.status in (418, 429), error=exc.message)
    return result


def skipped_probe(exchange, kind, until):
    """The probe not sent because a Retry-After runs: calling during it extends a ban (HTTP 418)."""
    return dict(kind=kind, url=redact_url(exchange.base_url), skipped=True, ok=None, reachable=None, status_code=None,
                used_weight=None, retry_after=None, rate_limited=False,
                error="not called: a Retry-After runs until %s" % until)


def evaluate(doc, probed, target_limit, warn_ratio, quiet_window, now):
    """The node's rate-limit state against the thresholds, with the reasons it is a fault."""
    exchange_limit = int(_num(doc.get("exchange_limit")) or EXCHANGE_LIMIT)
    node_used = _num(doc.get("used_weight_1m"))
    # The probe's header is the exchange's count right now; the node's is the last one it saw.
    used = probed["used_weight"] if probed and probed.get("used_weight") is not None else node_used
    usage_ratio = round(used / float(exchange_limit), 4) if used is not None else None
    protection = doc.get("protection") is True
    limit = _num(doc.get("limit_per_minute"))
    recent_429 = int(_num(doc.get("recent_429")) or 0)
    last_429_ts = parse_iso(doc.get("last_429_at"))
    since_429 = round(now - last_429_ts, 1) if last_429_ts is not None else None
    until_ts = parse_iso(doc.get("retry_after_until"))
    retry_remaining = max(0.0, until_ts - now) if until_ts is not None else 0.0
    rate_limited_now = bool(probed and probed.get("rate_limited"))
    if rate_limited_now and probed.get("retry_after") is not None:
        # the exchange's own Retry-After for the node's key counts as much as the node's record of it
        retry_remaining = max(retry_remaining, float(probed["retry_after"]))
    retry_remaining = round(retry_remaining, 1)
    protected = protection and limit is not None and limit <= target_limit

    reasons = []
    if usage_ratio is not None and usage_ratio >= warn_ratio:
        reasons.append("used weight %d of %d is %d %% of the exchange limit (warning at %d %%)"
                       % (used, exchange_limit, round(usage_ratio * 100), round(warn_ratio * 100)))
    if since_429 is not None and since_429 < quiet_window:
        reasons.append("the last 429 was %s s ago, within the %d s quiet window" % (since_429, quiet_window))
    if retry_remaining > 0:
        reasons.append("the exchange's Retry-After runs for another %s s" % retry_remaining)
    if rate_limited_now:
        reasons.append("the exchange answers %s to the node's key" % probed.get("status_code"))
    if recent_429 and not protection:
        reasons.append("%d 429s in the last %d s with rate-limit protection off" % (recent_429, RECENT_429_S))
    elif recent_429 and limit is not None and limit > target_limit:
        reasons.append("%d 429s in the last %d s with limit_per_minute %d above %d"
                       % (recent_429, RECENT_429_S, limit, target_limit))

    quiet = (since_429 is None or since_429 >= quiet_window) and retry_remaining == 0 and not rate_limited_now
    return dict(
        exchange_limit=exchange_limit,
        used_weight=int(used) if used is not None else None,
        node_used_weight=int(node_used) if node_used is not None else None,
        usage_ratio=usage_ratio,
        under_limit=usage_ratio is not None and usage_ratio < warn_ratio,
        protection=protection,
        limit_per_minute=int(limit) if limit is not None else None,
        protected=protected,
        recent_429=recent_429,
        last_429_at=doc.get("last_429_at"),
        seconds_since_last_429=since_429,
        retry_after_until=doc.get("retry_after_until"),
        retry_after_remaining_s=retry_remaining,
        queue_length=int(_num(doc.get("queue_length")) or 0),
        quiet=quiet,
        calls_ok=probed["ok"] if probed and not probed.get("skipped") else None,
        fault=bool(reasons),
        reasons=reasons,
    )


def node_side_met(state, wait_for):
    """The part of `wait_for` the node's own answer can tell, before the exchange is called."""
    if wait_for == "reset":
        return state["retry_after_remaining_s"] == 0
    if wait_for == "quiet":
        return state["quiet"] and state["under_limit"]
    return True


def condition_met(state, wait_for):
    probed = state["probe"]
    if wait_for == "reset":
        return state["retry_after_remaining_s"] == 0 and not (probed and (probed["skipped"] or probed["rate_limited"]))
    if wait_for == "quiet":
        return state["quiet"] and state["under_limit"] and (probed is None or probed["ok"] is True)
    return True


def observe(api, exchange, probe_kind, target_limit, warn_ratio, quiet_window, wait_for="none", wait_timeout=0,
            clock=None, sleep=None):
    """Read once, or poll the node every POLL_INTERVAL up to wait_timeout until `wait_for` holds.

    The exchange is called only when the node's own answer already satisfies the wait (a
    signed probe weighs 20: probing every second would itself eat the budget), and never
    while a Retry-After runs. Waiting for `reset` gives up at once when the Retry-After
    ends beyond the bound: honouring it is then the node's own job (protection pauses it).
    Raises GenesisApiError.
    """
    clock = clock or time.time
    sleep = sleep or time.sleep
    started = clock()
    deadline = started + max(0, wait_timeout)
    polls = int(math.ceil(max(0, wait_timeout) / POLL_INTERVAL)) + 1
    hold_until = 0.0            # a 429 to our own probe: no probe before its Retry-After ends
    state = None
    met = False
    beyond_bound = False
    for attempt in range(polls):
        doc = read_state(api)
        now = clock()
        state = evaluate(doc, None, target_limit, warn_ratio, quiet_window, now)
        probed = None
        if probe_kind != "none" and exchange is not None and node_side_met(state, wait_for):
            if state["retry_after_remaining_s"] > 0 or now < hold_until:
                probed = skipped_probe(exchange, probe_kind, doc.get("retry_after_until") or "the probe's Retry-After")
            else:
                probed = probe(exchange, probe_kind)
                if probed["rate_limited"]:
                    hold_until = now + float(probed["retry_after"] or 60)
            state = evaluate(doc, probed, target_limit, warn_ratio, quiet_window, now)
        state.update(probe=probed, rate_limits=doc)
        if wait_for == "none":
            break
        met = condition_met(state, wait_for)
        if met:
            break
        if wait_for == "reset" and now + state["retry_after_remaining_s"] > deadline:
            beyond_bound = True
            break
        if clock() >= deadline or attempt + 1 == polls:
            break
        sleep(POLL_INTERVAL)
    state["waited_s"] = round(clock() - started, 1)
    state["condition_met"] = met if wait_for != "none" else None
    state["beyond_bound"] = beyond_bound
    return state
