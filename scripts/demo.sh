#!/usr/bin/env bash
# The main job on the embedded defaults: the seed guide's whole lifecycle on a
# virtual Duo (factory DCT) and a local cloud, with no hardware and no network.
#
#   factory Duo -> first boot generates its key -> back up the key
#   -> provision its public key -> regenerate the key -> provision again
#
# DUOPROV_DEMO_TIME_FACTOR scales the virtual device's timing (1.0 = a real
# Duo; the default 0.1 keeps the demo short).
set -euo pipefail
cd "$(dirname "$0")/.."
duoprov="$PWD/target/debug/duoprov"
factor="${DUOPROV_DEMO_TIME_FACTOR:-0.1}"
work="$(mktemp -d "${TMPDIR:-/tmp}/duoprov-demo.XXXXXX")"
cloud_pid=""
cleanup() {
  if [ -n "$cloud_pid" ]; then kill "$cloud_pid" 2>/dev/null || true; wait "$cloud_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ duoprov %s\n' "$*"; "$duoprov" "$@"; }

id=2fff27fffc473530fff23637        # the device id of the seed guide's example
token="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"  # local only, never printed
export DUOPROV_DEVICE="sim:$work/duo"
cd "$work"

step "A factory Duo in DFU mode (RedBear's factory DCT, time factor $factor)"
run sim create duo --device-id "$id" --time-factor "$factor"
run list
run dct show | sed -n '1,9p'

step "Its key slot is still erased: there is nothing to back up yet"
if run keys save factory; then echo "unexpected: saved a key from an erased slot" >&2; exit 1; fi

step "First boot: the firmware generates the device key; then back to DFU mode"
run sim boot duo
run sim dfu duo

step "Back up the device key (particle-cli file names, private files mode 0600)"
run keys save duo-key
ls -l duo-key.*

step "A local cloud that knows this device (its initial provisioning)"
"$duoprov" cloud serve --token "$token" --seed "$id" >cloud.out 2>cloud.err &
cloud_pid=$!
for _ in $(seq 1 100); do [ -s cloud.out ] && break; sleep 0.05; done
api="$(head -n 1 cloud.out)"
echo "local cloud at $api"

step "Provision the device's public key"
PARTICLE_ACCESS_TOKEN="$token" run provision "$id" duo-key.pub.pem --api-url "$api"

step "Reset the key: the device generates a new one at its next boot"
run keys reset
run sim dfu duo
run keys save duo-key-2
run keys inspect duo-key-2.der

step "Provision the new key; the cloud now holds it"
PARTICLE_ACCESS_TOKEN="$token" run provision "$id" duo-key-2.der --api-url "$api" --json

step "A device the cloud never saw is refused, with what to do about it"
if PARTICLE_ACCESS_TOKEN="$token" run provision 0123456789abcdef01234567 --api-url "$api"; then
  echo "unexpected: an unknown device was provisioned" >&2; exit 1
fi

step "Done: key backed up, provisioned, regenerated and provisioned again"
