"""singer-sdk's standard target test suite, each test writing to its own schema."""

from __future__ import annotations

import pytest
from glue_postgres.target import TargetPostgres
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner

pytestmark = pytest.mark.postgres

# The generated class's config is fixed when the module is imported, before any server is up:
# its `runner` fixture is overridden below to point each test at the real server and a fresh
# schema. (A leading underscore keeps pytest from collecting the base class itself.)
_StandardTests = get_target_test_class(TargetPostgres, config={"dsn": "unused"})


class TestTargetPostgresStandard(_StandardTests):  # type: ignore[misc,valid-type]
    @pytest.fixture
    def runner(self, pg_config: dict) -> TargetTestRunner:
        return TargetTestRunner(target_class=TargetPostgres, config=pg_config)
