# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: incident_timeline
type: aggregate
short_description: Write an incident timeline of each run (detection, changes, validation, outcome) as JSON
version_added: 0.2.0
description:
  - Records what happened on each host during a run of the runbook, with UTC timestamps, and writes it as one JSON file
    per run, C(<dir>/timeline-<run id>.json), when the run ends. The O(dir) folder is created if needed.
  - "Recorded events: play start; start and end of every task of a genesis.runbook role; detection (a task result that
    sets a fact named C(<role>_detection) with C(detected), C(reasons), C(evidence)); every changed task (name, role,
    action and a short summary of its result); every validation outcome (tasks of a role's C(validate.yml), pass or fail
    with their message, and the validation of the run report); failures; unreachable hosts; and the final
    C(__genesis_report) of each scenario."
  - For each host and scenario it computes C(time_to_detect_s) (run start to detection recorded), C(time_to_recover_s)
    (detection to the last successful validation task of that role; null when not validated) and C(outcome)
    (V(healthy), V(recovered), V(failed), or V(detected-only) when a fault was found but not fixed, as in check mode).
  - The run id is the C(__genesis_run_id) fact when the run set one, otherwise the start time of the run.
    If a timeline of that run id already exists (several playbooks of one incident), a numbered file is written next to it.
  - The file is the input of the P(genesis.runbook.post_mortem#role) role, which renders the post-mortem.
  - Secrets are never written; keys whose name contains C(key), C(secret), C(password), C(token) or C(dsn) (any case)
    are dropped from everything recorded, and credentials in URLs are masked. Of a result hidden with C(no_log), only
    the fact that it changed or failed is recorded.
author:
  - genesis.runbook maintainers (@genesis-runbook)
requirements:
  - Enabled in C(callbacks_enabled) (C(ANSIBLE_CALLBACKS_ENABLED=genesis.runbook.incident_timeline)).
options:
  dir:
    description:
      - Folder the timeline files are written to. A relative path in C(ansible.cfg) is relative to that file,
        otherwise to the current directory.
    type: path
    default: ./genesis-timelines
    env:
      - name: GENESIS_TIMELINE_DIR
    ini:
      - section: callback_incident_timeline
        key: dir
'''

import json
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone

from ansible import context
from ansible.plugins.callback import CallbackBase

FORMAT = 'genesis.runbook.incident_timeline'
FORMAT_VERSION = 1
COLLECTION = 'genesis.runbook'
# The shared plumbing role: its tasks (run id, report) belong to the host, not to a scenario.
PLUMBING_ROLE = 'genesis'
_SECRET_NAME = re.compile(r'key|secret|password|token|dsn', re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r'(://[^:/@\s]+):[^@\s/]+@')
_FILE_SAFE = re.compile(r'[^A-Za-z0-9._-]+')
# Tasks of validate.yml that only record or dispatch: they check nothing.
_NOT_A_CHECK = frozenset(('set_fact', 'include_tasks', 'import_tasks', 'include_role', 'import_role',
                          'include_vars', 'meta', 'debug'))
# Result keys that are noise (or carry the module's input) in a change summary.
_NOT_SUMMARY = frozenset(('changed', 'failed', 'skipped', 'invocation', 'diff', 'ansible_facts', 'stdout_lines',
                          'stderr_lines', 'warnings', 'deprecations', 'exception', 'results', 'censored', 'msg'))
SUMMARY_CHARS = 300
MESSAGE_CHARS = 500


def utcnow():
    return datetime.now(timezone.utc)


def iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def seconds(start, end):
    return round((end - start).total_seconds(), 3)


def truthy(value):
    """Facts templated without native types arrive as 'True'/'False' strings."""
    if isinstance(value, str):
        return value.strip().lower() in ('true', 'yes', 'on', '1')
    return bool(value)


def scrub(value):
    """A plain, JSON-ready copy of value without secret-named keys or URL credentials."""
    if isinstance(value, Mapping):
        return dict((str(k), scrub(v)) for k, v in value.items()
                    if not _SECRET_NAME.search(str(k)) and not str(k).startswith('_ansible_'))
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scrub(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _URL_CREDENTIALS.sub(r'\1:****@', str(value))


def shorten(text, limit):
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def is_censored(data, task=None):
    return bool(data.get('_ansible_no_log') or 'censored' in data or (task is not None and getattr(task, 'no_log', None) is True))


def item_label(item):
    if is_censored(item):
        return '(hidden)'
    label = item.get('_ansible_item_label', item.get('item'))
    return shorten(json.dumps(scrub(label), sort_keys=True) if not isinstance(label, str) else scrub(label), 60)


def summarize(data):
    """A short, secret-free account of what a changed task did."""
    items = [r for r in data.get('results') or [] if isinstance(r, Mapping)]
    if items:
        changed = [item_label(r) for r in items if r.get('changed')]
        return shorten('%d of %d items changed: %s' % (len(changed), len(items), ', '.join(changed)), SUMMARY_CHARS)
    if data.get('msg'):
        return shorten(scrub(data['msg']), SUMMARY_CHARS)
    clean = scrub(dict((k, v) for k, v in data.items() if k not in _NOT_SUMMARY))
    return shorten(', '.join('%s=%s' % (k, json.dumps(v, sort_keys=True) if not isinstance(v, str) else v)
                             for k, v in sorted(clean.items())), SUMMARY_CHARS)


def message(data, passed):
    """The message of a check: its msg, or the messages of its failing (or all) loop items."""
    if data.get('msg'):
        return shorten(scrub(data['msg']), MESSAGE_CHARS)
    items = [r for r in data.get('results') or [] if isinstance(r, Mapping)]
    if passed:
        return '%d items passed' % len(items) if items else 'passed'
    failing = ['%s: %s' % (item_label(r), scrub(r.get('msg', 'failed'))) for r in items if r.get('failed')]
    return shorten('; '.join(failing) or 'failed', MESSAGE_CHARS)


def result_parts(result):
    """host name, task and result data of a task result (ansible-core 2.16 to 2.19+)."""
    host = getattr(result, 'host', None) or result._host
    task = getattr(result, 'task', None) or result._task
    data = getattr(result, 'result', None)
    if data is None:
        data = result._result
    return host.get_name(), task, data


def task_role(task):
    """(short role name, whether the role is one of this collection's) of a task."""
    role = getattr(task, '_role', None)
    if role is None:
        return None, False
    return role.get_name(include_role_fqcn=False), getattr(role, '_role_collection', None) == COLLECTION


def scenario_role(task):
    """The scenario role a task runs for: its own role, or for a task of the shared plumbing role
    (lock, budget, report) the role that included it. None for the plumbing role's own run and for play tasks."""
    node, depth = task, 0
    while node is not None and depth < 50:
        role = getattr(node, '_role', None)
        if role is not None and role.get_name(include_role_fqcn=False) != PLUMBING_ROLE:
            return role.get_name(include_role_fqcn=False)
        node, depth = getattr(node, '_parent', None), depth + 1
    return None


def task_action(task):
    # The resolved FQCN when the worker set it; the resolved_action property warns when it is not.
    found = task.__dict__.get('_resolved_action') or task.__dict__.get('resolved_action')
    return str(found or task.action)


def task_file(task):
    path = task.get_path() if hasattr(task, 'get_path') else None
    return os.path.basename(str(path).rsplit(':', 1)[0]) if path else None


class CallbackModule(CallbackBase):
    """Incident timeline of each run, written as JSON when the run ends."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'genesis.runbook.incident_timeline'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.clock = utcnow
        self.started = None
        self.check_mode = bool((context.CLIARGS or {}).get('check', False))
        self.run_id = None
        self.playbooks = []
        self.events = []
        self.hosts = {}
        self.task_starts = {}
        self.written = None

    # -- bookkeeping -------------------------------------------------------

    def _now(self):
        moment = self.clock()
        if self.started is None:
            self.started = moment
        return moment

    def _event(self, moment, kind, host=None, task=None, **fields):
        event = {'at': iso(moment), 'type': kind, 'host': host}
        if task is not None:
            role, dummy = task_role(task)
            event.update(role=role, scenario_role=scenario_role(task), task=str(task.name or task.action),
                         action=task_action(task))
        event.update(fields)
        self.events.append(event)
        return event

    def _host(self, host):
        return self.hosts.setdefault(host, {'unreachable': False, 'failures': [], 'scenarios': {}})

    def _scenario(self, host, role):
        return self._host(host)['scenarios'].setdefault(role, {
            'role': role, 'scenario': None, 'detected': False, 'detected_at': None, 'reasons': [], 'evidence': {},
            'changes': [], 'validations': [], 'failures': [], 'report': None, '_detected': None, '_validated': None,
        })

    def _owner(self, host, task):
        """The scenario state a task's outcome counts for, or None for the host itself."""
        role = scenario_role(task)
        return None if role is None else self._scenario(host, role)

    # -- what a result says ------------------------------------------------

    def _facts(self, moment, host, task, data):
        facts = data.get('ansible_facts')
        if not isinstance(facts, Mapping):
            return
        if facts.get('__genesis_run_id') and not self.run_id:
            self.run_id = str(facts['__genesis_run_id'])
        for name, value in facts.items():
            if name.endswith('_detection') and isinstance(value, Mapping) and 'detected' in value:
                self._detection(moment, host, task, name[:-len('_detection')], value)
        report = facts.get('__genesis_report')
        if isinstance(report, Mapping) and report.get('role'):
            self._report(moment, host, task, report)

    def _detection(self, moment, host, task, role, value):
        detected = truthy(value.get('detected'))
        reasons, evidence = scrub(value.get('reasons') or []), scrub(value.get('evidence') or {})
        self._event(moment, 'detection', host, task, scenario_role=role, detected=detected, reasons=reasons, evidence=evidence)
        state = self._scenario(host, role)
        if state['_detected'] is None or (detected and not state['detected']):
            state['_detected'] = moment
            state['detected_at'] = iso(moment)
        state.update(detected=detected or state['detected'], reasons=reasons, evidence=evidence)

    def _report(self, moment, host, task, report):
        clean = scrub(report)
        self._event(moment, 'report', host, task, scenario_role=clean['role'], report=clean)
        state = self._scenario(host, clean['role'])
        state['report'] = clean
        try:
            state['scenario'] = int(clean.get('scenario'))
        except (TypeError, ValueError):
            state['scenario'] = None
        if not self.run_id and clean.get('run_id'):
            self.run_id = str(clean['run_id'])
        if clean.get('validation'):
            self._event(moment, 'validation', host, task, scenario_role=clean['role'], source='report', validation=clean['validation'])

    def _change(self, moment, host, task, data, censored):
        fields = {'censored': True} if censored else {'summary': summarize(data)}
        kind = 'planned_change' if self.check_mode else 'change'
        event = self._event(moment, kind, host, task, **fields)
        state = self._owner(host, task)
        if state is not None:
            state['changes'].append(dict((k, v) for k, v in event.items() if k != 'host'))

    def _validation(self, moment, host, task, data, passed, censored):
        role, dummy = task_role(task)
        if role is None or task_file(task) != 'validate.yml' or task_action(task).rsplit('.', 1)[-1] in _NOT_A_CHECK:
            return
        fields = {'censored': True} if censored else {'msg': message(data, passed)}
        event = self._event(moment, 'validation', host, task, source='task', passed=passed, **fields)
        state = self._owner(host, task)
        if state is not None:
            state['validations'].append(dict((k, v) for k, v in event.items() if k != 'host'))
            if passed:
                state['_validated'] = moment

    def _task_end(self, moment, host, task, status):
        dummy, ours = task_role(task)
        started = self.task_starts.pop((host, getattr(task, '_uuid', id(task))), None)
        if ours:
            self._event(moment, 'task_end', host, task, status=status,
                        duration_s=seconds(started, moment) if started else None)

    # -- callback events ---------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        self._now()
        self.playbooks.append(os.path.basename(str(getattr(playbook, '_file_name', '') or '')))

    def v2_playbook_on_play_start(self, play):
        self._event(self._now(), 'play_start', play=str(play.get_name()).strip())

    def v2_runner_on_start(self, host, task):
        moment = self._now()
        name = host.get_name()
        self.task_starts[(name, getattr(task, '_uuid', id(task)))] = moment
        if task_role(task)[1]:
            self._event(moment, 'task_start', name, task)

    def v2_runner_on_ok(self, result):
        moment = self._now()
        host, task, data = result_parts(result)
        censored = is_censored(data, task)
        changed = bool(data.get('changed'))
        if not censored:
            self._facts(moment, host, task, data)
        if changed:
            self._change(moment, host, task, data, censored)
        self._validation(moment, host, task, data, True, censored)
        self._task_end(moment, host, task, 'changed' if changed else 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        moment = self._now()
        host, task, data = result_parts(result)
        censored = is_censored(data, task)
        if data.get('changed'):
            self._change(moment, host, task, data, censored)
        fields = {'censored': True} if censored else {'msg': message(data, False)}
        event = self._event(moment, 'failure', host, task, ignored=bool(ignore_errors), **fields)
        if not ignore_errors:
            self._validation(moment, host, task, data, False, censored)
            state = self._owner(host, task)
            target = state['failures'] if state is not None else self._host(host)['failures']
            target.append(dict((k, v) for k, v in event.items() if k != 'host'))
        self._task_end(moment, host, task, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_skipped(self, result):
        moment = self._now()
        host, task, dummy = result_parts(result)
        self._task_end(moment, host, task, 'skipped')

    def v2_runner_on_unreachable(self, result):
        moment = self._now()
        host, task, data = result_parts(result)
        event = self._event(moment, 'unreachable', host, task, msg=shorten(scrub(data.get('msg', 'unreachable')), MESSAGE_CHARS))
        self._host(host)['unreachable'] = True
        state = self._owner(host, task)
        if state is not None:
            state['failures'].append(dict((k, v) for k, v in event.items() if k != 'host'))
        self._task_end(moment, host, task, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        finished = self._now()
        document = self.timeline(stats, finished)
        self.written = self._write(document)

    # -- the timeline ------------------------------------------------------

    def _finish_scenario(self, state):
        check_mode = truthy((state['report'] or {}).get('check_mode', self.check_mode))
        detected = state['_detected'] if state['detected'] else None
        failed = bool(state['failures']) or any(not v['passed'] for v in state['validations'])
        validated = state['_validated'] is not None and not failed
        if failed:
            outcome = 'failed'
        elif not state['detected']:
            outcome = 'healthy'
        elif validated and not check_mode:
            outcome = 'recovered'
        else:
            outcome = 'detected-only'
        done = dict((k, v) for k, v in state.items() if not k.startswith('_'))
        done.update(
            check_mode=check_mode,
            outcome=outcome,
            time_to_detect_s=seconds(self.started, state['_detected']) if state['_detected'] else None,
            time_to_recover_s=seconds(detected, state['_validated']) if detected and validated and state['_validated'] >= detected else None,
        )
        return done

    def timeline(self, stats, finished):
        hosts = {}
        names = set(self.hosts) | set(getattr(stats, 'processed', {}) or {})
        for host in sorted(names):
            state = self._host(host)
            scenarios = dict((role, self._finish_scenario(s)) for role, s in sorted(state['scenarios'].items()))
            outcomes = set(s['outcome'] for s in scenarios.values())
            recap = dict(stats.summarize(host)) if host in (getattr(stats, 'processed', {}) or {}) else {}
            if state['unreachable']:
                outcome = 'unreachable'
            elif 'failed' in outcomes or state['failures'] or recap.get('failures'):
                outcome = 'failed'
            else:
                outcome = next((o for o in ('recovered', 'detected-only') if o in outcomes), 'healthy')
            hosts[host] = {'outcome': outcome, 'unreachable': state['unreachable'], 'failures': state['failures'],
                           'stats': recap, 'scenarios': scenarios}
        started = self.started or finished
        return {
            'format': FORMAT,
            'version': FORMAT_VERSION,
            'run_id': self.run_id,
            'playbooks': self.playbooks,
            'check_mode': self.check_mode,
            'started_at': iso(started),
            'finished_at': iso(finished),
            'duration_s': seconds(started, finished),
            'hosts': hosts,
            'events': self.events,
            'stats': dict((host, data['stats']) for host, data in hosts.items()),
        }

    def _write(self, document):
        folder = self.get_option('dir')
        stem = 'timeline-%s' % _FILE_SAFE.sub('_', document['run_id'] or self.started.strftime('%Y%m%dT%H%M%SZ'))
        try:
            os.makedirs(folder, mode=0o750, exist_ok=True)
            path, number = os.path.join(folder, stem + '.json'), 1
            while os.path.exists(path):
                number += 1
                path = os.path.join(folder, '%s-%d.json' % (stem, number))
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            with os.fdopen(handle, 'w') as out:
                json.dump(document, out, indent=2, sort_keys=True)
                out.write('\n')
        except (OSError, TypeError, ValueError) as exc:
            self._display.warning('incident_timeline: could not write the timeline to %s: %s' % (folder, exc))
            return None
        self._display.display('incident timeline: %s' % path, stderr=True)
        return path
