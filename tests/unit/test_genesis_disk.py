# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_disk_info and genesis_disk_cleanup (runbook scenario 10)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import gzip
import json
import os
import time

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.module_utils import disk
from ansible_collections.genesis.runbook.plugins.modules import genesis_disk_cleanup, genesis_disk_info

DAY = 86400
DSN = "postgresql://genesis:dbpa55@127.0.0.1:5432/genesis"


def write(path, content, age_days):
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write(content)
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def home(tmp_path):
    g = tmp_path / ".genesis"
    line = '{"timestamp": "2026-10-01T00:00:00.000Z", "level": "info", "event": "Heartbeat sent", "logger": "genesis.main"}\n'
    write(str(g / "logs" / "genesis.log"), line * 10, 0)                       # live: never touched
    write(str(g / "logs" / "genesis.log.2026-10-01"), line * 2000, 57)         # past retention
    write(str(g / "logs" / "trading.log.2026-10-02"), line * 1000, 45)         # past retention
    write(str(g / "logs" / "genesis.log.2026-11-20"), line * 10, 7)            # within retention
    write(str(g / "logs" / "notes.txt"), "keep", 90)                           # not a rotated log
    write(str(g / "data" / "exports" / "old.csv"), "a,b\n" * 100, 120)        # past data retention
    write(str(g / "data" / "exports" / "new.csv"), "a,b\n", 3)
    write(str(g / "tmp" / "old-1.tmp"), "x" * 4096, 9)
    write(str(g / "tmp" / "sub" / "old-2.tmp"), "x" * 1024, 20)
    write(str(g / "tmp" / "fresh.tmp"), "x", 1)
    write(str(tmp_path / "outside.tmp"), "x", 30)                              # not in a temp dir
    return tmp_path


def args(home, **extra):
    base = dict(genesis_home=str(home), node_name="node1", run_id="run-10", scenario="10", db_dsn=DSN)
    base.update(extra)
    return base


def files_under(path):
    found = []
    for root, _dirs, files in os.walk(str(path)):
        found.extend(os.path.relpath(os.path.join(root, f), str(path)) for f in files)
    return sorted(found)


# ---------------------------------------------------------------------------- genesis_disk_info
def test_info_lists_usage_and_candidates(run_module, home):
    result, failed = run_module(genesis_disk_info.main, args(home))
    assert not failed and result["changed"] is False
    assert len(result["filesystems"]) == 1 and result["filesystems"][0]["level"] in ("ok", "warning", "critical")
    c = result["candidates"]
    assert [os.path.basename(f["path"]) for f in c["logs"]["files"]] == ["genesis.log.2026-10-01", "trading.log.2026-10-02"]
    assert [os.path.basename(f["path"]) for f in c["data"]["files"]] == ["old.csv"]
    assert sorted(os.path.basename(f["path"]) for f in c["temp"]["files"]) == ["old-1.tmp", "old-2.tmp"]
    assert c["temp"]["bytes"] == 5120 and c["archives"]["count"] == 0
    assert result["layout"]["log_archive_dir"] == str(home / ".genesis" / "logs" / "archive")


def test_info_levels(run_module, home, monkeypatch):
    monkeypatch.setattr(disk, "usage", lambda path: dict(total_bytes=100, used_bytes=96, free_bytes=4, used_percent=96.0))
    result, _failed = run_module(genesis_disk_info.main, args(home))
    assert result["critical"] is True and result["warning"] is True and result["max_used_percent"] == 96.0
    monkeypatch.setattr(disk, "usage", lambda path: dict(total_bytes=100, used_bytes=92, free_bytes=8, used_percent=92.0))
    result, _failed = run_module(genesis_disk_info.main, args(home), check_mode=True)
    assert result["critical"] is False and result["warning"] is True and result["filesystems"][0]["level"] == "warning"


def test_info_space_errors_since(run_module, home):
    err = home / ".genesis" / "logs" / "genesis_error.log"
    err.write_text('{"timestamp": "2026-11-27T10:00:00.000Z", "level": "error", "event": "write failed", '
                   '"error": "[Errno 28] No space left on device"}\n'
                   '{"timestamp": "2026-11-27T12:00:00.000Z", "level": "error", "event": "disk full"}\n')
    everything, _failed = run_module(genesis_disk_info.main, args(home))
    recent, _failed = run_module(genesis_disk_info.main, args(home, space_errors_since="2026-11-27T11:00:00Z"))
    assert everything["space_errors_count"] == 2 and recent["space_errors_count"] == 1
    assert recent["space_errors"][0]["timestamp"] == "2026-11-27T12:00:00.000Z"


@pytest.mark.parametrize("extra, sentence", [
    (dict(temp_dirs=["/tmp"]), "temp_dirs entry /tmp is a whole system directory: list only directories genesis owns "
                               "(such as <genesis_home>/.genesis/tmp), never all of /tmp."),
    (dict(temp_dirs=["/var/tmp/"]), "temp_dirs entry /var/tmp/ is a whole system directory: list only directories genesis "
                                    "owns (such as <genesis_home>/.genesis/tmp), never all of /var/tmp."),
    (dict(temp_dirs=["relative/tmp"]), "temp_dirs entry relative/tmp must be an absolute path."),
    (dict(temp_dirs=["/srv/genesis"], log_dirs=["/srv/genesis/logs"]),
     "temp_dirs entry /srv/genesis overlaps log_dirs /srv/genesis/logs: temp files are removed without an archive, so a "
     "temp directory must not hold logs, data or archives."),
    (dict(log_retention_days=0), "log_retention_days must be 1 day or more, got 0."),
    (dict(log_patterns=["*.log"]), "log_patterns entry '*.log' would match live logs: name rotated files only "
                                   "(such as *.log.YYYY-MM-DD)."),
    (dict(warn_percent=96), "warn_percent and critical_percent must satisfy 0 < warn_percent <= critical_percent <= 100, "
                            "got 96.0 and 95.0."),
    (dict(space_errors_since="yesterday"), "space_errors_since must be an ISO 8601 time or epoch seconds, got yesterday."),
])
def test_info_bad_input_is_one_sentence(run_module, home, extra, sentence):
    result, failed = run_module(genesis_disk_info.main, args(home, **extra))
    assert failed and result["msg"] == sentence


# ---------------------------------------------------------------------------- genesis_disk_cleanup
def test_remove_temp_files_only_old_and_only_in_temp_dirs(run_module, home, pg):
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="remove_temp_files"), diff=True)
    assert not failed and result["changed"] is True and result["count"] == 2 and result["freed_bytes"] == 5120
    assert files_under(home / ".genesis" / "tmp") == ["fresh.tmp"]
    assert os.path.isdir(str(home / ".genesis" / "tmp" / "sub"))  # directories are kept
    assert (home / "outside.tmp").exists()
    events = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(events) == 1 and events[0]["event_data"]["step"] == "remove_temp_files"
    assert events[0]["event_data"]["run_id"] == "run-10" and len(events[0]["event_data"]["details"]["files"]) == 2
    assert result["audit_events"][0]["event_type"] == "RUNBOOK_ACTION"
    assert len(result["diff"]["before"]["files"]) == 2


def test_archive_logs_verifies_before_removing(run_module, home, pg):
    logs = home / ".genesis" / "logs"
    original = (logs / "genesis.log.2026-10-01").read_bytes()
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="archive_logs"))
    assert not failed and result["changed"] is True and result["count"] == 2
    # audit.log: the audit event's line (contract 4.3)
    assert files_under(logs) == ["archive/genesis.log.2026-10-01.gz", "archive/trading.log.2026-10-02.gz",
                                 "audit.log", "genesis.log", "genesis.log.2026-11-20", "notes.txt"]
    assert json.loads((logs / "audit.log").read_text())["event_data"]["step"] == "archive_logs"
    with gzip.open(str(logs / "archive" / "genesis.log.2026-10-01.gz"), "rb") as handle:
        assert handle.read() == original
    assert result["freed_bytes"] > 0 and result["files"][0]["archive_bytes"] < result["files"][0]["bytes"]
    # the archive keeps the original's age, so the offload and audits see when the log was written
    assert time.time() - os.stat(str(logs / "archive" / "genesis.log.2026-10-01.gz")).st_mtime > 50 * DAY
    assert [e["event_data"]["step"] for e in pg.events_of("runbook:node1")] == ["archive_logs"]


def test_archive_logs_twice_changes_nothing_the_second_time(run_module, home, pg):
    first, _failed = run_module(genesis_disk_cleanup.main, args(home, step="archive_logs"))
    second, failed = run_module(genesis_disk_cleanup.main, args(home, step="archive_logs"))
    assert not failed and first["changed"] is True and second["changed"] is False and second["audit_events"] == []
    assert len(pg.events_of("runbook:node1")) == 1


def test_archive_never_overwrites_an_existing_archive(run_module, home, pg):
    write(str(home / ".genesis" / "logs" / "archive" / "trading.log.2026-10-02.gz"), "older archive", 40)
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="archive_logs"))
    assert not failed
    archive = home / ".genesis" / "logs" / "archive"
    assert (archive / "trading.log.2026-10-02.gz").read_text() == "older archive"
    assert (archive / "trading.log.2026-10-02.1.gz").exists()


def test_archive_data_keeps_relative_paths(run_module, home, pg):
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="archive_data"))
    assert not failed and result["count"] == 1
    data = home / ".genesis" / "data"
    assert files_under(data) == ["archive/exports/old.csv.gz", "exports/new.csv"]
    with gzip.open(str(data / "archive" / "exports" / "old.csv.gz"), "rt") as handle:
        assert handle.read() == "a,b\n" * 100


def test_check_mode_lists_and_changes_nothing(run_module, home, pg):
    before = files_under(home)
    for step in ("remove_temp_files", "archive_logs", "archive_data"):
        result, failed = run_module(genesis_disk_cleanup.main, args(home, step=step), check_mode=True)
        assert not failed and result["changed"] is True and result["audit_events"] == []
    assert files_under(home) == before and pg.connections == []


def test_nothing_to_do_is_not_a_change(run_module, tmp_path, pg):
    (tmp_path / ".genesis" / "tmp").mkdir(parents=True)
    result, failed = run_module(genesis_disk_cleanup.main, args(tmp_path, step="remove_temp_files"))
    assert not failed and result["changed"] is False and pg.connections == []


def test_a_failed_archive_keeps_the_original_and_audits_what_was_done(run_module, home, pg, monkeypatch):
    real = disk.archive_file
    calls = []

    def flaky(source, archive_dir, relative=None):
        calls.append(source)
        if len(calls) == 2:
            raise disk.GenesisDiskError("%s was not archived into %s (no space left on device); the original was kept."
                                        % (source, archive_dir))
        return real(source, archive_dir, relative)
    monkeypatch.setattr(disk, "archive_file", flaky)
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="archive_logs"))
    assert failed and result["msg"].startswith("archive_logs stopped after 1 of 2 files: ")
    assert "no space left on device" in result["msg"] and result["count"] == 1
    assert (home / ".genesis" / "logs" / "trading.log.2026-10-02").exists()
    assert len(pg.events_of("runbook:node1")) == 1


def test_archive_file_enospc_removes_the_partial(home, monkeypatch):
    source = str(home / ".genesis" / "logs" / "genesis.log.2026-10-01")
    archive = str(home / ".genesis" / "logs" / "archive")

    class Full(object):
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __exit__(self, *a):
            return False
    monkeypatch.setattr(disk.gzip, "GzipFile", Full)
    with pytest.raises(disk.GenesisDiskError) as caught:
        disk.archive_file(source, archive)
    assert "no space left on device" in caught.value.message and os.path.exists(source)
    assert os.listdir(archive) == []


def test_refuses_to_act_without_the_audit_trail(run_module, home, pg):
    pg.connect_error = genesis_fakes.pg_down()
    before = files_under(home)
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="remove_temp_files"))
    assert failed and result["msg"].startswith("Nothing was cleaned up because the audit trail cannot be written: PostgreSQL "
                                               "postgresql://genesis:********@127.0.0.1:5432/genesis is unreachable")
    assert "dbpa55" not in json.dumps(result) and files_under(home) == before


def test_offload_moves_archives_to_another_disk(run_module, home, pg, monkeypatch, tmp_path):
    run_module(genesis_disk_cleanup.main, args(home, step="archive_logs"))
    backup = tmp_path / "backupdisk"
    backup.mkdir()
    real_device = disk.device_of
    monkeypatch.setattr(disk, "device_of", lambda path: -1 if str(path).startswith(str(backup)) else real_device(path))
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="offload_archives", backup_path=str(backup)))
    assert not failed and result["count"] == 2
    assert files_under(backup) == ["node1/.genesis/logs/archive/genesis.log.2026-10-01.gz",
                                   "node1/.genesis/logs/archive/trading.log.2026-10-02.gz"]
    assert files_under(home / ".genesis" / "logs" / "archive") == []
    second, _failed = run_module(genesis_disk_cleanup.main, args(home, step="offload_archives", backup_path=str(backup)))
    assert second["changed"] is False


def test_offload_refuses_the_same_filesystem(run_module, home, pg, tmp_path):
    run_module(genesis_disk_cleanup.main, args(home, step="archive_logs"))
    backup = tmp_path / "same-disk"
    backup.mkdir()
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="offload_archives", backup_path=str(backup)))
    assert failed and "is on the same filesystem as" in result["msg"] and result["msg"].endswith("nothing was moved.")


@pytest.mark.parametrize("extra, sentence", [
    (dict(step="offload_archives"), "backup_path is not set: genesis_disk_cleanup needs it to offload the archives to another disk."),
    (dict(step="offload_archives", backup_path="/nonexistent/backup"),
     "backup_path /nonexistent/backup does not exist or is not a directory; mount the backup disk first, nothing was moved."),
    (dict(step="remove_temp_files", temp_dirs=["/tmp"]),
     "temp_dirs entry /tmp is a whole system directory: list only directories genesis owns (such as <genesis_home>/.genesis/tmp), "
     "never all of /tmp."),
    (dict(step="archive_logs", log_patterns=["*"]),
     "log_patterns entry '*' would match live logs: name rotated files only (such as *.log.YYYY-MM-DD)."),
])
def test_cleanup_bad_input_is_one_sentence(run_module, home, pg, extra, sentence):
    before = files_under(home)
    result, failed = run_module(genesis_disk_cleanup.main, args(home, **extra))
    assert failed and result["msg"] == sentence and files_under(home) == before


def test_cleanup_unknown_step(run_module, home, pg):
    result, failed = run_module(genesis_disk_cleanup.main, args(home, step="wipe_tmp"))
    assert failed and "step" in result["msg"] and "wipe_tmp" in result["msg"]
