"""`genesis_exit`: supervisor event listener (READY / RESULT protocol on stdin/stdout).

Fires for programs of the `genesis` group on PROCESS_STATE_EXITED with expected:0 (an
unexpected exit: a kill or a crash) and on PROCESS_STATE_FATAL. It records only: one line
in `.genesis/state/emergency_close_requests.jsonl`, the log line `Emergency close requested`
(genesis.log, level critical) and an `EMERGENCY_CLOSE_REQUESTED` events row on
`system:<node>` (best effort when the database is down). Nothing is closed."""
from __future__ import annotations

import json
import sys
from typing import IO

from genesis_lab.node.common import JsonLog, Settings, iso, json_default

WATCHED_GROUP = "genesis"


def parse_header(line: str) -> dict[str, str]:
    return dict(tok.split(":", 1) for tok in line.strip().split() if ":" in tok)


def parse_payload(payload: str) -> dict[str, str]:
    first = payload.split("\n", 1)[0]
    return dict(tok.split(":", 1) for tok in first.strip().split() if ":" in tok)


def should_fire(eventname: str, payload: dict[str, str]) -> bool:
    if payload.get("groupname") != WATCHED_GROUP:
        return False
    if eventname == "PROCESS_STATE_FATAL":
        return True
    if eventname == "PROCESS_STATE_EXITED":
        return payload.get("expected") == "0"
    return False


class Listener:
    def __init__(self, home: str):
        self.s = Settings(home)
        self.log = JsonLog(self.s.logs_dir, "genesis.log", "genesis.listener", self.s.node, "genesis_exit")
        self.alog = self.log.child("audit.log", "audit")

    def fire(self, eventname: str, payload: dict[str, str]) -> dict:
        rec = {"timestamp": iso(), "node": self.s.node, "event": eventname,
               "processname": payload.get("processname"), "groupname": payload.get("groupname"),
               "from_state": payload.get("from_state"), "expected": payload.get("expected"),
               "pid": payload.get("pid"), "action": "emergency_close_requested", "executed": False}
        path = self.s.state_dir / "emergency_close_requests.jsonl"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, default=json_default) + "\n")
        except OSError as exc:
            sys.stderr.write(f"genesis_exit: cannot append {path}: {exc}\n")
        self.log.critical("Emergency close requested", program=f"{payload.get('groupname')}:{payload.get('processname')}",
                          supervisor_event=eventname, from_state=payload.get("from_state"),
                          expected=payload.get("expected"), exited_pid=payload.get("pid"))
        self.write_event(rec)
        return rec

    def write_event(self, rec: dict) -> None:
        if not self.s.db_url:
            return
        try:
            from genesis_lab.node.audit import Audit
            from genesis_lab.node.common import Database, DbDown
            db = Database(self.s.db_url, f"genesis-listener-{self.s.node}")
            try:
                Audit(db, self.alog, None, self.log).write(
                    "EMERGENCY_CLOSE_REQUESTED", f"system:{self.s.node}",
                    {k: rec[k] for k in ("event", "processname", "groupname", "from_state", "expected", "pid")}
                    | {"actor": "genesis_exit", "node": self.s.node})
            finally:
                db.close()
        except DbDown as exc:
            self.log.error("Emergency close event not written", error=str(exc))
        except Exception as exc:  # noqa: BLE001
            self.log.error("Emergency close event not written", error=f"{type(exc).__name__}: {exc}")

    def serve(self, stdin: IO[str], stdout: IO[str]) -> int:
        while True:
            stdout.write("READY\n")
            stdout.flush()
            line = stdin.readline()
            if not line:
                return 0
            header = parse_header(line)
            try:
                length = int(header.get("len", "0"))
            except ValueError:
                length = 0
            payload_raw = stdin.read(length) if length else ""
            try:
                payload = parse_payload(payload_raw)
                eventname = header.get("eventname", "")
                if should_fire(eventname, payload):
                    self.fire(eventname, payload)
            except Exception as exc:  # noqa: BLE001
                sys.stderr.write(f"genesis_exit: {type(exc).__name__}: {exc}\n")
            stdout.write("RESULT 2\nOK")
            stdout.flush()


def run(home: str) -> int:
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    return Listener(home).serve(sys.stdin, sys.stdout)
