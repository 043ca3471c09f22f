"""Scenario 10 validation on node1: usage under 80 %, a write succeeds, no new space errors;
every removed log or data file has a verified archive; temp files were removed only when old
and only in the configured directory."""
import glob
import gzip
import json
import os
import re
import subprocess
import tempfile
import time

DAY = 86400


def _genesis(node1):
    return os.path.join(str(node1.home), ".genesis")


def test_usage_under_80_percent(node1):
    st = os.statvfs(_genesis(node1))
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    percent = 100.0 * used / (used + st.f_bavail * st.f_frsize)
    assert percent < 80, "%.1f %% used" % percent


def test_a_write_succeeds(node1):
    path = os.path.join(_genesis(node1), "data", ".verify-write-test")
    try:
        with open(path, "wb") as handle:
            handle.write(os.urandom(1 << 20))
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_no_new_space_errors_in_the_logs(node1, converge_report):
    since = converge_report["finished_at"][:19]
    for path in glob.glob(os.path.join(_genesis(node1), "logs", "*.log")):
        with open(path, errors="replace") as handle:
            for line in handle:
                if re.search(r"No space left|ENOSPC|Errno 28", line) and line.split('"timestamp": "', 1)[-1][:19] >= since:
                    raise AssertionError("%s: %s" % (path, line[:200]))


def test_rotated_logs_are_archived_not_lost(node1, converge_report):
    logs = os.path.join(_genesis(node1), "logs")
    archives = sorted(glob.glob(os.path.join(logs, "archive", "*.log.*.gz")))
    assert len(archives) >= 10, archives
    for path in archives:
        with gzip.open(path, "rt") as handle:
            first = json.loads(handle.readline())
        assert first["logger"].startswith("genesis.") and first["event"], path
    # no rotated log past retention is left uncompressed; the live logs are still there
    old = [p for p in glob.glob(os.path.join(logs, "*.log.*")) if time.time() - os.stat(p).st_mtime > 30 * DAY]
    assert old == []
    for name in ("genesis.log", "trading.log", "audit.log"):
        assert os.path.exists(os.path.join(logs, name)), name
    assert "archive_logs" in {c["step"] for c in converge_report["changes"]}


def test_old_data_archived_recent_data_kept(node1):
    data = os.path.join(_genesis(node1), "data")
    assert not os.path.exists(os.path.join(data, "exports", "trades-old.csv"))
    with gzip.open(os.path.join(data, "archive", "exports", "trades-old.csv.gz"), "rt") as handle:
        content = handle.read()
    assert content.startswith("ts,symbol,side,qty,price\n") and content.count("\n") == 201
    assert os.path.exists(os.path.join(data, "exports", "trades-recent.csv"))


def test_temp_files_removed_only_when_old_and_only_where_configured(node1):
    tmp = os.path.join(_genesis(node1), "tmp")
    remaining = [os.path.basename(p) for p in glob.glob(os.path.join(tmp, "*"))]
    assert remaining == ["fresh-export.tmp"], remaining
    assert os.path.exists(os.path.join(str(node1.home), "old-outside.tmp"))


def test_the_cleanup_steps_are_audited_with_their_files(node1, db_query, baseline):
    rows = db_query(node1, "SELECT event_data FROM events WHERE event_type = 'RUNBOOK_ACTION' AND event_id > %s "
                           "ORDER BY event_id", (baseline["node1"]["last_event_id"],))
    steps = [r[0]["step"] for r in rows]
    assert steps == ["remove_temp_files", "archive_logs", "archive_data"], steps
    archived = rows[1][0]["details"]["files"]
    assert all(f["archive"].endswith(".gz") and not os.path.exists(f["source"]) and os.path.exists(f["archive"])
               for f in archived)


def test_a_whole_tmp_is_refused_before_anything_changes(lab, node1, db_query):
    """disk_cleanup_temp_dirs=/tmp: one sentence, nothing changed (the runbook's `find /tmp ... -delete`)."""
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    before = db_query(node1, "SELECT coalesce(max(event_id), 0) FROM events WHERE event_type = 'RUNBOOK_ACTION'")[0][0]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(project, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    with tempfile.TemporaryDirectory() as reports:
        proc = subprocess.run(
            ["ansible-playbook", "-i", str(lab.inventory_path), os.path.join(project, "playbooks", "scenario_10_disk_space.yml"),
             "--limit", "node1", "-e", '{"disk_cleanup_temp_dirs": ["/tmp"], "disk_cleanup_critical_percent": 1, '
             '"disk_cleanup_target_percent": 0.5, "disk_cleanup_warn_percent": 1}', "-e", "genesis_report_dir=" + reports],
            cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "disk_cleanup_temp_dirs entry /tmp is not an absolute directory genesis owns" in proc.stdout + proc.stderr
    after = db_query(node1, "SELECT coalesce(max(event_id), 0) FROM events WHERE event_type = 'RUNBOOK_ACTION'")[0][0]
    assert after == before
    assert os.path.exists(os.path.join(_genesis(node1), "tmp", "fresh-export.tmp"))
