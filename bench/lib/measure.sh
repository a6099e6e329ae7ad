# shellcheck shell=bash
# Source from a bench: the clock and the statistics every bench reports with.
#   load           the 1-minute load average, printed beside each figure
#   now            seconds since the epoch, with nanoseconds
#   since T0       seconds elapsed since T0 (from now), three decimals
#   median X...    the median (the lower middle of an even count); numbers
#                  in any form sort -g reads (1.2e-05 too)
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
