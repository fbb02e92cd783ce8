#!/usr/bin/env bash
# make bench (part): the device key slot on faithful virtual Duos
# (bootloaders r4 and r6, time factor 1.0), dfu-util and duoprov side by
# side through the libusb stand-in. Figures only, no assertions.
#
# For every command, per run: the control transfers the device answered
# (its persisted stats, reset before each run), the device's own busy time
# (the sum of the operations it ran: writes, erases, pointer moves, each
# inside the GETSTATUS that started it, REFERENCE §1) and the wall time of
# the whole command, as a user waits for it. Medians over RUNS runs, the
# dfu-util and duoprov runs interleaved (ABBA) so that load from other
# programs falls on both alike. Every write replaces key A with key B (the
# slot is put back to A, unmeasured, before each), so each one is a real
# DCT rewrite, not a rewrite of the same bytes.
#
# Environment: as tests/conformance/conformance.sh; RUNS (default 5);
# BOARDS (default "r4 r6").

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
abs() { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
DUOPROV=$(abs "${DUOPROV:-target/release/duoprov}")
LIBUSB_VIRTUAL=$(abs "${LIBUSB_VIRTUAL:-target/libusb-virtual/libusb-1.0.so.0}")
DFU_UTIL=${DFU_UTIL:-dfu-util}
RUNS=${RUNS:-5}
BOARDS=${BOARDS:-r4 r6}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/duoprov-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
unset DUOPROV_DEVICE
VD=$WORK/vd

on_usb() { env LD_PRELOAD="$LIBUSB_VIRTUAL" DUO_VIRTUAL_DIRS="$VD" "$@"; }
json_field() { grep -m1 -o "\"$2\": *[^,}]*" "$1" | sed 's/^[^:]*: *//; s/^"//; s/"$//'; }

# The firmware each bootloader ships with (alt 1 needs system firmware on r6).
firmware_for() { case $1 in r3 | r4) echo 0.2.4 ;; r5) echo 0.3.1 ;; *) echo 0.3.3 ;; esac; }

# put_slot KEY: the slot holds KEY again (in-process, unmeasured).
put_slot() {
    "$DUOPROV" --device "sim:$VD" dfu write --alt 1 --addr 34 --no-key-backup "$1" >/dev/null 2>&1
}

# measure NAME COMMAND...: one run of COMMAND; appends "transfers uploads
# busy_ms wall_ms" to figures/NAME.
measure() {
    local name=$1 start end uploads
    shift
    "$DUOPROV" sim stats "$VD" --reset >/dev/null
    start=${EPOCHREALTIME/./}
    DUO_VIRTUAL_DEBUG=1 "$@" >run.log 2>&1 || { echo "$name failed:" >&2; cat run.log >&2; exit 1; }
    end=${EPOCHREALTIME/./}
    "$DUOPROV" sim stats "$VD" --json >stats.json
    uploads=$(grep -c 'libusb-virtual: control bmRequestType=0xa1 bRequest=0x02' run.log || true)
    # busy_us_total: the virtual Duo's own time in operations (absent from
    # models without the bootloader's timing: shown as 0).
    echo "$(json_field stats.json control_transfers) $uploads" \
        "$(awk -v us="$(json_field stats.json busy_us_total || true)" 'BEGIN { printf "%.1f", us / 1000 }')" \
        "$(awk -v us=$((end - start)) 'BEGIN { printf "%.1f", us / 1000 }')" >>"figures/$name"
}

# median FILE COLUMN
median() {
    sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c }
        END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# row LABEL NAME ANCHOR: the medians of NAME, its wall time over ANCHOR's,
# and its distance from the device floor (wall − busy).
row() {
    local f=figures/$2 a=figures/$3 t b w aw
    t=$(median "$f" 1)
    b=$(median "$f" 3)
    w=$(median "$f" 4)
    aw=$(median "$a" 4)
    printf '  %-34s %9.0f %9s %10s %8s %9s %9s\n' "$1" "$t" "$b" "$w" \
        "$(awk -v x="$w" -v y="$aw" 'BEGIN { printf "%.2f", x / y }')" \
        "$(awk -v x="$w" -v y="$b" 'BEGIN { if (y > 0) printf "%+.1f", x - y; else print "-" }')" \
        "$(awk -v x="$w" -v y="$b" 'BEGIN { if (y > 0) printf "%.2f", x / y; else print "-" }')"
}

header() {
    printf '  %-34s %9s %9s %10s %8s %9s %9s\n' "" transfers "busy ms" "wall ms" "÷ anchor" \
        "− floor" "÷ floor"
}

echo "The key slot (alt 1, offset 34) through the libusb stand-in, virtual Duos at"
echo "time factor 1.0, medians of $RUNS runs each, dfu-util and duoprov interleaved."
echo "transfers: control transfers the device answered; busy ms: the device's own"
echo "time in the operations it ran (the floor); wall ms: the whole command;"
echo "÷ anchor: wall time over dfu-util's for the same job (-U for reads, -D for"
echo "writes); − floor / ÷ floor: wall time against the device's busy time."
echo "duoprov: $DUOPROV; dfu-util: $("$DFU_UTIL" --version 2>/dev/null | head -1)"

for board in $BOARDS; do
    rm -rf "$VD" figures && mkdir figures
    "$DUOPROV" sim create "$VD" --bootloader "$board" --firmware "$(firmware_for "$board")" \
        --time-factor 1.0 >/dev/null
    "$DUOPROV" sim boot "$VD" >/dev/null
    "$DUOPROV" sim dfu "$VD" >/dev/null
    "$DUOPROV" keys new --force a >/dev/null
    "$DUOPROV" keys new --force b >/dev/null
    for i in $(seq "$RUNS"); do
        order="dfu-util duoprov"
        ((i % 2)) || order="duoprov dfu-util"
        for who in $order; do
            put_slot a.der
            if [ "$who" = dfu-util ]; then
                measure u_read on_usb "$DFU_UTIL" -d 2b04:d058 -a 1 -s 34:612 -U "$board-u$i.bin"
                put_slot a.der
                measure u_write on_usb "$DFU_UTIL" -d 2b04:d058 -a 1 -s 34 -D b.der
            else
                measure d_save on_usb "$DUOPROV" --device usb:2b04:d058 keys save --force "$board-s$i"
                put_slot a.der
                measure d_write on_usb "$DUOPROV" --device usb:2b04:d058 dfu write --alt 1 --addr 34 \
                    --no-key-backup b.der
                put_slot a.der
                measure d_load on_usb "$DUOPROV" --device usb:2b04:d058 keys load b.der
                put_slot a.der
                measure d_reset on_usb "$DUOPROV" --device usb:2b04:d058 keys reset --no-leave \
                    --backup "$board-r$i"
            fi
        done
    done
    fw=$(firmware_for "$board")
    echo
    echo "Bootloader $board, firmware $fw:"
    header
    row "dfu-util -U (612 B at 34)" u_read u_read
    row "duoprov keys save (1216 B)" d_save u_read
    row "dfu-util -D b.der (bare write)" u_write u_write
    row "duoprov dfu write --no-key-backup" d_write u_write
    row "duoprov keys load (safe)" d_load u_write
    row "duoprov keys reset --no-leave" d_reset u_write
    u_write_t=$(median figures/u_write 1)
    load_t=$(median figures/d_load 1)
    load_w=$(median figures/d_load 4)
    u_write_w=$(median figures/u_write 4)
    echo "  safe load: $load_w ms = $(awk -v x="$load_w" -v y="$u_write_w" 'BEGIN { printf "%.2f", x / y }') × dfu-util's bare write;" \
        "${load_t%.*} transfers against the bare write's ${u_write_t%.*} + 2 uploads = $((${u_write_t%.*} + 2))"
done
