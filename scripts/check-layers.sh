#!/usr/bin/env bash
# Checks the include rules listed in CONTRIBUTING.md (between the layers:begin and
# layers:end markers) against the C sources under ROOT (default: the repository).
# Prints one line per violation and exits 1 when there is any.
# Rule lines look like: - `FROM/` never includes `TO/`, `TO2.h` (why)
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
rules=${2:-$root/CONTRIBUTING.md}
[ -f "$rules" ] || { echo "check-layers: no rules file $rules" >&2; exit 2; }
mapfile -t lines < <(sed -n '/<!-- layers:begin -->/,/<!-- layers:end -->/p' "$rules" | grep -E '^- `')
[ ${#lines[@]} -gt 0 ] || { echo "check-layers: no rules in $rules" >&2; exit 2; }

# Every project include as "file<TAB>included path": paths from the repository root
# (the project's rule), other includes resolved against the including file's folder.
includes() {
  (cd "$root" && find common engine controller kubectl-retl -name '*.[ch]' 2>/dev/null) | while read -r f; do
    grep -oE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]+"' "$root/$f" | sed -E 's/.*"([^"]+)"/\1/' |
      while read -r inc; do
        case "$inc" in
        common/* | engine/* | controller/* | kubectl-retl/*) printf '%s\t%s\n' "$f" "$inc" ;;
        *) printf '%s\t%s\n' "$f" "$(dirname "$f")/$inc" ;;
        esac
      done
  done
}
all=$(includes)
bad=0
for l in "${lines[@]}"; do
  from=$(sed -E 's/^- `([^`]+)` never includes.*/\1/' <<<"$l")
  tos=$(sed -E 's/^- `[^`]+` never includes (.*)/\1/; s/\(.*//' <<<"$l" | grep -oE '`[^`]+`' | tr -d '`')
  for to in $tos; do
    while IFS=$'\t' read -r f inc; do
      [ -n "$f" ] || continue
      case "$f" in "$from"*) ;; *) continue ;; esac
      case "$inc" in "$to"*) echo "layering: $f includes $inc ($from never includes $to)"; bad=1 ;; esac
    done <<<"$all"
  done
done
[ $bad -eq 0 ] && echo "layering: ${#lines[@]} rules hold"
exit $bad
