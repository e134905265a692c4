"""A batch ETL script over parquet sync-output: reads every stream's parquet files with pyarrow,
decodes the JSON-encoded nested columns and writes the records (plus ``n_tags``) as Singer."""

import json

import pyarrow.parquet as pq

from glue_runtime.batch.helpers import BatchJob

job = BatchJob.from_env()
schemas = json.loads((job.sync_output / "_schemas.json").read_text())
with job.writer() as out:
    for stream, entry in schemas.items():
        props = entry["schema"]["properties"]
        nested = [k for k, v in props.items() if "object" in v["type"] or "array" in v["type"]]
        out.schema(
            stream,
            {**entry["schema"], "properties": {**props, "n_tags": {"type": "integer"}}},
            entry["key_properties"],
        )
        rows = 0
        for name in entry["files"]:
            for batch in pq.ParquetFile(job.sync_output / name).iter_batches(batch_size=4096):
                for record in batch.to_pylist():
                    for key in nested:
                        if record.get(key) is not None:
                            record[key] = json.loads(record[key])
                    record["n_tags"] = len(record.get("tags") or [])
                    out.record(stream, record)
                    rows += 1
        print(f"{stream}: {rows} rows from {', '.join(entry['files'])}")
