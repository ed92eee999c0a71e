import pytest

from apps.ingestion import partitions, writer


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Partitions and series ids created inside a rolled-back test transaction must be forgotten.
    partitions.forget_partitions()
    writer._series_ids.clear()
    yield
