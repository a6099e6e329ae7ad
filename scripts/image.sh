#!/usr/bin/env bash
# `make image`: builds the Dockerfile offline into localhost/retl:dev with podman
# (runc, cgroupfs) whose stores, config and temporary files all live under
# build/containers/. No image registry is needed: the Debian base images are made
# with mmdebstrap from the Debian mirror and imported as localhost/debian:bookworm
# and localhost/debian:bookworm-slim once. Idempotent: a second run with no change
# is a cached podman build (seconds).
#   scripts/image.sh build [TAG]        build (default localhost/retl:dev)
#   scripts/image.sh env                print the podman environment (eval it)
#   scripts/image.sh save TAG FILE      OCI archive of TAG (for containerd)
#   scripts/image.sh pause              localhost/pause:retl, the pod sandbox image
#   scripts/image.sh clean              unmount and remove the stores
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
C=${RETL_CONTAINERS_DIR:-$ROOT/build/containers}
SUITE=bookworm
MIRROR=${RETL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${RETL_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

setup() {
  mkdir -p "$C"/{conf,storage,run,tmp,base,volumes,static}
  # podman's default ulimits exceed this kernel's hard limits; crun refuses the
  # hybrid cgroup layout (runc does not); the journal needs systemd.
  cat >"$C/conf/containers.conf.new" <<CONF
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$C/run/events.log"
tmp_dir = "$C/run/libpod"
static_dir = "$C/static"
volume_path = "$C/volumes"
image_copy_tmp_dir = "$C/tmp"
CONF
  cat >"$C/conf/storage.conf.new" <<CONF
[storage]
driver = "overlay"
graphroot = "$C/storage"
runroot = "$C/run/storage"
CONF
  for f in containers.conf storage.conf; do
    cmp -s "$C/conf/$f.new" "$C/conf/$f" && rm "$C/conf/$f.new" || mv "$C/conf/$f.new" "$C/conf/$f"
  done
  export CONTAINERS_CONF=$C/conf/containers.conf CONTAINERS_STORAGE_CONF=$C/conf/storage.conf
  export TMPDIR=$C/tmp
}

# A Debian base image from the mirror, imported once. slim: no docs, man pages,
# locales (as the official bookworm-slim).
base() {
  local tag=$1 slim=$2 tar=$C/base/$1.tar opts=()
  podman image exists "localhost/debian:$tag" && return 0
  echo "image: making localhost/debian:$tag with mmdebstrap"
  if [ "$slim" = 1 ]; then
    local d # dpkg globs, not the host's files
    for d in doc man info locale lintian linda groff; do
      opts+=(--dpkgopt="path-exclude=/usr/share/$d/*")
    done
    opts+=(--dpkgopt='path-include=/usr/share/doc/*/copyright')
  fi
  rm -f "$tar"
  # merged /usr by mmdebstrap's hook, as the official images: the usrmerge
  # package would pull in perl (50 MB). No Recommends either.
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "${opts[@]}" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='Acquire::Retries "3"' --aptopt='APT::Install-Recommends "false"' "$SUITE" "$tar" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $SECMIRROR $SUITE-security main" >"$C/base/$tag.log" 2>&1 || {
    tail -30 "$C/base/$tag.log" >&2
    return 1
  }
  podman import --quiet --change 'CMD ["bash"]' "$tar" "localhost/debian:$tag" >/dev/null
  rm -f "$tar"
}

build() {
  local tag=${1:-localhost/retl:dev}
  base bookworm 0
  base bookworm-slim 1
  local b=(podman build --quiet --pull=never --network=host --layers
    --build-arg DEBIAN_IMAGE=localhost/debian)
  # The build stage is tagged too, so pruning dangling images keeps its cached
  # layers (the apt-get layer is what makes a warm build take seconds).
  "${b[@]}" --target build -t "${tag%:*}:build" "$ROOT" >/dev/null
  "${b[@]}" -t "$tag" "$ROOT" >/dev/null
  podman image prune -f >/dev/null 2>&1 || true
  echo "image: $tag $(podman image inspect --format '{{.Id}}' "$tag" | cut -c1-12)"
}

setup
case ${1:-build} in
build) build "${2:-}" ;;
env) echo "export CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF TMPDIR=$TMPDIR" ;;
save) # TAG FILE: rewritten only when the image changed
  id=$(podman image inspect --format '{{.Id}}' "$2")
  if [ ! -s "$3" ] || [ "$(cat "$3.id" 2>/dev/null)" != "$id" ]; then
    rm -f "$3"
    podman save --quiet --format oci-archive -o "$3" "$2"
    echo "$id" >"$3.id"
  fi
  ;;
pause) # the pod sandbox image for RUNTIME=containerd: a static Go binary FROM scratch
  mkdir -p "$C/pause"
  (cd "$ROOT/tests/containers/node" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$C/pause/pause" ./pause)
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$C/pause/Containerfile"
  podman build --quiet --pull=never --network=host --layers -t localhost/pause:retl "$C/pause" >/dev/null
  ;;
clean)
  podman system reset -f >/dev/null 2>&1 || true
  grep -F " $C/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$C"
  ;;
*) echo "usage: $0 build|env|save|pause|clean" >&2; exit 2 ;;
esac
