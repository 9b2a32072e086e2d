# airflow-statsd-exporter: a static musl binary on a pinned Alpine base.
#
#   docker build -t airflow-statsd-exporter:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#
# The image is a drop-in for quay.io/prometheus/statsd-exporter: the binary is the
# ENTRYPOINT, so charts that pass only `args` (the official Apache Airflow chart) work
# unchanged. It runs as nobody (65534:65534), writes nothing to its root filesystem
# and needs no shell at run time. See docs/deploy.md.
#
# No Docker engine runs in this project's CI: scripts/check-packaging.sh lints this
# file with hadolint and builds/smoke-tests the same static binary on the host.

FROM rust:1.94.1-alpine3.23 AS builder
# The rust:*-alpine3.23 images ship gcc and musl-dev, which mimalloc's C code needs;
# the host target there is *-unknown-linux-musl, statically linked by default.
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/airflow-statsd-exporter /out/airflow-statsd-exporter
RUN /out/airflow-statsd-exporter --version

FROM alpine:3.23.4

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="airflow-statsd-exporter" \
      org.opencontainers.image.description="Drop-in replacement for prometheus/statsd_exporter with a built-in Apache Airflow metric model" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/alpine:3.23.4"

COPY --from=builder --chown=0:0 /out/airflow-statsd-exporter /usr/local/bin/airflow-statsd-exporter
# Smoke test in the final image: the binary starts on this base.
RUN ["/usr/local/bin/airflow-statsd-exporter", "--version"]

# mimalloc commits whole arenas up front: with it on, RSS is ~40 MiB at 25k samples
# and ~91 MiB at 88k; off, ~20 and ~63 MiB, like the glibc build (docs/performance.md).
ENV MIMALLOC_ARENA_EAGER_COMMIT=0

USER 65534:65534
# 9125: StatsD over UDP and TCP; 9102: /metrics, /-/healthy, /-/ready.
EXPOSE 9125/udp 9125/tcp 9102/tcp
# Probes the local /-/healthy endpoint with the binary itself (no curl/wget in the image).
# If you move the web listener (--web.listen-address), override the HEALTHCHECK too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/airflow-statsd-exporter", "healthcheck", "--web.listen-address=127.0.0.1:9102"]
ENTRYPOINT ["/usr/local/bin/airflow-statsd-exporter"]
