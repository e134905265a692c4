"""glue.yml's jobs: block: defaults, every key parsed, bad values refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue_runtime.errors import ConfigError
from glue_runtime.jobs.settings import JobSettings, job_settings, parse_job_settings
from glue_runtime.workspace.config import load_workspace


def _workspace(root: Path, jobs_block: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "glue.yml").write_text("name: t\n" + jobs_block + "flows: {}\n")
    return root


def test_defaults_when_glue_yml_has_no_jobs_block(tmp_path):
    settings = job_settings(load_workspace(_workspace(tmp_path, "")))
    assert settings == JobSettings()
    assert (settings.concurrency, settings.heartbeat_s, settings.stale_after_s) == (2, 5.0, 60.0)
    assert (settings.rerun_interrupted, settings.max_attempts) == (True, 3)
    assert settings.retention_s == 30 * 86400.0
    assert (settings.pause_after_failures, settings.poll_interval_s) == (10, 1.0)
    assert settings.per_tenant is None
    assert settings.connector_cap("files") is None


def test_every_key_is_read_from_glue_yml(tmp_path):
    block = (
        "jobs:\n"
        "  concurrency: 8\n"
        "  per_connector: {hubspot: 1, files: 3}\n"
        "  per_tenant: 2\n"
        "  heartbeat: 2s\n"
        "  stale_after: 1m\n"
        "  rerun_interrupted: false\n"
        "  max_attempts: 5\n"
        "  retention: 7d\n"
        "  pause_after_failures: 0\n"
        "  poll_interval: 500ms\n"
    )
    settings = job_settings(load_workspace(_workspace(tmp_path, block)))
    assert settings.concurrency == 8
    assert settings.connector_cap("hubspot") == 1
    assert settings.connector_cap("files") == 3
    assert settings.per_tenant == 2
    assert (settings.heartbeat_s, settings.stale_after_s) == (2.0, 60.0)
    assert settings.rerun_interrupted is False
    assert settings.max_attempts == 5
    assert settings.retention_s == 7 * 86400.0
    assert settings.pause_after_failures == 0
    assert settings.poll_interval_s == 0.5


def test_retention_zero_keeps_jobs_forever_and_null_never_pauses():
    assert parse_job_settings({"retention": 0}).retention_s is None
    assert parse_job_settings({"retention": None}).retention_s is None
    assert parse_job_settings({"pause_after_failures": None}).pause_after_failures == 0


@pytest.mark.parametrize(
    ("block", "names"),
    [
        ("jobs:\n  concurrency: 0\n", "jobs.concurrency"),
        ("jobs:\n  concurency: 2\n", "concurency"),
        ("jobs:\n  heartbeat: soon\n", "jobs.heartbeat"),
        ("jobs:\n  per_connector: {hubspot: 0}\n", "jobs.per_connector.hubspot"),
        ("jobs:\n  rerun_interrupted: maybe\n", "jobs.rerun_interrupted"),
    ],
)
def test_glue_yml_with_a_bad_jobs_value_is_refused_naming_the_key(tmp_path, block, names):
    with pytest.raises(ConfigError) as err:
        load_workspace(_workspace(tmp_path, block))
    assert names in str(err.value) + (err.value.hint or "")


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"heartbeat": 0}, "jobs.heartbeat"),
        ({"heartbeat": "10s", "stale_after": "5s"}, "jobs.stale_after"),
        ({"max_attempts": True}, "jobs.max_attempts"),
        ({"retention": "forever"}, "jobs.retention"),
        ({"per_connector": ["a"]}, "jobs.per_connector"),
        ({"nope": 1}, "jobs.nope"),
    ],
)
def test_values_a_schema_cannot_refuse_are_refused_by_the_parser(raw, names):
    with pytest.raises(ConfigError) as err:
        parse_job_settings(raw)
    assert names in err.value.message
