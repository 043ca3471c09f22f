#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_orderbook
short_description: Resynchronize a genesis node's desynchronized order books from the exchange (runbook scenario 13)
version_added: 0.1.0
description:
  - Compares each symbol's Redis hash C(orderbook:<SYMBOL>) with the exchange's depth exactly like
    M(genesis.runbook.genesis_orderbook_info).
  - For the symbols not in sync only, replaces that one key (C(DEL) and C(HSET) in one C(MULTI)) with the exchange
    snapshot in the contract's format (C(bids), C(asks) as JSON, 20 levels best first, C(lastUpdateId), C(ts) now).
    No other key is touched and the database is never flushed.
  - Writes one C(RUNBOOK_ACTION) audit event per resynchronized symbol with the best prices before and after,
    so O(db_dsn) is needed when a book is to be replaced.
  - A market-data process that keeps a corrupted book in memory will overwrite the fix; restart it through
    supervisor first (the orderbook_sync role does), then run this module.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
  - genesis.runbook.orderbook
attributes:
  check_mode:
    description: Reports which books would be resynchronized; nothing is written.
    support: full
  diff_mode:
    description: Shows each replaced book's best bid and ask before and after.
    support: full
options:
  state:
    description:
      - C(synced) replaces the books that are not in sync with the exchange's.
    type: str
    choices: [synced]
    default: synced
requirements:
  - redis (redis-py) and psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Resynchronize the desynchronized books
  genesis.runbook.genesis_orderbook:
    state: synced
    symbols: [BTCUSDT, ETHUSDT, SOLUSDT]
    tolerance_bps: 10
    scenario: "13"
  register: resync
'''

RETURN = r'''
resynced:
  description: The symbols whose book was replaced (in check mode, those that would be).
  returned: always
  type: list
  elements: str
  sample: [BTCUSDT]
symbols:
  description: Per symbol, the comparison before (C(in_sync_before), C(reasons)) and the best prices before and after.
  returned: always
  type: dict
  sample:
    BTCUSDT:
      in_sync_before: false
      reasons: ["the local book is crossed (best bid 65280.0 >= best ask 64000.0)"]
      before: {best_bid: 65280.0, best_ask: 64000.0, crossed: true, deviation_bps: 100.0, age_s: 0.4}
      after: {best_bid: 63999.9, best_ask: 64000.1, crossed: false, deviation_bps: 0.0, age_s: 0.0}
    ETHUSDT:
      in_sync_before: true
      reasons: []
      before: {best_bid: 3120.4, best_ask: 3120.6, crossed: false, deviation_bps: 0.3, age_s: 0.5}
      after: {best_bid: 3120.4, best_ask: 3120.6, crossed: false, deviation_bps: 0.3, age_s: 0.5}
in_sync:
  description: Whether every checked book is in sync after the run (in check mode, after the planned resync).
  returned: always
  type: bool
  sample: true
audit_events:
  description: The RUNBOOK_ACTION events written, one per resynchronized symbol; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4714, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 5}]
used_weight:
  description: The last C(X-MBX-USED-WEIGHT-1M) the exchange answered.
  returned: always
  type: int
  sample: 105
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCacheError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils import orderbook


def prices(entry, side="local"):
    book = entry.get(side) or {}
    return dict(best_bid=book.get("best_bid"), best_ask=book.get("best_ask"), crossed=book.get("crossed"),
                deviation_bps=entry.get("deviation_bps") if side == "local" else 0.0,
                age_s=book.get("age_s") if side == "local" else 0.0)


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(orderbook.orderbook_argument_spec())
    argument_spec.update(state=dict(type="str", choices=["synced"], default="synced"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_orderbook")
    entries, warnings, exchange, cache = orderbook.compare_all(gm)
    for warning in warnings:
        module.warn(warning)

    out = sorted(s for s, e in entries.items() if not e["in_sync"])
    unfixable = [s for s in out if entries[s]["_snapshot"] is None]
    if unfixable:
        gm.fail("The books of %s cannot be resynchronized because the exchange gave no depth for them: %s"
                % (", ".join(unfixable), clause(entries[unfixable[0]]["exchange"].get("error", "no depth"))))

    symbols = {}
    for symbol, entry in entries.items():
        before = prices(entry)
        after = prices(entry, "exchange") if symbol in out else before
        symbols[symbol] = dict(in_sync_before=entry["in_sync"], reasons=entry["reasons"], before=before, after=after)
    result = dict(changed=bool(out), resynced=list(out), symbols=symbols, in_sync=bool(entries), audit_events=[],
                  used_weight=exchange.used_weight)
    if out and module._diff:
        result["diff"] = dict(before=dict((s, symbols[s]["before"]) for s in out),
                              after=dict((s, symbols[s]["after"]) for s in out))
    if not out or module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of each order-book resync")
    try:
        audit = gm.connected_audit(db, "No order book was replaced")
        done = []
        for symbol in out:
            entry = entries[symbol]
            try:
                cache.replace_hash(orderbook.book_key(symbol), orderbook.snapshot_mapping(entry["_snapshot"]))
            except GenesisCacheError as exc:
                result.update(changed=bool(done), resynced=done, audit_events=[short_event(e) for e in audit.written])
                gm.fail("The book of %s was not replaced (%d replaced before it): %s" % (symbol, len(done), clause(exc.message)),
                        **result)
            done.append(symbol)
            try:
                audit.write_runbook_action(
                    "resync_orderbook", before=dict(symbol=symbol, **symbols[symbol]["before"]),
                    after=dict(symbol=symbol, **symbols[symbol]["after"]),
                    details=dict(reasons=entry["reasons"], tolerance_bps=module.params["tolerance_bps"],
                                 lastUpdateId=entry["_snapshot"].get("lastUpdateId")))
            except (GenesisDbError, AuditError) as exc:
                result.update(resynced=done, audit_events=[short_event(e) for e in audit.written])
                gm.fail("The book of %s was replaced but its audit event was not written: %s" % (symbol, clause(exc.message)),
                        **result)
        result.update(resynced=done, audit_events=[short_event(e) for e in audit.written])
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
