# One image for every process (web, worker, beat, flower, ingest): `docker run IMAGE worker`.
# The base is pinned to an exact release; pin its digest too when you publish (docs/deploy.md).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# --- build: the dependencies, in a virtualenv the runtime stage copies whole -------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
WORKDIR /src
# The AWS mode's dependencies at the versions `make lock` locked (hash-checked): the runtime runs
# the source tree in /app (the upload page is read from /app/web), so the project is not installed.
COPY docker/requirements.lock ./
RUN /venv/bin/pip install --require-hashes -r requirements.lock

# --- runtime: no compiler, no pip cache, not root -----------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 imagepipe \
    && useradd --system --uid 10001 --gid imagepipe --home-dir /app --shell /usr/sbin/nologin imagepipe
COPY --from=build /venv /venv
WORKDIR /app
COPY Procfile celeryconfig.py ./
COPY app app
COPY tasks tasks
COPY edge edge
COPY web web
COPY docker/entrypoint.sh /usr/local/bin/imagepipe-entrypoint
RUN mkdir -p /app/var && chown imagepipe:imagepipe /app/var
ENV PATH=/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IMAGEPIPE_HOST=0.0.0.0 \
    IMAGEPIPE_PORT=8000 \
    FLOWER_PORT=5555
USER 10001:10001
EXPOSE 8000 5555
ENTRYPOINT ["/usr/local/bin/imagepipe-entrypoint"]
CMD ["web"]
