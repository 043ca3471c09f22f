"""Pure helpers of the benchmark harness: phase attribution from ansible-runner events, statistics
and the Markdown report. No lab, no Ansible, no matplotlib: imported by bench.py and by
tests/unit/test_bench_phases.py.

Phase attribution (see benchmarks/README.md):
  * each task of the target host starts at its `runner_on_start` event and lasts until the host's
    next `runner_on_start` (the last one until `playbook_on_stats`), so the phases add up to the
    playbook's event span;
  * a task from `roles/<role>/tasks/detect.yml`, `recover.yml` or `validate.yml` (or a file named
    `detect_*.yml`, `recover_*.yml`, `validate_*.yml`) belongs to that phase;
  * a task from another file of the scenario role (read_cluster.yml, restart_forced.yml, start.yml, ...)
    was included by the phase before it and inherits that phase;
  * the shared role `genesis` (lock, budget, report, run id), the scenario role's main.yml
    (include and block tasks) and playbook-level tasks (argument-spec validation) are overhead,
    and so are the time before the first task (process start, inventory, parsing) and after the
    stats event (runner shutdown).
"""
from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from typing import Any, Iterable

PHASES = ("detect", "recover", "validate")
ALL_PHASES = PHASES + ("overhead",)
SHARED_ROLES = frozenset({"genesis"})
TASK_FILE_RE = re.compile(r"/roles/(?P<role>[^/]+)/tasks/(?P<file>[^/]+?)\.ya?ml:\d+$")


# ---------------------------------------------------------------------------- events
def event_time(event: dict) -> float | None:
    """Epoch seconds of a runner event's `created` (ISO 8601; naive means UTC)."""
    raw = event.get("created")
    if not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def classify(task_path: str | None, current: str = "overhead") -> str:
    """The phase of one task, given the phase of the task before it (for included helper files)."""
    m = TASK_FILE_RE.search(task_path or "")
    if not m:
        return "overhead"
    role, name = m.group("role"), m.group("file")
    if role in SHARED_ROLES or name == "main":
        return "overhead"
    for phase in PHASES:
        if name == phase or name.startswith(phase + "_"):
            return phase
    return current if current in PHASES else "overhead"


def attribute_phases(events: Iterable[dict], host: str | None = None, started: float | None = None,
                     finished: float | None = None, slowest: int = 5) -> dict[str, Any]:
    """Seconds per phase for one host of one playbook run.

    events: ansible-runner event dicts; host: the inventory host to follow (None: the first host
    seen); started/finished: epoch seconds around the runner call (process start-up and shutdown
    then count as overhead). Returns {detect, recover, validate, overhead, startup, teardown,
    span, tasks, by_phase_tasks, slowest: [{task, phase, seconds}]}.
    """
    events = list(events)
    starts = []
    end_of_play = None
    last_seen = None
    for ev in events:
        t = event_time(ev)
        if t is None:
            continue
        last_seen = t if last_seen is None else max(last_seen, t)
        data = ev.get("event_data") or {}
        if ev.get("event") == "playbook_on_stats":
            end_of_play = t
        elif ev.get("event") == "runner_on_start":
            if host is None:
                host = data.get("host")
            if data.get("host") == host:
                starts.append((t, data.get("task_path"), data.get("task") or ""))
    starts.sort(key=lambda s: s[0])
    if end_of_play is None:
        end_of_play = last_seen
    out: dict[str, Any] = {p: 0.0 for p in ALL_PHASES}
    out.update(startup=0.0, teardown=0.0, span=0.0, tasks=len(starts), by_phase_tasks={p: 0 for p in ALL_PHASES},
               slowest=[])
    if not starts:
        if started is not None and finished is not None:
            out["overhead"] = out["startup"] = max(0.0, finished - started)
        return _rounded(out)
    durations = []
    current = "overhead"
    for i, (t, path, name) in enumerate(starts):
        nxt = starts[i + 1][0] if i + 1 < len(starts) else max(end_of_play or t, t)
        current = classify(path, current)
        seconds = max(0.0, nxt - t)
        out[current] += seconds
        out["by_phase_tasks"][current] += 1
        durations.append({"task": name, "phase": current, "seconds": seconds})
    first = starts[0][0]
    last = max(end_of_play or first, starts[-1][0])
    out["span"] = last - first
    if started is not None:
        out["startup"] = max(0.0, first - started)
        out["overhead"] += out["startup"]
    if finished is not None:
        out["teardown"] = max(0.0, finished - last)
        out["overhead"] += out["teardown"]
    durations.sort(key=lambda d: d["seconds"], reverse=True)
    out["slowest"] = [dict(d, seconds=round(d["seconds"], 3)) for d in durations[:slowest]]
    return _rounded(out)


def _rounded(out: dict) -> dict:
    for k in ALL_PHASES + ("startup", "teardown", "span"):
        out[k] = round(out[k], 3)
    return out


def host_stats(events: Iterable[dict], host: str) -> dict[str, int]:
    """ok/changed/skipped/failures/unreachable counts of `host` from the playbook_on_stats event."""
    for ev in events:
        if ev.get("event") == "playbook_on_stats":
            data = ev.get("event_data") or {}
            return {k: int((data.get(k) or {}).get(host, 0)) for k in ("ok", "changed", "skipped", "failures", "dark")}
    return {}


# ---------------------------------------------------------------------------- statistics
def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """{n, median, min, max, mean, stdev}: stdev only with 3 values or more; None for an empty list."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "mean": None, "stdev": None}
    return {"n": len(vals), "median": round(statistics.median(vals), 3), "min": round(min(vals), 3),
            "max": round(max(vals), 3), "mean": round(statistics.fmean(vals), 3),
            "stdev": round(statistics.stdev(vals), 3) if len(vals) >= 3 else None}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def summarize_scenario(entry: dict) -> dict[str, Any]:
    """Statistics of one scenario's successful runs (playbook and bare baseline)."""
    ok = [r for r in entry.get("runs", []) if r.get("ok")]
    summary: dict[str, Any] = {"runs": len(entry.get("runs", [])), "runs_ok": len(ok)}
    summary["ttr"] = spread(r.get("ttr_s") for r in ok)
    summary["wall"] = spread(r.get("wall_s") for r in ok)
    summary["wait"] = spread(r.get("wait_s") for r in ok)
    for p in ALL_PHASES:
        summary[p] = spread((r.get("phases") or {}).get(p) for r in ok)
    summary["tasks"] = spread(r.get("tasks") for r in ok)
    base = entry.get("baseline") or {}
    bok = [r for r in base.get("runs", []) if r.get("ok")]
    summary["baseline_runs"] = len(base.get("runs", []))
    summary["baseline_runs_ok"] = len(bok)
    summary["baseline_ttr"] = spread(r.get("ttr_s") for r in bok)
    summary["baseline_wall"] = spread(r.get("wall_s") for r in bok)
    summary["ratio"] = ratio(summary["wall"]["median"], summary["baseline_wall"]["median"])
    return summary


def summarize_scaling(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        item = {"nodes": row["nodes"]}
        for kind in ("triage", "scenario13"):
            runs = [r for r in row.get(kind, []) if r.get("ok")]
            item[kind] = spread(r.get("wall_s") for r in runs)
            item[kind + "_runs"] = len(row.get(kind, []))
            item[kind + "_cpu"] = spread(r.get("cpu_s") for r in runs)
        item["triage_sweep"] = spread(r.get("sweep_max_s") for r in row.get("triage", []) if r.get("ok"))
        out.append(item)
    return out


def cpu_busy_seconds(proc_stat: str, ticks_per_second: int = 100) -> float:
    """CPU time the whole machine has spent busy (every state but idle and iowait) from /proc/stat's
    first line. The lab's nodes are not our children, so os.times() would not count them."""
    fields = proc_stat.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError("not a /proc/stat text: %r" % fields[0])
    values = [int(v) for v in fields[1:9]]   # user nice system idle iowait irq softirq steal
    return (sum(values) - values[3] - values[4]) / float(ticks_per_second)


# ---------------------------------------------------------------------------- Markdown
def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_spread(s: dict | None, digits: int = 1) -> str:
    """'12.3 (11.0-14.2, sd 1.1)' or '12.3' for one value or '-' for none."""
    if not s or s.get("median") is None:
        return "-"
    text = fmt(s["median"], digits)
    if s["n"] > 1:
        text += f" ({fmt(s['min'], digits)}-{fmt(s['max'], digits)}"
        text += f", sd {fmt(s['stdev'], digits)})" if s.get("stdev") is not None else ")"
    return text


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(results: dict) -> str:
    """results.md from the results.json document."""
    meta = results.get("meta", {})
    machine = meta.get("machine", {})
    settings = meta.get("settings", {})
    out = ["# genesis.runbook benchmark results", ""]
    out.append(f"Date {meta.get('date', '?')}; ansible-core {machine.get('ansible_core', '?')}, "
               f"ansible-runner {machine.get('ansible_runner', '?')}, Python {machine.get('python', '?')}; "
               f"{machine.get('cpu_count', '?')} CPUs; load average before {machine.get('load_before', '?')}, "
               f"after {machine.get('load_after', '?')}.")
    out.append("")
    out.append("Settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) + ".")
    for note in meta.get("notes", []):
        out += ["", note]
    out.append("")
    scenarios = results.get("scenarios") or []
    if scenarios:
        out += ["## Time to recover per scenario (seconds)", "",
                "Median (min-max, sd with 3 runs or more) of the successful runs. TTR: inject done to playbook "
                "finished with its validation passed (includes the maturation wait `wait`). Phases from the runner's "
                "task events; overhead = lock, budget, report, argument-spec validation, process start and stop. "
                "Bare: the same fix and validation criterion without Ansible (benchmarks/baseline.py). "
                "Ratio: playbook wall / bare wall.", ""]
        rows = []
        for e in scenarios:
            s = e.get("summary") or summarize_scenario(e)
            base = e.get("baseline") or {}
            if base.get("available"):
                bare = fmt_spread(s["baseline_wall"]) + ("" if s["baseline_runs_ok"] == s["baseline_runs"]
                                                         else f" [{s['baseline_runs_ok']}/{s['baseline_runs']} ok]")
            elif base.get("skipped"):
                bare = "not run"
            else:
                bare = "none"
            rows.append([str(e["number"]), e["name"], f"{s['runs_ok']}/{s['runs']}", fmt_spread(s["ttr"]),
                         fmt(s["wait"]["median"]), fmt_spread(s["detect"]), fmt_spread(s["recover"]),
                         fmt_spread(s["validate"]), fmt_spread(s["overhead"]), fmt_spread(s["wall"]),
                         fmt(s["tasks"]["median"], 0), bare, fmt(s["ratio"], 2)])
        out.append(table(["#", "scenario", "ok", "TTR", "wait", "detect", "recover", "validate", "overhead",
                          "playbook wall", "tasks", "bare wall", "ratio"], rows))
        out.append("")
        missing = [e for e in scenarios if not (e.get("baseline") or {}).get("available")
                   and not (e.get("baseline") or {}).get("skipped")]
        if missing:
            out += ["### Scenarios without a bare baseline", ""]
            out += [f"- {e['number']} {e['name']}: {(e.get('baseline') or {}).get('reason', 'not implemented')}"
                    for e in missing]
            out.append("")
        failures = [(e, r, "playbook") for e in scenarios for r in e.get("runs", []) if not r.get("ok")]
        failures += [(e, r, "bare") for e in scenarios for r in (e.get("baseline") or {}).get("runs", [])
                     if not r.get("ok")]
        if failures:
            out += ["### Failed runs (left out of the figures)", ""]
            out += [f"- {e['number']} {e['name']} ({kind} run {r.get('run')}): {r.get('error', 'failed')}"
                    for e, r, kind in failures]
            out.append("")
    scaling = results.get("scaling")
    if scaling and scaling.get("rows"):
        out += ["## Fleet scaling (seconds, wall time of one run)", "",
                f"Lab {scaling.get('lab')}; triage: `playbooks/triage.yml` (read-only) with `--limit` the first N "
                f"nodes; scenario 13 injected on each of them, then its playbook with `--limit` the same nodes "
                f"(genesis_serial={scaling.get('serial')}). Median (min-max, sd with 3 runs or more).", ""]
        rows = [[str(r["nodes"]), fmt_spread(r["triage"]), f"{r['triage']['n']}/{r['triage_runs']}",
                 fmt_spread(r["triage_cpu"]), fmt_spread(r["triage_sweep"], 2),
                 fmt_spread(r["scenario13"]), f"{r['scenario13']['n']}/{r['scenario13_runs']}", fmt_spread(r["scenario13_cpu"])]
                for r in summarize_scaling(scaling["rows"])]
        out.append(table(["nodes", "triage", "ok", "triage CPU-s", "slowest sweep", "scenario 13", "ok", "scenario 13 CPU-s"],
                         rows))
        out += ["", "CPU-s: CPU time the whole machine spent busy during the run (/proc/stat: controller, SSH, "
                "the nodes' module runs and the lab's own services, all on these "
                f"{(meta.get('machine') or {}).get('cpu_count', '?')} CPUs); divided by the CPU count it is the "
                "shortest wall time the run could take here. Slowest sweep: the longest `genesis_triage_info` "
                "module run on one node (its own `elapsed_s`).", ""]
        failures = [(row["nodes"], kind, r) for row in scaling["rows"] for kind in ("triage", "scenario13")
                    for r in row.get(kind, []) if not r.get("ok")]
        if failures:
            out += ["Failed scaling runs: " + "; ".join(
                f"{n} nodes {k} run {r.get('run')}: {r.get('error')}" for n, k, r in failures), ""]
    charts = meta.get("charts") or []
    if charts:
        out += ["## Charts", ""] + [f"![{c}]({c})" for c in charts] + [""]
    return "\n".join(out)
