"""Acknowledged means stored and counted, even when the server crashes (product.md §5).

The real production server (`botyard serve --workers 2`, gunicorn) runs as a subprocess
with its own data folder and database. Client threads post messages, each with its own
Idempotency-Key, and retry a delivery that failed (connection reset, 5xx) with the same
key, as a channel would; meanwhile the gunicorn workers are killed with SIGKILL, twice,
and the master starts new ones. Afterwards the server's own database must hold exactly
the acknowledged messages, and its usage counter must agree.

The server machinery is tests/server.py's, as for the browser tests; nothing here uses
Playwright or the test process's database.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.messaging.world import definition
from tests.server import PostgresDatabase, Server, production_server

pytestmark = pytest.mark.crash

MESSAGES = 300
SENDERS = 12
WORKERS = 2
# The workers are killed when this many more messages are acknowledged (since the start,
# or since the workers killed before were replaced) or this many seconds have passed,
# whichever comes first; twice, and at most EXTRA_KILLS times more while no kill has cut
# a request short yet (the load's bounds below leave room for all of them).
KILL_AFTER = ((60, 4.0), (40, 4.0))
EXTRA_KILLS = 3
# Once the workers have been killed and replaced, no new message is started after
# MESSAGES or after this many seconds of load (a slow machine sends fewer); every message
# started is still delivered until answered.
SOFT_DEADLINE = 20.0
# While the killer is still at work the load goes on, up to these bounds.
MOST_MESSAGES = 1_000
LAST_START = 35.0
LOAD_DEADLINE = 50.0
REQUEST_TIMEOUT = 15.0
RESPAWN_TIMEOUT = 30.0


# --- the server ------------------------------------------------------------------------


@dataclass
class Crashable:
    server: Server
    database: PostgresDatabase | None

    @property
    def master_pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def workers(self) -> set[int]:
        return _children(self.master_pid)

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run a read on the server's own database."""
        if self.database is not None:
            with psycopg.connect(self.database.url) as connection:
                return list(connection.execute(sql.replace("?", "%s"), params).fetchall())
        path = self.server.data_dir / "botyard.sqlite3"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            return list(connection.execute(sql, params).fetchall())


def _children(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (gunicorn's workers, for its master)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


@pytest.fixture(scope="module")
def crashable() -> Iterator[Crashable]:
    with production_server("botyard-crash-", with_worker=False) as server:
        yield Crashable(server, server.database)


# --- the channel, set up over HTTP -----------------------------------------------------


@dataclass(frozen=True)
class RemoteChannel:
    workspace_id: str
    bot_id: str
    key: str
    token: str


def _expect(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text)
    body: dict[str, Any] = response.json()
    return body


def _set_up_channel(base_url: str) -> RemoteChannel:
    with httpx.Client(base_url=base_url + "/api/v1", timeout=REQUEST_TIMEOUT) as http:
        who = {"email": "crash@example.com", "password": "a-long-enough-passphrase-7"}
        _expect(http.post("/auth/signup", json={**who, "name": "Crash Test"}), 201)
        token = _expect(http.post("/auth/tokens", json={**who, "name": "crash"}), 201)["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        workspace = _expect(http.post("/workspaces", json={"name": "Crash"}), 201)["id"]
        bots = f"/workspaces/{workspace}/bots"
        bot = _expect(http.post(bots, json={"name": "Bot", "definition": definition()}), 201)
        _expect(http.post(f"{bots}/{bot['id']}/publish"), 200)
        key = _expect(http.post(f"{bots}/{bot['id']}/keys", json={"name": "load"}), 201)["key"]
    return RemoteChannel(workspace_id=workspace, bot_id=bot["id"], key=key, token=token)


# --- the load --------------------------------------------------------------------------


@dataclass
class Load:
    """What the senders saw, shared between them (guarded by `lock`)."""

    started_at: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_message: int = 0
    acknowledged: dict[str, set[str]] = field(default_factory=dict)  # key -> message ids
    refused: dict[str, str] = field(default_factory=dict)  # key -> code
    failed_attempts: int = 0
    unexpected: list[str] = field(default_factory=list)
    killer_done: threading.Event = field(default_factory=threading.Event)

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def take(self) -> int | None:
        with self.lock:
            n, elapsed = self.next_message, self.elapsed()
            enough = n >= MESSAGES or elapsed > SOFT_DEADLINE
            if (enough and self.killer_done.is_set()) or n >= MOST_MESSAGES or elapsed > LAST_START:
                return None
            self.next_message += 1
            return self.next_message - 1

    def acknowledged_count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def _deliver(http: httpx.Client, channel: RemoteChannel, load: Load, n: int, deadline: float
             ) -> None:  # fmt: skip
    """Post message `n` until it is acknowledged or refused, always with the same key."""
    idempotency_key = f"crash-{n}"
    body = {"user_id": f"end-user-{n % 7}", "text": f"message {n}: what are your opening hours"}
    while time.monotonic() < deadline:
        try:
            response = http.post(
                f"/bots/{channel.bot_id}/messages",
                json=body,
                headers={"Authorization": f"Bearer {channel.key}",
                         "Idempotency-Key": idempotency_key},
            )  # fmt: skip
        except httpx.TransportError:
            response = None
        if response is None or response.status_code >= 500:
            with load.lock:
                load.failed_attempts += 1
            time.sleep(0.05)
            continue
        with load.lock:
            if response.status_code == 200:
                load.acknowledged.setdefault(idempotency_key, set()).add(
                    response.json()["message_id"]
                )
            elif response.status_code == 429:
                load.refused[idempotency_key] = response.json()["code"]
            else:
                load.unexpected.append(f"{idempotency_key}: {response.status_code} {response.text}")
        return
    with load.lock:
        load.unexpected.append(f"{idempotency_key}: no answer before the deadline")


def _sender(base_url: str, channel: RemoteChannel, load: Load, deadline: float) -> None:
    try:
        with httpx.Client(base_url=base_url + "/api/v1", timeout=REQUEST_TIMEOUT) as http:
            while (n := load.take()) is not None:
                _deliver(http, channel, load, n, deadline)
    except Exception as error:  # reported by the test
        with load.lock:
            load.unexpected.append(f"sender: {type(error).__name__}: {error}")


@dataclass(frozen=True)
class Kill:
    workers: frozenset[int]
    acknowledged_before: int


def _kill_round(crashable: Crashable, load: Load, kills: list[Kill], more: int, seconds: float
                ) -> None:  # fmt: skip
    """Once `more` messages more are acknowledged or `seconds` have passed, SIGKILL every
    worker, then wait for the master to start new ones and one of them to answer."""
    since, acknowledged = time.monotonic(), load.acknowledged_count()
    while load.acknowledged_count() < acknowledged + more and time.monotonic() < since + seconds:
        time.sleep(0.005)
    victims = frozenset(crashable.workers())
    acknowledged = load.acknowledged_count()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)  # the workers of the server this test started
    kills.append(Kill(victims, acknowledged))
    # Replaced means new workers exist and one has answered (booting takes a while).
    respawn_by = time.monotonic() + RESPAWN_TIMEOUT
    while len(crashable.workers() - victims) < WORKERS or load.acknowledged_count() == acknowledged:
        if time.monotonic() > respawn_by:
            raise AssertionError("gunicorn did not replace the killed workers")
        time.sleep(0.02)


def _kill_workers(crashable: Crashable, load: Load, kills: list[Kill]) -> None:
    """Kill every worker at each KILL_AFTER mark. A kill can land while both workers wait
    for their next request (on a busy machine the senders, not the server, are the slow
    side); then up to EXTRA_KILLS more, until one has cut a request short."""
    try:
        for more, seconds in KILL_AFTER:
            _kill_round(crashable, load, kills, more, seconds)
        for _ in range(EXTRA_KILLS):
            with load.lock:
                if load.failed_attempts:
                    break
            _kill_round(crashable, load, kills, *KILL_AFTER[-1])
    except Exception as error:  # reported by the test
        with load.lock:
            load.unexpected.append(f"killer: {type(error).__name__}: {error}")
    finally:
        load.killer_done.set()


def test_acknowledged_messages_survive_killed_workers(crashable: Crashable) -> None:
    base_url = crashable.server.base_url
    channel = _set_up_channel(base_url)
    first_workers = crashable.workers()
    assert len(first_workers) == WORKERS, first_workers

    load = Load()
    deadline = load.started_at + LOAD_DEADLINE
    senders = [
        threading.Thread(target=_sender, args=(base_url, channel, load, deadline))
        for _ in range(SENDERS)
    ]
    kills: list[Kill] = []
    killer = threading.Thread(target=_kill_workers, args=(crashable, load, kills))
    killer.start()
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(timeout=LOAD_DEADLINE + REQUEST_TIMEOUT)
    killer.join(timeout=RESPAWN_TIMEOUT)
    assert not killer.is_alive() and not any(thread.is_alive() for thread in senders)

    print(
        f"in {load.elapsed():.1f} s: {load.next_message} messages sent, "
        f"{len(load.acknowledged)} acknowledged, {len(load.refused)} refused, "
        f"{load.failed_attempts} failed attempts retried; kills: {kills}"
    )
    assert not load.unexpected, load.unexpected[:10]
    assert len(KILL_AFTER) <= len(kills) <= len(KILL_AFTER) + EXTRA_KILLS, kills
    assert all(len(kill.workers) == WORKERS for kill in kills), kills
    assert crashable.server.process is not None
    assert crashable.server.process.poll() is None, "the gunicorn master died"
    assert load.failed_attempts > 0, "no request was in flight when the workers died"

    # Every delivery of a message answered the same message id: none was stored twice.
    assert all(len(ids) == 1 for ids in load.acknowledged.values()), load.acknowledged
    acknowledged = {key: next(iter(ids)) for key, ids in load.acknowledged.items()}
    assert not load.refused  # 300 messages are well within the Community plan's 2,000
    # Every message started was acknowledged in the end, and the load outlived the kills.
    assert len(acknowledged) == load.next_message
    assert len(acknowledged) > kills[-1].acknowledged_before

    stored = dict(
        crashable.query(
            "SELECT idempotency_key, id FROM messaging_message WHERE bot_id = ?",
            (channel.bot_id,),
        )
    )
    (counted,) = crashable.query(
        "SELECT SUM(messages) FROM messaging_usagecounter WHERE workspace_id = ?",
        (channel.workspace_id,),
    )[0]
    assert stored == acknowledged
    assert counted == len(stored) == len(acknowledged)

    # And the server says so itself.
    with httpx.Client(base_url=base_url + "/api/v1", timeout=REQUEST_TIMEOUT) as http:
        billing = http.get(
            f"/workspaces/{channel.workspace_id}/billing",
            headers={"Authorization": f"Bearer {channel.token}"},
        )
    assert _expect(billing, 200)["messages"]["used"] == len(acknowledged)
