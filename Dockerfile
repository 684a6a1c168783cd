# One image for the code server, the webserver and the daemon.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home \
    TG_DATA_DIR=/opt/tg/data

WORKDIR /opt/tg

COPY pyproject.toml README.md ./
COPY tg_pipeline ./tg_pipeline
RUN pip install . \
    && mkdir -p "$DAGSTER_HOME" "$TG_DATA_DIR" \
    && cp tg_pipeline/deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && useradd --system --uid 10001 --home-dir /opt/tg tg \
    && chown -R tg "$DAGSTER_HOME" "$TG_DATA_DIR"

USER tg
