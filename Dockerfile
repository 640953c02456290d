# The Galvani image: one image for every production process (api, gateway, migrate);
# docker-compose.yml picks the process with `command:`.

# --- build: install the project into a virtualenv --------------------------------------------
FROM python:3.11.13-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The same path as in the runtime stage: a virtualenv's scripts point at its own interpreter by path.
RUN python -m venv /opt/galvani
ENV PATH=/opt/galvani/bin:$PATH

WORKDIR /src
# The locked dependencies first (exact versions, every file checked against its sha256: scripts/lock makes
# the file), in a layer of their own that a change to Galvani's code does not rebuild.
COPY requirements/app.lock ./requirements/app.lock
RUN pip install --require-hashes -r requirements/app.lock

# Only what the package is built from, listed by name: the build context also holds .venv, .git and
# a local data/ folder (SQLite file, development secret key) that must never reach an image.
COPY pyproject.toml ./
COPY api ./api
COPY db ./db
COPY device_gateway ./device_gateway
COPY galvani ./galvani
COPY web ./web
RUN pip install --no-deps .

# --- runtime: the virtualenv only, no sources, no build tools --------------------------------
FROM python:3.11.13-slim-bookworm

ENV PATH=/opt/galvani/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GALVANI_DATA_DIR=/var/lib/galvani

# A fixed, unprivileged uid, so that file ownership on mounted volumes is predictable.
RUN groupadd --system --gid 10001 galvani \
 && useradd --system --uid 10001 --gid galvani --home-dir /var/lib/galvani --shell /usr/sbin/nologin galvani \
 && install -d -o galvani -g galvani -m 0750 /var/lib/galvani /var/lib/galvani/broker

COPY --from=build /opt/galvani /opt/galvani

# The data folder is only written in development mode (embedded SQLite, a generated secret key);
# production takes both from the environment. It is the working directory so relative paths land there.
WORKDIR /var/lib/galvani
USER galvani

EXPOSE 8000

# No HEALTHCHECK here: the gateway and migrate run from this image too and serve no HTTP.
# The api's health check is in docker-compose.yml.
CMD ["galvani", "api", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
