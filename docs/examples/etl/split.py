"""Split one stream into two: each order's `lines` array becomes its own stream, order_lines.

order_lines is declared in schema(); its records are sent with Out("order_lines", ...).
The orders stream loses its `lines` field.
"""

from glue_runtime.etl import Out

LINE_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "integer"},
        "line_no": {"type": "integer"},
        "sku": {"type": ["string", "null"]},
        "qty": {"type": ["integer", "null"]},
    },
}


def schema(stream, schema, ctx):
    if stream != "orders":
        return None
    ctx.declare_stream("order_lines", LINE_SCHEMA, key_properties=["order_id", "line_no"])
    return ctx.reshape(drop=["lines"])


def transform(record, ctx):
    if ctx.stream != "orders":
        return record
    yield {k: v for k, v in record.items() if k != "lines"}
    for n, line in enumerate(record.get("lines") or [], start=1):
        yield Out("order_lines", {"order_id": record["id"], "line_no": n, **line})
