"""Filter records: drop cancelled orders (return None), keep everything else unchanged."""


def transform(record, ctx):
    if ctx.stream == "orders" and record.get("status") == "cancelled":
        return None
    return record
