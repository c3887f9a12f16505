"""Load with faults: many concurrent clients doing a realistic mix against several
`botyard serve` worker processes on PostgreSQL, while worker processes are killed at
random (gunicorn starts new ones). At the end every invariant must hold:

- exactly one owner per workspace, and it is the workspace's owner column;
- no workspace has more bots than its plan allows;
- messages acknowledged (200) = messages stored = messages counted;
- every workspace's audit chain verifies;
- no 5xx answer other than around a kill.

Bounded in time and only ever sends to 127.0.0.1. Writes a "## Soak" section to
docs/benchmarks.md unless --no-docs.

    .venv/bin/python bench/soak.py [--seconds 120] [--clients 12] [--workers 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import (
    HOST,
    Server,
    _botyard_command,
    _children,
    machine,
    running_server,
)

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "soak-lantern-7093"
KILL_WINDOW = 4.0  # seconds around a kill in which failed requests are expected
DEFINITION = {
    "format": 1,
    "greeting": "Hi!",
    "fallback": "Sorry?",
    "intents": [
        {"name": "hours", "examples": ["when are you open"], "reply": "9 to 5."},
        {"name": "price", "examples": ["how much is it"], "reply": "$10."},
    ],
}


class Http:
    """A keep-alive connection that reports failures instead of raising."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str = "",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
            self.conn.request(method, "/api/v1" + path, body=data, headers=sent)
            response = self.conn.getresponse()
            raw = response.read()
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return response.status, json.loads(raw) if raw else None
        except (OSError, http.client.HTTPException, json.JSONDecodeError):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return 0, None  # connection refused/reset: a killed worker


@dataclass
class Tenant:
    owner_email: str
    token: str
    workspace_id: str
    bots: list[str]
    keys: dict[str, str]


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    # (started, ended, kind, status) of each request answered 5xx or not at all
    failures: list[tuple[float, float, str, int]] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    kills: list[float] = field(default_factory=list)

    def record(self, kind: str, status: int, seconds: float) -> None:
        with self.lock:
            self.counts[f"{kind} {status}"] += 1
            self.latencies.setdefault(kind, []).append(seconds)
            if status == 0 or status >= 500:
                ended = time.monotonic()
                self.failures.append((ended - seconds, ended, kind, status))


def provision(port: int, tenants: int) -> list[Tenant]:
    http = Http(port)
    made = []
    for n in range(tenants):
        email = f"soak{n}@example.test"
        http.call(
            "POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": f"Soak {n}"}
        )
        _, token = http.call(
            "POST", "/auth/tokens", {"email": email, "password": PASSWORD, "name": "soak"}
        )
        secret = token["token"]
        _, workspace = http.call("POST", "/workspaces", {"name": f"Soak {n}"}, secret)
        bots, keys = [], {}
        for b in range(3):
            _, bot = http.call(
                "POST",
                f"/workspaces/{workspace['id']}/bots",
                {"name": f"Bot {b}", "definition": DEFINITION},
                secret,
            )
            http.call("POST", f"/workspaces/{workspace['id']}/bots/{bot['id']}/publish", {}, secret)
            _, key = http.call(
                "POST",
                f"/workspaces/{workspace['id']}/bots/{bot['id']}/keys",
                {"name": "soak"},
                secret,
            )
            bots.append(bot["id"])
            keys[bot["id"]] = key["key"]
        made.append(Tenant(email, secret, workspace["id"], bots, keys))
    return made


def client(
    port: int, tenants: list[Tenant], tally: Tally, stop: threading.Event, seed: int
) -> None:
    rng = random.Random(seed)
    http = Http(port)
    n = 0
    while not stop.is_set():
        n += 1
        tenant = rng.choice(tenants)
        ws = f"/workspaces/{tenant.workspace_id}"
        roll = rng.random()
        started = time.monotonic()
        if roll < 0.40:
            bot = rng.choice(tenant.bots)
            key = f"soak-{seed}-{n}"
            body = {
                "user_id": f"u{rng.randint(1, 50)}",
                "text": rng.choice(["when are you open", "hi", "how much is it"]),
            }
            for _attempt in range(20):  # a retry keeps its Idempotency-Key
                status, answer = http.call(
                    "POST",
                    f"/bots/{bot}/messages",
                    body,
                    tenant.keys[bot],
                    {"Idempotency-Key": key},
                )
                tally.record("message", status, time.monotonic() - started)
                if status == 200:
                    with tally.lock:
                        tally.acknowledged.add(answer["message_id"])
                    break
                if status not in (0, 502, 503, 504):
                    break
                time.sleep(0.2)
            continue
        if roll < 0.50:
            wrong = rng.random() < 0.3
            status, _ = http.call(
                "POST",
                "/auth/tokens",
                {
                    "email": tenant.owner_email,
                    "password": "wrong-one" if wrong else PASSWORD,
                    "name": "soak",
                },
            )
            kind = "sign-in (wrong)" if wrong else "sign-in"
        elif roll < 0.62:
            bot = rng.choice(tenant.bots)
            status, _ = http.call(
                "PATCH", f"{ws}/bots/{bot}", {"description": f"edit {n}"}, tenant.token
            )
            kind = "bot edit"
        elif roll < 0.67:
            status, created = http.call("POST", f"{ws}/bots", {"name": f"extra {n}"}, tenant.token)
            if status == 201:
                http.call("DELETE", f"{ws}/bots/{created['id']}", None, tenant.token)
            kind = "bot create"
        elif roll < 0.77:
            status, invitation = http.call(
                "POST",
                f"{ws}/invitations",
                {"email": f"guest{seed}-{n}@example.test", "role": "viewer"},
                tenant.token,
            )
            if status == 201:
                http.call("DELETE", f"{ws}/invitations/{invitation['id']}", None, tenant.token)
            kind = "invitation"
        elif roll < 0.88:
            status, _ = http.call("GET", f"{ws}/billing", None, tenant.token)
            kind = "billing read"
        else:
            status, _ = http.call("GET", f"{ws}/audits?action=updated&limit=20", None, tenant.token)
            kind = "audit search"
        tally.record(kind, status, time.monotonic() - started)


def chaos(server: Server, tally: Tally, stop: threading.Event, every: float, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.wait(rng.uniform(every * 0.6, every * 1.4)):
        assert server.process is not None
        workers = _children(server.process.pid)
        if not workers:
            continue
        victim = rng.choice(workers)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue
        with tally.lock:
            tally.kills.append(time.monotonic())


def verify_invariants(server: Server, tally: Tally) -> dict[str, Any]:
    query = server.query
    owners = query(
        "SELECT count(*) FROM workspaces_workspace w WHERE (SELECT count(*) FROM "
        "workspaces_membership m WHERE m.workspace_id = w.id AND m.role = 'owner' "
        "AND m.user_id = w.owner_id) <> 1 OR (SELECT count(*) FROM workspaces_membership m "
        "WHERE m.workspace_id = w.id AND m.role = 'owner') <> 1",
        [],
    )
    over_limit = query(
        "SELECT count(*) FROM (SELECT b.workspace_id, count(*) AS n FROM bots_bot b "
        "JOIN workspaces_workspace w ON w.id = b.workspace_id WHERE w.plan = 'community' "
        "GROUP BY b.workspace_id) t WHERE t.n > 5",
        [],
    )
    stored = query("SELECT count(*) FROM messaging_message", [])
    counted = query("SELECT coalesce(sum(messages), 0) FROM messaging_usagecounter", [])
    ids = sorted(tally.acknowledged)
    found = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        found += query(f"SELECT count(*) FROM messaging_message WHERE id IN ({marks})", chunk)
    workspaces = []
    if server.pg is not None:
        import psycopg
        from ingest import _psycopg_url

        with psycopg.connect(_psycopg_url(server.pg.url)) as connection:
            workspaces = [r[0] for r in connection.execute("SELECT id FROM workspaces_workspace")]
    env = {
        **os.environ,
        "DATABASE_URL": server.pg.url if server.pg else "",
        "BOTYARD_DATA_DIR": str(server.data_dir),
    }
    broken = []
    for workspace in workspaces:
        result = subprocess.run(
            [*_botyard_command(), "audit", "verify", "--workspace", workspace],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            broken.append(f"{workspace}: {result.stdout.strip()}")
    outside = [f for f in tally.failures if not _around_a_kill(f[0], f[1], tally.kills)]
    for started, ended, kind, status in outside:
        nearest = min((started - k for k in tally.kills), key=abs, default=float("nan"))
        print(
            f"   outside the kill windows: {kind} answered {status or 'nothing'} after "
            f"{(ended - started) * 1000:.0f} ms, started {nearest:+.1f} s from the nearest kill",
            flush=True,
        )
    return {
        "workspaces with other than one owner": owners,
        "workspaces over the bot limit": over_limit,
        "acknowledged": len(ids),
        "acknowledged and stored": found,
        "stored": stored,
        "counted": counted,
        "audit chains checked": len(workspaces),
        "audit chains broken": broken,
        "failures outside kill windows": len(outside),
        "ok": owners == 0
        and over_limit == 0
        and len(ids) == found == stored == counted
        and not broken
        and not outside,
    }


def _around_a_kill(started: float, ended: float, kills: list[float]) -> bool:
    """In flight when a worker was killed, or started while its replacement was starting
    (KILL_WINDOW seconds after the kill)."""
    return any(started <= kill + KILL_WINDOW and ended >= kill for kill in kills)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def report(args: argparse.Namespace, tally: Tally, checks: dict[str, Any], elapsed: float) -> str:
    lines = [
        "| request | count | 2xx/4xx | failed (0 or 5xx) | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for kind in sorted(tally.latencies):
        statuses = {
            k.split(" ")[-1]: v for k, v in tally.counts.items() if k.rsplit(" ", 1)[0] == kind
        }
        ok = sum(v for s, v in statuses.items() if s != "0" and int(s) < 500)
        failed = sum(v for s, v in statuses.items() if s == "0" or int(s) >= 500)
        values = tally.latencies[kind]
        lines.append(
            f"| {kind} | {len(values)} | {ok} | {failed} | {percentile(values, 0.5) * 1000:.0f} "
            f"| {percentile(values, 0.99) * 1000:.0f} |"
        )
    total = sum(len(v) for v in tally.latencies.values())
    invariants = "\n".join(f"- {k}: {v}" for k, v in checks.items())
    return (
        f"{total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s) from {args.clients} "
        f"clients against {args.workers} gunicorn workers on PostgreSQL; "
        f"{len(tally.kills)} workers killed with SIGKILL.\n\n"
        + "\n".join(lines)
        + "\n\nInvariants at the end:\n\n"
        + invariants
        + "\n"
    )


def write_docs(text: str, command: str) -> None:
    path = REPO / "docs" / "benchmarks.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    section = (
        f"## Soak\n\nRun on {time.strftime('%Y-%m-%d')} with `{command}`.\n\n{machine()}\n\n{text}"
    )
    if "## Soak" in current:
        head, _, rest = current.partition("## Soak")
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        current = head + section + tail
    else:
        current = current.rstrip() + "\n\n" + section
    path.write_text(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=6)
    parser.add_argument("--kill-every", type=float, default=12.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--server-log", type=Path, help="keep the server's output here")
    args = parser.parse_args(argv)
    server = Server(
        database="postgres", workers=args.workers, gunicorn_args="", postgres_url=args.postgres_url
    )
    with running_server(server):
        print(f"server on port {server.port}; provisioning {args.tenants} tenants", flush=True)
        tenants = provision(server.port, args.tenants)
        tally, stop = Tally(), threading.Event()
        threads = [
            threading.Thread(target=client, args=(server.port, tenants, tally, stop, seed))
            for seed in range(args.clients)
        ]
        threads.append(
            threading.Thread(target=chaos, args=(server, tally, stop, args.kill_every, 99))
        )
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while time.monotonic() - started < args.seconds:
            time.sleep(5)
            print(
                f"  {time.monotonic() - started:5.0f} s: {sum(tally.counts.values())} requests, "
                f"{len(tally.kills)} kills",
                flush=True,
            )
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.monotonic() - started
        time.sleep(1)
        checks = verify_invariants(server, tally)
        if args.server_log:
            args.server_log.write_text(server.log())
    text = report(args, tally, checks, elapsed)
    print(text)
    if not args.no_docs:
        command = "python bench/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_docs(text, command.strip())
    return 0 if checks["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
