"""Scenario 16 validation on node1: a recent backup, integrity passes (restic check), the newest
snapshot holds the configuration and the state (restic ls latest), the schedule is present, and
the backup job itself works again. Plus the escalation path: a password file that does not open
the repository stops the role with one sentence and changes nothing."""
import calendar
import json
import os
import subprocess
import time

from labprobe import runbook_actions_since

MAX_AGE_S = 24 * 3600


def _restic(node, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(RESTIC_REPOSITORY=str(node.restic_repository), RESTIC_PASSWORD_FILE=str(node.restic_password_file))
    return subprocess.run(["restic", "--no-cache", *args], env=env, capture_output=True, text=True, timeout=120)


def _env_lines(node):
    with open(os.path.join(node.home, ".env")) as handle:
        return [line.strip() for line in handle if line.strip()]


def test_a_recent_snapshot_exists(node1):
    proc = _restic(node1, "--no-lock", "snapshots", "--json")
    assert proc.returncode == 0, proc.stderr
    snapshots = json.loads(proc.stdout)
    newest = max(snapshots, key=lambda s: s["time"])
    stamp = calendar.timegm(time.strptime(newest["time"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert time.time() - stamp < MAX_AGE_S, newest["time"]


def test_restic_check_passes(node1):
    proc = _restic(node1, "check")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "no errors were found" in proc.stdout


def test_latest_snapshot_holds_config_and_state(node1):
    proc = _restic(node1, "--no-lock", "ls", "latest")
    assert proc.returncode == 0, proc.stderr
    paths = [line.strip() for line in proc.stdout.splitlines()[1:]]
    for wanted in ("/config", "/.genesis/state", "/config/node.yaml"):
        assert any(p == wanted or p.endswith(wanted) for p in paths), (wanted, paths[:20])


def test_schedule_present_and_runs_the_job_through_supervisor(node1):
    with open(node1.backup_cron_file) as handle:
        text = handle.read()
    assert "#Ansible: genesis restic backup" in text
    line = [entry for entry in text.splitlines() if entry and not entry.startswith("#")]
    assert len(line) == 1 and line[0].startswith("17 */6 * * * root "), line
    assert line[0].endswith("-s unix://%s start backup" % node1.supervisor_socket), line


def test_backup_job_works_again(node1):
    info = node1.supervisor().supervisor.getProcessInfo("backup")
    assert info["statename"] == "EXITED" and info["exitstatus"] == 0, info
    override = [line for line in _env_lines(node1) if line.startswith("RESTIC_PASSWORD_FILE=")]
    assert all(os.path.isfile(line.split("=", 1)[1]) for line in override), override


def test_env_was_backed_up_before_the_fix(node1):
    backups = [name for name in os.listdir(node1.home) if name.startswith(".env.bak-")]
    assert backups, "no .env backup next to .env"
    path = os.path.join(node1.home, backups[0])
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as handle:
        assert "restic-password.old" in handle.read()


def test_converge_did_the_runbook_steps(converge_report):
    steps = {c["step"] for c in converge_report["changes"]}
    assert {"fix_backup_job", "run_backup", "install_backup_schedule"} <= steps, steps
    assert converge_report["validation"]["check_ok"] and converge_report["validation"]["schedule_present"]


def test_unopenable_repository_escalates_and_changes_nothing(node1, baseline):
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    before_env = _env_lines(node1)
    before_events = runbook_actions_since(node1, baseline["node1"]["last_event_id"])
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.environ.get("GENESIS_LAB_INVENTORY", "/var/lib/genesis-lab/m16/inventory.yml"),
         "--limit", "node1", os.path.join(project, "playbooks", "scenario_16_backup.yml"),
         "-e", "backup_recovery_password_file=%s/.genesis/backups/no-such-password" % node1.home,
         "-e", "genesis_report_dir=%s/reports/escalation" % os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]],
        cwd=project, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out[-2000:]
    assert "cannot be opened" in out and "nothing was changed" in out, out[-2000:]
    assert _env_lines(node1) == before_env
    assert runbook_actions_since(node1, baseline["node1"]["last_event_id"]) == before_events
