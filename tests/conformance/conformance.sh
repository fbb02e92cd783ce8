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
sim_slot() { duoprov_sim dfu read --force --alt 1 --addr 34 --len 612 -o "$1"; }

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
    run duoprov_usb dfu read --force --alt 1 --addr 34 --len 612 -o duoprov.der || return 1
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

seed_factory_dct() {
    cp "$FIXTURES/fac-dct-r1.bin" .
    # The region at the board's DCT address (REFERENCE §1: 0x08004000 for
    # firmware ≤ 0.2.4, 0x08008000 since 0.3.0) before and after.
    run dfu_util -d 2b04:d058 -a 0 -s "$DCT_ADDR:32768" -U before.bin || return 1
    if cmp -s before.bin fac-dct-r1.bin; then echo "the device's DCT already matched the file"; return 1; fi
    run dfu_util -d 2b04:d058 -a 0 -s "$DCT_ADDR" -D fac-dct-r1.bin || return 1
    run dfu_util -d 2b04:d058 -a 0 -s "$DCT_ADDR:32768" -U after.bin || return 1
    same_file fac-dct-r1.bin after.bin || return 1
    # duoprov decodes the DCT the board now holds (in its firmware's layout).
    run duoprov_usb dct show --json >device.json || return 1
    contains device.json '"device.spark.io"' && contains device.json '"device_private_key"'
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
    run duoprov_sim dfu read --force --alt 2 --addr 0x1000 --len 100 -o back.bin || return 1
    same_file blob.bin back.bin
}
check "duoprov dfu write through rusb lands in the simulator's serial flash" dfu_write

keys_reset_no_leave() {
    run duoprov_usb keys reset --no-leave || return 1
    # The whole 1216-byte slot, as the seed guide's file covers it.
    run duoprov_sim dfu read --force --alt 1 --addr 34 --len 1216 -o slot.bin || return 1
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

# ---- boards in normal mode (issue 12, REFERENCE §7) through rusb ----
#
# A booted virtual Duo is on the stand-in's bus as the board in normal mode
# presents itself (2b04:c058, its firmware's serial string and vendor
# requests); duoprov finds it with no sim: selector. Its serial port has no
# /sys/class/tty entry, so the console and 14400-baud routes get the port
# named with --serial-port (the board directory's stable `tty` link).

# A top-level field of a JSON document, or of a list's first element
# (whatever the key order or layout).
top_field() {
    python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
v = (doc[0] if isinstance(doc, list) else doc).get(sys.argv[2])
print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"
}
expect_top() {
    local got
    got=$(top_field "$1" "$2")
    [ "$got" = "$3" ] || { echo "$1: $2 is '$got', expected '$3'"; cat "$1"; return 1; }
}

mkdir -p "$WORK/normal" && cd "$WORK/normal" || exit 2
ID=2a0021000747343232363230

# normal_board NAME BOOTLOADER FIRMWARE: a booted board in $WORK/NAME, as $VD.
normal_board() {
    VD=$WORK/$1
    run sim create "$VD" --bootloader "$2" --firmware "$3" --device-id "$ID" --time-factor 0.01 &&
        run sim boot "$VD"
}
# duoprov through rusb with no selector at all.
duoprov_bus() { on_usb "$DUOPROV" "$@"; }

listed_normal() {
    run duoprov_bus list >nlist.txt || return 1
    contains nlist.txt "usb:1-1  [2b04:c058] RedBear Duo  normal mode" || return 1
    contains nlist.txt "device id $2  firmware $3" || return 1
    run duoprov_bus --json list >nlist.json || return 1
    expect_top nlist.json mode normal && expect_top nlist.json usb_id 2b04:c058
}

# identify_as PORT_ARGS... -- ID_FROM VERSION VERSION_FROM
identify_as() {
    local args=()
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    run duoprov_bus --json "${args[@]}" identify >id.json || return 1
    expect_top id.json board usb:1-1 || return 1
    expect_top id.json device_id "$ID" || return 1
    expect_top id.json device_id_from "$1" || return 1
    expect_top id.json firmware_version "$2" || return 1
    expect_top id.json firmware_version_from "$3" || return 1
    contains id.json '"platform_id": 88'
}

# back_in_dfu ROUTE MATCHED_BY SERIAL PORT_ARGS...: mode dfu by ROUTE, then
# the same board on both tools' DFU bus.
back_in_dfu() {
    local route=$1 matched=$2 serial=$3
    shift 3
    run duoprov_bus --json "$@" mode dfu >mode.json || return 1
    expect_top mode.json route "$route" || return 1
    expect_top mode.json matched_by "$matched" || return 1
    expect_top mode.json dfu_board usb:1-1 || return 1
    run dfu_util -l >dl.txt || return 1
    contains dl.txt "Found DFU: [2b04:d058]" || return 1
    contains dl.txt "path=\"1-1\", alt=1, name=\"@DCT Flash   /0x00000000/01*016Kg\", serial=\"$serial\"" || return 1
    run duoprov_bus list >after.txt || return 1
    contains after.txt "usb:1-1  [2b04:d058]" || return 1
    if grep -q "normal mode" after.txt; then echo "still listed in normal mode"; return 1; fi
}

listening() {
    run duoprov_bus "$@" mode listen || return 1
    run sim show "$VD" --json >ls.json || return 1
    expect_top ls.json listening true || return 1
    run duoprov_bus "$@" mode normal || return 1
    run sim show "$VD" --json >ls.json || return 1
    expect_top ls.json listening false && expect_top ls.json mode firmware
}

check "normal 0.3.3: sim create (r6) + sim boot" normal_board n033 r6 0.3.3
check "normal 0.3.3: duoprov list through rusb shows 2b04:c058 in normal mode, id from the USB serial, firmware 0.3.3" \
    listed_normal n033 "$ID" 0.3.3
check "normal 0.3.3: identify --json through rusb: id from the USB serial, version by the 0x50 read, modules by service request 90" \
    identify_as -- usb_serial 0.3.3 legacy_request
check "normal 0.3.3: mode listen / mode normal through rusb by service requests 70 / 71" listening
check "normal 0.3.3: mode dfu through rusb by the service request; back in DFU matched by device id; dfu-util -l sees it" \
    back_in_dfu service_request device_id "$ID"

enter_dfu_keys_save() {
    run sim boot "$VD" || return 1
    run duoprov_bus --device "id:$ID" --enter-dfu keys save saved_n || return 1
    run sim show "$VD" --json >es.json || return 1
    expect_top es.json mode dfu || return 1
    [ "$(head -c 2 saved_n.der | od -An -tx1 | tr -d ' ')" = 3082 ] || { echo "saved_n.der is not a DER key"; return 1; }
}
check "normal 0.3.3: --device id:ID --enter-dfu keys save through rusb: into DFU mode, key saved" enter_dfu_keys_save

check "normal 0.3.1: sim create (r4) + sim boot" normal_board n031 r4 0.3.1
check "normal 0.3.1: duoprov list through rusb: id from the upper-case USB serial, firmware 0.3.1 by the legacy request" \
    listed_normal n031 "$ID" 0.3.1
check "normal 0.3.1: identify --json through rusb (--serial-port for the modules): version by the legacy request, modules by the console" \
    identify_as --serial-port "$WORK/n031/tty" -- usb_serial 0.3.1 legacy_request
# Firmware 0.3.x replaced the r4 bootloader at boot (r5: the id in upper case).
check "normal 0.3.1: mode dfu through rusb by the legacy request (0x50 wIndex 50); back in DFU (r5) matched by device id" \
    back_in_dfu legacy_request device_id 2A0021000747343232363230

check "normal 0.2.4: sim create (r4) + sim boot" normal_board n024 r4 0.2.4
check "normal 0.2.4: duoprov list through rusb: device id unknown (constant serial, no vendor requests)" \
    listed_normal n024 unknown unknown
no_port_no_id() {
    if run duoprov_bus --json identify >np.json; then echo "identified without a port"; return 1; fi
    expect_top np.json code NO_DEVICE
}
check "normal 0.2.4: identify without a port fails, saying no route told the id" no_port_no_id
check "normal 0.2.4: identify --json --serial-port TTY through rusb: everything from the console at 28800" \
    identify_as --serial-port "$WORK/n024/tty" -- console 0.2.4 console
check "normal 0.2.4: mode listen / mode normal through rusb on the console (28800, x) via --serial-port" \
    listening --serial-port "$WORK/n024/tty"
check "normal 0.2.4: mode dfu through rusb by the 14400-baud trigger via --serial-port; back in DFU matched by port" \
    back_in_dfu baud_rate port 00000000010C --serial-port "$WORK/n024/tty"

same_id_twice() {
    run sim create "$WORK/twin1" --bootloader r6 --firmware 0.3.3 --device-id "$ID" --time-factor 0.01 || return 1
    run sim create "$WORK/twin2" --bootloader r6 --firmware 0.3.3 --device-id "$ID" --time-factor 0.01 || return 1
    run sim boot "$WORK/twin1" && run sim boot "$WORK/twin2" || return 1
    if run env LD_PRELOAD="$LIBUSB_VIRTUAL" DUO_VIRTUAL_DIRS="$WORK/twin1:$WORK/twin2" \
        "$DUOPROV" --json --device "id:$ID" identify >twin.json; then
        echo "picked one of two boards with the same id"; return 1
    fi
    expect_top twin.json code MULTIPLE_DEVICES || return 1
    contains twin.json "usb:1-1" && contains twin.json "usb:1-2"
}
check "two boards in normal mode telling the same device id: MULTIPLE_DEVICES naming both ports" same_id_twice

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
