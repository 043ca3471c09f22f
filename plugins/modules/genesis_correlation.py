#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_correlation
short_description: Rebuild a genesis node's invalid correlation matrix (runbook scenario 12)
version_added: 0.1.0
description:
  - Validates the live matrix file and the C(position_correlations) rows exactly like
    M(genesis.runbook.genesis_correlation_info). When both are valid nothing is done.
  - Otherwise builds a new matrix from the first of O(sources) that gives a valid one.
    C(klines) computes the correlation of log returns of the exchange's candles
    (C(GET /api/v3/klines), O(interval), O(limit)) over the open times all symbols share;
    C(defaults) takes the node's C(config/default_correlations.json), itself validated first.
  - Writes the new matrix in one database transaction that upserts every C(position_correlations) pair (rows are
    updated, never deleted) and inserts one C(RUNBOOK_ACTION) event (step C(rebuild_correlations), the old values as
    C(before)); the live file is replaced atomically (temporary file and rename, mode kept) before that transaction
    commits, and put back if the commit fails.
  - When no source gives a valid matrix, fails with one sentence per source and changes nothing.
  - Rows of symbols outside O(symbols) are never deleted or rewritten; when one of them is invalid the module refuses,
    changing nothing, because a rebuild of O(symbols) could not make the table valid.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reads the candles or defaults and reports the matrix it would install; nothing is written.
    support: full
  diff_mode:
    description: Shows the matrix pairs before and after.
    support: full
options:
  state:
    description:
      - C(valid) rebuilds the matrix when the file or the database rows are invalid.
    type: str
    choices: [valid]
    default: valid
  symbols:
    description:
      - The symbols the matrix must cover (the node's C(node.yaml) symbols).
      - By default the symbols of the live matrix file, else those of the defaults file.
    type: list
    elements: str
  state_file:
    description:
      - The live matrix the strategies read. Defaults to C(<genesis_home>/.genesis/state/correlation_matrix.json).
    type: path
  defaults_file:
    description:
      - The fallback matrix shipped with the configuration. Defaults to C(<genesis_home>/config/default_correlations.json).
    type: path
  check_db:
    description:
      - Also check and rewrite the C(position_correlations) table. The audit event needs O(db_dsn) in any case.
    type: bool
    default: true
  sources:
    description:
      - Where to take the new matrix from, tried in this order.
    type: list
    elements: str
    choices: [klines, defaults]
    default: [klines, defaults]
  interval:
    description:
      - Candle interval of the price history (an exchange klines interval such as C(1m), C(15m), C(1h), C(1d)).
    type: str
    default: 1h
  limit:
    description:
      - How many candles per symbol to read (2 to 1000; weight 2 per symbol).
    type: int
    default: 168
  min_points:
    description:
      - Fewest shared returns accepted for a rebuild from klines (2 or more).
    type: int
    default: 24
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Rebuild the matrix from a week of hourly candles, else install the defaults
  genesis.runbook.genesis_correlation:
    state: valid
    symbols: [BTCUSDT, ETHUSDT, SOLUSDT]
    sources: [klines, defaults]
    interval: 1h
    limit: 168
    scenario: "12"
  register: rebuild

- name: Say where the new matrix came from
  ansible.builtin.debug:
    msg: "installed a matrix from {{ rebuild.source }}"
  when: rebuild is changed
'''

RETURN = r'''
source:
  description: Where the installed matrix came from (C(klines) or C(defaults)); null when nothing was needed.
  returned: always
  type: str
  sample: klines
reasons:
  description: Why the matrix was rebuilt (empty when it was valid).
  returned: always
  type: list
  elements: str
  sample: ["correlation_matrix.json: BTCUSDT/ETHUSDT = 1.35 is outside [-1, 1]"]
attempts:
  description: Each source tried, in order, with whether it gave a valid matrix and why not.
  returned: always
  type: list
  elements: dict
  sample: [{source: klines, ok: true, reason: null, points: 167}]
matrix:
  description: The matrix installed (in check mode, the one that would be); null when nothing was needed.
  returned: always
  type: dict
  sample: {symbols: [BTCUSDT, ETHUSDT], matrix: [[1.0, 0.81], [0.81, 1.0]], calculated_at: "2026-11-27T18:40:01.123Z",
           source: klines}
smallest_eigenvalue:
  description: Smallest eigenvalue of the installed matrix (positive semi-definite when not below -1e-9).
  returned: always
  type: float
  sample: 0.18
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode or when nothing changed.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4716, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 7}]
used_weight:
  description: The last C(X-MBX-USED-WEIGHT-1M) the exchange answered (null when it was not called).
  returned: always
  type: int
  sample: 12
'''

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisError, GenesisModule, clause, genesis_common_argument_spec, iso, utc_now,
)
from ansible_collections.genesis.runbook.plugins.module_utils import correlation
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import short_event

STEP = "rebuild_correlations"


def from_klines(gm, symbols):
    params = gm.params
    exchange = gm.exchange("read the price history (klines) the correlation matrix is rebuilt from")
    series = {}
    for symbol in symbols:
        query = [("symbol", symbol), ("interval", params["interval"]), ("limit", params["limit"])]
        answer = exchange.request("GET", "/api/v3/klines", query)
        series[symbol] = correlation.closes(answer.data if isinstance(answer.data, list) else [])
    matrix, points = correlation.matrix_from_closes(series, symbols, params["min_points"])
    return dict(symbols=list(symbols), matrix=matrix), points, exchange.used_weight


def from_defaults(defaults, symbols):
    doc = defaults.get("document")
    if not defaults["valid"]:
        raise ValueError("%s is not usable: %s" % (defaults["path"], "; ".join(defaults["reasons"])))
    index = [doc["symbols"].index(s) for s in symbols]
    matrix = [[float(doc["matrix"][i][j]) for j in index] for i in index]
    return dict(symbols=list(symbols), matrix=matrix)


def build(gm, found):
    """(document, smallest eigenvalue, attempts, used_weight) of the first source that gives a valid matrix."""
    symbols = found["symbols"]
    attempts = []
    used_weight = None
    for source in gm.params["sources"]:
        points = None
        try:
            if source == "klines":
                doc, points, used_weight = from_klines(gm, symbols)
            else:
                doc = from_defaults(found["defaults_file"], symbols)
        except ExchangeError as exc:
            attempts.append(dict(source=source, ok=False, reason=clause(exc.message), points=None))
            continue
        except ValueError as exc:
            attempts.append(dict(source=source, ok=False, reason=clause(str(exc)), points=None))
            continue
        doc.update(calculated_at=iso(utc_now()), source=source)
        reasons, smallest = correlation.validate_matrix(doc, symbols)
        if reasons:
            attempts.append(dict(source=source, ok=False, reason="the %s matrix is invalid: %s" % (source, "; ".join(reasons)),
                                 points=points))
            continue
        attempts.append(dict(source=source, ok=True, reason=None, points=points))
        return doc, smallest, attempts, used_weight
    return None, None, attempts, used_weight


def write(gm, db, found, doc):
    """Upsert the rows and the audit event in one transaction; replace the file before it commits."""
    state_path = found["state_file"]["path"]
    audit = gm.connected_audit(db, "The correlation matrix was not rebuilt")
    before = dict(file=found["state_file"]["matrix"], file_reasons=found["state_file"]["reasons"],
                  database=dict(("%s/%s" % (r["symbol_1"], r["symbol_2"]), r["value"]) for r in found["database"]["rows"]),
                  database_reasons=found["database"]["reasons"])
    after = dict(file=correlation.summary(doc), source=doc["source"])
    saved = None
    if os.path.exists(state_path):
        fd, saved = tempfile.mkstemp(prefix=".correlation-before-", dir=os.path.dirname(state_path))
        os.close(fd)
        shutil.copy2(state_path, saved)
    try:
        try:
            with db.transaction("rebuilding the correlation matrix") as cur:
                if gm.params["check_db"]:
                    for row in correlation.rows_of(doc):
                        cur.execute(correlation.DB_UPSERT_SQL, row)
                audit.runbook_action(cur, STEP, before, after, details=dict(reasons=found["reasons"], source=doc["source"]))
                correlation.write_json_atomic(state_path, doc)
        except BaseException:
            audit.discard()
            if saved is not None:
                os.replace(saved, state_path)
                saved = None
            raise
    finally:
        if saved is not None and os.path.exists(saved):
            os.unlink(saved)
    return audit.committed()


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(correlation.correlation_argument_spec())
    argument_spec.update(
        state=dict(type="str", choices=["valid"], default="valid"),
        sources=dict(type="list", elements="str", choices=["klines", "defaults"], default=["klines", "defaults"]),
        interval=dict(type="str", default="1h"),
        limit=dict(type="int", default=168),
        min_points=dict(type="int", default=24),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_correlation")
    params = module.params
    if not params["sources"]:
        gm.fail("sources is empty: list klines and/or defaults.")
    if not 2 <= params["limit"] <= 1000:
        gm.fail("limit must be between 2 and 1000 candles, got %s." % params["limit"])
    if params["min_points"] < 2:
        gm.fail("min_points must be at least 2, got %s." % params["min_points"])
    if params["min_points"] >= params["limit"]:
        gm.fail("min_points (%s) must be below limit (%s): %s candles give at most %s returns."
                % (params["min_points"], params["limit"], params["limit"], params["limit"] - 1))
    if not (params["interval"] or "").strip():
        gm.fail("interval is empty: give an exchange klines interval such as 1h.")

    db = gm.db("write the audit event of the correlation rebuild")
    try:
        try:
            found = correlation.inspect(gm, db if params["check_db"] else None)
        except GenesisError as exc:
            gm.fail(exc.message)
        result = dict(changed=False, source=None, reasons=found["reasons"], attempts=[], matrix=None,
                      smallest_eigenvalue=found["state_file"]["smallest_eigenvalue"], audit_events=[], used_weight=None)
        if found["valid"]:
            module.exit_json(**result)
        if not found["symbols"]:
            gm.fail("symbols is not set and neither %s nor %s names any: set symbols to the node's symbols."
                    % (found["state_file"]["path"], found["defaults_file"]["path"]))

        symbols = set(found["symbols"])
        foreign = [dict(symbol_1=r["symbol_1"], symbol_2=r["symbol_2"], correlation_coefficient=r["value"])
                   for r in found["database"]["rows"] if r["symbol_1"] not in symbols or r["symbol_2"] not in symbols]
        foreign_reasons = correlation.validate_rows(foreign)
        if foreign_reasons:
            # a rebuild covers the configured symbols only; other rows are never deleted or invented
            gm.fail("position_correlations has invalid rows outside symbols (%s), nothing was changed: add their symbols "
                    "to symbols or correct those rows by hand." % "; ".join(foreign_reasons), **result)

        doc, smallest, attempts, used_weight = build(gm, found)
        result.update(attempts=attempts, used_weight=used_weight)
        if doc is None:
            gm.fail("No valid correlation matrix could be built, nothing was changed: %s."
                    % "; ".join("%s: %s" % (a["source"], a["reason"]) for a in attempts), **result)
        result.update(changed=True, source=doc["source"], matrix=doc, smallest_eigenvalue=smallest)
        if module._diff:
            result["diff"] = dict(before=found["state_file"]["matrix"] or {}, after=correlation.summary(doc))
        if module.check_mode:
            module.exit_json(**result)
        unchanged = dict(result)
        unchanged["changed"] = False
        try:
            events = write(gm, db, found, doc)
        except GenesisError as exc:
            gm.fail("The correlation matrix was not rebuilt: %s" % clause(exc.message), **unchanged)
        except (IOError, OSError) as exc:
            gm.fail("The correlation matrix was not rebuilt: %s cannot be written (%s)."
                    % (found["state_file"]["path"], exc.strerror or exc), **unchanged)
        result["audit_events"] = [short_event(e) for e in events]
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
