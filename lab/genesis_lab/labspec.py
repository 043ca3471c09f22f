"""Lab and Node objects: names, addresses, ports, paths and secrets of one lab.

`Lab.plan(...)` computes a new lab (used by `up`); `Lab.load(...)` reads the state file
`<state>/lab.json` that `up` wrote (used by `down`, status, inject and tests).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xmlrpc.client
import zlib
from pathlib import Path
from typing import Any

DEFAULT_LAB = "glab"
LAB_NAME_RE = re.compile(r"^[a-z0-9]{1,6}$")
EXCHANGE_PORT = 9000
NODE_PORTS = {"api": 8080, "tls": 8443, "pg": 5432, "redis": 6379}
LOCAL_PORT_OFFSETS = {"api": 80, "tls": 43, "pg": 32, "redis": 79}
DEFAULT_PORT_BASE = 20000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
DOMAIN = "genesis.lab"
STATE_FILE = "lab.json"
MARKER_FILE = ".genesis-lab"
PROGRAMS = ["genesis", "executor", "market_data", "strategies"]


class LabError(Exception):
    """A lab operation failed; the message is one clear sentence."""


class LabNotRunning(LabError):
    """There is no state file for this lab."""


def is_root() -> bool:
    return os.geteuid() == 0


def lab_name(name: str | None = None) -> str:
    name = name or os.environ.get("GENESIS_LAB_NAME") or DEFAULT_LAB
    if not LAB_NAME_RE.match(name):
        raise LabError(f"lab name {name!r} must be 1 to 6 characters of [a-z0-9]")
    return name


def default_state_dir(name: str) -> Path:
    if is_root():
        return Path("/var/lib/genesis-lab") / name
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "genesis-lab" / name


def state_dir_for(name: str, state_dir: str | os.PathLike | None = None) -> Path:
    sd = state_dir or os.environ.get("GENESIS_LAB_STATE_DIR")
    return Path(sd).absolute() if sd else default_state_dir(name)


def venv_bin() -> Path:
    """The bin directory of the Python environment the lab runs from."""
    override = os.environ.get("GENESIS_LAB_PYTHON")
    if override:
        return Path(override).parent
    return Path(sys.executable).parent


def subnet_index(name: str) -> int:
    return 20 + zlib.crc32(name.encode()) % 200


class Node:
    """One genesis node of a lab (a view on its entry in lab.json)."""

    def __init__(self, lab: "Lab", data: dict[str, Any]):
        self.lab = lab
        self.data = data

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.address}>"

    # identity and addressing
    name = property(lambda self: self.data["name"])
    index = property(lambda self: self.data["index"])
    address = property(lambda self: self.data["address"])
    netns = property(lambda self: self.data.get("netns"))
    ports = property(lambda self: self.data["ports"])
    account_id = property(lambda self: self.data["account_id"])
    domain = property(lambda self: f"{self.data['name']}.{DOMAIN}")

    # paths
    root = property(lambda self: Path(self.data["root"]))
    home = property(lambda self: Path(self.data["root"]) / "app")
    env_file = property(lambda self: self.home / ".env")
    config_dir = property(lambda self: self.home / "config")
    logs_dir = property(lambda self: self.home / ".genesis" / "logs")
    state_path = property(lambda self: self.home / ".genesis" / "state")
    run_dir = property(lambda self: self.root / "run")
    pgdata = property(lambda self: self.root / "pgdata")
    supervisor_conf = property(lambda self: self.root / "supervisord.conf")
    supervisor_socket = property(lambda self: self.home / ".genesis" / "supervisor.sock")
    supervisor_pidfile = property(lambda self: self.root / "run" / "supervisord.pid")
    cert_dir = property(lambda self: self.root / "etc" / "letsencrypt" / "live" / self.domain)
    cert_path = property(lambda self: self.cert_dir / "cert.pem")
    key_path = property(lambda self: self.cert_dir / "privkey.pem")
    fullchain_path = property(lambda self: self.cert_dir / "fullchain.pem")
    clock_offset_file = property(lambda self: self.root / "lab" / "clock_offset_ms")
    restic_repository = property(lambda self: self.home / ".genesis" / "backups" / "restic-repo")
    restic_password_file = property(lambda self: self.home / ".genesis" / "backups" / "restic-password")
    backup_cron_file = property(lambda self: self.root / "etc" / "cron.d" / "genesis-backup")
    tmpfs_mount = property(lambda self: self.home / ".genesis")
    sshd_config = property(lambda self: self.root / "etc" / "ssh" / "sshd_config")
    sshd_pidfile = property(lambda self: self.root / "run" / "sshd.pid")

    # secrets
    api_key = property(lambda self: self.data["secrets"]["api_key"])
    db_password = property(lambda self: self.data["secrets"]["db_password"])
    redis_password = property(lambda self: self.data["secrets"]["redis_password"])
    exchange_api_key = property(lambda self: self.data["secrets"].get("exchange_api_key"))
    exchange_api_secret = property(lambda self: self.data["secrets"].get("exchange_api_secret"))

    # ports as seen on the node itself (inside its namespace, or on loopback in local mode)
    @property
    def local_api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def local_tls_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['tls']}"

    @property
    def local_db_dsn(self) -> str:
        return f"postgresql://genesis:{self.db_password}@127.0.0.1:{self.ports['pg']}/genesis"

    @property
    def local_redis_url(self) -> str:
        return f"redis://:{self.redis_password}@127.0.0.1:{self.ports['redis']}/0"

    # as seen from the root namespace
    @property
    def api_url(self) -> str:
        return f"http://{self.address}:{self.ports['api']}"

    @property
    def tls_url(self) -> str:
        return f"https://{self.address}:{self.ports['tls']}"

    @property
    def peer_url(self) -> str:
        """This node's control API as the other nodes reach it."""
        return f"http://{self.address}:{self.ports['api']}"

    @property
    def db_dsn_socket(self) -> str:
        return f"host={self.run_dir} port={self.ports['pg']} user=postgres dbname=genesis"

    @property
    def redis_socket(self) -> Path:
        return self.run_dir / "redis.sock"

    def db(self, dbname: str = "genesis", user: str = "postgres", connect_timeout: int = 5):
        import psycopg2

        conn = psycopg2.connect(host=str(self.run_dir), port=self.ports["pg"], user=user,
                                dbname=dbname, connect_timeout=connect_timeout)
        conn.autocommit = True
        return conn

    def redis(self, **kw):
        import redis

        kw.setdefault("socket_timeout", 5)
        kw.setdefault("decode_responses", True)
        return redis.Redis(unix_socket_path=str(self.redis_socket), password=self.redis_password, **kw)

    def supervisor(self):
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.supervisor_socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def supervisorctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        argv = [str(venv_bin() / "supervisorctl"), "-c", str(self.supervisor_conf), *args]
        return subprocess.run(argv, capture_output=True, text=True, check=check)

    def ns_argv(self, argv: list[str]) -> list[str]:
        if self.netns:
            return ["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv]
        return list(argv)

    def run(self, argv: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
        """Run argv inside the node's network namespace (plainly in local mode)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.ns_argv([str(a) for a in argv]), check=check, **kw)

    @property
    def pids(self) -> dict[str, int]:
        return self.data.setdefault("pids", {})


class Lab:
    """A lab: its nodes, the exchange, the network and the state directory."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.nodes = [Node(self, n) for n in data["nodes"]]

    def __repr__(self) -> str:
        return f"<Lab {self.name} {self.isolation} {len(self.nodes)} nodes>"

    name = property(lambda self: self.data["name"])
    isolation = property(lambda self: self.data["isolation"])
    state_dir = property(lambda self: Path(self.data["state_dir"]))
    state_file = property(lambda self: Path(self.data["state_dir"]) / STATE_FILE)
    inventory_path = property(lambda self: Path(self.data["state_dir"]) / "inventory.yml")
    ssh_key = property(lambda self: Path(self.data["state_dir"]) / "ssh" / "id_ed25519")
    known_hosts = property(lambda self: Path(self.data["state_dir"]) / "ssh" / "known_hosts")
    ca_dir = property(lambda self: Path(self.data["state_dir"]) / "ca")
    ca_cert = property(lambda self: Path(self.data["state_dir"]) / "ca" / "ca.pem")
    exchange = property(lambda self: self.data["exchange"])
    exchange_token_file = property(lambda self: Path(self.data["state_dir"]) / "exchange" / "token")
    python = property(lambda self: self.data["python"])
    bridge = property(lambda self: self.data.get("bridge"))
    subnet = property(lambda self: self.data.get("subnet"))

    @property
    def exchange_url(self) -> str:
        ex = self.data["exchange"]
        return f"http://{ex['address']}:{ex['port']}"

    @property
    def exchange_token(self) -> str:
        return self.data["exchange"]["token"]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"lab {self.name} has no node {name!r}; valid nodes: "
                       + ", ".join(n.name for n in self.nodes))

    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def save(self, data: dict | None = None) -> None:
        path = self.state_file
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.data if data is None else data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def record(self, kind: str, item: Any) -> None:
        """Record something created outside `up` in lab.json so that `down` removes it, e.g.
        kind "nft_tables", item {"ns": None, "table": "inet genesis_lab_<lab>_x"} (tables inside
        a lab namespace go with the namespace). Re-reads the file first to keep other records."""
        try:
            current = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            current = self.data
        items = current.setdefault(kind, [])
        if item not in items:
            items.append(item)
        self.data[kind] = list(items)
        self.save(current)

    def exchange_request(self, method: str, path: str, body: dict | None = None, timeout: float = 5.0):
        import requests

        r = requests.request(method, self.exchange_url + path, json=body, timeout=timeout,
                             headers={"X-Lab-Token": self.exchange_token})
        r.raise_for_status()
        return r.json()

    @classmethod
    def load(cls, name: str | None = None, state_dir: str | os.PathLike | None = None) -> "Lab":
        name = lab_name(name)
        sd = state_dir_for(name, state_dir)
        path = sd / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabNotRunning(f"lab {name} is not running (no {path}); start it with: genesis-lab up --lab {name}") from None
        return cls(data)

    @classmethod
    def plan(cls, name: str, nodes: int, isolation: str, state_dir: Path, subnet: str | None = None,
             port_base: int = DEFAULT_PORT_BASE) -> "Lab":
        """Compute names, addresses, ports and paths of a new lab (secrets are added by provision)."""
        if not 1 <= nodes <= 50:
            raise LabError(f"--nodes must be between 1 and 50, got {nodes}")
        data: dict[str, Any] = {
            "version": 1,
            "name": name,
            "isolation": isolation,
            "state_dir": str(state_dir),
            "python": str(venv_bin() / "python"),
            "venv_bin": str(venv_bin()),
            "nodes": [],
            "namespaces": [],
            "links": [],
            "mounts": [],
            "nft_tables": [],
            "pids": {},
        }
        if isolation == "netns":
            if subnet is None:
                subnet = f"10.231.{subnet_index(name)}.0/24"
            m = re.match(r"^(\d+\.\d+\.\d+)\.0/24$", subnet)
            if not m:
                raise LabError(f"--subnet must look like 10.231.42.0/24, got {subnet!r}")
            prefix = m.group(1)
            data["subnet"] = subnet
            data["bridge"] = f"{name}br"
            data["bridge_address"] = f"{prefix}.1"
            data["exchange"] = {"netns": f"{name}-ex", "address": f"{prefix}.2", "port": EXCHANGE_PORT,
                                "veth": [f"{name}exh", f"{name}ex"]}
        else:
            data["port_base"] = port_base
            data["exchange"] = {"netns": None, "address": "127.0.0.1", "port": port_base + 9}
        for i in range(1, nodes + 1):
            nname = f"node{i}"
            nd: dict[str, Any] = {
                "name": nname,
                "index": i,
                "root": str(state_dir / "nodes" / nname),
                "account_id": f"acct-{nname}",
                "pids": {},
                "secrets": {},
            }
            if isolation == "netns":
                nd["address"] = f"{prefix}.{10 + i}"
                nd["netns"] = f"{name}-n{i}"
                nd["veth"] = [f"{name}n{i}h", f"{name}n{i}"]
                nd["ports"] = dict(NODE_PORTS)
            else:
                nd["address"] = "127.0.0.1"
                nd["netns"] = None
                nd["ports"] = {k: port_base + 100 * i + off for k, off in LOCAL_PORT_OFFSETS.items()}
            data["nodes"].append(nd)
        return cls(data)
