"""`backup`: one restic backup of `config/` and `.genesis/state` into the node's repository
(`.genesis/backups/restic-repo`, password file RESTIC_PASSWORD_FILE), tagged `genesis`.
Logs `Backup completed` or `Backup failed` to genesis.log; exit 0 / 1."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

from genesis_lab.node.common import JsonLog, Settings


def restic_command(settings: Settings) -> list[str]:
    return [shutil.which("restic") or "restic", "-r", settings.restic_repository,
            "--password-file", settings.restic_password_file, "--no-cache", "--json",
            "backup", "--tag", "genesis", "--host", settings.node, "config", ".genesis/state"]


def run(home: str) -> int:
    s = Settings(home)
    log = JsonLog(s.logs_dir, "genesis.log", "genesis.backup", s.node, "backup")
    cmd = restic_command(s)
    env = dict(os.environ)
    env.setdefault("HOME", str(s.home / ".genesis" / "tmp"))
    env.pop("RESTIC_PASSWORD", None)
    log.info("Backup started", repository=s.restic_repository, paths=["config", ".genesis/state"])
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=str(s.home), env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("Backup failed", error=f"{type(exc).__name__}: {exc}", repository=s.restic_repository)
        return 1
    summary = {}
    for line in proc.stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("message_type") == "summary":
            summary = doc
    duration = round(time.monotonic() - t0, 2)
    if proc.returncode == 0 and summary.get("snapshot_id"):
        log.info("Backup completed", snapshot_id=summary.get("snapshot_id"), repository=s.restic_repository,
                 files_new=summary.get("files_new"), files_changed=summary.get("files_changed"),
                 data_added=summary.get("data_added"), duration_s=duration)
        return 0
    err = (proc.stderr or proc.stdout or "").strip().splitlines()
    log.error("Backup failed", returncode=proc.returncode, error=" | ".join(err[-3:])[:500],
              repository=s.restic_repository, duration_s=duration)
    return 1
