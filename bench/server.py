"""Start `aftersale serve` on a scratch database for a benchmark, and stop it afterwards."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_available() -> bool:
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def databases(choice: str) -> Iterator[str]:
    """The databases named on the command line ("sqlite,postgres"), saying which one is skipped."""
    for kind in choice.split(","):
        if kind == "postgres" and not postgres_available():
            print("postgres: skipped (no server at BENCH_POSTGRES_URL)")
            continue
        yield kind


def page_bench_parser(doc: str, *, size: str, default: int) -> argparse.ArgumentParser:
    """The command line of a page benchmark: --seconds, --concurrency, how much data (--<size>),
    --db, and the hidden --seed-only N the bench runs itself with in the server's environment."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(f"--{size}", type=int, default=default)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--seed-only", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def page_bench_databases(args, seed: Callable[[str, int], None]) -> Iterator[str]:
    """The databases to measure on; none when this run is the bench seeding its own data."""
    if args.seed_only:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")
        sys.path.insert(0, str(REPO / "src"))
        seed("bench", args.seed_only)
        return
    yield from databases(args.db)


@contextlib.contextmanager
def scratch_database(kind: str, name: str = "bench_aftersale"):
    """Yields a DATABASE_URL for an empty database of the given kind ("sqlite" or "postgres")."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="aftersale-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "AFTERSALE_ALLOW_DEFAULT_SECRET": "true",
        "DJANGO_SETTINGS_MODULE": "aftersale.settings",
        "LOG_LEVEL": "WARNING",
        "AFTERSALE_VAR_DIR": tempfile.gettempdir() + "/aftersale-bench-var",
    }


def aftersale(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "aftersale.cli", *args],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


@contextlib.contextmanager
def running_server(env: dict[str, str], *, workers: int = 2, threads: int = 8):
    port = free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the server writes to it until stopped
        prefix="aftersale-bench-server-", suffix=".log", delete=False
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aftersale.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(Path(log.name).read_text()) from None
            time.sleep(0.2)
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
