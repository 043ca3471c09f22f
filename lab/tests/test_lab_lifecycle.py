"""genesis-lab up / down on the real machine (root: namespaces, PostgreSQL, Redis, sshd, supervisord).

Run: .venv/bin/pytest -m lab lab/tests/test_lab_lifecycle.py
The lab has its own name, so it never touches another lab; it is torn down even when a test fails.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

pytestmark = pytest.mark.lab

VENV_BIN = Path(sys.executable).parent
GENESIS_LAB = VENV_BIN / "genesis-lab"
PROGRAMS = {"postgresql", "redis", "genesis", "executor", "market_data", "strategies", "genesis_exit"}

if os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nsenter", "sshd", "restic", "redis-server")) \
        or not Path("/usr/lib/postgresql/15/bin/postgres").exists():
    pytest.skip("the lab tests need root, iproute2, sshd, restic, redis-server and PostgreSQL 15",
                allow_module_level=True)

from genesis_lab import lifecycle, netns  # noqa: E402
from genesis_lab.labspec import Lab, state_dir_for  # noqa: E402


def cli(*args: str, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(GENESIS_LAB), *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"genesis-lab {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def lab_processes(lab: Lab) -> set[int]:
    """Every live process of the lab: recorded pids, the marker, the namespaces."""
    pids = set(lifecycle.marked_pids(lab.data["marker"]))
    pids |= {p for p in lab.data["pids"].values() if isinstance(p, int)}
    for n in lab.nodes:
        pids |= {p for p in n.pids.values() if isinstance(p, int)}
    for ns in lab.data["namespaces"]:
        pids |= set(netns.ns_pids(ns))
    return {p for p in pids if lifecycle.alive(p)}


# this module brings up (and crashes, and brings down) a lab of its own, not the shared `lab` of conftest.py
@pytest.fixture(scope="module")
def own_lab_name():
    name = "lt" + secrets.token_hex(2)
    sd = state_dir_for(name)
    yield name
    # whatever happened: nothing of this lab may stay behind
    cli("down", "--lab", name, check=False)
    lifecycle.teardown(name, sd, log=lambda m: None)


@pytest.fixture(scope="module")
def own_lab(own_lab_name):
    t0 = time.monotonic()
    p = cli("up", "--nodes", "2", "--lab", own_lab_name)
    wall = time.monotonic() - t0
    print(p.stdout)
    assert "inventory:" in p.stdout
    lab = Lab.load(own_lab_name)
    lab.data["_test_up_wall"] = wall
    return lab


def test_up_reports_inventory_and_wall_time(own_lab):
    lab = own_lab
    assert lab.isolation == "netns"
    assert len(lab.nodes) == 2
    assert lab.data["status"] == "up"
    assert lab.data["_test_up_wall"] < 60


def test_every_node_healthy_and_all_programs_running(own_lab):
    lab = own_lab
    for node in lab.nodes:
        r = requests.get(node.api_url + "/health", timeout=5)
        assert r.status_code == 200, (node.name, r.text)
        info = node.supervisor().supervisor.getAllProcessInfo()
        states = {i["name"]: i["statename"] for i in info}
        for prog in PROGRAMS:
            assert states.get(prog) == "RUNNING", (node.name, states)
        assert states.get("backup") in ("STOPPED", "EXITED"), states
        groups = {i["name"]: i["group"] for i in info}
        assert {groups[p] for p in ("genesis", "executor", "market_data", "strategies")} == {"genesis"}


def test_exchange_answers_and_keys_exist(own_lab):
    lab = own_lab
    assert requests.get(lab.exchange_url + "/api/v3/ping", timeout=5).status_code == 200
    for node in lab.nodes:
        assert node.exchange_api_key and node.exchange_api_secret


def test_ssh_to_every_node(own_lab):
    lab = own_lab
    for node in lab.nodes:
        argv = ["ssh", "-i", str(lab.ssh_key), "-o", f"UserKnownHostsFile={lab.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                f"root@{node.address}", "true"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, (node.name, p.stderr)
        # the session runs inside the node's namespace: its address is local there
        argv[-1] = f"ip -o addr show | grep -q ' {node.address}/'"
        assert subprocess.run(argv, capture_output=True, timeout=30).returncode == 0


def test_inventory_groups_and_vars(own_lab):
    lab = own_lab
    inv_path = lab.inventory_path
    assert stat.S_IMODE(inv_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(lab.state_file.stat().st_mode) == 0o600
    inv = yaml.safe_load(inv_path.read_text())
    g = inv["all"]["children"]["genesis"]["children"]
    assert list(g["genesis_primary"]["hosts"]) == ["node1"]
    assert list(g["genesis_secondary"]["hosts"]) == ["node2"]
    required = ["ansible_host", "ansible_user", "ansible_ssh_private_key_file", "ansible_ssh_common_args",
                "ansible_python_interpreter", "genesis_node_name", "genesis_home", "genesis_api_url",
                "genesis_api_key", "genesis_db_dsn", "genesis_redis_url", "genesis_exchange_url",
                "genesis_exchange_api_key", "genesis_exchange_api_secret", "genesis_supervisor_socket",
                "genesis_cert_path", "genesis_tls_url", "genesis_memory_budget_mb", "genesis_db_service",
                "genesis_lab_node_root", "genesis_time_sync_command", "genesis_cert_renew_command",
                "genesis_restic_repository", "genesis_restic_password_file", "genesis_backup_cron_file",
                "genesis_state_dir"]
    for group, name in (("genesis_primary", "node1"), ("genesis_secondary", "node2")):
        hv = g[group]["hosts"][name]
        node = lab.node(name)
        missing = [k for k in required if k not in hv]
        assert not missing, missing
        assert hv["ansible_host"] == node.address
        assert hv["ansible_user"] == "root"
        assert "StrictHostKeyChecking=yes" in hv["ansible_ssh_common_args"]
        assert str(lab.known_hosts) in hv["ansible_ssh_common_args"]
        assert hv["genesis_api_url"] == "http://127.0.0.1:8080"
        assert hv["genesis_db_service"] == "postgresql"
        assert hv["genesis_api_key"] == node.api_key
        assert hv["genesis_time_sync_command"].endswith(f"clock sync --lab {lab.name} --node {name}")
        assert Path(hv["genesis_cert_path"]).exists()
        assert Path(hv["genesis_supervisor_socket"]).is_socket()


def test_ansible_reaches_every_node(own_lab):
    lab = own_lab
    ansible = VENV_BIN / "ansible"
    if not ansible.exists():
        pytest.skip("ansible is not installed in the venv")
    p = subprocess.run([str(ansible), "-i", str(lab.inventory_path), "genesis", "-m", "ping"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("SUCCESS") == 2, p.stdout


def test_node_files_and_seed(own_lab):
    lab = own_lab
    for node in lab.nodes:
        assert stat.S_IMODE(node.env_file.stat().st_mode) == 0o600
        env = dict(l.split("=", 1) for l in node.env_file.read_text().splitlines() if "=" in l)
        assert env["GENESIS_NODE"] == node.name and env["GENESIS_EXCHANGE_API_KEY"] == node.exchange_api_key
        for f in ("trading_rules.yaml", "tier_gates.yaml", "emergency_thresholds.yaml", "node.yaml"):
            assert (node.config_dir / f).read_bytes() == (node.home / "config.backup" / f).read_bytes()
        tiers = yaml.safe_load((node.config_dir / "tier_gates.yaml").read_text())["tiers"]
        assert [tiers[t]["max_position_size"] for t in ("SNIPER", "HUNTER", "STRATEGIST", "ARCHITECT")] == \
            [100, 500, 2000, 10000]
        ny = yaml.safe_load((node.config_dir / "node.yaml").read_text())
        assert ny["priority"] == node.index
        assert [p["url"] for p in ny["peers"]] == [p.peer_url for p in lab.nodes if p is not node]
        assert any(l.startswith(str(node.tmpfs_mount) + " ") or f" {node.tmpfs_mount} " in l
                   for l in Path("/proc/self/mounts").read_text().splitlines())
        with node.db() as conn, conn.cursor() as cur:
            # the seed (the node programs trade on top of it, so open/closed moves)
            cur.execute("SELECT count(*) FROM orders WHERE order_id LIKE %s", (f"ord-{node.name}-0%",))
            assert 150 <= cur.fetchone()[0] <= 260
            cur.execute("SELECT count(*), max(dollar_value) FROM positions WHERE position_id LIKE %s",
                        (f"pos-{node.name}-open%",))
            n_open, max_value = cur.fetchone()
            assert n_open == 3 and max_value < 500
            cur.execute("SELECT count(*) FROM positions WHERE status='OPEN' AND dollar_value >= 500")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT version_num FROM alembic_version")
            assert cur.fetchone()[0] == "genesis_0007"
            cur.execute("SELECT count(*) FROM (SELECT aggregate_id, max(sequence_number) m, count(*) c "
                        "FROM events GROUP BY aggregate_id) x WHERE m <> c")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT current_tilt_score, tilt_level FROM tilt_profiles")
            score, level = cur.fetchone()
            assert level == "NORMAL" and float(score) < 30
        conn.close()
        assert (node.logs_dir / "audit.log").exists()
        p = subprocess.run(["restic", "-r", str(node.restic_repository), "--password-file",
                            str(node.restic_password_file), "--no-cache", "snapshots", "--json"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert len(json.loads(p.stdout)) >= 1


def test_cli_helpers(own_lab):
    lab = own_lab
    p = cli("clock", "set", "--lab", lab.name, "--node", "node2", "--offset-ms", "2500")
    assert json.loads(p.stdout)["offset_ms"] == 2500
    assert lab.node("node2").clock_offset_file.read_text().strip() == "2500"
    cli("clock", "sync", "--lab", lab.name, "--node", "node2")
    assert lab.node("node2").clock_offset_file.read_text().strip() == "0"
    p = cli("clock", "sync", "--lab", lab.name, "--node", "node9", check=False)
    assert p.returncode == 2 and "node1, node2" in p.stderr
    p = cli("cert", "issue", "--lab", lab.name, "--node", "node1", "--days", "90")
    assert json.loads(p.stdout)["node"] == "node1"
    p = cli("env", "--lab", lab.name)
    assert f"GENESIS_LAB_INVENTORY={lab.inventory_path}" in p.stdout
    p = cli("exchange", "key", "--lab", lab.name, "--node", "node1")
    doc = json.loads(p.stdout)
    assert doc["api_key"] and doc["secret"]


def test_up_after_crash_cleans_leftovers(own_lab):
    lab = own_lab
    old = Lab.load(lab.name)
    old_pids = lab_processes(old)
    for node in old.nodes:
        os.kill(node.pids["supervisord"], signal.SIGKILL)
    time.sleep(0.3)
    # the programs are orphaned but still there, state and namespaces too
    assert any(lifecycle.alive(p) for p in old_pids)
    cli("up", "--nodes", "2", "--lab", lab.name)
    leftovers = [p for p in old_pids if lifecycle.alive(p)]
    assert not leftovers, leftovers
    new = Lab.load(lab.name)
    for node in new.nodes:
        assert requests.get(node.api_url + "/health", timeout=5).status_code == 200
    lab.data.clear()
    lab.data.update(new.data)
    lab.nodes[:] = new.nodes


def test_down_leaves_nothing_and_is_idempotent(own_lab):
    lab = own_lab
    cur = Lab.load(lab.name)
    pids = lab_processes(cur)
    assert pids
    mounts = list(cur.data["mounts"])
    assert mounts
    p = cli("down", "--lab", cur.name)
    assert "down" in p.stdout
    alive = [x for x in pids if lifecycle.alive(x)]
    assert not alive, alive
    assert not lifecycle.marked_pids(cur.data["marker"])
    assert not netns.lab_namespaces(cur.name)
    assert not any(netns.ns_exists(n) for n in cur.data["namespaces"])
    assert not netns.lab_links(cur.name)
    assert not netns.link_exists(cur.bridge)
    mounted = Path("/proc/self/mounts").read_text()
    assert not any(f" {m} " in mounted for m in mounts)
    assert not cur.state_dir.exists()
    p = cli("down", "--lab", cur.name)
    assert "nothing to do" in p.stdout
