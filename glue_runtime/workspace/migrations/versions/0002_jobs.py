"""Issue 13: jobs, their logs, samples and results; service keys and idempotency keys;
triggers' endpoints, secrets, tenant URL tokens and deliveries; schedules' overrides and ticks;
the event outbox with its fan-outs, deliveries, attempts and webhook secrets; links can be
paused and count their failed jobs. Frozen as explicit calls: every later change is a new
revision (a test compares a migrated store with the tables the code defines).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("paused_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("paused_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "event_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("event_attempts_by_delivery", "event_attempts", ["delivery_id"], unique=False)
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=True),
        sa.Column("claimed_until", sa.Float(), nullable=True),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("replay_of", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("event_deliveries_by_event", "event_deliveries", ["event_id"], unique=False)
    op.create_index(
        "event_deliveries_due", "event_deliveries", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "event_fanouts",
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("service_key", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("job_ids", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("service_key", "key_hash"),
    )
    op.create_table(
        "job_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("job_logs_by_job", "job_logs", ["job_id", "id"], unique=False)
    op.create_table(
        "job_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("stream", sa.String(length=400), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("hash", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("job_results_by_job", "job_results", ["job_id", "stream"], unique=False)
    op.create_table(
        "job_samples",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "at"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("flow", sa.String(length=200), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("connector", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_by", sa.String(length=16), nullable=False),
        sa.Column("started_ref", sa.Text(), nullable=False),
        sa.Column("sync_type", sa.String(length=16), nullable=False),
        sa.Column("streams", sa.Text(), nullable=True),
        sa.Column("start_date", sa.Text(), nullable=True),
        sa.Column("folded", sa.Integer(), nullable=False),
        sa.Column("rerun_of", sa.String(length=32), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("not_before", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("heartbeat_at", sa.Float(), nullable=True),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("state_before", sa.Text(), nullable=True),
        sa.Column("state_after", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("jobs_by_flow", "jobs", ["flow", "created_at"], unique=False)
    op.create_index("jobs_by_status", "jobs", ["status", "not_before"], unique=False)
    op.create_index("jobs_by_tenant", "jobs", ["tenant", "created_at"], unique=False)
    op.create_index(
        "jobs_one_queued",
        "jobs",
        ["flow", "tenant", "connector"],
        unique=True,
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "jobs_one_running",
        "jobs",
        ["flow", "tenant", "connector"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("outbox_by_time", "outbox", ["created_at"], unique=False)
    op.create_table(
        "schedule_overrides",
        sa.Column("flow", sa.String(length=200), nullable=False),
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("cron", sa.Text(), nullable=True),
        sa.Column("every_s", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("flow", "schedule", "tenant"),
    )
    op.create_table(
        "schedule_ticks",
        sa.Column("schedule", sa.String(length=401), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("tick", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=False),
        sa.Column("server", sa.Text(), nullable=False),
        sa.Column("jobs", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("schedule", "tenant", "tick"),
    )
    op.create_table(
        "service_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "trigger_deliveries",
        sa.Column("endpoint", sa.String(length=40), nullable=False),
        sa.Column("dedupe", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("endpoint", "dedupe"),
    )
    op.create_index("trigger_deliveries_by_tenant", "trigger_deliveries", ["tenant"], unique=False)
    op.create_index(
        "trigger_deliveries_by_time", "trigger_deliveries", ["received_at"], unique=False
    )
    op.create_table(
        "trigger_endpoints",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("flow", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flow", "trigger", name="trigger_endpoints_one_per_trigger"),
    )
    op.create_table(
        "trigger_secrets",
        sa.Column("flow", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("flow", "trigger", "slot"),
    )
    op.create_table(
        "trigger_tenant_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("flow", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=200), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(
        "trigger_tenant_tokens_by_tenant", "trigger_tenant_tokens", ["tenant"], unique=False
    )
    op.create_table(
        "webhook_secrets",
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("previous", sa.Text(), nullable=True),
        sa.Column("previous_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("endpoint"),
    )


def downgrade() -> None:
    op.drop_table("webhook_secrets")
    op.drop_index("trigger_tenant_tokens_by_tenant", table_name="trigger_tenant_tokens")
    op.drop_table("trigger_tenant_tokens")
    op.drop_table("trigger_secrets")
    op.drop_table("trigger_endpoints")
    op.drop_index("trigger_deliveries_by_time", table_name="trigger_deliveries")
    op.drop_index("trigger_deliveries_by_tenant", table_name="trigger_deliveries")
    op.drop_table("trigger_deliveries")
    op.drop_table("service_keys")
    op.drop_table("schedule_ticks")
    op.drop_table("schedule_overrides")
    op.drop_index("outbox_by_time", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(
        "jobs_one_running",
        table_name="jobs",
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_index(
        "jobs_one_queued",
        table_name="jobs",
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.drop_index("jobs_by_tenant", table_name="jobs")
    op.drop_index("jobs_by_status", table_name="jobs")
    op.drop_index("jobs_by_flow", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("job_samples")
    op.drop_index("job_results_by_job", table_name="job_results")
    op.drop_table("job_results")
    op.drop_index("job_logs_by_job", table_name="job_logs")
    op.drop_table("job_logs")
    op.drop_table("idempotency_keys")
    op.drop_table("event_fanouts")
    op.drop_index("event_deliveries_due", table_name="event_deliveries")
    op.drop_index("event_deliveries_by_event", table_name="event_deliveries")
    op.drop_table("event_deliveries")
    op.drop_index("event_attempts_by_delivery", table_name="event_attempts")
    op.drop_table("event_attempts")
    with op.batch_alter_table("links") as batch:
        batch.drop_column("failures")
        batch.drop_column("paused_reason")
        batch.drop_column("paused_at")
