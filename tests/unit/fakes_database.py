# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fakes of runbook scenarios 4 and 10: the extra SQL of genesis_database_info, a restic stand-in."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat
import sys
import textwrap

import psycopg2
import psycopg2.errors

import genesis_fakes


class UndefinedTable(psycopg2.errors.UndefinedTable):
    pgcode = "42P01"


class InsufficientPrivilege(psycopg2.errors.InsufficientPrivilege):
    pgcode = "42501"


class DatabaseCursor(genesis_fakes.FakeCursor):
    def execute(self, sql, params=None):
        pg = self.pg
        text = " ".join(sql.split())
        low = text.lower()
        if self.conn.closed:
            raise psycopg2.InterfaceError("connection already closed")
        if low == "select version_num from alembic_version":
            pg.statements.append((text, params))
            if pg.schema_revision is None:
                raise UndefinedTable('relation "alembic_version" does not exist')
            return self._result(["version_num"], [(pg.schema_revision,)])
        if low == "show data_directory":
            pg.statements.append((text, params))
            if pg.data_directory is None:
                raise InsufficientPrivilege('must be superuser or have privileges of pg_read_all_settings to examine '
                                            '"data_directory"')
            return self._result(["data_directory"], [(pg.data_directory,)])
        if low.startswith("select count(*) as n from events where event_id > %s and event_type <> 'runbook_action'"):
            pg.statements.append((text, params))
            newer = [e for e in pg.events if e["event_id"] > params[0] and e["event_type"] != "RUNBOOK_ACTION"]
            return self._result(["n"], [(len(newer),)])
        if low.startswith("select event_id, event_data->>'step' as step from events"):
            pg.statements.append((text, params))
            rows = [(e["event_id"], e["event_data"].get("step")) for e in pg.events
                    if e["event_type"] == "RUNBOOK_ACTION" and e["aggregate_id"] == params[0]
                    and e["event_data"].get("run_id") == params[1]]
            return self._result(["event_id", "step"], rows)
        return genesis_fakes.FakeCursor.execute(self, sql, params)


class DatabaseConnection(genesis_fakes.FakeConnection):
    def cursor(self):
        return DatabaseCursor(self)


class DatabasePg(genesis_fakes.FakePg):
    """FakePg that also answers genesis_database_info; connect_errors are raised one per connect, in order."""

    def __init__(self):
        super(DatabasePg, self).__init__()
        self.schema_revision = "genesis_0007"
        self.data_directory = "/var/lib/postgresql/15/main"
        self.connect_errors = []

    def connect(self, dsn, **kwargs):
        if self.connect_errors:
            raise self.connect_errors.pop(0)
        if self.connect_error is not None:
            raise self.connect_error
        conn = DatabaseConnection(self, dsn, kwargs)
        self.connections.append(conn)
        return conn


def supervisor_programs(postgresql_state="RUNNING"):
    programs = [dict(p) for p in genesis_fakes.PROGRAMS]
    programs.append({"name": "postgresql", "group": "postgresql", "statename": postgresql_state,
                     "pid": 4100 if postgresql_state == "RUNNING" else 0, "start": 1000, "now": 1812, "exitstatus": 0,
                     "spawnerr": "", "description": postgresql_state})
    return programs


RESTIC = textwrap.dedent('''\
    #!%(python)s
    """restic stand-in: `snapshots` prints the state file's snapshots, `restore` writes its files."""
    import json, os, sys
    state = json.load(open(%(state)r))
    argv = sys.argv[1:]
    with open(%(log)r, "a") as log:
        log.write(json.dumps(argv) + "\\n")
    if state.get("fail"):
        sys.stderr.write(state["fail"] + "\\n")
        sys.exit(1)
    if "snapshots" in argv:
        path = argv[argv.index("--path") + 1]
        tags = [argv[i + 1] for i, a in enumerate(argv) if a == "--tag"]
        found = [s for s in state["snapshots"] if path in s["paths"] and all(t in s.get("tags", []) for t in tags)]
        print(json.dumps(found))
    elif "restore" in argv:
        if state.get("restore_fail"):
            sys.stderr.write(state["restore_fail"] + "\\n")
            sys.exit(1)
        target = argv[argv.index("--target") + 1]
        include = argv[argv.index("--include") + 1]
        root = os.path.join(target, include.lstrip("/"))
        os.makedirs(root)
        for name, content in state["files"].items():
            with open(os.path.join(root, name), "w") as handle:
                handle.write(content)
    ''')


class FakeRestic(object):
    """A restic executable in a temporary directory, driven by a JSON state file."""

    def __init__(self, directory, snapshots, files=None):
        self.directory = str(directory)
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "restic")
        self.state_file = os.path.join(self.directory, "restic-state.json")
        self.log_file = os.path.join(self.directory, "restic-calls.log")
        self.state = dict(snapshots=snapshots, files=files or {"PG_VERSION": "15\n"})
        self.save()
        with open(self.path, "w") as handle:
            handle.write(RESTIC % dict(python=sys.executable, state=self.state_file, log=self.log_file))
        os.chmod(self.path, stat.S_IRWXU)

    def save(self):
        with open(self.state_file, "w") as handle:
            json.dump(self.state, handle)

    def calls(self):
        if not os.path.exists(self.log_file):
            return []
        with open(self.log_file) as handle:
            return [json.loads(line) for line in handle]
