"""`glue serve`: the HTTP API, service keys, triggers, schedules and outbound events.

Needs the ``server`` extra (FastAPI, uvicorn, croniter, prometheus-client). The service is a
client of the jobs and workspace layers, with the same permissions as every other client.
"""
