# intent: the collector, API and dashboard in one image. `docker compose up -d` runs it against a
# ClickHouse server (docker-compose.yml); alone, it uses the embedded engine in /var/lib/intent.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY collector ./collector
COPY intent ./intent
RUN pip install . && rm -rf /src

# An unprivileged user owning the spool, the embedded database and the config volume.
RUN useradd --system --uid 10001 --home-dir /var/lib/intent --shell /usr/sbin/nologin intent \
    && mkdir -p /var/lib/intent /etc/intent \
    && chown intent:intent /var/lib/intent /etc/intent
USER intent
WORKDIR /var/lib/intent

ENV INTENT_HOST=0.0.0.0 \
    INTENT_PORT=8000 \
    INTENT_CONFIG=/etc/intent/intent.toml \
    INTENT_SPOOL_DIR=/var/lib/intent/spool \
    INTENT_CLICKHOUSE_URL=chdb:///var/lib/intent/clickhouse

EXPOSE 8000
VOLUME ["/var/lib/intent"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# SIGTERM drains the spool into ClickHouse before exiting (give it time: stop_grace_period).
STOPSIGNAL SIGTERM
# A starter intent.toml (one site, `localhost`) is written on first start if none is mounted.
CMD ["sh", "-c", "intent init --if-missing && exec intent serve"]
