//! The blocking façade from inside running tokio runtimes (a binding's
//! event loop, an async program), and stopping the local cloud: issue 8
//! item 6. No timing is asserted: a call that panicked or hung would fail
//! or never finish.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::batch::{BatchJob, BatchOptions};
use super::blocking::{self, BlockingClient};
use super::*;
use crate::sim::cloud::{Fault, LocalCloud, LocalCloudOptions, RunningCloud};

const TOKEN: &str = "blocking-test-token-4b3c2d";
const SEEDED: [&str; 3] = [
    "2fff27fffc473530fff23637",
    "2fff27fffc473530fff23638",
    "2fff27fffc473530fff23639",
];

fn id(s: &str) -> DeviceId {
    DeviceId::parse(s).unwrap()
}

fn cloud() -> RunningCloud {
    LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).unwrap()],
        devices: SEEDED.iter().map(|d| id(d)).collect(),
        ..LocalCloudOptions::default()
    })
    .unwrap()
}

fn config(cloud: &RunningCloud) -> CloudConfig {
    let mut config = CloudConfig::new(
        cloud.base_url().parse().unwrap(),
        AccessToken::new(TOKEN).unwrap(),
    );
    config.retry = RetryPolicy::none();
    config
}

/// Make a client, provision with it and drop it, all inside `runtime`.
fn provision_inside(runtime: tokio::runtime::Runtime) {
    let cloud = cloud();
    let config = config(&cloud);
    let pem = ProvisionKey::generic().unwrap().pem;
    let done = runtime.block_on(async {
        let client = BlockingClient::new(config.clone()).unwrap();
        let done = client.provision(&id(SEEDED[0]), &pem, 88).unwrap();
        drop(client);
        // The one-call façade too.
        blocking::provision(config, &id(SEEDED[1]), &pem, 88).unwrap();
        done
    });
    assert_eq!(done.attempts, 1);
    assert_eq!(cloud.records_for(&id(SEEDED[0])).len(), 1);
    assert_eq!(cloud.records_for(&id(SEEDED[1])).len(), 1);
}

#[test]
fn the_blocking_client_works_inside_a_current_thread_runtime() {
    provision_inside(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
}

#[test]
fn the_blocking_client_works_inside_a_multi_thread_runtime() {
    provision_inside(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
}

#[test]
fn a_batch_inside_a_runtime_reports_every_device_on_the_calling_thread() {
    let cloud = cloud();
    let client = BlockingClient::new(config(&cloud)).unwrap();
    let key = std::sync::Arc::new(ProvisionKey::generic().unwrap());
    let jobs: Vec<BatchJob> = SEEDED
        .iter()
        .enumerate()
        .map(|(i, d)| BatchJob {
            line: i + 1,
            device_id: id(d),
            key: key.clone(),
        })
        .collect();
    let options = BatchOptions {
        concurrency: 2,
        product_id: 88,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Not `Send`: the callback must run on this thread.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let summary = runtime.block_on(async {
        let seen = seen.clone();
        client
            .run_batch(jobs, &options, move |r| {
                seen.borrow_mut().push(r.device_id.clone())
            })
            .1
    });
    assert_eq!(summary.ok, SEEDED.len());
    let mut seen = seen.borrow().clone();
    seen.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(seen, SEEDED.iter().map(|d| id(d)).collect::<Vec<_>>());
}

#[test]
fn dropping_a_local_cloud_with_a_request_held_by_an_hour_long_delay_returns() {
    let cloud = cloud();
    cloud.set_fault(Fault::Delay { ms: 3_600_000 });
    let mut config = config(&cloud);
    config.timeout = Duration::from_secs(7200);
    let client = BlockingClient::new(config).unwrap();
    let pem = ProvisionKey::generic().unwrap().pem;
    std::thread::scope(|scope| {
        let request = scope.spawn(|| client.provision(&id(SEEDED[0]), &pem, 88));
        // Wait (bounded) until the request is held by the fault.
        for _ in 0..3000 {
            if cloud.stats().requests > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(cloud.stats().requests, 1, "the request reached the cloud");
        drop(cloud);
        // The dropped cloud closed the connection: the client got an answer
        // (a network error) long before the hour.
        let result = request.join().unwrap();
        assert!(
            matches!(result, Err(CloudError::Network { .. })),
            "{result:?}"
        );
    });
}

#[test]
fn stopping_a_local_cloud_explicitly_ends_its_service() {
    let cloud = cloud();
    let config = config(&cloud);
    cloud.stop();
    let client = BlockingClient::new(config).unwrap();
    let pem = ProvisionKey::generic().unwrap().pem;
    let e = client.provision(&id(SEEDED[0]), &pem, 88).unwrap_err();
    assert!(matches!(e, CloudError::Network { .. }), "{e:?}");
}
