# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Disk usage, cleanup candidates and verified archiving of genesis.runbook's disk modules (runbook scenario 10).

Rules (docs/genesis-contract.md sections 1 and 8): live logs are never touched; a file is
removed only after its archive was written, synced and read back identical; temp files are
removed only inside directories the caller names, never in a whole system temp directory.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fnmatch
import gzip
import hashlib
import json
import os
import re
import shutil
import stat as stat_module
import time
import zlib

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause, iso, parse_iso

DAY = 86400.0
CHUNK = 1 << 20
MAX_LISTED = 200

# Directories that are never a temp directory of genesis: cleaning one of them would remove
# other software's files (the runbook's `find /tmp -type f -mtime +7 -delete`).
FORBIDDEN_TEMP_DIRS = ("/", "/tmp", "/var/tmp", "/dev/shm", "/run", "/var", "/var/lib", "/var/log", "/usr", "/etc",
                       "/home", "/root", "/boot", "/srv", "/opt", "/mnt", "/media", "/proc", "/sys", "/dev")

DEFAULT_LOG_PATTERNS = ("*.log.[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]", "*.log.[0-9]", "*.log.[0-9][0-9]")
DEFAULT_SPACE_ERRORS = ("No space left on device", "ENOSPC", "Errno 28", "disk full", "DiskFull")


class GenesisDiskError(GenesisError):
    def __init__(self, message, done=None):
        super(GenesisDiskError, self).__init__(message)
        self.done = done or []


def disk_argument_spec():
    """Options shared by genesis_disk_info and genesis_disk_cleanup."""
    return dict(
        paths=dict(type="list", elements="path"),
        log_dirs=dict(type="list", elements="path"),
        log_patterns=dict(type="list", elements="str", default=list(DEFAULT_LOG_PATTERNS)),
        log_retention_days=dict(type="int", default=30),
        log_archive_dir=dict(type="path"),
        data_dirs=dict(type="list", elements="path"),
        data_retention_days=dict(type="int", default=90),
        data_archive_dir=dict(type="path"),
        temp_dirs=dict(type="list", elements="path"),
        temp_max_age_days=dict(type="int", default=7),
    )


def resolve_layout(params):
    """The directories of the options, defaulted from genesis_home as in the contract's node layout."""
    home = params.get("genesis_home") or "/app"
    base = os.path.join(home, ".genesis")
    layout = dict(
        log_dirs=params.get("log_dirs") or [os.path.join(base, "logs")],
        data_dirs=params.get("data_dirs") or [os.path.join(base, "data")],
        temp_dirs=params.get("temp_dirs") if params.get("temp_dirs") is not None else [os.path.join(base, "tmp")],
    )
    layout["log_archive_dir"] = params.get("log_archive_dir") or os.path.join(layout["log_dirs"][0], "archive")
    layout["data_archive_dir"] = params.get("data_archive_dir") or os.path.join(layout["data_dirs"][0], "archive")
    layout["paths"] = params.get("paths") or (layout["data_dirs"] + layout["log_dirs"])
    return layout


def normalized(path):
    return os.path.normpath(os.path.abspath(path)) if path else path


def validate_params(params, layout):
    """One sentence naming the first bad option, or None."""
    for option in ("log_retention_days", "data_retention_days", "temp_max_age_days"):
        value = params.get(option)
        if value is not None and value < 1:
            return "%s must be 1 day or more, got %s." % (option, value)
    for option in ("paths", "log_dirs", "data_dirs", "temp_dirs"):
        for path in layout[option]:
            if not os.path.isabs(path):
                return "%s entry %s must be an absolute path." % (option, path)
    for path in layout["temp_dirs"]:
        if normalized(path) in FORBIDDEN_TEMP_DIRS:
            return ("temp_dirs entry %s is a whole system directory: list only directories genesis owns "
                    "(such as <genesis_home>/.genesis/tmp), never all of %s." % (path, normalized(path)))
    for option in ("log_archive_dir", "data_archive_dir"):
        if not os.path.isabs(layout[option]):
            return "%s %s must be an absolute path." % (option, layout[option])
    # a temp directory that holds (or lies inside) logs, data or archives would delete them unarchived
    kept = [("log_dirs", p) for p in layout["log_dirs"]] + [("data_dirs", p) for p in layout["data_dirs"]] + \
        [("log_archive_dir", layout["log_archive_dir"]), ("data_archive_dir", layout["data_archive_dir"])]
    for path in layout["temp_dirs"]:
        temp = normalized(path)
        for option, other in kept:
            other = normalized(other)
            if temp == other or other.startswith(temp + os.sep) or temp.startswith(other + os.sep):
                return ("temp_dirs entry %s overlaps %s %s: temp files are removed without an archive, so a temp "
                        "directory must not hold logs, data or archives." % (path, option, other))
    for pattern in params.get("log_patterns") or []:
        if pattern in ("*", "*.log") or not pattern.strip():
            return ("log_patterns entry %r would match live logs: name rotated files only "
                    "(such as *.log.YYYY-MM-DD)." % pattern)
    return None


# ---------------------------------------------------------------------------- usage
def mount_point(path):
    """The mount point of the filesystem holding path (walks up while the device stays the same)."""
    path = os.path.realpath(path)
    dev = os.stat(path).st_dev
    while path != os.sep:
        parent = os.path.dirname(path)
        try:
            if os.stat(parent).st_dev != dev:
                return path
        except OSError:
            return path
        path = parent
    return path


def usage(path):
    """Usage of the filesystem holding path, as df counts it (used / (used + available to users))."""
    stat = os.statvfs(path)
    total = stat.f_blocks * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    usable = used + free
    return dict(total_bytes=total, used_bytes=used, free_bytes=free,
                used_percent=round(used * 100.0 / usable, 2) if usable else 0.0)


def filesystems(paths, warn_percent=90.0, critical_percent=95.0):
    """One entry per distinct filesystem holding one of paths; missing paths are listed apart."""
    seen = {}
    missing = []
    for path in paths:
        probe = path
        while probe and not os.path.exists(probe):
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
        if not os.path.exists(path):
            missing.append(path)
        try:
            dev = os.stat(probe).st_dev
        except OSError:
            continue
        if dev not in seen:
            info = usage(probe)
            info.update(mount=mount_point(probe), paths=[])
            pct = info["used_percent"]
            info["level"] = "critical" if pct > critical_percent else ("warning" if pct > warn_percent else "ok")
            seen[dev] = info
        seen[dev]["paths"].append(path)
    return list(seen.values()), missing


def device_of(path):
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


# ---------------------------------------------------------------------------- candidates
def _entry(path, st, now):
    return dict(path=path, bytes=st.st_size, mtime=iso(st.st_mtime), age_days=round((now - st.st_mtime) / DAY, 1))


def _walk_files(top, recursive, exclude):
    """Regular files under top (symlinks never followed, excluded directories skipped)."""
    exclude = set(normalized(e) for e in exclude if e)
    if not os.path.isdir(top):
        return
    dev = device_of(top)
    for root, dirs, files in os.walk(top, followlinks=False):
        keep = []
        for name in sorted(dirs):
            full = os.path.join(root, name)
            if normalized(full) in exclude or os.path.islink(full) or device_of(full) != dev:
                continue
            keep.append(name)
        dirs[:] = keep if recursive else []
        for name in sorted(files):
            full = os.path.join(root, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if not _is_regular(st) or name.startswith(".genesis-archive-"):
                continue
            yield full, st


def _is_regular(st):
    return stat_module.S_ISREG(st.st_mode)


def log_candidates(layout, patterns, retention_days, now=None):
    """Rotated logs (never a live *.log) older than retention_days, oldest first."""
    now = now or time.time()
    found = []
    for top in layout["log_dirs"]:
        for path, st in _walk_files(top, False, [layout["log_archive_dir"]]):
            name = os.path.basename(path)
            if name.endswith(".gz") or not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            if now - st.st_mtime > retention_days * DAY:
                found.append(_entry(path, st, now))
    return sorted(found, key=lambda e: (e["mtime"], e["path"]))


def data_candidates(layout, retention_days, now=None):
    now = now or time.time()
    found = []
    for top in layout["data_dirs"]:
        for path, st in _walk_files(top, True, [layout["data_archive_dir"], layout["log_archive_dir"]]):
            if now - st.st_mtime > retention_days * DAY:
                found.append(_entry(path, st, now))
    return sorted(found, key=lambda e: (e["mtime"], e["path"]))


def temp_candidates(layout, max_age_days, now=None):
    now = now or time.time()
    found = []
    for top in layout["temp_dirs"]:
        for path, st in _walk_files(top, True, []):
            if now - st.st_mtime > max_age_days * DAY:
                found.append(_entry(path, st, now))
    return sorted(found, key=lambda e: (e["mtime"], e["path"]))


def archive_files(layout, now=None):
    """The compressed archives (*.gz) in the log and data archive directories."""
    now = now or time.time()
    found = []
    for top in (layout["log_archive_dir"], layout["data_archive_dir"]):
        for path, st in _walk_files(top, True, []):
            if path.endswith(".gz"):
                found.append(_entry(path, st, now))
    return sorted(found, key=lambda e: (e["mtime"], e["path"]))


def summary(entries):
    return dict(count=len(entries), bytes=sum(e["bytes"] for e in entries), files=entries[:MAX_LISTED],
                truncated=len(entries) > MAX_LISTED)


# ---------------------------------------------------------------------------- space errors in logs
def space_errors(log_dirs, since=None, patterns=DEFAULT_SPACE_ERRORS, max_bytes=4 << 20):
    """Lines of the live *.log files mentioning a full disk, written at or after `since` (epoch seconds)."""
    lowered = [p.lower() for p in patterns]
    hits = []
    for top in log_dirs:
        if not os.path.isdir(top):
            continue
        for name in sorted(os.listdir(top)):
            if not name.endswith(".log"):
                continue
            path = os.path.join(top, name)
            try:
                with open(path, "rb") as handle:
                    handle.seek(0, os.SEEK_END)
                    size = handle.tell()
                    handle.seek(max(0, size - max_bytes))
                    text = handle.read().decode("utf-8", "replace")
            except (IOError, OSError):
                continue
            for line in text.splitlines():
                low = line.lower()
                if not any(p in low for p in lowered):
                    continue
                stamp = _line_time(line)
                if since is not None and (stamp is None or stamp < since):
                    continue
                hits.append(dict(file=path, timestamp=iso(stamp) if stamp else None, line=line[:300]))
    return hits


def _line_time(line):
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict) and isinstance(record.get("timestamp"), str):
        return parse_iso(record["timestamp"])
    match = re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", line)
    return parse_iso(match.group(0)) if match else None


# ---------------------------------------------------------------------------- verified archiving
def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_gzip(path):
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _free_name(directory, name):
    """name, or name with .1, .2 ... before .gz when an archive of that name already exists."""
    candidate = os.path.join(directory, name)
    index = 1
    while os.path.exists(candidate):
        stem = name[:-3] if name.endswith(".gz") else name
        candidate = os.path.join(directory, "%s.%d.gz" % (stem, index))
        index += 1
    return candidate


def _describe_os_error(exc):
    if getattr(exc, "errno", None) == errno.ENOSPC:
        return "no space left on device"
    return clause(getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__)


def archive_file(source, archive_dir, relative=None):
    """Compress source into archive_dir (a .gz already compressed is copied as is), read it back, then remove source.

    Returns {source, archive, bytes, archive_bytes}. On any error the partial archive is removed, the
    source is kept and GenesisDiskError says why.
    """
    relative = relative or os.path.basename(source)
    target_dir = os.path.dirname(os.path.join(archive_dir, relative)) or archive_dir
    name = os.path.basename(relative)
    name = name if name.endswith(".gz") else name + ".gz"
    partial = None
    try:
        st = os.stat(source)
        if not os.path.isdir(target_dir):
            os.makedirs(target_dir, 0o750)
        final = _free_name(target_dir, name)
        partial = os.path.join(target_dir, ".genesis-archive-%d-%s" % (os.getpid(), name))
        source_sum = _sha256_file(source)
        if source.endswith(".gz"):
            shutil.copyfile(source, partial)
            ok = _sha256_file(partial) == source_sum
        else:
            with open(source, "rb") as src, open(partial, "wb") as raw:
                with gzip.GzipFile(filename=os.path.basename(source), mode="wb", fileobj=raw, mtime=int(st.st_mtime)) as out:
                    for block in iter(lambda: src.read(CHUNK), b""):
                        out.write(block)
                raw.flush()
                os.fsync(raw.fileno())
            ok = _sha256_gzip(partial) == source_sum
        if not ok:
            raise GenesisDiskError("The archive of %s did not read back identical; the original was kept." % source)
        if _sha256_file(source) != source_sum:
            raise GenesisDiskError("%s changed while it was archived; the original was kept." % source)
        os.utime(partial, (st.st_atime, st.st_mtime))
        os.rename(partial, final)
        partial = None
        _fsync_dir(target_dir)
        os.unlink(source)
        _fsync_dir(os.path.dirname(source))
        return dict(source=source, archive=final, bytes=st.st_size, archive_bytes=os.stat(final).st_size)
    except GenesisDiskError:
        raise
    except (IOError, OSError, EOFError, zlib.error) as exc:
        raise GenesisDiskError("%s was not archived into %s (%s); the original was kept."
                               % (source, archive_dir, _describe_os_error(exc)))
    finally:
        if partial is not None and os.path.exists(partial):
            try:
                os.unlink(partial)
            except OSError:
                pass


def move_verified(source, destination):
    """Copy source to destination (another filesystem), sync, compare, then remove source."""
    partial = None
    try:
        st = os.stat(source)
        directory = os.path.dirname(destination)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o750)
        final = _free_name(directory, os.path.basename(destination))
        partial = os.path.join(directory, ".genesis-archive-%d-%s" % (os.getpid(), os.path.basename(final)))
        with open(source, "rb") as src, open(partial, "wb") as out:
            for block in iter(lambda: src.read(CHUNK), b""):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if _sha256_file(partial) != _sha256_file(source):
            raise GenesisDiskError("The copy of %s in %s did not read back identical; the original was kept." % (source, directory))
        os.utime(partial, (st.st_atime, st.st_mtime))
        os.rename(partial, final)
        partial = None
        _fsync_dir(directory)
        os.unlink(source)
        return dict(source=source, archive=final, bytes=st.st_size, archive_bytes=st.st_size)
    except GenesisDiskError:
        raise
    except (IOError, OSError) as exc:
        raise GenesisDiskError("%s was not moved to %s (%s); the original was kept."
                               % (source, os.path.dirname(destination), _describe_os_error(exc)))
    finally:
        if partial is not None and os.path.exists(partial):
            try:
                os.unlink(partial)
            except OSError:
                pass


def remove_file(path):
    try:
        size = os.lstat(path).st_size
        os.unlink(path)
        return size
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 0
        raise GenesisDiskError("%s could not be removed: %s." % (path, _describe_os_error(exc)))


def since_epoch(value):
    """Epoch seconds of an ISO 8601 timestamp or a number; None for empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return parse_iso(str(value))
