# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-ins for scenarios 5 and 17: a /proc whose memory and CPU move with a fake clock, and a
PostgreSQL that also answers pg_stat_user_tables, VACUUM and the order-latency query."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import os
import re

import psycopg2

import genesis_fakes

PAGE = os.sysconf("SC_PAGE_SIZE")
HZ = os.sysconf("SC_CLK_TCK")
MIB = 1048576


class FakeProc(object):
    """/proc/<pid>/{stat,statm,task/<pid>/schedstat}; advance() moves the clock, CPU, waits and RSS by per-pid rates."""

    def __init__(self, root):
        self.root = root
        self.clock = 1000.0
        self.procs = {}
        self.cpu_rate = {}  # pid -> cores used
        self.wait_rate = {}  # pid -> cores waited for
        self.rss_rate = {}  # pid -> MB per second
        self.schedstat = True
        self.pauses = []

    def add(self, pid, ppid=1, rss_mb=40.0, name="python"):
        self.procs[pid] = dict(ppid=ppid, rss_mb=float(rss_mb), cpu_s=0.0, wait_s=0.0, name=name)
        self.write()

    def remove(self, pid):
        self.procs.pop(pid, None)
        self.write()

    def write(self):
        for entry in os.listdir(str(self.root)):
            path = self.root / entry
            if entry.isdigit() and int(entry) not in self.procs:
                for sub, _dirs, files in sorted(os.walk(str(path)), reverse=True):
                    for name in files:
                        os.unlink(os.path.join(sub, name))
                    os.rmdir(sub)
        for pid, proc in self.procs.items():
            base = self.root / str(pid)
            (base / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
            ticks = int(round(proc["cpu_s"] * HZ))
            (base / "stat").write_text("%d (%s) S %d 1 1 0 -1 4194560 100 0 0 0 %d 0 0 0 20 0 3 0\n"
                                       % (pid, proc["name"], proc["ppid"], ticks))
            (base / "statm").write_text("100000 %d 1000 10 0 5000 0\n" % int(proc["rss_mb"] * MIB / PAGE))
            schedstat = base / "task" / str(pid) / "schedstat"
            if self.schedstat:
                schedstat.write_text("%d %d 10\n" % (int(proc["cpu_s"] * 1e9), int(proc["wait_s"] * 1e9)))
            elif schedstat.exists():
                schedstat.unlink()

    def now(self):
        return self.clock

    def pause(self, seconds):
        self.pauses.append(seconds)
        self.clock += seconds
        for pid, proc in self.procs.items():
            proc["cpu_s"] += self.cpu_rate.get(pid, 0.0) * seconds
            proc["wait_s"] += self.wait_rate.get(pid, 0.0) * seconds
            proc["rss_mb"] += self.rss_rate.get(pid, 0.0) * seconds
        self.write()


def program(name, pid, group="genesis", state="RUNNING"):
    return {"name": name, "group": group, "statename": state, "pid": pid if state == "RUNNING" else 0, "start": 1000,
            "now": 1812, "exitstatus": 0, "spawnerr": "", "description": "pid %s" % pid}


GENESIS_PROGRAMS = [program("genesis", 101), program("executor", 102), program("market_data", 103),
                    program("strategies", 104), program("genesis_exit", 105, group="genesis_exit"),
                    program("postgresql", 106, group="postgresql"), program("backup", 0, group="backup", state="STOPPED")]


class PerfCursor(genesis_fakes.FakeCursor):
    def execute(self, sql, params=None):
        pg = self.pg
        text = " ".join(sql.split())
        low = text.lower()
        if low.startswith("set statement_timeout"):
            pg.statements.append((text, params))
            pg.timeouts.append(params[0])
            return None
        if low.startswith("vacuum"):
            pg.statements.append((text, params))
            if not self.conn.autocommit:
                raise psycopg2.errors.ActiveSqlTransaction("VACUUM cannot run inside a transaction block")
            for needle, error in list(pg.errors.items()):
                if needle.lower() in low:
                    raise error
            table = re.search(r'"(\w+)"', text).group(1)
            pg.vacuumed.append(table)
            stats = pg.table_stats[table]
            stats.update(n_dead_tup=0, last_vacuum=pg.now, last_analyze=pg.now)
            self.conn.notices.append("NOTICE:  vacuumed %s\n" % table)
            return None
        if "from pg_stat_user_tables" in low:
            pg.statements.append((text, params))
            for needle, error in list(pg.errors.items()):
                if needle.lower() in low:
                    raise error
            columns = ["relname", "n_live_tup", "n_dead_tup", "last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze",
                       "maintained_age_s"]
            rows = []
            for name in params[0]:
                if name not in pg.table_stats:
                    continue
                stats = pg.table_stats[name]
                age = None
                if stats.get("last_vacuum") and stats.get("last_analyze"):
                    age = (pg.now - min(stats["last_vacuum"], stats["last_analyze"])).total_seconds()
                rows.append(tuple([name] + [stats.get(c) for c in columns[1:-1]] + [age]))
            return self._result(columns, rows)
        if low.startswith("select status, extract(epoch from (executed_at - created_at))"):
            pg.statements.append((text, params))
            window = params[0]
            rows = []
            for order in pg.orders:
                if (pg.now - order["created_at"]).total_seconds() < window:
                    latency = None
                    if order.get("executed_at") is not None:
                        latency = (order["executed_at"] - order["created_at"]).total_seconds() * 1000.0
                    rows.append((order["status"], latency))
            return self._result(["status", "latency_ms"], rows)
        return super(PerfCursor, self).execute(sql, params)


class PerfConnection(genesis_fakes.FakeConnection):
    def __init__(self, pg, dsn, kwargs):
        super(PerfConnection, self).__init__(pg, dsn, kwargs)
        self.notices = []

    def cursor(self):
        return PerfCursor(self)


class PerfPg(genesis_fakes.FakePg):
    def __init__(self):
        super(PerfPg, self).__init__()
        self.vacuumed = []
        self.timeouts = []
        earlier = self.now - datetime.timedelta(hours=2)
        self.table_stats = dict(
            orders=dict(n_live_tup=225, n_dead_tup=9, last_vacuum=None, last_autovacuum=None, last_analyze=None,
                        last_autoanalyze=earlier),
            positions=dict(n_live_tup=113, n_dead_tup=43, last_vacuum=None, last_autovacuum=None, last_analyze=None,
                           last_autoanalyze=earlier),
            events=dict(n_live_tup=901, n_dead_tup=0, last_vacuum=None, last_autovacuum=None, last_analyze=None,
                        last_autoanalyze=earlier))

    def connect(self, dsn, **kwargs):
        if self.connect_error is not None:
            raise self.connect_error
        conn = PerfConnection(self, dsn, kwargs)
        self.connections.append(conn)
        return conn

    def add_filled(self, order_id, age_s, latency_ms):
        order = self.add_order(order_id, status="FILLED", age_s=age_s)
        order["executed_at"] = order["created_at"] + datetime.timedelta(milliseconds=latency_ms)
        return order
