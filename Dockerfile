# powercat image: build a virtualenv in one stage, run it as a non-root user in the next.
FROM python:3.11-slim AS build
WORKDIR /srv/powercat
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install --no-deps -e .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv/powercat powercat \
 && mkdir -p /data && chown powercat /data
WORKDIR /srv/powercat
COPY --from=build /opt/venv /opt/venv
COPY --from=build /srv/powercat /srv/powercat
COPY migrations ./migrations
COPY seed ./seed
COPY openapi ./openapi
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    POWERCAT_DATABASE_URL=sqlite+aiosqlite:////data/powercat.db
VOLUME ["/data"]
USER powercat
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["powercat", "serve", "--host", "0.0.0.0"]
