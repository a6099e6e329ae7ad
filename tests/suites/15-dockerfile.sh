#!/usr/bin/env bash
# The Dockerfile's runtime stage installs exactly what the binaries link: every
# shared library retl-engine and retl-controller need (readelf NEEDED, resolved
# by ldd) maps to a Debian package (dpkg -S) that the runtime stage installs.
# Also: multi-stage bookworm build, bookworm-slim runtime, non-root 65532, both
# binaries, build packages drawn from deps/apt.txt.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
# shellcheck source=tests/lib/checks.sh
source tests/lib/checks.sh

DF=Dockerfile
if [ ! -f "$DF" ]; then
  echo "FAIL - no Dockerfile"
  echo "0 passed, 1 failed"
  exit 1
fi
# Stage bodies: everything after the last FROM is the runtime stage.
last_from=$(grep -n '^FROM ' "$DF" | tail -1 | cut -d: -f1)
runtime=$(tail -n +"$last_from" "$DF")
build=$(head -n $((last_from - 1)) "$DF")

# Packages named by `apt-get install` in a stage (continuation lines joined).
apt_pkgs() {
  sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | grep -E 'apt-get install' |
    sed -e 's/.*apt-get install//' -e 's/&&.*//' | tr ' ' '\n' |
    grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u
}
RUNTIME_PKGS=$(apt_pkgs <<<"$runtime")
BUILD_PKGS=$(apt_pkgs <<<"$build")

# The base is debian:* by default; `make image` passes DEBIAN_IMAGE=localhost/debian
# (bases made with mmdebstrap, no registry).
check "ARG DEBIAN_IMAGE defaults to debian" grep -qx 'ARG DEBIAN_IMAGE=debian' "$DF"
check "two stages: \${DEBIAN_IMAGE}:bookworm build, \${DEBIAN_IMAGE}:bookworm-slim runtime" \
  test "$(grep -c '^FROM ' "$DF")" -eq 2 -a -n "$(grep -E '^FROM \$\{DEBIAN_IMAGE\}:bookworm AS ' "$DF")" \
  -a "$(sed -n "${last_from}p" "$DF")" = 'FROM ${DEBIAN_IMAGE}:bookworm-slim'
check "runtime installs the ODBC drivers the sources name (tdsodbc, odbc-postgresql) and odbcinst" \
  bash -c 'grep -qx tdsodbc <<<"$1" && grep -qx odbc-postgresql <<<"$1" && grep -qx odbcinst <<<"$1"' _ "$RUNTIME_PKGS"
check "runtime registers FreeTDS in odbcinst.ini" grep -q 'odbcinst -i -d -f /usr/share/tdsodbc/odbcinst.ini' <<<"$runtime"
check ".dockerignore keeps build/ and .git/ out of the context" \
  bash -c 'grep -qx "build/" .dockerignore && grep -qx ".git/" .dockerignore'
check "runtime runs as non-root 65532" grep -qE '^USER 65532(:65532)?$' <<<"$runtime"
check "runtime copies both binaries from the build stage" \
  bash -c 'grep -E "^COPY --from=" <<<"$1" | grep -q retl-engine && grep -E "^COPY --from=" <<<"$1" | grep -q retl-controller' _ "$runtime"
check "runtime installs tzdata and ca-certificates" \
  bash -c 'grep -qx tzdata <<<"$1" && grep -qx ca-certificates <<<"$1"' _ "$RUNTIME_PKGS"
check "runtime installs no -dev package or compiler" \
  bash -c '! grep -qE -- "-dev$|^build-essential$|^gcc" <<<"$1"' _ "$RUNTIME_PKGS"
missing_build=""
for p in $BUILD_PKGS; do
  grep -qx "$p" deps/apt.txt || [ "$p" = ca-certificates ] || missing_build="$missing_build $p"
done
check "build stage packages come from deps/apt.txt${missing_build:+ (not there:$missing_build)}" test -z "$missing_build"

# Every pkg-config module the Makefile compiles against comes from a -dev
# package the build stage installs.
for mod in $(sed -n 's/^PKGS := //p' Makefile); do
  pc=$(pkg-config --variable=pcfiledir "$mod" 2>/dev/null)/$mod.pc
  dev=$(dpkg -S "$pc" 2>/dev/null | head -1 | cut -d: -f1)
  if [ -z "$dev" ]; then
    fail "pkg-config module $mod belongs to a Debian package"
    continue
  fi
  check "build stage installs $dev (pkg-config $mod)" grep -qx "$dev" <<<"$BUILD_PKGS"
done

# Resolve a library path to its package; usrmerge registers /usr/lib paths.
pkg_of() {
  local path=$1 real p
  real=$(readlink -f "$path")
  for p in "$path" "$real" "/usr$path" "/usr$real" "${path#/usr}" "${real#/usr}"; do
    if out=$(dpkg -S "$p" 2>/dev/null); then
      echo "${out%%:*}" | sed 's/:.*//' | head -1
      return 0
    fi
  done
  return 1
}

for bin in build/bin/retl-engine build/bin/retl-controller build/bin/kubectl-retl; do
  if [ ! -x "$bin" ]; then
    fail "$bin is built (make all)"
    continue
  fi
  declare -A libpath=()
  while read -r name _ path _; do
    [ -n "$path" ] && libpath[$name]=$path
  done < <(ldd "$bin" | grep '=>')
  for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=${libpath[$lib]:-}
    if [ -z "$path" ]; then
      fail "$bin: $lib resolves (ldd)"
      continue
    fi
    pkg=$(pkg_of "$path") || {
      fail "$bin: $lib ($path) belongs to a Debian package"
      continue
    }
    case $pkg in
    libc6) pass "$bin: $lib from $pkg (essential, in every Debian image)" ;;
    *) check "$bin: $lib from $pkg, installed by the runtime stage" grep -qx "$pkg" <<<"$RUNTIME_PKGS" ;;
    esac
  done
  unset libpath
done

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
