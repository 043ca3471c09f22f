# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared options, error sentences, secret redaction and run context of genesis.runbook modules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import getpass
import os
import re
import socket
import tempfile
import time

from urllib.parse import urlsplit, urlunsplit, unquote


MASK = "********"
MAX_SENTENCE = 400

# Option name -> the inventory variable the roles map onto it (module_defaults).
INVENTORY_VARIABLES = {
    "api_url": "genesis_api_url",
    "api_key": "genesis_api_key",
    "api_timeout": "genesis_api_timeout",
    "api_retries": "genesis_api_retries",
    "db_dsn": "genesis_db_dsn",
    "redis_url": "genesis_redis_url",
    "exchange_url": "genesis_exchange_url",
    "exchange_api_key": "genesis_exchange_api_key",
    "exchange_api_secret": "genesis_exchange_api_secret",
    "exchange_recv_window": "genesis_exchange_recv_window",
    "supervisor_socket": "genesis_supervisor_socket",
    "genesis_home": "genesis_home",
    "node_name": "genesis_node_name",
    "run_id": "genesis_run_id",
}

SECRET_OPTIONS = ("api_key", "db_dsn", "redis_url", "exchange_api_key", "exchange_api_secret")


class GenesisError(Exception):
    """An error that carries one sentence fit for fail_json (no secret, no traceback)."""

    def __init__(self, message, **details):
        super(GenesisError, self).__init__(sentence(message))
        self.message = sentence(message)
        self.details = details

    def __str__(self):
        return self.message


def genesis_common_argument_spec():
    """The options every genesis.runbook module accepts (doc fragment genesis.runbook.connection)."""
    return dict(
        api_url=dict(type="str", default="http://127.0.0.1:8080"),
        api_key=dict(type="str", no_log=True),
        api_timeout=dict(type="int", default=10),
        api_retries=dict(type="int", default=2),
        db_dsn=dict(type="str", no_log=True),
        redis_url=dict(type="str", no_log=True),
        exchange_url=dict(type="str"),
        exchange_api_key=dict(type="str", no_log=True),
        exchange_api_secret=dict(type="str", no_log=True),
        exchange_recv_window=dict(type="int", default=5000),
        supervisor_socket=dict(type="path"),
        genesis_home=dict(type="path", default="/app"),
        node_name=dict(type="str"),
        run_id=dict(type="str"),
        scenario=dict(type="str"),
    )


def sentence(text):
    """Collapse any message to one sentence: one line, trimmed, ending with a full stop."""
    if text is None:
        text = "unknown error"
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    text = lines[0] if lines else "unknown error"
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_SENTENCE:
        text = text[:MAX_SENTENCE - 3].rstrip() + "..."
    if text[-1] not in ".!?":
        text = text.rstrip(":;, ") + "."
    return text


def clause(text):
    """A message reduced to a clause to embed in a sentence (no final full stop)."""
    return sentence(text).rstrip(".")


def redact_url(url):
    """A URL or DSN with its password (and any password=... pair) masked."""
    if not url:
        return url
    text = str(url)
    text = re.sub(r"(?i)(password\s*=\s*)('[^']*'|\S+)", r"\1" + MASK, text)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        userinfo, hostinfo = parts.netloc.rsplit("@", 1)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = "%s:%s@%s" % (user, MASK, hostinfo)
        else:
            netloc = "%s@%s" % (userinfo, hostinfo)
        text = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return text


def url_password(url):
    """The password embedded in a URL or key=value DSN, or None."""
    if not url:
        return None
    match = re.search(r"(?i)password\s*=\s*('([^']*)'|(\S+))", str(url))
    if match:
        return match.group(2) if match.group(2) is not None else match.group(3)
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return None
    if parts.password:
        return unquote(parts.password)
    return None


def secrets_of(params):
    """Every secret value (and password inside a URL) found in module params, longest first."""
    found = set()
    for name in SECRET_OPTIONS:
        value = params.get(name)
        if not value:
            continue
        value = str(value)
        if name in ("db_dsn", "redis_url"):
            password = url_password(value)
            if password and len(password) >= 3:
                found.add(password)
        if len(value) >= 4:
            found.add(value)
    return sorted(found, key=len, reverse=True)


def scrub(text, secrets):
    """Replace every secret in text with a mask."""
    if text is None:
        return text
    text = str(text)
    for secret in secrets or ():
        if secret:
            text = text.replace(secret, MASK)
    return text


def option_hint(option):
    """`db_dsn (inventory variable genesis_db_dsn)` for an option name."""
    variable = INVENTORY_VARIABLES.get(option)
    if variable:
        return "%s (inventory variable %s)" % (option, variable)
    return option


def is_set(value):
    return value is not None and not (isinstance(value, str) and value.strip() == "")


def write_atomic(path, data, mode, dir_mode=None, owner=None, prefix=None):
    """Write bytes to path through a temporary file beside it and a rename, so a reader sees the old
    content or the new one, never a part. mode: the new file's mode; dir_mode: create the folder
    when missing; owner: (uid, gid) given to the file where we may (best effort)."""
    folder = os.path.dirname(path) or "."
    if dir_mode is not None and not os.path.isdir(folder):
        os.makedirs(folder, dir_mode)
    fd, tmp = tempfile.mkstemp(prefix=prefix or ".%s." % os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        if owner is not None:
            try:
                os.chown(tmp, owner[0], owner[1])
            except (IOError, OSError):
                pass  # not root: the file keeps our owner, which is the owner that could write it anyway
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(dt):
    """ISO 8601 UTC with milliseconds and Z, as the contract writes timestamps."""
    if dt is None:
        return None
    if isinstance(dt, (int, float)):
        dt = datetime.datetime.fromtimestamp(dt, datetime.timezone.utc)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def parse_iso(text):
    """Epoch seconds of an ISO 8601 timestamp (with Z or an offset), or None."""
    if not text or not isinstance(text, str):
        return None
    value = text.strip().replace("Z", "+00:00").replace(" ", "T", 1)
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:?\d{2})?$", value)
    if not match:
        return None
    base, fraction, offset = match.groups()
    try:
        dt = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    seconds = float(fraction) if fraction else 0.0
    tz = datetime.timezone.utc
    if offset:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    dt = dt.replace(tzinfo=tz)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (dt - epoch).total_seconds() + seconds


def read_env_value(genesis_home, key):
    """One KEY=value from <genesis_home>/.env, or None (other lines are never kept)."""
    path = os.path.join(genesis_home or "/app", ".env")
    try:
        with open(path) as handle:
            for line in handle:
                line = line.strip()
                if line.startswith(key + "="):
                    value = line.split("=", 1)[1].strip().strip("'\"")
                    return value or None
    except (IOError, OSError):
        return None
    return None


class GenesisModule(object):
    """Run context of one module invocation: params, node name, run id, errors as one sentence."""

    def __init__(self, module, name):
        self.module = module
        self.name = name
        self.params = module.params
        self.secrets = secrets_of(module.params)
        self._node = None
        self._run_id = None
        self.validate_common()

    # -- failing -----------------------------------------------------------
    def fail(self, message, **kwargs):
        """fail_json with one secret-free sentence and no traceback."""
        msg = sentence(scrub(message, self.secrets))
        for key, value in list(kwargs.items()):
            if isinstance(value, str):
                kwargs[key] = scrub(value, self.secrets)
        self.module.fail_json(msg=msg, **kwargs)

    def fail_from(self, error, **kwargs):
        self.fail(str(error), **kwargs)

    def clean(self, text):
        return scrub(text, self.secrets)

    def require(self, option, purpose):
        """Fail unless an option is set: `db_dsn (inventory variable genesis_db_dsn) is not set: ... needs it to ...`."""
        if not is_set(self.params.get(option)):
            self.fail("%s is not set: %s needs it to %s." % (option_hint(option), self.name, purpose))
        return self.params[option]

    def validate_common(self):
        params = self.params
        if params.get("api_timeout") is not None and params["api_timeout"] < 1:
            self.fail("api_timeout must be at least 1 second, got %s." % params["api_timeout"])
        if params.get("api_retries") is not None and not 0 <= params["api_retries"] <= 10:
            self.fail("api_retries must be between 0 and 10, got %s." % params["api_retries"])
        window = params.get("exchange_recv_window")
        if window is not None and not 1 <= window <= 60000:
            self.fail("exchange_recv_window must be between 1 and 60000 ms, got %s." % window)
        for option in ("api_url", "exchange_url"):
            value = params.get(option)
            if is_set(value) and not re.match(r"^https?://[^/\s]+", value):
                self.fail("%s must be an http:// or https:// URL, got %s." % (option_hint(option), redact_url(value)))
        if is_set(params.get("redis_url")) and not re.match(r"^(redis|rediss|unix)://", params["redis_url"]):
            self.fail("%s must be a redis://, rediss:// or unix:// URL, got %s." % (option_hint("redis_url"), redact_url(params["redis_url"])))

    # -- run context ---------------------------------------------------------
    @property
    def node(self):
        """node_name, else GENESIS_NODE from <genesis_home>/.env, else the short hostname."""
        if self._node is None:
            node = self.params.get("node_name")
            if not is_set(node):
                node = read_env_value(self.params.get("genesis_home"), "GENESIS_NODE")
            if not is_set(node):
                node = socket.gethostname().split(".")[0]
            self._node = node.strip()
        return self._node

    @property
    def run_id(self):
        """run_id, else `adhoc-<UTC timestamp>` fixed for this invocation."""
        if self._run_id is None:
            run_id = self.params.get("run_id")
            if not is_set(run_id):
                run_id = "adhoc-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            self._run_id = run_id
        return self._run_id

    @property
    def scenario(self):
        scenario = self.params.get("scenario")
        return scenario if is_set(scenario) else None

    @property
    def actor(self):
        try:
            user = getpass.getuser()
        except Exception:  # pylint: disable=broad-except
            user = "unknown"
        return "%s via genesis.runbook.%s" % (user, self.name)

    def run_context(self):
        return dict(node=self.node, run_id=self.run_id, scenario=self.scenario, actor=self.actor)

    @property
    def timeout(self):
        return self.params.get("api_timeout") or 10

    @property
    def retries(self):
        retries = self.params.get("api_retries")
        return 2 if retries is None else retries

    # -- clients ---------------------------------------------------------------
    def api(self):
        from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApi
        return GenesisApi(self.params["api_url"], api_key=self.params.get("api_key"),
                          timeout=self.timeout, retries=self.retries)

    def db(self, purpose):
        from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDb, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR
        from ansible.module_utils.basic import missing_required_lib
        dsn = self.require("db_dsn", purpose)
        if not HAS_PSYCOPG2:
            self.module.fail_json(msg=missing_required_lib("psycopg2 (or psycopg2-binary)"), exception=PSYCOPG2_IMPORT_ERROR)
        return GenesisDb(dsn, timeout=self.timeout)

    def cache(self, purpose):
        from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCache, HAS_REDIS, REDIS_IMPORT_ERROR
        from ansible.module_utils.basic import missing_required_lib
        url = self.require("redis_url", purpose)
        if not HAS_REDIS:
            self.module.fail_json(msg=missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)
        return GenesisCache(url, timeout=self.timeout)

    def exchange(self, purpose, signed=False):
        from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeClient
        url = self.require("exchange_url", purpose)
        key = secret = None
        if signed:
            key = self.require("exchange_api_key", purpose)
            secret = self.require("exchange_api_secret", purpose)
        else:
            key = self.params.get("exchange_api_key") or None
            secret = self.params.get("exchange_api_secret") or None
        return ExchangeClient(url, api_key=key, api_secret=secret, recv_window=self.params.get("exchange_recv_window") or 5000,
                              timeout=self.timeout, retries=self.retries)

    def connected_audit(self, db, refusal):
        """Connect `db` and return its AuditWriter, or fail: `<refusal> because the audit trail cannot be written`.

        Modules that change state call this before their first change, so nothing changes
        without its audit row.
        """
        from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
        try:
            db.connect()
        except GenesisDbError as exc:
            self.fail("%s because the audit trail cannot be written: %s" % (refusal, exc.message))
        return self.audit(db)

    def audit(self, db):
        from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditWriter
        log_dir = os.path.join(self.params.get("genesis_home") or "/app", ".genesis", "logs")
        return AuditWriter(db, node=self.node, run_id=self.run_id, scenario=self.scenario, actor=self.actor,
                           audit_log=os.path.join(log_dir, "audit.log"))
