import pytest

from apps.metrics.storage import forget_series
from apps.storage import partitions


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Partitions and series ids created inside a rolled-back test transaction must be forgotten.
    partitions.forget_partitions()
    forget_series()
    yield
