"""Rename fields and a stream: customers(id, name) -> clients(customer_id, full_name).

ctx.reshape() renames the fields in the output schema, and the key property follows the
rename (id -> customer_id). Other streams pass through untouched.
"""

RENAMES = {"id": "customer_id", "name": "full_name"}


def schema(stream, schema, ctx):
    if stream != "customers":
        return None  # unchanged
    ctx.output_stream = "clients"
    return ctx.reshape(rename=RENAMES)


def transform(record, ctx):
    if ctx.stream != "customers":
        return record  # unchanged: goes out as the tap's own bytes
    return {RENAMES.get(k, k): v for k, v in record.items()}
