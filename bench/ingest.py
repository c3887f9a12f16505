"""Ingest benchmark: how many incoming messages the production server takes per second,
compared with its most trivial endpoint, and whether every acknowledged message is stored
and counted exactly once.

For each database it starts the real production server (`botyard serve`) on a free port
of 127.0.0.1 with a fresh data dir (SQLite) or a fresh PostgreSQL database, sets up a
user, a Business workspace without a budget (no message cap), a published bot of twenty
intents and a bot key, all through the HTTP API (only the workspace's included messages,
a staff-only setting, is raised to a billion directly in the database, so that usage
alerts never fire), and then drives load from separate processes with many concurrent
connections:

  healthz   GET /healthz (one SELECT 1): the baseline
  messages  POST /api/v1/bots/{bot}/messages, each with a unique Idempotency-Key

Each phase runs a fixed number of seconds after a short warm-up and stops by itself.
Afterwards the server's database is queried directly: acknowledged (200) answers must
equal stored Message rows and the workspace's UsageCounter.messages.

    .venv/bin/python bench/ingest.py [--database sqlite|postgres|both] [--seconds N]
                                     [--workers N [N ...]] [--clients N]

Figures are printed and written to the "## Ingest" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
# The production-server helpers are the tests' own (tests/server.py).
sys.path.insert(0, str(REPO))
from tests.server import SERVER_VARIABLES as TEST_SERVER_VARIABLES  # noqa: E402
from tests.server import (  # noqa: E402
    PostgresDatabase,
    _botyard_command,
    _free_port,
    _stop_process,
    wait_until_healthy,
)

DOCS = REPO / "docs" / "benchmarks.md"
SECTION = "## Ingest"
HOST = "127.0.0.1"  # the only address this benchmark ever sends to
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
STARTUP_TIMEOUT = 90.0
REQUEST_TIMEOUT = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The server must not inherit the configuration of whoever runs the benchmark: the tests'
# list, and the gunicorn settings of the benchmark's own choosing.
SERVER_VARIABLES = (*TEST_SERVER_VARIABLES, "GUNICORN_CMD_ARGS")

# A support bot for a web shop: 20 intents of 4-6 phrasings each.
INTENTS: list[tuple[str, list[str], str]] = [
    (
        "greeting",
        ["hello", "hi there", "good morning", "hey, anyone there?"],
        "Hello! I can help with orders, shipping, returns and your account.",
    ),
    (
        "opening_hours",
        [
            "when are you open",
            "what are your opening hours",
            "are you open on sunday",
            "what time do you close",
        ],
        "Our support team is available Monday to Saturday, 8:00 to 20:00 CET.",
    ),
    (
        "shipping_time",
        [
            "how long does shipping take",
            "when will my order arrive",
            "delivery time",
            "how fast do you ship",
            "is express shipping available",
        ],
        "Standard delivery takes 2-4 working days; express arrives the next working day.",
    ),
    (
        "track_order",
        [
            "where is my order",
            "track my package",
            "tracking number",
            "my parcel has not arrived",
            "order status",
        ],
        "You can follow your parcel with the tracking link in your shipping email.",
    ),
    (
        "return_policy",
        [
            "how do i return an item",
            "return policy",
            "can i send it back",
            "i want to return my order",
            "return label",
        ],
        "You can return any item within 30 days; print a free label from your order page.",
    ),
    (
        "refund_status",
        [
            "where is my refund",
            "when do i get my money back",
            "refund status",
            "refund not received",
        ],
        "Refunds reach your account 3-5 working days after we receive the return.",
    ),
    (
        "cancel_order",
        ["cancel my order", "i want to cancel", "can i still cancel", "stop my order please"],
        "Orders can be cancelled from your order page until they are packed.",
    ),
    (
        "change_address",
        [
            "change my delivery address",
            "wrong address",
            "update shipping address",
            "i moved, new address",
        ],
        "Update the address on your order page; once shipped, ask the carrier to redirect it.",
    ),
    (
        "payment_methods",
        [
            "which payment methods do you accept",
            "can i pay with paypal",
            "do you take credit cards",
            "pay by invoice",
            "apple pay",
        ],
        "We accept cards, PayPal, Apple Pay and, for business customers, invoices.",
    ),
    (
        "invoice_copy",
        ["i need an invoice", "send me a copy of my invoice", "download invoice", "vat receipt"],
        "Invoices can be downloaded as PDF from the order page in your account.",
    ),
    (
        "password_reset",
        [
            "i forgot my password",
            "reset password",
            "cannot log in",
            "login not working",
            "locked out of my account",
        ],
        "Use 'Forgot password' on the sign-in page; the link in the email is valid for an hour.",
    ),
    (
        "delete_account",
        ["delete my account", "close my account", "remove my data", "gdpr data deletion"],
        "Write to privacy@example.com from your account's address and we delete it within 30 days.",
    ),
    (
        "human_agent",
        [
            "talk to a human",
            "speak to an agent",
            "real person please",
            "customer service phone number",
            "call me back",
        ],
        "I am handing you over to a colleague; the current wait is about five minutes.",
    ),
    (
        "pricing",
        ["how much does it cost", "price list", "is it expensive", "what is the price"],
        "Prices are on each product page and include VAT; shipping is free from 50 euros.",
    ),
    (
        "discount_codes",
        [
            "do you have a discount code",
            "coupon not working",
            "promo code",
            "student discount",
            "voucher",
        ],
        "Enter the code at checkout; codes cannot be combined and exclude sale items.",
    ),
    (
        "international",
        [
            "do you ship abroad",
            "international shipping",
            "ship to switzerland",
            "customs fees",
            "delivery outside the eu",
        ],
        "We ship to 40 countries; outside the EU customs fees may apply on delivery.",
    ),
    (
        "warranty",
        ["warranty", "my product is broken", "it stopped working", "defective item", "repair"],
        "Every product has a two-year warranty; start a claim from the order page.",
    ),
    (
        "stores",
        ["do you have a shop", "store near me", "physical store locations", "can i pick it up"],
        "We have stores in Berlin, Vienna and Zurich; click and collect is free.",
    ),
    (
        "gift_cards",
        ["gift card", "buy a voucher as a present", "gift card balance", "redeem gift card"],
        "Gift cards are sold in the shop and never expire; check the balance at checkout.",
    ),
    (
        "goodbye",
        ["thanks, bye", "thank you", "that is all", "goodbye", "great, thanks"],
        "You're welcome! Have a nice day.",
    ),
]

# What end users say: mostly matches, some that fall back.
UTTERANCES = [
    "Hi there, where is my order?",
    "How long does shipping take to Austria?",
    "I want to return my order, it does not fit",
    "Can I pay with PayPal?",
    "My parcel has not arrived yet",
    "I forgot my password and cannot log in",
    "Please cancel my order 4711",
    "Do you ship to Switzerland?",
    "What are your opening hours on saturday?",
    "When do I get my money back for the return?",
    "Talk to a human please",
    "Is there a student discount?",
    "My product is broken after two weeks",
    "Send me a copy of my invoice",
    "Thanks, bye!",
    "Do you sell blue umbrellas?",
    "asdf qwer",
    "I moved and need to change my delivery address",
    "How much does the red bag cost?",
    "Can I pick it up in the store in Vienna?",
]


def bot_definition() -> dict[str, Any]:
    return {
        "format": 1,
        "greeting": "Hi! I'm the shop assistant. Ask me about orders, shipping or returns.",
        "fallback": "Sorry, I did not get that. Try 'track my order' or 'talk to a human'.",
        "intents": [
            {"name": name, "examples": examples, "reply": reply}
            for name, examples, reply in INTENTS
        ],
    }


# --- the server ------------------------------------------------------------------------


def _psycopg_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


@dataclass
class Server:
    database: str  # "sqlite" or "postgres"
    workers: int
    gunicorn_args: str
    postgres_url: str
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="botyard-bench-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    pg: PostgresDatabase | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "serve.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        if self.database == "postgres":
            self.pg = PostgresDatabase(self.postgres_url, prefix="botyard_bench")
            self.pg.create()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            self.port = _free_port()
            env = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
            env.update(
                BOTYARD_DATA_DIR=str(self.data_dir),
                EMAIL_URL=f"file://{self.root / 'mail'}",
                BASE_URL=self.base_url,
                SECRET_KEY="bench-only-" + secrets.token_hex(24),
                BOTYARD_SIGNUP="open",
                PYTHONUNBUFFERED="1",
            )
            if self.pg is not None:
                env["DATABASE_URL"] = self.pg.url
            if self.gunicorn_args:
                env["GUNICORN_CMD_ARGS"] = self.gunicorn_args
            command = [
                *_botyard_command(),
                "serve",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ]
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    command,
                    env=env,
                    cwd=self.data_dir,  # so that no `.env` of the checkout is read
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self._wait_until_healthy()
                return
            except RuntimeError:
                self.stop_process()
                if "Address already in use" in self.log():
                    continue
                raise
        raise RuntimeError("could not find a free port for botyard serve")

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        wait_until_healthy(self.process, self.base_url, self.log, timeout=STARTUP_TIMEOUT)

    def stop_process(self) -> None:
        _stop_process(self.process)

    def stop(self) -> None:
        try:
            self.stop_process()
        finally:
            if self.pg is not None:
                self.pg.drop()
            shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql: str, params: list[Any]) -> Any:
        """Run one statement on the server's database directly (not through the API) and
        commit; the first value of the first row, if any."""
        if self.pg is not None:
            import psycopg

            with psycopg.connect(_psycopg_url(self.pg.url)) as connection:
                cursor = connection.execute(sql.replace("?", "%s"), params)
                row = cursor.fetchone() if cursor.description else None
        else:
            path = self.data_dir / "botyard.sqlite3"
            with contextlib.closing(sqlite3.connect(path, timeout=20)) as db, db:
                row = db.execute(sql, params).fetchone()
        return row[0] if row else None

    def pids(self) -> list[int]:
        """The gunicorn master and its workers."""
        if self.process is None:
            return []
        return [self.process.pid, *_children(self.process.pid)]


@contextlib.contextmanager
def running_server(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --- CPU accounting (Linux /proc) --------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces.
    return text[text.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def _cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _postgres_pids(database: str) -> list[int]:
    """The PostgreSQL backends serving `database` (the server is on this machine)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
                if command.startswith("postgres: ") and f" {database} " in command:
                    found.append(int(entry.name))
    return found


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in first[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU seconds used by the server's processes and its database's backends over a
    window, sampled twice a second: PostgreSQL backends come and go (Django reconnects
    after CONN_MAX_AGE), and a process first seen mid-window started in it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.used = {"server": 0.0, "database": 0.0}
        self.seen: dict[str, dict[int, float]] = {"server": {}, "database": {}}
        self.machine = _machine_ticks()
        # PostgreSQL: how many of the database's backends were running a statement, and how
        # many of those were waiting for a lock (the usage counter's row), summed over samples.
        self.samples = 0
        self.active = 0
        self.lock_waits = 0
        self._sample(first=True)

    def _pids(self, group: str) -> list[int]:
        if group == "server":
            return self.server.pids()
        return _postgres_pids(self.server.pg.name) if self.server.pg is not None else []

    def _sample(self, first: bool = False) -> None:
        for group, seen in self.seen.items():
            for pid in self._pids(group):
                now = _cpu_seconds(pid)
                if pid in seen:
                    self.used[group] += now - seen[pid]
                elif not first:
                    self.used[group] += now
                seen[pid] = now

    def run_for(self, seconds: float) -> None:
        with contextlib.ExitStack() as stack:
            activity = None
            if self.server.pg is not None:
                import psycopg

                url = _psycopg_url(self.server.pg.url)
                activity = stack.enter_context(psycopg.connect(url, autocommit=True))
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(0.5, left))
                self._sample()
                if activity is not None:
                    self._sample_activity(activity)
        busy, total = _machine_ticks()
        self.machine_busy = (busy - self.machine[0]) / max(1, total - self.machine[1])

    def _sample_activity(self, connection: Any) -> None:
        assert self.server.pg is not None
        active, waiting = connection.execute(
            "SELECT count(*) FILTER (WHERE state = 'active'),"
            " count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock')"
            " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.server.pg.name],
        ).fetchone()
        self.samples += 1
        self.active += active
        self.lock_waits += waiting


# --- the load generator (runs in its own processes) --------------------------------------


@dataclass(frozen=True)
class LoadPlan:
    kind: str  # "healthz" or "messages"
    port: int
    clients: int
    warmup: float
    seconds: float
    start_at: float  # time.time() at which every load process begins, so that they overlap
    process_index: int
    bot_id: str = ""
    bot_key: str = ""
    run_id: str = ""


class _Connection:
    """One keep-alive HTTP/1.1 connection, written by hand so that the client spends about
    a tenth of a millisecond per request (see calibrate()): httpx costs several times that,
    which on a small machine is taken from the server being measured."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.opened = 0
        # Set once the server has said it closes after every response (gunicorn's sync
        # worker). Then each request is followed by our FIN at once: the worker waits for the
        # client's FIN before it takes the next connection (gunicorn.util.close_graceful),
        # and a busy load process would otherwise hold the server up.
        self.half_close = False

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            self.opened += 1
        assert self.reader is not None
        self.writer.write(raw)
        if self.half_close:
            self.writer.write_eof()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close" or lines[0].startswith("HTTP/1.0"):
            self.half_close = True
            self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class LoadResult:
    started: float = 0.0
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    warmup_ok: int = 0  # 200 answers during the warm-up (stored too, so counted for exactness)
    warmup_other: int = 0
    connections: int = 0  # opened during the measured window
    cpu_seconds: float = 0.0  # this process's CPU time during the measured window


def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run_client(
    plan: LoadPlan, client: int, result: LoadResult, deadline: float, measure_from: float
) -> None:
    connection = _Connection(plan.port)
    healthz = f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{plan.port}\r\n\r\n".encode()
    head = (
        f"POST /api/v1/bots/{plan.bot_id}/messages HTTP/1.1\r\nHost: {HOST}:{plan.port}\r\n"
        f"Authorization: Bearer {plan.bot_key}\r\nContent-Type: application/json\r\n"
    )
    sequence = 0
    conversation: str | None = None
    while (now := time.perf_counter()) < deadline:
        if plan.kind == "healthz":
            raw = healthz
        else:
            sequence += 1
            if sequence % 6 == 1:
                conversation = None  # a new end user starts a conversation
            message: dict[str, str] = {
                "user_id": f"user-{plan.process_index}-{client}-{(sequence - 1) // 6}",
                "text": UTTERANCES[(client * 7 + sequence) % len(UTTERANCES)],
            }
            if conversation is not None:
                message["conversation_id"] = conversation
            body = json.dumps(message).encode()
            key = f"{plan.run_id}-{plan.process_index}-{client}-{sequence}"
            raw = (
                f"{head}Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        opened = connection.opened
        try:
            status, answer = await asyncio.wait_for(connection.request(raw), REQUEST_TIMEOUT)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
        ) as error:
            connection.close()
            name = type(error).__name__
            result.errors[name] = result.errors.get(name, 0) + 1
            continue
        done = time.perf_counter()
        if plan.kind == "messages" and status == 200 and conversation is None:
            conversation = json.loads(answer)["conversation_id"]
        if now < measure_from:
            if status == 200:
                result.warmup_ok += 1
            else:
                result.warmup_other += 1
            continue
        result.connections += connection.opened - opened
        result.latencies.append(done - now)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        result.finished = max(result.finished, done)
    connection.close()


async def _drive(plan: LoadPlan) -> LoadResult:
    result = LoadResult()
    measure_from = time.perf_counter() + plan.warmup
    deadline = measure_from + plan.seconds
    result.started = measure_from
    loop = asyncio.get_running_loop()
    cpu: list[float] = []
    loop.call_later(plan.warmup, lambda: cpu.append(_cpu_now()))
    loop.call_later(plan.warmup + plan.seconds, lambda: cpu.append(_cpu_now()))
    await asyncio.gather(
        *(_run_client(plan, c, result, deadline, measure_from) for c in range(plan.clients))
    )
    result.cpu_seconds = cpu[1] - cpu[0] if len(cpu) == 2 else float("nan")
    return result


def run_load(plan: LoadPlan) -> dict[str, Any]:
    """Entry point of a load process: wait for the common start, drive, report."""
    time.sleep(max(0.0, plan.start_at - time.time()))
    result = asyncio.run(_drive(plan))
    return {
        "wall": max(result.finished - result.started, 1e-9),
        "latencies": result.latencies,
        "statuses": result.statuses,
        "errors": result.errors,
        "warmup_ok": result.warmup_ok,
        "warmup_other": result.warmup_other,
        "connections": result.connections,
        "cpu_seconds": result.cpu_seconds,
    }


# --- how fast the load generator can go ------------------------------------------------

_TRIVIAL_BODY = b'{"status": "ok"}'
_TRIVIAL_ANSWERS = {
    close: b"HTTP/1.1 200 OK\r\n"
    + (b"Connection: close\r\n" if close else b"")
    + b"Content-Type: application/json\r\nContent-Length: 16\r\n\r\n"
    + _TRIVIAL_BODY
    for close in (False, True)
}


def _trivial_server(port: int, close: bool, ready: Any) -> None:
    """An HTTP server that answers every request at once, to measure the load generator."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(_TRIVIAL_ANSWERS[close])
                if close:
                    await writer.drain()
                    break
        writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, HOST, port, backlog=1024)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


@dataclass(frozen=True)
class Calibration:
    """Requests/s and load-generator CPU µs per request against a trivial server."""

    keepalive_rate: float
    keepalive_us: float
    reconnect_rate: float
    reconnect_us: float

    def describe(self) -> str:
        return (
            f"{self.keepalive_rate:,.0f} req/s at {self.keepalive_us:.0f} µs of load-generator "
            f"CPU a request with keep-alive, {self.reconnect_rate:,.0f} req/s at "
            f"{self.reconnect_us:.0f} µs with a new connection per request (one load process "
            f"at full core: ~{1e6 / self.keepalive_us:,.0f} and ~{1e6 / self.reconnect_us:,.0f} "
            "req/s)"
        )


def calibrate(args: argparse.Namespace) -> Calibration:
    figures = []
    context = multiprocessing.get_context("spawn")
    for close in (False, True):
        port = _free_port()
        ready = context.Event()
        server = context.Process(target=_trivial_server, args=(port, close, ready), daemon=True)
        server.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the trivial server did not start")
            plan = LoadPlan(
                kind="healthz",
                port=port,
                clients=args.clients,
                warmup=0.5,
                seconds=3.0,
                start_at=time.time(),
                process_index=0,
            )
            report = run_load(plan)
        finally:
            server.terminate()
            server.join(10)
        answered = max(1, sum(report["statuses"].values()))
        figures += [answered / report["wall"], report["cpu_seconds"] / answered * 1e6]
    return Calibration(*figures)


# --- phases ------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    kind: str
    requests: int
    ok: int
    other: dict[int, int]
    errors: dict[str, int]
    warmup_ok: int
    warmup_other: int
    rate: float
    p50_ms: float
    p99_ms: float
    connections: int
    # CPU during the measured window, in cores (CPU seconds per second).
    server_cores: float  # gunicorn master and workers
    database_cores: float | None  # the PostgreSQL backends of the server's database
    load_cores: float  # all load processes
    busiest_load_process: float  # the busiest load process's share of one core
    other_cores: float  # everything else on the machine (e.g. other people's work)
    cores: int
    # PostgreSQL, sampled twice a second: backends running a statement, and those of them
    # waiting for a lock, on average.
    pg_active: float | None
    pg_lock_waits: float | None

    @property
    def server_cpu_ms(self) -> float:
        return self.server_cores * 1000 / self.rate if self.rate else float("nan")

    @property
    def load_cpu_us(self) -> float:
        return self.load_cores * 1e6 / self.rate if self.rate else float("nan")


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def combine(phases: list[PhaseResult]) -> PhaseResult:
    """Several rounds of one kind as one: counts added up, the rate over their total time,
    CPU and PostgreSQL figures averaged, and the median of the rounds' p50 and p99."""
    if len(phases) == 1:
        return phases[0]
    other: dict[int, int] = {}
    errors: dict[str, int] = {}
    for phase in phases:
        for status, count in phase.other.items():
            other[status] = other.get(status, 0) + count
        for name, count in phase.errors.items():
            errors[name] = errors.get(name, 0) + count
    requests = sum(p.requests for p in phases)
    seconds = sum(p.requests / p.rate for p in phases if p.rate)
    database = [p.database_cores for p in phases if p.database_cores is not None]
    active = [p.pg_active for p in phases if p.pg_active is not None]
    waits = [p.pg_lock_waits for p in phases if p.pg_lock_waits is not None]
    return PhaseResult(
        kind=phases[0].kind,
        requests=requests,
        ok=sum(p.ok for p in phases),
        other=other,
        errors=errors,
        warmup_ok=sum(p.warmup_ok for p in phases),
        warmup_other=sum(p.warmup_other for p in phases),
        rate=requests / seconds if seconds else 0.0,
        p50_ms=_median([p.p50_ms for p in phases]),
        p99_ms=_median([p.p99_ms for p in phases]),
        connections=sum(p.connections for p in phases),
        server_cores=_mean([p.server_cores for p in phases]),
        database_cores=_mean(database) if database else None,
        load_cores=_mean([p.load_cores for p in phases]),
        busiest_load_process=max(p.busiest_load_process for p in phases),
        other_cores=_mean([p.other_cores for p in phases]),
        cores=phases[0].cores,
        pg_active=_mean(active) if active else None,
        pg_lock_waits=_mean(waits) if waits else None,
    )


def run_phase(server: Server, args: argparse.Namespace, kind: str, **extra: str) -> PhaseResult:
    processes = args.load_processes
    per_process = [
        args.clients // processes + (i < args.clients % processes) for i in range(processes)
    ]
    start_at = time.time() + 1.0
    plans = [
        LoadPlan(
            kind=kind,
            port=server.port,
            clients=n,
            warmup=args.warmup,
            seconds=args.seconds,
            start_at=start_at,
            process_index=i,
            **extra,
        )
        for i, n in enumerate(per_process)
    ]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [pool.submit(run_load, plan) for plan in plans]
        time.sleep(max(0.0, start_at + args.warmup - time.time()))
        meter = CpuMeter(server)
        meter.run_for(args.seconds)
        reports = [f.result(timeout=args.seconds + REQUEST_TIMEOUT + 30) for f in futures]
    latencies = sorted(x for r in reports for x in r["latencies"])
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    for report in reports:
        for status, count in report["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
        for name, count in report["errors"].items():
            errors[name] = errors.get(name, 0) + count
    requests = sum(statuses.values())
    wall = max(r["wall"] for r in reports)
    cores = os.cpu_count() or 1
    busy = meter.machine_busy
    server_cores = meter.used["server"] / args.seconds
    database_cores = meter.used["database"] / args.seconds if server.pg is not None else None
    load_cores = sum(r["cpu_seconds"] for r in reports) / args.seconds
    return PhaseResult(
        kind=kind,
        requests=requests,
        ok=statuses.get(200, 0),
        other={s: c for s, c in statuses.items() if s != 200},
        errors=errors,
        warmup_ok=sum(r["warmup_ok"] for r in reports),
        warmup_other=sum(r["warmup_other"] for r in reports),
        rate=requests / wall,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        connections=sum(r["connections"] for r in reports),
        server_cores=server_cores,
        database_cores=database_cores,
        load_cores=load_cores,
        busiest_load_process=max(r["cpu_seconds"] for r in reports) / args.seconds,
        other_cores=max(0.0, busy * cores - server_cores - (database_cores or 0) - load_cores),
        cores=cores,
        pg_active=meter.active / meter.samples if meter.samples else None,
        pg_lock_waits=meter.lock_waits / meter.samples if meter.samples else None,
    )


# --- setup through the HTTP API ----------------------------------------------------------


def _api(base_url: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.request(method, base_url + path, json=body, headers=headers, timeout=60)
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
    return response.json()


@dataclass(frozen=True)
class Fixture:
    workspace_id: str
    bot_id: str
    bot_key: str


MESSAGE_LIMIT = 1_000_000_000


def provision(server: Server) -> Fixture:
    """A user, a token, a Business workspace without a budget (so no message cap: see
    billing/usage.py), a published bot of 20 intents and a bot key: all through the API."""
    base = server.base_url
    email, password = "bench@example.com", "correct horse battery staple 42"
    _api(
        base, "POST", "/api/v1/auth/signup", {"email": email, "password": password, "name": "Bench"}
    )
    token = _api(
        base, "POST", "/api/v1/auth/tokens", {"email": email, "password": password, "name": "bench"}
    )["token"]
    workspace = _api(
        base,
        "POST",
        "/api/v1/workspaces",
        {"name": "Bench shop", "plan": "business", "payment_method": "pm_card_visa"},
        token,
    )
    # Enterprise-style terms, which only staff can set (in the admin): a billion included
    # messages keeps the run far from the 75 % usage alert, whose claim would add a query to
    # every message past it and so measure something other than steady-state ingest.
    server.query(
        "UPDATE workspaces_workspace SET custom_message_limit = ? WHERE id = ?",
        [MESSAGE_LIMIT, workspace["id"]],
    )
    bots = f"/api/v1/workspaces/{workspace['id']}/bots"
    bot = _api(
        base,
        "POST",
        bots,
        {"name": "Shop assistant", "description": "bench", "definition": bot_definition()},
        token,
    )
    _api(base, "POST", f"{bots}/{bot['id']}/publish", None, token)
    key = _api(base, "POST", f"{bots}/{bot['id']}/keys", {"name": "bench"}, token)["key"]
    return Fixture(workspace_id=workspace["id"], bot_id=bot["id"], bot_key=key)


# --- one configuration -------------------------------------------------------------------


@dataclass
class RunResult:
    database: str
    workers: int
    gunicorn_args: str
    healthz: PhaseResult
    messages: PhaseResult
    round_ratios: list[float]
    acknowledged: int
    stored: int
    counted: int
    analytics: int
    wrk_healthz: float | None = None

    @property
    def ratio(self) -> float:
        return self.messages.rate / self.healthz.rate if self.healthz.rate else float("nan")

    @property
    def cpu_ratio(self) -> float:
        """What the ratio would be if the server's CPU were the only limit: healthz's server
        CPU per request over a message's. Less sensitive to other work on the machine."""
        return self.healthz.server_cpu_ms / self.messages.server_cpu_ms

    @property
    def exact(self) -> bool:
        problems = self.messages.errors or self.messages.other or self.messages.warmup_other
        return not problems and self.acknowledged == self.stored == self.counted

    @property
    def label(self) -> str:
        extra = f", {self.gunicorn_args}" if self.gunicorn_args else ""
        return f"{self.database}, {self.workers} workers{extra}"


def run_configuration(args: argparse.Namespace, database: str, workers: int) -> RunResult:
    server = Server(
        database=database,
        workers=workers,
        gunicorn_args=args.gunicorn_args,
        postgres_url=args.postgres_url,
    )
    print(f"\n== {database}, {workers} workers {args.gunicorn_args}".rstrip(), flush=True)
    with running_server(server):
        fixture = provision(server)
        print(f"   server on {server.base_url}", flush=True)
        healthz_rounds: list[PhaseResult] = []
        message_rounds: list[PhaseResult] = []
        # The two kinds take turns, so that a machine whose speed drifts (a shared or
        # virtual one) affects both alike; the ratio is of their totals.
        for number in range(1, args.rounds + 1):
            healthz_rounds.append(run_phase(server, args, "healthz"))
            message_rounds.append(
                run_phase(
                    server,
                    args,
                    "messages",
                    bot_id=fixture.bot_id,
                    bot_key=fixture.bot_key,
                    run_id=secrets.token_hex(4),
                )
            )
            h, m = healthz_rounds[-1].rate, message_rounds[-1].rate
            print(
                f"   round {number}/{args.rounds} ({args.seconds:g} s each): healthz {h:,.0f}/s, "
                f"messages {m:,.0f}/s, ratio {m / h if h else float('nan'):.2f}",
                flush=True,
            )
        healthz, messages = combine(healthz_rounds), combine(message_rounds)
        wrk_healthz = run_wrk(server, args) if args.wrk else None
        for phase in (*healthz_rounds, *message_rounds):
            _warn_about(phase)
        workspace = [fixture.workspace_id]
        stored = server.query(
            "SELECT COUNT(*) FROM messaging_message WHERE workspace_id = ?", workspace
        )
        counted = server.query(
            "SELECT COALESCE(SUM(messages), 0) FROM messaging_usagecounter WHERE workspace_id = ?",
            workspace,
        )
        analytics = server.query(
            "SELECT COALESCE(SUM(messages), 0) FROM messaging_dailybotstats WHERE workspace_id = ?",
            workspace,
        )
        if "Traceback" in server.log():
            print(f"   the server logged errors:\n{server.log()[-4000:]}", file=sys.stderr)
    return RunResult(
        database=database,
        workers=workers,
        gunicorn_args=args.gunicorn_args,
        healthz=healthz,
        messages=messages,
        round_ratios=[
            m.rate / h.rate if h.rate else float("nan")
            for h, m in zip(healthz_rounds, message_rounds, strict=True)
        ],
        acknowledged=messages.ok + messages.warmup_ok,
        stored=int(stored),
        counted=int(counted),
        analytics=int(analytics),
        wrk_healthz=wrk_healthz,
    )


def _warn_about(phase: PhaseResult) -> None:
    if phase.busiest_load_process > 0.8:
        print(
            f"   warning: a load process used {phase.busiest_load_process:.0%} of a core in "
            f"the {phase.kind} phase and may be the bottleneck; try --load-processes 2",
            file=sys.stderr,
        )
    if phase.other_cores > 0.25:
        print(
            f"   warning: other work on the machine used {phase.other_cores:.2f} cores during "
            f"the {phase.kind} phase; its figures are low",
            file=sys.stderr,
        )


def run_wrk(server: Server, args: argparse.Namespace) -> float | None:
    """A cross-check of the healthz rate with a load generator written in C, if installed
    (Debian: apt-get install -y wrk). Not used for messages: wrk cannot report exactly
    which requests were answered when it stops, which the exactness check needs."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("   (wrk is not installed; skipping the cross-check)")
        return None
    url = f"http://{HOST}:{server.port}/healthz"
    command = [wrk, "-t1", f"-c{args.clients}", f"-d{args.seconds:g}s", url]
    output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    found = re.search(r"Requests/sec:\s*([\d.]+)", output)
    rate = float(found.group(1)) if found else None
    print(f"   wrk healthz: {rate:,.0f}/s" if rate is not None else f"   wrk said:\n{output}")
    return rate


# --- reporting ---------------------------------------------------------------------------


def _phase_row(label: str, phase: PhaseResult) -> str:
    database = f"{phase.database_cores:.2f}" if phase.database_cores is not None else "-"
    if phase.pg_active is not None and phase.pg_lock_waits is not None:
        database += f" ({phase.pg_active:.1f} busy, {phase.pg_lock_waits:.1f} on locks)"
    failures = sum(phase.other.values()) + sum(phase.errors.values())
    return (
        f"| {label} | {phase.kind} | {phase.rate:,.0f} | {phase.p50_ms:.1f} | "
        f"{phase.p99_ms:.1f} | {phase.requests:,} | {failures} | "
        f"{phase.requests / max(1, phase.connections):,.0f} | {phase.server_cpu_ms:.2f} | "
        f"{phase.server_cores:.2f} | {database} | {phase.load_cores:.2f} "
        f"({phase.load_cpu_us:.0f} µs/req) | {phase.other_cores:.2f} |"
    )


def table(results: list[RunResult]) -> str:
    lines = [
        "| configuration | endpoint | req/s | p50 ms | p99 ms | requests | failed | req/conn "
        "| server CPU ms/req | cores: server | PostgreSQL | load gen | other |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for result in results:
        lines.append(_phase_row(result.label, result.healthz))
        lines.append(_phase_row(result.label, result.messages))
    lines += [
        "",
        "| configuration | messages/s ÷ healthz/s | each round | same, by server CPU per "
        "request | healthz/s by wrk | acknowledged | stored | counted | analytics | exact |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for result in results:
        wrk = f"{result.wrk_healthz:,.0f}" if result.wrk_healthz is not None else "-"
        rounds = ", ".join(f"{ratio:.2f}" for ratio in result.round_ratios)
        lines.append(
            f"| {result.label} | {result.ratio:.2f} | {rounds} | {result.cpu_ratio:.2f} | {wrk} | "
            f"{result.acknowledged:,} | "
            f"{result.stored:,} | {result.counted:,} | {result.analytics:,} | "
            f"{'yes' if result.exact else 'NO'} |"
        )
    return "\n".join(lines)


def machine() -> str:
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    total = next((line.split()[1] for line in memory.splitlines() if line.startswith("Mem:")), "?")
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"`nproc` = {os.cpu_count()} ({cpu}), `free -h` total memory {total}; "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


NOTES = """\
What limits the ratio is the work a message does that /healthz does not, in the same
gunicorn worker. /healthz is Django's request handling and one `SELECT 1`. A message is
answered by a plain Django view (ADR 0007), which the WSGI application calls ahead of
Django's middleware chain, running only what the middleware does to such a request
(messaging/fast_path.py, ADR 0010). Its sender (the key, its bot and workspace)
is read once per worker process; after that the write goes first and checks, in the
same statement, that the sender is unchanged (ADR 0008). On PostgreSQL the write is one
statement of CTEs in autocommit (the check, the usage counter's upsert with the cap,
the conversation, the message, the day's analytics), prepared once per connection: one
round trip a message. On SQLite it is four statements in one transaction. What remains:

- SQLite runs in the worker, so its work is the worker's CPU, one writer at a time
  (message transactions queue on a file lock, messaging/writer.py). A message writes
  about 9 pages to the WAL (the counter, the day, the message and its four indexes, the
  conversation when it starts one). Each worker also pays for the other's writes: SQLite
  drops a connection's page cache whenever another connection has written, so every
  transaction reads its pages again, and a worker that finds the lock taken leaves its
  core to whoever else can run. Under perf, about 65 % of a worker's time in the
  messages phase is the Python interpreter (gunicorn, the request handling and the
  message path), 7 % SQLite's own code and 20 % the kernel (the pages read and written,
  the socket). See "Ingest: what was tried".
- PostgreSQL shares the machine's cores with the workers and the load generator, and
  the usage counter's row is locked for each message's statement and its WAL flush, so
  one workspace's messages take turns there (the lock figure; the benchmark sends every
  message to one workspace, the hardest case). With more workers than cores, more of
  them wait on that lock.

argon2 is not involved (bot keys are SHA-256 digests)."""


def _contention_note(results: list[RunResult]) -> str:
    phases = [p for r in results for p in (r.healthz, r.messages)]
    busiest = max(p.other_cores for p in phases)
    if busiest <= 0.25:
        return ""
    return (
        f"The machine was not idle: other work took up to {busiest:.2f} of its "
        f"{phases[0].cores} cores during a phase (column other), so the rates above are low "
        "and vary from run to run; CPU per request, and the ratio computed from it, are "
        "the steadier figures."
    )


def write_docs(
    results: list[RunResult],
    args: argparse.Namespace,
    command: str,
    calibration: Calibration | None,
) -> None:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdict = "; ".join(
        f"{r.label}: ratio {r.ratio:.2f}{'' if r.ratio >= 0.5 else ' (below 0.5)'}, "
        f"exactness {'intact' if r.exact else 'BROKEN'}"
        for r in results
    )
    section = "\n".join(
        [
            SECTION,
            "",
            f"Run {today} on {machine()}.",
            "",
            "```sh",
            command,
            "```",
            "",
            f"Each configuration: {args.rounds} round(s) of a healthz phase then a messages "
            "phase on the same server (the two take turns, so that drift in the machine's "
            "speed affects both alike); each row below adds up a kind's rounds, and the "
            "ratio is of those totals. "
            f"Each phase: {args.warmup:g} s warm-up, then {args.seconds:g} s measured, "
            f"{args.clients} concurrent connections (kept alive when the server allows) from "
            f"{args.load_processes} load process(es) on the same machine. healthz is "
            "`GET /healthz` (one `SELECT 1`); messages is `POST /api/v1/bots/{bot}/messages` "
            "with a unique Idempotency-Key each, end users in conversations of up to six "
            "messages, to a published bot of 20 intents. CPU is read from /proc over the "
            "measured window, in cores: the gunicorn master and workers, the PostgreSQL "
            "backends of the benchmark's database (with how many were running a statement "
            "and how many of those waited for a lock, sampled twice a second), the load "
            "processes, and other work on the machine.",
            "",
            *(
                [f"Load generator against a trivial HTTP server: {calibration.describe()}.", ""]
                if calibration is not None
                else []
            ),
            table(results),
            "",
            f"Target: messages/s ÷ healthz/s ≥ 0.5 with exactness intact. {verdict}.",
            "",
            *([_contention_note(results), ""] if _contention_note(results) else []),
            NOTES,
            "",
        ]
    )
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text.rstrip("\n") + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds a phase")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="healthz and messages phases taking turns on the same server, this many times",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[cores],
        help=f"gunicorn workers; several values run one after another "
        f"(default: the number of cores, {cores})",
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument(
        "--load-processes",
        type=int,
        default=1,
        help="processes generating the load (the clients are spread over them)",
    )
    parser.add_argument(
        "--gunicorn-args",
        default="",
        help="extra gunicorn settings for the server, passed as "
        "GUNICORN_CMD_ARGS, e.g. '--worker-class gthread --threads 4'",
    )
    parser.add_argument(
        "--no-calibrate",
        action="store_true",
        help="skip measuring the load generator against a trivial server first",
    )
    parser.add_argument(
        "--wrk",
        action="store_true",
        help="also measure healthz with wrk, if installed, to cross-check the load generator",
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument(
        "--no-docs", action="store_true", help=f"print only; do not write {DOCS.relative_to(REPO)}"
    )
    args = parser.parse_args(argv)
    if urlsplit(args.postgres_url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        # The benchmark creates and drops databases there and reads its processes' CPU.
        parser.error("--postgres-url must point at a PostgreSQL server on this machine")
    if args.clients < args.load_processes or args.seconds <= 0 or args.rounds < 1:
        parser.error("need at least one client per load process, a positive --seconds and --rounds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    started = time.monotonic()
    calibration = None
    if not args.no_calibrate:
        print("load generator against a trivial server (3 s each way) ...", flush=True)
        calibration = calibrate(args)
        print(f"   {calibration.describe()}", flush=True)
    results = [
        run_configuration(args, database, workers)
        for database in databases
        for workers in args.workers
    ]
    print()
    print(table(results))
    elapsed = time.monotonic() - started
    print(f"\n{len(results)} configuration(s) in {elapsed:.0f} s")
    if not args.no_docs:
        shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--no-docs"]
        command = shlex.join([".venv/bin/python", "bench/ingest.py", *shown])
        write_docs(results, args, command, calibration)
        print(f"wrote the '{SECTION}' section of {DOCS.relative_to(REPO)}")
    return 0 if all(r.exact for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
