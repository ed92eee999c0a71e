"""Ingestion: the OTLP and native endpoints and their one pipeline (authenticate, decode,
clean, quota, write through the table owners, announce).

Public surface (what other apps may import; nothing else of this app):
  apps.ingestion.services   store_otlp(project_id, signal, message) for telemetry Vigil makes
                            itself (the demo); the endpoints' workflow (authenticate,
                            ingest_otlp, ingest_native, store)
  apps.ingestion.batch      Batch (what is written and announced), pg_datetime
  apps.ingestion.asgi       the fast path's body reader, thread pool and reply writer, which the
                            Sentry transport (apps.errors.asgi) shares
  apps.ingestion.body       body caps and decompression, for the Sentry routes
  apps.ingestion.endpoint   Reply, JSON_TYPE, IngestRequest
  apps.ingestion.errors     IngestError
  apps.ingestion.ratelimit  the shared Redis token-bucket script (per-category Sentry buckets)
  apps.ingestion.cleaning   Cleaner; with native, otlp_decode, records and redaction: the
  apps.ingestion.native     decoders apps.errors.telemetry feeds Sentry transactions and logs
  apps.ingestion.otlp_decode  through before `services.store`
  apps.ingestion.records
  apps.ingestion.redaction
"""
