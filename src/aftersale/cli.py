"""The `aftersale` command."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")
    import django

    django.setup()


def _var_dir() -> Path:
    return Path(os.environ.get("AFTERSALE_VAR_DIR", str(Path.cwd() / "var"))).resolve()


def _fail(message: str) -> int:
    print(f"aftersale: {message}", file=sys.stderr)
    return 2


# -- subcommands ---------------------------------------------------------------------------------


def cmd_migrate(args) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=args.verbosity)
    return 0


def cmd_manage(args) -> int:
    _setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["aftersale manage", *args.rest])
    return 0


def cmd_createstore(args) -> int:
    _setup_django()
    from aftersale.core.services import DomainError, store_create

    try:
        store = store_create(
            slug=args.slug,
            name=args.name,
            currency=args.currency,
            time_zone=args.time_zone,
            default_locale=args.locale,
        )
    except DomainError as exc:
        return _fail(exc.message)
    print(f"created store {store.slug} ({store.public_id}), currency {store.currency}")
    return 0


def _store_or_fail(slug: str):
    from aftersale.core.models import Store

    store = Store.objects.filter(slug=slug).first()
    if store is None:
        known = ", ".join(Store.objects.values_list("slug", flat=True)) or "none yet"
        raise SystemExit(_fail(f"no store with slug {slug!r} (stores: {known})"))
    return store


def cmd_apikey(args) -> int:
    _setup_django()
    from aftersale.core.models import ApiKey
    from aftersale.core.services import DomainError, api_key_create, api_key_revoke

    store = _store_or_fail(args.store)
    try:
        if args.action == "create":
            key, token = api_key_create(store=store, name=args.name, scope=args.scope)
            print(f"created {key.scope} key {key.public_id} for {store.slug}")
            print(f"token (shown once): {token}")
        elif args.action == "list":
            for key in ApiKey.objects.filter(store=store).order_by("created_at"):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                print(f"{key.public_id}  {key.scope:5}  {state:18}  last used {used}  {key.name}")
        else:
            key = api_key_revoke(store=store, public_id=args.key_id)
            print(f"revoked {key.public_id}")
    except DomainError as exc:
        return _fail(exc.message)
    return 0


def cmd_import(args) -> int:
    _setup_django()
    if args.source == "reviews":
        from aftersale.reviews.imports import run_cli

        status, text = run_cli(args.file, args.store)
        print(text, file=sys.stdout if status == 0 else sys.stderr)
        return status
    from aftersale.importers.olist import OlistImportError, import_olist

    store = _store_or_fail(args.store)
    try:
        summary = import_olist(store=store, directory=Path(args.directory), progress=not args.quiet)
    except OlistImportError as exc:
        return _fail(str(exc))
    print(summary.as_table())
    return 0


def cmd_seed(args) -> int:
    _setup_django()
    from aftersale.demo.generator import seed_demo

    info = seed_demo(
        customers=args.customers, orders=args.orders, seed=args.seed, progress=not args.quiet
    )
    print(info.summary())
    return 0


def cmd_worker(args) -> int:
    _setup_django()
    from aftersale.core.worker import build_worker

    worker = build_worker(queue_names=args.queues.split(","), interval=args.interval)
    worker.configure_signals()
    worker.run()
    return 0


def _serve_command(host: str, port: int, workers: int, threads: int) -> list[str]:
    access_log = ["--access-logfile=-"] if os.environ.get("AFTERSALE_ACCESS_LOG") else []
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "aftersale.wsgi:application",
        f"--bind={host}:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        "--graceful-timeout=10",
        "--timeout=60",
        *access_log,
    ]


def cmd_serve(args) -> int:
    _setup_django()
    from django.conf import settings

    if settings.DEBUG:
        from django.core.management import call_command

        call_command("runserver", f"{args.host}:{args.port}")
        return 0
    os.execv(sys.executable, _serve_command(args.host, args.port, args.workers, args.threads))
    return 0  # pragma: no cover


def _demo_secrets(var: Path) -> dict:
    path = var / "demo.json"
    if path.exists():
        return json.loads(path.read_text())
    data = {
        "secret_key": secrets.token_urlsafe(50),
        "admin_password": secrets.token_urlsafe(9),
    }
    path.write_text(json.dumps(data, indent=2))
    path.chmod(0o600)
    return data


def _wait_all(children: list[subprocess.Popen], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))


def cmd_demo(args) -> int:
    var = _var_dir()
    var.mkdir(parents=True, exist_ok=True)
    state = _demo_secrets(var)
    os.environ.setdefault("SECRET_KEY", state["secret_key"])
    # Links in emails, tracking pages and product images point at the demo's own address.
    os.environ.setdefault("AFTERSALE_PUBLIC_URL", f"http://{args.host}:{args.port}")
    # The demo has no mail server: emails and SMS go to files you can open.
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    os.environ.setdefault("EMAIL_FILE_PATH", str(var / "mail"))
    os.environ.setdefault("AFTERSALE_SMS_BACKEND", "aftersale.messaging.sms.FileSmsBackend")
    os.environ.setdefault("AFTERSALE_SMS_FILE", str(var / "sms.jsonl"))
    _setup_django()
    from django.core.management import call_command

    from aftersale.core.models import Store
    from aftersale.demo.generator import DEMO_STORE_SLUG, demo_setup_access, seed_demo

    print("· migrating the database under", var)
    call_command("migrate", interactive=False, verbosity=0)
    if not Store.objects.filter(slug=DEMO_STORE_SLUG).exists():
        print("· generating the demo stores (first run only)…")
        info = seed_demo(progress=True)
        print(info.summary())
    else:
        print("· demo data already there; keeping it")
    base = f"http://{args.host}:{args.port}"
    access = demo_setup_access(admin_password=state["admin_password"], state=state, base_url=base)
    (var / "demo.json").write_text(json.dumps(state, indent=2))
    print()
    print("aftersale demo is running")
    print(f"  back office     {base}/admin/   user admin / {state['admin_password']}")
    print(f"  API docs        {base}/api/v1/docs")
    print(f"  API key         {access['api_key']}")
    auth = f"Authorization: Bearer {access['api_key']}"
    print(f"  try it          curl -H '{auth}' {base}/api/v1/orders?limit=5")
    for line in access.get("highlights", []):
        print(f"  {line}")
    print(
        f"  emails sent     {var / 'mail'}/ (one .log file per batch; SMS in {var / 'sms.jsonl'})"
    )
    print("  Ctrl-C stops the server and the worker.")
    print()
    sys.stdout.flush()

    env = dict(os.environ)
    server = subprocess.Popen(_serve_command(args.host, args.port, 2, 4), env=env)
    worker = subprocess.Popen([sys.executable, "-m", "aftersale.cli", "worker"], env=env)
    children = [server, worker]

    def stop(already_signalled: bool = False) -> None:
        # On Ctrl-C the terminal has already sent SIGINT to the whole process group, and a second
        # signal would make the worker abandon its task; so give the children time first.
        if already_signalled:
            _wait_all(children, 10)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        _wait_all(children, 15)
        for child in children:
            if child.poll() is None:
                child.kill()

    signal.signal(signal.SIGTERM, lambda signum, frame: stop())
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…")
        stop(already_signalled=True)
    else:
        stop()
    return 0


# -- argument parsing ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aftersale",
        description="aftersale: self-hosted post-purchase platform (orders, tracking, messages…).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="migrate, seed the demo stores once, serve with the worker")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="serve the web app with gunicorn (runserver when DEBUG)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    p.add_argument("--threads", type=int, default=4)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run a background worker (tasks, events, periodic jobs)")
    p.add_argument("--queues", default="*", help="comma-separated queue names, '*' for all")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between polls when idle")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="create or update the database tables")
    p.add_argument("-v", "--verbosity", type=int, default=1)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("createstore", help="create a store (tenant)")
    p.add_argument("slug")
    p.add_argument("--name", required=True)
    p.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
    p.add_argument("--time-zone", default="UTC", help="IANA zone, e.g. Europe/Berlin")
    p.add_argument("--locale", default="en", help="default locale: en, pt-br or de")
    p.set_defaults(func=cmd_createstore)

    p = sub.add_parser("apikey", help="create, list or revoke a store's API keys")
    keys = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    k = keys.add_parser("create", help="create a key; its token is printed once")
    k.add_argument("--store", required=True)
    k.add_argument("--name", required=True)
    k.add_argument("--scope", choices=["read", "write"], default="write")
    k = keys.add_parser("list", help="list a store's keys")
    k.add_argument("--store", required=True)
    k = keys.add_parser("revoke", help="revoke a key by its id (key_…)")
    k.add_argument("--store", required=True)
    k.add_argument("key_id")
    p.set_defaults(func=cmd_apikey)

    p = sub.add_parser("import", help="import data from a file set")
    sources = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    o = sources.add_parser("olist", help="the public Olist e-commerce data set (CSV folder)")
    o.add_argument("directory")
    o.add_argument("--store", required=True)
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    r = sources.add_parser(
        "reviews", help="product and store reviews from a CSV file (columns: docs/reviews.md)"
    )
    r.add_argument("file")
    r.add_argument("--store", required=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("seed", help="generate the demo stores with the seeded generator")
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--orders", type=int, default=6000)
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("manage", help="run a Django management command (aftersale manage help)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_manage)
    return parser


def main(argv: list[str] | None = None) -> int:
    from django.core.exceptions import ImproperlyConfigured

    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ImproperlyConfigured as exc:
        return _fail(f"configuration: {exc}")


if __name__ == "__main__":
    sys.exit(main())
