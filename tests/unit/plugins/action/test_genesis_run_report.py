# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The genesis_run_report action plugin driven with a fake task: files, text, modes, check mode, bad input."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat
from unittest.mock import MagicMock

import pytest

from ansible_collections.genesis.runbook.plugins.action import genesis_run_report

REPORT = {'scenario': 13, 'host': 'node1', 'detected': True, 'reasons': ['book BTC/USDT crossed'], 'changes': [{'step': 'resync'}]}


def run(args, check_mode=False):
    task = MagicMock(args=args, check_mode=check_mode, async_val=0, action='genesis.runbook.genesis_run_report')
    connection = MagicMock()
    connection._shell.tmpdir = None
    action = genesis_run_report.ActionModule(task, connection, MagicMock(), None, None, None)
    return action.run(task_vars={})


def test_writes_every_destination_with_the_same_json_and_creates_folders(tmp_path):
    dests = [str(tmp_path / 'reports' / 'node1' / 'scenario_13.json'), str(tmp_path / 'reports' / 'node1' / 'scenario_13-r1.json')]
    result = run({'content': REPORT, 'dest': dests})
    assert not result.get('failed') and result['changed'] is False
    assert result['dest'] == dests
    texts = [open(d, encoding='utf-8').read() for d in dests]
    assert texts[0] == texts[1] and texts[0].endswith('}\n')
    assert json.loads(texts[0]) == REPORT
    # the text to_nice_json writes: 4-space indent, sorted keys
    assert texts[0] == json.dumps(REPORT, indent=4, sort_keys=True) + '\n'
    assert result['bytes'] == len(texts[0].encode())
    assert stat.S_IMODE(os.stat(dests[0]).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / 'reports' / 'node1').st_mode) == 0o750
    assert sorted(os.listdir(tmp_path / 'reports' / 'node1')) == ['scenario_13-r1.json', 'scenario_13.json']  # no temp left


def test_a_string_is_written_unchanged_and_replaces_the_old_file(tmp_path):
    dest = tmp_path / 'health.md'
    dest.write_text('old report\n')
    result = run({'content': '# health\n| node | ok |\n', 'dest': [str(dest)], 'mode': '0600'})
    assert not result.get('failed')
    assert dest.read_text() == '# health\n| node | ok |\n'
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600


def test_a_relative_path_is_relative_to_the_controllers_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run({'content': {'a': 1}, 'dest': ['genesis-reports/node1/scenario_01.json']})
    assert result['dest'] == [str(tmp_path / 'genesis-reports' / 'node1' / 'scenario_01.json')]
    assert json.loads((tmp_path / 'genesis-reports' / 'node1' / 'scenario_01.json').read_text()) == {'a': 1}


def test_check_mode_writes_nothing_and_says_what_it_would_write(tmp_path):
    dest = str(tmp_path / 'node1' / 'scenario_13.json')
    result = run({'content': REPORT, 'dest': [dest]}, check_mode=True)
    assert not result.get('failed') and result['dest'] == [dest]
    assert not os.path.exists(tmp_path / 'node1')


@pytest.mark.parametrize('args, words', [
    ({'content': REPORT, 'dest': []}, 'dest must list at least one file'),
    ({'content': REPORT, 'dest': ['x.json'], 'mode': 'rw-r'}, 'mode must be an octal permission string'),
    ({'content': REPORT, 'dest': ['x.json'], 'dir_mode': '99999'}, 'dir_mode must be an octal permission string'),
])
def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    result = run(args)
    assert result['failed'] and words in result['msg']
    assert os.listdir(tmp_path) == []


def test_missing_content_is_refused_by_the_argument_spec(tmp_path):
    with pytest.raises(Exception, match='content'):
        run({'dest': [str(tmp_path / 'a.json')]})
    assert os.listdir(tmp_path) == []


def test_an_unwritable_destination_names_the_file(tmp_path):
    blocker = tmp_path / 'node1'
    blocker.write_text('a file where the folder should be')
    dest = str(blocker / 'scenario_13.json')
    result = run({'content': REPORT, 'dest': [dest]})
    assert result['failed'] and dest in result['msg']
