"""ansible-rulebook event source: poll each genesis node's GET /health, report the failing ones."""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

DOCUMENTATION = r"""
---
short_description: Poll the GET /health endpoint of each genesis node.
description:
  - Every I(delay) seconds, sends C(GET /health) to each node's URL (no API key is needed).
  - A node fails a poll when it does not answer with HTTP 200 within I(timeout) seconds
    (genesis answers 503 when it is unhealthy: database or Redis down, heartbeat stale).
  - After I(failures) failed polls in a row, and after each further failed poll, puts one
    event C(genesis_health) with C(node), C(url), C(status) C(down), C(http_status),
    C(health_status), C(error) and C(consecutive_failures); C(meta.hosts) is the node.
    A healthy node gives no event. Rules throttle the repeats.
  - With no URLs it polls nothing and stays idle (the rulebook keeps running for its other sources).
options:
  urls:
    description: Node name to its /health URL as reached from the EDA host.
    type: dict
    default: {}
  delay:
    description: Seconds between two polls of the fleet.
    type: int
    default: 30
  timeout:
    description: Seconds before one request counts as failed.
    type: int
    default: 5
  failures:
    description: Failed polls in a row before the first event (rides out a restart).
    type: int
    default: 2
"""

EXAMPLES = r"""
- genesis.runbook.health_poll:
    urls:
      node1: http://10.0.0.11:8080/health
    delay: 30
    failures: 2
"""


async def check(session: aiohttp.ClientSession, url: str, timeout: float) -> dict[str, Any]:
    """One poll: HTTP status, genesis's own status word and the error, if any."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            try:
                doc = await resp.json(content_type=None)
            except ValueError:
                doc = {}
            word = doc.get("status") if isinstance(doc, dict) else None
            error = "" if resp.status == 200 else "GET %s answered %d" % (url, resp.status)
            return {"http_status": resp.status, "health_status": word, "error": error}
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        reason = exc.__class__.__name__
        return {"http_status": None, "health_status": None, "error": "GET %s failed: %s" % (url, reason)}


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    urls = args.get("urls") or {}
    delay = max(1, int(args.get("delay", 30)))
    timeout = max(1, int(args.get("timeout", 5)))
    failures = max(1, int(args.get("failures", 2)))
    if not isinstance(urls, dict):
        raise ValueError("health_poll: urls must be a mapping of node name to /health URL")
    streak = {node: 0 for node in urls}
    async with aiohttp.ClientSession() as session:
        while True:
            results = await asyncio.gather(*(check(session, url, timeout) for url in urls.values()))
            for (node, url), result in zip(urls.items(), results):
                if not result["error"]:
                    streak[node] = 0
                    continue
                streak[node] += 1
                if streak[node] >= failures:
                    event = dict(result, node=node, url=url, status="down", consecutive_failures=streak[node])
                    await queue.put({"genesis_health": event, "meta": {"hosts": node}})
            await asyncio.sleep(delay)
