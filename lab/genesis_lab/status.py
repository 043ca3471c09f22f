"""genesis-lab status [--json]: what every node of a lab looks like right now.

`collect(lab)` gathers, per node, through the node's own interfaces (supervisor XML-RPC on
its socket, GET /health and the control API, SQL over the unix socket, Redis over the unix
socket, the filesystem and /proc):

- supervisor programs and their states
- health (GET /health status code and `status`), heartbeat age (Redis `genesis:heartbeat`)
- PENDING orders: count and age of the oldest
- ticker ages (`market:ticker:<SYMBOL>`), circuit breakers, websocket connections
- tilt score and level
- disk use of the node's `.genesis` filesystem
- cluster role / term / fenced (GET /admin/cluster)
- RSS of the node's programs

Every probe is bounded by short timeouts and reports its own error instead of failing the
whole collection (a node with its database stopped still gets a full row).
`main(lab, as_json)` prints a compact table, or the full document with --json.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable

from .labspec import SYMBOLS, Lab, Node

BREAKERS = ("binance_api", "api", "websocket", "orders")
WS_CONNECTIONS = ("execution", "monitoring", "backup")
GROUP = "genesis"
HTTP_TIMEOUT = 3.0


# ---------------------------------------------------------------------------- small helpers
def _err(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _probe(out: dict, key: str, fn: Callable[[], Any]) -> Any:
    """out[key] = fn(), or {"error": ...} when it raises."""
    try:
        out[key] = fn()
    except Exception as e:  # noqa: BLE001  (status never fails because one probe did)
        out[key] = {"error": _err(e)}
    return out[key]


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _ts(v: Any) -> float | None:
    """Epoch seconds from an epoch number/string or an ISO 8601 string."""
    f = _num(v)
    if f is not None:
        return f
    if not v:
        return None
    import datetime as dt
    s = str(v).strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        d = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.timestamp()


def api(node: Node, method: str, path: str, body: dict | None = None, timeout: float = HTTP_TIMEOUT,
        auth: bool = True, tls: bool = False):
    """One control API call from the root namespace -> (status, json-or-text, seconds)."""
    import requests

    headers = {"X-API-Key": node.api_key} if auth else {}
    base = node.tls_url if tls else node.api_url
    t0 = time.monotonic()
    r = requests.request(method, base + path, json=body, headers=headers, timeout=timeout,
                         verify=str(node.lab.ca_cert) if tls else True)
    took = time.monotonic() - t0
    try:
        doc = r.json()
    except ValueError:
        doc = r.text[:500]
    return r.status_code, doc, took


# ---------------------------------------------------------------------------- /proc
def children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids, from one pass over /proc."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid: int, kids: dict[int, list[int]] | None = None) -> list[int]:
    kids = children_map() if kids is None else kids
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def rss_bytes(pid: int) -> int:
    """VmRSS of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss(pid: int, kids: dict[int, list[int]] | None = None) -> int:
    return sum(rss_bytes(p) for p in [pid, *descendants(pid, kids)])


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def cpu_percent(pid: int, seconds: float = 1.0) -> float:
    """CPU use of pid over `seconds` in percent of one core."""
    hz = os.sysconf("SC_CLK_TCK")
    a, t0 = cpu_ticks(pid), time.monotonic()
    time.sleep(seconds)
    b, t1 = cpu_ticks(pid), time.monotonic()
    return round(100.0 * (b - a) / hz / max(1e-6, t1 - t0), 1)


def run_queue_wait_ns(pid: int) -> int:
    """Time all threads of pid waited on a run queue (ns, /proc/<pid>/task/*/schedstat); 0 when unknown."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def cpu_demand_percent(pid: int, seconds: float = 1.0) -> float:
    """CPU pid used plus the CPU it waited for over `seconds`, in percent of one core: a spinning
    thread demands 100 % even on a busy shared host where it gets less."""
    hz = os.sysconf("SC_CLK_TCK")
    a, w0, t0 = cpu_ticks(pid), run_queue_wait_ns(pid), time.monotonic()
    time.sleep(seconds)
    b, w1, t1 = cpu_ticks(pid), run_queue_wait_ns(pid), time.monotonic()
    elapsed = max(1e-6, t1 - t0)
    return round(100.0 * ((b - a) / hz + (w1 - w0) / 1e9) / elapsed, 1)


# ---------------------------------------------------------------------------- probes
def prog_name(info: dict) -> str:
    """supervisor's full name: `genesis:executor` for group members, `redis` for the others."""
    if info["group"] == GROUP or info["group"] != info["name"]:
        return f"{info['group']}:{info['name']}"
    return info["name"]


def programs(node: Node) -> dict:
    """{name: {group, state, pid, uptime_s, exitstatus, spawnerr}} from supervisor."""
    info = node.supervisor().supervisor.getAllProcessInfo()
    out = {}
    for i in info:
        out[prog_name(i)] = {"group": i["group"], "state": i["statename"], "pid": i["pid"] or None,
                     "uptime_s": (i["now"] - i["start"]) if i["statename"] == "RUNNING" and i["start"] else None,
                     "exitstatus": i.get("exitstatus"), "spawnerr": i.get("spawnerr") or None}
    return out


def health(node: Node) -> dict:
    import requests

    try:
        code, doc, took = api(node, "GET", "/health", auth=False)
    except requests.RequestException as e:
        return {"code": None, "status": "unreachable", "error": _err(e)}
    if not isinstance(doc, dict):
        return {"code": code, "status": "invalid", "error": str(doc)[:200], "seconds": round(took, 3)}
    return {"code": code, "status": doc.get("status"), "components": doc.get("components"),
            "heartbeat_age_s": (doc.get("heartbeat") or {}).get("age_s"), "halted": doc.get("halted"),
            "safe_mode": doc.get("safe_mode"), "market_data_mode": doc.get("market_data_mode"),
            "seconds": round(took, 3)}


def redis_view(node: Node, now: float) -> dict:
    r = node.redis(socket_timeout=2, socket_connect_timeout=2)
    try:
        pipe = r.pipeline(transaction=False)
        pipe.hgetall("genesis:heartbeat")
        for s in SYMBOLS:
            pipe.hgetall(f"market:ticker:{s}")
        for b in BREAKERS:
            pipe.hgetall(f"genesis:breaker:{b}")
        for c in WS_CONNECTIONS:
            pipe.hgetall(f"genesis:ws:{c}")
        pipe.get("genesis:market_data:mode")
        pipe.hgetall("ratelimit:exchange")
        pipe.llen("genesis:request_queue")
        res = pipe.execute()
    finally:
        r.close()
    i = 0
    hb = res[i] or {}
    i += 1
    hb_ts = _ts(hb.get("ts"))
    tickers = {}
    for s in SYMBOLS:
        h = res[i] or {}
        i += 1
        ts = _ts(h.get("ts"))
        # `now` is read before the keys: a write in between must not give a negative age
        tickers[s] = {"price": _num(h.get("price")), "age_s": round(max(0.0, now - ts), 3) if ts else None,
                      "source": h.get("source")}
    breakers = {}
    for b in BREAKERS:
        h = res[i] or {}
        i += 1
        state = h.get("state") or "closed"
        opened = _ts(h.get("opened_at"))
        if state == "open" and opened and now - opened >= 300:
            state = "half_open"
        breakers[b] = {"state": state, "failures": int(_num(h.get("failures")) or 0)}
    ws = {}
    for c in WS_CONNECTIONS:
        h = res[i] or {}
        i += 1
        lm = _ts(h.get("last_message_ts"))
        ws[c] = {"state": h.get("state") or "disconnected",
                 "last_message_age_s": round(now - lm, 3) if lm else None,
                 "last_error": h.get("last_error") or None}
    mode = res[i] or "websocket"
    rl = res[i + 1] or {}
    last_429 = _ts(rl.get("last_429_at"))
    return {
        "heartbeat": {"ts": hb_ts, "age_s": round(max(0.0, now - hb_ts), 3) if hb_ts else None, "pid": hb.get("pid")},
        "tickers": tickers, "breakers": breakers, "websocket": {"mode": mode, "connections": ws},
        "rate_limit": {"used_weight_1m": int(_num(rl.get("used_weight_1m")) or 0),
                       "last_429_age_s": round(now - last_429, 1) if last_429 else None,
                       "queue_length": int(res[i + 2] or 0)},
    }


def db_view(node: Node) -> dict:
    conn = node.db(connect_timeout=2)
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = 5000")
            cur.execute("SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at)) FROM orders "
                        "WHERE status = 'PENDING'")
            n, oldest = cur.fetchone()
            cur.execute("SELECT current_tilt_score, tilt_level, lockout_expiration > now() FROM tilt_profiles "
                        "ORDER BY profile_id LIMIT 1")
            tilt = cur.fetchone()
            cur.execute("SELECT count(*), COALESCE(max(dollar_value), 0) FROM positions WHERE status = 'OPEN'")
            n_open, max_value = cur.fetchone()
    finally:
        conn.close()
    return {
        "pending_orders": {"count": int(n), "oldest_age_s": round(float(oldest), 1) if oldest is not None else None},
        "tilt": ({"score": float(tilt[0]), "level": tilt[1], "cooldown_active": bool(tilt[2])}
                 if tilt else None),
        "positions": {"open": int(n_open), "max_dollar_value": float(max_value)},
    }


def disk(node: Node) -> dict:
    path = node.tmpfs_mount
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return {"path": str(path), "mounted": os.path.ismount(path), "total_bytes": total, "used_bytes": used,
            "used_percent": round(100.0 * used / total, 1) if total else None}


def cluster(node: Node) -> dict:
    import requests

    try:
        code, doc, _ = api(node, "GET", "/admin/cluster")
        if code == 200 and isinstance(doc, dict):
            return {"role": doc.get("role"), "term": doc.get("term"), "fenced": doc.get("fenced"),
                    "split_brain": doc.get("split_brain"), "source": "api"}
        err = f"GET /admin/cluster answered {code}"
    except requests.RequestException as e:
        err = _err(e)
    # the API is down: what the node persisted last
    try:
        doc = json.loads((node.state_path / "cluster.json").read_text())
        return {"role": doc.get("role"), "term": doc.get("term"), "fenced": doc.get("fenced"),
                "split_brain": None, "source": "cluster.json", "error": err}
    except (OSError, ValueError):
        return {"role": None, "term": None, "fenced": None, "error": err}


def memory(node: Node, progs: dict) -> dict:
    kids = children_map()
    per = {}
    for name, p in progs.items():
        if p.get("pid"):
            per[name] = tree_rss(p["pid"], kids)
    genesis = sum(v for k, v in per.items() if k.split(":")[0] == GROUP)
    budget = node.data.get("memory_budget_mb", 400)
    return {"rss_bytes": per, "genesis_rss_bytes": genesis, "memory_budget_mb": budget,
            "genesis_rss_percent_of_budget": round(100.0 * genesis / (budget * 1024 * 1024), 1) if budget else None}


def node_status(node: Node) -> dict:
    now = time.time()
    out: dict[str, Any] = {"name": node.name, "address": node.address, "api_url": node.api_url}
    progs = _probe(out, "programs", lambda: programs(node))
    _probe(out, "health", lambda: health(node))
    rv = _probe(out, "redis", lambda: redis_view(node, now))
    dv = _probe(out, "db", lambda: db_view(node))
    _probe(out, "disk", lambda: disk(node))
    _probe(out, "cluster", lambda: cluster(node))
    _probe(out, "memory", lambda: memory(node, progs if isinstance(progs, dict) and "error" not in progs else {}))
    # flattened top-level fields (the documented ones), None where a probe failed
    ok_r = isinstance(rv, dict) and "error" not in rv
    ok_d = isinstance(dv, dict) and "error" not in dv
    out["heartbeat_age_s"] = rv["heartbeat"]["age_s"] if ok_r else None
    out["tickers"] = rv["tickers"] if ok_r else None
    out["breakers"] = {k: v["state"] for k, v in rv["breakers"].items()} if ok_r else None
    out["websocket"] = ({k: v["state"] for k, v in rv["websocket"]["connections"].items()} if ok_r else None)
    out["pending_orders"] = dv["pending_orders"] if ok_d else None
    out["tilt"] = dv["tilt"] if ok_d else None
    return out


def exchange_status(lab: Lab) -> dict:
    import requests

    try:
        r = requests.get(lab.exchange_url + "/sapi/v1/system/status", timeout=HTTP_TIMEOUT)
        doc = r.json()
        return {"url": lab.exchange_url, "reachable": True, "status": doc.get("status"), "msg": doc.get("msg")}
    except (requests.RequestException, ValueError) as e:
        return {"url": lab.exchange_url, "reachable": False, "error": _err(e)}


def collect(lab: Lab) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(2, len(lab.nodes) + 1)) as pool:
        ex = pool.submit(exchange_status, lab)
        nodes = list(pool.map(node_status, lab.nodes))
    return {"lab": lab.name, "isolation": lab.isolation, "state_dir": str(lab.state_dir),
            "collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "exchange": ex.result(), "nodes": nodes}


# ---------------------------------------------------------------------------- table
def _fmt_age(v: Any) -> str:
    return "-" if v is None else f"{v:.0f}s" if v >= 10 else f"{v:.1f}s"


def _row(n: dict) -> list[str]:
    progs = n.get("programs") or {}
    if "error" in progs:
        prog = "supervisor down"
    else:
        bad = [f"{k.split(':')[-1]}={v['state']}" for k, v in progs.items()
               if v["state"] != "RUNNING" and k != "backup"]
        prog = "all RUNNING" if not bad else " ".join(bad)
    h = n.get("health") or {}
    health_s = f"{h.get('code') or '-'} {h.get('status') or h.get('error', '?')}"
    po = n.get("pending_orders")
    pend = f"{po['count']}/{_fmt_age(po['oldest_age_s'])}" if po else "?"
    t = n.get("tickers")
    tick = _fmt_age(max((x["age_s"] for x in t.values() if x["age_s"] is not None), default=None)) if t else "?"
    br = n.get("breakers")
    brs = (",".join(f"{k}={v}" for k, v in br.items() if v != "closed") or "closed") if br else "?"
    ws = n.get("websocket")
    down = [k for k, v in (ws or {}).items() if v != "connected"]
    wss = "?" if not ws else "ok" if not down else f"{len(down)}/{len(ws)} down"
    tl = n.get("tilt")
    tilt = f"{tl['score']:.0f} {tl['level']}" if tl else "?"
    d = n.get("disk") or {}
    dk = f"{d['used_percent']:.0f}%" if d.get("used_percent") is not None else "?"
    c = n.get("cluster") or {}
    cl = f"{c.get('role') or '?'}/{c.get('term')}" + ("/fenced" if c.get("fenced") else "")
    m = n.get("memory") or {}
    rss = f"{m['genesis_rss_bytes'] / 1048576:.0f}MB" if m.get("genesis_rss_bytes") is not None else "?"
    return [n["name"], health_s, _fmt_age(n.get("heartbeat_age_s")), prog, pend, tick, brs, wss, tilt, dk, cl, rss]


HEAD = ["node", "health", "hb", "programs", "pending", "ticker", "breakers", "ws", "tilt", "disk", "cluster",
        "rss"]


def table(doc: dict) -> str:
    rows = [HEAD] + [_row(n) for n in doc["nodes"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    ex = doc["exchange"]
    exs = (f"exchange {ex['url']}: status {ex.get('status')} ({ex.get('msg')})" if ex.get("reachable")
           else f"exchange {ex['url']}: unreachable ({ex.get('error')})")
    return f"lab {doc['lab']} ({doc['isolation']}), {exs}\n" + "\n".join(lines)


def main(lab: Lab, as_json: bool = False) -> int:
    doc = collect(lab)
    text = json.dumps(doc, indent=2, default=str) if as_json else table(doc)
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return 0
