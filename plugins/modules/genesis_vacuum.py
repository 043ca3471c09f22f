#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_vacuum
short_description: VACUUM ANALYZE a genesis node's trading tables through SQL (runbook scenario 17)
version_added: 0.1.0
description:
  - Runs C(VACUUM (ANALYZE)) on each of O(tables) of the node's database, one table at a time, outside a
    transaction. Plain C(VACUUM) (never C(VACUUM FULL)) takes no lock that blocks reads or writes, so trading
    goes on while it runs; C(ANALYZE) refreshes the planner's statistics.
  - Returns each table's live and dead tuples and its last (auto)vacuum and (auto)analyze times before and after.
  - Writes one C(RUNBOOK_ACTION) audit event (step C(vacuum_analyze)) naming the tables; the audit row is written in
    the same database, and nothing runs when it cannot be written.
  - Refuses a table that is not a table of the C(public) schema; names are checked against C(pg_stat_user_tables).
  - A table that was vacuumed and analyzed by hand (not by autovacuum) within O(skip_vacuumed_within) seconds is
    skipped, so a rerun right after a run changes nothing.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reads the tables' statistics and reports the tables that would be vacuumed; runs nothing.
    support: full
  diff_mode:
    description: Shows each table's dead tuples and last analyze time before and after.
    support: full
options:
  tables:
    description:
      - Tables of the C(public) schema to vacuum and analyze.
    type: list
    elements: str
    default: [orders, positions, events]
  skip_vacuumed_within:
    description:
      - Skip a table whose last manual C(VACUUM) and C(ANALYZE) are both more recent than this many seconds (0 to 86400;
        C(0) always vacuums).
    type: int
    default: 300
  vacuum_timeout:
    description:
      - Statement timeout in seconds of each C(VACUUM) (1 to 3600); the connection's other statements keep O(api_timeout).
    type: int
    default: 120
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Refresh the trading tables' statistics and reclaim dead tuples
  genesis.runbook.genesis_vacuum:
    tables: [orders, positions, events]
    db_dsn: "{{ genesis_db_dsn }}"
    scenario: "17"
  register: vacuum
'''

RETURN = r'''
tables:
  description: Per table, its statistics before and after (C(n_live_tup), C(n_dead_tup), C(last_vacuum),
    C(last_autovacuum), C(last_analyze), C(last_autoanalyze), C(maintained_age_s) the seconds since the older of the
    last manual vacuum and analyze), the VACUUM's duration and the server's notices.
  returned: always
  type: dict
  sample:
    orders:
      before: {n_live_tup: 225, n_dead_tup: 9, last_vacuum: null, last_analyze: null, last_autovacuum: null,
               last_autoanalyze: "2026-11-27T21:32:07.408Z"}
      after: {n_live_tup: 226, n_dead_tup: 0, last_vacuum: "2026-11-27T21:40:01.123Z", last_analyze: "2026-11-27T21:40:01.123Z",
              last_autovacuum: null, last_autoanalyze: "2026-11-27T21:32:07.408Z"}
      duration_ms: 12.4
      notices: []
vacuumed:
  description: The tables vacuumed (in check mode, those that would be).
  returned: always
  type: list
  elements: str
  sample: [orders, positions, events]
skipped:
  description: The tables skipped because they were vacuumed and analyzed within O(skip_vacuumed_within) seconds.
  returned: always
  type: list
  elements: str
  sample: []
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4714, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 5}]
'''

import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, clause, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError, plain_row
from ansible_collections.genesis.runbook.plugins.module_utils import db as genesis_db

STEP = "vacuum_analyze"
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
STATS_SQL = ("SELECT relname, n_live_tup, n_dead_tup, last_vacuum, last_autovacuum, last_analyze, last_autoanalyze, "
             "EXTRACT(EPOCH FROM (now() - LEAST(last_vacuum, last_analyze))) AS maintained_age_s "
             "FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname = ANY(%s)")


def stats(db, tables):
    rows = db.query(STATS_SQL, (list(tables),), what="reading the tables' statistics")
    found = {}
    for row in rows:
        row = plain_row(row)
        age = row.pop("maintained_age_s", None)
        row["maintained_age_s"] = round(float(age), 1) if age is not None else None
        found[row.pop("relname")] = row
    return found


def vacuum(db, table, timeout_s):
    """VACUUM (ANALYZE) one table in autocommit (VACUUM cannot run in a transaction); returns (ms, notices)."""
    conn = db.connect()
    conn.autocommit = True
    start = time.time()
    before_notices = len(getattr(conn, "notices", []) or [])
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (int(timeout_s * 1000),))
            # the name passed NAME_RE and exists in pg_stat_user_tables: quoting it is safe
            cur.execute('VACUUM (ANALYZE) public."%s"' % table)
            cur.execute("SET statement_timeout = %s", (int(db.timeout * 1000),))
    except genesis_db.psycopg2.Error as exc:
        reason = clause(getattr(exc, "pgerror", None) or str(exc))
        raise GenesisDbError("%s: VACUUM (ANALYZE) of %s failed: %s." % (db.endpoint, table, reason))
    notices = [n.strip() for n in (getattr(conn, "notices", []) or [])[before_notices:]]
    return round((time.time() - start) * 1000.0, 1), notices


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        tables=dict(type="list", elements="str", default=["orders", "positions", "events"]),
        vacuum_timeout=dict(type="int", default=120),
        skip_vacuumed_within=dict(type="int", default=300),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_vacuum")
    tables = []
    for table in module.params["tables"]:
        name = (table or "").strip()
        if not NAME_RE.match(name):
            gm.fail("tables must hold plain lower-case table names of the public schema, got %r." % table)
        if name not in tables:
            tables.append(name)
    if not tables:
        gm.fail("tables is empty: name at least one table to vacuum.")
    if not 1 <= module.params["vacuum_timeout"] <= 3600:
        gm.fail("vacuum_timeout must be between 1 and 3600 seconds, got %s." % module.params["vacuum_timeout"])
    recent = module.params["skip_vacuumed_within"]
    if not 0 <= recent <= 86400:
        gm.fail("skip_vacuumed_within must be between 0 and 86400 seconds, got %s." % recent)

    db = gm.db("vacuum the tables and write the audit event")
    try:
        audit = gm.connected_audit(db, "No table was vacuumed")
        try:
            before = stats(db, tables)
        except GenesisDbError as exc:
            gm.fail(exc.message)
        missing = [t for t in tables if t not in before]
        if missing:
            gm.fail("%s %s not a table of the public schema of %s (check tables, role variable performance_tune_vacuum_tables)."
                    % (", ".join(missing), "is" if len(missing) == 1 else "are", db.endpoint))
        # a table vacuumed and analyzed by hand within the window needs nothing more: a rerun changes nothing
        due = [t for t in tables if before[t]["maintained_age_s"] is None or before[t]["maintained_age_s"] >= recent]
        result = dict(changed=bool(due), vacuumed=list(due), skipped=[t for t in tables if t not in due], audit_events=[],
                      tables=dict((t, dict(before=before[t], after=before[t], duration_ms=None, notices=[])) for t in tables))
        if module.check_mode or not due:
            module.exit_json(**result)
        done = []
        for table in due:
            try:
                duration, notices = vacuum(db, table, module.params["vacuum_timeout"])
            except GenesisDbError as exc:
                result.update(vacuumed=done, changed=bool(done))
                gm.fail("%s (%d table(s) vacuumed before it)." % (clause(exc.message), len(done)), **result)
            done.append(table)
            result["tables"][table].update(duration_ms=duration, notices=notices)
        try:
            after = stats(db, tables)
        except GenesisDbError:
            after = {}
        for table in tables:
            result["tables"][table]["after"] = after.get(table, before[table])
        brief = dict((t, dict(n_dead_tup=result["tables"][t]["before"].get("n_dead_tup"),
                              last_analyze=result["tables"][t]["before"].get("last_analyze"))) for t in due)
        brief_after = dict((t, dict(n_dead_tup=result["tables"][t]["after"].get("n_dead_tup"),
                                    last_analyze=result["tables"][t]["after"].get("last_analyze"))) for t in due)
        try:
            event = audit.write_runbook_action(STEP, before=brief, after=brief_after,
                                               details=dict(statement="VACUUM (ANALYZE)", tables=due))
        except (GenesisDbError, AuditError) as exc:
            gm.fail("%s were vacuumed but the audit event was not written: %s" % (", ".join(due), clause(exc.message)), **result)
        result["audit_events"] = [dict((k, event[k]) for k in ("event_id", "event_type", "aggregate_id", "sequence_number"))]
        if module._diff:
            result["diff"] = dict(before=brief, after=brief_after)
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
