# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side writer for runbook reports (see plugins/modules/genesis_run_report.py).

Writing a report with file + copy delegated to localhost cost three local module runs (~1.7 s on
the lab's 2-core controller) in every scenario run; this writes the same text in-process."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase
from ansible_collections.genesis.runbook.plugins.module_utils._common import write_atomic

ARGUMENT_SPEC = {
    'dest': {'type': 'list', 'elements': 'path', 'required': True},
    'content': {'type': 'raw', 'required': True},
    'mode': {'type': 'str', 'default': '0640'},
    'dir_mode': {'type': 'str', 'default': '0750'},
}


class ReportError(Exception):
    pass


def octal(name, value):
    try:
        number = int(str(value), 8)
    except ValueError:
        number = -1
    if not 0 <= number <= 0o7777:
        raise ReportError('%s must be an octal permission string such as 0640, got %r.' % (name, value))
    return number


def render(content):
    """The file text: strings as they are, anything else as to_nice_json would write it, plus a newline."""
    if isinstance(content, str):
        return content
    return json.dumps(content, cls=AnsibleJSONEncoder, indent=4, sort_keys=True, ensure_ascii=False) + '\n'


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False  # writes on the controller only

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        del validation
        try:
            paths = args['dest']
            if not paths or not all(paths):
                raise ReportError('dest must list at least one file path and no empty one.')
            # relative to the controller's working directory, as the local copy it replaces wrote them
            paths = [os.path.abspath(p) for p in paths]
            mode = octal('mode', args['mode'])
            dir_mode = octal('dir_mode', args['dir_mode'])
            data = to_bytes(render(args['content']), errors='surrogate_or_strict')
            if not self._task.check_mode:
                for path in paths:
                    write_atomic(path, data, mode, dir_mode=dir_mode)
        except ReportError as exc:
            return dict(result, failed=True, msg='genesis_run_report: %s' % exc)
        except (OSError, TypeError, ValueError) as exc:
            return dict(result, failed=True, msg='genesis_run_report could not write %s: %s' % (', '.join(args['dest']), exc))
        return dict(result, changed=False, dest=paths, bytes=len(data))
