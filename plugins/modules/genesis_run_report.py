#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_run_report
short_description: Write a runbook report document to one or more files on the controller
version_added: 0.3.0
description:
  - Writes O(content) to every path in O(dest) on the Ansible controller, creating missing parent folders with
    O(dir_mode). A mapping or list is written as indented JSON with sorted keys and a final newline (the same text as
    the C(to_nice_json) filter); a string is written as it is.
  - Runs on the controller itself through its action plugin, without a connection to the node and without starting a
    module process, so writing a report costs milliseconds instead of a local module run per file. The scenario roles,
    triage and health_check write their reports with it.
  - Each file is written to a temporary file in the same folder and renamed over the destination, so a reader never
    sees half a report.
  - A report is an artifact of the run, not managed state, so the task never reports a change.
author:
  - genesis.runbook maintainers (@genesis-runbook)
attributes:
  check_mode:
    description: Nothing is written; RV(dest) lists the files that would be. Set C(check_mode=false) on the task to write
      reports in check-mode runs too, as the runbook's roles do.
    support: full
  diff_mode:
    description: No diff.
    support: none
options:
  dest:
    description:
      - Paths of the files to write on the controller (at least one); a relative path is relative to the controller's
        working directory.
    type: list
    elements: path
    required: true
  content:
    description:
      - The document. A mapping or list is serialized as JSON; a string is written unchanged.
    type: raw
    required: true
  mode:
    description:
      - Permissions of the written files, as an octal string.
    type: str
    default: '0640'
  dir_mode:
    description:
      - Permissions of the parent folders this task creates, as an octal string. Existing folders are left as they are.
    type: str
    default: '0750'
notes:
  - Not part of the C(genesis) action group; it takes no connection options.
'''

EXAMPLES = r'''
- name: Write the report (latest and per run)
  genesis.runbook.genesis_run_report:
    content: "{{ __genesis_report }}"
    dest:
      - "{{ genesis_report_dir }}/{{ inventory_hostname }}/scenario_13.json"
      - "{{ genesis_report_dir }}/{{ inventory_hostname }}/scenario_13-{{ __genesis_run_id }}.json"
  check_mode: false
'''

RETURN = r'''
dest:
  description: The files written (or, in check mode, that would be written).
  returned: always
  type: list
  elements: str
  sample: [/srv/reports/node1/scenario_13.json]
bytes:
  description: Size of the document in bytes.
  returned: always
  type: int
  sample: 1432
'''
