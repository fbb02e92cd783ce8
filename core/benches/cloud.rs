//! `make bench`: provisioning throughput against the local cloud on loopback.
//! Prints figures only; nothing here asserts a time.
//!
//! 1. One device at a time through the CLI: `duoprov provision ID` spawned
//!    once per device (process start, key load, TLS-less loopback request).
//! 2. A batch of 1,000 ids through the core batch runner at concurrency 1,
//!    8 and 32, with p50/p99 latency per device.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use duo_provisioning::cloud::batch::{percentile, BatchJob, BatchOptions};
use duo_provisioning::cloud::blocking::BlockingClient;
use duo_provisioning::cloud::{AccessToken, CloudConfig, DeviceId, ProvisionKey};
use duo_provisioning::sim::cloud::{LocalCloud, LocalCloudOptions};

const TOKEN: &str = "bench-token";
const CLI_RUNS: u32 = 50;
const BATCH: u32 = 1_000;

fn device(i: u32) -> DeviceId {
    DeviceId::parse(&format!("{:024x}", 0xbe_0000 + i)).expect("valid id")
}

fn main() {
    let cloud = LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).expect("token")],
        devices: (0..BATCH.max(CLI_RUNS)).map(device).collect(),
        ..LocalCloudOptions::default()
    })
    .expect("start the local cloud");
    println!("local cloud at {}", cloud.base_url());

    // 1. Through the CLI, one process per device.
    let home = tempfile::tempdir().expect("temp HOME");
    let mut latencies = Vec::new();
    let started = Instant::now();
    for i in 0..CLI_RUNS {
        let t = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_duoprov"))
            .args(["provision", device(i).as_str(), "--token", TOKEN])
            .args(["--api-url", cloud.base_url()])
            .env("HOME", home.path())
            .env_remove("PARTICLE_ACCESS_TOKEN")
            .env_remove("PARTICLE_API_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run duoprov");
        latencies.push(t.elapsed());
        if !status.success() {
            println!("  run {i} failed ({status})");
        }
    }
    let elapsed = started.elapsed();
    println!(
        "cli, one device at a time: {CLI_RUNS} provisions in {:.2} s = {:.1} provisions/s (p50 {:.1} ms, p99 {:.1} ms)",
        elapsed.as_secs_f64(),
        f64::from(CLI_RUNS) / elapsed.as_secs_f64(),
        ms_percentile(&latencies, 50.0),
        ms_percentile(&latencies, 99.0),
    );

    // 2. A batch of 1,000 through the core runner.
    let client = BlockingClient::new(CloudConfig::new(
        cloud.base_url().parse().expect("base URL"),
        AccessToken::new(TOKEN).expect("token"),
    ))
    .expect("client");
    let key = Arc::new(ProvisionKey::generic().expect("generic key"));
    for concurrency in [1usize, 8, 32] {
        let jobs: Vec<BatchJob> = (0..BATCH)
            .map(|i| BatchJob {
                line: i as usize + 1,
                device_id: device(i),
                key: key.clone(),
            })
            .collect();
        let options = BatchOptions {
            concurrency,
            product_id: 88,
        };
        let (_, summary) = client.run_batch(jobs, &options, |_| {});
        println!(
            "batch of {BATCH}, concurrency {concurrency:>2}: {:.1} provisions/s, {} ok, {} failed, p50 {:.2} ms, p99 {:.2} ms, {:.2} s",
            summary.rate_per_sec,
            summary.ok,
            summary.failed,
            summary.p50_ms,
            summary.p99_ms,
            summary.elapsed_secs
        );
    }
    cloud.shutdown();
}

fn ms_percentile(latencies: &[Duration], p: f64) -> f64 {
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    percentile(&ms, p)
}
