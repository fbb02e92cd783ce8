#!/usr/bin/env bash
# make bench (part): backing up and restoring the key slot with dfu-util and
# with duoprov, side by side, through the libusb stand-in, on a virtual Duo
# at real device timing (time factor 1.0). Figures only, no assertions.
#
# Per run: control transfers the device answered (its persisted stats, reset
# before each run), the sum of the poll timeouts it declared (the protocol's
# floor for waiting), and the wall time of the whole command.
# Environment: as tests/conformance/conformance.sh; RUNS (default 3).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
abs() { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
DUOPROV=$(abs "${DUOPROV:-target/debug/duoprov}")
LIBUSB_VIRTUAL=$(abs "${LIBUSB_VIRTUAL:-target/libusb-virtual/libusb-1.0.so.0}")
DFU_UTIL=${DFU_UTIL:-dfu-util}
RUNS=${RUNS:-3}
FIXTURES=$ROOT/../shared/fixtures/duo
[ -f "$FIXTURES/fac-dct-r1.bin" ] || FIXTURES=$ROOT/core/assets

WORK=$(mktemp -d "${TMPDIR:-/tmp}/duoprov-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
VD=$WORK/vd
unset DUOPROV_DEVICE

on_usb() { env LD_PRELOAD="$LIBUSB_VIRTUAL" DUO_VIRTUAL_DIRS="$VD" "$@"; }
json_field() { grep -m1 -o "\"$2\": *[^,}]*" "$1" | sed 's/^[^:]*: *//; s/^"//; s/"$//'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

"$DUOPROV" sim create "$VD" --from "$FIXTURES/fac-dct-r1.bin" --time-factor 1.0 >/dev/null
"$DUOPROV" sim boot "$VD" >/dev/null
"$DUOPROV" sim dfu "$VD" >/dev/null
on_usb "$DFU_UTIL" -d 2b04:d058 -a 1 -s 34:612 -U key.bin >/dev/null 2>&1

# measure LABEL COMMAND...: one line of figures for one run of COMMAND.
# Transfers are the device's own count; the split into standard requests
# sent with libusb_control_transfer (descriptor reads) and DFU class requests
# comes from the stand-in's trace. The remainder is SET_INTERFACE, which
# libusb_set_interface_alt_setting sends.
measure() {
    local label=$1 start end std dfu
    shift
    "$DUOPROV" sim stats "$VD" --reset >/dev/null
    start=$(now_ms)
    DUO_VIRTUAL_DEBUG=1 "$@" >run.log 2>&1 || { echo "$label failed:" >&2; cat run.log >&2; exit 1; }
    end=$(now_ms)
    "$DUOPROV" sim stats "$VD" --json >stats.json
    std=$(grep -c 'libusb-virtual: control bmRequestType=0x[08]0 ' run.log || true)
    dfu=$(grep -c 'libusb-virtual: control bmRequestType=0x[2a]1 ' run.log || true)
    printf '%-24s %9s %11s %9s %14s %8s\n' "$label" "$(json_field stats.json control_transfers)" \
        "$std" "$dfu" "$(json_field stats.json poll_timeout_ms_total)" "$((end - start))"
}

header() {
    printf '%-24s %9s %11s %9s %14s %8s\n' "$1" transfers "descriptors" "DFU class" "declared poll" "wall ms"
}

echo "Key slot through the libusb stand-in, virtual Duo at time factor 1.0, $RUNS runs each."
echo "transfers: control transfers the device answered; declared poll: sum of the"
echo "bwPollTimeout it asked for (ms), the protocol's floor; wall ms: the whole command."
echo "descriptors + DFU class + 1 SET_INTERFACE = transfers."
echo
header "backup (612 B at 34)"
for _ in $(seq "$RUNS"); do
    measure "dfu-util -U" on_usb "$DFU_UTIL" -d 2b04:d058 -a 1 -s 34:612 -U "b$RANDOM.bin"
    measure "duoprov dfu read" on_usb "$DUOPROV" --device usb:2b04:d058 dfu read --force --alt 1 --addr 34 --len 612 -o "r$RANDOM.bin"
done
echo
header "restore (612 B at 34)"
for _ in $(seq "$RUNS"); do
    measure "dfu-util -D" on_usb "$DFU_UTIL" -d 2b04:d058 -a 1 -s 34 -D key.bin
    measure "duoprov dfu write" on_usb "$DUOPROV" --device usb:2b04:d058 dfu write --alt 1 --addr 34 --no-key-backup key.bin
    # The default keeps the key it overwrites first: one more slot read.
    measure "  + key backup (default)" on_usb "$DUOPROV" --device usb:2b04:d058 dfu write --alt 1 --addr 34 key.bin
done
echo
"$DUOPROV" keys new bench >/dev/null
header "duoprov key commands"
for _ in $(seq "$RUNS"); do
    rm -f saved.der saved.pem saved.pub.pem
    measure "keys save" on_usb "$DUOPROV" --device usb:2b04:d058 keys save saved
    measure "keys load (+verify)" on_usb "$DUOPROV" --device usb:2b04:d058 keys load bench.der
done
