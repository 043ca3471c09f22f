# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Strategies of a genesis node through the control API (docs/genesis-contract.md section 3.7, runbook scenario 15)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

STATES = ("IDLE", "STARTING", "RUNNING", "PAUSED", "STOPPING", "STOPPED", "ERROR", "RECOVERING")
FAILING_STATES = ("ERROR",)

ORDERS_SINCE_SQL = (
    "SELECT status, count(*) AS n, min(created_at) AS first_at, max(created_at) AS last_at, "
    "max(quantity * coalesce(price, 0)) AS max_notional FROM orders "
    "WHERE strategy = %s AND node = %s AND created_at >= to_timestamp(%s) GROUP BY status ORDER BY status")


def read_strategies(api):
    """{name: view} from GET /admin/strategies."""
    data = api.get("/admin/strategies").data
    strategies = data.get("strategies") if isinstance(data, dict) else None
    if not isinstance(strategies, dict):
        raise ValueError("answered without a strategies object")
    return strategies


def failing_reasons(view, max_errors):
    """Why a strategy counts as failing: state ERROR or RECOVERING with errors, or more than max_errors in 5 min."""
    reasons = []
    state = view.get("state")
    errors = int(view.get("errors_last_5m") or 0)
    if state in FAILING_STATES:
        reasons.append("state %s (last error: %s)" % (state, view.get("last_error") or "none recorded"))
    elif errors > max_errors:
        reasons.append("%d errors in the last 5 minutes (at most %d accepted; last error: %s)"
                       % (errors, max_errors, view.get("last_error") or "none recorded"))
    return reasons


def would_change(view, action, safe_mode=False):
    """Whether POST /admin/strategies/<name>/<action> would change the strategy (mirrors the contract's rules)."""
    state = view.get("state") or "IDLE"
    enabled = bool(view.get("enabled", True))
    if action == "disable":
        return enabled or state != "STOPPED"
    if action == "enable":
        return (not enabled) or bool(view.get("safe_mode")) != bool(safe_mode) or state in ("STOPPED", "STOPPING", "ERROR", "IDLE")
    # reset: error state and counters (the parameters' defaults are known only to the node)
    return (int(view.get("errors_total") or 0) > 0 or bool(view.get("last_error")) or state in ("ERROR", "RECOVERING")
            or int(view.get("errors_last_5m") or 0) > 0)


def flags(view):
    return dict(state=view.get("state"), enabled=bool(view.get("enabled", True)), safe_mode=bool(view.get("safe_mode")))
