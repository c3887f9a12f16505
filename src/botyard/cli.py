"""The `botyard` command (product.md §9)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Sequence


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botyard.settings")
    import django

    django.setup()


def _migrate(verbosity: int = 1) -> None:
    from django.core.management import call_command

    # With the system checks, which call_command skips by default (botyard.E001, for one).
    call_command("migrate", interactive=False, verbosity=verbosity, skip_checks=False)


def _gunicorn_command(host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "botyard.wsgi:application",
        # Its child_exit hook tidies up a dead worker's metric files (prometheus_client
        # multiprocess mode), e.g. after a kill -9.
        "--config",
        "python:botyard.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-tmp-dir",
        "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp",  # noqa: S108
        "--graceful-timeout",
        "10",
        "--timeout",
        "60",
    ]


def cmd_migrate(args: argparse.Namespace) -> int:
    _setup_django()
    _migrate()
    return 0


def cmd_createuser(args: argparse.Namespace) -> int:
    _setup_django()
    from botyard.accounts.services import user_create
    from botyard.core.errors import ApplicationError

    try:
        user = user_create(
            email=args.email,
            password=args.password,
            name=args.name or args.email.split("@")[0],
            is_staff=args.staff,
        )
    except ApplicationError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 1
    print(f"created {user.email} ({user.id}){' as staff' if user.is_staff else ''}")
    return 0


def _prepare_metrics_dir() -> None:
    """Each gunicorn worker writes its metrics here; a fresh start begins from zero."""
    import shutil

    from django.conf import settings

    folder = settings.DATA_DIR / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def cmd_serve(args: argparse.Namespace) -> int:
    _setup_django()
    _migrate(verbosity=0)
    _prepare_metrics_dir()
    command = _gunicorn_command(args.host, args.port, args.workers)
    os.execv(sys.executable, command)  # noqa: S606 - replace this process with the server


def cmd_worker(args: argparse.Namespace) -> int:
    _setup_django()
    import threading

    from django.core.management import call_command

    from botyard import scheduler

    if args.batch:
        scheduler.run_once()
    else:
        scheduler.start(args.schedule_interval, threading.Event())

    call_command(
        "db_worker",
        interval=args.interval,
        reload=False,
        startup_delay=False,
        batch=args.batch,
        verbosity=0 if args.batch else 1,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # The demo's links (invitation emails) point at where it serves, unless told otherwise;
    # the worker and the server inherit it.
    os.environ.setdefault("BASE_URL", f"http://{args.host}:{args.port}")
    _setup_django()
    _migrate(verbosity=0)
    from botyard.demo import load_demo

    logins = load_demo()
    _prepare_metrics_dir()
    url = f"http://{args.host}:{args.port}/"
    children = [
        subprocess.Popen([sys.executable, "-m", "botyard.cli", "worker"]),
        subprocess.Popen(_gunicorn_command(args.host, args.port, args.workers)),  # noqa: S603
    ]
    print(f"\nbotyard demo is running at {url}\n")
    print(f"Sample logins (password for all: {logins.password}):")
    for email, description in logins.accounts:
        print(f"  {email:<32} {description}")
    print("\nPress Ctrl-C to stop.", flush=True)

    def stop(*_: object) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            try:
                children[1].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in children:
            child.wait(timeout=15)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    _setup_django()
    from botyard.audit.services import audit_verify
    from botyard.workspaces.models import Workspace

    if not Workspace.objects.filter(pk=args.workspace).exists():
        print(f"error: no workspace {args.workspace}", file=sys.stderr)
        return 2
    report = audit_verify(workspace_id=args.workspace)
    print(report.describe())
    return 0 if report.ok else 1


def _parse_now(value: str | None) -> dt.datetime:
    from botyard.core import clock

    if value is None:
        return clock.now()
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a time zone, e.g. 2026-12-03T00:00:00Z")
    return moment.astimezone(dt.UTC)


def cmd_close_periods(args: argparse.Namespace) -> int:
    _setup_django()
    from botyard.billing.closing import billing_close_periods

    try:
        now = _parse_now(args.now)
    except (ValueError, argparse.ArgumentTypeError) as error:
        print(f"error: --now: {error}", file=sys.stderr)
        return 2
    print(billing_close_periods(now=now).describe())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botyard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="load sample data and serve the dashboard")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--workers", type=int, default=2)
    demo.set_defaults(handler=cmd_demo)

    serve = commands.add_parser("serve", help="apply migrations and serve with gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=2)
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", help="run background tasks until stopped")
    worker.add_argument("--interval", type=float, default=1.0)
    worker.add_argument("--batch", action="store_true", help="run what is queued, then exit")
    worker.add_argument(
        "--schedule-interval",
        type=float,
        default=300.0,
        help="seconds between runs of the periodic jobs (closing billing periods)",
    )
    worker.set_defaults(handler=cmd_worker)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=cmd_migrate)

    createuser = commands.add_parser("createuser", help="create a user")
    createuser.add_argument("--email", required=True)
    createuser.add_argument("--password", required=True)
    createuser.add_argument("--name")
    createuser.add_argument("--staff", action="store_true")
    createuser.set_defaults(handler=cmd_createuser)

    billing = commands.add_parser("billing", help="billing tools")
    billing_commands = billing.add_subparsers(dest="billing_command", required=True)
    close = billing_commands.add_parser(
        "close-periods", help="issue invoices for periods that have ended (idempotent)"
    )
    close.add_argument("--now", help="RFC 3339 time to close periods as of (default: now)")
    close.set_defaults(handler=cmd_close_periods)

    audit = commands.add_parser("audit", help="audit trail tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check a workspace's hash chain")
    verify.add_argument("--workspace", required=True)
    verify.set_defaults(handler=cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
