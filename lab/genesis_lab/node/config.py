"""Validation of the node's configuration files (contract 3.9 `GET /admin/config/validate`).

Files and rules (each error is one sentence starting with the file name):

trading_rules.yaml (a mapping; `rules:` nesting is also accepted)
    required: max_leverage 1..10, max_open_positions 1..50, stop_loss_percent 0.1..20,
              take_profit_percent 0.1..50
    optional: max_daily_loss_percent 0.5..50, max_slippage_percent 0.01..5,
              order_timeout_seconds 1..300, max_position_percent 0.1..100
tier_gates.yaml: `tiers:` mapping (or the tier names at the top level) with SNIPER, HUNTER,
    STRATEGIST, ARCHITECT, each `{max_position_size: n}` (or a bare number); values positive,
    ascending and not above genesis's gates 100 / 500 / 2000 / 10000.
emergency_thresholds.yaml
    required: price_move_percent 1..50, price_move_window_seconds 1..3600
    optional: max_drawdown_percent 1..100, override_phrase == "OVERRIDE EMERGENCY HALT"
node.yaml: version (int), node, cluster, priority (int), api {host, port, tls_port},
    heartbeat_interval 1..300, memory_budget_mb 16..65536, symbols (non-empty list),
    lease_ttl 1..300, peers (list of {name, url}, may be empty).
default_correlations.json (if present): a valid correlation matrix (contract 5.4).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import yaml

from genesis_lab.node.correlation import validate_matrix

TIER_NAMES = ("SNIPER", "HUNTER", "STRATEGIST", "ARCHITECT")
DEFAULT_TIERS = {"SNIPER": 100.0, "HUNTER": 500.0, "STRATEGIST": 2000.0, "ARCHITECT": 10000.0}

TRADING_RULES = {  # key: (low, high, required)
    "max_leverage": (1, 10, True),
    "max_open_positions": (1, 50, True),
    "stop_loss_percent": (0.1, 20, True),
    "take_profit_percent": (0.1, 50, True),
    "max_daily_loss_percent": (0.5, 50, False),
    "max_slippage_percent": (0.01, 5, False),
    "order_timeout_seconds": (1, 300, False),
    "max_position_percent": (0.1, 100, False),
}
EMERGENCY = {
    "price_move_percent": (1, 50, True),
    "price_move_window_seconds": (1, 3600, True),
    "max_drawdown_percent": (1, 100, False),
}
NODE_NUMBERS = {
    "heartbeat_interval": (1, 300, True),
    "memory_budget_mb": (16, 65536, True),
    "lease_ttl": (1, 300, True),
}
CONFIG_FILES = ("trading_rules.yaml", "tier_gates.yaml", "emergency_thresholds.yaml", "node.yaml")


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _check_ranges(fname: str, doc: dict, spec: dict) -> list[str]:
    errors = []
    for key, (lo, hi, required) in spec.items():
        if key not in doc or doc[key] is None:
            if required:
                errors.append(f"{fname}: required key {key} is missing")
            continue
        v = doc[key]
        if not _is_number(v):
            errors.append(f"{fname}: {key} {v!r} is not a number")
        elif not lo <= float(v) <= hi:
            errors.append(f"{fname}: {key} {_fmt(v)} is outside {_fmt(lo)}..{_fmt(hi)}")
    return errors


def validate_trading_rules(doc: Any) -> list[str]:
    f = "trading_rules.yaml"
    if not isinstance(doc, dict):
        return [f"{f}: top level must be a mapping"]
    if isinstance(doc.get("rules"), dict):
        doc = doc["rules"]
    return _check_ranges(f, doc, TRADING_RULES)


def tier_table(doc: Any) -> dict[str, Any]:
    """{TIER: raw max_position_size} from a tier_gates document (lenient about shape)."""
    if not isinstance(doc, dict):
        return {}
    tiers = doc.get("tiers") if isinstance(doc.get("tiers"), dict) else doc
    out = {}
    for name, val in tiers.items():
        key = str(name).upper()
        if key not in TIER_NAMES:
            continue
        if isinstance(val, dict):
            out[key] = val.get("max_position_size", val.get("max_position_size_usdt"))
        else:
            out[key] = val
    return out


def tier_limits(doc: Any) -> dict[str, float]:
    """Usable tier limits: the file's valid numbers, the defaults for the rest."""
    out = dict(DEFAULT_TIERS)
    for k, v in tier_table(doc).items():
        if _is_number(v) and float(v) > 0:
            out[k] = float(v)
    return out


def validate_tier_gates(doc: Any) -> list[str]:
    f = "tier_gates.yaml"
    if not isinstance(doc, dict):
        return [f"{f}: top level must be a mapping"]
    table = tier_table(doc)
    errors = []
    prev = 0.0
    for name in TIER_NAMES:
        if name not in table or table[name] is None:
            errors.append(f"{f}: tier {name} (max_position_size) is missing")
            continue
        v = table[name]
        if not _is_number(v):
            errors.append(f"{f}: {name} max_position_size {v!r} is not a number")
            continue
        if not 1 <= float(v) <= DEFAULT_TIERS[name]:
            errors.append(f"{f}: {name} max_position_size {_fmt(v)} is outside 1..{_fmt(DEFAULT_TIERS[name])}")
        elif float(v) <= prev:
            errors.append(f"{f}: {name} max_position_size {_fmt(v)} is not above the lower tier's {_fmt(prev)}")
        prev = max(prev, float(v))
    return errors


def validate_emergency(doc: Any) -> list[str]:
    f = "emergency_thresholds.yaml"
    if not isinstance(doc, dict):
        return [f"{f}: top level must be a mapping"]
    errors = _check_ranges(f, doc, EMERGENCY)
    phrase = doc.get("override_phrase")
    if phrase is not None and phrase != "OVERRIDE EMERGENCY HALT":
        errors.append(f"{f}: override_phrase {phrase!r} is not 'OVERRIDE EMERGENCY HALT'")
    return errors


def validate_node(doc: Any) -> list[str]:
    f = "node.yaml"
    if not isinstance(doc, dict):
        return [f"{f}: top level must be a mapping"]
    errors = []
    if not isinstance(doc.get("version"), int) or isinstance(doc.get("version"), bool):
        errors.append(f"{f}: version must be an integer")
    for key in ("node", "cluster"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            errors.append(f"{f}: required key {key} is missing")
    if not isinstance(doc.get("priority"), int) or isinstance(doc.get("priority"), bool):
        errors.append(f"{f}: priority must be an integer")
    api = doc.get("api")
    if not isinstance(api, dict):
        errors.append(f"{f}: required key api is missing")
    else:
        for key in ("port", "tls_port"):
            v = api.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 65535:
                errors.append(f"{f}: api.{key} {v!r} is outside 1..65535")
        if not isinstance(api.get("host", "0.0.0.0"), str):
            errors.append(f"{f}: api.host must be a string")
    errors += _check_ranges(f, doc, NODE_NUMBERS)
    syms = doc.get("symbols")
    if not isinstance(syms, list) or not syms or not all(isinstance(s, str) and s for s in syms):
        errors.append(f"{f}: symbols must be a non-empty list of symbols")
    peers = doc.get("peers", [])
    if peers is None:
        peers = []
    if not isinstance(peers, list) or not all(isinstance(p, dict) and p.get("name") and p.get("url")
                                              for p in peers):
        errors.append(f"{f}: peers must be a list of {{name, url}}")
    return errors


def _load_yaml(path: Path, errors: list[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        errors.append(f"{path.name}: file is missing")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        errors.append(f"{path.name}: YAML syntax error{where}")
    except OSError as exc:
        errors.append(f"{path.name}: cannot be read ({exc.strerror})")
    return _MISSING


_MISSING = object()


def validate_config_dir(config_dir: Path) -> tuple[list[str], Any]:
    """(errors, version) for the files on disk."""
    config_dir = Path(config_dir)
    errors: list[str] = []
    docs = {}
    for name in CONFIG_FILES:
        docs[name] = _load_yaml(config_dir / name, errors)
    checks = {"trading_rules.yaml": validate_trading_rules, "tier_gates.yaml": validate_tier_gates,
              "emergency_thresholds.yaml": validate_emergency, "node.yaml": validate_node}
    for name, fn in checks.items():
        if docs.get(name) is not _MISSING:
            errors += fn(docs[name])
    corr = config_dir / "default_correlations.json"
    if corr.exists():
        try:
            cdoc = json.loads(corr.read_text(encoding="utf-8"))
            errors += [f"default_correlations.json: {r}" for r in validate_matrix(cdoc)]
        except (OSError, ValueError):
            errors.append("default_correlations.json: not valid JSON")
    node_doc = docs.get("node.yaml")
    version = node_doc.get("version") if isinstance(node_doc, dict) else None
    return errors, version


def load_config_docs(config_dir: Path) -> dict[str, Any]:
    out = {}
    for name in CONFIG_FILES:
        try:
            with open(Path(config_dir) / name, encoding="utf-8") as fh:
                out[name] = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError):
            out[name] = None
    return out


def config_digest(home: Path) -> tuple[str, list[str]]:
    """A digest of .env and config/* and the list of files it covers."""
    home = Path(home)
    h = hashlib.sha256()
    files = []
    paths = [home / ".env"] + sorted(p for p in (home / "config").glob("*") if p.is_file())
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        rel = str(p.relative_to(home))
        files.append(rel)
        h.update(rel.encode() + b"\0" + data + b"\0")
    return h.hexdigest(), files
