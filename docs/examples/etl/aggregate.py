"""Aggregate at the end of a stream: revenue and order count per country, sent once all
orders were seen. The orders themselves still pass through.

Because this script has end_stream, the stage holds STATE back until the end of input, so a
bookmark never covers orders whose totals were not sent.
"""

from glue_runtime.etl import Out

SUMMARY = {
    "type": "object",
    "properties": {
        "country": {"type": "string"},
        "orders": {"type": "integer"},
        "revenue": {"type": "number"},
    },
}


def schema(stream, schema, ctx):
    if stream == "orders":
        ctx.declare_stream("sales_by_country", SUMMARY, key_properties=["country"])


def start_stream(ctx):
    ctx.state["by_country"] = {}


def transform(record, ctx):
    if ctx.stream == "orders":
        totals = ctx.state["by_country"].setdefault(record["country"], [0, 0.0])
        totals[0] += 1
        totals[1] += record["price"] * record["qty"]
    return record


def end_stream(ctx):
    if ctx.stream != "orders":
        return
    for country, (count, revenue) in sorted(ctx.state["by_country"].items()):
        ctx.log.info("country %s: %d orders", country, count)
        yield Out("sales_by_country", {"country": country, "orders": count, "revenue": revenue})
