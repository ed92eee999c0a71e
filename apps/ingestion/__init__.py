"""Ingestion: the OTLP and native endpoints and their one pipeline (authenticate, decode,
clean, quota, write through the table owners, announce).

Public surface (what other apps may import; nothing else of this app):
  apps.ingestion.services   store_otlp(project_id, signal, message) for telemetry Vigil makes
                            itself (the demo); store_otlp_message and store_native_records for
                            records another transport built (Sentry transactions and logs);
                            the endpoints' workflow (authenticate, ingest_otlp, ingest_native, store)
  apps.ingestion.batch      Batch (what is written and announced), pg_datetime
  apps.ingestion.transport  the one entry for another transport handing a body to the pipeline
                            (the Sentry routes of apps.errors): IngestRequest, Reply, IngestError,
                            body caps and decompression, read_body, run_in_pool, send_reply,
                            consume_bucket
"""
