"""python -m genesis_lab.exchange --host H --port P --token-file F [--seed N] ..."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from . import jsonlog
from .market import HISTORY_MINUTES
from .server import make_app

log = logging.getLogger("genesis_lab.exchange")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m genesis_lab.exchange",
                                 description="genesis-lab Binance-compatible fake exchange")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=9000, help="port (default 9000; 0 = any free port)")
    ap.add_argument("--token-file", required=True, help="file holding the lab token (X-Lab-Token)")
    ap.add_argument("--seed", type=int, default=1, help="RNG seed (history, books, walk); default 1")
    ap.add_argument("--keys-file", default=None,
                    help="JSON file of API keys: loaded at start if present, rewritten (0600) "
                         "whenever keys are created or revoked through /_lab/keys")
    ap.add_argument("--tick-interval", type=float, default=1.0, help="seconds between market ticks")
    ap.add_argument("--history-minutes", type=int, default=HISTORY_MINUTES,
                    help=f"synthesised 1m kline history (default {HISTORY_MINUTES}, minimum 500)")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return ap.parse_args(argv)


async def serve(args: argparse.Namespace, token: str) -> int:
    app = make_app(token, seed=args.seed, tick_interval=args.tick_interval or None,
                   keys_file=args.keys_file, history_minutes=args.history_minutes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=3.0)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, reuse_address=True)
    try:
        await site.start()
    except OSError as e:
        log.error("exchange.bind_failed", extra={"fields": {"host": args.host, "port": args.port,
                                                            "error": str(e)}})
        await runner.cleanup()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    addrs = [list(a)[:2] if isinstance(a, tuple) else a for a in runner.addresses]
    log.info("exchange.started", extra={"fields": {"addresses": addrs, "seed": args.seed, "pid": os.getpid(),
                                                   "keys_file": args.keys_file}})
    await stop.wait()
    log.info("exchange.stopping", extra={"fields": {}})
    await runner.cleanup()
    log.info("exchange.stopped", extra={"fields": {}})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    jsonlog.setup(args.log_level)
    try:
        with open(args.token_file, encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as e:
        log.error("exchange.token_unreadable", extra={"fields": {"path": args.token_file, "error": str(e)}})
        return 2
    if not token:
        log.error("exchange.token_empty", extra={"fields": {"path": args.token_file}})
        return 2
    try:
        return asyncio.run(serve(args, token))
    except Exception:
        log.exception("exchange.crashed", extra={"fields": {}})
        return 1


if __name__ == "__main__":
    sys.exit(main())
