"""`make bench` figures for the Python binding (no assertions):

- provision_many of 1,000 devices at concurrency 32 against a local cloud,
  and the `duoprov provision --batch` rate against the same cloud in the
  same run;
- the time of `import duo_provisioning` in a fresh interpreter.

Usage: python bench.py DUOPROV_BINARY
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duo_provisioning as duo

DEVICES = 1000
CONCURRENCY = 32
TOKEN = "bench-token-0123456789abcdef"


def import_time() -> float:
    """Median seconds of `import duo_provisioning` over 5 fresh interpreters."""
    code = (
        "import time; t = time.perf_counter(); import duo_provisioning; "
        "print(time.perf_counter() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
        for _ in range(5)
    ]
    return statistics.median(runs)


def cli_rate(duoprov: str, url: str, ids: list[str], workdir: Path) -> float:
    batch = workdir / "batch.txt"
    batch.write_text("".join(f"{i}\n" for i in ids))
    done = subprocess.run(
        [duoprov, "--json", "provision", "--batch", str(batch), "--concurrency", str(CONCURRENCY),
         "--token", TOKEN, "--api-url", url],
        capture_output=True, text=True, check=True,
    )
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if record.get("type") == "summary" or "rate_per_sec" in record:
            summary = record.get("summary", record)
            return float(summary["rate_per_sec"])
    raise SystemExit(f"no summary in duoprov's output:\n{done.stdout[-2000:]}")


def main() -> None:
    duoprov = sys.argv[1]
    ids = [f"{i:024x}" for i in range(1, DEVICES + 1)]
    with tempfile.TemporaryDirectory() as tmp, duo.LocalCloud(tokens=[TOKEN], devices=ids) as cloud:
        # Warm the cloud's and the client's paths once.
        duo.provision_many(ids[:CONCURRENCY], TOKEN, api_url=cloud.url, concurrency=CONCURRENCY)
        started = time.perf_counter()
        report = duo.provision_many(ids, TOKEN, api_url=cloud.url, concurrency=CONCURRENCY)
        wall = time.perf_counter() - started
        python_rate = report.summary.rate_per_sec
        cli = cli_rate(duoprov, cloud.url, ids, Path(tmp))
    print(f"python provision_many: {report.summary.ok}/{DEVICES} ok at concurrency {CONCURRENCY}: "
          f"{python_rate:.0f} devices/s (core) / {DEVICES / wall:.0f} devices/s (wall, with report conversion), "
          f"p50 {report.summary.p50_ms:.1f} ms, p99 {report.summary.p99_ms:.1f} ms")
    print(f"duoprov provision --batch: {cli:.0f} devices/s at concurrency {CONCURRENCY}")
    print(f"python wall rate / CLI rate: {DEVICES / wall / cli:.2f}")
    print(f"import duo_provisioning: {import_time() * 1000:.1f} ms (median of 5 fresh interpreters)")


if __name__ == "__main__":
    main()
