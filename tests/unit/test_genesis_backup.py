# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_backup_info and genesis_backup against a fake restic, a fake supervisord and the fake database."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

import genesis_fakes
from fakes_backup import FakeRestic, log_lines, make_home
from ansible_collections.genesis.runbook.plugins.modules import genesis_backup, genesis_backup_info

DSN = "postgresql://genesis:dbpa55@127.0.0.1:5432/genesis"


@pytest.fixture
def restic(tmp_path):
    return FakeRestic(tmp_path)


@pytest.fixture
def home(tmp_path):
    return make_home(tmp_path / "node")


def args(home, restic, **extra):
    values = dict(genesis_home=home, restic_path=restic.path, node_name="node1", run_id="run-16", scenario="16",
                  db_dsn=DSN)
    values.update(extra)
    return values


def env_text(home):
    with open(os.path.join(home, ".env")) as handle:
        return handle.read()


def broken_job(home):
    """What the lab's scenario-16 injection does: a password file override that does not exist."""
    with open(os.path.join(home, ".env"), "a") as handle:
        handle.write("RESTIC_PASSWORD_FILE=%s/.genesis/backups/restic-password.old\n" % home)


# ---------------------------------------------------------------------------- genesis_backup_info
def test_info_reports_newest_snapshot_check_and_ls(run_module, home, restic):
    restic.add_snapshot(30, "aaaa1111")
    restic.add_snapshot(2, "bbbb2222")
    result, failed = run_module(genesis_backup_info.main, args(home, restic, ls_latest=True))
    assert not failed and result["changed"] is False and result["ok"]
    assert result["snapshot_count"] == 2 and result["newest"]["short_id"] == "bbbb2222"
    assert 1.9 < result["newest_age_h"] < 2.1
    assert result["check"] == {"ran": True, "ok": True, "summary": "no errors were found", "error": None}
    assert result["latest_ls"]["ok"] and result["latest_ls"]["missing"] == [] and result["latest_ls"]["snapshot"] == "bbbb2222"
    assert result["job"]["ok"] and result["job"]["problems"] == []
    assert "s3cret-restic-pw" not in json.dumps(result)
    reads = [c for c in restic.calls if "snapshots" in c or "ls" in c]
    assert all("--no-lock" in c and "--no-cache" in c for c in reads)


def test_info_finds_the_broken_job_and_its_failed_run(run_module, home, restic, supervisord):
    broken_job(home)
    restic.add_snapshot(30, "aaaa1111")
    log_lines(home, "genesis.log", [
        {"timestamp": "2026-11-26T12:00:00.000Z", "event": "Backup completed", "snapshot_id": "aaaa1111"},
        {"timestamp": "2026-11-27T18:40:01.100Z", "event": "Backup failed", "error": "Resolving password failed"}])
    result, failed = run_module(genesis_backup_info.main, args(home, restic, supervisor_socket=supervisord))
    assert not failed and result["ok"]
    job = result["job"]
    assert not job["ok"] and job["last_run_failed"] and not job["password_file_exists"]
    assert job["env_overrides"]["RESTIC_PASSWORD_FILE"].endswith("restic-password.old")
    assert any("does not exist" in p for p in job["problems"])
    assert any("last backup run failed at 2026-11-27T18:40:01.100Z" in p for p in job["problems"])
    assert job["program"]["name"] == "backup" and job["program"]["statename"] == "STOPPED"


def test_info_wrong_password_is_evidence_not_failure(run_module, home, restic):
    restic.update(password="another")
    result, failed = run_module(genesis_backup_info.main, args(home, restic))
    assert not failed and not result["ok"] and result["check"]["ran"] is False
    assert result["error"].startswith("restic snapshots of repository %s/.genesis/backups/restic-repo failed (exit 1)" % home)
    assert "wrong password" in result["error"]


def test_info_missing_password_file_is_one_sentence(run_module, home, restic):
    result, failed = run_module(genesis_backup_info.main, args(home, restic, password_file="/nonexistent/pw"))
    assert not failed and not result["ok"]
    assert result["error"] == "The repository password file /nonexistent/pw does not exist."
    assert restic.calls == []


def test_info_check_failure_and_missing_paths(run_module, home, restic):
    restic.add_snapshot(1, "cccc3333")
    restic.update(check_error="Fatal: repository contains errors", ls=["/config"])
    result, failed = run_module(genesis_backup_info.main, args(home, restic, ls_latest=True))
    assert not failed and result["check"]["ok"] is False and "repository contains errors" in result["check"]["error"]
    assert result["latest_ls"]["ok"] is False and result["latest_ls"]["missing"] == [".genesis/state"]


def test_info_no_snapshot(run_module, home, restic):
    result, failed = run_module(genesis_backup_info.main, args(home, restic, ls_latest=True))
    assert not failed and result["ok"] and result["newest"] is None and result["newest_age_h"] is None
    assert result["latest_ls"]["ok"] is False and "has no snapshot" in result["latest_ls"]["error"]


@pytest.mark.parametrize("extra, message", [
    (dict(restic_timeout=5), "restic_timeout must be between 10 and 7200 seconds, got 5."),
    (dict(restic_path="/nonexistent/restic"), "restic is not installed on the node (restic_path /nonexistent/restic is not an executable)."),
])
def test_info_bad_input_is_one_sentence(run_module, home, restic, extra, message):
    result, failed = run_module(genesis_backup_info.main, args(home, restic, **extra))
    assert failed and result["msg"] == message


def test_info_unreachable_supervisor_is_evidence(run_module, home, restic, tmp_path):
    result, failed = run_module(genesis_backup_info.main, args(home, restic, supervisor_socket=str(tmp_path / "none.sock")))
    assert not failed and result["job"]["program"]["statename"] is None
    assert result["job"]["program"]["error"].startswith("supervisord socket %s is unreachable" % (tmp_path / "none.sock"))
    assert result["job"]["ok"]


# ---------------------------------------------------------------------------- genesis_backup
def test_fix_removes_the_bad_override_backs_up_and_audits(run_module, home, restic, pg):
    broken_job(home)
    before = env_text(home)
    result, failed = run_module(genesis_backup.main, args(home, restic), diff=True)
    assert not failed and result["changed"] is True
    assert result["settings"]["RESTIC_PASSWORD_FILE"]["after"] is None
    assert "RESTIC_PASSWORD_FILE" not in env_text(home)
    assert env_text(home) == before.replace("RESTIC_PASSWORD_FILE=%s/.genesis/backups/restic-password.old\n" % home, "")
    assert os.stat(os.path.join(home, ".env")).st_mode & 0o777 == 0o600
    with open(result["backup_path"]) as handle:
        assert handle.read() == before
    assert os.stat(result["backup_path"]).st_mode & 0o777 == 0o600
    actions = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1 and actions[0]["event_data"]["step"] == "fix_backup_job"
    assert result["diff"]["after"]["RESTIC_PASSWORD_FILE"] is None
    assert "dbpa55" not in json.dumps(result) and "k3y-api-secret" not in json.dumps(result)


def test_fix_sets_a_non_default_password_file(run_module, home, restic, pg, tmp_path):
    other = tmp_path / "pw"
    other.write_text("s3cret-restic-pw\n")
    result, failed = run_module(genesis_backup.main, args(home, restic, password_file=str(other)))
    assert not failed and result["changed"] and "RESTIC_PASSWORD_FILE=%s\n" % other in env_text(home)


def test_fix_check_mode_writes_nothing(run_module, home, restic, pg):
    broken_job(home)
    before = env_text(home)
    result, failed = run_module(genesis_backup.main, args(home, restic), check_mode=True)
    assert not failed and result["changed"] is True and result["backup_path"] is None
    assert env_text(home) == before and pg.events == [] and pg.connections == []
    assert [n for n in os.listdir(home) if n.startswith(".env.bak")] == []


def test_fix_is_idempotent(run_module, home, restic, pg):
    broken_job(home)
    first, _failed = run_module(genesis_backup.main, args(home, restic))
    second, failed = run_module(genesis_backup.main, args(home, restic))
    assert first["changed"] and not failed and second["changed"] is False and len(pg.events) == 1


def test_fix_healthy_job_needs_no_database(run_module, home, restic, pg):
    result, failed = run_module(genesis_backup.main, args(home, restic, db_dsn=""))
    assert not failed and result["changed"] is False and pg.connections == []


def test_fix_refuses_a_password_file_that_does_not_open_the_repository(run_module, home, restic, pg):
    broken_job(home)
    before = env_text(home)
    restic.update(password="another")
    result, failed = run_module(genesis_backup.main, args(home, restic))
    assert failed and result["msg"].startswith("The backup job was not changed because the configured password file does "
                                               "not open the configured repository: restic snapshots")
    assert env_text(home) == before and pg.events == []


def test_fix_missing_password_file_changes_nothing(run_module, home, restic, pg):
    broken_job(home)
    result, failed = run_module(genesis_backup.main, args(home, restic, password_file="/nonexistent/pw"))
    assert failed and result["msg"] == ("password_file /nonexistent/pw does not exist, so the backup job cannot be pointed "
                                        "at it; nothing was changed.")


def test_fix_database_down_changes_nothing(run_module, home, restic, pg):
    broken_job(home)
    before = env_text(home)
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_backup.main, args(home, restic))
    assert failed and result["msg"].startswith("The backup job was not changed because the audit trail cannot be written: PostgreSQL")
    assert "dbpa55" not in result["msg"] and env_text(home) == before


def test_fix_missing_env_file(run_module, restic, tmp_path, pg):
    home = make_home(tmp_path / "n2")
    os.unlink(os.path.join(home, ".env"))
    result, failed = run_module(genesis_backup.main, args(home, restic))
    assert failed and result["msg"] == "The node's environment file %s/.env cannot be read: does not exist." % home
