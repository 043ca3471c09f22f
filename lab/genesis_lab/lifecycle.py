"""up / down of a lab, and cleanup of the leftovers of a crashed run.

Everything `up` creates is recorded in `<state>/lab.json` as soon as it exists, and every
process it starts carries `GENESIS_LAB_INSTANCE=<lab>:<state dir>` in its environment, so
`down` (and the cleanup at the start of `up`) finds exactly what belongs to this lab.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import requests

from . import certs, inventory, netns, provision
from .labspec import MARKER_FILE, STATE_FILE, Lab, LabError, Node, is_root, subnet_index
from .status import descendants

Log = Callable[[str], None]


def _noop(msg: str) -> None:
    pass


# ------------------------------------------------------------------ processes
def _read_environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def has_marker(pid: int, mark: str) -> bool:
    return f"GENESIS_LAB_INSTANCE={mark}".encode() in _read_environ(pid).split(b"\0")


def marked_pids(mark: str) -> list[int]:
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != me and has_marker(int(d), mark):
            out.append(int(d))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def children(pid: int) -> list[int]:
    """All descendants of pid."""
    return descendants(pid)


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def kill_pids(pids: list[int], timeout: float = 5.0) -> list[int]:
    """SIGTERM, wait, SIGKILL; returns the pids that had to be killed hard."""
    pids = [p for p in dict.fromkeys(pids) if p > 1 and p != os.getpid()]
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    left = wait_gone(pids, timeout)
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_gone(left, 3.0)
    return left


# ------------------------------------------------------------------ mounts
def _unescape(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = _unescape(line.split()[4])
            if mp.startswith(prefix):
                out.append(mp)
    return sorted(set(out), key=len, reverse=True)


def lab_tmpfs_mounts(name: str) -> list[str]:
    """Mount points of the lab's tmpfs by their source name `genesis-lab-<lab>-node<i>`."""
    pat = re.compile(rf"^genesis-lab-{re.escape(name)}-node\d+$")
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = post.split()
            if len(fields) >= 2 and fields[0] == "tmpfs" and pat.match(_unescape(fields[1])):
                out.append(_unescape(pre.split()[4]))
    return out


def unmount(path: str) -> bool:
    p = subprocess.run(["umount", path], capture_output=True, text=True)
    if p.returncode != 0:
        p = subprocess.run(["umount", "-l", path], capture_output=True, text=True)
    return p.returncode == 0


# ------------------------------------------------------------------ teardown
def teardown(name: str, state_dir: Path, log: Log = print) -> bool:
    """Remove everything of lab `name` with state in `state_dir`; returns False when nothing was found."""
    state_dir = Path(state_dir)
    mark = f"{name}:{state_dir}"
    data = None
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        pass
    did: list[str] = []

    # 1. supervisord of every node, gracefully (it stops its programs), in parallel
    sup: dict[int, list[int]] = {}
    for nd in (data or {}).get("nodes", []):
        pid = nd.get("pids", {}).get("supervisord")
        pidfile = Path(nd["root"]) / "run" / "supervisord.pid"
        if not pid and pidfile.exists():
            try:
                pid = int(pidfile.read_text().strip())
            except ValueError:
                pid = None
        if pid and alive(pid) and has_marker(pid, mark):
            sup[pid] = children(pid)
            os.kill(pid, signal.SIGTERM)
    if sup:
        left = wait_gone(list(sup), 25.0)
        if left:
            kill_pids(left, 0.5)
        kids = [c for cs in sup.values() for c in cs if alive(c)]
        if kids:
            kill_pids(kids, 3.0)
        did.append(f"stopped {len(sup)} supervisord")

    # 2. every other process of this lab: recorded pids, the marker, the lab's namespaces
    ns_names = set(netns.lab_namespaces(name)) if is_root() else set()
    if data:
        ns_names |= {n for n in data.get("namespaces", []) if netns.ns_exists(n)}
    pids = set(marked_pids(mark))
    rec = []
    if data:
        rec += [v for v in data.get("pids", {}).values() if isinstance(v, int)]
        for nd in data.get("nodes", []):
            rec += [v for v in nd.get("pids", {}).values() if isinstance(v, int)]
    pids |= {p for p in rec if alive(p) and has_marker(p, mark)}
    for ns in ns_names:
        pids |= set(netns.ns_pids(ns))
    pids = {p for p in pids if alive(p)}
    if pids:
        hard = kill_pids(sorted(pids), 5.0)
        did.append(f"stopped {len(pids)} processes" + (f" ({len(hard)} with SIGKILL)" if hard else ""))

    # 3. mounts (recorded, and anything mounted under the state dir)
    mps = set(mounts_under(state_dir)) | set(lab_tmpfs_mounts(name))
    if data:
        mps |= {m for m in data.get("mounts", []) if m in mounts_under(Path(m).parent)}
    for mp in sorted(mps, key=len, reverse=True):
        if unmount(mp):
            did.append(f"unmounted {mp}")
        else:
            log(f"warning: could not unmount {mp}")

    # 4. nft tables in the root namespace (tables inside lab namespaces go with them)
    if is_root():
        tables = {t["table"] for t in (data or {}).get("nft_tables", [])
                  if isinstance(t, dict) and not t.get("ns") and t.get("table")}
        tables |= {t for t in netns.nft_tables() if re.match(rf"^\S+ genesis_lab_{re.escape(name)}(_\w+)?$", t)}
        for t in sorted(tables):
            if netns.delete_table(t):
                did.append(f"deleted nft table {t}")

    # 5. namespaces, 6. links
    if is_root():
        for ns in sorted(ns_names):
            for p in netns.ns_pids(ns):
                if alive(p):
                    kill_pids([p], 2.0)
            if netns.delete_namespace(ns):
                did.append(f"deleted namespace {ns}")
        links = set(netns.lab_links(name))
        if data:
            links |= {l for l in data.get("links", []) if netns.link_exists(l)}
        for l in sorted(links, key=lambda x: x.endswith("br")):
            if netns.delete_link(l):
                did.append(f"deleted link {l}")

    # 7. the state directory (only when it is ours)
    if state_dir.exists() and ((state_dir / STATE_FILE).exists() or (state_dir / MARKER_FILE).exists()):
        if mounts_under(state_dir):
            raise LabError(f"{state_dir} still has mounts under it; not removing it")
        shutil.rmtree(state_dir, ignore_errors=True)
        if state_dir.exists():
            shutil.rmtree(state_dir)
        did.append(f"removed {state_dir}")
    for d in did:
        log(f"  {d}")
    return bool(did)


# ------------------------------------------------------------------ up
class Recorder:
    """Saves lab.json after every change, from any thread."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.lock = threading.Lock()

    def __call__(self, fn: Callable[[dict], None] | None = None) -> None:
        with self.lock:
            if fn:
                fn(self.lab.data)
            self.lab.save()


def _ping(url: str, timeout: float = 0.5) -> bool:
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def _tail(path: Path, n: int = 8) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return "(no log)"
    return "\n      ".join(lines) or "(empty log)"


def start_exchange(lab: Lab, rec: Recorder) -> int:
    ex = lab.exchange
    d = lab.state_dir / "exchange"
    d.mkdir(parents=True, exist_ok=True)
    token = ex.get("token") or provision.gen_secret(16)
    provision.write_file(d / "token", token + "\n", 0o600)
    mod = os.environ.get("GENESIS_LAB_EXCHANGE_MODULE", "genesis_lab.exchange")
    argv = netns.nsenter_argv(ex.get("netns"), [lab.python, "-m", mod, "--host", ex["address"],
                                                "--port", str(ex["port"]), "--token-file", str(d / "token"),
                                                "--keys-file", str(d / "keys.json")])
    out = open(d / "exchange.log", "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         env=provision.proc_env(lab), cwd=str(d), start_new_session=True)
    out.close()

    def upd(data):
        data["exchange"]["token"] = token
        data["exchange"]["log"] = str(d / "exchange.log")
        data["pids"]["exchange"] = p.pid
    rec(upd)
    return p.pid


def wait_exchange(lab: Lab, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = lab.exchange_url + "/api/v3/ping"
    while time.monotonic() < deadline:
        if _ping(url):
            return
        if not alive(pid):
            raise LabError(f"the exchange exited during start:\n      {_tail(lab.state_dir / 'exchange' / 'exchange.log')}")
        time.sleep(0.1)
    raise LabError(f"the exchange did not answer {url} within {timeout:.0f} s:\n      "
                   f"{_tail(lab.state_dir / 'exchange' / 'exchange.log')}")


def exchange_key(lab: Lab, node: Node) -> dict:
    label = node.data.get("exchange_account", node.name)
    r = requests.post(lab.exchange_url + "/_lab/keys", json={"label": label}, timeout=5,
                      headers={"X-Lab-Token": lab.exchange_token})
    if r.status_code != 200:
        raise LabError(f"the exchange refused a key for {label}: HTTP {r.status_code} {r.text[:200]}")
    doc = r.json()
    return {"api_key": doc["api_key"], "secret": doc["secret"]}


def _check_local_ports(lab: Lab) -> None:
    ports = [lab.exchange["port"]] + [p for n in lab.nodes for p in n.ports.values()]
    for port in ports:
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        except OSError:
            raise LabError(f"port {port} on 127.0.0.1 is in use; choose another --port-base") from None
        finally:
            s.close()


def _pick_subnet(name: str, requested: str | None, bridge: str) -> str:
    if requested:
        owner = netns.route_owner(requested)
        if owner and owner != bridge:
            raise LabError(f"subnet {requested} is already routed via {owner}; choose another --subnet")
        return requested
    k = subnet_index(name)
    for i in range(200):
        cand = f"10.231.{20 + (k - 20 + i) % 200}.0/24"
        owner = netns.route_owner(cand)
        if not owner or owner == bridge:
            return cand
    raise LabError("no free 10.231.x.0/24 subnet for the lab; pass --subnet")


def wait_node_ready(lab: Lab, node: Node, deadline: float) -> None:
    """All autostart programs RUNNING and GET /health 200 from the root namespace."""
    want_stopped = {"backup"}
    last = "supervisord not answering"
    health_url = node.api_url + "/health"
    sup_pid = node.pids.get("supervisord")
    while time.monotonic() < deadline:
        if sup_pid and not alive(sup_pid):
            raise LabError(f"{node.name}: supervisord exited:\n      {_tail(node.run_dir / 'supervisord.log')}")
        try:
            info = node.supervisor().supervisor.getAllProcessInfo()
        except (OSError, Exception) as e:  # socket not there yet, or supervisord still starting
            last = f"supervisord: {e.__class__.__name__}"
            time.sleep(0.1)
            continue
        bad = [i for i in info if i["name"] not in want_stopped and i["statename"] != "RUNNING"]
        fatal = [i for i in bad if i["statename"] in ("FATAL", "EXITED")]
        if fatal:
            i = fatal[0]
            logf = Path(i.get("stdout_logfile") or i.get("stderr_logfile") or "")
            raise LabError(f"{node.name}: program {i['group']}:{i['name']} is {i['statename']}: "
                           f"{i.get('spawnerr') or ''}\n      {_tail(logf)}")
        if bad:
            last = "not RUNNING yet: " + ", ".join(f"{i['name']}={i['statename']}" for i in bad)
            time.sleep(0.1)
            continue
        try:
            r = requests.get(health_url, timeout=1)
            if r.status_code == 200:
                return
            last = f"GET /health answered {r.status_code}: {r.text[:300]}"
        except requests.RequestException as e:
            last = f"GET /health failed: {e.__class__.__name__}"
        time.sleep(0.1)
    logs = ""
    for prog in ("genesis", "executor", "market_data", "strategies"):
        matches = sorted(node.run_dir.glob(f"{prog}-stdout*.log"))
        if matches:
            logs += f"\n    {prog}: {_tail(matches[0], 4)}"
    raise LabError(f"{node.name} not ready in time ({last}){logs}")


def up(name: str, nodes: int, isolation: str, state_dir: Path, subnet: str | None = None,
       port_base: int = 20000, timeout: float = 90.0, log: Log = print) -> Lab:
    t0 = time.monotonic()
    if isolation == "netns" and not is_root():
        raise LabError("netns isolation needs root; run as root or pass --isolation local")
    if teardown(name, state_dir, log=_noop):
        log(f"cleaned leftovers of a previous run of lab {name}")
    if isolation == "netns" and is_root():
        subnet = _pick_subnet(name, subnet, f"{name}br")
    lab = Lab.plan(name, nodes, isolation, state_dir, subnet=subnet, port_base=port_base)
    if isolation == "local":
        _check_local_ports(lab)
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o755)
    if is_root():
        _check_postgres_access(state_dir)
    (state_dir / MARKER_FILE).write_text(f"genesis-lab {name}\n")
    lab.data["created_at"] = provision.iso(dt.datetime.now(dt.timezone.utc))
    lab.data["status"] = "provisioning"
    lab.data["marker"] = provision.marker(lab)
    for n in lab.nodes:
        provision.secrets_for(n)
        n.data["exchange_account"] = n.name
        n.data["memory_budget_mb"] = provision.MEMORY_BUDGET_MB
    rec = Recorder(lab)
    rec()

    # network
    if isolation == "netns":
        br, addr = lab.data["bridge"], lab.data["bridge_address"]
        netns.create_bridge(br, addr)
        rec(lambda d: d["links"].append(br))
        ex = lab.exchange
        items = [(ex["netns"], ex["veth"], ex["address"])] + [(n.netns, n.data["veth"], n.address) for n in lab.nodes]
        for ns, (host_if, ns_if), a in items:
            netns.create_namespace(ns)
            rec(lambda d, ns=ns: d["namespaces"].append(ns))
            netns.attach_namespace(ns, host_if, ns_if, br, a)
            rec(lambda d, h=host_if: d["links"].append(h))
        log(f"network: bridge {br} {lab.data['subnet']}, {len(items)} namespaces ({time.monotonic() - t0:.1f} s)")

    ex_pid = start_exchange(lab, rec)
    certs.ensure_ca(lab.ca_dir, name)
    if isolation == "netns":
        provision.ensure_client_key(lab)
    now = dt.datetime.now(dt.timezone.utc)

    pool = ThreadPoolExecutor(max_workers=max(4, 3 * len(lab.nodes)))
    restic_jobs = {}
    known_hosts: dict[str, str] = {}

    def stage_a(node: Node) -> dict:
        provision.make_tree(node)
        if isolation == "netns":
            mp = provision.mount_tmpfs(node)
            rec(lambda d: d["mounts"].append(mp))
            node.data["tmpfs"] = mp
        provision.make_home_tree(node)
        restic_jobs[node.name] = pool.submit(provision.restic_init, lab, node)
        provision.write_configs(lab, node, now)
        provision.issue_cert(lab, node, 90)
        provision.write_redis_conf(node)
        if isolation == "netns":
            known_hosts[node.name] = provision.setup_sshd(lab, node)
            pid = provision.start_sshd(lab, node)
            rec(lambda d: node.pids.__setitem__("sshd", pid))
        return provision.init_postgres(lab, node, now)

    futs = {n.name: pool.submit(stage_a, n) for n in lab.nodes}
    try:
        wait_exchange(lab, ex_pid, 30.0)
        for n in lab.nodes:
            k = exchange_key(lab, n)
            n.data["secrets"]["exchange_api_key"] = k["api_key"]
            n.data["secrets"]["exchange_api_secret"] = k["secret"]
        rec()
        seeded = {}
        for n in lab.nodes:
            seeded[n.name] = futs[n.name].result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    log(f"provisioned {len(lab.nodes)} node{'s' if len(lab.nodes) != 1 else ''}: {seeded[lab.nodes[0].name]['orders']} orders, "
        f"{seeded[lab.nodes[0].name]['events']} events each ({time.monotonic() - t0:.1f} s)")

    for n in lab.nodes:
        provision.write_env(lab, n)
        provision.write_supervisord_conf(lab, n)
        pid = provision.start_supervisord(lab, n)
        rec(lambda d, n=n, pid=pid: n.pids.__setitem__("supervisord", pid))
    if isolation == "netns":
        kh = "".join(known_hosts[n.name] + "\n" for n in lab.nodes)
        provision.write_file(lab.known_hosts, kh, 0o644)

    # restic snapshot once the repository exists (runs while the programs start)
    snaps = {}
    for n in lab.nodes:
        restic_jobs[n.name].result()
        snaps[n.name] = pool.submit(provision.restic_snapshot, lab, n)

    deadline = time.monotonic() + timeout
    ready = [pool.submit(wait_node_ready, lab, n, deadline) for n in lab.nodes]
    if isolation == "netns":
        ready += [pool.submit(_wait_sshd, n, deadline) for n in lab.nodes]
    errors = []
    for f in ready:
        try:
            f.result()
        except LabError as e:
            errors.append(str(e))
    for n in lab.nodes:
        try:
            n.data["restic_snapshot"] = snaps[n.name].result()
        except LabError as e:
            errors.append(f"{n.name}: restic snapshot: {e}")
    pool.shutdown(wait=True)
    if errors:
        lab.data["status"] = "failed"
        rec()
        raise LabError("; ".join(errors) + f"\n  the lab is left up for inspection; remove it with: "
                                           f"genesis-lab down --lab {name}")
    inv = inventory.write(lab)
    lab.data["status"] = "up"
    lab.data["inventory"] = str(inv)
    lab.data["up_seconds"] = round(time.monotonic() - t0, 2)
    rec()
    return lab


def _wait_sshd(node: Node, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((node.address, 22), timeout=0.5) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise LabError(f"{node.name}: sshd did not answer on {node.address}:22:\n      {_tail(node.run_dir / 'sshd.log')}")


def _check_postgres_access(state_dir: Path) -> None:
    """PostgreSQL runs as user postgres: every parent of the state dir must be searchable by it."""
    p = state_dir
    while p != p.parent:
        st = p.stat()
        if not st.st_mode & 0o001:
            raise LabError(f"{p} is not searchable by other users, so user postgres cannot reach its "
                           f"data directory; choose another --state-dir")
        p = p.parent


def down(name: str, state_dir: Path, log: Log = print) -> bool:
    return teardown(name, state_dir, log=log)
