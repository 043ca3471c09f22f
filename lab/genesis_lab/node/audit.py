"""The audit trail writer (contract 4.3): `events` rows with per-aggregate sequence numbers
(no gaps, serialized with a transaction-level advisory lock on the aggregate), each also
written to audit.log. With verification on (Redis `genesis:audit:verification` field
`enabled`), every write is read back and compared."""
from __future__ import annotations

import json
import time
from typing import Any

from genesis_lab.node.common import Database, DbDown, JsonLog, iso, json_default

VERIFY_KEY = "genesis:audit:verification"

INSERT_SQL = (
    "INSERT INTO events (event_type, aggregate_id, event_data, sequence_number) "
    "VALUES (%s, %s, %s::jsonb, (SELECT COALESCE(MAX(sequence_number), 0) + 1 FROM events "
    "WHERE aggregate_id = %s)) "
    "RETURNING event_id, event_type, aggregate_id, event_data, sequence_number, created_at")


def insert_event(cur, event_type: str, aggregate_id: str, data: dict) -> dict:
    """Insert inside the caller's transaction (the advisory lock lasts until it commits)."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (aggregate_id,))
    cur.execute(INSERT_SQL, (event_type, aggregate_id, json.dumps(data, default=json_default), aggregate_id))
    row = Database.rows(cur)[0]
    return row


class Audit:
    def __init__(self, db: Database, alog: JsonLog, r=None, log: JsonLog | None = None):
        self.db = db
        self.alog = alog
        self.r = r
        self.log = log
        self._verify_cache: tuple[float, bool] = (0.0, False)

    def verification_enabled(self) -> bool:
        if self.r is None:
            return False
        at, val = self._verify_cache
        if time.monotonic() - at < 2.0:
            return val
        try:
            v = self.r.hget(VERIFY_KEY, "enabled")
            val = str(v).strip().lower() in ("1", "true", "yes", "on")
        except Exception:  # noqa: BLE001
            pass
        self._verify_cache = (time.monotonic(), val)
        return val

    def invalidate(self) -> None:
        self._verify_cache = (0.0, False)

    def write(self, event_type: str, aggregate_id: str, data: dict) -> dict:
        """Own transaction; retries a sequence-number collision with a writer that does not
        take the advisory lock. Raises DbDown when the database is down."""
        import psycopg2
        last_exc: Exception | None = None
        for _ in range(5):
            try:
                with self.db.tx() as cur:
                    row = insert_event(cur, event_type, aggregate_id, data)
                self.emit(row)
                return row
            except psycopg2.IntegrityError as exc:
                last_exc = exc
                time.sleep(0.05)
        raise DbDown(f"could not write event: {last_exc}")

    def try_write(self, event_type: str, aggregate_id: str, data: dict) -> dict | None:
        try:
            return self.write(event_type, aggregate_id, data)
        except DbDown as exc:
            if self.log is not None:
                self.log.error("Audit event not written", event_type=event_type, aggregate_id=aggregate_id,
                               error=str(exc))
            return None

    def emit(self, row: dict) -> None:
        """audit.log line (after commit) and the optional read-back verification."""
        created = iso(row["created_at"])
        self.alog.write_raw({"timestamp": created, "level": "info", "event": "audit_event", "logger": "audit",
                             "event_id": row["event_id"], "event_type": row["event_type"],
                             "aggregate_id": row["aggregate_id"], "sequence_number": row["sequence_number"],
                             "event_data": row["event_data"], "created_at": created})
        if self.verification_enabled():
            self.verify(row)

    def verify(self, row: dict) -> bool:
        try:
            back = self.db.one("SELECT event_id, event_type, aggregate_id, event_data, sequence_number "
                               "FROM events WHERE event_id = %s", (row["event_id"],))
        except DbDown as exc:
            back = None
            err = str(exc)
        else:
            err = None
        ok = back is not None and all(back[k] == row[k] for k in
                                      ("event_type", "aggregate_id", "sequence_number")) and \
            json.dumps(back["event_data"], sort_keys=True, default=json_default) == \
            json.dumps(row["event_data"], sort_keys=True, default=json_default)
        if not ok and self.log is not None:
            self.log.error("Audit verification failed", event_id=row["event_id"],
                           aggregate_id=row["aggregate_id"], error=err or "read-back differs")
        return ok


def system_aggregate(node: str) -> str:
    return f"system:{node}"


def event_row_json(row: dict) -> dict[str, Any]:
    return {"event_id": row["event_id"], "event_type": row["event_type"], "aggregate_id": row["aggregate_id"],
            "event_data": row["event_data"], "sequence_number": row["sequence_number"],
            "created_at": iso(row["created_at"])}
