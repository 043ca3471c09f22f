# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  api_url:
    description:
      - Base URL of the node's control API, as seen from the node itself.
    type: str
    default: http://127.0.0.1:8080
  api_key:
    description:
      - The control API key sent as C(X-API-Key) (the node's C(GENESIS_API_KEY)).
      - Not needed for C(/health) and C(/health/ready).
    type: str
  api_timeout:
    description:
      - Timeout in seconds of each control API, exchange, PostgreSQL (connect and statement),
        Redis and supervisord call.
    type: int
    default: 10
  api_retries:
    description:
      - How many times a failed call is retried (connection errors and HTTP 5xx) with exponential backoff.
      - A request that may already have been applied is retried only when it is idempotent.
    type: int
    default: 2
  db_dsn:
    description:
      - PostgreSQL DSN of the node's C(genesis) database (URL or C(key=value) form).
      - Its password is never printed.
    type: str
  redis_url:
    description:
      - Redis URL of the node's cache (C(redis://:password@127.0.0.1:6379/0)).
      - Its password is never printed.
    type: str
  exchange_url:
    description:
      - Base URL of the exchange REST API the node trades on.
    type: str
  exchange_api_key:
    description:
      - Exchange API key, sent as C(X-MBX-APIKEY) on signed calls.
    type: str
  exchange_api_secret:
    description:
      - Exchange API secret used to sign requests (HMAC-SHA256). Never sent, never printed.
    type: str
  exchange_recv_window:
    description:
      - C(recvWindow) in milliseconds of signed exchange calls (1 to 60000).
    type: int
    default: 5000
  supervisor_socket:
    description:
      - Path of supervisord's unix socket on the node (C(<genesis_home>/.genesis/supervisor.sock)).
    type: path
  genesis_home:
    description:
      - genesis's application root on the node.
    type: path
    default: /app
  node_name:
    description:
      - The genesis node name, used in the audit aggregate C(runbook:<node_name>).
      - When not set, C(GENESIS_NODE) from C(<genesis_home>/.env), else the node's short hostname.
    type: str
  run_id:
    description:
      - Identifier of the runbook run, written into every audit event.
      - When not set, C(adhoc-<UTC timestamp>).
    type: str
  scenario:
    description:
      - The runbook scenario this call belongs to (for example C(13)), written into every audit event.
    type: str
attributes:
  action_group:
    description: Use C(group/genesis.runbook.genesis) in C(module_defaults) to set the shared options once.
    support: full
    membership:
      - genesis.runbook.genesis
notes:
  - The module runs on the genesis node and talks to its local services; URLs and paths are as seen from the node.
  - Empty strings are treated like unset options, so inventory defaults of C("") are safe.
  - Every failure is reported as one sentence naming the endpoint or option, without secrets.
'''
