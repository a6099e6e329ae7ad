# One image with both binaries: retl-controller (the Deployment) and
# retl-engine (the run pods use the same image).
#   docker build -t ghcr.io/retl/retl:latest .

# ---- build ---------------------------------------------------------------------
FROM debian:bookworm AS build
# The C build subset of deps/apt.txt (no test tooling).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config ca-certificates \
      libcurl4-openssl-dev libjansson-dev libyaml-dev libpq-dev libssl-dev \
      libmicrohttpd-dev unixodbc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" all \
 && strip build/bin/retl-engine build/bin/retl-controller

# ---- runtime -------------------------------------------------------------------
FROM debian:bookworm-slim
# Only the shared libraries the binaries need (tests/suites/15-dockerfile.sh
# keeps this list in sync with what they link), time zones for schedules and
# CA certificates for TLS to warehouses, Salesforce and the API server.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcurl4 \
      libjansson4 \
      libyaml-0-2 \
      libpq5 \
      libssl3 \
      libmicrohttpd12 \
      libodbc2 \
      tzdata \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 retl \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin retl
COPY --from=build /src/build/bin/retl-engine /src/build/bin/retl-controller /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/retl-controller"]
