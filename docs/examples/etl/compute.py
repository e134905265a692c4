"""Compute a field and drop others: orders get `total` (price * qty); `internal_note` goes."""

DROP = {"internal_note"}


def schema(stream, schema, ctx):
    if stream != "orders":
        return None
    return ctx.reshape(drop=DROP, add={"total": {"type": ["number", "null"]}})


def transform(record, ctx):
    if ctx.stream != "orders":
        return record
    out = {k: v for k, v in record.items() if k not in DROP}
    out["total"] = round(record["price"] * record["qty"], 2)
    return out
