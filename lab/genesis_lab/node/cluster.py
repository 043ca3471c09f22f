"""Cluster membership (contract 3.10), as pure logic; the main program does the I/O.

- Start: primary when every configured peer answered, none claims a live unfenced primary
  and this node has the lowest priority (name breaks ties); otherwise standby, and the
  ordinary election below settles it. A node fenced in `cluster.json` starts fenced.
- Every second: a primary (unfenced) renews its lease; a standby that has not seen a live,
  unfenced primary for `lease_ttl` seconds promotes itself with `term + 1`, unless a
  reachable unfenced standby with a lower priority exists (that one promotes instead).
- Split brain: this node and a reachable peer both claim primary, neither fenced. It is
  reported until one of them is demoted or fenced; nobody steps down on its own.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Peer:
    name: str
    url: str
    reachable: bool = False
    role: str | None = None
    term: int = 0
    fenced: bool = False
    priority: int | None = None
    last_seen: float | None = None
    lease_expires_ts: float | None = None
    last_event_id: int | None = None

    def live_primary(self) -> bool:
        return self.reachable and self.role == "primary" and not self.fenced

    def update(self, info: dict | None, now: float) -> None:
        if info is None:
            self.reachable = False
            return
        self.reachable = True
        self.last_seen = now
        self.role = info.get("role")
        try:
            self.term = int(info.get("term") or 0)
        except (TypeError, ValueError):
            self.term = 0
        self.fenced = bool(info.get("fenced"))
        p = info.get("priority")
        self.priority = int(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else None
        self.lease_expires_ts = info.get("lease_expires_ts")
        self.last_event_id = info.get("last_event_id")


def _rank(priority: int | None, name: str) -> tuple:
    return (priority if priority is not None else 1 << 30, name)


@dataclass
class ClusterMember:
    node: str
    cluster: str
    priority: int
    lease_ttl: float
    peers: dict[str, Peer] = field(default_factory=dict)
    role: str = "standby"
    term: int = 0
    fenced: bool = False
    fenced_at: str | None = None
    fenced_by: str | None = None
    last_state_change: float = field(default_factory=time.time)
    last_primary_seen: float = field(default_factory=time.time)
    lease_holder: str | None = None
    lease_term: int = 0
    lease_expires: float = 0.0
    split_brain: bool = False

    @classmethod
    def create(cls, node: str, cluster: str, priority: int, lease_ttl: float, peers: list[dict],
               persisted: dict | None = None, now: float | None = None) -> "ClusterMember":
        now = time.time() if now is None else now
        m = cls(node=node, cluster=cluster, priority=priority, lease_ttl=lease_ttl,
                peers={p["name"]: Peer(p["name"], p["url"]) for p in peers if p["name"] != node},
                last_state_change=now, last_primary_seen=now)
        persisted = persisted or {}
        try:
            m.term = int(persisted.get("term") or 0)
        except (TypeError, ValueError):
            m.term = 0
        m.fenced = bool(persisted.get("fenced"))
        m.fenced_at = persisted.get("fenced_at")
        m.fenced_by = persisted.get("fenced_by")
        return m

    def set_peers(self, peers: list[dict]) -> None:
        new = {}
        for p in peers:
            if p["name"] == self.node:
                continue
            old = self.peers.get(p["name"])
            if old is not None and old.url == p["url"]:
                new[p["name"]] = old
            else:
                new[p["name"]] = Peer(p["name"], p["url"])
        self.peers = new

    # ---------------------------------------------------------------- decisions
    def start(self, infos: dict[str, dict | None], now: float | None = None) -> list[str]:
        """Initial role from one round of peer answers (None = unreachable)."""
        now = time.time() if now is None else now
        for name, peer in self.peers.items():
            peer.update(infos.get(name), now)
        known_terms = [p.term for p in self.peers.values() if p.reachable]
        self.term = max([self.term] + known_terms)
        live = [p for p in self.peers.values() if p.live_primary()]
        all_reachable = all(p.reachable for p in self.peers.values())
        lowest = all(_rank(self.priority, self.node) < _rank(p.priority, p.name)
                     for p in self.peers.values() if p.reachable)
        if not self.fenced and not live and all_reachable and lowest:
            self.role = "primary"
            self.term = max(self.term, 1)
        else:
            self.role = "standby"
        self.last_state_change = now
        self.last_primary_seen = now
        self._lease(now)
        return [f"started as {self.role}"]

    def observe(self, infos: dict[str, dict | None], now: float | None = None) -> list[str]:
        """One membership round. Returns what happened: 'promoted', 'split_brain',
        'split_brain_cleared'."""
        now = time.time() if now is None else now
        events: list[str] = []
        for name, peer in self.peers.items():
            peer.update(infos.get(name), now)
        live = [p for p in self.peers.values() if p.live_primary()]
        if self.role == "standby":
            if live:
                self.last_primary_seen = now
                top = max(live, key=lambda p: p.term)
                self.term = max(self.term, top.term)
            elif not self.fenced and now - self.last_primary_seen >= self.lease_ttl:
                better = [p for p in self.peers.values()
                          if p.reachable and not p.fenced and p.role == "standby"
                          and _rank(p.priority, p.name) < _rank(self.priority, self.node)]
                if not better:
                    known = [p.term for p in self.peers.values() if p.reachable] + [self.term]
                    self.term = max(known) + 1
                    self.role = "primary"
                    self.last_state_change = now
                    events.append("promoted")
        split = self.role == "primary" and not self.fenced and bool(live)
        if split and not self.split_brain:
            events.append("split_brain")
        elif not split and self.split_brain:
            events.append("split_brain_cleared")
        self.split_brain = split
        self._lease(now)
        return events

    def _lease(self, now: float) -> None:
        if self.role == "primary" and not self.fenced:
            self.lease_holder, self.lease_term, self.lease_expires = self.node, self.term, now + self.lease_ttl
            return
        live = [p for p in self.peers.values() if p.live_primary()]
        if live:
            top = max(live, key=lambda p: p.term)
            self.lease_holder, self.lease_term = top.name, top.term
            self.lease_expires = now + self.lease_ttl
        elif self.lease_holder == self.node:
            self.lease_expires = min(self.lease_expires, now)

    # ---------------------------------------------------------------- operator actions
    def snapshot(self) -> dict:
        return {"role": self.role, "term": self.term, "fenced": self.fenced}

    def set_role(self, role: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if role == self.role:
            return False
        if role == "primary":
            known = [p.term for p in self.peers.values() if p.reachable] + [self.term]
            self.term = max(known) + 1
        self.role = role
        self.last_state_change = now
        self.last_primary_seen = now
        self._lease(now)
        if role == "standby" and self.lease_holder == self.node:
            self.lease_expires = now
        return True

    def set_fenced(self, fenced: bool, by: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if fenced == self.fenced:
            return False
        from genesis_lab.node.common import iso
        self.fenced = fenced
        self.fenced_at = iso(now) if fenced else None
        self.fenced_by = by if fenced else None
        self.last_state_change = now
        self.last_primary_seen = now
        if fenced:
            self.split_brain = False
            if self.lease_holder == self.node:
                self.lease_expires = now
        else:
            self._lease(now)
        return True

    def persisted(self) -> dict:
        return {"role": self.role, "term": self.term, "fenced": self.fenced, "fenced_at": self.fenced_at,
                "fenced_by": self.fenced_by}

    def is_active_primary(self) -> bool:
        return self.role == "primary" and not self.fenced

    def peer_view(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {p.name: {"url": p.url, "reachable": p.reachable, "role": p.role, "term": p.term,
                         "fenced": p.fenced,
                         "last_seen_age_s": round(now - p.last_seen, 3) if p.last_seen else None}
                for p in self.peers.values()}
