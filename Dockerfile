# One image for every Groundwork binary: the services and the `groundwork` CLI.
#
# Where the binaries come from is the build argument BINARIES:
# - `release` (the default): the stage below builds the whole workspace in release mode
#   (protos compile with protox: no protoc) and strips the binaries (debug info would make the
#   image several times larger; a panic's message and location are still printed).
# - an image whose /out/ holds the binaries already built on the host: scripts/compose-check
#   makes one (`groundwork-prebuilt:local`) where the Rust image cannot be pulled. That skips
#   the release build stage entirely: the image then carries whatever the host built (in CI a
#   stripped debug build), not a release build from this Dockerfile.
# Plain RUN steps only: the classic builder (no BuildKit) builds this file too.
ARG BINARIES=release

FROM rust:1.95-slim-bookworm AS release
WORKDIR /src
COPY . .
# The target directory is removed in the same step: the stage's layer keeps only /out.
RUN cargo build --release --locked --bins \
 && mkdir -p /out \
 && cp target/release/groundwork target/release/groundwork-* /out/ \
 && rm -f /out/*.d \
 && strip /out/* \
 && rm -rf target

FROM ${BINARIES} AS binaries

# Runtime stage: the binaries and CA certificates for real AWS endpoints. /secrets is where
# compose mounts the secrets volume, owned by the services' user so that the one-shot `secrets`
# service can write into it.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 groundwork \
 && install -d -m 0700 -o groundwork /secrets
COPY --from=binaries /out/ /usr/local/bin/
COPY examples /etc/groundwork/examples
USER groundwork
# Each compose service picks its binary with `command:`.
CMD ["groundwork", "--help"]
