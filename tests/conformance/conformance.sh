#!/usr/bin/env bash
# make conformance — real peers against the virtual Duo (issue 5).
#
# Debian's dfu-util 0.11 (the seed guide's tool) and duoprov's own rusb
# transport run unchanged, with the libusb stand-in (tests/libusb-virtual)
# preloaded in place of libusb-1.0.so.0 and serving the virtual Duo in $VD.
# Every check prints PASS or FAIL (with the evidence); the last line is
# "N passed, N failed" and the exit status is non-zero on any failure.
#
# Environment: DUOPROV (default target/debug/duoprov), LIBUSB_VIRTUAL (default
# target/libusb-virtual/libusb-1.0.so.0), DFU_UTIL (default dfu-util),
# KEEP=1 keeps the work directory.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
abs() { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
DUOPROV=$(abs "${DUOPROV:-target/debug/duoprov}")
LIBUSB_VIRTUAL=$(abs "${LIBUSB_VIRTUAL:-target/libusb-virtual/libusb-1.0.so.0}")
DFU_UTIL=${DFU_UTIL:-dfu-util}
# The fixtures RedBear ships, next to the repository (else the crate's copies).
FIXTURES=$ROOT/../shared/fixtures/duo
[ -f "$FIXTURES/fac-dct-r1.bin" ] || FIXTURES=$ROOT/core/assets

for need in "$DUOPROV" "$LIBUSB_VIRTUAL"; do
    [ -e "$need" ] || { echo "missing $need: run \`make conformance\` (it builds both)" >&2; exit 2; }
done
command -v "$DFU_UTIL" >/dev/null || { echo "dfu-util not found: run \`make deps\`" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/duoprov-conformance.XXXXXX")
[ "${KEEP:-}" = 1 ] && echo "work directory: $WORK" || trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 2
VD=$WORK/vd
unset DUOPROV_DEVICE

# ---- how the tools are run ----

# A program whose libusb is the stand-in, seeing only the board in $VD.
on_usb() { env LD_PRELOAD="$LIBUSB_VIRTUAL" DUO_VIRTUAL_DIRS="$VD" "$@"; }
# dfu-util exactly as the seed guide runs it.
dfu_util() { on_usb "$DFU_UTIL" "$@"; }
# duoprov through rusb: a USB selector, never sim:.
duoprov_usb() { on_usb "$DUOPROV" --device usb:2b04:d058 "$@"; }
# duoprov's in-process transport: the simulator's own view of the board.
duoprov_sim() { "$DUOPROV" --device "sim:$VD" "$@"; }
sim() { "$DUOPROV" sim "$@"; }

# ---- reporting ----

passed=0
failed=0
LOG=$WORK/check.log

# check NAME COMMAND...: PASS if the command succeeds; else FAIL and its output.
check() {
    local name=$1
    shift
    if "$@" >"$LOG" 2>&1; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/    /' "$LOG"
        failed=$((failed + 1))
    fi
}

# Helpers for checks: each prints what it compared when it fails.
run() { echo "\$ $*" >&2; "$@"; }
same_file() { cmp "$1" "$2" || { echo "differ: $1 $2"; return 1; }; }
contains() { grep -qF -- "$2" "$1" || { echo "$1 lacks: $2"; cat "$1"; return 1; }; }
# Scalar field of pretty-printed JSON (first occurrence).
json_field() { grep -m1 -o "\"$2\": *[^,}]*" "$1" | sed 's/^[^:]*: *//; s/^"//; s/"$//'; }
expect_field() {
    local got
    got=$(json_field "$1" "$2")
    [ "$got" = "$3" ] || { echo "$1: $2 is '$got', expected '$3'"; cat "$1"; return 1; }
}

# The key slot as the simulator holds it (612 bytes at 34 on alt 1).
sim_slot() { duoprov_sim dfu read --alt 1 --addr 34 --len 612 -o "$1"; }

# ---- the checks ----

check "dfu-util and duoprov link libusb-1.0.so.0 dynamically (so the stand-in serves both)" \
    bash -c "ldd \"\$(command -v $DFU_UTIL)\" | grep -q 'libusb-1.0.so.0' && ldd '$DUOPROV' | grep -q 'libusb-1.0.so.0'"

# What the board's bootloader presents (REFERENCE §1): the factory board
# first (r4 + 0.2.4), an r6 board with firmware 0.3.3 at the end.
VER=0200
ALT0='@Internal Flash   /0x08000000/01*016Ka,02*016Kg,01*016Kg,01*064Kg,07*128Kg'
SERIAL=00000000010C
DCT_ADDR=0x08004000

check "sim create: a factory Duo (bootloader r4, firmware 0.2.4) in DFU mode at time factor 0.01" \
    run sim create "$VD" --from "$FIXTURES/fac-dct-r1.bin" --time-factor 0.01

list_matches_reference() {
    run dfu_util -l >list.txt || return 1
    # REFERENCE §1: what dfu-util -l prints on a real Duo (devnum and path are the stand-in's).
    local alt name
    for alt in 2 1 0; do
        case $alt in
            0) name=$ALT0 ;;
            1) name='@DCT Flash   /0x00000000/01*016Kg' ;;
            2) name='@Serial Flash   /0x00000000/192*004Kg,128*004Kg,64*004Kg,128*004Kg' ;;
        esac
        contains list.txt "Found DFU: [2b04:d058] ver=$VER, devnum=2, cfg=1, intf=0, path=\"1-1\", alt=$alt, name=\"$name\", serial=\"$SERIAL\"" || return 1
    done
    [ "$(grep -c '^Found DFU' list.txt)" = 3 ] || { echo "expected exactly 3 alt settings"; cat list.txt; return 1; }
}
check "dfu-util -l lists 2b04:d058 ver=0200, its three alt settings with their exact names (16 KiB bootloader map), serial 00000000010C" \
    list_matches_reference

duoprov_list() {
    # No selector at all: auto-discovery through rusb.
    run on_usb "$DUOPROV" list >dlist.txt || return 1
    contains dlist.txt "2b04:d058" && contains dlist.txt "usb:1-1"
}
check "duoprov list (auto-discovery through rusb) shows the board at usb:1-1" duoprov_list

library_path_route() {
    # The other way in: the stand-in found by soname instead of preloaded.
    local dir
    dir=$(dirname "$LIBUSB_VIRTUAL")
    run env LD_LIBRARY_PATH="$dir" DUO_VIRTUAL_DIRS="$VD" "$DFU_UTIL" -l >lp.txt || return 1
    [ "$(grep -c '^Found DFU: \[2b04:d058\]' lp.txt)" = 3 ] || { cat lp.txt; return 1; }
    run env LD_LIBRARY_PATH="$dir" DUO_VIRTUAL_DIRS="$VD" "$DUOPROV" list >lp2.txt || return 1
    contains lp2.txt "usb:1-1"
}
check "the stand-in also serves both tools as libusb-1.0.so.0 on LD_LIBRARY_PATH" library_path_route

selectors() {
    run on_usb "$DUOPROV" --device usb:1-1 keys address >by_port.txt || return 1
    contains by_port.txt "device.spark.io" || return 1
    run on_usb "$DUOPROV" --device "serial:$SERIAL" keys address >by_serial.txt || return 1
    contains by_serial.txt "device.spark.io" || return 1
    if run on_usb "$DUOPROV" --device usb:1-2 keys address; then echo "usb:1-2 is an empty port"; return 1; fi
}
check "duoprov through rusb finds the board by port (usb:1-1) and by serial, not on an empty port" selectors

check "sim boot: the factory Duo generates its key" run sim boot "$VD"
check "sim dfu: back in DFU mode" run sim dfu "$VD"

backup_three_ways() {
    run dfu_util -d 2b04:d058 -a 1 -s 34:612 -U out.der || return 1
    run duoprov_usb dfu read --alt 1 --addr 34 --len 612 -o duoprov.der || return 1
    run sim_slot sim.der || return 1
    [ "$(head -c 2 out.der | od -An -tx1 | tr -d ' ')" = 3082 ] || { echo "out.der is not a DER key"; return 1; }
    same_file out.der duoprov.der && same_file out.der sim.der
}
check "dfu-util -U of the key slot = duoprov dfu read through rusb = the simulator's slot" \
    backup_three_ways

seed_reset() {
    cp "$FIXTURES/reset_device_private_key.bin" .
    run dfu_util -d 2b04:d058 -a 1 -s 34:leave -D reset_device_private_key.bin || return 1
    run sim show "$VD" --json >show.json || return 1
    expect_field show.json mode firmware || return 1
    expect_field show.json generated_key true || return 1
    run sim dfu "$VD" || return 1
    run dfu_util -d 2b04:d058 -a 1 -s 34:612 -U new.der || return 1
    if cmp -s new.der out.der; then echo "the key did not change"; return 1; fi
    run "$DUOPROV" keys inspect new.der
}
check "seed guide: dfu-util -a 1 -s 34:leave -D reset_device_private_key.bin → leaves DFU, boots, new valid key" \
    seed_reset

seed_server_key() {
    cp "$FIXTURES/server_public_key.der" .
    # Point the board elsewhere first (through rusb), so the check can fail.
    run duoprov_usb keys server --host cloud.example.org || return 1
    run duoprov_usb keys address >addr0.txt || return 1
    contains addr0.txt cloud.example.org || return 1
    run dfu_util -d 2b04:d058 -a 1 -s 2082 -D server_public_key.der || return 1
    run duoprov_usb keys address >addr.txt || return 1
    contains addr.txt device.spark.io
}
check "seed guide: dfu-util -a 1 -s 2082 -D server_public_key.der → duoprov keys address says device.spark.io" \
    seed_server_key

# `dct show --json` without what only a 32 KiB region image has (its size,
# kind and partition headers): the application DCT a device shows on alt 1.
app_view() {
    awk '/^  "partitions": \[/ { skip = 1 }
         skip { if ($0 ~ /^  \],?$/) skip = 0; next }
         /^  "(kind|size|current_partition)":/ { next }
         { print }' "$1"
}
seed_factory_dct() {
    cp "$FIXTURES/fac-dct-r1.bin" .
    run duoprov_usb dct show --json >before.json || return 1
    run "$DUOPROV" dct show --json --file fac-dct-r1.bin >file.json || return 1
    app_view file.json >file.app.json
    contains file.app.json '"device_private_key"' || return 1
    app_view before.json >before.app.json
    if cmp -s before.app.json file.app.json; then echo "the device's DCT already matched the file"; return 1; fi
    run dfu_util -d 2b04:d058 -a 0 -s "$DCT_ADDR" -D fac-dct-r1.bin || return 1
    run duoprov_usb dct show --json >device.json || return 1
    app_view device.json >device.app.json
    diff -u file.app.json device.app.json
}
check "seed guide (firmware ≤ 0.2.4): dfu-util -a 0 -s 0x08004000 -D fac-dct-r1.bin → duoprov dct show from the device matches the file" \
    seed_factory_dct

# ---- every device command of issue 3 through rusb ----

check "sim boot + sim dfu: a key in the slot again" bash -c "'$DUOPROV' sim boot '$VD' && '$DUOPROV' sim dfu '$VD'"

keys_save() {
    run duoprov_usb keys save saved || return 1
    run sim_slot slot.bin || return 1
    # The slot holds the DER key followed by erased bytes; saved.der is the key.
    cmp -n "$(stat -c %s saved.der)" saved.der slot.bin || { echo "saved.der is not the slot's key"; return 1; }
    [ -f saved.pub.pem ] || { echo "saved.pub.pem missing"; return 1; }
}
check "duoprov keys save through rusb writes the slot's key" keys_save

keys_load() {
    run "$DUOPROV" keys new other >/dev/null || return 1
    run duoprov_usb keys load other.der || return 1
    run sim_slot slot.bin || return 1
    cmp -n "$(stat -c %s other.der)" other.der slot.bin || { echo "the slot does not hold other.der"; return 1; }
    same_file backup_rsa_other.der saved.der
}
check "duoprov keys load through rusb writes the key, verified, with the previous key backed up" keys_load

dfu_write() {
    head -c 100 /dev/urandom >blob.bin
    run duoprov_usb dfu write --alt 2 --addr 0x1000 blob.bin || return 1
    run duoprov_sim dfu read --alt 2 --addr 0x1000 --len 100 -o back.bin || return 1
    same_file blob.bin back.bin
}
check "duoprov dfu write through rusb lands in the simulator's serial flash" dfu_write

keys_reset_no_leave() {
    run duoprov_usb keys reset --no-leave || return 1
    # The whole 1216-byte slot, as the seed guide's file covers it.
    run duoprov_sim dfu read --alt 1 --addr 34 --len 1216 -o slot.bin || return 1
    same_file "$FIXTURES/reset_device_private_key.bin" slot.bin
}
check "duoprov keys reset --no-leave through rusb leaves the reset request in the slot" keys_reset_no_leave

keys_reset_leave() {
    run duoprov_usb keys reset || return 1
    run sim show "$VD" --json >show.json || return 1
    expect_field show.json mode firmware && expect_field show.json generated_key true
}
check "duoprov keys reset through rusb leaves DFU and the board generates a key" keys_reset_leave

not_in_dfu() {
    # The board runs firmware: it is not on the DFU bus.
    if run duoprov_usb keys address >gone.txt 2>&1; then echo "succeeded against a board running firmware"; return 1; fi
    cat gone.txt
    if run dfu_util -d 2b04:d058 -a 1 -s 34:612 -U gone.der; then echo "dfu-util found a board running firmware"; return 1; fi
    return 0
}
check "a board running firmware is on neither tool's DFU bus" not_in_dfu

# ---- the same peers against an r6 board (firmware 0.3.3) ----

mkdir -p "$WORK/r6" && cd "$WORK/r6" || exit 2
VD=$WORK/vd6
VER=0250
ALT0='@Internal Flash   /0x08000000/02*016Ka,02*016Kg,01*064Kg,07*128Kg'
SERIAL=2fff27fffc473530fff23637
DCT_ADDR=0x08008000

check "sim create: a Duo with bootloader r6 and firmware 0.3.3" \
    run sim create "$VD" --bootloader r6 --firmware 0.3.3 --device-id "$SERIAL" \
        --from "$FIXTURES/fac-dct-r1.bin" --time-factor 0.01
check "r6: dfu-util -l lists ver=0250, the 32 KiB bootloader's alt-0 string and the device id as serial" \
    list_matches_reference
check "r6: duoprov through rusb finds the board by port and by its device id as serial" selectors
check "r6: sim boot + sim dfu: the firmware generates a key" \
    bash -c "'$DUOPROV' sim boot '$VD' && '$DUOPROV' sim dfu '$VD'"
check "r6: seed guide (firmware ≥ 0.3.0): dfu-util -a 0 -s 0x08008000 -D fac-dct-r1.bin → duoprov dct show matches the file" \
    seed_factory_dct
check "r6: sim boot + sim dfu: a key in the slot again" \
    bash -c "'$DUOPROV' sim boot '$VD' && '$DUOPROV' sim dfu '$VD'"
check "r6: duoprov keys save through rusb writes the slot's key" keys_save
check "r6: duoprov keys load through rusb writes the key, verified, with the previous key backed up" keys_load

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
