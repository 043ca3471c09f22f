# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Correlation matrix checks and rebuild (docs/genesis-contract.md section 5.4, runbook scenario 12).

A matrix document is `{"symbols": [...], "matrix": [[...]], "calculated_at": "...", "source": "klines|defaults"}`.
It is valid when every value is in [-1, 1], the matrix is symmetric within 1e-9, its diagonal is 1 and it is
positive semi-definite. The same values live in the database table `position_correlations`
(one row per ordered pair of different symbols, NUMERIC(10,6), no range CHECK).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import math
import os

from ansible_collections.genesis.runbook.plugins.module_utils._common import write_atomic

SYM_TOL = 1e-9
DIAG_TOL = 1e-9
PSD_TOL = 1e-9
DB_SYM_TOL = 1e-6
DECIMALS = 6

STATE_FILE = os.path.join(".genesis", "state", "correlation_matrix.json")
DEFAULTS_FILE = os.path.join("config", "default_correlations.json")

DB_ROWS_SQL = "SELECT symbol_1, symbol_2, correlation_coefficient FROM position_correlations ORDER BY symbol_1, symbol_2"
DB_UPSERT_SQL = ("INSERT INTO position_correlations (symbol_1, symbol_2, correlation_coefficient, calculated_at) "
                 "VALUES (%s, %s, %s, now()) ON CONFLICT (symbol_1, symbol_2) DO UPDATE "
                 "SET correlation_coefficient = EXCLUDED.correlation_coefficient, calculated_at = EXCLUDED.calculated_at")


def jacobi_eigenvalues(matrix, max_sweeps=100):
    """Eigenvalues of a symmetric matrix (cyclic Jacobi), smallest first."""
    size = len(matrix)
    work = [[float(v) for v in row] for row in matrix]
    for _sweep in range(max_sweeps):
        off = sum(work[i][j] ** 2 for i in range(size) for j in range(size) if i != j)
        if off < 1e-22:
            break
        for p in range(size - 1):
            for q in range(p + 1, size):
                if abs(work[p][q]) < 1e-300:
                    continue
                theta = (work[q][q] - work[p][p]) / (2.0 * work[p][q])
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(size):
                    kp, kq = work[k][p], work[k][q]
                    work[k][p] = c * kp - s * kq
                    work[k][q] = s * kp + c * kq
                for k in range(size):
                    pk, qk = work[p][k], work[q][k]
                    work[p][k] = c * pk - s * qk
                    work[q][k] = s * pk + c * qk
    return sorted(work[i][i] for i in range(size))


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def validate_matrix(doc, symbols=None):
    """(reasons, smallest eigenvalue or None) of a matrix document; no reasons when it is valid.

    With `symbols`, the document must cover exactly those symbols (in any order).
    """
    if not isinstance(doc, dict):
        return ["the matrix is not a JSON object"], None
    names = doc.get("symbols")
    matrix = doc.get("matrix")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        return ["symbols are missing or empty"], None
    if symbols and sorted(names) != sorted(symbols):
        return ["the matrix covers %s, not the configured %s" % (", ".join(names), ", ".join(symbols))], None
    size = len(names)
    if not isinstance(matrix, list) or len(matrix) != size:
        return ["the matrix must have %d rows" % size], None
    values = []
    for i, row in enumerate(matrix):
        if not isinstance(row, list) or len(row) != size:
            return ["row %s must have %d values" % (names[i], size)], None
        for j, value in enumerate(row):
            if not _number(value):
                return ["%s/%s is not a finite number" % (names[i], names[j])], None
        values.append([float(v) for v in row])
    reasons = []
    for i in range(size):
        for j in range(size):
            if not -1.0 <= values[i][j] <= 1.0:
                reasons.append("%s/%s = %s is outside [-1, 1]" % (names[i], names[j], values[i][j]))
    for i in range(size):
        if abs(values[i][i] - 1.0) > DIAG_TOL:
            reasons.append("diagonal %s = %s is not 1" % (names[i], values[i][i]))
    asymmetric = False
    for i in range(size):
        for j in range(i + 1, size):
            if abs(values[i][j] - values[j][i]) > SYM_TOL:
                asymmetric = True
                reasons.append("asymmetric: %s/%s = %s but %s/%s = %s"
                               % (names[i], names[j], values[i][j], names[j], names[i], values[j][i]))
    smallest = None
    if not asymmetric:
        smallest = jacobi_eigenvalues(values)[0]
        if smallest < -PSD_TOL:
            reasons.append("not positive semi-definite (smallest eigenvalue %.6g)" % smallest)
    return reasons, smallest


def validate_rows(rows, symbols=None):
    """Reasons the position_correlations rows are invalid: a value outside [-1, 1], an asymmetric pair,
    or (with `symbols`) a missing pair of the configured symbols."""
    reasons = []
    values = {}
    for row in rows:
        pair = (row["symbol_1"], row["symbol_2"])
        try:
            value = float(row["correlation_coefficient"])
        except (TypeError, ValueError):
            reasons.append("position_correlations %s/%s is not a number" % pair)
            continue
        values[pair] = value
        if not -1.0 <= value <= 1.0:
            reasons.append("position_correlations %s/%s = %s is outside [-1, 1]" % (pair[0], pair[1], value))
        if pair[0] == pair[1] and abs(value - 1.0) > DB_SYM_TOL:
            reasons.append("position_correlations diagonal %s = %s is not 1" % (pair[0], value))
    for (a, b), value in sorted(values.items()):
        other = values.get((b, a))
        if a < b and other is not None and abs(value - other) > DB_SYM_TOL:
            reasons.append("position_correlations asymmetric: %s/%s = %s but %s/%s = %s" % (a, b, value, b, a, other))
    for a in symbols or ():
        for b in symbols or ():
            if a != b and (a, b) not in values:
                reasons.append("position_correlations has no row %s/%s" % (a, b))
    return reasons


def rows_of(doc):
    """The position_correlations rows [(symbol_1, symbol_2, value)] of a matrix document (pairs of different symbols)."""
    names = doc["symbols"]
    return [(names[i], names[j], round(float(doc["matrix"][i][j]), DECIMALS))
            for i in range(len(names)) for j in range(len(names)) if i != j]


def matrix_from_rows(rows, symbols):
    """A matrix document built from position_correlations rows (unit diagonal), or None when a pair is missing."""
    values = dict(((r["symbol_1"], r["symbol_2"]), float(r["correlation_coefficient"])) for r in rows
                  if _number_like(r.get("correlation_coefficient")))
    matrix = []
    for a in symbols:
        row = []
        for b in symbols:
            if a == b:
                row.append(1.0)
            elif (a, b) in values:
                row.append(values[(a, b)])
            else:
                return None
        matrix.append(row)
    return dict(symbols=list(symbols), matrix=matrix)


def _number_like(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def read_json(path):
    """(document, error sentence) of a JSON file; the document is None when it cannot be read."""
    try:
        with open(path) as handle:
            return json.load(handle), None
    except (IOError, OSError) as exc:
        return None, "%s cannot be read: %s" % (path, exc.strerror or exc)
    except ValueError as exc:
        return None, "%s is not valid JSON: %s" % (path, exc)


def write_json_atomic(path, doc):
    """Write a JSON document through a temporary file and rename, keeping the old file's mode."""
    mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644
    write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"), mode, prefix=".correlation-")


def closes(klines):
    """Close prices of a klines answer ([[open_time, open, high, low, close, ...], ...]) keyed by open time."""
    out = {}
    for line in klines or []:
        try:
            out[int(line[0])] = float(line[4])
        except (TypeError, ValueError, IndexError):
            continue
    return out


def pearson(xs, ys):
    count = len(xs)
    mean_x = sum(xs) / count
    mean_y = sum(ys) / count
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    var_x = sum((x - mean_x) ** 2 for x in xs)
    var_y = sum((y - mean_y) ** 2 for y in ys)
    if var_x <= 0 or var_y <= 0:
        return None
    return cov / math.sqrt(var_x * var_y)


def matrix_from_closes(series, symbols, min_points):
    """Correlation of log returns over the open times all symbols share.

    Returns (matrix rows, points used) or raises ValueError with the reason the history is unusable.
    """
    common = None
    for symbol in symbols:
        times = set(series.get(symbol, {}))
        common = times if common is None else common & times
    times = sorted(common or [])
    if len(times) < min_points + 1:
        raise ValueError("only %d common candles for %s (at least %d needed)" % (len(times), ", ".join(symbols), min_points + 1))
    returns = {}
    for symbol in symbols:
        prices = [series[symbol][t] for t in times]
        if any(p <= 0 for p in prices):
            raise ValueError("%s has a non-positive close price" % symbol)
        returns[symbol] = [math.log(prices[k + 1] / prices[k]) for k in range(len(prices) - 1)]
    matrix = []
    for a in symbols:
        row = []
        for b in symbols:
            if a == b:
                row.append(1.0)
                continue
            value = pearson(returns[a], returns[b])
            if value is None:
                raise ValueError("%s or %s has flat prices: no correlation can be computed" % (a, b))
            row.append(round(max(-1.0, min(1.0, value)), DECIMALS))
        matrix.append(row)
    # symmetric by construction of pearson(); force exact symmetry after rounding
    for i in range(len(symbols)):
        for j in range(i + 1, len(symbols)):
            matrix[j][i] = matrix[i][j]
    return matrix, len(times) - 1


def summary(doc):
    """A short view of a matrix document for reports: the off-diagonal pairs, source and time."""
    if not isinstance(doc, dict) or not isinstance(doc.get("symbols"), list) or not isinstance(doc.get("matrix"), list):
        return doc
    names = doc["symbols"]
    pairs = {}
    for i, row in enumerate(doc["matrix"]):
        if not isinstance(row, list):
            continue
        for j, value in enumerate(row):
            if i != j and i < len(names) and j < len(names):
                pairs["%s/%s" % (names[i], names[j])] = value
    return dict(pairs=pairs, source=doc.get("source"), calculated_at=doc.get("calculated_at"))


# -- shared by genesis_correlation_info and genesis_correlation -----------------------------------------
def correlation_argument_spec():
    return dict(
        symbols=dict(type="list", elements="str"),
        state_file=dict(type="path"),
        defaults_file=dict(type="path"),
        check_db=dict(type="bool", default=True),
    )


def paths(params):
    home = params.get("genesis_home") or "/app"
    return (params.get("state_file") or os.path.join(home, STATE_FILE),
            params.get("defaults_file") or os.path.join(home, DEFAULTS_FILE))


def normalize_symbols(symbols):
    """Upper-cased, de-duplicated symbols; returns (symbols, invalid)."""
    seen = []
    invalid = []
    for symbol in symbols or []:
        value = str(symbol).strip().upper()
        if not value.isalnum() or not 2 <= len(value) <= 30:
            invalid.append(str(symbol))
        elif value not in seen:
            seen.append(value)
    return seen, invalid


def check_file(path, symbols):
    """{path, exists, valid, reasons, smallest_eigenvalue, matrix} of one matrix file."""
    doc, error = read_json(path)
    if doc is None:
        return dict(path=path, exists=os.path.exists(path), valid=False, reasons=[error], smallest_eigenvalue=None,
                    matrix=None, document=None)
    reasons, smallest = validate_matrix(doc, symbols)
    return dict(path=path, exists=True, valid=not reasons, reasons=reasons, smallest_eigenvalue=smallest,
                matrix=summary(doc), document=doc)


def inspect(gm, db=None):
    """Check the live file, the defaults file and (with db) the position_correlations rows.

    Returns a dict {symbols, valid, reasons, state_file, defaults_file, database}; raises GenesisError subclasses
    from the database client.
    """
    params = gm.params
    state_path, defaults_path = paths(params)
    symbols, invalid = normalize_symbols(params.get("symbols"))
    if invalid:
        gm.fail("symbols holds invalid symbols %s: expected exchange symbols such as BTCUSDT." % ", ".join(invalid))
    if params.get("symbols") is not None and not symbols:
        gm.fail("symbols is empty: name the symbols the correlation matrix must cover.")
    if not symbols:
        for path in (state_path, defaults_path):
            doc, dummy = read_json(path)
            if isinstance(doc, dict) and isinstance(doc.get("symbols"), list):
                symbols, dummy = normalize_symbols(doc["symbols"])
                if symbols:
                    break
    live = check_file(state_path, symbols or None)
    defaults = check_file(defaults_path, symbols or None)
    database = dict(checked=False, valid=True, reasons=[], rows=[])
    if db is not None:
        rows = db.query(DB_ROWS_SQL, what="reading position_correlations")
        reasons = validate_rows(rows, symbols)
        database = dict(checked=True, valid=not reasons, reasons=reasons,
                        rows=[dict(symbol_1=r["symbol_1"], symbol_2=r["symbol_2"],
                                   value=float(r["correlation_coefficient"]) if _number_like(r["correlation_coefficient"])
                                   else str(r["correlation_coefficient"])) for r in rows])
    reasons = ["%s: %s" % (os.path.basename(state_path), r) for r in live["reasons"]] + database["reasons"]
    return dict(symbols=symbols, valid=live["valid"] and database["valid"], reasons=reasons,
                state_file=live, defaults_file=defaults, database=database)


def public(entry):
    """A check_file() result without the raw document."""
    return dict((k, v) for k, v in entry.items() if k != "document")
