#!/usr/bin/env bash
# The main job on the embedded defaults: explain the factory DCT RedBear ships.
set -euo pipefail
cd "$(dirname "$0")/.."
duoprov=target/debug/duoprov
echo "== duoprov dct show (embedded factory DCT image)"
"$duoprov" dct show --factory
