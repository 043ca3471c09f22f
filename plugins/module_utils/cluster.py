# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cluster views, the deterministic primary election and split-era records (runbook scenario 11).

A view is what one member reports about itself and its peers (GET /admin/cluster, contract 3.10),
normalised by view_from(). elect() takes the views of every member and names the one primary
that stays, by a fixed rule:

1. lease holder: the active primary (role primary, not fenced) that most other members name as
   the holder of a lease that is still valid in their own view;
2. most recent consistent state: the active primary that most other members last saw as the
   primary (their view of it, even a stale one from before the cut), i.e. the primary of the
   last state the members agreed on;
3. priority: the lower `priority` (config/node.yaml), then the node name.

Split-era records are the orders a losing node's primary-only strategies created while two
primaries were active (from the moment the second one appeared), and the positions those
orders opened, changed or closed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import iso, parse_iso
from ansible_collections.genesis.runbook.plugins.module_utils.db import plain as plain_value, plain_row as plain

FENCE_PHRASE = "HALT TRADING NOW"
OPEN_ORDER_STATUSES = ("PENDING", "PARTIAL")
RECONCILED_EVENT = {"order": "ORDER_RECONCILED", "position": "POSITION_RECONCILED"}

RULE = ("1. lease holder (the active primary most other members name as holder of a valid lease); "
        "2. most recent consistent state (the active primary most other members last saw as primary); "
        "3. priority (lower wins), then node name")

ORDER_COLUMNS = ("order_id", "account_id", "position_id", "client_order_id", "exchange_order_id", "symbol", "type", "side",
                 "price", "quantity", "filled_quantity", "status", "last_error", "strategy", "node", "created_at",
                 "executed_at")
POSITION_COLUMNS = ("position_id", "account_id", "symbol", "side", "entry_price", "current_price", "quantity",
                    "dollar_value", "pnl_dollars", "status", "close_reason", "created_at", "closed_at", "updated_at")

SPLIT_ORDERS_SQL = ("SELECT " + ", ".join(ORDER_COLUMNS) + " FROM orders WHERE node = %s AND strategy = ANY(%s) "
                    "AND created_at >= %s ORDER BY created_at, order_id LIMIT %s")
POSITIONS_SQL = "SELECT " + ", ".join(POSITION_COLUMNS) + " FROM positions WHERE position_id = ANY(%s) ORDER BY position_id"
AGGREGATE_EVENTS_SQL = ("SELECT aggregate_id, event_id, event_type, sequence_number, created_at FROM events "
                        "WHERE aggregate_id = ANY(%s) ORDER BY aggregate_id, sequence_number")
RECONCILED_SQL = ("SELECT aggregate_id, event_id, event_data FROM events WHERE aggregate_id = ANY(%s) "
                  "AND event_type = ANY(%s) ORDER BY event_id")
FENCE_RECORD_SQL = ("SELECT event_id, event_data, created_at FROM events WHERE aggregate_id = %s "
                    "AND event_type = 'RUNBOOK_ACTION' AND event_data->>'step' = %s ORDER BY sequence_number DESC LIMIT 1")


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def view_from(doc, now=None):
    """A member's view from its GET /admin/cluster document, with `lease.valid` computed at `now`."""
    now = time.time() if now is None else now
    doc = doc if isinstance(doc, dict) else {}
    lease = doc.get("lease") if isinstance(doc.get("lease"), dict) else {}
    expires = parse_iso(lease.get("expires_at"))
    peers = {}
    for name, peer in sorted((doc.get("peers") or {}).items()):
        peer = peer if isinstance(peer, dict) else {}
        peers[name] = dict(role=peer.get("role"), term=_int(peer.get("term"), 0), fenced=bool(peer.get("fenced")),
                           reachable=bool(peer.get("reachable")), last_seen_age_s=peer.get("last_seen_age_s"))
    return dict(node=doc.get("node"), cluster=doc.get("cluster"), role=doc.get("role"), term=_int(doc.get("term"), 0),
                fenced=bool(doc.get("fenced")), priority=_int(doc.get("priority")),
                split_brain=bool(doc.get("split_brain")), last_state_change=doc.get("last_state_change"),
                fenced_at=doc.get("fenced_at"),
                lease=dict(holder=lease.get("holder"), term=_int(lease.get("term"), 0), expires_at=lease.get("expires_at"),
                           valid=bool(expires is not None and expires > now)),
                peers=peers)


def is_active_primary(view):
    return view.get("role") == "primary" and not view.get("fenced")


def _rank_key(entry):
    priority = entry["priority"] if entry["priority"] is not None else 1 << 30
    return (-entry["lease_acks"], -entry["last_agreed"], priority, entry["node"])


def _decided_by(first, second):
    if first["lease_acks"] != second["lease_acks"]:
        return "lease holder"
    if first["last_agreed"] != second["last_agreed"]:
        return "most recent consistent state"
    if first["priority"] != second["priority"]:
        return "priority"
    return "node name"


def elect(views):
    """The election over every member's view (a list of view_from() results, or of
    genesis_cluster_info results carrying `view` and `reachable`). Pure: no I/O."""
    usable = []
    unreadable = []
    for item in views or []:
        if not isinstance(item, dict):
            continue
        view = item.get("view") if "view" in item else item
        view = view if isinstance(view, dict) else {}
        if item.get("reachable") is False or not view.get("node"):
            name = item.get("node") or view.get("node")
            if name:
                unreadable.append(name)
            continue
        usable.append(view)
    by_name = dict((v["node"], v) for v in usable)
    members = set(by_name) | set(unreadable)
    for view in usable:
        members.update(view.get("peers") or {})
    missing = sorted(m for m in members if m not in by_name and m not in unreadable)
    active = sorted(v["node"] for v in usable if is_active_primary(v))
    ranking = []
    for name in active:
        others = [w for w in usable if w["node"] != name]
        ranking.append(dict(
            node=name,
            term=by_name[name]["term"],
            priority=by_name[name]["priority"],
            since=by_name[name].get("last_state_change"),
            lease_acks=sum(1 for w in others if w["lease"]["holder"] == name and w["lease"]["valid"]),
            last_agreed=sum(1 for w in others
                            if (w["peers"].get(name) or {}).get("role") == "primary"
                            and not (w["peers"].get(name) or {}).get("fenced")),
        ))
    ranking.sort(key=_rank_key)
    result = dict(rule=RULE, members=sorted(members), missing=missing, unreadable=sorted(set(unreadable)),
                  complete=not missing and not unreadable, active_primaries=active, split_brain=len(active) > 1,
                  split_brain_reported=sorted(v["node"] for v in usable if v.get("split_brain")),
                  fenced_claiming_primary=sorted(v["node"] for v in usable if v.get("role") == "primary" and v.get("fenced")),
                  ranking=ranking, primary=None, fence=[], decided_by=None, split_started_at=None, reasons=[])
    reasons = result["reasons"]
    if missing or unreadable:
        reasons.append("no view of %s: every member must be in the play and its control API must answer"
                       % ", ".join(missing + sorted(set(unreadable))))
    if not active:
        reasons.append("no active primary (every member is standby or fenced); promoting one is an operator decision")
        return result
    result["primary"] = ranking[0]["node"]
    if len(ranking) == 1:
        result["decided_by"] = "only active primary"
    else:
        result["decided_by"] = _decided_by(ranking[0], ranking[1])
        result["fence"] = [entry["node"] for entry in ranking[1:]]
        starts = [parse_iso(entry["since"]) for entry in ranking]
        if all(s is not None for s in starts):
            # the split began when the last of the active primaries became primary
            result["split_started_at"] = iso(max(starts))
        reasons.append("split brain: %s all claim primary unfenced; %s stays primary (decided by %s), %s to be fenced"
                       % (", ".join(active), result["primary"], result["decided_by"], ", ".join(result["fence"])))
    for name in result["fenced_claiming_primary"]:
        reasons.append("%s is fenced but still claims role primary" % name)
    return result


def split_records(db, node, strategies, since, limit=1000):
    """The orders `node`'s primary-only `strategies` created since `since` (epoch seconds), the positions
    they reference, and every order's and position's event summary. Read-only."""
    import datetime
    since_dt = datetime.datetime.fromtimestamp(since, datetime.timezone.utc)
    orders = [plain(r) for r in db.query(SPLIT_ORDERS_SQL, (node, list(strategies), since_dt, limit),
                                         what="listing split-era orders")]
    position_ids = sorted(set(o["position_id"] for o in orders if o.get("position_id")))
    positions = [plain(r) for r in db.query(POSITIONS_SQL, (position_ids,), what="reading split-era positions")] \
        if position_ids else []
    aggregates = ["order:%s" % o["order_id"] for o in orders] + ["position:%s" % p["position_id"] for p in positions]
    events = {}
    if aggregates:
        for row in db.query(AGGREGATE_EVENTS_SQL, (aggregates,), what="reading the split-era audit events"):
            events.setdefault(row["aggregate_id"], []).append(dict(
                event_id=row["event_id"], event_type=row["event_type"], sequence_number=row["sequence_number"],
                created_at=plain_value(row["created_at"])))
    for order in orders:
        order["aggregate_id"] = "order:%s" % order["order_id"]
        order["events"] = events.get(order["aggregate_id"], [])
    for position in positions:
        position["aggregate_id"] = "position:%s" % position["position_id"]
        position["events"] = events.get(position["aggregate_id"], [])
    return dict(orders=orders, positions=positions)


def reconciled_aggregates(db, aggregates):
    """{aggregate_id: source_node} of the aggregates that already carry a *_RECONCILED event here."""
    if not aggregates:
        return {}
    found = {}
    for row in db.query(RECONCILED_SQL, (list(aggregates), sorted(RECONCILED_EVENT.values())),
                        what="looking up reconciled aggregates"):
        data = row.get("event_data") or {}
        found[row["aggregate_id"]] = data.get("source_node") if isinstance(data, dict) else None
    return found


def fence_record(db, node, step="fence_node"):
    """The details of the latest RUNBOOK_ACTION `step` on runbook:<node>, or None."""
    rows = db.query(FENCE_RECORD_SQL, ("runbook:%s" % node, step), what="reading the last fencing record")
    if not rows:
        return None
    data = rows[0].get("event_data") or {}
    details = data.get("details") if isinstance(data, dict) else None
    return dict(event_id=rows[0]["event_id"], created_at=plain_value(rows[0]["created_at"]), run_id=data.get("run_id"),
                details=details if isinstance(details, dict) else {})
