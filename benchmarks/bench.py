#!/usr/bin/env python3
"""Benchmark harness of genesis.runbook: time to recover per scenario (playbook through ansible-runner,
split into detect / recover / validate / overhead from the runner's task events), the bare-action
baseline of each scenario (benchmarks/baseline.py) and the fleet scaling of the triage sweep and
scenario 13 over 1, 2, 4 and 8 nodes. Writes results.json, results.md and PNG charts to --out.

  python benchmarks/bench.py --all                        # everything (what `make bench` runs)
  python benchmarks/bench.py --scenarios 13,15 --runs 1   # two scenarios with their baselines
  python benchmarks/bench.py --scaling --nodes 1,2 --runs 1
  python benchmarks/bench.py --quick --out /tmp/bench-smoke

Each part brings up its own lab (genesis-lab, one at a time) and always tears it down, also after a
failure or Ctrl-C. See benchmarks/README.md for what is measured and how.
"""
from __future__ import annotations

import argparse
import configparser
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402

ALL_SCENARIOS = list(range(1, 21))
QUICK_SCENARIOS = [13, 15]
DEFAULT_NODES = [1, 2, 4, 8]
VENV_BIN = Path(sys.executable).parent


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------- the lab
class Lab:
    """A genesis-lab lab driven through its CLI; `tainted` means: recycle (down + up) before the next run."""

    def __init__(self, name: str, nodes: int):
        self.name, self.nodes = name, nodes
        self.lab = None
        self.tainted = False
        self.recycles = 0

    def cli(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(VENV_BIN / "genesis-lab"), "--lab", self.name, *args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[1:])} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-600:]}")
        return p

    def up(self) -> float:
        from genesis_lab.labspec import Lab as LabSpec
        t0 = time.monotonic()
        self.cli("up", "--nodes", str(self.nodes))
        self.lab = LabSpec.load(name=self.name)
        self.tainted = False
        took = time.monotonic() - t0
        log(f"lab {self.name} up with {self.nodes} nodes in {took:.1f} s")
        return took

    def down(self) -> None:
        p = self.cli("down", check=False, timeout=300)
        log(f"lab {self.name} down (rc {p.returncode})")
        self.lab = None

    def recycle(self) -> None:
        log(f"recycling lab {self.name} (a fault or fix with lasting effects, or an unhealthy node)")
        self.down()
        self.up()
        self.recycles += 1

    @property
    def inventory(self) -> str:
        return str(self.lab.inventory_path)

    def node(self, name: str = "node1"):
        return self.lab.node(name)

    def inject(self, spec: str, node: str = "node1") -> tuple[bool, float, str]:
        t0 = time.monotonic()
        p = self.cli("inject", spec, "--node", node, check=False, timeout=300)
        took = time.monotonic() - t0
        if p.returncode != 0:
            lines = [ln for ln in (p.stderr or p.stdout or "?").strip().splitlines() if ln.strip()]
            return False, took, " / ".join(lines[-2:])[-600:]
        return True, took, ""

    def healthy(self, node: str = "node1") -> tuple[bool, str]:
        """GET /health answers 200 and every program of the genesis group is RUNNING."""
        from genesis_lab import status as st
        n = self.node(node)
        try:
            code, doc, _ = st.api(n, "GET", "/health", auth=False, timeout=3)
            states = {i["name"]: i["statename"] for i in n.supervisor().supervisor.getAllProcessInfo()
                      if i["group"] == "genesis"}
        except Exception as e:  # noqa: BLE001
            return False, f"{type(e).__name__}: {e}"
        bad = [k for k, v in states.items() if v != "RUNNING"]
        status = doc.get("status") if isinstance(doc, dict) else str(doc)[:80]
        return code == 200 and not bad, f"health {code} {status}" + (f", not running: {bad}" if bad else "")

    def wait_healthy(self, nodes: list[str], timeout: float = 90) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        why = ""
        while True:
            results = [self.healthy(n) for n in nodes]
            if all(ok for ok, _ in results):
                return True, ""
            why = "; ".join(f"{n}: {w}" for n, (ok, w) in zip(nodes, results) if not ok)
            if time.monotonic() >= deadline:
                return False, why
            time.sleep(2)


# ---------------------------------------------------------------------------- webhook sink (scenario 6)
class _Sink(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.count += 1
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "accepted"}')

    def log_message(self, *args):
        pass


def start_sink() -> HTTPServer:
    server = HTTPServer(("127.0.0.1", 0), _Sink)
    server.count = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---------------------------------------------------------------------------- what Molecule does per scenario
def _plant_rate_limit_file(lab: Lab, ctx: dict) -> None:
    """Molecule scenario 7's prepare: config/rate_limits.yaml on every node."""
    for n in lab.lab.nodes:
        path = n.config_dir / "rate_limits.yaml"
        path.write_text("# genesis exchange rate limits (planted by the benchmark, as the Molecule prepare)\n"
                        "exchange:\n  protection: false\n  # request weight a minute the node may send\n"
                        "  limit_per_minute: 6000\n")
        os.chmod(path, 0o644)
    ctx["baseline"]["rate_limit_config_file"] = str(lab.node().config_dir / "rate_limits.yaml")


def _settle_positions(lab: Lab, ctx: dict) -> None:
    """Molecule scenario 8's prepare: wait until node1 has no seeded position a strategy would close."""
    n = lab.node()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        conn = n.db()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM positions p WHERE p.status = 'OPEN' AND p.created_at < now() - "
                            "interval '10 minutes' AND EXISTS (SELECT 1 FROM orders o WHERE o.position_id = "
                            "p.position_id AND o.side = 'BUY' AND o.strategy IS NOT NULL)")
                if cur.fetchone()[0] == 0:
                    return
        finally:
            conn.close()
        time.sleep(2)


def _plant_disk_files(lab: Lab, ctx: dict) -> None:
    """Molecule scenario 10's prepare: an old export to archive and files the cleanup must keep."""
    home = lab.node().home
    content = "ts,symbol,side,qty,price\n" + "2026-07-30T00:00:00Z,BTCUSDT,BUY,0.001,64000.1\n" * 200
    for rel, days in ((".genesis/data/exports/trades-old.csv", 120), (".genesis/data/exports/trades-recent.csv", 1),
                      (".genesis/tmp/fresh-export.tmp", 0), ("old-outside.tmp", 30)):
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        ts = time.time() - days * 86400
        os.utime(p, (ts, ts))


def _new_exchange_key(lab: Lab, ctx: dict) -> None:
    """Molecule scenario 14's prepare: a replacement key for node1 (passed as extra vars, not vaulted)."""
    doc = json.loads(lab.cli("exchange", "key", "--node", "node1").stdout)
    ctx["extravars"].update(fix_auth_new_api_key=doc["api_key"], fix_auth_new_api_secret=doc["secret"])
    ctx["baseline"].update(new_api_key=doc["api_key"], new_api_secret=doc["secret"])


def _end_maintenance(lab: Lab, ctx: dict) -> None:
    """Molecule scenario 20's prepare ends the exchange halt before converge (the positions can close only then)."""
    lab.lab.exchange_request("POST", "/_lab/status", {"status": 0, "msg": "normal"})


def _heal(lab: Lab, ctx: dict) -> None:
    """Molecule scenario 11's side_effect: remove the cut."""
    lab.cli("heal", check=False)


SPECS: dict[int, dict[str, Any]] = {
    2: {"wait": 31},        # GENESIS_PREPARE_WAIT: PENDING older than 30 s
    6: {"taint": True,      # a 30-minute cooldown pauses every strategy
        "extravars": lambda ctx: {"tilt_intervention_webhook_url": ctx["webhook_url"],
                                  "tilt_intervention_webhook_headers": {"Authorization": "Token bench-webhook-token"}}},
    7: {"pre": _plant_rate_limit_file,
        "extravars": {"rate_limit_recovery_config_file": "{{ genesis_home }}/config/rate_limits.yaml"}},
    8: {"pre": _settle_positions},
    9: {"extravars": {"cert_renewal_ca_store_source": "{{ genesis_tls_ca_file }}",
                      "cert_renewal_ca_store_dest": "{{ genesis_lab_node_root }}/etc/ssl/certs/genesis-lab-ca.pem",
                      "cert_renewal_ca_store_command": "openssl rehash {{ genesis_lab_node_root }}/etc/ssl/certs"}},
    10: {"pre": _plant_disk_files},
    11: {"limit": None, "taint": True, "post": _heal,  # converge runs on both nodes while the cut holds
         "extravars": {"heal_partition_confirmation": "HALT TRADING NOW"}},
    # After fix_auth rotated node1's exchange key, a later scenario 19 on the same lab had its smoke-test
    # order rejected with -2015 (cause not pinned down yet): recycle after each run.
    14: {"taint": True, "pre": _new_exchange_key, "inject": ["14:clock", "14"]},
    20: {"taint": True, "post_inject": _end_maintenance,   # market crash, safe mode, positions closed
         "extravars": {"emergency_shutdown_confirm": "CLOSE ALL POSITIONS", "emergency_shutdown_lookback": 900}},
}


def scenario_table() -> dict[int, dict[str, str]]:
    from genesis_lab.inject import SCENARIOS
    out = {}
    for num, name, role in SCENARIOS:
        books = sorted((ROOT / "playbooks").glob(f"scenario_{num:02d}_*.yml"))
        out[num] = {"name": name, "role": role, "playbook": str(books[0]) if books else ""}
    return out


# ---------------------------------------------------------------------------- running a playbook
def runner_env(settings: dict, report_dir: str) -> dict[str, str]:
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "GENESIS_REPORT_DIR": report_dir, "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_NOCOLOR": "1", "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if settings.get("pipelining") is not None:
        env["ANSIBLE_PIPELINING"] = "True" if settings["pipelining"] else "False"
    if settings.get("mitogen"):
        env["ANSIBLE_STRATEGY_PLUGINS"] = settings["mitogen_strategy_plugins"]
        env["ANSIBLE_STRATEGY"] = "mitogen_" + (settings.get("strategy") or "linear")
    elif settings.get("strategy"):
        env["ANSIBLE_STRATEGY"] = settings["strategy"]
    return env


def run_playbook(playbook: str, inventory: str, limit: str | None, extravars: dict, settings: dict,
                 report_dir: str, workdir: Path) -> dict[str, Any]:
    """One ansible-runner run; returns rc, status, wall time, epoch start/end, the events and an error line."""
    import ansible_runner
    pd = tempfile.mkdtemp(prefix="run-", dir=str(workdir))
    kwargs: dict[str, Any] = dict(private_data_dir=pd, playbook=playbook, inventory=inventory, extravars=extravars,
                                  envvars=runner_env(settings, report_dir), quiet=True, project_dir=str(ROOT))
    if limit:
        kwargs["limit"] = limit
    if settings.get("forks"):
        kwargs["forks"] = settings["forks"]
    started, m0 = time.time(), time.monotonic()
    try:
        r = ansible_runner.run(**kwargs)
        wall = time.monotonic() - m0
        finished = time.time()
        events = list(r.events)
        rc, status = r.rc, r.status
        tail = ""
        if rc != 0:
            try:
                tail = r.stdout.read()[-2000:]
            except Exception:  # noqa: BLE001
                tail = ""
    finally:
        shutil.rmtree(pd, ignore_errors=True)   # env/extravars may hold a key (scenario 14)
    return {"rc": rc, "status": status, "wall_s": round(wall, 3), "started": started, "finished": finished,
            "events": events, "error": _failure(events) or (tail.strip().splitlines()[-1:] or [""])[0] if rc else None}


def machine_cpu_busy() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as handle:
        return benchlib.cpu_busy_seconds(handle.read(), os.sysconf("SC_CLK_TCK"))


def triage_sweeps(report_dir: str) -> dict[str, float]:
    """Each node's sweep time (genesis_triage_info's elapsed_s) from the run's triage.json; {} without it."""
    doc = read_triage(report_dir) or {}
    return {host: float(d["elapsed_s"]) for host, d in (doc.get("nodes") or {}).items()
            if isinstance(d, dict) and d.get("elapsed_s") is not None}


def _failure(events: list[dict]) -> str | None:
    for ev in reversed(events):
        if ev.get("event") in ("runner_on_failed", "runner_on_unreachable") and not (ev.get("event_data") or {}).get("ignore_errors"):
            data = ev.get("event_data") or {}
            res = data.get("res") or {}
            msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
            return f"{data.get('host')}: {data.get('task')}: {' '.join(str(msg).split())[:400]}"
    return None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_report(report_dir: str, host: str, number: int) -> dict | None:
    return _read_json(Path(report_dir) / host / f"scenario_{number:02d}.json")


def read_triage(report_dir: str) -> dict | None:
    """The triage run's triage.json (the whole fleet's diagnosis), or None."""
    return _read_json(Path(report_dir) / "triage.json")


# ---------------------------------------------------------------------------- the scenario part
class Bench:
    def __init__(self, args, settings: dict, out: Path, workdir: Path):
        self.args, self.settings, self.out, self.workdir = args, settings, out, workdir
        self.table = scenario_table()
        self.sink = None

    def extravars_for(self, n: int, ctx: dict) -> dict:
        ev = {"genesis_serial": self.settings["serial"]} if self.settings["serial"] != "default" else {}
        if self.settings.get("budget"):
            ev["genesis_budget"] = self.settings["budget"]
        spec = SPECS.get(n, {}).get("extravars")
        if spec:
            ev.update(spec(ctx) if callable(spec) else spec)
        ev.update(ctx["extravars"])
        return ev

    def one_run(self, lab: Lab, n: int, run: int, mode: str) -> dict[str, Any]:
        """mode playbook or bare: recycle when tainted, pre-steps, inject, maturation, the fix, checks."""
        import baseline
        spec = SPECS.get(n, {})
        rec: dict[str, Any] = {"run": run, "ok": False}
        if lab.tainted:
            lab.recycle()
        healthy, why = lab.wait_healthy(["node1"], 90)
        if not healthy:
            log(f"node1 unhealthy before the run ({why})")
            lab.recycle()
        ctx = {"extravars": {}, "baseline": {}, "webhook_url": self.webhook_url()}
        if n == 6:
            ctx["baseline"].update(webhook_url=ctx["webhook_url"],
                                   webhook_headers={"Authorization": "Token bench-webhook-token"})
        try:
            if spec.get("pre"):
                spec["pre"](lab, ctx)
            for attempt in (1, 2):
                inject_s, failed = 0.0, None
                for what in spec.get("inject", [str(n)]):
                    ok, took, err = lab.inject(what)
                    inject_s += took
                    if not ok:
                        failed = f"inject {what} failed: {err}"
                        break
                if not failed:
                    break
                log(f"scenario {n}: {failed}" + ("; retrying once on a fresh lab" if attempt == 1 else ""))
                rec.setdefault("inject_failures", []).append(failed)
                lab.recycle()
                if attempt == 2:
                    rec.update(error=failed, inject_s=round(inject_s, 3))
                    return rec
                if spec.get("pre"):
                    spec["pre"](lab, ctx)
            rec["inject_s"] = round(inject_s, 3)
            done = time.monotonic()
            if spec.get("post_inject"):
                spec["post_inject"](lab, ctx)
            if spec.get("wait"):
                time.sleep(spec["wait"])
            if mode == "playbook":
                self._playbook_run(lab, n, run, ctx, rec)
            else:
                res = baseline.run(lab.lab, lab.node(), n, ctx["baseline"])
                rec.update(ok=res["ok"], wall_s=res["wall_s"], phases=res["phases"], details=res["details"],
                           error=res["error"])
            rec["ttr_s"] = round(time.monotonic() - done, 3)
            rec["wait_s"] = round(rec["ttr_s"] - rec.get("wall_s", rec["ttr_s"]), 3)
        except Exception as e:  # noqa: BLE001  (a step of the harness failed: record it, go on with a fresh lab)
            rec.update(ok=False, error=f"{type(e).__name__}: {e}")
            lab.tainted = True
            return rec
        finally:
            if spec.get("post"):
                spec["post"](lab, ctx)
        if spec.get("taint") or not rec["ok"]:
            lab.tainted = True
        else:
            healthy, why = lab.wait_healthy(["node1"], 90)
            rec["healthy_after"] = healthy
            if not healthy:
                rec["healthy_after_why"] = why
                lab.tainted = True
            elif self.args.triage_check:
                rec["triage_after"] = self.triage_check(lab)
                if not rec["triage_after"]["healthy"]:
                    lab.tainted = True
        return rec

    def _playbook_run(self, lab: Lab, n: int, run: int, ctx: dict, rec: dict) -> None:
        spec = SPECS.get(n, {})
        report_dir = str(self.workdir / "reports" / f"s{n:02d}-r{run}")
        limit = spec.get("limit", "node1")
        res = run_playbook(self.table[n]["playbook"], lab.inventory, limit, self.extravars_for(n, ctx),
                           self.settings, report_dir, self.workdir)
        report = read_report(report_dir, "node1", n)
        phases = benchlib.attribute_phases(res["events"], "node1", res["started"], res["finished"])
        rec.update(wall_s=res["wall_s"], rc=res["rc"], status=res["status"], tasks=phases["tasks"],
                   phases={p: phases[p] for p in benchlib.ALL_PHASES},
                   startup_s=phases["startup"], teardown_s=phases["teardown"], slowest=phases["slowest"],
                   host_stats=benchlib.host_stats(res["events"], "node1"))
        if res["rc"] != 0:
            rec["error"] = f"playbook rc {res['rc']}: {res['error']}"
        elif not report:
            rec["error"] = "no report for node1"
        elif not report.get("detected"):
            rec["error"] = "the playbook found nothing to fix (injection not detected)"
        else:
            rec.update(ok=True, changes=[c.get("step") for c in report.get("changes", [])],
                       validation_keys=sorted((report.get("validation") or {}).keys()))

    def triage_check(self, lab: Lab) -> dict:
        report_dir = str(self.workdir / "reports" / f"triage-{time.time():.0f}")
        res = run_playbook(str(ROOT / "playbooks" / "triage.yml"), lab.inventory, "node1", {}, self.settings,
                           report_dir, self.workdir)
        doc = read_triage(report_dir)
        affected = ["?"] if doc is None else doc.get("affected", [])
        return {"healthy": res["rc"] == 0 and "node1" not in affected, "wall_s": res["wall_s"], "affected": affected}

    def webhook_url(self) -> str:
        if self.sink is None:
            self.sink = start_sink()
        return f"http://127.0.0.1:{self.sink.server_address[1]}/hooks/tilt"

    def scenarios(self, numbers: list[int], results: dict, save: Callable[[], None]) -> None:
        import baseline
        lab = Lab(self.args.lab, 2)
        results["scenarios"] = []
        try:
            lab.up()
            for n in numbers:
                info = self.table[n]
                entry = {"number": n, "name": info["name"], "role": info["role"],
                         "playbook": os.path.relpath(info["playbook"], ROOT), "runs": [], "baseline": {}}
                results["scenarios"].append(entry)
                for run in range(1, self.args.runs + 1):
                    rec = self.one_run(lab, n, run, "playbook")
                    entry["runs"].append(rec)
                    log(f"scenario {n} ({info['name']}) run {run}/{self.args.runs}: "
                        + (f"TTR {rec['ttr_s']:.1f} s, playbook {rec['wall_s']:.1f} s "
                           f"(detect {rec['phases']['detect']:.1f}, recover {rec['phases']['recover']:.1f}, "
                           f"validate {rec['phases']['validate']:.1f}, overhead {rec['phases']['overhead']:.1f}), "
                           f"{rec['tasks']} tasks" if rec["ok"] else f"FAILED: {rec.get('error')}"))
                    save()
                if self.args.no_baseline:
                    entry["baseline"] = {"available": n in baseline.BASELINES, "skipped": True, "runs": []}
                elif n not in baseline.BASELINES:
                    entry["baseline"] = {"available": False, "reason": baseline.NO_BASELINE.get(n, "not implemented"),
                                         "runs": []}
                else:
                    entry["baseline"] = {"available": True, "function": baseline.BASELINES[n].__name__,
                                         "doc": " ".join((baseline.BASELINES[n].__doc__ or "").split()), "runs": []}
                    for run in range(1, self.args.runs + 1):
                        rec = self.one_run(lab, n, run, "bare")
                        entry["baseline"]["runs"].append(rec)
                        log(f"scenario {n} bare run {run}/{self.args.runs}: "
                            + (f"TTR {rec['ttr_s']:.1f} s, bare {rec['wall_s']:.1f} s" if rec["ok"]
                               else f"FAILED: {rec.get('error')}"))
                        save()
                entry["summary"] = benchlib.summarize_scenario(entry)
                save()
        finally:
            results["meta"]["lab_recycles"] = results["meta"].get("lab_recycles", 0) + lab.recycles
            lab.down()

    # ------------------------------------------------------------------------ the scaling part
    def scaling(self, counts: list[int], results: dict, save: Callable[[], None]) -> None:
        lab = Lab(self.args.scaling_lab, max(counts))
        settings = dict(self.settings)
        results["scaling"] = {"lab": lab.name, "lab_nodes": max(counts), "serial": settings["serial"],
                              "genesis_budget": 1000, "runs": self.args.runs, "rows": []}
        scenario13 = scenario_table()[13]["playbook"]
        try:
            lab.up()
            for k in counts:
                hosts = [f"node{i}" for i in range(1, k + 1)]
                row = {"nodes": k, "triage": [], "scenario13": []}
                results["scaling"]["rows"].append(row)
                for run in range(1, self.args.runs + 1):
                    if lab.tainted:
                        lab.recycle()
                    healthy, why = lab.wait_healthy(hosts, 120)
                    if not healthy:
                        log(f"unhealthy before the scaling run ({why})")
                        lab.recycle()
                    report_dir = str(self.workdir / "reports" / f"scale-triage-{k}-{run}")
                    cpu0 = machine_cpu_busy()
                    res = run_playbook(str(ROOT / "playbooks" / "triage.yml"), lab.inventory, ",".join(hosts), {},
                                       settings, report_dir, self.workdir)
                    tri = {"run": run, "ok": res["rc"] == 0, "wall_s": res["wall_s"],
                           "cpu_s": round(machine_cpu_busy() - cpu0, 2),
                           "tasks": benchlib.attribute_phases(res["events"], "node1")["tasks"],
                           "sweep_s": triage_sweeps(report_dir),
                           "error": None if res["rc"] == 0 else res["error"]}
                    tri["sweep_max_s"] = max(tri["sweep_s"].values()) if tri["sweep_s"] else None
                    row["triage"].append(tri)
                    rec = {"run": run, "ok": False, "inject_s": 0.0}
                    for h in hosts:
                        ok, took, err = lab.inject("13", h)
                        rec["inject_s"] = round(rec["inject_s"] + took, 3)
                        if not ok:
                            rec["error"] = f"inject 13 on {h} failed: {err}"
                            break
                    if "error" not in rec:
                        report_dir = str(self.workdir / "reports" / f"scale-13-{k}-{run}")
                        ev = {"genesis_budget": 1000}
                        if settings["serial"] != "default":
                            ev["genesis_serial"] = settings["serial"]
                        cpu0 = machine_cpu_busy()
                        res = run_playbook(scenario13, lab.inventory, ",".join(hosts), ev, settings, report_dir,
                                           self.workdir)
                        reports = [read_report(report_dir, h, 13) for h in hosts]
                        rec.update(wall_s=res["wall_s"], rc=res["rc"], cpu_s=round(machine_cpu_busy() - cpu0, 2),
                                   tasks=benchlib.attribute_phases(res["events"], "node1")["tasks"])
                        if res["rc"] != 0:
                            rec["error"] = f"playbook rc {res['rc']}: {res['error']}"
                        elif not all(r and r.get("detected") for r in reports):
                            rec["error"] = "not every node reported the desync"
                        else:
                            rec["ok"] = True
                    if not rec["ok"]:
                        lab.tainted = True
                    row["scenario13"].append(rec)
                    log(f"scaling {k} nodes run {run}/{self.args.runs}: triage "
                        + (f"{tri['wall_s']:.1f} s (CPU {tri['cpu_s']:.1f} s)" if tri["ok"] else f"FAILED ({tri['error']})")
                        + ", scenario 13 "
                        + (f"{rec['wall_s']:.1f} s (CPU {rec['cpu_s']:.1f} s)" if rec["ok"]
                           else f"FAILED ({rec.get('error')})"))
                    save()
        finally:
            results["meta"]["lab_recycles"] = results["meta"].get("lab_recycles", 0) + lab.recycles
            lab.down()


# ---------------------------------------------------------------------------- charts
def charts(results: dict, out: Path) -> list[str]:
    """recovery.png (playbook phases stacked, bare action beside) and scaling.png; [] without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        results["meta"].setdefault("notes", []).append("matplotlib is not installed: no charts.")
        return []
    made = []
    scen = [e for e in results.get("scenarios") or [] if e.get("summary", {}).get("runs_ok")]
    if scen:
        fig, ax = plt.subplots(figsize=(max(6, 0.75 * len(scen) + 2), 4.8))
        xs = list(range(len(scen)))
        width = 0.38
        bottom = [0.0] * len(scen)
        colors = {"detect": "#4c72b0", "recover": "#dd8452", "validate": "#55a868", "overhead": "#a0a0a0"}
        for p in benchlib.ALL_PHASES:
            vals = [e["summary"][p]["median"] or 0.0 for e in scen]
            ax.bar([x - width / 2 for x in xs], vals, width, bottom=bottom, label=f"playbook: {p}", color=colors[p])
            bottom = [b + v for b, v in zip(bottom, vals)]
        bare = [e["summary"]["baseline_wall"]["median"] for e in scen]
        ax.bar([x + width / 2 for x in xs], [b or 0.0 for b in bare], width, label="bare action", color="#8172b3")
        for x, b in zip(xs, bare):
            if b is None:
                ax.text(x + width / 2, 0.5, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_xlim(-0.8, len(scen) - 0.2)
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{e['number']}\n{e['name'][:12]}" for e in scen], fontsize=7)
        ax.set_ylabel("seconds (median)")
        ax.set_title("Playbook run (phases) vs bare action, maturation waits excluded", fontsize=10)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(out / "recovery.png", dpi=110)
        plt.close(fig)
        made.append("recovery.png")
    scaling = results.get("scaling")
    if scaling and scaling.get("rows"):
        rows = benchlib.summarize_scaling(scaling["rows"])
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for kind, label, color in (("triage", "triage sweep (read-only)", "#4c72b0"),
                                   ("scenario13", "scenario 13 on every node", "#dd8452")):
            pts = [(r["nodes"], r[kind]) for r in rows if r[kind]["median"] is not None]
            if not pts:
                continue
            ax.errorbar([p[0] for p in pts], [p[1]["median"] for p in pts],
                        yerr=[[p[1]["median"] - p[1]["min"] for p in pts], [p[1]["max"] - p[1]["median"] for p in pts]],
                        marker="o", capsize=3, label=label, color=color)
        ax.set_xlabel("nodes")
        ax.set_xticks([r["nodes"] for r in rows])
        ax.set_ylabel("wall time, seconds (median, min-max)")
        ax.set_title(f"Fleet scaling (serial {scaling.get('serial')})")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "scaling.png", dpi=110)
        plt.close(fig)
        made.append("scaling.png")
    return made


# ---------------------------------------------------------------------------- machine and settings
def cfg_defaults() -> dict[str, Any]:
    cp = configparser.ConfigParser()
    cp.read(ROOT / "ansible.cfg")
    return {"forks": cp.get("defaults", "forks", fallback="5"),
            "pipelining": cp.get("ssh_connection", "pipelining", fallback="false"),
            "strategy": cp.get("defaults", "strategy", fallback="linear")}


def machine(load: tuple) -> dict[str, Any]:
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None
    return {"cpu_count": os.cpu_count(), "load_before": [round(x, 2) for x in load],
            "ansible_core": version("ansible-core"), "ansible_runner": version("ansible-runner"),
            "mitogen": version("mitogen"), "matplotlib": version("matplotlib"),
            "python": platform.python_version(), "platform": platform.platform(), "hostname": platform.node()}


def mitogen_plugins() -> str | None:
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "plugins" / "strategy"
    return str(path) if path.is_dir() else None


def parse_list(text: str, valid: list[int], what: str) -> list[int]:
    if text.strip().lower() == "all":
        return list(valid)
    if text.strip().lower() == "none":
        return []
    out = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            out += list(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    bad = [x for x in out if x not in valid]
    if bad:
        raise SystemExit(f"bench: {what} {bad} not valid (choose from {valid[0]}-{valid[-1]})")
    return sorted(set(out), key=out.index)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", help="scenario numbers, e.g. 13,15 or 1-5 or all or none (default: all, "
                                        "or none with --scaling alone)")
    ap.add_argument("--runs", type=int, default=None, help="runs per scenario and per node count (default 3; 1 with --quick)")
    ap.add_argument("--out", default=str(HERE / "results"), help="result folder (default benchmarks/results)")
    ap.add_argument("--all", action="store_true", help="every scenario with its baseline, then the fleet scaling")
    ap.add_argument("--quick", action="store_true", help=f"smoke test: 1 run, scenarios {QUICK_SCENARIOS}, "
                                                         "scaling (when asked) on 1,2 nodes")
    ap.add_argument("--scaling", action="store_true", help="run the fleet scaling part")
    ap.add_argument("--nodes", default=None, help="node counts of the scaling part (default 1,2,4,8)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the bare-action baselines")
    ap.add_argument("--triage-check", action="store_true",
                    help="after each successful run, a read-only triage run on node1 must find it healthy")
    ap.add_argument("--forks", type=int, help="ansible forks (default: ansible.cfg)")
    ap.add_argument("--pipelining", dest="pipelining", action="store_true", default=None, help="ANSIBLE_PIPELINING on")
    ap.add_argument("--no-pipelining", dest="pipelining", action="store_false", help="ANSIBLE_PIPELINING off")
    ap.add_argument("--strategy", choices=["linear", "free"], help="play strategy (default: ansible.cfg, linear)")
    ap.add_argument("--mitogen", action="store_true",
                    help="Mitogen's strategy (mitogen_linear / mitogen_free); needs `pip install mitogen` "
                         "(0.3.25 or later for ansible-core 2.19)")
    ap.add_argument("--serial", default="100%", help="genesis_serial passed to the scenario playbooks (Molecule: 100%%); "
                                                     "`default` keeps the playbooks' own rolling [1, '25%%']")
    ap.add_argument("--lab", default="bn1", help="lab name of the scenario part (default bn1)")
    ap.add_argument("--scaling-lab", default="bn8", help="lab name of the scaling part (default bn8)")
    ap.add_argument("--keep-work", action="store_true", help="keep the runs' reports under <out>/tmp")
    ap.add_argument("--render", action="store_true",
                    help="only rebuild results.md and the charts from <out>/results.json (no lab)")
    args = ap.parse_args(argv)

    if args.render:
        out = Path(args.out).absolute()
        results = json.loads((out / "results.json").read_text())
        for entry in results.get("scenarios") or []:
            entry["summary"] = benchlib.summarize_scenario(entry)
        results["meta"]["charts"] = charts(results, out)
        (out / "results.md").write_text(benchlib.render_markdown(results))
        log(f"rendered {out}/results.md" + "".join(", " + c for c in results["meta"]["charts"]))
        return 0

    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if runs < 1:
        raise SystemExit("bench: --runs must be 1 or more")
    args.runs = runs
    if args.scenarios is not None:
        numbers = parse_list(args.scenarios, ALL_SCENARIOS, "scenarios")
    elif args.quick:
        numbers = list(QUICK_SCENARIOS)
    elif args.scaling and not args.all:
        numbers = []
    else:
        numbers = list(ALL_SCENARIOS)
    do_scaling = args.scaling or args.all
    counts = parse_list(args.nodes, list(range(1, 51)), "node counts") if args.nodes else \
        ([1, 2] if args.quick else list(DEFAULT_NODES))
    if not numbers and not do_scaling:
        raise SystemExit("bench: nothing to do (no scenario, no --scaling)")

    settings: dict[str, Any] = {"forks": args.forks, "pipelining": args.pipelining, "strategy": args.strategy,
                                "mitogen": args.mitogen, "serial": args.serial, "runs": runs,
                                "budget": 1000 if runs > 3 else None}
    if args.mitogen:
        plugins = mitogen_plugins()
        if not plugins:
            raise SystemExit("bench: --mitogen needs Mitogen importable (pip install 'mitogen>=0.3.25'; "
                             "0.3.25 and later support ansible-core 2.19)")
        settings["mitogen_strategy_plugins"] = plugins
    eff = cfg_defaults()
    effective = {"forks": args.forks or f"{eff['forks']} (ansible.cfg)",
                 "pipelining": args.pipelining if args.pipelining is not None else f"{eff['pipelining']} (ansible.cfg)",
                 "strategy": ("mitogen_" if args.mitogen else "") + (args.strategy or eff["strategy"]),
                 "genesis_serial": args.serial, "runs": runs,
                 "genesis_budget": settings["budget"] or "role default (3 an hour)"}

    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    workdir = out / "tmp"          # gitignored (benchmarks/results/tmp/)
    if workdir.exists():
        shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    notes = []
    if settings["budget"]:
        notes.append("More than 3 runs per scenario: the scenario runs set genesis_budget=1000 (the roles allow 3 "
                     "remediations per scenario, node and hour).")
    if do_scaling:
        notes.append("The scaling runs of scenario 13 set genesis_budget=1000: node1 is remediated in every node count.")
    results: dict[str, Any] = {"meta": {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                        "machine": machine(os.getloadavg()), "settings": effective,
                                        "settings_raw": {k: v for k, v in settings.items()
                                                         if k != "mitogen_strategy_plugins"},
                                        "command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:])),
                                        "notes": notes}}

    def save() -> None:
        tmp = out / ".results.json.tmp"
        tmp.write_text(json.dumps(results, indent=2, default=str) + "\n")
        os.replace(tmp, out / "results.json")
        (out / "results.md").write_text(benchlib.render_markdown(results))

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    bench = Bench(args, settings, out, workdir)
    rc = 0
    try:
        log(f"settings: {effective}; scenarios {numbers or 'none'}; scaling {counts if do_scaling else 'no'}")
        if numbers:
            bench.scenarios(numbers, results, save)
        if do_scaling:
            bench.scaling(counts, results, save)
    except KeyboardInterrupt:
        log("interrupted: the lab was torn down, partial results are saved")
        results["meta"]["interrupted"] = True
        rc = 130
    finally:
        if bench.sink is not None:
            bench.sink.shutdown()
        results["meta"]["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
        results["meta"]["charts"] = charts(results, out)
        save()
        if not args.keep_work:
            shutil.rmtree(workdir, ignore_errors=True)
        made = results["meta"]["charts"]
        log(f"results in {out}/results.json, results.md" + (", " + ", ".join(made) if made else ""))
    return rc


if __name__ == "__main__":
    sys.exit(main())
