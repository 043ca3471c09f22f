#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_database_info
short_description: Gather the evidence of a lost database connection on a genesis node (runbook scenario 4)
version_added: 0.1.0
description:
  - Reads the state of the PostgreSQL service through its service manager (supervisor, systemd or pg_ctlcluster),
    or through the first of them that knows it with O(service_manager=auto).
  - Takes the connection string from O(db_dsn), else from C(GENESIS_DATABASE_URL) in C(<genesis_home>/.env); its
    password is never returned or printed (the endpoint is shown as C(user:********@host:port/db)).
  - Runs C(SELECT 1), reads the schema revision (C(alembic_version)), the last C(FILLED) orders (the recent trades),
    the last event id and, with O(events_after), how many events genesis wrote since then.
  - Reads C(components.database) of C(GET /health) when O(check_health=true).
  - An unreachable database or service manager is evidence, not a failure.
  - Read-only; never changes anything.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Runs normally in check mode (read-only).
    support: full
  diff_mode:
    description: Read-only; there is no diff.
    support: N/A
options:
  service_manager:
    description:
      - How the database service is managed. C(auto) asks supervisord (O(supervisor_socket)), then
        C(pg_lsclusters), then systemd, and uses the first that knows the service.
    type: str
    choices: [auto, supervisor, systemd, pg_ctlcluster]
    default: auto
  service_name:
    description:
      - The supervisor program or systemd unit of the database.
    type: str
    default: postgresql
  pg_cluster:
    description:
      - The Debian cluster as C(<version>/<name>), for O(service_manager=pg_ctlcluster).
    type: str
    default: 15/main
  dsn_env_key:
    description:
      - The C(.env) key holding the connection string when O(db_dsn) is not set.
    type: str
    default: GENESIS_DATABASE_URL
  recent_trades:
    description:
      - How many of the most recent C(FILLED) orders to return (0 to 1000).
    type: int
    default: 10
  events_after:
    description:
      - Count the events genesis wrote (all but C(RUNBOOK_ACTION)) with an id above this one.
    type: int
  wait_reachable:
    description:
      - Seconds to keep retrying C(SELECT 1) (every second) until the database answers; C(0) tries once.
      - An answer that never comes is still evidence (C(reachable=false)), not a failure.
    type: int
    default: 0
  check_health:
    description:
      - Also read C(components.database) from the control API's C(GET /health) (no key needed).
    type: bool
    default: true
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Is the database down, and why
  genesis.runbook.genesis_database_info:
    service_manager: auto
    service_name: postgresql
    supervisor_socket: /app/.genesis/supervisor.sock
  register: database

- name: Report it
  ansible.builtin.debug:
    msg: "{{ database.service.state }}; SELECT 1 {{ 'ok' if database.reachable else database.error }}"
'''

RETURN = r'''
service:
  description: The database service as its manager reports it; C(state) is running, starting, stopping, stopped, failed or unknown.
  returned: always
  type: dict
  sample: {manager: supervisor, name: postgresql, state: stopped, detail: STOPPED, error: null, data_directory: null}
dsn_source:
  description: Where the connection string came from, C(option) (db_dsn) or C(env_file) (<genesis_home>/.env).
  returned: always
  type: str
  sample: env_file
endpoint:
  description: The database as user, host, port and name, password masked.
  returned: always
  type: str
  sample: postgresql://genesis:********@127.0.0.1:5432/genesis
reachable:
  description: Whether C(SELECT 1) succeeded.
  returned: always
  type: bool
  sample: false
error:
  description: Why the database could not be queried, as one sentence without the password; null when it answered.
  returned: always
  type: str
  sample: "PostgreSQL postgresql://genesis:********@127.0.0.1:5432/genesis is unreachable: connection refused."
latency_ms:
  description: Round trip of C(SELECT 1) in milliseconds.
  returned: when reachable
  type: float
  sample: 0.7
schema_revision:
  description: The C(alembic_version) of the database (null when the table is missing).
  returned: when reachable
  type: str
  sample: genesis_0007
data_directory:
  description: The data directory the server runs from (C(SHOW data_directory) when the user may read it, else from pg_lsclusters), or null.
  returned: always
  type: str
  sample: /var/lib/postgresql/15/main
recent_trades:
  description: The last FILLED orders, newest first.
  returned: when reachable
  type: list
  elements: dict
  sample: [{order_id: ord-9, symbol: ETHUSDT, side: SELL, quantity: 0.05, price: 3120.5, executed_at: "2026-11-27T18:40:00.000Z"}]
last_trade_at:
  description: When the newest FILLED order executed.
  returned: when reachable
  type: str
  sample: "2026-11-27T18:40:00.000Z"
last_event_id:
  description: The highest event id.
  returned: when reachable
  type: int
  sample: 4711
new_events:
  description: Events written by genesis (not RUNBOOK_ACTION) with an id above O(events_after).
  returned: when reachable and events_after is set
  type: int
  sample: 12
run_events:
  description: RUNBOOK_ACTION events this run (O(run_id)) wrote on this node, oldest first.
  returned: when reachable
  type: list
  elements: dict
  sample: [{event_id: 4712, step: start_database}]
health:
  description: The control API's view of the database (C(database) is up, degraded or down; null when unknown).
  returned: always
  type: dict
  sample: {reachable: true, status_code: 503, status: unhealthy, database: down, error: null}
'''

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.db import (
    HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, GenesisDb, GenesisDbError, describe_dsn, plain, plain_row,
)
from ansible_collections.genesis.runbook.plugins.module_utils import dbservice

RECENT_SQL = ("SELECT order_id, symbol, side, type, quantity, price, executed_at, strategy, node FROM orders "
              "WHERE status = 'FILLED' ORDER BY executed_at DESC NULLS LAST LIMIT %s")
RUN_EVENTS_SQL = ("SELECT event_id, event_data->>'step' AS step FROM events WHERE event_type = 'RUNBOOK_ACTION' "
                  "AND aggregate_id = %s AND event_data->>'run_id' = %s ORDER BY event_id")


def health(gm):
    info = dict(reachable=False, status_code=None, status=None, database=None, error=None)
    try:
        response = gm.api().get("/health", auth=False, accept=(503,))
    except GenesisApiError as exc:
        info["error"] = gm.clean(exc.message)
        return info
    data = response.data if isinstance(response.data, dict) else {}
    components = data.get("components") if isinstance(data.get("components"), dict) else {}
    info.update(reachable=True, status_code=response.status, status=data.get("status"), database=components.get("database"))
    return info


def query(db, params, node, run_id, info):
    """Fill info in place, so what was read before an error is kept (reachable as soon as SELECT 1 answered)."""
    info["latency_ms"] = db.ping()
    info["reachable"] = True
    try:
        rows = db.query("SELECT version_num FROM alembic_version", what="reading the schema revision")
        info["schema_revision"] = rows[0]["version_num"] if rows else None
    except GenesisDbError as exc:
        if exc.pgcode != "42P01":  # undefined_table: a database without alembic is reported as null
            raise
        info["schema_revision"] = None
    try:
        info["data_directory"] = db.query("SHOW data_directory", what="reading the data directory")[0]["data_directory"]
    except GenesisDbError as exc:
        if exc.pgcode != "42501":  # insufficient_privilege: only superusers and pg_read_all_settings may see it
            raise
    trades = []
    if params["recent_trades"]:
        trades = [plain_row(r) for r in db.query(RECENT_SQL, (params["recent_trades"],), what="listing recent trades")]
    info["recent_trades"] = trades
    info["last_trade_at"] = trades[0]["executed_at"] if trades else None
    info["last_event_id"] = int(db.query("SELECT coalesce(max(event_id), 0) AS id FROM events",
                                         what="reading the last event id")[0]["id"])
    if params.get("events_after") is not None:
        info["new_events"] = int(db.query("SELECT count(*) AS n FROM events WHERE event_id > %s AND event_type <> 'RUNBOOK_ACTION'",
                                          (params["events_after"],), what="counting new events")[0]["n"])
    rows = db.query(RUN_EVENTS_SQL, ("runbook:%s" % node, run_id), what="reading this run's audit events")
    info["run_events"] = [dict((k, plain(v)) for k, v in r.items()) for r in rows]


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        service_manager=dict(type="str", choices=["auto"] + list(dbservice.MANAGERS), default="auto"),
        service_name=dict(type="str", default="postgresql"),
        pg_cluster=dict(type="str", default="15/main"),
        dsn_env_key=dict(type="str", default="GENESIS_DATABASE_URL", no_log=False),
        recent_trades=dict(type="int", default=10),
        events_after=dict(type="int"),
        check_health=dict(type="bool", default=True),
        wait_reachable=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_database_info")
    params = module.params
    if not 0 <= params["recent_trades"] <= 1000:
        gm.fail("recent_trades must be between 0 and 1000, got %s." % params["recent_trades"])
    if not 0 <= params["wait_reachable"] <= 3600:
        gm.fail("wait_reachable must be between 0 and 3600 seconds, got %s." % params["wait_reachable"])
    if not (params["service_name"] or "").strip():
        gm.fail("service_name is empty: name the supervisor program or systemd unit of the database.")
    dsn, source = dbservice.resolve_dsn(gm, params["dsn_env_key"])
    if dsn is None:
        gm.fail("db_dsn (inventory variable genesis_db_dsn) is not set and %s/.env has no %s: genesis_database_info "
                "needs one of them to reach the database." % (params["genesis_home"], params["dsn_env_key"]))

    service = dbservice.service_status(module, params["service_manager"], params["service_name"].strip(), params["pg_cluster"],
                                       params.get("supervisor_socket"), gm.timeout)
    result = dict(changed=False, service=service, dsn_source=source, endpoint=gm.clean(describe_dsn(dsn)), reachable=False,
                  error=None, data_directory=service.get("data_directory"),
                  health=health(gm) if params["check_health"] else dict(reachable=False, status_code=None, status=None,
                                                                        database=None, error="not checked"))
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2 (or psycopg2-binary)"), exception=PSYCOPG2_IMPORT_ERROR)
    deadline = time.time() + params["wait_reachable"]
    while True:
        db = GenesisDb(dsn, timeout=gm.timeout)
        try:
            query(db, params, gm.node, gm.run_id, result)
            result["error"] = None
        except GenesisDbError as exc:
            result["error"] = gm.clean(exc.message)
            if exc.unreachable and time.time() < deadline:
                time.sleep(1)
                continue
        finally:
            db.close()
        break
    if service.get("error"):
        service["error"] = gm.clean(service["error"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
