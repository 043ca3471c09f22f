# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident_timeline callback driven with fake tasks and results: content, TTD/TTR, secrets, no_log."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from ansible import constants as C
from ansible_collections.genesis.runbook.plugins.callback import incident_timeline

NAME = 'genesis.runbook.incident_timeline'
SECRET = 'hunter2-s3cr3t'
T0 = datetime(2026, 5, 10, 10, 15, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def at(self, offset):
        self.now = T0 + timedelta(seconds=offset)


class FakeRole:
    def __init__(self, name, collection='genesis.runbook'):
        self._role_name = name
        self._role_collection = collection

    def get_name(self, include_role_fqcn=True):
        if include_role_fqcn:
            return '.'.join(x for x in (self._role_collection, self._role_name) if x)
        return self._role_name


class FakeBlock:
    def __init__(self, role=None, parent=None):
        self._role = role
        self._parent = parent


class FakeTask:
    counter = 0

    def __init__(self, name, action='ansible.builtin.set_fact', role=None, path=None, no_log=None, parent=None):
        FakeTask.counter += 1
        self._uuid = 'task-%d' % FakeTask.counter
        self.name = name
        self.action = action.rsplit('.', 1)[-1]
        self._resolved_action = action
        self._role = role
        self._path = path
        self._parent = parent
        self.no_log = no_log

    def get_path(self):
        return self._path


class FakeHost:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeResult:
    """A result as ansible-core 2.19 hands it to callbacks (host, task, result)."""

    def __init__(self, host, task, data):
        self.host = host
        self.task = task
        self.result = data


class LegacyResult:
    """A result as ansible-core 2.16 hands it to callbacks (_host, _task, _result only)."""

    def __init__(self, host, task, data):
        self._host = host
        self._task = task
        self._result = data


class FakeStats:
    def __init__(self, **recaps):
        self.processed = dict((host, 1) for host in recaps)
        self.recaps = recaps

    def summarize(self, host):
        return self.recaps[host]


class FakePlay:
    def get_name(self):
        return 'Order book desync - detect, resync, validate'


class FakePlaybook:
    _file_name = '/work/playbooks/scenario_13_orderbook.yml'


def recap(**counts):
    base = dict(ok=0, changed=0, unreachable=0, failures=0, skipped=0, rescued=0, ignored=0)
    base.update(counts)
    return base


@pytest.fixture
def callback(tmp_path):
    defs = yaml.safe_load(incident_timeline.DOCUMENTATION)['options']
    C.config.initialize_plugin_configuration_definitions('callback', NAME, defs)
    plugin = incident_timeline.CallbackModule()
    plugin._load_name = NAME
    plugin.set_options(direct={'dir': str(tmp_path / 'timelines')})
    plugin.clock = Clock()
    plugin.check_mode = False
    return plugin


SCENARIO = FakeRole('orderbook_sync')
PLUMBING = FakeRole('genesis')
NODE = FakeHost('node1')


def detect_task():
    return FakeTask('Record the detection', role=SCENARIO, path='/r/orderbook_sync/tasks/detect.yml:10')


def detection(detected=True):
    return {'changed': False, 'ansible_facts': {'orderbook_sync_detection': {
        'detected': detected,
        'reasons': ['BTCUSDT: mid-price 42 bps away from the exchange'] if detected else [],
        'evidence': {'out_of_sync': ['BTCUSDT'] if detected else [], 'Exchange_API_Key': SECRET,
                     'books': {'BTCUSDT': {'mid': 101.2, 'redis_password': SECRET}},
                     'feed': 'redis://genesis:%s@127.0.0.1:6379/0' % SECRET, 'db_DSN': 'postgresql://x'},
    }}}


def validate_task(name='Books match the exchange again', action='genesis.runbook.genesis_orderbook_info'):
    return FakeTask(name, action=action, role=SCENARIO, path='/r/orderbook_sync/tasks/validate.yml:2')


def report_task():
    """The report's set_fact: a task of the genesis role included by the scenario role."""
    include = FakeTask('Report', action='ansible.builtin.include_role', role=SCENARIO)
    return FakeTask('Build the run report', role=PLUMBING, path='/r/genesis/tasks/report.yml:6',
                    parent=FakeBlock(role=PLUMBING, parent=include))


def report(detected=True, check_mode=False):
    return {'changed': False, 'ansible_facts': {'__genesis_report': {
        'scenario': 13, 'role': 'orderbook_sync', 'host': 'node1', 'run_id': '20260510T101500Z', 'check_mode': check_mode,
        'detected': detected, 'reasons': [], 'evidence': {'api_token': SECRET}, 'changes': [{'step': 'resync_orderbooks'}],
        'planned_changes': [], 'validation': {'books_in_sync': True}}}}


def run_scenario(cb, detected=True, validation_passes=True, check_mode=False):
    """A scenario 13 run on node1: run id at 1 s, detection at 2 s, changes at 3-4 s, validation at 6 s, report at 7 s."""
    clock = cb.clock
    cb.check_mode = check_mode
    cb.v2_playbook_on_start(FakePlaybook())
    cb.v2_playbook_on_play_start(FakePlay())
    clock.at(1)
    run_id = FakeTask('Fix the run id and start time once for the whole play', role=PLUMBING, path='/r/genesis/tasks/main.yml:3')
    cb.v2_runner_on_start(NODE, run_id)
    cb.v2_runner_on_ok(FakeResult(NODE, run_id, {'changed': False, 'ansible_facts': {'__genesis_run_id': '20260510T101500Z'}}))
    clock.at(2)
    task = detect_task()
    cb.v2_runner_on_start(NODE, task)
    cb.v2_runner_on_ok(FakeResult(NODE, task, detection(detected)))
    if detected:
        clock.at(3)
        resync = FakeTask('Resync the diverged books', action='genesis.runbook.genesis_orderbook', role=SCENARIO,
                          path='/r/orderbook_sync/tasks/recover.yml:12')
        cb.v2_runner_on_start(NODE, resync)
        cb.v2_runner_on_ok(FakeResult(NODE, resync, {
            'changed': True, 'resynced': ['BTCUSDT'], 'api_key': SECRET, 'invocation': {'module_args': {'symbols': [SECRET]}},
            'endpoint': 'https://bot:%s@exchange.invalid/depth' % SECRET}))
        clock.at(4)
        hidden = FakeTask('Rotate the feed credential', action='ansible.builtin.copy', role=SCENARIO,
                          path='/r/orderbook_sync/tasks/recover.yml:30', no_log=True)
        cb.v2_runner_on_ok(FakeResult(NODE, hidden, {'changed': True, 'content': SECRET, 'dest': '/etc/feed', '_ansible_no_log': True}))
    if not check_mode:
        clock.at(5)
        probe = validate_task()
        cb.v2_runner_on_ok(FakeResult(NODE, probe, {'changed': False, 'in_sync': validation_passes}))
        record = validate_task('Record the validation', action='ansible.builtin.set_fact')
        cb.v2_runner_on_ok(FakeResult(NODE, record, {'changed': False, 'ansible_facts': {'__orderbook_sync_validation': {}}}))
        clock.at(6)
        check = validate_task('Spreads are realistic and no book is crossed (arbitrage check)', action='ansible.builtin.assert')
        if validation_passes:
            cb.v2_runner_on_ok(FakeResult(NODE, check, {'changed': False, 'results': [
                {'msg': 'All assertions passed', 'item': {'key': 'BTCUSDT'}}, {'msg': 'All assertions passed', 'item': {'key': 'ETHUSDT'}}]}))
        else:
            cb.v2_runner_on_failed(FakeResult(NODE, check, {'failed': True, 'results': [
                {'failed': True, 'msg': 'BTCUSDT: local book crossed', '_ansible_item_label': 'BTCUSDT'},
                {'failed': False, 'msg': 'All assertions passed', '_ansible_item_label': 'ETHUSDT'}]}))
    clock.at(7)
    task = report_task()
    cb.v2_runner_on_start(NODE, task)
    cb.v2_runner_on_ok(FakeResult(NODE, task, report(detected, check_mode)))
    clock.at(8)
    failures = 0 if validation_passes else 1
    cb.v2_playbook_on_stats(FakeStats(node1=recap(ok=12, changed=2 if detected else 0, failures=failures)))
    assert cb.written, 'no timeline was written'
    with open(cb.written) as handle:
        text = handle.read()
    return text, json.loads(text)


def test_recovered_run_is_written_with_ttd_ttr_and_outcome(callback, tmp_path):
    text, doc = run_scenario(callback)
    assert callback.written == str(tmp_path / 'timelines' / 'timeline-20260510T101500Z.json')
    assert doc['format'] == 'genesis.runbook.incident_timeline' and doc['version'] == 1
    assert doc['run_id'] == '20260510T101500Z'
    assert doc['playbooks'] == ['scenario_13_orderbook.yml']
    assert doc['started_at'] == '2026-05-10T10:15:00.000Z' and doc['finished_at'] == '2026-05-10T10:15:08.000Z'
    assert doc['stats'] == {'node1': recap(ok=12, changed=2)}
    host = doc['hosts']['node1']
    assert host['outcome'] == 'recovered' and host['failures'] == []
    scenario = host['scenarios']['orderbook_sync']
    assert scenario['scenario'] == 13
    assert scenario['outcome'] == 'recovered'
    assert scenario['detected'] is True and scenario['detected_at'] == '2026-05-10T10:15:02.000Z'
    assert scenario['time_to_detect_s'] == 2.0
    # detection at 2 s, last successful validation task (the assert) at 6 s
    assert scenario['time_to_recover_s'] == 4.0
    assert scenario['reasons'] == ['BTCUSDT: mid-price 42 bps away from the exchange']
    assert scenario['report']['validation'] == {'books_in_sync': True}
    assert [v['task'] for v in scenario['validations']] == [
        'Books match the exchange again', 'Spreads are realistic and no book is crossed (arbitrage check)']
    assert scenario['validations'][1]['msg'] == '2 items passed'
    assert [c['task'] for c in scenario['changes']] == ['Resync the diverged books', 'Rotate the feed credential']


def test_events_are_chronological_and_typed(callback):
    dummy, doc = run_scenario(callback)
    events = doc['events']
    assert [e['at'] for e in events] == sorted(e['at'] for e in events)
    assert all(e['at'].endswith('Z') for e in events)
    kinds = [e['type'] for e in events]
    assert kinds[0] == 'play_start'
    for kind in ('detection', 'change', 'validation', 'report'):
        assert kind in kinds
    detection_event = next(e for e in events if e['type'] == 'detection')
    assert detection_event['host'] == 'node1' and detection_event['scenario_role'] == 'orderbook_sync'
    assert detection_event['evidence']['out_of_sync'] == ['BTCUSDT']
    report_validation = [e for e in events if e['type'] == 'validation' and e['source'] == 'report']
    assert report_validation[0]['validation'] == {'books_in_sync': True}
    report_event = next(e for e in events if e['type'] == 'report')
    assert report_event['role'] == 'genesis' and report_event['scenario_role'] == 'orderbook_sync'


def test_task_start_and_end_only_for_this_collections_roles(callback):
    dummy, doc = run_scenario(callback)
    ends = [e for e in doc['events'] if e['type'] == 'task_end']
    assert {'Record the detection', 'Build the run report', 'Fix the run id and start time once for the whole play'} <= set(
        e['task'] for e in ends)
    report_end = next(e for e in ends if e['task'] == 'Build the run report')
    assert report_end['duration_s'] == 0.0 and report_end['status'] == 'ok'
    starts = [e['task'] for e in doc['events'] if e['type'] == 'task_start']
    assert 'Record the detection' in starts

    other = incident_timeline.CallbackModule()
    other.clock = Clock()
    foreign = FakeTask('Something else', role=FakeRole('somebody_else', collection='other.collection'))
    other.v2_runner_on_start(NODE, foreign)
    other.v2_runner_on_ok(FakeResult(NODE, foreign, {'changed': False}))
    assert [e['type'] for e in other.events] == []


def test_secrets_never_reach_the_file(callback):
    text, doc = run_scenario(callback)
    assert SECRET not in text
    lowered = text.lower()
    for name in ('"exchange_api_key"', '"redis_password"', '"db_dsn"', '"api_token"', '"api_key"', 'invocation'):
        assert name not in lowered
    evidence = doc['hosts']['node1']['scenarios']['orderbook_sync']['evidence']
    assert evidence['feed'] == 'redis://genesis:****@127.0.0.1:6379/0'
    assert evidence['books'] == {'BTCUSDT': {'mid': 101.2}}
    change = doc['hosts']['node1']['scenarios']['orderbook_sync']['changes'][0]
    assert 'resynced=["BTCUSDT"]' in change['summary'] and '****@exchange.invalid' in change['summary']


def test_no_log_result_records_only_that_it_changed(callback):
    dummy, doc = run_scenario(callback)
    hidden = doc['hosts']['node1']['scenarios']['orderbook_sync']['changes'][1]
    assert hidden['censored'] is True and 'summary' not in hidden
    assert hidden['action'] == 'ansible.builtin.copy'


def test_no_log_failure_and_censored_detection_are_not_recorded(callback):
    callback.v2_playbook_on_start(FakePlaybook())
    task = detect_task()
    censored = dict(detection(), _ansible_no_log=True)
    callback.v2_runner_on_ok(FakeResult(NODE, task, censored))
    secret_task = FakeTask('Log in', action='genesis.runbook.genesis_exchange_auth', role=SCENARIO, no_log=True)
    callback.v2_runner_on_failed(FakeResult(NODE, secret_task, {'failed': True, 'msg': 'bad key %s' % SECRET}))
    assert [e['type'] for e in callback.events] == ['task_end', 'failure', 'task_end']
    failure = callback.events[1]
    assert failure['censored'] is True and 'msg' not in failure
    assert SECRET not in json.dumps(callback.events)


def test_failed_validation_means_failed_and_no_ttr(callback):
    dummy, doc = run_scenario(callback, validation_passes=False)
    scenario = doc['hosts']['node1']['scenarios']['orderbook_sync']
    assert scenario['outcome'] == 'failed' and doc['hosts']['node1']['outcome'] == 'failed'
    assert scenario['time_to_detect_s'] == 2.0
    assert scenario['time_to_recover_s'] is None
    failed = [v for v in scenario['validations'] if not v['passed']]
    assert failed[0]['msg'] == 'BTCUSDT: BTCUSDT: local book crossed'
    assert scenario['failures'][0]['task'] == 'Spreads are realistic and no book is crossed (arbitrage check)'


def test_check_mode_is_detected_only(callback):
    dummy, doc = run_scenario(callback, check_mode=True)
    scenario = doc['hosts']['node1']['scenarios']['orderbook_sync']
    assert doc['check_mode'] is True
    assert scenario['outcome'] == 'detected-only' and scenario['time_to_recover_s'] is None
    assert {c['type'] for c in scenario['changes']} == {'planned_change'}


def test_healthy_run(callback):
    dummy, doc = run_scenario(callback, detected=False)
    scenario = doc['hosts']['node1']['scenarios']['orderbook_sync']
    assert scenario['outcome'] == 'healthy' and doc['hosts']['node1']['outcome'] == 'healthy'
    assert scenario['time_to_detect_s'] == 2.0 and scenario['time_to_recover_s'] is None
    assert scenario['changes'] == []


def test_ignored_failure_does_not_fail_the_scenario(callback):
    callback.v2_playbook_on_start(FakePlaybook())
    callback.clock.at(1)
    callback.v2_runner_on_ok(FakeResult(NODE, detect_task(), detection(False)))
    probe = FakeTask('Optional probe', action='ansible.builtin.command', role=SCENARIO, path='/r/orderbook_sync/tasks/detect.yml:30')
    callback.v2_runner_on_failed(FakeResult(NODE, probe, {'failed': True, 'msg': 'no such file'}), ignore_errors=True)
    doc = callback.timeline(FakeStats(node1=recap(ok=2, ignored=1)), callback.clock())
    assert doc['hosts']['node1']['scenarios']['orderbook_sync']['outcome'] == 'healthy'
    failure = [e for e in doc['events'] if e['type'] == 'failure'][0]
    assert failure['ignored'] is True and failure['msg'] == 'no such file'


def test_unreachable_host(callback):
    callback.v2_playbook_on_start(FakePlaybook())
    task = FakeTask('Take the lock', action='genesis.runbook.genesis_remediation_guard', role=PLUMBING)
    callback.v2_runner_on_unreachable(FakeResult(FakeHost('node2'), task, {'unreachable': True, 'msg': 'ssh: connect timed out'}))
    doc = callback.timeline(FakeStats(node2=recap(unreachable=1)), callback.clock())
    assert doc['hosts']['node2']['outcome'] == 'unreachable' and doc['hosts']['node2']['unreachable'] is True
    assert [e['type'] for e in doc['events']] == ['unreachable', 'task_end']


def test_legacy_result_objects_and_string_booleans(callback):
    """ansible-core 2.16: _host/_task/_result, and facts templated to 'True' strings."""
    callback.v2_playbook_on_start(FakePlaybook())
    callback.clock.at(3)
    data = detection()
    data['ansible_facts']['orderbook_sync_detection']['detected'] = 'True'
    callback.v2_runner_on_ok(LegacyResult(NODE, detect_task(), data))
    doc = callback.timeline(FakeStats(node1=recap(ok=1)), callback.clock())
    scenario = doc['hosts']['node1']['scenarios']['orderbook_sync']
    assert scenario['detected'] is True and scenario['time_to_detect_s'] == 3.0
    assert scenario['outcome'] == 'detected-only'


def test_loop_change_summary_hides_no_log_items(callback):
    task = FakeTask('Resync', action='genesis.runbook.genesis_orderbook', role=SCENARIO)
    callback.v2_runner_on_ok(FakeResult(NODE, task, {'changed': True, 'results': [
        {'changed': True, '_ansible_item_label': 'BTCUSDT'},
        {'changed': False, '_ansible_item_label': 'ETHUSDT'},
        {'changed': True, 'item': {'password': SECRET}, '_ansible_no_log': True}]}))
    change = [e for e in callback.events if e['type'] == 'change'][0]
    assert change['summary'] == '2 of 3 items changed: BTCUSDT, (hidden)'


def test_file_names_without_run_id_and_on_collision(callback, tmp_path):
    callback.v2_playbook_on_start(FakePlaybook())
    callback.v2_playbook_on_stats(FakeStats())
    assert os.path.basename(callback.written) == 'timeline-20260510T101500Z.json'
    again = incident_timeline.CallbackModule()
    again._load_name = NAME
    again.set_options(direct={'dir': str(tmp_path / 'timelines')})
    again.clock = Clock()
    again.run_id = '20260510T101500Z'
    again.v2_playbook_on_stats(FakeStats())
    assert os.path.basename(again.written) == 'timeline-20260510T101500Z-2.json'
    assert oct(os.stat(again.written).st_mode & 0o777) == '0o640'


def test_dir_option_from_environment(monkeypatch, tmp_path):
    defs = yaml.safe_load(incident_timeline.DOCUMENTATION)['options']
    C.config.initialize_plugin_configuration_definitions('callback', NAME, defs)
    plugin = incident_timeline.CallbackModule()
    plugin._load_name = NAME
    monkeypatch.setenv('GENESIS_TIMELINE_DIR', str(tmp_path / 'from-env'))
    plugin.set_options()
    assert plugin.get_option('dir') == str(tmp_path / 'from-env')
    monkeypatch.delenv('GENESIS_TIMELINE_DIR')
    plugin.set_options()
    assert plugin.get_option('dir') == os.path.abspath('./genesis-timelines')


def test_scrub_and_truthy():
    data = {'Api_Key': 1, 'nested': [{'SECRET_value': 2, 'ok': 'x'}], 'PassWord': 3, 'tokens': 4, 'dsn': 5,
            'url': 'https://user:pw@host/x', 'n': None, 'f': 1.5, '_ansible_no_log': False}
    assert incident_timeline.scrub(data) == {'nested': [{'ok': 'x'}], 'url': 'https://user:****@host/x', 'n': None, 'f': 1.5}
    assert incident_timeline.truthy('True') and incident_timeline.truthy(True)
    assert not incident_timeline.truthy('False') and not incident_timeline.truthy(0)
