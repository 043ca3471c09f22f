"""The genesis-lab Binance-compatible fake exchange (``python -m genesis_lab.exchange``)."""

from .market import SPECS
from .server import EXCHANGE_KEY, ApiError, Exchange, make_app
from .threaded import FakeClock, ThreadedExchange

__all__ = ["EXCHANGE_KEY", "SPECS", "ApiError", "Exchange", "FakeClock", "ThreadedExchange", "make_app"]
