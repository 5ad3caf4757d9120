# syntax=docker/dockerfile:1
# Multi-stage build for the campaign-events service.
#   docker build -t campaign-events .
# Requires BuildKit (default since Docker 23 / docker compose v2) for the cache mounts.

############################
# Builder
############################
FROM rust:1-bookworm AS builder

WORKDIR /app

# Copy the whole build context (Cargo.toml, Cargo.lock, src/, actors/,
# migrations/, benches/, tests/ ... whatever exists). .dockerignore keeps
# target/, .git/ and load-test output out. Copying everything means optional
# directories such as benches/ never break the COPY, and cargo sees every
# target its manifests may reference.
COPY . .

# Only pure-Rust crates plus `ring`, whose C parts build with the gcc already
# in rust:1-bookworm: no extra apt packages needed.
# Cache mounts speed up rebuilds; the binary is copied out of the cached
# target dir within the same RUN, since cache mounts are not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/app/target \
    cargo build --release --locked --bin campaign-events \
 && install -D -m 0755 target/release/campaign-events /out/campaign-events

############################
# Runtime
############################
FROM debian:bookworm-slim AS runtime

# ca-certificates: TLS to external endpoints; tzdata: timezone data for the OS
# (chrono-tz embeds its own database, but keep the system one consistent).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*

# Unprivileged system user; numeric IDs so orchestrators can verify non-root.
RUN groupadd --system --gid 10001 campaign-events \
 && useradd --system --uid 10001 --gid campaign-events \
      --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin \
      campaign-events

COPY --from=builder /out/campaign-events /usr/local/bin/campaign-events

USER 10001:10001

ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080

# No HEALTHCHECK here: the image has no curl/wget. compose.yaml runs
# `campaign-events healthcheck` (a subcommand of the binary) instead.

ENTRYPOINT ["campaign-events"]
CMD ["serve"]
