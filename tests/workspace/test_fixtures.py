"""The PostgreSQL half of the store tests skips without a server, except under CI."""

from __future__ import annotations

import pytest
from store_test_helpers import pg_dsn


def test_no_server_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GLUE_TEST_PG_DSN", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="GLUE_TEST_PG_DSN is not set"):
        pg_dsn()


def test_no_server_under_ci_fails(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GLUE_TEST_PG_DSN", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot connect to GLUE_TEST_PG_DSN"):
        pg_dsn()
