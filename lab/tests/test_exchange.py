"""Unit tests of the fake Binance exchange (genesis_lab.exchange); loopback only."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

LAB_DIR = Path(__file__).resolve().parents[1]
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

from genesis_lab.exchange import FakeClock, ThreadedExchange  # noqa: E402

TOKEN = "test-lab-token"


# ---------------------------------------------------------------------------- helpers
class Client:
    """A tiny Binance client over requests, signing with the server's (fake) clock."""

    def __init__(self, srv: ThreadedExchange, clock: FakeClock, api_key: str | None = None,
                 secret: str | None = None) -> None:
        self.srv = srv
        self.clock = clock
        self.api_key = api_key
        self.secret = secret
        self.http = requests.Session()

    def ts(self) -> int:
        return int(self.clock() * 1000)

    def sign(self, payload: str, secret: str | None = None) -> str:
        return hmac.new((secret or self.secret).encode(), payload.encode(), hashlib.sha256).hexdigest()

    def public(self, path: str, params: dict | None = None, key: bool = False) -> requests.Response:
        headers = {"X-MBX-APIKEY": self.api_key} if key else {}
        return self.http.get(self.srv.url + path, params=params, headers=headers, timeout=10)

    def signed(self, method: str, path: str, params: dict | None = None, *, in_body: bool = False,
               ts: int | None = None, secret: str | None = None, api_key: str | None = None,
               headers: dict | None = None) -> requests.Response:
        p = dict(params or {})
        p.setdefault("timestamp", self.ts() if ts is None else ts)
        payload = urlencode(p)
        sig = self.sign(payload, secret)
        hdrs = {"X-MBX-APIKEY": api_key or self.api_key}
        if headers is not None:
            hdrs = headers
        if in_body:
            hdrs = dict(hdrs, **{"Content-Type": "application/x-www-form-urlencoded"})
            return self.http.request(method, self.srv.url + path, data=f"{payload}&signature={sig}",
                                     headers=hdrs, timeout=10)
        return self.http.request(method, f"{self.srv.url}{path}?{payload}&signature={sig}",
                                 headers=hdrs, timeout=10)


def lab(srv: ThreadedExchange, method: str, path: str, body: dict | None = None,
        token: str | None = TOKEN) -> requests.Response:
    headers = {} if token is None else {"X-Lab-Token": token}
    return requests.request(method, srv.url + path, json=body, headers=headers, timeout=10)


def new_key(srv: ThreadedExchange, clock: FakeClock, label: str) -> Client:
    r = lab(srv, "POST", "/_lab/keys", {"label": label})
    assert r.status_code == 200, r.text
    d = r.json()
    assert len(d["api_key"]) == 64 and d["secret"]
    return Client(srv, clock, d["api_key"], d["secret"])


def err(r: requests.Response) -> tuple[int, int]:
    d = r.json()
    assert set(d) == {"code", "msg"} and isinstance(d["msg"], str) and d["msg"], d
    return r.status_code, d["code"]


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def srv(clock):
    s = ThreadedExchange(TOKEN, seed=7, clock=clock, tick_interval=None, history_minutes=1000)
    s.start()
    yield s
    s.stop()


@pytest.fixture()
def cli(srv, clock) -> Client:
    return new_key(srv, clock, "node1")


# ---------------------------------------------------------------------------- public endpoints
def test_ping_time_status(srv, clock):
    assert requests.get(srv.url + "/api/v3/ping").json() == {}
    assert requests.get(srv.url + "/api/v3/time").json() == {"serverTime": int(clock() * 1000)}
    assert requests.get(srv.url + "/sapi/v1/system/status").json() == {"status": 0, "msg": "normal"}


def test_depth_shape_and_update_id(srv, clock):
    r = requests.get(srv.url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 20})
    assert r.status_code == 200
    d = r.json()
    assert set(d) == {"lastUpdateId", "bids", "asks"}
    assert len(d["bids"]) == 20 and len(d["asks"]) == 20
    for side in ("bids", "asks"):
        for lvl in d[side]:
            assert isinstance(lvl, list) and len(lvl) == 2 and all(isinstance(x, str) for x in lvl)
            assert float(lvl[1]) > 0
    bids = [float(p) for p, _ in d["bids"]]
    asks = [float(p) for p, _ in d["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    spread_bps = (asks[0] - bids[0]) / bids[0] * 1e4
    assert 0 < spread_bps < 10
    assert 55000 < bids[0] < 75000
    # same update id -> same book; after a tick the id increases
    again = requests.get(srv.url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5}).json()
    assert again["lastUpdateId"] == d["lastUpdateId"] and again["bids"] == d["bids"][:5]
    clock.advance(1)
    srv.call(srv.exchange.tick)
    d2 = requests.get(srv.url + "/api/v3/depth", params={"symbol": "BTCUSDT"}).json()
    assert d2["lastUpdateId"] > d["lastUpdateId"]
    assert len(d2["bids"]) == 100  # default limit
    big = requests.get(srv.url + "/api/v3/depth", params={"symbol": "ETHUSDT", "limit": 1000}).json()
    assert len(big["asks"]) == 1000


def test_tickers_and_exchange_info(srv):
    one = requests.get(srv.url + "/api/v3/ticker/price", params={"symbol": "ETHUSDT"}).json()
    assert set(one) == {"symbol", "price"} and one["symbol"] == "ETHUSDT"
    assert 2900 < float(one["price"]) < 3900
    allp = requests.get(srv.url + "/api/v3/ticker/price").json()
    assert [x["symbol"] for x in allp] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    some = requests.get(srv.url + "/api/v3/ticker/price", params={"symbols": '["SOLUSDT","BTCUSDT"]'}).json()
    assert [x["symbol"] for x in some] == ["SOLUSDT", "BTCUSDT"]
    t = requests.get(srv.url + "/api/v3/ticker/24hr", params={"symbol": "SOLUSDT"}).json()
    for k in ("priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice", "lastPrice",
              "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice", "highPrice", "lowPrice",
              "volume", "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count"):
        assert k in t, k
    assert float(t["lowPrice"]) <= float(t["lastPrice"]) <= float(t["highPrice"])
    assert float(t["bidPrice"]) < float(t["askPrice"])
    info = requests.get(srv.url + "/api/v3/exchangeInfo").json()
    assert info["rateLimits"][0] == {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                     "intervalNum": 1, "limit": 1200}
    syms = {s["symbol"]: s for s in info["symbols"]}
    assert set(syms) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    filters = {f["filterType"]: f for f in syms["BTCUSDT"]["filters"]}
    assert {"LOT_SIZE", "PRICE_FILTER", "MIN_NOTIONAL"} <= set(filters)
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert syms["BTCUSDT"]["status"] == "TRADING"
    one_info = requests.get(srv.url + "/api/v3/exchangeInfo", params={"symbol": "SOLUSDT"}).json()
    assert [s["symbol"] for s in one_info["symbols"]] == ["SOLUSDT"]


def test_klines_shape_and_determinism(srv, clock):
    r = requests.get(srv.url + "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"})
    rows = r.json()
    assert r.status_code == 200 and len(rows) == 500
    for row in rows:
        assert len(row) == 12
        assert isinstance(row[0], int) and isinstance(row[6], int) and isinstance(row[8], int)
        assert all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9, 10, 11))
        o, h, l, c = (float(row[i]) for i in (1, 2, 3, 4))
        assert l <= min(o, c) and h >= max(o, c)
        assert row[6] == row[0] + 59999
    opens = [row[0] for row in rows]
    assert all(b - a == 60000 for a, b in zip(opens, opens[1:]))
    assert opens[-1] == int(clock() // 60) * 60000  # the current (open) minute is last
    limited = requests.get(srv.url + "/api/v3/klines",
                           params={"symbol": "BTCUSDT", "interval": "1m", "limit": 10}).json()
    assert limited == rows[-10:]
    start = requests.get(srv.url + "/api/v3/klines", params={
        "symbol": "BTCUSDT", "interval": "5m", "startTime": opens[0], "limit": 3}).json()
    assert len(start) == 3 and start[0][0] >= opens[0] and start[1][0] - start[0][0] == 300000
    hourly = requests.get(srv.url + "/api/v3/klines", params={"symbol": "ETHUSDT", "interval": "1h",
                                                              "limit": 5}).json()
    assert len(hourly) == 5 and hourly[-1][0] % 3600000 == 0
    # the synthesised history depends only on the seed
    other = ThreadedExchange(TOKEN, seed=7, clock=FakeClock(clock()), tick_interval=None,
                             history_minutes=1000).start()
    try:
        same = requests.get(other.url + "/api/v3/klines",
                            params={"symbol": "BTCUSDT", "interval": "1m", "limit": 499,
                                    "endTime": opens[-2]}).json()
    finally:
        other.stop()
    assert [r[1:6] for r in same] == [r[1:6] for r in rows[:-1]]
    early = requests.get(srv.url + "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m",
                                                             "startTime": 0, "limit": 2}, timeout=5).json()
    assert [r[0] for r in early] == [rows[0][0] - 501 * 60000, rows[0][0] - 500 * 60000]  # 1000 synthesised + current
    bad = requests.get(srv.url + "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "7m"})
    assert err(bad) == (400, -1120)


def test_bad_params_are_json_errors(srv):
    assert err(requests.get(srv.url + "/api/v3/depth")) == (400, -1102)
    assert err(requests.get(srv.url + "/api/v3/depth", params={"symbol": "DOGEUSDT"})) == (400, -1121)
    assert err(requests.get(srv.url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "x"})) == (400, -1100)
    assert err(requests.get(srv.url + "/api/v3/ticker/price", params={"symbols": "nope"})) == (400, -1100)
    assert err(requests.get(srv.url + "/api/v3/ping?a=1&a=2")) == (400, -1101)
    r = requests.get(srv.url + "/api/v3/nothing")
    assert r.status_code == 404 and "code" in r.json() and "X-MBX-USED-WEIGHT-1M" in r.headers
    r = requests.post(srv.url + "/api/v3/ping")
    assert r.status_code == 405 and "code" in r.json()


# ---------------------------------------------------------------------------- weight
def test_weight_header_increments_per_identity(srv, cli):
    r = requests.get(srv.url + "/api/v3/ping")
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    r = requests.get(srv.url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 50})
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "6"
    r = requests.get(srv.url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 500})
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "31"
    r = requests.get(srv.url + "/api/v3/ticker/price")
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "35"
    # with an API key the weight is counted per key, not per address
    r = cli.public("/api/v3/exchangeInfo", key=True)
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "20"
    r = cli.signed("GET", "/api/v3/account")
    assert r.status_code == 200 and r.headers["X-MBX-USED-WEIGHT-1M"] == "40"
    assert requests.get(srv.url + "/api/v3/time").headers["X-MBX-USED-WEIGHT-1M"] == "36"
    # errors carry the header too
    r = requests.get(srv.url + "/api/v3/depth", params={"symbol": "NOPE"})
    assert r.status_code == 400 and "X-MBX-USED-WEIGHT-1M" in r.headers


def test_weight_limit_429_and_retry_after(srv, clock, cli):
    for i in range(60):  # 60 x 20 = 1200: exactly the limit
        r = cli.public("/api/v3/exchangeInfo", key=True)
        assert r.status_code == 200, (i, r.text)
        clock.advance(0.5)  # spread over 30 s
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "1200"
    r = cli.public("/api/v3/ping", key=True)
    assert err(r) == (429, -1003)
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 31  # the oldest entry (30 s ago) frees in ~30 s
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "1200"  # a refused request costs nothing
    # another identity (no key: the client address) is not affected
    assert requests.get(srv.url + "/api/v3/ping").status_code == 200
    clock.advance(retry)
    r = cli.public("/api/v3/ping", key=True)
    assert r.status_code == 200
    assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) <= 1200
    clock.advance(61)
    assert cli.public("/api/v3/ping", key=True).headers["X-MBX-USED-WEIGHT-1M"] == "1"


# ---------------------------------------------------------------------------- signing
def test_signed_account_ok(cli):
    r = cli.signed("GET", "/api/v3/account")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["canTrade"] is True and d["accountType"] == "SPOT"
    bal = {b["asset"]: b for b in d["balances"]}
    assert float(bal["USDT"]["free"]) > 0 and bal["BTC"]["locked"] == "0.00000000"
    # recvWindow explicitly, and signature in the body for a POST
    assert cli.signed("GET", "/api/v3/account", {"recvWindow": 60000}).status_code == 200
    r = cli.signed("POST", "/api/v3/order/test", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                  "quantity": "0.001"}, in_body=True)
    assert r.status_code == 200 and r.json() == {}


def test_signed_mixed_query_and_body(srv, cli):
    q = "symbol=BTCUSDT&side=BUY&type=MARKET"
    body = f"quantity=0.001&timestamp={cli.ts()}"
    sig = cli.sign(q + body)  # Binance totalParams: query string concatenated with the body
    r = requests.post(f"{srv.url}/api/v3/order/test?{q}", data=f"{body}&signature={sig}",
                      headers={"X-MBX-APIKEY": cli.api_key,
                               "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json() == {}, r.text
    r = requests.post(f"{srv.url}/api/v3/order/test?{q}&signature={sig}", data=body,
                      headers={"X-MBX-APIKEY": cli.api_key,
                               "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text


def test_signed_timestamp_errors(cli):
    now = cli.ts()
    assert err(cli.signed("GET", "/api/v3/account", ts=now - 6000)) == (400, -1021)
    assert err(cli.signed("GET", "/api/v3/account", ts=now + 1500)) == (400, -1021)
    assert cli.signed("GET", "/api/v3/account", ts=now + 500).status_code == 200
    assert cli.signed("GET", "/api/v3/account", {"recvWindow": 10000}, ts=now - 6000).status_code == 200
    assert err(cli.signed("GET", "/api/v3/account", {"recvWindow": 60001})) == (400, -1131)
    r = cli.http.get(cli.srv.url + "/api/v3/account", headers={"X-MBX-APIKEY": cli.api_key})
    assert err(r) == (400, -1102)  # no timestamp / signature


def test_signed_key_errors(srv, clock, cli):
    assert err(cli.signed("GET", "/api/v3/account", secret="wrong-secret")) == (401, -2015)
    assert err(cli.signed("GET", "/api/v3/account", api_key="A" * 64)) == (401, -2015)
    assert err(cli.signed("GET", "/api/v3/account", api_key="short-key")) == (401, -2014)
    assert err(cli.signed("GET", "/api/v3/account", headers={})) == (401, -2014)
    # tampering with a signed parameter breaks the signature
    p = f"timestamp={cli.ts()}&recvWindow=5000"
    r = requests.get(f"{srv.url}/api/v3/account?{p.replace('5000', '6000')}&signature={cli.sign(p)}",
                     headers={"X-MBX-APIKEY": cli.api_key})
    assert err(r) == (401, -2015)


# ---------------------------------------------------------------------------- orders
def test_market_order_fills(cli):
    before = {b["asset"]: float(b["free"]) for b in cli.signed("GET", "/api/v3/account").json()["balances"]}
    r = cli.signed("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                             "quantity": "0.01", "newClientOrderId": "close-pos-1"},
                   in_body=True)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "FILLED" and d["clientOrderId"] == "close-pos-1"
    assert d["executedQty"] == d["origQty"] == "0.01000000"
    assert d["fills"] and all(set(f) >= {"price", "qty", "commission", "commissionAsset", "tradeId"}
                              for f in d["fills"])
    total_qty = sum(float(f["qty"]) for f in d["fills"])
    total_quote = sum(float(f["qty"]) * float(f["price"]) for f in d["fills"])
    assert total_qty == pytest.approx(0.01)
    assert float(d["cummulativeQuoteQty"]) == pytest.approx(total_quote, rel=1e-9)
    assert 500 < total_quote < 800
    after = {b["asset"]: float(b["free"]) for b in cli.signed("GET", "/api/v3/account").json()["balances"]}
    assert after["BTC"] == pytest.approx(before["BTC"] + 0.01)
    assert after["USDT"] < before["USDT"] - 500
    # duplicate client order id
    r = cli.signed("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                                             "quantity": "0.01", "newClientOrderId": "close-pos-1"})
    assert err(r) == (400, -2010)
    # query by client id
    q = cli.signed("GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "close-pos-1"}).json()
    assert q["orderId"] == d["orderId"] and q["status"] == "FILLED" and q["type"] == "MARKET"
    # quote order quantity; ACK response type
    r = cli.signed("POST", "/api/v3/order", {"symbol": "SOLUSDT", "side": "SELL", "type": "MARKET",
                                             "quoteOrderQty": "100", "newOrderRespType": "ACK"})
    assert r.status_code == 200 and set(r.json()) == {"symbol", "orderId", "orderListId", "clientOrderId",
                                                       "transactTime"}


def test_limit_order_rest_query_cancel(srv, clock, cli):
    price = float(cli.public("/api/v3/ticker/price", {"symbol": "ETHUSDT"}).json()["price"])
    low = f"{round(price * 0.9, 2):.2f}"
    r = cli.signed("POST", "/api/v3/order", {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                                             "timeInForce": "GTC", "quantity": "0.5", "price": low})
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["status"] == "NEW" and o["fills"] == [] and o["executedQty"] == "0.00000000"
    oid = o["orderId"]
    q = cli.signed("GET", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": oid}).json()
    assert q["status"] == "NEW" and q["price"] == f"{float(low):.8f}" and q["timeInForce"] == "GTC"
    opens = cli.signed("GET", "/api/v3/openOrders", {"symbol": "ETHUSDT"}).json()
    assert [x["orderId"] for x in opens] == [oid]
    assert cli.signed("GET", "/api/v3/openOrders").json()[0]["orderId"] == oid
    acct = {b["asset"]: b for b in cli.signed("GET", "/api/v3/account").json()["balances"]}
    assert float(acct["USDT"]["locked"]) == pytest.approx(0.5 * float(low))
    c = cli.signed("DELETE", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": oid})
    assert c.status_code == 200 and c.json()["status"] == "CANCELED"
    assert c.json()["origClientOrderId"] == o["clientOrderId"]
    assert err(cli.signed("DELETE", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": oid})) == (400, -2011)
    assert cli.signed("GET", "/api/v3/openOrders").json() == []
    acct = {b["asset"]: b for b in cli.signed("GET", "/api/v3/account").json()["balances"]}
    assert acct["USDT"]["locked"] == "0.00000000"
    # unknown orders
    assert err(cli.signed("GET", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": 1})) == (400, -2013)
    assert err(cli.signed("GET", "/api/v3/order", {"symbol": "ETHUSDT", "origClientOrderId": "nope"})) == (400, -2013)
    assert err(cli.signed("DELETE", "/api/v3/order", {"symbol": "ETHUSDT", "origClientOrderId": "nope"})) == (400, -2011)
    assert err(cli.signed("GET", "/api/v3/order", {"symbol": "ETHUSDT"})) == (400, -1102)
    # another account does not see this account's orders
    other = new_key(srv, clock, "node2")
    assert err(other.signed("GET", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": oid})) == (400, -2013)


def test_marketable_limit_and_resting_fill_on_move(srv, clock, cli):
    book = cli.public("/api/v3/depth", {"symbol": "SOLUSDT", "limit": 5}).json()
    ask = float(book["asks"][0][0])
    r = cli.signed("POST", "/api/v3/order", {"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT",
                                             "timeInForce": "GTC", "quantity": "1", "price": f"{ask:.2f}"})
    assert r.json()["status"] == "FILLED" and float(r.json()["fills"][0]["price"]) <= ask
    bid = float(book["bids"][0][0])
    sell_at = f"{bid * 1.03:.2f}"
    r = cli.signed("POST", "/api/v3/order", {"symbol": "SOLUSDT", "side": "SELL", "type": "LIMIT",
                                             "timeInForce": "GTC", "quantity": "2", "price": sell_at,
                                             "newClientOrderId": "tp-1"})
    assert r.json()["status"] == "NEW"
    # IOC that cannot fill expires
    r = cli.signed("POST", "/api/v3/order", {"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT",
                                             "timeInForce": "IOC", "quantity": "1", "price": f"{bid * 0.9:.2f}"})
    assert r.json()["status"] == "EXPIRED"
    # market rallies 10 %: the resting sell fills at its price
    assert lab(srv, "POST", "/_lab/market", {"symbol": "SOLUSDT", "move_percent": 10,
                                             "over_seconds": 0}).status_code == 200
    clock.advance(1)
    srv.call(srv.exchange.tick)
    q = cli.signed("GET", "/api/v3/order", {"symbol": "SOLUSDT", "origClientOrderId": "tp-1"}).json()
    assert q["status"] == "FILLED" and q["executedQty"] == "2.00000000"
    assert float(q["cummulativeQuoteQty"]) == pytest.approx(2 * float(sell_at))


def test_order_validation(cli):
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}
    for qty in ("0", "0.000001", "0.000015", "100000"):
        assert err(cli.signed("POST", "/api/v3/order", dict(base, quantity=qty))) == (400, -1013), qty
    assert err(cli.signed("POST", "/api/v3/order", dict(base, quantity="0.00001"))) == (400, -1013)  # notional
    assert err(cli.signed("POST", "/api/v3/order", dict(base, quantity="-1"))) == (400, -1100)
    assert err(cli.signed("POST", "/api/v3/order", dict(base, quantity="abc"))) == (400, -1100)
    assert err(cli.signed("POST", "/api/v3/order/test", dict(base, quantity="0"))) == (400, -1013)
    assert err(cli.signed("POST", "/api/v3/order", base)) == (400, -1102)
    assert err(cli.signed("POST", "/api/v3/order", dict(base, quantity="0.001", price="1"))) == (400, -1106)
    assert err(cli.signed("POST", "/api/v3/order", dict(base, quantity="0.001", side="HOLD"))) == (400, -1117)
    assert err(cli.signed("POST", "/api/v3/order", dict(base, quantity="0.001", type="STOP"))) == (400, -1116)
    assert err(cli.signed("POST", "/api/v3/order", dict(base, quantity="0.001", symbol="XRPUSDT"))) == (400, -1121)
    lim = dict(base, type="LIMIT", quantity="0.001", price="60000.00")
    assert err(cli.signed("POST", "/api/v3/order", lim)) == (400, -1102)  # timeInForce
    assert err(cli.signed("POST", "/api/v3/order", dict(lim, timeInForce="GTC", price="60000.001"))) == (400, -1013)
    assert err(cli.signed("POST", "/api/v3/order/test",
                          dict(lim, timeInForce="GTC", newClientOrderId="bad id!"))) == (400, -1100)
    assert cli.signed("POST", "/api/v3/order/test", dict(lim, timeInForce="GTC")).json() == {}
    # the test order placed nothing
    assert cli.signed("GET", "/api/v3/openOrders").json() == []


def test_halt_3044(srv, cli):
    r = lab(srv, "POST", "/_lab/status", {"status": 1, "msg": "system maintenance"})
    assert r.status_code == 200 and r.json()["changed"] is True
    assert requests.get(srv.url + "/sapi/v1/system/status").json() == {"status": 1, "msg": "system maintenance"}
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    assert err(cli.signed("POST", "/api/v3/order", order)) == (400, -3044)
    r = cli.signed("POST", "/api/v3/order/test", order)
    assert err(r) == (400, -3044) and "halted" in r.json()["msg"].lower()
    info = requests.get(srv.url + "/api/v3/exchangeInfo").json()
    assert {s["status"] for s in info["symbols"]} == {"BREAK"}
    assert cli.signed("GET", "/api/v3/account").status_code == 200  # reads still work
    assert lab(srv, "POST", "/_lab/status", {"status": 0}).json()["msg"] == "normal"
    assert cli.signed("POST", "/api/v3/order", order).json()["status"] == "FILLED"


# ---------------------------------------------------------------------------- lab controls
def test_lab_token_required(srv):
    for token in (None, "wrong"):
        for method, path in (("GET", "/_lab/state"), ("POST", "/_lab/keys"), ("POST", "/_lab/reset"),
                             ("GET", "/_lab/orders"), ("GET", "/_lab/nothing")):
            r = lab(srv, method, path, {"label": "x"}, token=token)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", (token, path)
    assert lab(srv, "GET", "/_lab/nothing").status_code == 404
    assert lab(srv, "POST", "/_lab/keys", {}).status_code == 400
    assert lab(srv, "POST", "/_lab/status", {"status": 7}).status_code == 400
    assert lab(srv, "POST", "/_lab/market", {"symbol": "DOGE", "move_percent": 1}).status_code == 400
    r = requests.post(srv.url + "/_lab/keys", data="not json", headers={"X-Lab-Token": TOKEN})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_lab_revoke(srv, clock, cli):
    assert cli.signed("GET", "/api/v3/account").status_code == 200
    r = lab(srv, "POST", "/_lab/keys/revoke", {"api_key": cli.api_key})
    assert r.status_code == 200 and r.json()["changed"] is True
    assert err(cli.signed("GET", "/api/v3/account")) == (401, -2015)
    assert lab(srv, "POST", "/_lab/keys/revoke", {"api_key": cli.api_key}).json()["changed"] is False
    assert lab(srv, "POST", "/_lab/keys/revoke", {"api_key": "B" * 64}).status_code == 404
    # a new key for the same label works on the same account
    fresh = new_key(srv, clock, "node1")
    assert fresh.signed("GET", "/api/v3/account").status_code == 200


def test_lab_ban_and_reset(srv, clock, cli):
    r = lab(srv, "POST", "/_lab/ban", {"api_key": cli.api_key, "seconds": 120})
    assert r.status_code == 200
    r = cli.signed("GET", "/api/v3/account")
    assert err(r) == (429, -1003)
    assert 119 <= int(r.headers["Retry-After"]) <= 120
    assert err(cli.public("/api/v3/ping", key=True)) == (429, -1003)
    assert requests.get(srv.url + "/api/v3/ping").status_code == 200  # others unaffected
    clock.advance(30)
    r = cli.signed("GET", "/api/v3/account")
    assert r.status_code == 429 and 89 <= int(r.headers["Retry-After"]) <= 90
    assert lab(srv, "POST", "/_lab/reset").status_code == 200
    assert cli.signed("GET", "/api/v3/account").status_code == 200
    # a ban expires by itself
    lab(srv, "POST", "/_lab/ban", {"api_key": cli.api_key, "seconds": 5})
    assert cli.signed("GET", "/api/v3/account").status_code == 429
    clock.advance(6)
    assert cli.signed("GET", "/api/v3/account").status_code == 200


def test_lab_market_move_and_status(srv, clock):
    p0 = float(requests.get(srv.url + "/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).json()["price"])
    r = lab(srv, "POST", "/_lab/market", {"symbol": "BTCUSDT", "move_percent": -15, "over_seconds": 30})
    assert r.status_code == 200 and r.json()["moves"]["BTCUSDT"]["target"] == pytest.approx(p0 * 0.85, rel=1e-3)
    clock.advance(15)
    srv.call(srv.exchange.tick)
    mid = float(requests.get(srv.url + "/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).json()["price"])
    assert mid == pytest.approx(p0 * 0.925, rel=2e-3)
    clock.advance(15)
    srv.call(srv.exchange.tick)
    end = float(requests.get(srv.url + "/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).json()["price"])
    assert end == pytest.approx(p0 * 0.85, rel=2e-3)
    state = lab(srv, "GET", "/_lab/state").json()
    assert state["prices"]["BTCUSDT"]["move"] is None  # finished: the random walk resumes
    clock.advance(1)
    srv.call(srv.exchange.tick)
    walk = float(requests.get(srv.url + "/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).json()["price"])
    assert walk == pytest.approx(end, rel=3e-3)
    # all symbols at once; reset stops the move where it is
    eth0 = float(requests.get(srv.url + "/api/v3/ticker/price", params={"symbol": "ETHUSDT"}).json()["price"])
    r = lab(srv, "POST", "/_lab/market", {"move_percent": 20, "over_seconds": 100})
    assert set(r.json()["moves"]) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    clock.advance(10)
    srv.call(srv.exchange.tick)
    assert lab(srv, "GET", "/_lab/state").json()["prices"]["ETHUSDT"]["move"] is not None
    lab(srv, "POST", "/_lab/reset")
    assert all(v["move"] is None for v in lab(srv, "GET", "/_lab/state").json()["prices"].values())
    eth1 = float(requests.get(srv.url + "/api/v3/ticker/price", params={"symbol": "ETHUSDT"}).json()["price"])
    assert eth1 == pytest.approx(eth0 * 1.02, rel=5e-3)
    # klines see the crash: the last 1m candles span the move
    kl = requests.get(srv.url + "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m",
                                                          "limit": 3}).json()
    assert min(float(k[3]) for k in kl) < p0 * 0.86


def test_lab_state_and_orders(srv, clock, cli):
    cli.signed("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                         "quantity": "0.001", "newClientOrderId": "s-1"})
    cli.signed("GET", "/api/v3/account")
    r = lab(srv, "GET", "/_lab/state")
    assert r.status_code == 200
    st = r.json()
    assert cli.secret not in r.text and "secret" not in r.text
    acct = st["accounts"]["node1"]
    assert acct["keys"][0]["api_key"] == cli.api_key and acct["keys"][0]["revoked"] is False
    assert acct["keys"][0]["used_weight_1m"] == 21
    assert acct["orders"]["total"] == 1 and acct["orders"]["filled"] == 1
    assert st["status"]["status"] == 0 and set(st["prices"]) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    orders = lab(srv, "GET", "/_lab/orders?label=node1").json()
    assert orders["count"] == 1 and orders["orders"][0]["clientOrderId"] == "s-1"
    assert orders["orders"][0]["label"] == "node1"
    assert lab(srv, "GET", "/_lab/orders?label=nobody").status_code == 404
    assert lab(srv, "GET", "/_lab/orders").json()["count"] == 1


def test_lab_keys_with_given_values_and_keys_file(tmp_path, clock):
    keys_file = tmp_path / "keys.json"
    api_key, secret = "K" * 64, "s3cret"
    with ThreadedExchange(TOKEN, clock=clock, tick_interval=None, history_minutes=600,
                          keys_file=str(keys_file)) as s:
        r = lab(s, "POST", "/_lab/keys", {"label": "node3", "api_key": api_key, "secret": secret,
                                          "balances": {"USDT": 5000}})
        assert r.json() == {"label": "node3", "api_key": api_key, "secret": secret}
        # idempotent for the same values, conflict otherwise
        assert lab(s, "POST", "/_lab/keys", {"label": "node3", "api_key": api_key}).status_code == 200
        assert lab(s, "POST", "/_lab/keys", {"label": "other", "api_key": api_key}).status_code == 409
        c = Client(s, clock, api_key, secret)
        bal = {b["asset"]: b["free"] for b in c.signed("GET", "/api/v3/account").json()["balances"]}
        assert bal["USDT"] == "5000.00000000"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(keys_file.read_text())["keys"][0]["api_key"] == api_key
    # a restarted exchange knows the key
    with ThreadedExchange(TOKEN, clock=clock, tick_interval=None, history_minutes=600,
                          keys_file=str(keys_file)) as s:
        assert Client(s, clock, api_key, secret).signed("GET", "/api/v3/account").status_code == 200


# ---------------------------------------------------------------------------- websocket
def test_websocket_pushes_ticker_and_depth():
    import aiohttp

    async def run(url: str) -> list[dict]:
        got = []
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url + "/ws?streams=btcusdt@ticker/btcusdt@depth20") as ws:
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and len(got) < 6:
                    msg = await ws.receive(timeout=3)
                    assert msg.type == aiohttp.WSMsgType.TEXT
                    got.append(json.loads(msg.data))
                await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 3}))
                seen_reply = seen_eth = False
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not (seen_reply and seen_eth):
                    d = json.loads((await ws.receive(timeout=3)).data)
                    seen_reply |= d == {"result": None, "id": 3}
                    seen_eth |= d.get("stream") == "ethusdt@bookTicker"
                assert seen_reply and seen_eth
            # an unknown stream is refused before the upgrade
            async with http.get(url + "/ws?streams=btcusdt@nothing") as r:
                assert r.status == 400
        return got

    with ThreadedExchange(TOKEN, tick_interval=0.2, history_minutes=600) as s:
        msgs = asyncio.run(run(s.ws_url))
        state = lab(s, "GET", "/_lab/state").json()
    streams = [m["stream"] for m in msgs]
    assert streams.count("btcusdt@ticker") >= 2 and streams.count("btcusdt@depth20") >= 2
    tick = next(m["data"] for m in msgs if m["stream"] == "btcusdt@ticker")
    assert tick["e"] == "24hrTicker" and tick["s"] == "BTCUSDT" and float(tick["c"]) > 0
    assert {"b", "a", "o", "h", "l", "v", "q", "E"} <= set(tick)
    depths = [m["data"] for m in msgs if m["stream"] == "btcusdt@depth20"]
    assert all(len(d["bids"]) == 20 and len(d["asks"]) == 20 for d in depths)
    assert depths[-1]["lastUpdateId"] > depths[0]["lastUpdateId"]  # pushed again after ticks
    assert state["websocket_clients"] == 0 and state["ticks"] >= 2


# ---------------------------------------------------------------------------- CLI
def test_cli_serves_and_exits_on_sigterm(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("cli-token\n")
    env = dict(os.environ, PYTHONPATH=str(LAB_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "genesis_lab.exchange", "--host", "127.0.0.1",
                             "--port", "0", "--token-file", str(token_file), "--seed", "3",
                             "--history-minutes", "600"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        port = None
        lines = []
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            rec = json.loads(line)
            assert {"timestamp", "level", "event", "logger"} <= set(rec)
            if rec["event"] == "exchange.started":
                port = rec["addresses"][0][1]
        assert port, lines
        url = f"http://127.0.0.1:{port}"
        assert requests.get(url + "/api/v3/ping", timeout=5).json() == {}
        r = requests.post(url + "/_lab/keys", json={"label": "n1"}, headers={"X-Lab-Token": "cli-token"})
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        rest = proc.stderr.read()
        assert '"exchange.stopped"' in rest
        assert "Traceback" not in "".join(lines) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_missing_token(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(LAB_DIR))
    r = subprocess.run([sys.executable, "-m", "genesis_lab.exchange", "--port", "0",
                        "--token-file", str(tmp_path / "missing")], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 2 and "exchange.token_unreadable" in r.stderr
