#!/usr/bin/env bash
# Install from the source distribution, as a user without the checkout would:
# `maturin sdist` into a temporary directory, `pip install` of that tarball
# into a fresh temporary venv (pip's isolated build: maturin from PyPI), then
# import the package there and provision against a local cloud. Nothing is
# written inside the checkout.
#
# The build shares the workspace's cargo target directory (CARGO_TARGET_DIR).
# maturin stamps every file of the sdist with one fixed old mtime, and cargo
# hashes path crates by their place in the workspace, so cargo finds the
# artifacts that `make python-venv` just built from the same files up to date
# and compiles nothing of the core again (a file the sdist lacks would still
# be noticed: cargo rebuilds when a source its dep-info names is missing).
# Run it after `make python-venv`, as `make test-sdist` does.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY_VENV=${PY_VENV:-$ROOT/target/python-venv}
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export PYTHONDONTWRITEBYTECODE=1

work=$(mktemp -d "${TMPDIR:-/tmp}/duo-sdist.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$PY_VENV/bin/maturin" sdist -m "$ROOT/bindings-python/Cargo.toml" -o "$work/dist" >"$work/sdist.log" 2>&1 || { cat "$work/sdist.log"; exit 1; }
sdist=$(echo "$work"/dist/duo_provisioning-*.tar.gz)
echo "sdist: $(basename "$sdist") ($(du -k "$sdist" | cut -f1) KiB)"

"$PYTHON" -m venv "$work/venv"
start=$(date +%s)
"$work/venv/bin/pip" install -v --disable-pip-version-check "$sdist" >"$work/pip.log" 2>&1 \
  || { tail -60 "$work/pip.log"; exit 1; }
compiled=$(grep -c "   Compiling " "$work/pip.log" || true)
echo "pip install of the sdist: $(( $(date +%s) - start )) s, $compiled crate(s) compiled" \
  "($(grep -o "   Compiling [a-z0-9_-]*" "$work/pip.log" | awk '{print $2}' | tr '\n' ' '))"

# Run from the temporary directory so nothing of the checkout is importable.
cd "$work"
"$work/venv/bin/python" - "$work/venv" <<'PY'
import sys
from importlib import metadata
from pathlib import Path

import duo_provisioning as duo

venv = Path(sys.argv[1]).resolve()
package = Path(duo.__file__).resolve().parent
assert venv in package.parents, f"imported {package}, not the fresh venv's copy"
for name in ("py.typed", "_native.pyi", "pytest_plugin.py"):
    assert (package / name).exists(), f"the wheel built from the sdist lacks {name}"
plugins = [e.value for e in metadata.entry_points(group="pytest11") if e.name == "duo_provisioning"]
assert plugins == ["duo_provisioning.pytest_plugin"], plugins

token, device_id, other = "sdist-check-token", "2fff27fffc473530fff23637", "2fff27fffc473530fff23638"
with duo.LocalCloud(tokens=[token], devices=[device_id]) as cloud:
    result = duo.provision(device_id, token, api_url=cloud.url)
    held = cloud.public_key(device_id)
    assert result.device_id == device_id, result
    assert held is not None and duo.inspect_key(held.encode()).fingerprint == result.fingerprint
    try:
        duo.provision(other, token, api_url=cloud.url)
    except duo.PermissionDeniedError as e:
        assert e.code == "PERMISSION_DENIED" and token not in str(e)
    else:
        raise AssertionError("an unseeded device was provisioned")
print(f"installed from the sdist: duo_provisioning {duo.__version__}; provisioned {device_id} "
      f"(fingerprint {result.fingerprint[:16]}…), unseeded id refused")
PY
