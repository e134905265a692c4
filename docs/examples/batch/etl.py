"""A batch ETL script (hotglue style): upper-case names, send only new or changed records.

glue_runtime runs it as its own process after the tap's output has landed in sync-output/.
"""

import os
import sys

from glue_runtime.batch.helpers import BatchJob

job = BatchJob.from_env()
if os.environ.get("FAIL_ETL"):
    sys.exit("etl: the mapping table is missing a row for 'users'")

with job.writer() as out:
    for stream in job.streams():
        keys = job.key_properties(stream)
        schema = job.schema(stream)
        schema["properties"]["name_upper"] = {"type": ["string", "null"]}
        out.schema(stream, schema, keys)
        snapshot = job.snapshot(stream)
        sent = 0
        for record in snapshot.changed(job.read(stream)):
            out.record(stream, {**record, "name_upper": str(record["name"]).upper()})
            sent += 1
        snapshot.save()
        print(f"{stream}: {sent} new or changed records (flow {job.flow}, tenant {job.tenant})")
