# One image with both binaries: retl-controller (the Deployment) and
# retl-engine (the run pods use the same image), and the kubectl plugin
# kubectl-retl (for pipeline steps: `kubectl-retl run JOB --wait`).
#   docker build -t ghcr.io/retl/retl:latest .
# `make image` builds it offline with podman into localhost/retl:dev from base
# images made with mmdebstrap (--build-arg DEBIAN_IMAGE=localhost/debian).
ARG DEBIAN_IMAGE=debian

# ---- build ---------------------------------------------------------------------
FROM ${DEBIAN_IMAGE}:bookworm AS build
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
 && strip build/bin/retl-engine build/bin/retl-controller build/bin/kubectl-retl

# ---- runtime -------------------------------------------------------------------
FROM ${DEBIAN_IMAGE}:bookworm-slim
# Only the shared libraries the binaries need (tests/suites/15-dockerfile.sh
# keeps this list in sync with what they link), the ODBC drivers the sources
# name (FreeTDS for sqlserver, psqlODBC for odbc) registered in odbcinst.ini,
# time zones for schedules and CA certificates for TLS to warehouses,
# Salesforce and the API server.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcurl4 \
      libjansson4 \
      libyaml-0-2 \
      libpq5 \
      libssl3 \
      libmicrohttpd12 \
      libodbc2 \
      odbcinst \
      tdsodbc \
      odbc-postgresql \
      tzdata \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && (odbcinst -q -d -n FreeTDS >/dev/null 2>&1 \
     || odbcinst -i -d -f /usr/share/tdsodbc/odbcinst.ini) \
 && odbcinst -q -d -n FreeTDS && odbcinst -q -d -n "PostgreSQL Unicode" \
 && groupadd --gid 65532 retl \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin retl
COPY --from=build /src/build/bin/retl-engine /src/build/bin/retl-controller /src/build/bin/kubectl-retl /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/retl-controller"]
