"""Test settings: the same as production, with a non-UTC zone so naive-time mistakes show."""

import os

os.environ.setdefault("AFTERSALE_ALLOW_DEFAULT_SECRET", "true")

from aftersale.settings import *  # noqa: F403
from aftersale.settings import DATABASES, SQLITE_ENGINE, VAR_DIR

TIME_ZONE = "America/Sao_Paulo"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AFTERSALE_WEBHOOK_ALLOW_PRIVATE = True
AFTERSALE_SMS_BACKEND = "aftersale.messaging.sms.LocmemSmsBackend"

_test_db_name = os.environ.get("AFTERSALE_TEST_DB_NAME", "test_aftersale")
if DATABASES["default"]["ENGINE"] == SQLITE_ENGINE:
    # A file, not :memory:, so that worker processes started by a test see the same data.
    (VAR_DIR / "test").mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test" / f"{_test_db_name}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": _test_db_name}
