"""The genesis node programs of the lab (docs/genesis-contract.md, lab/DESIGN.md).

Run one with ``python -m genesis_lab.node <program> --home <genesis_home>``; programs:

- ``genesis``: the main process (control API, heartbeat, position/tilt monitors, cluster)
- ``executor``: submits PENDING orders to the exchange and records fills/rejections
- ``market_data``: keeps ``market:ticker:*`` / ``orderbook:*`` fresh, drains the request queue
- ``strategies``: the lab strategies, which create PENDING orders
- ``listener``: the supervisor event listener ``genesis_exit``
- ``backup``: one restic backup run

Modules are imported lazily by ``__main__`` so each program only pays for what it uses.

Lab-defined details beyond docs/genesis-contract.md:

- Redis `genesis:market_data:restart_requested` (string, ISO time): set by
  `POST /admin/websocket/restart`, taken (GET + DEL) by market_data within 1 s.
- Redis `genesis:config:version` (INCR by a reload that changed something): executor,
  market_data and strategies re-read `.env`/node.yaml when it changes.
- Redis `genesis:audit:verification` hash `enabled` (0/1), default off.
- Redis `lab:partition` set of peer names this node must not see (local-isolation emulation
  of scenario 11), read every second by the main process.
- Redis `genesis:ratelimit:window` zset (weight the node sent in the last 60 s, shared by all
  programs) and `ratelimit:exchange:429s` zset (429 times, for `recent_429`);
  `ratelimit:exchange` also carries `used_weight_ts`. Defaults when
  `genesis:ratelimit:config` is absent: protection 1, limit_per_minute 900.
- Redis `genesis:strategy:<name>:errors` / `:trades` zsets (for the *_last_5m counters),
  `genesis:strategy:<name>` also has `params` (JSON), `primary_only`, `last_error_at`.
- Redis `genesis:cache:account` (1 s) is the only API cache entry.
- Strategies decide "primary" from the lease hash `genesis:cluster:<cluster>`
  (holder == this node and expires_ts in the future); a fenced or demoted node expires it.
- Times in Redis hashes are ISO strings except fields named `ts`/`*_ts` (epoch seconds);
  readers accept both forms.
"""

PROGRAMS = {
    "genesis": "genesis_lab.node.genesis",
    "executor": "genesis_lab.node.executor",
    "market_data": "genesis_lab.node.market_data",
    "strategies": "genesis_lab.node.strategies",
    "listener": "genesis_lab.node.listener",
    "backup": "genesis_lab.node.backup",
}

VERSION = "1.0.0-lab"
