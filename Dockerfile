# The service image: hypercorn serving asgi:app, configured from the environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /app
RUN useradd --create-home --uid 10001 service
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY alembic.ini asgi.py serve.py ./
COPY config ./config
COPY migrations ./migrations
COPY scripts ./scripts
COPY service ./service
# Signing keys live in the named volume compose mounts here, writable by the service user only.
RUN mkdir -m 0700 /app/keys && chown service /app/keys
USER service

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["python", "scripts/healthcheck.py"]
# The same command as `make run` and the tests' instances (tests/support/instances.py).
CMD ["python", "serve.py"]
