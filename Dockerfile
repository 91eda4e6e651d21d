# The daemon's image: `docker build -t sluice .` at the repository root.
# Stage 1 builds wheels (sluice with the `server` extra and every dependency, at the
# versions constraints.txt locks: `make lock`); stage 2 installs them offline into a venv
# on a clean slim base, with no compiler, no pip cache and no source tree, and runs as an
# unprivileged user. tests/chart/test_dockerfile.py checks these properties and runs
# stage 2's install command.

FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY proto ./proto
COPY server ./server
COPY client ./client
COPY sinks ./sinks
RUN python -m pip wheel --no-cache-dir -c constraints.txt --wheel-dir /wheels '.[server]'

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Sluice streaming export daemon" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 sluice \
    && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice --shell /usr/sbin/nologin sluice \
    && mkdir -p /var/lib/sluice /etc/sluice \
    && chown sluice:sluice /var/lib/sluice
COPY --from=build /wheels /wheels
RUN python -m venv /opt/sluice \
    && /opt/sluice/bin/python -m pip install --no-cache-dir --no-index --find-links /wheels 'sluice[server]' \
    && rm -rf /wheels
ENV PATH=/opt/sluice/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /var/lib/sluice
USER 10001:10001
EXPOSE 7070 7071 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["sluice", "serve"]
