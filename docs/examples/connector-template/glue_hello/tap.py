"""tap-hello: one stream, `greetings`, with `count` records greeting `name`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th


class Greetings(Stream):
    name = "greetings"
    primary_keys = ("id",)
    replication_key = "id"
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("text", th.StringType),
    ).to_dict()

    def get_records(self, context: dict | None) -> Iterable[dict[str, Any]]:
        start = self.get_starting_replication_key_value(context) or 0
        for i in range(start + 1, start + self.config["count"] + 1):
            yield {"id": i, "text": f"hello {self.config['name']} #{i}"}


class TapHello(Tap):
    name = "tap-hello"
    config_jsonschema = th.PropertiesList(
        th.Property("name", th.StringType, required=True, description="Who to greet."),
        th.Property("count", th.IntegerType, default=3, description="Records per run."),
        th.Property("api_key", th.StringType, secret=True, description="Not used; a secret."),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [Greetings(self)]
