"""Merge two streams into one: customers_eu and customers_us become `customers`, with a
`region` field saying where each record came from."""


def schema(stream, schema, ctx):
    if not stream.startswith("customers_"):
        return None
    ctx.output_stream = "customers"
    return ctx.reshape(add={"region": {"type": "string"}})


def transform(record, ctx):
    if not ctx.stream.startswith("customers_"):
        return record
    return {**record, "region": ctx.stream.removeprefix("customers_")}
