"""Shared helpers of the binding's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The vendor fixtures, beside the repository (never copied into it).
SHARED = ROOT.parent / "shared" / "fixtures"


def duoprov_binary() -> Optional[Path]:
    """The `duoprov` CLI: $DUOPROV, else the workspace's debug build."""
    named = os.environ.get("DUOPROV")
    if named:
        path = Path(named)
        return path if path.is_absolute() else ROOT / path
    built = ROOT / "target" / "debug" / "duoprov"
    if built.exists():
        return built
    found = shutil.which("duoprov")
    return Path(found) if found else None


@pytest.fixture
def factory_dct() -> bytes:
    """RedBear's factory DCT image (fac-dct-r1.bin)."""
    path = SHARED / "duo" / "fac-dct-r1.bin"
    if not path.exists():
        pytest.skip(f"vendor fixture {path} is not there")
    return path.read_bytes()


@pytest.fixture
def duoprov_cloud(cloud_token: str, virtual_duo: object) -> Iterator[str]:
    """`duoprov cloud serve` seeded with the virtual Duo's id; yields its URL."""
    binary = duoprov_binary()
    if binary is None or not binary.exists():
        pytest.skip("no duoprov binary (set DUOPROV or build target/debug/duoprov)")
    device_id = getattr(virtual_duo, "device_id")
    proc = subprocess.Popen(
        [str(binary), "cloud", "serve", "--token", cloud_token, "--device", device_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
