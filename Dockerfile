# One image for every Groundwork binary: the services and the `groundwork` CLI.
# Build stage: the whole workspace in release mode (protos compile with protox: no protoc).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
 && mkdir -p /out \
 && cp target/release/groundwork target/release/groundwork-* /out/ \
 && rm -f /out/*.d

# Runtime stage: the binaries and CA certificates for real AWS endpoints.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 groundwork \
 && install -d -m 0700 -o groundwork /secrets
COPY --from=build /out/ /usr/local/bin/
COPY examples /etc/groundwork/examples
# The compose secrets volume is mounted here; owned by the services' user so that the
# one-shot `secrets` service can write into it.
RUN mkdir -m 0700 /secrets && chown groundwork /secrets
USER groundwork
# Each compose service picks its binary with `command:`.
CMD ["groundwork", "--help"]
