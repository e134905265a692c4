"""Schedules: cron expressions and intervals that start jobs (docs/jobs.md)."""
