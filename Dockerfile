# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# pyproject.toml alone installs every dependency (the project itself is not a package):
# this layer is rebuilt only when dependencies change, not on every code change. No extras:
# the embedded PostgreSQL and Redis (`local`) are for machines without servers, not for this image.
COPY pyproject.toml ./
RUN pip install .

# Front-end libraries (uPlot) from the npm registry, checked against their pinned sha512; without
# them the dashboards have no charts. Its own layer, rebuilt only when the pins change.
ARG NPM_REGISTRY=https://registry.npmjs.org
COPY config/__init__.py config/assets.py config/
RUN NPM_REGISTRY="$NPM_REGISTRY" python -m config.assets && python -m config.assets --check

COPY . .
# STATIC_ROOT must exist even though WhiteNoise serves from the finders; var/ is also
# where the Prometheus multiprocess files live (see docker-compose.yml).
RUN useradd --system --uid 10001 --home-dir /app vigil \
    && mkdir -p var/static \
    && chown -R vigil:vigil var
USER vigil

EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]
