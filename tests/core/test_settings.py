import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"SECRET_KEY", "DEBUG", "AFTERSALE_ALLOW_DEFAULT_SECRET", "DJANGO_SETTINGS_MODULE"}
    }
    return subprocess.run(
        [sys.executable, "-m", "aftersale.cli", *args],
        env={**base, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_server_refuses_to_start_with_the_default_secret_key_when_debug_is_off(tmp_path):
    result = run_cli("serve", "--port", "1", AFTERSALE_VAR_DIR=str(tmp_path))

    assert result.returncode == 2
    assert "SECRET_KEY is the built-in development key" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_store_is_a_readable_cli_error(tmp_path):
    db = f"sqlite:///{tmp_path}/db.sqlite3"
    env = {"AFTERSALE_VAR_DIR": str(tmp_path), "SECRET_KEY": "x" * 50, "DATABASE_URL": db}
    assert run_cli("migrate", "-v", "0", **env).returncode == 0
    result = run_cli("apikey", "create", "--store", "nope", "--name", "k", **env)

    assert result.returncode == 2
    assert result.stderr.strip() == "aftersale: no store with slug 'nope' (stores: none yet)"


def test_invalid_currency_is_refused_by_createstore(tmp_path):
    db = f"sqlite:///{tmp_path}/db.sqlite3"
    env = {"AFTERSALE_VAR_DIR": str(tmp_path), "SECRET_KEY": "x" * 50, "DATABASE_URL": db}
    assert run_cli("migrate", "-v", "0", **env).returncode == 0
    result = run_cli("createstore", "s", "--name", "S", "--currency", "EURO", **env)

    assert result.returncode == 2
    assert "unknown currency 'EURO'" in result.stderr


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == 30000
