# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redis access of genesis.runbook modules (docs/genesis-contract.md section 5).

Only named keys are ever deleted: this client has no FLUSHDB/FLUSHALL and uses SCAN, never KEYS.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause, redact_url

REDIS_IMPORT_ERROR = None
try:
    import redis
    HAS_REDIS = True
except ImportError:
    redis = None
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()


class GenesisCacheError(GenesisError):
    def __init__(self, message, unreachable=False):
        super(GenesisCacheError, self).__init__(message)
        self.unreachable = unreachable


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class GenesisCache(object):
    """A thin redis-py wrapper with socket timeouts whose errors are one sentence naming the endpoint."""

    def __init__(self, url, timeout=10):
        self.url = url
        self.timeout = timeout
        self.endpoint = "Redis %s" % redact_url(url)
        self._client = None

    @property
    def client(self):
        if self._client is None:
            try:
                self._client = redis.from_url(self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                                              decode_responses=True)
            except (ValueError, redis.RedisError) as exc:
                raise GenesisCacheError("%s could not be opened: %s." % (self.endpoint, clause(str(exc))))
        return self._client

    def _call(self, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GenesisCacheError:
            raise
        except redis.AuthenticationError:
            raise GenesisCacheError("%s rejected the credentials (check redis_url, inventory variable genesis_redis_url)." % self.endpoint)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise GenesisCacheError("%s is unreachable: %s." % (self.endpoint, clause(str(exc) or exc.__class__.__name__)),
                                    unreachable=True)
        except redis.RedisError as exc:
            raise GenesisCacheError("%s: %s failed: %s." % (self.endpoint, what, clause(str(exc) or exc.__class__.__name__)))

    def _method(self, name):
        def call(*args, **kwargs):
            return getattr(self.client, name)(*args, **kwargs)
        return call

    def ping(self):
        return self._call("PING", self._method("ping"))

    def scan_keys(self, pattern, limit=10000):
        """Keys matching a pattern through SCAN (bounded), sorted."""
        def scan():
            found = []
            for key in self.client.scan_iter(match=pattern, count=500):
                found.append(_text(key))
                if len(found) >= limit:
                    break
            return sorted(set(found))
        return self._call("SCAN %s" % pattern, scan)

    def hgetall(self, key):
        data = self._call("HGETALL %s" % key, self._method("hgetall"), key)
        return dict((_text(k), _text(v)) for k, v in (data or {}).items())

    def exists(self, key):
        return bool(self._call("EXISTS %s" % key, self._method("exists"), key))

    def replace_hash(self, key, mapping):
        """DEL key and HSET the new mapping in one MULTI/EXEC transaction (only that key is touched)."""
        def replace():
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)
            return pipe.execute()
        return self._call("replace %s" % key, replace)

    def run_script(self, what, script, keys, args):
        """EVAL a Lua script on the named keys only (an atomic check-and-act); returns its result."""
        return self._call(what, self._method("eval"), script, len(keys), *(list(keys) + list(args)))
