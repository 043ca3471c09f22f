"""Provisioning of one node: tree, .env, configuration, PostgreSQL, Redis, supervisord, sshd,
tmpfs, TLS certificate, restic repository. lifecycle.py orders and parallelises these steps.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import yaml

from . import certs, seed
from .labspec import SYMBOLS, Lab, LabError, Node, venv_bin

PG_BIN = Path(os.environ.get("GENESIS_LAB_PG_BIN", "/usr/lib/postgresql/15/bin"))
SCHEMA = Path(__file__).with_name("schema.sql")
TMPFS_SIZE = "64m"
MEMORY_BUDGET_MB = 400
NODE_VERSION = 1


# ------------------------------------------------------------------ helpers
def node_module() -> str:
    return os.environ.get("GENESIS_LAB_NODE_MODULE", "genesis_lab.node")


def marker(lab: Lab) -> str:
    """Environment marker put on every process the lab starts (GENESIS_LAB_INSTANCE)."""
    return f"{lab.name}:{lab.state_dir}"


def proc_env(lab: Lab, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{venv_bin()}:{PG_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/root"),
        "GENESIS_LAB_INSTANCE": marker(lab),
        "GENESIS_LAB_NAME": lab.name,
        "GENESIS_LAB_STATE_DIR": str(lab.state_dir),
        "PYTHONUNBUFFERED": "1",
    }
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update(extra)
    return env


def run(argv, check=True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    p = subprocess.run([str(a) for a in argv], **kw)
    if check and p.returncode != 0:
        out = ((p.stderr or "") + (p.stdout or "")).strip().splitlines()
        raise LabError(f"{Path(str(argv[0])).name} failed (exit {p.returncode}): {' | '.join(out[-5:])}")
    return p


def write_file(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_yaml(path: Path, data, header: str = "", mode: int = 0o644) -> None:
    write_file(path, header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None), mode)


def gen_secret(n: int = 24) -> str:
    return secrets.token_hex(n)


def iso(t: dt.datetime) -> str:
    return seed.iso(t)


def pg_user_ids() -> tuple[int, int]:
    import pwd

    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def as_postgres(argv, **kw) -> subprocess.CompletedProcess:
    """Run argv as the postgres user (only root can switch; otherwise run as ourselves)."""
    if os.geteuid() == 0:
        kw.update(user="postgres", group="postgres", extra_groups=[])
    kw.setdefault("cwd", "/")
    return run(argv, **kw)


def secrets_for(node: Node) -> None:
    s = node.data.setdefault("secrets", {})
    s.setdefault("api_key", "gk_" + gen_secret(20))
    s.setdefault("db_password", gen_secret(16))
    s.setdefault("redis_password", gen_secret(16))
    s.setdefault("restic_password", gen_secret(16))


# ------------------------------------------------------------------ tree and files
def make_tree(node: Node) -> None:
    root = node.root
    for d in ["app", "run", "etc/ssh", "etc/cron.d", "lab", "ansible-tmp", "etc/letsencrypt/live"]:
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    os.chmod(root / "app", 0o755)
    if os.geteuid() == 0:
        uid, gid = pg_user_ids()
        os.chown(root / "run", uid, gid)
    os.chmod(root / "run", 0o755)
    os.chmod(root / "ansible-tmp", 0o700)


def make_home_tree(node: Node) -> None:
    """Directories under genesis_home (after the tmpfs is mounted on .genesis)."""
    g = node.home / ".genesis"
    for d in ["data/heapdumps", "logs/archive", "state", "backups", "tmp"]:
        (g / d).mkdir(parents=True, exist_ok=True)
    for d in ["config", "config.backup"]:
        (node.home / d).mkdir(parents=True, exist_ok=True)


def mount_tmpfs(node: Node) -> str:
    target = node.tmpfs_mount
    target.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755,nosuid,nodev",
         f"genesis-lab-{node.lab.name}-{node.name}", target])
    return str(target)


def trading_rules() -> dict:
    return {
        "version": 1,
        "symbols": list(SYMBOLS),
        "max_leverage": 3,
        "max_open_positions": 5,
        "max_orders_per_minute": 30,
        "max_daily_loss_percent": 5.0,
        "max_drawdown_percent": 15.0,
        "risk_per_trade_percent": 1.0,
        "stop_loss_percent": 2.0,
        "take_profit_percent": 3.0,
        "max_slippage_percent": 0.5,
        "max_position_percent": 10.0,
        "min_order_value_usdt": 10,
        "order_timeout_seconds": 30,
        "default_order_type": "MARKET",
    }


def tier_gates() -> dict:
    return {
        "version": 1,
        "tiers": {
            "SNIPER": {"max_position_size": 100, "min_balance": 0, "max_open_positions": 1,
                       "features": ["market_orders"]},
            "HUNTER": {"max_position_size": 500, "min_balance": 2000, "max_open_positions": 3,
                       "features": ["market_orders", "limit_orders", "multi_pair"]},
            "STRATEGIST": {"max_position_size": 2000, "min_balance": 10000, "max_open_positions": 5,
                           "features": ["market_orders", "limit_orders", "multi_pair", "statistical_arbitrage"]},
            "ARCHITECT": {"max_position_size": 10000, "min_balance": 50000, "max_open_positions": 10,
                          "features": ["market_orders", "limit_orders", "multi_pair", "statistical_arbitrage",
                                       "vwap_execution"]},
        },
        "transition": {"grace_period_hours": 48, "demotion_drawdown_percent": 20},
    }


def emergency_thresholds() -> dict:
    return {
        "version": 1,
        # a market move of more than 10 % within 60 s is a crash (runbook scenario 20)
        "price_move_percent": 10.0,
        "price_move_window_seconds": 60,
        "max_drawdown_percent": 15.0,
        "max_slippage_percent": 2.0,
        "exchange_status_halt": True,
        "tilt_score_halt": 90,
        # genesis's confirmation phrases (REAL)
        "halt_phrase": "HALT TRADING NOW",
        "close_all_phrase": "CLOSE ALL POSITIONS",
        "override_phrase": "OVERRIDE EMERGENCY HALT",
    }


def node_yaml(lab: Lab, node: Node) -> dict:
    local = lab.isolation == "local"
    return {
        "version": NODE_VERSION,
        "node": node.name,
        "cluster": lab.name,
        "priority": node.index,
        "account_id": node.account_id,
        "api": {"host": "127.0.0.1" if local else "0.0.0.0", "port": node.ports["api"],
                "tls_port": node.ports["tls"]},
        "cert_path": str(node.cert_path),
        "key_path": str(node.key_path),
        "heartbeat_interval": 5,
        "memory_budget_mb": MEMORY_BUDGET_MB,
        "symbols": list(SYMBOLS),
        "peers": [{"name": p.name, "url": p.peer_url} for p in lab.nodes if p.name != node.name],
        "lease_ttl": 6,
        "lab_clock_offset_file": str(node.clock_offset_file),
        "lab_node_root": str(node.root),
        "lab_isolation": lab.isolation,
    }


def write_configs(lab: Lab, node: Node, now: dt.datetime) -> None:
    cfg = node.config_dir
    hdr = f"# genesis {node.name} ({lab.name}) -- written by genesis-lab\n"
    write_yaml(cfg / "trading_rules.yaml", trading_rules(), hdr)
    write_yaml(cfg / "tier_gates.yaml", tier_gates(), hdr)
    write_yaml(cfg / "emergency_thresholds.yaml", emergency_thresholds(), hdr)
    write_yaml(cfg / "node.yaml", node_yaml(lab, node), hdr)
    write_file(cfg / "default_correlations.json", json.dumps(seed.correlation_doc("defaults", now), indent=2) + "\n")
    backup = node.home / "config.backup"
    for f in cfg.iterdir():
        if f.is_file():
            shutil.copy2(f, backup / f.name)
    st = node.state_path
    write_file(st / "correlation_matrix.json", json.dumps(seed.correlation_doc("klines", now), indent=2) + "\n")
    write_file(st / "tier_state.json", json.dumps({"tier": seed.TIER, "since": iso(now - dt.timedelta(days=12)),
                                                   "limits_factor": 1.0}) + "\n")
    write_file(node.clock_offset_file, "0\n")
    write_backup_schedule(node)


def write_backup_schedule(node: Node) -> None:
    """A healthy node's backup schedule, byte for byte what ansible.builtin.cron writes for the
    backup_recovery role's defaults (scenario 16 removes it as part of its fault)."""
    job = f"{venv_bin() / 'supervisorctl'} -s unix://{node.supervisor_socket} start backup"
    write_file(node.backup_cron_file, f"#Ansible: genesis restic backup\n17 */6 * * * root {job}\n")


def write_env(lab: Lab, node: Node) -> None:
    lines = [
        f"GENESIS_NODE={node.name}",
        f"GENESIS_CLUSTER={lab.name}",
        f"GENESIS_API_KEY={node.api_key}",
        f"GENESIS_DATABASE_URL={node.local_db_dsn}",
        f"GENESIS_REDIS_URL={node.local_redis_url}",
        f"GENESIS_EXCHANGE_URL={lab.exchange_url}",
        f"GENESIS_EXCHANGE_API_KEY={node.exchange_api_key or ''}",
        f"GENESIS_EXCHANGE_API_SECRET={node.exchange_api_secret or ''}",
        f"GENESIS_ACCOUNT_ID={node.account_id}",
    ]
    write_file(node.env_file, "\n".join(lines) + "\n", 0o600)


def issue_cert(lab: Lab, node: Node, days: int = 90) -> dt.datetime:
    ips = ["127.0.0.1", node.address]
    return certs.issue(lab.ca_dir, node.cert_dir, node.domain, dns=["localhost"], ips=ips, days=days)


# ------------------------------------------------------------------ PostgreSQL
def pg_conf(node: Node, local: bool) -> str:
    return f"""
# --- genesis-lab ---
listen_addresses = '127.0.0.1'
port = {node.ports['pg']}
unix_socket_directories = '{node.run_dir}'
max_connections = 30
shared_buffers = 16MB
work_mem = 2MB
maintenance_work_mem = 16MB
wal_buffers = 1MB
max_wal_size = 128MB
min_wal_size = 32MB
max_worker_processes = 4
max_parallel_workers = 0
max_parallel_workers_per_gather = 0
max_logical_replication_workers = 0
max_wal_senders = 0
wal_level = minimal
autovacuum_max_workers = 1
fsync = off
synchronous_commit = off
full_page_writes = off
dynamic_shared_memory_type = posix
huge_pages = off
logging_collector = off
log_destination = 'stderr'
log_min_messages = warning
log_line_prefix = '%m [%p] '
timezone = 'UTC'
log_timezone = 'UTC'
"""


PG_HBA = """# genesis-lab: trust on the local socket, scram password over TCP
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


def init_postgres(lab: Lab, node: Node, now: dt.datetime) -> dict:
    """initdb, configure, start on the unix socket only, create role/db, load schema, seed, stop."""
    pgdata = node.pgdata
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        uid, gid = pg_user_ids()
        os.chown(pgdata, uid, gid)
    as_postgres([PG_BIN / "initdb", "-D", pgdata, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                 "--auth-local=trust", "--auth-host=scram-sha-256", "-N"], env=proc_env(lab))
    with open(pgdata / "postgresql.conf", "a") as f:
        f.write(pg_conf(node, lab.isolation == "local"))
    (pgdata / "pg_hba.conf").write_text(PG_HBA)
    log = node.run_dir / "postgresql-init.log"
    as_postgres([PG_BIN / "pg_ctl", "-D", pgdata, "-l", log, "-w", "-t", "30", "-o", "-c listen_addresses=''",
                 "start"], env=proc_env(lab))
    try:
        conn = node.db(dbname="postgres")
        with conn.cursor() as cur:
            cur.execute("CREATE ROLE genesis LOGIN PASSWORD %s", (node.db_password,))
            cur.execute("CREATE DATABASE genesis OWNER genesis")
        conn.close()
        conn = node.db(user="genesis")
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            cur.execute(SCHEMA.read_text())
        counts = seed.seed(conn, node.name, node.account_id, node.logs_dir / "audit.log", seed=node.index, now=now)
        conn.close()
    finally:
        as_postgres([PG_BIN / "pg_ctl", "-D", pgdata, "-m", "fast", "-w", "-t", "30", "stop"],
                    env=proc_env(lab), check=False)
    return counts


# ------------------------------------------------------------------ Redis
def write_redis_conf(node: Node) -> None:
    text = f"""# genesis-lab redis for {node.name}
bind 127.0.0.1
port {node.ports['redis']}
protected-mode yes
requirepass {node.redis_password}
unixsocket {node.redis_socket}
unixsocketperm 700
daemonize no
supervised no
save ""
appendonly no
dir {node.run_dir}
logfile ""
loglevel warning
databases 4
maxmemory 64mb
maxmemory-policy noeviction
hz 5
"""
    write_file(node.run_dir / "redis.conf", text, 0o600)


# ------------------------------------------------------------------ supervisord
def write_supervisord_conf(lab: Lab, node: Node) -> None:
    py = lab.python
    home, root = node.home, node.root
    mod = node_module()
    common = ("directory={home}\npriority=50\nautorestart=unexpected\nstartsecs=2\nstopwaitsecs=10\n"
              "stopsignal=TERM\nstopasgroup=true\nkillasgroup=true\nredirect_stderr=true\n"
              "stdout_logfile_maxbytes=2MB\nstdout_logfile_backups=1\n").format(home=home)
    pg_user = "user=postgres\n" if os.geteuid() == 0 else ""
    progs = ""
    for name in ["genesis", "executor", "market_data", "strategies"]:
        progs += f"\n[program:{name}]\ncommand={py} -m {mod} {name} --home {home}\n{common}"
    text = f"""; genesis-lab supervisord for {node.name} ({lab.name})
[unix_http_server]
file={node.supervisor_socket}
chmod=0700

[supervisord]
logfile={root}/run/supervisord.log
logfile_maxbytes=2MB
logfile_backups=1
loglevel=info
pidfile={node.supervisor_pidfile}
childlogdir={root}/run
identifier={lab.name}-{node.name}
minfds=1024

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{node.supervisor_socket}

[program:postgresql]
command={PG_BIN}/postgres -D {node.pgdata}
{pg_user}priority=10
stopsignal=INT
stopwaitsecs=20
autorestart=unexpected
startsecs=1
redirect_stderr=true
stdout_logfile_maxbytes=2MB
stdout_logfile_backups=1

[program:redis]
command=/usr/bin/redis-server {root}/run/redis.conf
priority=10
autorestart=unexpected
startsecs=1
redirect_stderr=true
stdout_logfile_maxbytes=2MB
stdout_logfile_backups=1
{progs}
[group:genesis]
programs=genesis,executor,market_data,strategies

[program:backup]
command={py} -m {mod} backup --home {home}
directory={home}
autostart=false
autorestart=false
startsecs=0
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile_maxbytes=1MB
stdout_logfile_backups=1

[eventlistener:genesis_exit]
command={py} -m {mod} listener --home {home}
events=PROCESS_STATE_EXITED,PROCESS_STATE_FATAL
directory={home}
priority=5
buffer_size=100
autorestart=true
stderr_logfile_maxbytes=1MB
stderr_logfile_backups=1
"""
    write_file(node.supervisor_conf, text, 0o600)


def start_supervisord(lab: Lab, node: Node) -> int:
    argv = node.ns_argv([str(venv_bin() / "supervisord"), "-n", "-c", str(node.supervisor_conf)])
    out = open(node.run_dir / "supervisord.out", "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         env=proc_env(lab), cwd=str(node.root), start_new_session=True)
    out.close()
    return p.pid


# ------------------------------------------------------------------ sshd
def ensure_client_key(lab: Lab) -> Path:
    key = lab.ssh_key
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"genesis-lab-{lab.name}", "-f", key])
    return key


def setup_sshd(lab: Lab, node: Node) -> str:
    """Host key, authorized_keys and sshd_config; returns the known_hosts line."""
    d = node.root / "etc" / "ssh"
    hk = d / "ssh_host_ed25519_key"
    if not hk.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{node.name}.{lab.name}", "-f", hk])
    write_file(d / "authorized_keys", Path(str(lab.ssh_key) + ".pub").read_text(), 0o600)
    path_env = f"{venv_bin()}:{PG_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    conf = f"""# genesis-lab sshd for {node.name} ({lab.name})
ListenAddress {node.address}:22
HostKey {hk}
PidFile {node.sshd_pidfile}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile {d}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 64:30:128
MaxSessions 64
ClientAliveInterval 15
LogLevel ERROR
Subsystem sftp internal-sftp
SetEnv GENESIS_LAB_INSTANCE={marker(lab)} GENESIS_NODE={node.name} GENESIS_HOME={node.home} PATH={path_env}
"""
    write_file(node.sshd_config, conf, 0o600)
    pub = Path(str(hk) + ".pub").read_text().split()
    return f"{node.address} {pub[0]} {pub[1]}"


def start_sshd(lab: Lab, node: Node) -> int:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    argv = node.ns_argv(["/usr/sbin/sshd", "-D", "-e", "-f", str(node.sshd_config)])
    out = open(node.run_dir / "sshd.log", "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         env=proc_env(lab), cwd="/", start_new_session=True)
    out.close()
    return p.pid


# ------------------------------------------------------------------ restic
def restic_env(lab: Lab, node: Node) -> dict[str, str]:
    return proc_env(lab, RESTIC_REPOSITORY=str(node.restic_repository),
                    RESTIC_PASSWORD_FILE=str(node.restic_password_file))


def restic_init(lab: Lab, node: Node) -> None:
    write_file(node.restic_password_file, node.data["secrets"]["restic_password"] + "\n", 0o600)
    run(["restic", "--no-cache", "init", "-q"], env=restic_env(lab, node), cwd=str(node.home))


def restic_snapshot(lab: Lab, node: Node) -> str:
    """The first snapshot, of what the node's `backup` program saves (config/ and .genesis/state)."""
    p = run(["restic", "--no-cache", "--json", "backup", "-q", "--host", node.name, "--tag", "genesis",
             "--tag", "lab-provision", "config", ".genesis/state"], env=restic_env(lab, node), cwd=str(node.home))
    for line in p.stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("message_type") == "summary":
            return doc.get("snapshot_id", "")
    return ""
