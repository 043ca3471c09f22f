"""Shared fixtures of the lab tests (marker `lab`).

- `lab`: a session-scoped 2-node lab, `genesis-lab up --nodes 2 --lab <unique name>`, always
  brought down at the end of the session, even when tests fail or the run is interrupted.
- `lab_factory`: more labs of their own (unique names), each brought down in teardown.
- `restore`: a function-scoped undo stack: a test registers how to put a node back and the
  callbacks run after the test whatever its outcome, then the node is checked healthy.
- `gl`: the `genesis-lab` command line (`gl("inject", "3", "--lab", name, "--node", "node2")`).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import requests

VENV_BIN = Path(sys.executable).parent
GENESIS_LAB = VENV_BIN / "genesis-lab"
RUNNING_PROGRAMS = {"postgresql", "redis", "genesis:genesis", "genesis:executor", "genesis:market_data",
                    "genesis:strategies", "genesis_exit"}


def lab_prereqs_missing() -> str | None:
    if os.geteuid() != 0:
        return "the lab tests need root"
    missing = [t for t in ("ip", "nsenter", "nft", "sshd", "restic", "redis-server") if not shutil.which(t)]
    if missing:
        return f"the lab tests need {', '.join(missing)}"
    if not Path("/usr/lib/postgresql/15/bin/postgres").exists():
        return "the lab tests need PostgreSQL 15"
    return None


def gl_run(*args: str, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(GENESIS_LAB), *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"genesis-lab {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="session")
def gl() -> Callable[..., subprocess.CompletedProcess]:
    return gl_run


# ---------------------------------------------------------------------------- labs
class LabPool:
    """Labs brought up by this session; `close()` brings every one down."""

    def __init__(self):
        self.names: list[str] = []

    def up(self, prefix: str = "ti", nodes: int = 2):
        from genesis_lab.labspec import Lab

        why = lab_prereqs_missing()
        if why:
            pytest.skip(why)
        name = (prefix + secrets.token_hex(3))[:6]
        self.names.append(name)           # registered before `up`: a failed up is cleaned too
        t0 = time.monotonic()
        gl_run("up", "--nodes", str(nodes), "--lab", name, timeout=300)
        lab = Lab.load(name)
        lab.data["_test_up_seconds"] = round(time.monotonic() - t0, 1)
        wait_settled(lab)
        return lab

    def down(self, name: str) -> None:
        from genesis_lab import lifecycle
        from genesis_lab.labspec import state_dir_for

        try:
            gl_run("down", "--lab", name, check=False, timeout=180)
        finally:
            # whatever `down` did: nothing of this lab may stay behind
            lifecycle.teardown(name, state_dir_for(name), log=lambda m: None)
        if name in self.names:
            self.names.remove(name)

    def close(self) -> None:
        for name in list(reversed(self.names)):
            self.down(name)


def wait_settled(lab, timeout: float = 30.0) -> None:
    """Every node healthy and exactly one unfenced primary (a fresh lab elects within lease_ttl)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            roles = []
            for n in lab.nodes:
                if requests.get(n.api_url + "/health", timeout=2).status_code != 200:
                    raise RuntimeError(f"{n.name} not healthy")
                doc = requests.get(n.api_url + "/admin/cluster", headers={"X-API-Key": n.api_key}, timeout=2).json()
                roles.append(doc["role"] == "primary" and not doc["fenced"])
            if sum(roles) == 1:
                return
            last = f"{sum(roles)} primaries"
        except Exception as e:  # noqa: BLE001
            last = str(e)
        time.sleep(0.3)
    raise AssertionError(f"lab {lab.name} did not settle within {timeout:.0f} s ({last})")


@pytest.fixture(scope="session")
def lab_pool():
    pool = LabPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def lab(lab_pool):
    """The session's 2-node lab."""
    return lab_pool.up("ti", 2)


@pytest.fixture(scope="session")
def lab_factory(lab_pool):
    return lab_pool


# ---------------------------------------------------------------------------- node helpers
def api(node, method: str, path: str, body: dict | None = None, timeout: float = 10.0):
    r = requests.request(method, node.api_url + path, json=body, headers={"X-API-Key": node.api_key},
                         timeout=timeout)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def api_get(node, path: str, timeout: float = 10.0) -> dict:
    code, doc = api(node, "GET", path, timeout=timeout)
    assert code == 200, (node.name, path, code, doc)
    return doc


def states(node) -> dict[str, str]:
    from genesis_lab.status import prog_name

    return {prog_name(i): i["statename"] for i in node.supervisor().supervisor.getAllProcessInfo()}


def healthy(node) -> tuple[bool, str]:
    try:
        r = requests.get(node.api_url + "/health", timeout=3)
    except requests.RequestException as e:
        return False, f"{node.name}: GET /health failed: {e}"
    st = states(node)
    bad = {k: v for k, v in st.items() if k in RUNNING_PROGRAMS and v != "RUNNING"}
    if r.status_code != 200 or bad:
        return False, f"{node.name}: /health {r.status_code} {r.text[:300]}; not RUNNING: {bad}"
    return True, ""


def assert_healthy(node) -> None:
    ok, why = healthy(node)
    assert ok, why


def wait_until(what: str, fn: Callable, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last!r})" if last else ""))
        time.sleep(interval)


def log_lines(node, fname: str, event: str, since: float = 0.0) -> list[dict]:
    """Records of `<logs>/<fname>` whose event starts with `event`, written at or after `since`."""
    from genesis_lab.status import _ts

    out = []
    try:
        text = (node.logs_dir / fname).read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        if event not in line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if str(rec.get("event", "")).startswith(event) and (_ts(rec.get("timestamp")) or 0) >= since - 0.01:
            out.append(rec)
    return out


def restart(node, *programs: str) -> None:
    """Restart programs through supervisor (`genesis:executor`, `postgresql`, ...)."""
    s = node.supervisor().supervisor
    for p in programs:
        info = s.getProcessInfo(p)
        if info["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
            s.stopProcess(p, True)
        s.startProcess(p, True)


def clear_faults(node) -> None:
    r = node.redis()
    try:
        keys = list(r.scan_iter("lab:fault:*"))
        if keys:
            r.delete(*keys)
    finally:
        r.close()


class Restore:
    """Undo stack of one test; runs after it whatever happened, then checks the nodes."""

    def __init__(self):
        self.undo: list[tuple[str, Callable[[], None]]] = []
        self.check: list = []

    def add(self, what: str, fn: Callable[[], None]) -> None:
        self.undo.append((what, fn))

    def healthy_after(self, *nodes) -> None:
        self.check.extend(nodes)

    def programs(self, node, *programs: str) -> None:
        def fn():
            clear_faults(node)
            restart(node, *programs)
        self.add(f"restart {', '.join(programs)} on {node.name}", fn)
        self.healthy_after(node)

    def run(self) -> None:
        errors = []
        for what, fn in reversed(self.undo):
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                errors.append(f"{what}: {e!r}")
        for node in dict.fromkeys(self.check):
            try:
                wait_until(f"{node.name} healthy after the restore", lambda: healthy(node)[0], 40, 0.3)
            except AssertionError as e:
                errors.append(str(e) + " " + healthy(node)[1])
        if errors:
            raise AssertionError("restore failed: " + "; ".join(errors))


@pytest.fixture
def restore():
    r = Restore()
    yield r
    r.run()
