# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PostgreSQL access of genesis.runbook modules (docs/genesis-contract.md section 4)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import decimal
import re
import time
import traceback

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause, iso, redact_url

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    HAS_PSYCOPG2 = True
except ImportError:
    psycopg2 = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()


# Cancel one order unless its status changed meanwhile (the row is kept: a record of trading).
CANCEL_ORDER_SQL = "UPDATE orders SET status = 'CANCELLED', last_error = %s WHERE order_id = %s AND status = %s"


def plain(value):
    """A database value as JSON-safe data (Decimal -> float, timestamps -> ISO 8601)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return iso(value)
    return value


def plain_row(row):
    """A result row (mapping) with every value made JSON-safe by plain()."""
    return dict((k, plain(v)) for k, v in row.items())


class GenesisDbError(GenesisError):
    def __init__(self, message, unreachable=False, pgcode=None):
        super(GenesisDbError, self).__init__(message)
        self.unreachable = unreachable
        self.pgcode = pgcode


def is_unique_violation(exc):
    """True for a PostgreSQL unique_violation (SQLSTATE 23505)."""
    if getattr(exc, "pgcode", None) == "23505":
        return True
    errors = getattr(psycopg2, "errors", None)
    unique = getattr(errors, "UniqueViolation", None) if errors is not None else None
    return unique is not None and isinstance(exc, unique)


def describe_dsn(dsn):
    """`user@host:port/dbname` for a URL or key=value DSN, never the password."""
    text = str(dsn or "")
    if "://" in text:
        return redact_url(text).split("?", 1)[0]
    pairs = dict(re.findall(r"(\w+)\s*=\s*('[^']*'|\S+)", text))
    pairs = dict((k, v.strip("'")) for k, v in pairs.items())
    host = pairs.get("host", "localhost")
    where = "%s:%s/%s" % (host, pairs.get("port", "5432"), pairs.get("dbname", pairs.get("user", "")))
    if pairs.get("user"):
        where = "%s@%s" % (pairs["user"], where)
    return where


def _error_text(exc):
    """The first line of a psycopg2 error, without the DSN."""
    text = getattr(exc, "pgerror", None) or str(exc) or exc.__class__.__name__
    return clause(text)


class GenesisDb(object):
    """One connection per module run. Reads run in autocommit; writes go through transaction()."""

    def __init__(self, dsn, timeout=10, application_name="genesis.runbook"):
        self.dsn = dsn
        self.timeout = max(1, int(timeout or 10))
        self.application_name = application_name
        self.endpoint = "PostgreSQL %s" % describe_dsn(dsn)
        self.conn = None
        self.connect_ms = None

    def connect(self):
        if self.conn is not None:
            return self.conn
        start = time.time()
        try:
            conn = psycopg2.connect(self.dsn, connect_timeout=self.timeout, application_name=self.application_name,
                                    options="-c statement_timeout=%d" % (self.timeout * 1000))
        except psycopg2.Error as exc:
            raise GenesisDbError("%s is unreachable: %s." % (self.endpoint, _error_text(exc)), unreachable=True)
        except Exception as exc:  # pylint: disable=broad-except
            # a malformed DSN raises ProgrammingError or ValueError-like errors from libpq
            raise GenesisDbError("%s could not be opened: %s." % (self.endpoint, clause(str(exc) or exc.__class__.__name__)),
                                 unreachable=True)
        conn.autocommit = True
        self.conn = conn
        self.connect_ms = round((time.time() - start) * 1000.0, 1)
        return conn

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self.conn = None

    def _fail(self, what, exc):
        return GenesisDbError("%s: %s failed: %s." % (self.endpoint, what, _error_text(exc)),
                              pgcode=getattr(exc, "pgcode", None))

    def query(self, sql, params=None, what="query"):
        """Rows of a read as a list of dicts (autocommit, no transaction left open)."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return rows_as_dicts(cur)
        except psycopg2.Error as exc:
            raise self._fail(what, exc)

    def ping(self):
        """SELECT 1 and its latency in ms."""
        conn = self.connect()
        start = time.time()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        except psycopg2.Error as exc:
            raise self._fail("SELECT 1", exc)
        return round((time.time() - start) * 1000.0, 1)

    @contextlib.contextmanager
    def transaction(self, what="transaction"):
        """A cursor inside one transaction (autocommit off): commit on success, rollback on any error."""
        conn = self.connect()
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except psycopg2.Error as exc:
            self._rollback()
            raise self._fail(what, exc)
        except BaseException:
            self._rollback()
            raise
        finally:
            try:
                conn.autocommit = True
            except Exception:  # pylint: disable=broad-except
                pass

    def _rollback(self):
        try:
            self.conn.rollback()
        except Exception:  # pylint: disable=broad-except
            pass


def rows_as_dicts(cur):
    if cur.description is None:
        return []
    names = [column[0] for column in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
