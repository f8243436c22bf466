# kefu-gateway: slim, non-root image with a health check.
# Build: docker build -t kefu-gateway .    Run: see docker-compose.yml
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY normalizer ./normalizer
COPY rules ./rules
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip && /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_DATABASE_URL=sqlite+aiosqlite:////var/lib/kefu-gateway/kefu-gateway.db
RUN groupadd --system kefu && useradd --system --gid kefu --home /var/lib/kefu-gateway kefu \
    && mkdir -p /var/lib/kefu-gateway && chown kefu:kefu /var/lib/kefu-gateway
COPY --from=build /opt/venv /opt/venv
USER kefu
WORKDIR /var/lib/kefu-gateway
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["kefu-gateway"]
CMD ["serve"]
