#!/usr/bin/env bash
# make bench (part): RSA-1024 key generation, whole process, `duoprov keys
# new` against `openssl genrsa 1024`, interleaved (ABBA order) so that load
# from other programs falls on both alike. Figures only, no assertions.
#
# Environment: DUOPROV (default target/release/duoprov), OPENSSL (default
# openssl), RUNS (default 30, at least 20 is meaningful).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
abs() { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
DUOPROV=$(abs "${DUOPROV:-target/release/duoprov}")
OPENSSL=${OPENSSL:-openssl}
RUNS=${RUNS:-30}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/duoprov-bench-keygen.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# run COMMAND...: "WALL CPU" of COMMAND in microseconds: wall time from
# bash's own clock (no extra process around the command), CPU time (user +
# system, all threads) from `times`, which in this $(...) subshell counts
# only COMMAND.
run() {
    local start end cpu
    start=${EPOCHREALTIME/./}
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    end=${EPOCHREALTIME/./}
    times >times.txt # a builtin with a redirection: no fork, so it sees COMMAND
    cpu=$(awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60 + t[2] } printf "%d", n * 1e6 }' times.txt)
    echo "$((end - start)) $cpu"
}

# One warm-up run each: page cache, dynamic loader.
"$DUOPROV" keys new warm >/dev/null
"$OPENSSL" genrsa -out warm.pem 1024 2>/dev/null

d_wall=() d_cpu=() o_wall=() o_cpu=()
duoprov_run() { read -r w c <<<"$(run "$DUOPROV" keys new "d$1")"; d_wall+=("$w"); d_cpu+=("$c"); }
openssl_run() { read -r w c <<<"$(run "$OPENSSL" genrsa -out "o$1.pem" 1024)"; o_wall+=("$w"); o_cpu+=("$c"); }
for i in $(seq "$RUNS"); do
    if ((i % 2)); then
        duoprov_run "$i"
        openssl_run "$i"
    else
        openssl_run "$i"
        duoprov_run "$i"
    fi
done

# stats US...: "median min max" in milliseconds with one decimal.
stats() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
              printf "%.1f %.1f %.1f\n", m / 1000, v[1] / 1000, v[NR] / 1000 }'
}
read -r dw_med dw_min dw_max <<<"$(stats "${d_wall[@]}")"
read -r ow_med ow_min ow_max <<<"$(stats "${o_wall[@]}")"
read -r dc_med _ _ <<<"$(stats "${d_cpu[@]}")"
read -r oc_med _ _ <<<"$(stats "${o_cpu[@]}")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "RSA-1024 key generation, whole process, $RUNS runs each, interleaved (ABBA)."
echo "duoprov: $DUOPROV"
echo "openssl: $("$OPENSSL" version)"
echo "duoprov writes NAME.der, NAME.pem and NAME.pub.pem, each fsynced; openssl one PEM file."
echo "wall: elapsed time; CPU: user + system time of all its threads (1 ms resolution)."
echo
fmt='%-22s %10s %8s %8s %10s %12s %10s\n'
printf "$fmt" "" "wall med" "min" "max" "wall ÷ ossl" "CPU med ms" "CPU ÷ ossl"
printf "$fmt" "openssl genrsa 1024" "$ow_med" "$ow_min" "$ow_max" "1.00" "$oc_med" "1.00"
printf "$fmt" "duoprov keys new" "$dw_med" "$dw_min" "$dw_max" "$(ratio "$dw_med" "$ow_med")" \
    "$dc_med" "$(ratio "$dc_med" "$oc_med")"
