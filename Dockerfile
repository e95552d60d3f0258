# Blameless Bot, the GitHub App: one image for the web part and the worker.
#   docker run ... IMAGE                       -> gunicorn web server on :3000 (blameless-bot web)
#   docker run ... IMAGE blameless-bot worker  -> the huey worker
#   docker run ... IMAGE blameless-bot serve   -> both in one container, for small installs
# The queue defaults to SQLite under /data (mount a volume); set REDIS_URL to scale out.
# Pinned by digest (python:3.11-slim as published when pinned): a rebuild gets the same base.
# To move on: `docker pull python:3.11-slim` and copy its RepoDigest here.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BLAMELESS_DATA_DIR=/data \
    PORT=3000

WORKDIR /srv/blameless-bot
COPY pyproject.toml README.md* ./
COPY checks ./checks
COPY app ./app
COPY action ./action
RUN pip install --no-cache-dir "./[app]" \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin blameless \
    && mkdir -p /data \
    && chown blameless /data

USER 10001
VOLUME ["/data"]
EXPOSE 3000

# `health` passes if this container's web server answers /healthz or its worker's heartbeat is
# fresh, so the same check serves the web and the worker containers. Readiness is /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["blameless-bot", "health"]

CMD ["blameless-bot", "web"]
