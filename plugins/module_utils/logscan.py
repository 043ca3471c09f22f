# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Matching records of genesis's JSON-lines logs, newest last (docs/genesis-contract.md section 1.3)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible_collections.genesis.runbook.plugins.module_utils._common import parse_iso
from ansible_collections.genesis.runbook.plugins.module_utils.logs import DEFAULT_SCAN_BYTES, reverse_lines

# Fields of a log record kept in evidence (others may be large or irrelevant).
KEPT_FIELDS = ("timestamp", "level", "event", "logger", "program", "strategy", "exception", "reason", "order_id",
               "symbol", "side", "quantity", "count", "errors", "version")


def log_path(genesis_home, name):
    return os.path.join(genesis_home or "/app", ".genesis", "logs", name)


def records(path, events=None, fields=None, since=None, limit=50, max_bytes=DEFAULT_SCAN_BYTES):
    """(matching records oldest first, total matches) from the end of a JSON-lines log.

    `events`: messages the record's `event` starts with (any when None); `fields`: {name: value} the
    record must carry; `since`: epoch seconds, older records stop the scan. At most `limit` records
    are returned (the newest ones) but every match after `since` is counted. A missing file gives ([], 0).
    """
    found = []
    total = 0
    if not os.path.exists(path):
        return found, total
    for line in reverse_lines(path, max_bytes):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        stamp = parse_iso(record.get("timestamp"))
        if since is not None and stamp is not None and stamp < since:
            break
        event = str(record.get("event") or "")
        if events and not any(event.startswith(e) for e in events):
            continue
        if fields and any(record.get(k) != v for k, v in fields.items()):
            continue
        total += 1
        if len(found) < limit:
            found.append(dict((k, record[k]) for k in KEPT_FIELDS if k in record))
    found.reverse()
    return found, total
