# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Readers of genesis's JSON-lines logs (docs/genesis-contract.md section 1.3)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re

BLOCK = 65536
DEFAULT_SCAN_BYTES = 32 * 1048576
_TS_PREFIX = re.compile(r"^\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")


def reverse_lines(path, max_bytes=DEFAULT_SCAN_BYTES):
    """Lines of a file from the last to the first, reading at most max_bytes from the end."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        floor = max(0, position - max_bytes)
        rest = b""
        while position > floor:
            size = min(BLOCK, position - floor)
            position -= size
            handle.seek(position)
            chunk = handle.read(size) + rest
            parts = chunk.split(b"\n")
            rest = parts[0]
            for part in reversed(parts[1:]):
                if part.strip():
                    yield part.decode("utf-8", "replace")
        if rest.strip() and position == 0:
            yield rest.decode("utf-8", "replace")


def tail(path, count, max_bytes=DEFAULT_SCAN_BYTES):
    """The last `count` non-empty lines, oldest first."""
    if count <= 0:
        return []
    lines = []
    for line in reverse_lines(path, max_bytes):
        lines.append(line)
        if len(lines) >= count:
            break
    lines.reverse()
    return lines


def parse_line(line):
    """(event message, timestamp string, level) of one log line; plain-text lines are matched by prefix."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict):
        return str(record.get("event") or record.get("message") or ""), record.get("timestamp"), record.get("level")
    match = _TS_PREFIX.match(line)
    timestamp = match.group(1) if match else None
    return line, timestamp, None


def last_occurrences(path, messages, max_bytes=DEFAULT_SCAN_BYTES):
    """{message: timestamp of the last line whose event starts with it (or None)}."""
    found = dict((message, None) for message in messages)
    missing = set(messages)
    for line in reverse_lines(path, max_bytes):
        event, timestamp, _level = parse_line(line)
        for message in list(missing):
            if event.startswith(message) or (timestamp and message in event and not event.startswith("{")):
                found[message] = timestamp
                missing.discard(message)
        if not missing:
            break
    return found
