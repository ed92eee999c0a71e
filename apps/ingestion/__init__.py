"""Ingestion: the OTLP and native endpoints and their one pipeline (authenticate, decode,
clean, quota, write through the table owners, announce).

Public surface (what other apps may import; nothing else of this app):
  apps.ingestion.services   store_otlp(project_id, signal, message) for telemetry Vigil makes
                            itself (the demo); the endpoints' workflow (authenticate,
                            ingest_otlp, ingest_native, store)
  apps.ingestion.batch      Batch (what is written and announced), pg_datetime
"""
