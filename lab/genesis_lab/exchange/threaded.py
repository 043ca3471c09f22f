"""Run the exchange in a background thread (tests, and other parts' tests)."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any, Callable

from aiohttp import web

from .server import EXCHANGE_KEY, Exchange, make_app


class FakeClock:
    """A settable clock: ``clock()`` -> epoch seconds; ``advance(s)``; starts at real time."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.t += seconds
            return self.t


class ThreadedExchange:
    """``with ThreadedExchange(token) as srv: requests.get(srv.url + "/api/v3/ping")``

    Serves ``make_app(token, **kwargs)`` on ``host:port`` (port 0: a free one) in a
    daemon thread with its own event loop.  ``srv.call(fn, *args)`` runs ``fn`` (sync or
    coroutine function) on the server's loop and returns its result, e.g.
    ``srv.call(srv.exchange.tick)``.
    """

    def __init__(self, token: str = "lab-token", host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.kwargs = kwargs
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app: web.Application | None = None
        self.exchange: Exchange | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> "ThreadedExchange":
        self._thread = threading.Thread(target=self._run, name="fake-exchange", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the exchange did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the exchange failed to start: {self._error!r}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # noqa: BLE001 - reported to start()
            self._error = e
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self.app = make_app(self.token, **self.kwargs)
        self.exchange = self.app[EXCHANGE_KEY]
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def call(self, fn: Callable, *args: Any, timeout: float = 10.0) -> Any:
        async def run():
            res = fn(*args)
            if inspect.isawaitable(res):
                res = await res
            return res
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop is not None and self._stop is not None and self._thread and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def __enter__(self) -> "ThreadedExchange":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
