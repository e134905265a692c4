"""target-hello: writes each record as a line of text to `output`."""

from __future__ import annotations

from typing import Any

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink


class HelloSink(BatchSink):
    def process_batch(self, context: dict[str, Any]) -> None:
        with open(self.config["output"], "a") as fh:
            for record in context["records"]:
                fh.write(f"{self.stream_name}: {record}\n")


class TargetHello(Target):
    name = "target-hello"
    config_jsonschema = th.PropertiesList(
        th.Property("output", th.StringType, required=True, description="File to append to."),
    ).to_dict()
    default_sink_class = HelloSink
