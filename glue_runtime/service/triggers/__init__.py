"""Triggers: signed webhooks from connected systems that start jobs (docs/triggers.md)."""
