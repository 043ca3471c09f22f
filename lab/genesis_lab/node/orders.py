"""Orders and positions: creation (strategies, emergency close), submission to the exchange
and recording of the answer (executor, emergency close), with their audit events
(contract 4.3: ORDER_CREATED / ORDER_SUBMITTED / ORDER_FILLED|ORDER_REJECTED,
POSITION_OPENED / POSITION_CLOSED / POSITION_REDUCED)."""
from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

from genesis_lab.node.audit import Audit, insert_event
from genesis_lab.node.common import Database, num
from genesis_lab.node.exchange_client import ExchangeClient, ExchangeResponse, fill_price

# Lot sizes of the lab exchange (same as the seed data); other symbols use DEFAULT_STEP.
QTY_STEP = {"BTCUSDT": Decimal("0.00001"), "ETHUSDT": Decimal("0.0001"), "SOLUSDT": Decimal("0.001")}
DEFAULT_STEP = Decimal("0.001")
Q8 = Decimal("0.00000001")

ORDER_COLUMNS = ("order_id, account_id, position_id, client_order_id, exchange_order_id, symbol, type, side, "
                 "price, quantity, filled_quantity, status, last_error, strategy, node, created_at, executed_at")


def round_qty(symbol: str, qty: float | Decimal) -> Decimal:
    step = QTY_STEP.get(symbol, DEFAULT_STEP)
    q = Decimal(str(qty))
    return (q / step).to_integral_value(rounding=ROUND_DOWN) * step


def fmt_qty(q: Any) -> str:
    d = Decimal(str(q)).quantize(Q8).normalize()
    s = format(d, "f")
    return s


def new_ids(node: str) -> tuple[str, str]:
    u = uuid.uuid4().hex
    return f"ord-{node}-{u[:12]}", f"gl{node}{u[:14]}"[:36]


def create_order(db: Database, audit: Audit, *, account_id: str, node: str, symbol: str, side: str,
                 quantity: Decimal, strategy: str | None, position_id: str | None = None,
                 order_type: str = "MARKET", price: Decimal | None = None,
                 status: str = "PENDING") -> dict:
    order_id, client_id = new_ids(node)
    with db.tx() as cur:
        cur.execute(
            f"INSERT INTO orders (order_id, account_id, position_id, client_order_id, symbol, type, side, price, "
            f"quantity, status, strategy, node) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING {ORDER_COLUMNS}",
            (order_id, account_id, position_id, client_id, symbol, order_type, side, price, quantity, status,
             strategy, node))
        order = Database.rows(cur)[0]
        ev = insert_event(cur, "ORDER_CREATED", f"order:{order_id}", {
            "order_id": order_id, "client_order_id": client_id, "symbol": symbol, "side": side,
            "type": order_type, "quantity": float(quantity), "price": num(price), "strategy": strategy,
            "position_id": position_id, "node": node})
    audit.emit(ev)
    return order


def submit(exchange: ExchangeClient, order: dict) -> ExchangeResponse:
    params = {"symbol": order["symbol"], "side": order["side"], "type": order["type"],
              "quantity": fmt_qty(order["quantity"]), "newClientOrderId": order["client_order_id"],
              "newOrderRespType": "FULL"}
    if order["type"] in ("LIMIT", "STOP_LIMIT") and order.get("price") is not None:
        params["price"] = fmt_qty(order["price"])
        params["timeInForce"] = "GTC"
        if order["type"] == "STOP_LIMIT":
            params["type"] = "STOP_LOSS_LIMIT"
            params["stopPrice"] = fmt_qty(order["price"])
    return exchange.request("POST", "/api/v3/order", params, signed=True)


def classify(resp: ExchangeResponse) -> str:
    """FILLED | PARTIAL | OPEN (accepted, not filled) | REJECTED | FAILED | RATE_LIMITED | UNREACHABLE"""
    if resp.status == 0:
        return "UNREACHABLE"
    if resp.status in (429, 418):
        return "RATE_LIMITED"
    if resp.status >= 500:
        return "FAILED"
    if not resp.ok or not isinstance(resp.data, dict):
        return "REJECTED"
    st = str(resp.data.get("status", "FILLED")).upper()
    executed = num(resp.data.get("executedQty"))
    if st == "FILLED" or (executed and st not in ("PARTIALLY_FILLED",)):
        return "FILLED"
    if st == "PARTIALLY_FILLED":
        return "PARTIAL"
    if st in ("REJECTED", "EXPIRED", "CANCELED", "CANCELLED"):
        return "REJECTED"
    return "OPEN"


def record_result(db: Database, audit: Audit, order: dict, resp: ExchangeResponse, outcome: str,
                  close_reason: str | None = None, fallback_price: float | None = None) -> dict:
    """Write the order's new state (and its position effects) for a final outcome.
    Returns {status, price, exchange_order_id, position_id, error, position_event}."""
    order_id = order["order_id"]
    agg = f"order:{order_id}"
    events: list[dict] = []
    result: dict[str, Any] = {"status": outcome, "price": None, "exchange_order_id": None,
                              "position_id": order.get("position_id"), "error": None}
    if outcome in ("FILLED", "PARTIAL"):
        data = resp.data or {}
        price = fill_price(data, fallback_price)
        executed = num(data.get("executedQty")) or float(order["quantity"])
        exo = str(data.get("orderId")) if data.get("orderId") is not None else None
        result.update(price=price, exchange_order_id=exo, filled_quantity=executed)
        with db.tx() as cur:
            cur.execute("UPDATE orders SET status=%s, filled_quantity=%s, price=%s, exchange_order_id=%s, "
                        "executed_at=now(), last_error=NULL WHERE order_id=%s",
                        (outcome, Decimal(str(executed)), Decimal(str(price)) if price is not None else None,
                         exo, order_id))
            events.append(insert_event(cur, "ORDER_FILLED", agg, {
                "order_id": order_id, "exchange_order_id": exo, "filled_quantity": executed, "price": price,
                "status": outcome}))
            pos_ev = _position_effect(cur, order, Decimal(str(executed)),
                                      Decimal(str(price)) if price is not None else None, close_reason)
            if pos_ev is not None:
                events.append(pos_ev)
                result["position_id"] = pos_ev["aggregate_id"].split(":", 1)[1]
                result["position_event"] = pos_ev["event_type"]
    else:
        error = resp.describe()
        result["error"] = error
        status = "FAILED" if outcome == "FAILED" else "REJECTED"
        result["status"] = status
        with db.tx() as cur:
            cur.execute("UPDATE orders SET status=%s, last_error=%s, executed_at=NULL WHERE order_id=%s",
                        (status, error[:500], order_id))
            events.append(insert_event(cur, "ORDER_REJECTED", agg, {
                "order_id": order_id, "reason": error, "code": resp.code, "http_status": resp.status,
                "status": status}))
    for ev in events:
        audit.emit(ev)
    return result


def _position_effect(cur, order: dict, qty: Decimal, price: Decimal | None, close_reason: str | None):
    if price is None:
        return None
    pid = order.get("position_id")
    if pid is None:
        if order["side"] != "BUY":
            return None
        pid = f"pos-{order['node'] or 'node'}-{uuid.uuid4().hex[:12]}"
        value = (price * qty).quantize(Q8)
        cur.execute("INSERT INTO positions (position_id, account_id, symbol, side, entry_price, current_price, "
                    "quantity, dollar_value, pnl_dollars, status) VALUES (%s,%s,%s,'LONG',%s,%s,%s,%s,0,'OPEN')",
                    (pid, order["account_id"], order["symbol"], price, price, qty, value))
        cur.execute("UPDATE orders SET position_id=%s WHERE order_id=%s", (pid, order["order_id"]))
        return insert_event(cur, "POSITION_OPENED", f"position:{pid}", {
            "position_id": pid, "symbol": order["symbol"], "side": "LONG", "entry_price": float(price),
            "quantity": float(qty), "order_id": order["order_id"]})
    cur.execute("SELECT position_id, side, entry_price, quantity, status, account_id FROM positions "
                "WHERE position_id=%s FOR UPDATE", (pid,))
    rows = Database.rows(cur)
    if not rows or rows[0]["status"] != "OPEN":
        return None
    p = rows[0]
    closing = (p["side"] == "LONG" and order["side"] == "SELL") or (p["side"] == "SHORT" and order["side"] == "BUY")
    sign = Decimal(1) if p["side"] == "LONG" else Decimal(-1)
    if not closing:
        new_qty = p["quantity"] + qty
        entry = ((p["entry_price"] * p["quantity"] + price * qty) / new_qty).quantize(Q8)
        cur.execute("UPDATE positions SET quantity=%s, entry_price=%s, current_price=%s, dollar_value=%s, "
                    "updated_at=now() WHERE position_id=%s", (new_qty, entry, price, (price * new_qty).quantize(Q8), pid))
        return insert_event(cur, "POSITION_INCREASED", f"position:{pid}", {
            "position_id": pid, "quantity": float(new_qty), "entry_price": float(entry), "order_id": order["order_id"]})
    close_qty = min(qty, p["quantity"])
    pnl = ((price - p["entry_price"]) * close_qty * sign).quantize(Q8)
    remaining = p["quantity"] - close_qty
    if remaining <= p["quantity"] * Decimal("0.000001"):
        reason = close_reason or ("take_profit" if pnl >= 0 else "stop_loss")
        cur.execute("UPDATE positions SET status='CLOSED', close_reason=%s, closed_at=now(), updated_at=now(), "
                    "current_price=%s, pnl_dollars=%s, dollar_value=%s WHERE position_id=%s",
                    (reason, price, pnl, (price * p["quantity"]).quantize(Q8), pid))
        ev_type, data = "POSITION_CLOSED", {"position_id": pid, "close_reason": reason, "exit_price": float(price),
                                            "pnl_dollars": float(pnl), "order_id": order["order_id"]}
    else:
        cur.execute("UPDATE positions SET quantity=%s, current_price=%s, dollar_value=%s, updated_at=now() "
                    "WHERE position_id=%s", (remaining, price, (price * remaining).quantize(Q8), pid))
        ev_type, data = "POSITION_REDUCED", {"position_id": pid, "quantity": float(remaining),
                                             "exit_price": float(price), "pnl_dollars": float(pnl),
                                             "order_id": order["order_id"]}
    cur.execute("UPDATE accounts SET balance_usdt = balance_usdt + %s WHERE account_id=%s", (pnl, p["account_id"]))
    if pnl < 0:
        cur.execute("UPDATE tilt_profiles SET consecutive_losses = consecutive_losses + 1 WHERE account_id=%s",
                    (p["account_id"],))
    else:
        cur.execute("UPDATE tilt_profiles SET consecutive_losses = 0 WHERE account_id=%s", (p["account_id"],))
    return insert_event(cur, ev_type, f"position:{pid}", data)


def mark_submitted(db: Database, audit: Audit, order: dict, extra: dict | None = None) -> None:
    data = {"order_id": order["order_id"], "client_order_id": order["client_order_id"]}
    data.update(extra or {})
    audit.write("ORDER_SUBMITTED", f"order:{order['order_id']}", data)


def note_error(db: Database, order_id: str, error: str) -> None:
    db.query("UPDATE orders SET last_error=%s WHERE order_id=%s AND status='PENDING'", (error[:500], order_id))
