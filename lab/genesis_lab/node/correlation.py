"""Correlation matrix validation (contract 5.4): every value in [-1, 1], symmetric within
1e-9, unit diagonal, positive semi-definite. Pure Python (Jacobi eigenvalues)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from genesis_lab.node.common import read_json_file

SYM_TOL = 1e-9
DIAG_TOL = 1e-9
PSD_TOL = 1e-9


def jacobi_eigenvalues(a: list[list[float]], max_sweeps: int = 100) -> list[float]:
    """Eigenvalues of a symmetric matrix (cyclic Jacobi)."""
    n = len(a)
    m = [list(map(float, row)) for row in a]
    for _ in range(max_sweeps):
        off = sum(m[i][j] ** 2 for i in range(n) for j in range(n) if i != j)
        if off < 1e-22:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                if abs(m[p][q]) < 1e-300:
                    continue
                theta = (m[q][q] - m[p][p]) / (2.0 * m[p][q])
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(n):
                    mkp, mkq = m[k][p], m[k][q]
                    m[k][p] = c * mkp - s * mkq
                    m[k][q] = s * mkp + c * mkq
                for k in range(n):
                    mpk, mqk = m[p][k], m[q][k]
                    m[p][k] = c * mpk - s * mqk
                    m[q][k] = s * mpk + c * mqk
    return sorted(m[i][i] for i in range(n))


def validate_matrix(doc: Any) -> list[str]:
    """Reasons the matrix document is invalid (empty list when valid)."""
    if not isinstance(doc, dict):
        return ["correlation matrix is not a JSON object"]
    symbols = doc.get("symbols")
    matrix = doc.get("matrix")
    if not isinstance(symbols, list) or not symbols:
        return ["symbols missing or empty"]
    if not isinstance(matrix, list) or len(matrix) != len(symbols):
        return [f"matrix must have {len(symbols)} rows"]
    n = len(symbols)
    reasons: list[str] = []
    m: list[list[float]] = []
    for i, row in enumerate(matrix):
        if not isinstance(row, list) or len(row) != n:
            return [f"row {i} ({symbols[i]}) must have {n} values"]
        vals = []
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                return [f"value {symbols[i]}/{symbols[j]} is not a finite number"]
            vals.append(float(v))
        m.append(vals)
    for i in range(n):
        for j in range(n):
            v = m[i][j]
            if v < -1.0 or v > 1.0:
                reasons.append(f"{symbols[i]}/{symbols[j]} = {v} is outside [-1, 1]")
    for i in range(n):
        if abs(m[i][i] - 1.0) > DIAG_TOL:
            reasons.append(f"diagonal {symbols[i]} = {m[i][i]} is not 1")
    for i in range(n):
        for j in range(i + 1, n):
            if abs(m[i][j] - m[j][i]) > SYM_TOL:
                reasons.append(f"asymmetric: {symbols[i]}/{symbols[j]} = {m[i][j]} but "
                               f"{symbols[j]}/{symbols[i]} = {m[j][i]}")
    if not any(r.startswith("asymmetric") for r in reasons):
        eig = jacobi_eigenvalues(m)
        if eig and eig[0] < -PSD_TOL:
            reasons.append(f"not positive semi-definite (smallest eigenvalue {eig[0]:.6g})")
    return reasons


def load_live_matrix(home: Path) -> tuple[Any, str]:
    """The live matrix (`.genesis/state/correlation_matrix.json`), else the fallback
    `config/default_correlations.json`. Returns (doc or None, source path)."""
    live = Path(home) / ".genesis" / "state" / "correlation_matrix.json"
    if live.exists():
        doc = read_json_file(live)
        if doc is None:
            return {"__unreadable__": True}, str(live)
        return doc, str(live)
    fallback = Path(home) / "config" / "default_correlations.json"
    if fallback.exists():
        return read_json_file(fallback), str(fallback)
    return None, ""


def check_live(home: Path) -> list[str]:
    doc, source = load_live_matrix(home)
    if doc is None:
        return ["no correlation matrix (neither correlation_matrix.json nor default_correlations.json)"]
    if isinstance(doc, dict) and doc.get("__unreadable__"):
        return [f"{Path(source).name} is not valid JSON"]
    return validate_matrix(doc)


def check_db_rows(rows: list[dict]) -> list[str]:
    """position_correlations rows (symbol_1, symbol_2, correlation_coefficient)."""
    reasons = []
    vals = {}
    for r in rows:
        try:
            v = float(r["correlation_coefficient"])
        except (TypeError, ValueError):
            reasons.append(f"position_correlations {r.get('symbol_1')}/{r.get('symbol_2')} is not a number")
            continue
        vals[(r["symbol_1"], r["symbol_2"])] = v
        if not -1.0 <= v <= 1.0:
            reasons.append(f"position_correlations {r['symbol_1']}/{r['symbol_2']} = {v} is outside [-1, 1]")
    for (a, b), v in vals.items():
        w = vals.get((b, a))
        if w is not None and a < b and abs(v - w) > 1e-6:
            reasons.append(f"position_correlations asymmetric: {a}/{b} = {v} but {b}/{a} = {w}")
    return reasons
