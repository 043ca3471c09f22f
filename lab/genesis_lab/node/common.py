"""Helpers shared by the node programs: settings, time, JSON-lines logs, database, Redis,
fault hooks and shutdown handling. Only light imports here (no aiohttp)."""
from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

# ---------------------------------------------------------------------------- time

UTC = dt.timezone.utc


def iso(value: Any = None) -> str | None:
    """ISO 8601 UTC with milliseconds and a Z (contract conventions). None stays None
    only when passed explicitly as a value that is not a time; no argument means now."""
    if value is None:
        value = time.time()
    if isinstance(value, (int, float)):
        value = dt.datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


def iso_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    ts = parse_time(value)
    return iso(ts) if ts is not None else None


def parse_time(value: Any) -> float | None:
    """Epoch seconds from an epoch number, a numeric string or an ISO 8601 string."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(value)
    s = str(value).strip()
    try:
        return float(s)
    except ValueError:
        pass
    try:
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        d = dt.datetime.fromisoformat(s)
        if d.tzinfo is None:
            d = d.replace(tzinfo=UTC)
        return d.timestamp()
    except ValueError:
        return None


def json_default(obj: Any) -> Any:
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, dt.datetime):
        return iso(obj)
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=json_default, separators=(",", ":"))


def num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- settings

def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return env
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].strip()
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def read_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


class Settings:
    """Everything a program needs from `<home>/.env` and `<home>/config/node.yaml`."""

    def __init__(self, home: str | Path):
        self.home = Path(home).resolve()
        self.reload()

    # paths
    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def genesis_dir(self) -> Path:
        return self.home / ".genesis"

    @property
    def state_dir(self) -> Path:
        return self.home / ".genesis" / "state"

    @property
    def logs_dir(self) -> Path:
        return self.home / ".genesis" / "logs"

    def reload(self) -> None:
        self.env = read_env_file(self.home / ".env")
        try:
            node_cfg = read_yaml(self.config_dir / "node.yaml")
        except (OSError, yaml.YAMLError):
            node_cfg = None
        if not isinstance(node_cfg, dict):
            # keep the previous node settings if the file is unreadable now
            node_cfg = getattr(self, "node_cfg", None) or {}
        self.node_cfg = node_cfg
        e, n = self.env, node_cfg
        self.node = e.get("GENESIS_NODE") or str(n.get("node") or "node1")
        self.cluster = e.get("GENESIS_CLUSTER") or str(n.get("cluster") or "glab")
        self.api_key = e.get("GENESIS_API_KEY", "")
        self.db_url = e.get("GENESIS_DATABASE_URL", "")
        self.redis_url = e.get("GENESIS_REDIS_URL", "redis://127.0.0.1:6379/0")
        self.exchange_url = (e.get("GENESIS_EXCHANGE_URL") or "http://127.0.0.1:9000").rstrip("/")
        self.exchange_key = e.get("GENESIS_EXCHANGE_API_KEY", "")
        self.exchange_secret = e.get("GENESIS_EXCHANGE_API_SECRET", "")
        self.account_id = e.get("GENESIS_ACCOUNT_ID") or (str(n["account_id"]) if n.get("account_id") else None)
        self.version = n.get("version")
        try:
            self.priority = int(n.get("priority", 1))
        except (TypeError, ValueError):
            self.priority = 1
        api = n.get("api") if isinstance(n.get("api"), dict) else {}
        self.api_host = str(api.get("host", "0.0.0.0"))
        self.api_port = int(api.get("port", 8080))
        self.tls_port = int(api["tls_port"]) if api.get("tls_port") else None
        self.cert_path = n.get("cert_path")
        self.key_path = n.get("key_path")
        self.heartbeat_interval = float(n.get("heartbeat_interval", 5) or 5)
        self.memory_budget_mb = float(n.get("memory_budget_mb", 400) or 400)
        syms = n.get("symbols") or ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        self.symbols = [str(s).upper() for s in syms] if isinstance(syms, list) else ["BTCUSDT"]
        peers = n.get("peers") or []
        self.peers = [{"name": str(p["name"]), "url": str(p["url"]).rstrip("/")}
                      for p in peers if isinstance(p, dict) and p.get("name") and p.get("url")]
        self.lease_ttl = float(n.get("lease_ttl", 6) or 6)
        self.node_root = Path(n["lab_node_root"]) if n.get("lab_node_root") else None
        if n.get("lab_clock_offset_file"):
            self.clock_offset_file = Path(n["lab_clock_offset_file"])
        elif self.node_root is not None:
            self.clock_offset_file = self.node_root / "lab" / "clock_offset_ms"
        else:
            self.clock_offset_file = None
        self.restic_password_file = (e.get("RESTIC_PASSWORD_FILE") or os.environ.get("RESTIC_PASSWORD_FILE")
                                     or str(self.home / ".genesis" / "backups" / "restic-password"))
        self.restic_repository = (e.get("RESTIC_REPOSITORY")
                                  or str(self.home / ".genesis" / "backups" / "restic-repo"))

    @property
    def local_api_url(self) -> str:
        host = self.api_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.api_port}"


class ClockOffset:
    """The node's simulated clock error in ms, read from `lab_clock_offset_file` (cached 1 s)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._value = 0.0
        self._read_at = 0.0

    def ms(self) -> float:
        now = time.monotonic()
        if self.path is not None and now - self._read_at > 1.0:
            self._read_at = now
            try:
                self._value = float(Path(self.path).read_text().strip() or 0)
            except (OSError, ValueError):
                self._value = 0.0
        return self._value

    def now_ms(self) -> int:
        return int(time.time() * 1000 + self.ms())


# ---------------------------------------------------------------------------- logging

LEVELS = ("debug", "info", "warning", "error", "critical")


class JsonLog:
    """JSON-lines logger (contract 1.3). Each line is opened-appended-closed, so a rotated or
    removed file is recreated, and a full disk only costs a one-line notice on stderr."""

    _notice_at: dict[str, float] = {}
    _lock = threading.Lock()

    def __init__(self, logs_dir: Path, filename: str, logger: str, node: str | None = None,
                 program: str | None = None):
        self.logs_dir = Path(logs_dir)
        self.filename = filename
        self.logger = logger
        self.node = node
        self.program = program

    def child(self, filename: str, logger: str) -> "JsonLog":
        return JsonLog(self.logs_dir, filename, logger, self.node, self.program)

    def log(self, level: str, event: str, /, **fields: Any) -> dict:
        rec: dict[str, Any] = {"timestamp": iso(), "level": level, "event": event, "logger": self.logger}
        if self.node:
            rec["node"] = self.node
        if self.program:
            rec["program"] = self.program
        rec["pid"] = os.getpid()
        for k, v in fields.items():
            if k not in ("timestamp", "level", "event", "logger"):
                rec[k] = v
        self.write_raw(rec, also_error=level in ("error", "critical"))
        return rec

    def write_raw(self, rec: dict, also_error: bool = False) -> None:
        try:
            line = json.dumps(rec, default=json_default) + "\n"
        except (TypeError, ValueError):
            line = json.dumps({k: str(v) for k, v in rec.items()}) + "\n"
        self._append(self.filename, line)
        if also_error and self.filename != "genesis_error.log":
            self._append("genesis_error.log", line)

    def _append(self, name: str, line: str) -> None:
        path = self.logs_dir / name
        for attempt in (0, 1):
            try:
                with open(path, "a", encoding="utf-8") as f:
                    f.write(line)
                return
            except FileNotFoundError:
                if attempt == 0:
                    try:
                        self.logs_dir.mkdir(parents=True, exist_ok=True)
                        continue
                    except OSError as exc:
                        self._notice(name, exc)
                        return
                self._notice(name, None)
                return
            except OSError as exc:
                self._notice(name, exc)
                return

    def _notice(self, name: str, exc: BaseException | None) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._notice_at.get(name, -1e9)
            if now - last < 10:
                return
            self._notice_at[name] = now
        try:
            sys.stderr.write(f"{iso()} genesis-lab {self.program or self.logger}: cannot write log "
                             f"{name}: {exc}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def debug(self, event: str, /, **f: Any) -> dict:
        return self.log("debug", event, **f)

    def info(self, event: str, /, **f: Any) -> dict:
        return self.log("info", event, **f)

    def warning(self, event: str, /, **f: Any) -> dict:
        return self.log("warning", event, **f)

    def error(self, event: str, /, **f: Any) -> dict:
        return self.log("error", event, **f)

    def critical(self, event: str, /, **f: Any) -> dict:
        return self.log("critical", event, **f)


def write_json_file(path: Path, data: Any, mode: int | None = None) -> bool:
    """Atomic JSON write; False (no exception) when the disk is full or unwritable."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, default=json_default, indent=1)
            f.write("\n")
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        return False


def read_json_file(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------- database

class DbDown(Exception):
    """The database did not answer."""


class Database:
    """psycopg2 with one autocommit connection per thread, reconnecting on demand."""

    def __init__(self, dsn: str, app_name: str = "genesis"):
        self.dsn = dsn
        self.app_name = app_name
        self._local = threading.local()
        self.last_ok: float | None = None
        self.last_error: str | None = None

    def _conn(self):
        import psycopg2
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        if not self.dsn:
            raise DbDown("GENESIS_DATABASE_URL is not set")
        try:
            conn = psycopg2.connect(self.dsn, connect_timeout=3, application_name=self.app_name,
                                    options="-c statement_timeout=15000",
                                    keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2)
        except psycopg2.Error as exc:
            self.last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else "connect failed"
            raise DbDown(self.last_error) from exc
        conn.autocommit = True
        self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    @staticmethod
    def _rows(cur) -> list[dict]:
        if cur.description is None:
            return []
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def query(self, sql: str, params: Any = None) -> list[dict]:
        import psycopg2
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                rows = self._rows(cur)
            self.last_ok = time.time()
            return rows
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            self._drop()
            self.last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else "database error"
            raise DbDown(self.last_error) from exc

    def one(self, sql: str, params: Any = None) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def ping(self) -> bool:
        try:
            self.query("SELECT 1")
            return True
        except DbDown:
            return False

    @contextmanager
    def tx(self):
        """A transaction on this thread's connection; yields a cursor."""
        import psycopg2
        conn = self._conn()
        cur = conn.cursor()
        try:
            cur.execute("BEGIN")
            yield cur
            cur.execute("COMMIT")
            self.last_ok = time.time()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            self._drop()
            self.last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else "database error"
            raise DbDown(self.last_error) from exc
        except BaseException:
            try:
                cur.execute("ROLLBACK")
            except Exception:  # noqa: BLE001
                self._drop()
            raise
        finally:
            try:
                cur.close()
            except Exception:  # noqa: BLE001
                pass

    @staticmethod
    def rows(cur) -> list[dict]:
        return Database._rows(cur)

    def close(self) -> None:
        self._drop()


def account_id(db: Database, settings: Settings) -> str | None:
    """The node's trading account: GENESIS_ACCOUNT_ID, else the oldest account."""
    if settings.account_id:
        return settings.account_id
    row = db.one("SELECT account_id FROM accounts ORDER BY created_at, account_id LIMIT 1")
    return row["account_id"] if row else None


# ---------------------------------------------------------------------------- redis

def make_redis(url: str):
    import redis
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2,
                                health_check_interval=15)


def redis_errors():
    import redis
    return (redis.exceptions.RedisError, OSError)


def take_fault(r, program: str) -> dict:
    """Read once and clear the lab fault hook `lab:fault:<program>` (DESIGN.md)."""
    key = f"lab:fault:{program}"
    pipe = r.pipeline(transaction=True)
    pipe.hgetall(key)
    pipe.delete(key)
    res = pipe.execute()
    return res[0] or {}


def flag_enabled(h: dict | None) -> bool:
    if not h:
        return False
    return str(h.get("enabled", "0")).strip().lower() in ("1", "true", "yes", "on")


def truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


class ConfigWatcher:
    """Notices a bump of `genesis:config:version` so a program re-reads `.env` and node.yaml."""

    KEY = "genesis:config:version"

    def __init__(self, r):
        self.r = r
        self.seen: str | None = None
        try:
            self.seen = r.get(self.KEY)
        except Exception:  # noqa: BLE001
            self.seen = None

    def changed(self) -> bool:
        try:
            v = self.r.get(self.KEY)
        except Exception:  # noqa: BLE001
            return False
        if v != self.seen:
            self.seen = v
            return True
        return False


# ---------------------------------------------------------------------------- shutdown

def _watchdog(seconds: float) -> None:
    def kill():
        time.sleep(seconds)
        os._exit(0)
    threading.Thread(target=kill, daemon=True, name="exit-watchdog").start()


class Stopper:
    """SIGTERM/SIGINT -> event set; a watchdog guarantees the exit within 4.5 s."""

    def __init__(self):
        self.event = threading.Event()
        signal.signal(signal.SIGTERM, self._handler)
        signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum, frame):  # noqa: ARG002
        if not self.event.is_set():
            self.event.set()
            _watchdog(4.5)

    def wait(self, seconds: float) -> bool:
        return self.event.wait(max(0.0, seconds))

    @property
    def stopped(self) -> bool:
        return self.event.is_set()


def start_exit_watchdog(seconds: float = 4.5) -> None:
    _watchdog(seconds)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def backoff(attempt: int, base: float = 0.5, cap: float = 10.0) -> float:
    return min(cap, base * (2 ** max(0, attempt)))


def run_tick_loop(log: "JsonLog", label: str, tick, tick_s: float, backoff_base: float, backoff_cap: float) -> int:
    """Call `tick` every `tick_s` seconds until SIGTERM/SIGINT.

    While the database or Redis is down the loop backs off (and logs the outage once,
    then its end); any other error is logged and retried after 2 s. Returns 0.
    """
    stop = Stopper()
    attempt = 0
    down_since = None
    while not stop.stopped:
        t0 = time.monotonic()
        try:
            tick()
            if down_since is not None:
                log.info(f"{label} dependencies restored")
                down_since = None
            attempt = 0
            delay = tick_s
        except (DbDown, *redis_errors()) as exc:
            if down_since is None:
                down_since = time.time()
                log.error(f"{label} dependency down", component="database" if isinstance(exc, DbDown) else "redis",
                          error=str(exc))
            delay = backoff(attempt, backoff_base, backoff_cap)
            attempt += 1
        except Exception as exc:  # noqa: BLE001
            log.error(f"{label} tick failed", exception=f"{type(exc).__name__}: {exc}")
            delay = 2.0
        stop.wait(max(0.05, delay - (time.monotonic() - t0)))
    log.info(f"{label} stopped")
    return 0
