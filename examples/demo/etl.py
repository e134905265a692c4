"""The demo's ETL script (docs/etl.md): mask e-mails, keep their domain, add amount_cents."""

import hashlib


def schema(stream, schema, ctx):
    if stream == "customers":
        return ctx.reshape(add={"email_domain": {"type": ["string", "null"]}})
    if stream == "orders":
        return ctx.reshape(add={"amount_cents": {"type": ["integer", "null"]}})
    return None


def transform(record, ctx):
    if ctx.stream == "customers":
        email = record.get("email") or ""
        return {
            **record,
            "email": hashlib.sha256(email.lower().encode()).hexdigest() if email else None,
            "email_domain": email.rpartition("@")[2] or None,
        }
    if ctx.stream == "orders":
        amount = record.get("amount")
        return {**record, "amount_cents": None if amount is None else round(amount * 100)}
    return record
