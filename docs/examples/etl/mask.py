"""Mask personal data: email becomes its sha256, phone keeps only its last 4 digits.

The types do not change (both stay strings), so no schema() is needed.
"""

import hashlib


def transform(record, ctx):
    if ctx.stream != "customers":
        return record
    email, phone = record.get("email"), record.get("phone")
    return {
        **record,
        "email": hashlib.sha256(email.lower().encode()).hexdigest() if email else None,
        "phone": "*" * (len(phone) - 4) + phone[-4:] if phone else None,
    }
