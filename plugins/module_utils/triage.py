# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One read-only sweep of a genesis node against every runbook scenario's detection criteria.

Each surface (control API, supervisor, PostgreSQL, Redis, exchange, files) is read at most
once and shared by the checks that need it; a surface that cannot be read makes only the
checks that depend on it inconclusive (``detected: None`` with the reason), never the sweep.
The thresholds are the contract's (section 7) and the scenario roles' defaults. Triage is a
screen: each scenario role detects again, with its own evidence, before it acts.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause, iso, parse_iso

SCENARIOS = tuple(range(1, 21))
GENESIS_GROUP = "genesis"
CERT_PATH_RE = re.compile(r"^cert_path:\s*['\"]?([^'\"\s#]+)", re.M)

DEFAULTS = dict(
    heartbeat_max_age=60, pending_max_age=30, breakers=["orders"], market_data_max_age=10, market_data_fresh_age=2,
    memory_percent=90, tilt_score=70, rate_warn_ratio=0.8, rate_limit_per_minute=600, rate_quiet_window=60,
    cert_min_days=30, cert_critical_days=7, disk_critical_percent=95, disk_warn_percent=90,
    orderbook_tolerance_bps=10, orderbook_max_age=10, max_drift_ms=1000, strategy_max_errors=0,
    backup_max_age_h=24, response_ms=1000, cpu_percent=80, cpu_window=1.0, move_percent=10, move_window=60,
    move_lookback=300,
)


class Inconclusive(GenesisError):
    """A check could not read what it needs; the message says what."""


def _num(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


class Surfaces(object):
    """Lazily read, cached views of one node. Every reader returns data or raises Inconclusive."""

    def __init__(self, gm, params, clock=time.time):
        self.gm = gm
        self.params = params
        self.clock = clock
        self._cache = {}
        self.home = params.get("genesis_home") or "/app"

    def _once(self, key, reader):
        if key not in self._cache:
            try:
                self._cache[key] = (reader(), None)
            except Inconclusive as exc:
                self._cache[key] = (None, exc.message)
            except GenesisError as exc:
                self._cache[key] = (None, exc.message)
            except Exception as exc:  # pylint: disable=broad-except
                self._cache[key] = (None, "%s: %s" % (key, clause(str(exc) or exc.__class__.__name__)))
        value, error = self._cache[key]
        if error is not None:
            raise Inconclusive(error)
        return value

    # -- control API ---------------------------------------------------------
    def api(self):
        return self._once("api-client", self.gm.api)

    def health(self):
        def read():
            started = time.time()
            answer = self.api().request("GET", "/health", auth=False, accept=(503,))
            elapsed_ms = round((time.time() - started) * 1000.0, 1)
            body = answer.data if isinstance(answer.data, dict) else {}
            return dict(status_code=answer.status, body=body, elapsed_ms=elapsed_ms)
        return self._once("health", read)

    def get(self, path):
        def read():
            data = self.api().get(path).data
            if not isinstance(data, dict):
                raise Inconclusive("GET %s answered without a JSON object" % path)
            return data
        return self._once("GET " + path, read)

    # -- supervisor ----------------------------------------------------------
    def programs(self):
        def read():
            from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import SupervisorClient
            socket_path = self.params.get("supervisor_socket") or os.path.join(self.home, ".genesis", "supervisor.sock")
            return SupervisorClient(socket_path, timeout=self.gm.timeout).get_all_process_info()
        return self._once("supervisor", read)

    def genesis_programs(self):
        return [p for p in self.programs() if p["group"] == GENESIS_GROUP]

    # -- PostgreSQL ------------------------------------------------------------
    def db(self):
        def connect():
            if not self.params.get("db_dsn"):
                raise Inconclusive("db_dsn is not set, so the database was not checked")
            db = self.gm.db("read the trading records")
            db.connect()
            return db
        return self._once("db", connect)

    def query(self, key, sql, args=None, what="query"):
        return self._once("sql " + key, lambda: self.db().query(sql, args, what=what))

    # -- Redis ----------------------------------------------------------------
    def cache(self):
        def connect():
            if not self.params.get("redis_url"):
                raise Inconclusive("redis_url is not set, so Redis was not checked")
            cache = self.gm.cache("read the order books")
            cache.ping()
            return cache
        return self._once("redis", connect)

    # -- exchange -------------------------------------------------------------
    def exchange(self):
        def build():
            if not self.params.get("exchange_url"):
                raise Inconclusive("exchange_url is not set, so the exchange was not checked")
            from ansible_collections.genesis.runbook.plugins.module_utils import exchange_auth
            clock = exchange_auth.node_clock(self.params.get("clock_offset_file"))
            return exchange_auth.client(self.params, self.params.get("exchange_api_key") or None,
                                        self.params.get("exchange_api_secret") or None, clock), clock
        return self._once("exchange", build)

    def exchange_status(self):
        return self._once("exchange status", lambda: self.exchange()[0].system_status().data)

    def symbols(self):
        wanted = self.params.get("symbols") or []
        if wanted:
            return list(wanted)
        try:
            return sorted((self.get("/admin/websocket").get("tickers") or {}).keys())
        except Inconclusive:
            return []


# -- the checks -------------------------------------------------------------------
def _result(reasons, evidence):
    return dict(detected=bool(reasons), reasons=reasons, evidence=evidence)


def check_outage(s, p):
    reasons, evidence = [], {}
    try:
        health = s.health()
        evidence.update(health_status=health["status_code"], health=health["body"].get("status"),
                        heartbeat_age_s=(health["body"].get("heartbeat") or {}).get("age_s"))
        if health["status_code"] != 200:
            reasons.append("GET /health answered %s (%s)" % (health["status_code"], health["body"].get("status")))
        age = _num(evidence["heartbeat_age_s"])
        if age is not None and age > p["heartbeat_max_age"]:
            reasons.append("the last heartbeat is %s s old (max %s s)" % (round(age, 1), p["heartbeat_max_age"]))
    except Inconclusive as exc:
        reasons.append("the control API does not answer: %s" % clause(exc.message))
        evidence["api_error"] = exc.message
    try:
        programs = s.genesis_programs()
        evidence["programs"] = dict((x["ctl_name"], x["statename"]) for x in programs)
        down = sorted(x["ctl_name"] for x in programs if x["statename"] != "RUNNING")
        if down:
            reasons.append("genesis programs not RUNNING: %s" % ", ".join(
                "%s (%s)" % (name, evidence["programs"][name]) for name in down))
    except Inconclusive as exc:
        if "api_error" in evidence:
            raise
        evidence["supervisor_error"] = exc.message
    return _result(reasons, evidence)


def check_execution(s, p):
    rows = s.query("stuck", "SELECT count(*) AS n, min(created_at) AS oldest FROM orders WHERE status = 'PENDING' "
                   "AND created_at < now() - make_interval(secs => %s)", (p["pending_max_age"],),
                   what="counting stuck PENDING orders")
    stuck = int(rows[0]["n"]) if rows else 0
    breakers = s.get("/admin/circuit-breakers").get("breakers") or {}
    not_closed = sorted(n for n in p["breakers"] if (breakers.get(n) or {}).get("state", "closed") != "closed")
    reasons = (["%d orders PENDING longer than %s s" % (stuck, p["pending_max_age"])] if stuck else [])
    reasons += ["circuit breaker %s is %s" % (n, breakers[n].get("state")) for n in not_closed]
    return _result(reasons, dict(stuck_pending_count=stuck, oldest_pending=iso(rows[0]["oldest"]) if stuck else None,
                                 breakers=dict((n, (b or {}).get("state")) for n, b in breakers.items())))


def check_market_data(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import market_data
    state = market_data.evaluate(s.get("/admin/websocket"), p.get("symbols") or [], p["market_data_max_age"],
                                 p["market_data_fresh_age"], s.clock())
    return _result(state["reasons"], dict(mode=state["mode"], stale=state["stale"], disconnected=state["disconnected"],
                                          max_ticker_age_s=state["max_ticker_age_s"]))


def check_database(s, p):
    evidence, reasons = {}, []
    try:
        s.db()
        evidence["connect"] = "ok"
    except Inconclusive as exc:
        if not p.get("db_dsn"):
            raise
        reasons.append(exc.message.rstrip("."))
        evidence["connect"] = exc.message
    try:
        component = (s.health()["body"].get("components") or {}).get("database")
        evidence["health_component"] = component
        if component == "down":
            reasons.append("the node reports its database down")
    except Inconclusive:
        pass
    return _result(reasons, evidence)


def check_memory(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import process_usage
    budget, path = process_usage.memory_budget_mb(s.home)
    budget = p.get("memory_budget_mb") or budget
    if not budget:
        raise Inconclusive("no memory budget: memory_budget_mb is missing in %s" % path)
    kids = process_usage.children_map()
    rss = dict((x["ctl_name"], process_usage.tree_rss_bytes(x["pid"], kids)) for x in s.genesis_programs() if x["pid"])
    total_mb = round(sum(rss.values()) / 1048576.0, 1)
    percent = round(100.0 * total_mb / budget, 1)
    reasons = (["the genesis programs use %s MB, %s %% of the %s MB budget (max %s %%)"
                % (total_mb, percent, budget, p["memory_percent"])] if percent > p["memory_percent"] else [])
    return _result(reasons, dict(rss_mb=total_mb, budget_mb=budget, percent_of_budget=percent,
                                 programs_mb=dict((k, round(v / 1048576.0, 1)) for k, v in rss.items())))


def check_tilt(s, p):
    doc = s.get("/tilt/status")
    score = _num(doc.get("score"), 0.0)
    reasons = ["tilt score %s is above %s (level %s)" % (score, p["tilt_score"], doc.get("level"))] if score > p["tilt_score"] else []
    return _result(reasons, dict(score=score, level=doc.get("level"), violations_last_hour=doc.get("violations_last_hour"),
                                 cooldown_active=doc.get("cooldown_active")))


def check_rate_limit(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import rate_limit
    state = rate_limit.evaluate(s.get("/admin/rate-limits"), None, p["rate_limit_per_minute"], p["rate_warn_ratio"],
                                p["rate_quiet_window"], s.clock())
    return _result(state["reasons"], dict((k, state[k]) for k in (
        "used_weight", "usage_ratio", "recent_429", "last_429_at", "protection", "limit_per_minute")))


def check_positions(s, p):
    tier = s.get("/config/tier")
    limit = _num(tier.get("effective_max_position_size"), _num(tier.get("max_position_size")))
    positions = s.get("/positions").get("positions") or []
    over = [x for x in positions if limit is not None and _num(x.get("dollar_value"), 0.0) > limit]
    reasons = ["position %s %s is %s USDT, above the %s limit of %s USDT"
               % (x.get("position_id"), x.get("symbol"), x.get("dollar_value"), tier.get("tier"), limit) for x in over]
    return _result(reasons, dict(tier=tier.get("tier"), limit=limit, open_positions=len(positions),
                                 over_limit=[x.get("position_id") for x in over]))


def _cert_path(s, p):
    if p.get("cert_path"):
        return p["cert_path"]
    try:
        with open(os.path.join(s.home, "config", "node.yaml")) as handle:
            match = CERT_PATH_RE.search(handle.read())
    except (IOError, OSError):
        match = None
    if not match:
        raise Inconclusive("cert_path is not set and config/node.yaml names no cert_path")
    return match.group(1)


def check_certificates(s, p):
    path = _cert_path(s, p)
    try:
        from cryptography import x509
    except ImportError:
        raise Inconclusive("the cryptography library is missing on the node, so %s was not read" % path)
    try:
        with open(path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
    except (IOError, OSError) as exc:
        return _result(["the certificate %s cannot be read (%s)" % (path, exc.strerror or exc)], dict(path=path))
    except ValueError as exc:
        return _result(["the certificate %s is not a PEM certificate (%s)" % (path, exc)], dict(path=path))
    not_after = getattr(cert, "not_valid_after_utc", None)
    expires = not_after.timestamp() if not_after is not None else _naive_utc_epoch(cert.not_valid_after)
    days = round((expires - s.clock()) / 86400.0, 2)
    reasons = []
    if days < p["cert_min_days"]:
        reasons.append("the certificate %s %s (renew below %s days%s)" % (
            path, "expired %s days ago" % abs(days) if days < 0 else "expires in %s days" % days, p["cert_min_days"],
            "; critical below %s" % p["cert_critical_days"] if days < p["cert_critical_days"] else ""))
    return _result(reasons, dict(path=path, days_left=days, not_after=iso(expires)))


def _naive_utc_epoch(value):
    import calendar
    return float(calendar.timegm(value.utctimetuple()))


def check_disk(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import disk
    paths = [s.home, os.path.join(s.home, ".genesis", "logs"), os.path.join(s.home, ".genesis", "data")]
    found, dummy = disk.filesystems(paths, p["disk_warn_percent"], p["disk_critical_percent"])
    reasons = ["%s is %s %% full (critical above %s %%)" % (f["mount"], f["used_percent"], p["disk_critical_percent"])
               for f in found if f["level"] == "critical"]
    return _result(reasons, dict(filesystems=[dict(mount=f["mount"], used_percent=f["used_percent"], level=f["level"])
                                              for f in found]))


def check_partition(s, p):
    doc = s.get("/admin/cluster")
    peers = doc.get("peers") or {}
    reasons = []
    if doc.get("split_brain"):
        reasons.append("the node reports split brain (role %s, term %s)" % (doc.get("role"), doc.get("term")))
    claim = [n for n, v in peers.items() if (v or {}).get("role") == "primary" and not (v or {}).get("fenced")]
    if doc.get("role") == "primary" and not doc.get("fenced") and claim:
        reasons.append("this node and %s both claim primary" % ", ".join(sorted(claim)))
    unreachable = sorted(n for n, v in peers.items() if not (v or {}).get("reachable"))
    if unreachable:
        reasons.append("peers unreachable: %s" % ", ".join(unreachable))
    return _result(reasons, dict(role=doc.get("role"), term=doc.get("term"), fenced=doc.get("fenced"),
                                 split_brain=doc.get("split_brain"), unreachable_peers=unreachable))


def check_correlation(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import correlation
    path = os.path.join(s.home, ".genesis", "state", "correlation_matrix.json")
    entry = correlation.check_file(path, None)
    reasons = ["correlation_matrix.json: %s" % r for r in entry["reasons"]]
    return _result(reasons, dict(path=path, valid=entry["valid"], smallest_eigenvalue=entry["smallest_eigenvalue"]))


def check_orderbook(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import orderbook
    cache = s.cache()
    exchange = s.exchange()[0]
    symbols = s.symbols() or orderbook.discover_symbols(cache)
    reasons, books = [], {}
    for symbol in symbols:
        entry = orderbook.compare(cache, exchange, symbol, p["orderbook_tolerance_bps"], p["orderbook_max_age"], s.clock())
        books[symbol] = dict(in_sync=entry["in_sync"], deviation_bps=entry["deviation_bps"])
        reasons += ["%s: %s" % (symbol, r) for r in entry["reasons"]]
    return _result(reasons, dict(books=books))


def check_auth(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import exchange_auth
    exchange, clock = s.exchange()
    reasons, evidence = [], {}
    drift, dummy = exchange_auth.measure_drift(exchange, clock)
    evidence["drift_ms"] = drift
    if abs(drift) > p["max_drift_ms"]:
        reasons.append("the node's clock is %s ms off the exchange's (max %s ms)" % (drift, p["max_drift_ms"]))
    if p.get("exchange_api_key") and p.get("exchange_api_secret"):
        outcome = exchange_auth.signed_probe(exchange, "the node's exchange key")
        evidence["signed_call"] = dict(ok=outcome["ok"], code=outcome["code"], status=outcome["status"])
        if outcome["unreachable"]:
            raise Inconclusive(outcome["error"])
        if not outcome["ok"] and (exchange_auth.is_key_problem(outcome) or outcome["code"] == -1021):
            reasons.append(outcome["error"].rstrip("."))
    return _result(reasons, evidence)


def check_strategy(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import strategy
    views = strategy.read_strategies(s.api())
    reasons = []
    for name in sorted(views):
        reasons += ["%s: %s" % (name, r) for r in strategy.failing_reasons(views[name], p["strategy_max_errors"])]
    return _result(reasons, dict(strategies=dict((n, v.get("state")) for n, v in views.items())))


def check_backup(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import restic as resticmod
    repository, password_file = resticmod.contract_paths(s.home)
    repository = p.get("restic_repository") or repository
    password_file = p.get("restic_password_file") or password_file
    restic = resticmod.Restic.resolve(p.get("restic_path") or "restic", repository, password_file, cwd=s.home, timeout=60)
    newest = resticmod.newest(restic.snapshots(None))
    reasons = []
    if newest is None:
        reasons.append("the repository holds no snapshot")
    elif newest["age_h"] is not None and newest["age_h"] > p["backup_max_age_h"]:
        reasons.append("the newest snapshot %s is %s h old (limit %s h)"
                       % (newest["short_id"], round(newest["age_h"], 1), p["backup_max_age_h"]))
    cron = p.get("backup_cron_file")
    if cron and not os.path.isfile(cron):
        reasons.append("the backup schedule %s is missing" % cron)
    return _result(reasons, dict(newest=newest["time"] if newest else None, newest_age_h=newest["age_h"] if newest else None,
                                 schedule=cron))


def check_performance(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import process_usage
    reasons, evidence = [], {}
    health = s.health()
    evidence["api_response_ms"] = health["elapsed_ms"]
    if health["elapsed_ms"] > p["response_ms"]:
        reasons.append("GET /health took %s ms (max %s ms)" % (health["elapsed_ms"], p["response_ms"]))
    if p["cpu_window"] > 0:
        pids = dict((x["ctl_name"], x["pid"]) for x in s.genesis_programs() if x["pid"])
        usage, elapsed = process_usage.sample_cpu(pids, p["cpu_window"])
        evidence["cpu_percent"] = dict((n, u[0]) for n, u in usage.items())
        hot = sorted(n for n, u in usage.items() if u[0] > p["cpu_percent"])
        reasons += ["%s uses %s %% CPU (max %s %%)" % (n, usage[n][0], p["cpu_percent"]) for n in hot]
    return _result(reasons, evidence)


def check_audit(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import audit_trail
    gaps = s.query("gaps", audit_trail.GAPS_SQL, (100,), what="looking for sequence gaps per aggregate")
    by_aggregate = {}
    for row in gaps:
        by_aggregate.setdefault(row["aggregate_id"], []).append(int(row["sequence_number"]))
    reasons = ["%s misses sequence numbers %s" % (a, ", ".join(str(n) for n in sorted(v)[:10]))
               for a, v in sorted(by_aggregate.items())]
    return _result(reasons, dict(aggregates_with_gaps=len(by_aggregate)))


def check_config(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils import config_drift
    files = config_drift.compare(os.path.join(s.home, "config"), os.path.join(s.home, "config.backup"), diff_lines=0)
    summary = config_drift.summarize(files)
    reasons = ["%s differs from config.backup/" % n for n in summary["drifted"]]
    reasons += summary["parse_errors"]
    evidence = dict(drifted=summary["drifted"], version_conflicts=summary["version_conflicts"])
    try:
        valid = s.get("/admin/config/validate")
        evidence["validate"] = dict(valid=valid.get("valid"), errors=valid.get("errors") or [])
        if valid.get("valid") is False:
            reasons += ["validation: %s" % e for e in valid.get("errors") or ["invalid"]]
    except Inconclusive as exc:
        evidence["validate_error"] = exc.message
    return _result(reasons, evidence)


def check_emergency(s, p):
    from ansible_collections.genesis.runbook.plugins.module_utils.trading import move_reason, symbol_move
    exchange = s.exchange()[0]
    reasons, moves = [], {}
    status = s.exchange_status()
    if isinstance(status, dict) and status.get("status") == 1:
        reasons.append("the exchange reports status 1 (%s)" % status.get("msg"))
    for symbol in s.symbols():
        move = symbol_move(exchange, symbol, p["move_window"], p["move_lookback"])
        moves[symbol] = move["move_percent"]
        if move["move_percent"] >= p["move_percent"]:
            reasons.append(move_reason(symbol, move, p["move_window"]))
    return _result(reasons, dict(system_status=status, max_move_percent=moves))


CHECKS = {
    1: check_outage, 2: check_execution, 3: check_market_data, 4: check_database, 5: check_memory, 6: check_tilt,
    7: check_rate_limit, 8: check_positions, 9: check_certificates, 10: check_disk, 11: check_partition,
    12: check_correlation, 13: check_orderbook, 14: check_auth, 15: check_strategy, 16: check_backup,
    17: check_performance, 18: check_audit, 19: check_config, 20: check_emergency,
}


def run_check(number, surfaces, params):
    started = time.time()
    try:
        result = CHECKS[number](surfaces, params)
        result["error"] = None
    except GenesisError as exc:
        result = dict(detected=None, reasons=[], evidence={}, error=exc.message)
    except Exception as exc:  # pylint: disable=broad-except
        result = dict(detected=None, reasons=[], evidence={},
                      error="the check failed unexpectedly: %s" % clause(str(exc) or exc.__class__.__name__))
    result["scenario"] = number
    result["elapsed_s"] = round(time.time() - started, 3)
    return result


def walk_tree(checks):
    """The runbook's quick-reference decision tree over the sweep: which branch the node is on."""
    def state(n):
        c = checks.get(n)
        return None if c is None or c["detected"] is None else not c["detected"]

    path = []
    accepting, executing, feeding = state(1), state(2), state(3)
    path.append("accepting trades? %s" % _yes_no(accepting))
    if accepting is False:
        return dict(accepting_trades=False, executing=None, market_data_active=None, branch=1, path=path)
    path.append("executing? %s" % _yes_no(executing))
    if executing is False:
        return dict(accepting_trades=accepting, executing=False, market_data_active=None, branch=2, path=path)
    path.append("market data active? %s" % _yes_no(feeding))
    if feeding is False:
        return dict(accepting_trades=accepting, executing=executing, market_data_active=False, branch=3, path=path)
    path.append("specific symptoms")
    return dict(accepting_trades=accepting, executing=executing, market_data_active=feeding, branch=None, path=path)


def _yes_no(value):
    return "unknown" if value is None else ("yes" if value else "no")


def sweep(gm, params, scenarios=SCENARIOS, clock=time.time):
    surfaces = Surfaces(gm, params, clock)
    checks = dict((n, run_check(n, surfaces, params)) for n in scenarios)
    return dict(
        checks=checks,
        detected=sorted(n for n, c in checks.items() if c["detected"]),
        inconclusive=sorted(n for n, c in checks.items() if c["detected"] is None),
        tree=walk_tree(checks),
        swept_at=iso(clock()),
    )


__all__ = ["DEFAULTS", "SCENARIOS", "sweep", "walk_tree", "run_check", "Surfaces", "Inconclusive", "parse_iso"]
