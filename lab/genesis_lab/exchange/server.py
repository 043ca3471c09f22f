"""Binance-compatible fake exchange (spot REST subset + streams + lab controls).

Single process, in-memory state, aiohttp.  ``make_app(token, seed=..., clock=...)``
builds the application; ``python -m genesis_lab.exchange`` serves it.

Implements docs/genesis-contract.md section 6 and the lab controls of lab/DESIGN.md.

Notes beyond the contract:
- Weight: sliding 60 s window per identity: ``key:<api key>`` when X-MBX-APIKEY names a
  known key (also on public endpoints), else ``ip:<client address>``.  A refused (429)
  request costs nothing; every /api and /sapi answer carries X-MBX-USED-WEIGHT-1M.
  Extra endpoints: ticker/bookTicker (2/4), avgPrice (2), allOrders (20),
  DELETE openOrders (1); ticker/24hr without symbol costs 80; openOrders costs 6 always.
- Signed requests: totalParams = raw query string + raw body (signature removed from
  either); check order: key format (-2014), key known and not revoked (-2015),
  timestamp present (-1102), recvWindow (-1131), timestamp window (-1021: >= 1000 ms
  ahead or older than recvWindow), signature (-2015).
- Balances are per account (= key label, shared by all keys of that label), start at
  DEFAULT_BALANCES and are NOT enforced (no insufficient-balance rejections, so lab
  nodes never see spurious rejects; totals may go negative).  "locked" is derived from
  open orders.  Commission 0.1 % in the quote asset.
- MARKET orders walk the generated book (several fills); LIMIT GTC/IOC/FOK and
  LIMIT_MAKER are supported; resting orders fill at their price once a tick crosses them.
- Lab extras: POST /_lab/tick (one tick now), GET /_lab/orders?label=&status=&symbol=,
  POST /_lab/keys also accepts {api_key, secret, balances}; /_lab/ban accepts {label}
  instead of {api_key}; /_lab/reset also clears the weight windows.  Lab errors are
  {"error", "message"}; API errors are Binance's {"code", "msg"}.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import string
import time
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from .market import HISTORY_MINUTES, INTERVALS, SPECS, Market, fmt8

log = logging.getLogger("genesis_lab.exchange")

WEIGHT_LIMIT = 1200
WEIGHT_WINDOW_S = 60.0
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
MAX_CLOSED_ORDERS_PER_ACCOUNT = 5000
COMMISSION_RATE = 0.001
DEFAULT_BALANCES = {"USDT": 100000.0, "BTC": 2.0, "ETH": 30.0, "SOL": 600.0, "BNB": 0.0}

API_KEY_RE = re.compile(r"^[A-Za-z0-9]{64}$")
NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
STREAM_RE = re.compile(r"^([a-z0-9]+)@(ticker|miniTicker|bookTicker|depth(5|10|20)(@100ms|@1000ms)?|kline_([0-9]+[smhdwM]))$")
_ALNUM = string.ascii_letters + string.digits

MSG_BAD_KEY_FMT = "API-key format invalid."
MSG_INVALID_KEY = "Invalid API-key, IP, or permissions for action."
MSG_TOO_MUCH_WEIGHT = ("Too much request weight used; current limit is 1200 request weight per 1 MINUTE. "
                       "Please use WebSocket Streams for live updates to avoid polling the API.")


class ApiError(Exception):
    """A Binance-style error: HTTP status + body {code, msg}."""

    def __init__(self, status: int, code: int, msg: str, headers: dict | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = headers or {}


class LabError(Exception):
    """An error of the lab controls: body {error, message}."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def mandatory(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str) -> ApiError:
    return ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                f"legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.")


def not_required(name: str) -> ApiError:
    return ApiError(400, -1106, f"Parameter '{name}' sent when not required.")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def jresp(obj: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(text=_dumps(obj), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    t = time.gmtime(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(ts * 1000) % 1000:03d}Z"


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


# ---------------------------------------------------------------------------- state
class ApiKey:
    __slots__ = ("api_key", "secret", "label", "revoked", "created", "banned_until", "revoked_at")

    def __init__(self, api_key: str, secret: str, label: str, created: float, revoked: bool = False) -> None:
        self.api_key = api_key
        self.secret = secret
        self.label = label
        self.created = created
        self.revoked = revoked
        self.revoked_at: float | None = None
        self.banned_until = 0.0


class Account:
    def __init__(self, label: str, balances: dict[str, float] | None = None) -> None:
        self.label = label
        # total holdings per asset (free + locked); "locked" is derived from the open orders
        self.balances: dict[str, float] = {a: float(v) for a, v in DEFAULT_BALANCES.items()}
        for a, v in (balances or {}).items():
            self.balances[a] = float(v)
        self.orders: dict[int, Order] = {}
        self.client_ids: dict[str, int] = {}
        self.update_time = 0

    def add(self, asset: str, amount: float) -> None:
        self.balances[asset] = round(self.balances.get(asset, 0.0) + amount, 10)

    def free_locked(self, open_orders) -> dict[str, tuple[float, float]]:
        locked: dict[str, float] = {}
        for o in open_orders:
            if o.label == self.label:
                sp = SPECS[o.symbol]
                asset = sp.quote if o.side == "BUY" else sp.base
                locked[asset] = locked.get(asset, 0.0) + o.locked
        return {a: (self.balances.get(a, 0.0) - locked.get(a, 0.0), locked.get(a, 0.0))
                for a in sorted(set(self.balances) | set(locked))}


class Order:
    __slots__ = ("order_id", "client_order_id", "label", "symbol", "side", "type", "tif", "price",
                 "orig_qty", "executed_qty", "cum_quote", "status", "time", "update_time",
                 "orig_quote_qty", "fills", "locked")

    def __init__(self, **kw: Any) -> None:
        self.fills: list[dict] = []
        self.executed_qty = 0.0
        self.cum_quote = 0.0
        self.locked = 0.0
        self.orig_quote_qty = 0.0
        for k, v in kw.items():
            setattr(self, k, v)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def common(self) -> dict:
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_order_id, "price": fmt8(self.price),
            "origQty": fmt8(self.orig_qty), "executedQty": fmt8(self.executed_qty),
            "cummulativeQuoteQty": fmt8(self.cum_quote), "status": self.status,
            "timeInForce": self.tif, "type": self.type, "side": self.side,
        }

    def as_new(self, resp_type: str) -> dict:
        head = {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_order_id, "transactTime": self.time}
        if resp_type == "ACK":
            return head
        d = head | self.common()
        d.update(origQuoteOrderQty=fmt8(self.orig_quote_qty), workingTime=self.time,
                 selfTradePreventionMode="NONE")
        if resp_type == "FULL":
            d["fills"] = list(self.fills)
        return d

    def as_query(self) -> dict:
        d = self.common()
        d.update(stopPrice="0.00000000", icebergQty="0.00000000", time=self.time,
                 updateTime=self.update_time, isWorking=self.status != "EXPIRED",
                 workingTime=self.time, origQuoteOrderQty=fmt8(self.orig_quote_qty),
                 selfTradePreventionMode="NONE")
        return d


class WeightWindow:
    """Sliding one-minute window of request weight."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0

    def expire(self, now: float) -> None:
        limit = now - WEIGHT_WINDOW_S
        e = self.entries
        while e and e[0][0] <= limit:
            self.total -= e.popleft()[1]

    def retry_after(self, now: float, weight: int) -> int:
        """Seconds until ``weight`` more fits under the limit."""
        need = self.total + weight - WEIGHT_LIMIT
        freed = 0
        for ts, w in self.entries:
            freed += w
            if freed >= need:
                return max(1, math.ceil(ts + WEIGHT_WINDOW_S - now))
        return int(WEIGHT_WINDOW_S)


class WsClient:
    __slots__ = ("ws", "streams", "combined", "peer")

    def __init__(self, ws: web.WebSocketResponse, streams: list[str], combined: bool, peer: str) -> None:
        self.ws = ws
        self.streams = list(dict.fromkeys(streams))
        self.combined = combined
        self.peer = peer


class Exchange:
    """All in-memory state of the fake exchange (used from the event loop only)."""

    def __init__(self, token: str, seed: int = 1, clock: Callable[[], float] = time.time,
                 keys_file: str | None = None, history_minutes: int = HISTORY_MINUTES) -> None:
        if not token:
            raise ValueError("the lab token must not be empty")
        self.token = token
        self.seed = seed
        self.clock = clock
        self.keys_file = keys_file
        self.started = clock()
        self.market = Market(seed, self.started, history_minutes)
        self.keys: dict[str, ApiKey] = {}
        self.accounts: dict[str, Account] = {}
        self.weights: dict[str, WeightWindow] = {}
        self.status = 0
        self.status_msg = "normal"
        self.status_since = self.started
        self.next_order_id = 1 + (seed * 7919) % 1_000_000 + 4_000_000
        self.open_orders: dict[int, Order] = {}
        self.ws_clients: set[WsClient] = set()
        self.tick_count = 0
        self.tick_event = asyncio.Event()
        self._stream_cache: dict[str, str] = {}
        self.counters = {"requests": 0, "rejected_429": 0, "orders": 0}
        if keys_file:
            self._load_keys()

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        return self.clock()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------------------ keys
    def create_key(self, label: str, api_key: str | None = None, secret: str | None = None,
                   balances: dict | None = None) -> ApiKey:
        if api_key is not None and not API_KEY_RE.match(api_key):
            raise LabError(400, "bad_request", "api_key must be 64 characters [A-Za-z0-9]")
        if secret is not None and not (1 <= len(secret) <= 128 and secret.isprintable()):
            raise LabError(400, "bad_request", "secret must be 1..128 printable characters")
        if api_key is not None and api_key in self.keys:
            k = self.keys[api_key]
            if k.label == label and (secret is None or secret == k.secret) and not k.revoked:
                self._account(label, balances)
                return k
            raise LabError(409, "conflict", "that api_key already exists with another label, secret or revoked")
        k = ApiKey(api_key or _rand(64), secret or _rand(64), label, self.now())
        self.keys[k.api_key] = k
        self._account(label, balances)
        self._save_keys()
        log.info("key.created", extra={"fields": {"label": label, "api_key": k.api_key[:8] + "..."}})
        return k

    def _account(self, label: str, balances: dict | None = None) -> Account:
        acct = self.accounts.get(label)
        if acct is None:
            acct = self.accounts[label] = Account(label, balances)
        elif balances:
            for a, v in balances.items():
                acct.balances[a] = float(v)
        return acct

    def _load_keys(self) -> None:
        if not self.keys_file or not os.path.exists(self.keys_file):
            return
        with open(self.keys_file, encoding="utf-8") as fh:
            data = json.load(fh)
        items = data.get("keys", []) if isinstance(data, dict) else data
        for it in items:
            k = ApiKey(it["api_key"], it["secret"], it["label"], float(it.get("created_ts", self.now())),
                       bool(it.get("revoked", False)))
            self.keys[k.api_key] = k
            self._account(k.label, it.get("balances"))

    def _save_keys(self) -> None:
        if not self.keys_file:
            return
        data = {"keys": [{"label": k.label, "api_key": k.api_key, "secret": k.secret,
                          "revoked": k.revoked, "created_ts": k.created} for k in self.keys.values()]}
        tmp = f"{self.keys_file}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.keys_file)

    # ------------------------------------------------------------------ weight
    def identity(self, request: web.Request) -> str:
        key = request.headers.get("X-MBX-APIKEY")
        if key and key in self.keys:
            return "key:" + key
        return "ip:" + (request.remote or "unknown")

    def used_weight(self, ident: str) -> int:
        w = self.weights.get(ident)
        if w is None:
            return 0
        w.expire(self.now())
        return w.total

    def check_ban(self, ident: str) -> None:
        if not ident.startswith("key:"):
            return
        k = self.keys.get(ident[4:])
        now = self.now()
        if k is not None and k.banned_until > now:
            retry = max(1, math.ceil(k.banned_until - now))
            self.counters["rejected_429"] += 1
            raise ApiError(429, -1003, f"Way too much request weight used; IP banned until "
                                       f"{int(k.banned_until * 1000)}. Please use WebSocket Streams "
                                       f"for live updates to avoid bans.", {"Retry-After": str(retry)})

    def charge(self, ident: str, weight: int) -> None:
        now = self.now()
        w = self.weights.get(ident)
        if w is None:
            w = self.weights[ident] = WeightWindow()
        w.expire(now)
        if w.total + weight > WEIGHT_LIMIT:
            self.counters["rejected_429"] += 1
            raise ApiError(429, -1003, MSG_TOO_MUCH_WEIGHT, {"Retry-After": str(w.retry_after(now, weight))})
        if weight:
            w.entries.append((now, weight))
            w.total += weight

    # ------------------------------------------------------------------ auth
    def authenticate(self, request: web.Request, params: dict, raw_query: str, raw_body: str) -> ApiKey:
        api_key = request.headers.get("X-MBX-APIKEY", "")
        if not API_KEY_RE.match(api_key):
            raise ApiError(401, -2014, MSG_BAD_KEY_FMT)
        k = self.keys.get(api_key)
        if k is None or k.revoked:
            log.info("auth.rejected", extra={"fields": {"reason": "revoked key" if k else "unknown key",
                                                        "remote": request.remote}})
            raise ApiError(401, -2015, MSG_INVALID_KEY)
        ts_s = params.get("timestamp", "")
        if not ts_s.isdigit() or len(ts_s) > 16:
            raise mandatory("timestamp")
        rw_s = params.get("recvWindow", "")
        if rw_s == "":
            rw = Decimal(DEFAULT_RECV_WINDOW)
        else:
            try:
                rw = Decimal(rw_s)
            except InvalidOperation:
                rw = Decimal(-1)
            if not rw.is_finite() or rw <= 0 or rw > MAX_RECV_WINDOW:
                raise ApiError(400, -1131, "recvWindow must be less than 60000")
        sig = params.get("signature", "")
        if not sig:
            raise mandatory("signature")
        ts = int(ts_s)
        now_ms = self.now_ms()
        if ts >= now_ms + 1000:
            raise ApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now_ms - ts > rw:
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        payload = _strip_signature(raw_query) + _strip_signature(raw_body)
        expected = hmac.new(k.secret.encode(), payload.encode("utf-8", "surrogateescape"),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            log.info("auth.rejected", extra={"fields": {"reason": "bad signature", "label": k.label,
                                                        "remote": request.remote}})
            raise ApiError(401, -2015, MSG_INVALID_KEY)
        return k

    # ------------------------------------------------------------------ symbols/params
    def symbol(self, params: dict, name: str = "symbol") -> str:
        s = params.get(name, "")
        if not s:
            raise mandatory(name)
        if s not in SPECS:
            raise ApiError(400, -1121, "Invalid symbol.")
        return s

    def symbols_list(self, params: dict) -> list[str] | None:
        """symbol=X or symbols=["X","Y"]: the list; neither: None (all)."""
        if params.get("symbol") and params.get("symbols"):
            raise ApiError(400, -1101, "Parameter 'symbol' and 'symbols' cannot be sent together.")
        if params.get("symbol"):
            return [self.symbol(params)]
        if params.get("symbols"):
            try:
                lst = json.loads(params["symbols"])
            except ValueError:
                lst = None
            if not isinstance(lst, list) or not lst or not all(isinstance(x, str) for x in lst):
                raise ApiError(400, -1100, "Illegal characters found in parameter 'symbols'; "
                                           "legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
            for x in lst:
                if x not in SPECS:
                    raise ApiError(400, -1121, "Invalid symbol.")
            return list(dict.fromkeys(lst))
        return None

    # ------------------------------------------------------------------ market views
    def depth(self, symbol: str, limit: int) -> dict:
        bids, asks = self.market.book(symbol, limit)
        return {"lastUpdateId": self.market.symbols[symbol].update_id,
                "bids": [[fmt8(p), fmt8(q)] for p, q in bids],
                "asks": [[fmt8(p), fmt8(q)] for p, q in asks]}

    def ticker24(self, symbol: str, mini: bool = False) -> dict:
        s = self.market.stats(symbol, self.now_ms())
        d = {"symbol": symbol}
        if not mini:
            bids, asks = self.market.book(symbol, 1)
            d.update(priceChange=fmt8(s["change"]), priceChangePercent=f"{s['change_pct']:.3f}",
                     weightedAvgPrice=fmt8(s["wavg"]), prevClosePrice=fmt8(s["prev_close"]),
                     lastPrice=fmt8(s["last"]), lastQty=fmt8(self.market.symbols[symbol].last_qty),
                     bidPrice=fmt8(bids[0][0]), bidQty=fmt8(bids[0][1]),
                     askPrice=fmt8(asks[0][0]), askQty=fmt8(asks[0][1]))
        else:
            d["lastPrice"] = fmt8(s["last"])
        d.update(openPrice=fmt8(s["open"]), highPrice=fmt8(s["high"]), lowPrice=fmt8(s["low"]),
                 volume=fmt8(s["volume"]), quoteVolume=fmt8(s["quote_volume"]),
                 openTime=s["open_time"], closeTime=s["close_time"], firstId=s["first_id"],
                 lastId=s["last_id"], count=s["count"])
        return d

    def book_ticker(self, symbol: str) -> dict:
        bids, asks = self.market.book(symbol, 1)
        return {"symbol": symbol, "bidPrice": fmt8(bids[0][0]), "bidQty": fmt8(bids[0][1]),
                "askPrice": fmt8(asks[0][0]), "askQty": fmt8(asks[0][1])}

    def exchange_info(self, symbols: list[str] | None) -> dict:
        out = []
        for s in symbols or list(SPECS):
            sp = SPECS[s]
            out.append({
                "symbol": s, "status": "TRADING" if self.status == 0 else "BREAK",
                "baseAsset": sp.base, "baseAssetPrecision": 8, "quoteAsset": sp.quote,
                "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
                "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False,
                "cancelReplaceAllowed": False, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": fmt8(float(sp.min_price)),
                     "maxPrice": fmt8(float(sp.max_price)), "tickSize": fmt8(float(sp.tick_size))},
                    {"filterType": "LOT_SIZE", "minQty": fmt8(float(sp.min_qty)),
                     "maxQty": fmt8(float(sp.max_qty)), "stepSize": fmt8(float(sp.step_size))},
                    {"filterType": "MIN_NOTIONAL", "minNotional": fmt8(float(sp.min_notional)),
                     "applyToMarket": True, "avgPriceMins": 5},
                ],
                "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
            })
        return {"timezone": "UTC", "serverTime": self.now_ms(),
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                     "limit": WEIGHT_LIMIT},
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 6100}],
                "exchangeFilters": [], "symbols": out}

    # ------------------------------------------------------------------ orders
    def _decimal(self, params: dict, name: str) -> Decimal | None:
        v = params.get(name, "")
        if v == "":
            return None
        if not NUMBER_RE.match(v):
            raise illegal(name)
        return Decimal(v)

    def new_order(self, key: ApiKey, p: dict, test: bool = False) -> dict:
        if self.status != 0:
            raise ApiError(400, -3044, f"Trading halted: {self.status_msg}.")
        acct = self._account(key.label)
        sym = self.symbol(p)
        sp = SPECS[sym]
        side = p.get("side", "")
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1117, "Invalid side.")
        otype = p.get("type", "")
        if not otype:
            raise mandatory("type")
        if otype not in ("MARKET", "LIMIT", "LIMIT_MAKER"):
            raise ApiError(400, -1116, "Invalid orderType.")
        tif = p.get("timeInForce", "")
        qty = self._decimal(p, "quantity")
        qq = self._decimal(p, "quoteOrderQty")
        price = self._decimal(p, "price")
        if otype == "MARKET":
            if price is not None:
                raise not_required("price")
            if tif:
                raise not_required("timeInForce")
            if qty is None and qq is None:
                raise ApiError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                           "but both were empty/null!")
            if qty is not None and qq is not None:
                raise not_required("quoteOrderQty")
        else:
            if qq is not None:
                raise not_required("quoteOrderQty")
            if otype == "LIMIT":
                if not tif:
                    raise mandatory("timeInForce")
                if tif not in ("GTC", "IOC", "FOK"):
                    raise ApiError(400, -1115, "Invalid timeInForce.")
            elif tif:
                raise not_required("timeInForce")
            if qty is None:
                raise mandatory("quantity")
            if price is None:
                raise mandatory("price")
        if qty is not None:
            if qty <= 0:
                raise ApiError(400, -1013, "Invalid quantity.")
            if (qty < Decimal(sp.min_qty) or qty > Decimal(sp.max_qty)
                    or (qty - Decimal(sp.min_qty)) % Decimal(sp.step_size) != 0):
                raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if price is not None:
            if price <= 0:
                raise ApiError(400, -1013, "Invalid price.")
            if (price < Decimal(sp.min_price) or price > Decimal(sp.max_price)
                    or (price - Decimal(sp.min_price)) % Decimal(sp.tick_size) != 0):
                raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        if qq is not None and qq <= 0:
            raise ApiError(400, -1013, "Invalid quantity.")
        ref = price if price is not None else Decimal(str(self.market.symbols[sym].price))
        notional = qq if qq is not None else qty * ref
        if notional < Decimal(sp.min_notional):
            raise ApiError(400, -1013, "Filter failure: MIN_NOTIONAL")
        cid = p.get("newClientOrderId", "")
        if cid:
            if not CLIENT_ID_RE.match(cid):
                raise ApiError(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; "
                                           "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
            if cid in acct.client_ids:
                raise ApiError(400, -2010, "Duplicate order sent.")
        resp_type = p.get("newOrderRespType", "") or ("FULL" if otype in ("MARKET", "LIMIT") else "ACK")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise ApiError(400, -1100, "Illegal characters found in parameter 'newOrderRespType'.")
        st = self.market.symbols[sym]
        if otype == "LIMIT_MAKER":
            if (side == "BUY" and float(price) >= st.ask) or (side == "SELL" and float(price) <= st.bid):
                raise ApiError(400, -2010, "Order would immediately match and take.")
        if test:
            return {}

        now = self.now()
        now_ms = int(now * 1000)
        while not cid or cid in acct.client_ids:
            cid = "x-" + _rand(20)
        o = Order(order_id=self.next_order_id, client_order_id=cid, label=acct.label, symbol=sym,
                  side=side, type=otype, tif=(tif or "GTC") if otype != "MARKET" else "GTC",
                  price=float(price) if price is not None else 0.0,
                  orig_qty=float(qty) if qty is not None else 0.0, status="NEW",
                  time=now_ms, update_time=now_ms)
        self.next_order_id += 1
        self.counters["orders"] += 1
        if qq is not None:
            o.orig_quote_qty = float(qq)
        if otype == "MARKET":
            self._take(acct, o, None, float(qq) if qq is not None else None, now)
            if qq is not None:
                o.orig_qty = o.executed_qty
            o.status = "FILLED" if o.executed_qty > 0 else "EXPIRED"
        elif otype == "LIMIT":
            marketable = (side == "BUY" and o.price >= st.ask) or (side == "SELL" and o.price <= st.bid)
            if marketable and tif == "FOK":
                avail = self._available(sym, side, o.price, o.orig_qty)
                if avail + 1e-12 < o.orig_qty:
                    o.status = "EXPIRED"
                    marketable = False
            if marketable:
                self._take(acct, o, o.price, None, now)
            if o.status != "EXPIRED":
                rem = self._remaining(o)
                if rem <= 0:
                    o.status = "FILLED"
                elif tif in ("IOC", "FOK"):
                    o.status = "EXPIRED"
                else:
                    o.status = "PARTIALLY_FILLED" if o.executed_qty > 0 else "NEW"
                    self._rest(acct, o)
        else:  # LIMIT_MAKER, not marketable (checked above)
            self._rest(acct, o)
        self._store(acct, o)
        log.info("order.new", extra={"fields": {"label": acct.label, "orderId": o.order_id,
                                                "clientOrderId": o.client_order_id, "symbol": sym,
                                                "side": side, "type": otype, "status": o.status,
                                                "executedQty": o.executed_qty}})
        return o.as_new(resp_type)

    def _remaining(self, o: Order) -> float:
        return round(o.orig_qty - o.executed_qty, SPECS[o.symbol].qty_decimals)

    def _available(self, sym: str, side: str, limit: float, qty: float) -> float:
        bids, asks = self.market.book(sym, 5000)
        levels = asks if side == "BUY" else bids
        total = 0.0
        for p, q in levels:
            if (side == "BUY" and p > limit) or (side == "SELL" and p < limit):
                break
            total += q
            if total >= qty:
                break
        return total

    def _take(self, acct: Account, o: Order, limit: float | None, quote: float | None, now: float) -> None:
        """Fill against the book (taker), walking levels; MARKET with no limit price."""
        sp = SPECS[o.symbol]
        qd = sp.qty_decimals
        step = float(sp.step_size)
        depth = 100
        while True:
            bids, asks = self.market.book(o.symbol, depth)
            levels = asks if o.side == "BUY" else bids
            need = sum(q for _, q in levels)
            want = o.orig_qty if quote is None else quote / (levels[0][0] if levels else 1)
            if need >= want * 1.01 or depth >= 5000:
                break
            depth = 5000
        rem_qty = o.orig_qty if quote is None else float("inf")
        rem_quote = quote
        fills: list[tuple[float, float]] = []
        for p, q in levels:
            if limit is not None and ((o.side == "BUY" and p > limit) or (o.side == "SELL" and p < limit)):
                break
            take = min(q, rem_qty)
            if rem_quote is not None:
                take = min(take, math.floor(rem_quote / p / step + 1e-9) * step)
            take = round(take, qd)
            if take <= 0:
                break
            fills.append((p, take))
            rem_qty = round(rem_qty - take, qd) if quote is None else rem_qty
            if rem_quote is not None:
                rem_quote -= take * p
            if (quote is None and rem_qty <= 0) or (rem_quote is not None and rem_quote < p * step):
                break
        if limit is None and quote is None and rem_qty > 0 and levels:
            fills.append((levels[-1][0], rem_qty))  # a huge order: the rest at the deepest price
        for p, q in fills:
            self._fill(acct, o, p, q, now, maker=False)

    def _fill(self, acct: Account, o: Order, price: float, qty: float, now: float, maker: bool) -> None:
        sp = SPECS[o.symbol]
        quote = price * qty
        commission = quote * COMMISSION_RATE
        trade_id = self.market.record_trade(o.symbol, now, qty, quote)
        o.fills.append({"price": fmt8(price), "qty": fmt8(qty), "commission": fmt8(commission),
                        "commissionAsset": sp.quote, "tradeId": trade_id})
        o.executed_qty = round(o.executed_qty + qty, sp.qty_decimals)
        o.cum_quote += quote
        o.update_time = int(now * 1000)
        acct.update_time = o.update_time
        if o.side == "BUY":
            acct.add(sp.base, qty)
            acct.add(sp.quote, -(quote + commission))
        else:
            acct.add(sp.base, -qty)
            acct.add(sp.quote, quote - commission)
        if o.locked:
            rem = self._remaining(o)
            o.locked = rem * o.price if o.side == "BUY" else rem

    def _rest(self, acct: Account, o: Order) -> None:
        rem = self._remaining(o)
        o.locked = rem * o.price if o.side == "BUY" else rem
        self.open_orders[o.order_id] = o

    def _unlock(self, acct: Account, o: Order) -> None:
        o.locked = 0.0
        self.open_orders.pop(o.order_id, None)

    def _store(self, acct: Account, o: Order) -> None:
        acct.orders[o.order_id] = o
        acct.client_ids[o.client_order_id] = o.order_id
        if len(acct.orders) > MAX_CLOSED_ORDERS_PER_ACCOUNT + len(self.open_orders):
            for oid in list(acct.orders)[:len(acct.orders) - MAX_CLOSED_ORDERS_PER_ACCOUNT]:
                old = acct.orders[oid]
                if not old.is_open:
                    del acct.orders[oid]
                    acct.client_ids.pop(old.client_order_id, None)

    def match_resting(self, now: float) -> None:
        """Resting LIMIT orders fill (as maker, at their price) once the market crosses them."""
        for o in list(self.open_orders.values()):
            st = self.market.symbols[o.symbol]
            if (o.side == "BUY" and st.ask <= o.price) or (o.side == "SELL" and st.bid >= o.price):
                acct = self.accounts[o.label]
                self._fill(acct, o, o.price, self._remaining(o), now, maker=True)
                o.status = "FILLED"
                self._unlock(acct, o)
                log.info("order.filled", extra={"fields": {"label": o.label, "orderId": o.order_id,
                                                           "symbol": o.symbol, "price": o.price}})

    def find_order(self, acct: Account, p: dict, sym: str, not_found: ApiError) -> Order:
        oid_s = p.get("orderId", "")
        cid = p.get("origClientOrderId", "")
        if not oid_s and not cid:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                       "but both were empty/null!")
        if oid_s:
            if not oid_s.isdigit():
                raise illegal("orderId")
            o = acct.orders.get(int(oid_s))
            if o is not None and cid and o.client_order_id != cid:
                o = None
        else:
            oid = acct.client_ids.get(cid)
            o = acct.orders.get(oid) if oid is not None else None
        if o is None or o.symbol != sym:
            raise not_found
        return o

    def cancel(self, acct: Account, o: Order, new_cid: str | None) -> dict:
        if not o.is_open:
            raise ApiError(400, -2011, "Unknown order sent.")
        o.status = "CANCELED"
        o.update_time = self.now_ms()
        self._unlock(acct, o)
        log.info("order.canceled", extra={"fields": {"label": acct.label, "orderId": o.order_id,
                                                     "symbol": o.symbol}})
        d = {"symbol": o.symbol, "origClientOrderId": o.client_order_id, "orderId": o.order_id,
             "orderListId": -1, "clientOrderId": new_cid or ("x-" + _rand(20)),
             "transactTime": o.update_time}
        c = o.common()
        c.pop("symbol"), c.pop("orderId"), c.pop("orderListId"), c.pop("clientOrderId")
        d.update(c)
        d["selfTradePreventionMode"] = "NONE"
        return d

    def account_json(self, key: ApiKey, omit_zero: bool) -> dict:
        acct = self._account(key.label)
        bal = [{"asset": a, "free": fmt8(f), "locked": fmt8(l)}
               for a, (f, l) in acct.free_locked(self.open_orders.values()).items()
               if not (omit_zero and f == 0 and l == 0)]
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": "0.00100000", "taker": "0.00100000",
                                    "buyer": "0.00000000", "seller": "0.00000000"},
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False,
                "updateTime": acct.update_time, "accountType": "SPOT", "balances": bal,
                "permissions": ["SPOT"], "uid": 100000000 + (int(hashlib.sha1(acct.label.encode()).hexdigest(), 16) % 900000000)}

    # ------------------------------------------------------------------ tick + streams
    def tick(self) -> None:
        now = self.now()
        self.market.tick(now)
        self.match_resting(now)
        self.tick_count += 1
        self._stream_cache.clear()
        if self.tick_count % 15 == 0:
            for ident in [i for i, w in self.weights.items() if (w.expire(now) or True) and not w.entries]:
                del self.weights[ident]
        ev, self.tick_event = self.tick_event, asyncio.Event()
        ev.set()

    def stream_data(self, stream: str) -> str:
        cached = self._stream_cache.get(stream)
        if cached is not None:
            return cached
        m = STREAM_RE.match(stream)
        sym = m.group(1).upper()
        kind = m.group(2)
        now_ms = self.now_ms()
        st = self.market.symbols[sym]
        if kind == "ticker":
            t = self.ticker24(sym)
            data = {"e": "24hrTicker", "E": now_ms, "s": sym, "p": t["priceChange"],
                    "P": t["priceChangePercent"], "w": t["weightedAvgPrice"], "x": t["prevClosePrice"],
                    "c": t["lastPrice"], "Q": t["lastQty"], "b": t["bidPrice"], "B": t["bidQty"],
                    "a": t["askPrice"], "A": t["askQty"], "o": t["openPrice"], "h": t["highPrice"],
                    "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"], "O": t["openTime"],
                    "C": t["closeTime"], "F": t["firstId"], "L": t["lastId"], "n": t["count"]}
        elif kind == "miniTicker":
            t = self.ticker24(sym, mini=True)
            data = {"e": "24hrMiniTicker", "E": now_ms, "s": sym, "c": t["lastPrice"], "o": t["openPrice"],
                    "h": t["highPrice"], "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"]}
        elif kind == "bookTicker":
            b = self.book_ticker(sym)
            data = {"u": st.update_id, "s": sym, "b": b["bidPrice"], "B": b["bidQty"],
                    "a": b["askPrice"], "A": b["askQty"]}
        elif kind.startswith("depth"):
            data = self.depth(sym, int(m.group(3)))
        else:  # kline_<interval>
            iv = m.group(5)
            k = self.market.klines(sym, iv, None, None, 1, now_ms)[-1]
            data = {"e": "kline", "E": now_ms, "s": sym,
                    "k": {"t": k[0], "T": k[6], "s": sym, "i": iv, "f": st.trade_id - k[8] + 1,
                          "L": st.trade_id, "o": k[1], "c": k[4], "h": k[2], "l": k[3], "v": k[5],
                          "n": k[8], "x": False, "q": k[7], "V": k[9], "Q": k[10], "B": "0"}}
        s = _dumps(data)
        self._stream_cache[stream] = s
        return s

    def stream_message(self, client: WsClient, stream: str) -> str:
        data = self.stream_data(stream)
        if client.combined:
            return '{"stream":%s,"data":%s}' % (_dumps(stream), data)
        return data

    @staticmethod
    def valid_stream(name: str) -> bool:
        m = STREAM_RE.match(name)
        if not m or m.group(1).upper() not in SPECS:
            return False
        return m.group(5) is None or m.group(5) in INTERVALS

    # ------------------------------------------------------------------ lab views
    def lab_state(self) -> dict:
        now = self.now()
        accounts = {}
        for label, acct in self.accounts.items():
            orders = list(acct.orders.values())
            accounts[label] = {
                "keys": [{"api_key": k.api_key, "revoked": k.revoked,
                          "created_at": _iso(k.created),
                          "banned_until": _iso(k.banned_until) if k.banned_until > now else None,
                          "used_weight_1m": self.used_weight("key:" + k.api_key)}
                         for k in self.keys.values() if k.label == label],
                "balances": {a: {"free": round(f, 8), "locked": round(l, 8)}
                             for a, (f, l) in acct.free_locked(self.open_orders.values()).items()},
                "orders": {"total": len(orders), "open": sum(1 for o in orders if o.is_open),
                           "filled": sum(1 for o in orders if o.status == "FILLED"),
                           "canceled": sum(1 for o in orders if o.status == "CANCELED"),
                           "expired": sum(1 for o in orders if o.status == "EXPIRED")},
            }
        prices = {}
        for sym, st in self.market.symbols.items():
            mv = st.move
            prices[sym] = {"price": st.price, "bid": st.bid, "ask": st.ask, "lastUpdateId": st.update_id,
                           "move": None if mv is None else {
                               "from": round(mv["from"], 8), "target": round(mv["target"], 8),
                               "move_percent": mv["move_percent"], "over_seconds": mv["over_seconds"],
                               "started_at": _iso(mv["start"])}}
        weights = {}
        for ident in list(self.weights):
            used = self.used_weight(ident)
            if used:
                weights[ident.split(":", 1)[1] if ident.startswith("ip:") else
                        self.keys[ident[4:]].label + ":" + ident[4:12]] = used
        return {"server_time": _iso(now), "started_at": _iso(self.started), "seed": self.seed,
                "status": {"status": self.status, "msg": self.status_msg, "since": _iso(self.status_since)},
                "prices": prices, "accounts": accounts, "used_weight_1m": weights,
                "weight_limit": WEIGHT_LIMIT, "open_orders": len(self.open_orders),
                "websocket_clients": len(self.ws_clients), "ticks": self.tick_count,
                "counters": dict(self.counters)}


def _strip_signature(raw: str) -> str:
    if "signature=" not in raw:
        return raw
    return "&".join(part for part in raw.split("&") if part.split("=", 1)[0] != "signature")


# ---------------------------------------------------------------------------- routing
EXCHANGE_KEY = web.AppKey("exchange", Exchange)
_RequestKey = getattr(web, "RequestKey", None)  # aiohttp >= 3.13; plain strings before
PARAMS_KEY = _RequestKey("params", dict) if _RequestKey else "params"
APIKEY_KEY = _RequestKey("api_key", ApiKey) if _RequestKey else "api_key"
_ROUTES: list[tuple[str, str, Callable]] = []


def _route(method: str, path: str, weight: int | Callable[[dict], int] = 1, signed: bool = False,
           body: bool = False):
    def deco(fn):
        fn.weight = weight if callable(weight) else (lambda _p, _w=weight: _w)
        fn.signed = signed
        fn.body = body
        _ROUTES.append((method, path, fn))
        return fn
    return deco


def _depth_weight(p: dict) -> int:
    try:
        limit = int(p.get("limit") or 100)
    except ValueError:
        limit = 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _int_param(p: dict, name: str, default: int | None, lo: int, hi: int | None) -> int | None:
    v = p.get(name, "")
    if v == "":
        return default
    if not v.lstrip("-").isdigit():
        raise illegal(name)
    n = int(v)
    if n < lo or (hi is not None and n > hi):
        raise ApiError(400, -1130, f"Data sent for parameter '{name}' is not valid.")
    return n


def P(request: web.Request) -> dict:
    return request[PARAMS_KEY]


@_route("GET", "/api/v3/ping")
async def h_ping(request):
    return jresp({})


@_route("GET", "/api/v3/time")
async def h_time(request):
    return jresp({"serverTime": request.app[EXCHANGE_KEY].now_ms()})


@_route("GET", "/sapi/v1/system/status")
async def h_status(request):
    ex = request.app[EXCHANGE_KEY]
    return jresp({"status": ex.status, "msg": ex.status_msg})


@_route("GET", "/api/v3/exchangeInfo", weight=20)
async def h_exchange_info(request):
    ex = request.app[EXCHANGE_KEY]
    return jresp(ex.exchange_info(ex.symbols_list(P(request))))


@_route("GET", "/api/v3/depth", weight=_depth_weight)
async def h_depth(request):
    ex = request.app[EXCHANGE_KEY]
    p = P(request)
    sym = ex.symbol(p)
    limit = _int_param(p, "limit", 100, 1, None)
    return jresp(ex.depth(sym, min(limit, 5000)))


@_route("GET", "/api/v3/ticker/price", weight=lambda p: 2 if p.get("symbol") else 4)
async def h_ticker_price(request):
    ex = request.app[EXCHANGE_KEY]
    syms = ex.symbols_list(P(request))
    rows = [{"symbol": s, "price": fmt8(ex.market.symbols[s].price)} for s in (syms or SPECS)]
    return jresp(rows[0] if P(request).get("symbol") else rows)


@_route("GET", "/api/v3/ticker/bookTicker", weight=lambda p: 2 if p.get("symbol") else 4)
async def h_book_ticker(request):
    ex = request.app[EXCHANGE_KEY]
    syms = ex.symbols_list(P(request))
    rows = [ex.book_ticker(s) for s in (syms or SPECS)]
    return jresp(rows[0] if P(request).get("symbol") else rows)


@_route("GET", "/api/v3/ticker/24hr", weight=lambda p: 2 if p.get("symbol") or p.get("symbols") else 80)
async def h_ticker_24hr(request):
    ex = request.app[EXCHANGE_KEY]
    p = P(request)
    syms = ex.symbols_list(p)
    kind = p.get("type") or "FULL"
    if kind not in ("FULL", "MINI"):
        raise ApiError(400, -1100, "Illegal characters found in parameter 'type'.")
    rows = [ex.ticker24(s, mini=kind == "MINI") for s in (syms or SPECS)]
    return jresp(rows[0] if p.get("symbol") else rows)


@_route("GET", "/api/v3/avgPrice", weight=2)
async def h_avg_price(request):
    ex = request.app[EXCHANGE_KEY]
    sym = ex.symbol(P(request))
    return jresp({"mins": 5, "price": fmt8(ex.market.avg_price(sym)), "closeTime": ex.now_ms()})


@_route("GET", "/api/v3/klines", weight=2)
async def h_klines(request):
    ex = request.app[EXCHANGE_KEY]
    p = P(request)
    sym = ex.symbol(p)
    iv = p.get("interval", "")
    if not iv:
        raise mandatory("interval")
    if iv not in INTERVALS:
        raise ApiError(400, -1120, "Invalid interval.")
    limit = _int_param(p, "limit", 500, 1, 1000)
    start = _int_param(p, "startTime", None, 0, None)
    end = _int_param(p, "endTime", None, 0, None)
    if start is not None and end is not None and start > end:
        raise ApiError(400, -1023, "Start time is greater than end time.")
    return jresp(ex.market.klines(sym, iv, start, end, limit, ex.now_ms()))


@_route("GET", "/api/v3/account", weight=20, signed=True)
async def h_account(request):
    ex = request.app[EXCHANGE_KEY]
    return jresp(ex.account_json(request[APIKEY_KEY], P(request).get("omitZeroBalances") == "true"))


@_route("POST", "/api/v3/order", weight=1, signed=True, body=True)
async def h_new_order(request):
    ex = request.app[EXCHANGE_KEY]
    return jresp(ex.new_order(request[APIKEY_KEY], P(request)))


@_route("POST", "/api/v3/order/test", weight=1, signed=True, body=True)
async def h_test_order(request):
    ex = request.app[EXCHANGE_KEY]
    return jresp(ex.new_order(request[APIKEY_KEY], P(request), test=True))


@_route("GET", "/api/v3/order", weight=4, signed=True)
async def h_get_order(request):
    ex = request.app[EXCHANGE_KEY]
    p = P(request)
    sym = ex.symbol(p)
    acct = ex._account(request[APIKEY_KEY].label)
    o = ex.find_order(acct, p, sym, ApiError(400, -2013, "Order does not exist."))
    return jresp(o.as_query())


@_route("DELETE", "/api/v3/order", weight=1, signed=True, body=True)
async def h_cancel_order(request):
    ex = request.app[EXCHANGE_KEY]
    p = P(request)
    sym = ex.symbol(p)
    acct = ex._account(request[APIKEY_KEY].label)
    o = ex.find_order(acct, p, sym, ApiError(400, -2011, "Unknown order sent."))
    return jresp(ex.cancel(acct, o, p.get("newClientOrderId") or None))


@_route("GET", "/api/v3/openOrders", weight=6, signed=True)
async def h_open_orders(request):
    ex = request.app[EXCHANGE_KEY]
    p = P(request)
    sym = ex.symbol(p) if p.get("symbol") else None
    acct = ex._account(request[APIKEY_KEY].label)
    rows = [o.as_query() for o in acct.orders.values() if o.is_open and (sym is None or o.symbol == sym)]
    return jresp(rows)


@_route("DELETE", "/api/v3/openOrders", weight=1, signed=True, body=True)
async def h_cancel_all(request):
    ex = request.app[EXCHANGE_KEY]
    p = P(request)
    sym = ex.symbol(p)
    acct = ex._account(request[APIKEY_KEY].label)
    targets = [o for o in acct.orders.values() if o.is_open and o.symbol == sym]
    if not targets:
        raise ApiError(400, -2011, "Unknown order sent.")
    return jresp([ex.cancel(acct, o, None) for o in targets])


@_route("GET", "/api/v3/allOrders", weight=20, signed=True)
async def h_all_orders(request):
    ex = request.app[EXCHANGE_KEY]
    p = P(request)
    sym = ex.symbol(p)
    limit = _int_param(p, "limit", 500, 1, 1000)
    from_id = _int_param(p, "orderId", None, 0, None)
    start = _int_param(p, "startTime", None, 0, None)
    end = _int_param(p, "endTime", None, 0, None)
    acct = ex._account(request[APIKEY_KEY].label)
    rows = [o for o in acct.orders.values() if o.symbol == sym
            and (from_id is None or o.order_id >= from_id)
            and (start is None or o.time >= start) and (end is None or o.time <= end)]
    rows = rows[:limit] if (from_id is not None or start is not None) else rows[-limit:]
    return jresp([o.as_query() for o in rows])


# ---------------------------------------------------------------------------- websocket
async def h_ws(request: web.Request):
    ex = request.app[EXCHANGE_KEY]
    raw = request.query.get("streams")
    path_streams = request.match_info.get("streams")
    combined = request.path.startswith("/stream") or raw is not None
    names = [s for s in (raw if raw is not None else (path_streams or "")).split("/") if s]
    bad = [s for s in names if not ex.valid_stream(s)]
    if bad:
        raise ApiError(400, -1100, f"Invalid stream name: {bad[0]}")
    if request.path.startswith("/stream") and not names:
        raise ApiError(400, -1102, "Mandatory parameter 'streams' was not sent, was empty/null, or malformed.")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=65536)
    await ws.prepare(request)
    client = WsClient(ws, names, combined, request.remote or "unknown")
    ex.ws_clients.add(client)
    log.info("ws.connected", extra={"fields": {"remote": client.peer, "streams": client.streams}})
    sender = asyncio.create_task(_ws_sender(ex, client))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                reply = _ws_command(ex, client, msg.data)
                if reply is not None:
                    await ws.send_str(reply)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        ex.ws_clients.discard(client)
        sender.cancel()
        try:
            await sender
        except (asyncio.CancelledError, Exception):
            pass
        log.info("ws.disconnected", extra={"fields": {"remote": client.peer}})
    return ws


async def _ws_sender(ex: Exchange, client: WsClient) -> None:
    ws = client.ws
    try:
        while not ws.closed:
            for s in list(client.streams):
                await ws.send_str(ex.stream_message(client, s))
            await ex.tick_event.wait()
    except (ConnectionResetError, RuntimeError):
        pass


def _ws_command(ex: Exchange, client: WsClient, text: str) -> str | None:
    try:
        req = json.loads(text)
    except ValueError:
        return _dumps({"error": {"code": 3, "msg": "Invalid JSON: expected value"}})
    if not isinstance(req, dict):
        return _dumps({"error": {"code": 3, "msg": "Invalid JSON: expected an object"}})
    rid = req.get("id")
    method = req.get("method")
    params = req.get("params") or []
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not isinstance(params, list) or not all(isinstance(x, str) and ex.valid_stream(x) for x in params):
            return _dumps({"error": {"code": 2, "msg": "Invalid request: unknown stream name"}, "id": rid})
        if method == "SUBSCRIBE":
            client.streams = list(dict.fromkeys(client.streams + params))
        else:
            client.streams = [s for s in client.streams if s not in params]
        return _dumps({"result": None, "id": rid})
    if method == "LIST_SUBSCRIPTIONS":
        return _dumps({"result": client.streams, "id": rid})
    return _dumps({"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": rid})


# ---------------------------------------------------------------------------- lab controls
async def _lab_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise LabError(400, "bad_request", "body must be a JSON object")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LabError(400, "bad_request", "body must be a JSON object")
    return data


def _num(body: dict, name: str, default: float | None = None, lo: float | None = None,
         hi: float | None = None) -> float:
    v = body.get(name, default)
    if v is None:
        raise LabError(400, "bad_request", f"{name} is required")
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise LabError(400, "bad_request", f"{name} must be a number")
    try:
        f = float(v)
    except ValueError:
        raise LabError(400, "bad_request", f"{name} must be a number")
    if not math.isfinite(f) or (lo is not None and f < lo) or (hi is not None and f > hi):
        raise LabError(400, "bad_request", f"{name} is out of range ({lo}..{hi})")
    return f


def _lab_key(ex: Exchange, body: dict) -> ApiKey:
    api_key = body.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        raise LabError(400, "bad_request", "api_key is required")
    k = ex.keys.get(api_key)
    if k is None:
        raise LabError(404, "not_found", "unknown api_key")
    return k


async def lab_keys(request):
    ex = request.app[EXCHANGE_KEY]
    body = await _lab_body(request)
    label = body.get("label")
    if not isinstance(label, str) or not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", label):
        raise LabError(400, "bad_request", "label is required ([A-Za-z0-9_.:-], at most 64 characters)")
    balances = body.get("balances")
    if balances is not None:
        if not isinstance(balances, dict) or not all(
                isinstance(a, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                for a, v in balances.items()):
            raise LabError(400, "bad_request", "balances must be an object {asset: number}")
    for name in ("api_key", "secret"):
        if body.get(name) is not None and not isinstance(body.get(name), str):
            raise LabError(400, "bad_request", f"{name} must be a string")
    k = ex.create_key(label, body.get("api_key"), body.get("secret"), balances)
    return jresp({"label": k.label, "api_key": k.api_key, "secret": k.secret})


async def lab_revoke(request):
    ex = request.app[EXCHANGE_KEY]
    k = _lab_key(ex, await _lab_body(request))
    changed = not k.revoked
    k.revoked = True
    k.revoked_at = k.revoked_at or ex.now()
    ex._save_keys()
    log.info("key.revoked", extra={"fields": {"label": k.label, "api_key": k.api_key[:8] + "..."}})
    return jresp({"changed": changed, "label": k.label, "api_key": k.api_key, "revoked": True})


async def lab_ban(request):
    ex = request.app[EXCHANGE_KEY]
    body = await _lab_body(request)
    seconds = _num(body, "seconds", None, 0, 86400 * 7)
    if body.get("label") and not body.get("api_key"):
        targets = [k for k in ex.keys.values() if k.label == body["label"]]
        if not targets:
            raise LabError(404, "not_found", "no key has that label")
    else:
        targets = [_lab_key(ex, body)]
    until = ex.now() + seconds if seconds > 0 else 0.0
    for k in targets:
        k.banned_until = until
    log.info("key.banned", extra={"fields": {"keys": [k.api_key[:8] + "..." for k in targets],
                                             "seconds": seconds}})
    return jresp({"changed": True, "api_keys": [k.api_key for k in targets],
                  "banned_until": _iso(until) if until else None, "seconds": seconds})


async def lab_market(request):
    ex = request.app[EXCHANGE_KEY]
    body = await _lab_body(request)
    sym = body.get("symbol")
    if sym in (None, "", "*", "ALL"):
        syms = list(SPECS)
    elif isinstance(sym, str) and sym.upper() in SPECS:
        syms = [sym.upper()]
    else:
        raise LabError(400, "bad_request", f"symbol must be one of {', '.join(SPECS)} (or omitted for all)")
    move = _num(body, "move_percent", None, -95, 1000)
    over = _num(body, "over_seconds", 0, 0, 86400)
    now = ex.now()
    moves = {}
    for s in syms:
        mv = ex.market.start_move(s, move, over, now)
        moves[s] = {"from": round(mv["from"], 8), "target": round(mv["target"], 8),
                    "move_percent": move, "over_seconds": over}
    ex._stream_cache.clear()
    log.info("market.move", extra={"fields": {"symbols": syms, "move_percent": move, "over_seconds": over}})
    return jresp({"changed": True, "moves": moves})


async def lab_status(request):
    ex = request.app[EXCHANGE_KEY]
    body = await _lab_body(request)
    status = body.get("status")
    if status not in (0, 1) or isinstance(status, bool):
        raise LabError(400, "bad_request", "status must be 0 or 1")
    msg = body.get("msg")
    if msg is None:
        msg = "normal" if status == 0 else "system maintenance"
    if not isinstance(msg, str) or len(msg) > 200:
        raise LabError(400, "bad_request", "msg must be a string (at most 200 characters)")
    before = {"status": ex.status, "msg": ex.status_msg}
    changed = before != {"status": status, "msg": msg}
    if changed:
        ex.status, ex.status_msg, ex.status_since = status, msg, ex.now()
    log.info("system.status", extra={"fields": {"status": status, "msg": msg}})
    return jresp({"changed": changed, "before": before, "status": status, "msg": msg})


async def lab_reset(request):
    ex = request.app[EXCHANGE_KEY]
    ex.status, ex.status_msg, ex.status_since = 0, "normal", ex.now()
    for k in ex.keys.values():
        k.banned_until = 0.0
    ex.market.stop_moves()
    ex.weights.clear()
    log.info("lab.reset", extra={"fields": {}})
    return jresp({"changed": True, "status": 0, "bans": 0, "moves": 0})


async def lab_state(request):
    return jresp(request.app[EXCHANGE_KEY].lab_state())


async def lab_orders(request):
    ex = request.app[EXCHANGE_KEY]
    label = request.query.get("label")
    status = request.query.get("status")
    symbol = request.query.get("symbol")
    if label and label not in ex.accounts:
        raise LabError(404, "not_found", "unknown label")
    out = []
    for acct in ([ex.accounts[label]] if label else ex.accounts.values()):
        for o in acct.orders.values():
            if (status is None or o.status == status) and (symbol is None or o.symbol == symbol):
                out.append({"label": acct.label} | o.as_query())
    return jresp({"orders": out, "count": len(out)})


async def lab_tick(request):
    """Force one market tick now (tests, debugging)."""
    ex = request.app[EXCHANGE_KEY]
    ex.tick()
    return jresp({"ticks": ex.tick_count})


# ---------------------------------------------------------------------------- middleware
def _access_log(request: web.Request, status: int, started: float, ident: str | None, code: int | None) -> None:
    fields = {"method": request.method, "path": request.path, "status": status,
              "ms": round((time.monotonic() - started) * 1000, 2), "remote": request.remote}
    if ident:
        fields["client"] = ident[:12] if ident.startswith("key:") else ident
    if code is not None:
        fields["code"] = code
    lvl = logging.DEBUG if status < 400 and not request.path.startswith("/_lab") else logging.INFO
    log.log(lvl, "request", extra={"fields": fields})


@web.middleware
async def middleware(request: web.Request, handler):
    ex = request.app[EXCHANGE_KEY]
    started = time.monotonic()
    is_lab = request.path == "/_lab" or request.path.startswith("/_lab/")
    ident: str | None = None
    code: int | None = None
    try:
        if is_lab:
            try:
                token = request.headers.get("X-Lab-Token", "")
                if not hmac.compare_digest(token.encode(), ex.token.encode()):
                    raise LabError(401, "unauthorized", "missing or wrong X-Lab-Token")
                if request.match_info.http_exception is not None:
                    e = request.match_info.http_exception
                    raise LabError(e.status, "not_found" if e.status == 404 else "method_not_allowed",
                                   f"no lab control {request.method} {request.path}")
                resp = await handler(request)
            except LabError as e:
                resp = jresp({"error": e.error, "message": e.message}, status=e.status)
            _access_log(request, resp.status, started, None, None)
            return resp
        ex.counters["requests"] += 1
        ident = ex.identity(request)
        try:
            mi = request.match_info
            if mi.http_exception is not None:
                e = mi.http_exception
                raise ApiError(e.status, -1000 if e.status != 405 else -1000,
                               ("Unknown endpoint" if e.status == 404 else "Method not allowed")
                               + f": {request.method} {request.path}")
            fn = mi.handler
            if getattr(fn, "is_ws", False):
                return await handler(request)
            params, raw_q, raw_b = await _read_params(request, getattr(fn, "body", False))
            request[PARAMS_KEY] = params
            ex.check_ban(ident)
            ex.charge(ident, fn.weight(params))
            if fn.signed:
                request[APIKEY_KEY] = ex.authenticate(request, params, raw_q, raw_b)
            resp = await handler(request)
        except ApiError as e:
            code = e.code
            resp = jresp({"code": e.code, "msg": e.msg}, status=e.status, headers=e.headers)
    except web.HTTPException as e:  # raised by aiohttp itself (e.g. body too large)
        resp = jresp({"code": -1000, "msg": e.reason}, status=e.status)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("request.error", extra={"fields": {"method": request.method, "path": request.path}})
        resp = jresp({"code": -1000, "msg": "An unknown error occurred while processing the request."},
                     status=500)
    if ident is not None and not resp.prepared:
        used = str(ex.used_weight(ident))
        resp.headers["X-MBX-USED-WEIGHT-1M"] = used
        resp.headers["X-MBX-USED-WEIGHT"] = used
    _access_log(request, resp.status, started, ident, code)
    return resp


async def _read_params(request: web.Request, allow_body: bool) -> tuple[dict, str, str]:
    raw_q = request.rel_url.raw_query_string
    raw_b = ""
    if allow_body and request.can_read_body:
        raw_b = (await request.read()).decode("utf-8", "surrogateescape")
    params: dict[str, str] = {}
    for raw in (raw_q, raw_b):
        for k, v in parse_qsl(raw, keep_blank_values=True):
            if k in params:
                raise ApiError(400, -1101, "Duplicate values for a parameter detected.")
            params[k] = v
    return params, raw_q, raw_b


# ---------------------------------------------------------------------------- app
async def _ticker(app: web.Application, interval: float):
    ex = app[EXCHANGE_KEY]
    loop = asyncio.get_running_loop()
    next_at = loop.time() + interval
    while True:
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        next_at += interval
        if next_at < loop.time():  # fell behind (suspended): do not burst
            next_at = loop.time() + interval
        try:
            ex.tick()
        except Exception:
            log.exception("tick.error", extra={"fields": {}})


def make_app(token: str, seed: int = 1, clock: Callable[[], float] = time.time,
             tick_interval: float | None = 1.0, keys_file: str | None = None,
             history_minutes: int = HISTORY_MINUTES) -> web.Application:
    """Build the exchange application.

    token          the lab token (header X-Lab-Token on /_lab/*)
    seed           RNG seed: the synthesised history and books are deterministic from it
    clock          a callable returning epoch seconds (float); tests can pass a fake one
    tick_interval  seconds between market ticks (None: no background ticks; call
                   ``app[EXCHANGE_KEY].tick()`` or POST /_lab/tick yourself)
    keys_file      JSON file of API keys loaded at start and rewritten (0600) on changes
    history_minutes  synthesised 1m history (>= 500)
    """
    app = web.Application(middlewares=[middleware], client_max_size=1 << 20)
    ex = Exchange(token, seed=seed, clock=clock, keys_file=keys_file, history_minutes=history_minutes)
    app[EXCHANGE_KEY] = ex
    for method, path, fn in _ROUTES:
        app.router.add_route(method, path, fn)
    h_ws.is_ws = True
    app.router.add_get("/ws", h_ws)
    app.router.add_get("/ws/{streams:.+}", h_ws)
    app.router.add_get("/stream", h_ws)
    app.router.add_post("/_lab/keys", lab_keys)
    app.router.add_post("/_lab/keys/revoke", lab_revoke)
    app.router.add_post("/_lab/ban", lab_ban)
    app.router.add_post("/_lab/market", lab_market)
    app.router.add_post("/_lab/status", lab_status)
    app.router.add_post("/_lab/reset", lab_reset)
    app.router.add_post("/_lab/tick", lab_tick)
    app.router.add_get("/_lab/state", lab_state)
    app.router.add_get("/_lab/orders", lab_orders)

    async def background(app_: web.Application):
        task = None
        if tick_interval:
            task = asyncio.create_task(_ticker(app_, float(tick_interval)))
        yield
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def close_streams(app_: web.Application):
        for c in list(ex.ws_clients):
            await c.ws.close(code=1001, message=b"server shutdown")

    app.cleanup_ctx.append(background)
    app.on_shutdown.append(close_streams)
    return app
