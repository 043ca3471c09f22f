"""A small synchronous Binance-compatible REST client (contract section 6), stdlib only.

Signed requests carry `X-MBX-APIKEY`, `timestamp` (real clock + the lab clock offset) and
`recvWindow`, and `signature` = hex HMAC-SHA256 of the query string with the secret."""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

RECV_WINDOW = 5000


def sign(query: str, secret: str) -> str:
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def signed_query(params: dict | list | None, secret: str, timestamp_ms: int,
                 recv_window: int = RECV_WINDOW) -> str:
    items = list(params.items()) if isinstance(params, dict) else list(params or [])
    items = [(k, v) for k, v in items if v is not None]
    items += [("recvWindow", recv_window), ("timestamp", int(timestamp_ms))]
    query = urllib.parse.urlencode(items)
    return f"{query}&signature={sign(query, secret)}"


def depth_weight(limit: Any) -> int:
    try:
        n = int(limit)
    except (TypeError, ValueError):
        n = 100
    if n <= 100:
        return 5
    if n <= 500:
        return 25
    if n <= 1000:
        return 50
    return 250


def request_weight(method: str, path: str, params: dict | None = None) -> int:
    """Request weight as the exchange counts it (contract section 6)."""
    params = params or {}
    method = method.upper()
    if path == "/api/v3/depth":
        return depth_weight(params.get("limit", 100))
    if path == "/api/v3/ticker/price":
        return 2 if params.get("symbol") else 4
    if path in ("/api/v3/ticker/24hr", "/api/v3/klines"):
        return 2
    if path in ("/api/v3/exchangeInfo", "/api/v3/account"):
        return 20
    if path == "/api/v3/order":
        return 4 if method == "GET" else 1
    if path == "/api/v3/openOrders":
        return 6
    return 1


@dataclass
class ExchangeResponse:
    status: int                     # 0 when the request did not get an answer
    data: Any = None
    headers: dict = field(default_factory=dict)
    error: str | None = None        # transport error text
    weight: int = 1
    path: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def used_weight(self) -> int | None:
        v = self.headers.get("x-mbx-used-weight-1m")
        try:
            return int(v) if v is not None else None
        except ValueError:
            return None

    @property
    def retry_after(self) -> float | None:
        v = self.headers.get("retry-after")
        try:
            return float(v) if v is not None else None
        except ValueError:
            return None

    @property
    def code(self) -> int | None:
        if isinstance(self.data, dict) and "code" in self.data:
            try:
                return int(self.data["code"])
            except (TypeError, ValueError):
                return None
        return None

    @property
    def message(self) -> str:
        if self.error:
            return self.error
        if isinstance(self.data, dict) and self.data.get("msg"):
            return str(self.data["msg"])
        return f"HTTP {self.status}"

    def describe(self) -> str:
        if self.status == 0:
            return f"exchange unreachable: {self.error}"
        if self.code is not None:
            return f"{self.code}: {self.message}"
        return f"HTTP {self.status}: {self.message}"


class ExchangeClient:
    def __init__(self, base_url: str, api_key: str = "", api_secret: str = "",
                 now_ms: Callable[[], int] | None = None, timeout: float = 5.0,
                 on_response: Callable[[ExchangeResponse], None] | None = None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.api_secret = api_secret
        import time
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.timeout = timeout
        self.on_response = on_response

    def set_credentials(self, api_key: str, api_secret: str, base_url: str | None = None) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        if base_url:
            self.base_url = base_url.rstrip("/")

    def request(self, method: str, path: str, params: dict | None = None, signed: bool = False,
                send_key: bool = True, timeout: float | None = None) -> ExchangeResponse:
        method = method.upper()
        weight = request_weight(method, path, params)
        u = urllib.parse.urlsplit(self.base_url)
        prefix = u.path.rstrip("/")
        if signed:
            query = signed_query(params, self.api_secret, self.now_ms())
        else:
            query = urllib.parse.urlencode([(k, v) for k, v in (params or {}).items() if v is not None])
        target = prefix + path + (f"?{query}" if query else "")
        headers = {"Accept": "application/json", "User-Agent": "genesis-lab-node/1"}
        if (signed or send_key) and self.api_key:
            headers["X-MBX-APIKEY"] = self.api_key
        host = u.hostname or "127.0.0.1"
        t = timeout or self.timeout
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(host, u.port or 443, timeout=t, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, u.port or 80, timeout=t)
        try:
            conn.request(method, target, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            try:
                data = json.loads(body.decode("utf-8")) if body else None
            except (ValueError, UnicodeDecodeError):
                data = {"msg": body[:200].decode("utf-8", "replace")}
            result = ExchangeResponse(resp.status, data, hdrs, None, weight, path)
        except (OSError, http.client.HTTPException, socket.timeout) as exc:
            result = ExchangeResponse(0, None, {}, f"{type(exc).__name__}: {exc}".strip(), weight, path)
        finally:
            conn.close()
        if self.on_response is not None:
            try:
                self.on_response(result)
            except Exception:  # noqa: BLE001  (bookkeeping must not break a request)
                pass
        return result


def fill_price(data: dict, fallback: float | None = None) -> float | None:
    """Average fill price of an order answer (fills, else cummulativeQuoteQty/executedQty)."""
    try:
        fills = data.get("fills") or []
        qty = sum(float(f["qty"]) for f in fills)
        if qty > 0:
            return sum(float(f["price"]) * float(f["qty"]) for f in fills) / qty
        ex = float(data.get("executedQty") or 0)
        quote = float(data.get("cummulativeQuoteQty") or data.get("cumulativeQuoteQty") or 0)
        if ex > 0 and quote > 0:
            return quote / ex
        p = float(data.get("price") or 0)
        if p > 0:
            return p
    except (TypeError, ValueError, KeyError, AttributeError):
        pass
    return fallback
