from tests.ingestion.conftest import vigil_server  # noqa: F401  (a live uvicorn for the SDK round trip)
