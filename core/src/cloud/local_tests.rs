//! The client against the local cloud over loopback: retries, typed errors
//! and batches, with waits recorded instead of slept.

use std::sync::Arc;
use std::time::Duration;

use super::batch::{BatchJob, BatchOptions};
use super::blocking::BlockingClient;
use super::clock::RecordingClock;
use super::*;
use crate::sim::cloud::{Fault, LocalCloud, LocalCloudOptions, RunningCloud};

const TOKEN: &str = "client-test-token-9f8e7d";
const SEEDED: &str = "2fff27fffc473530fff23637";
const UNSEEDED: &str = "0123456789abcdef01234567";

fn id(s: &str) -> DeviceId {
    DeviceId::parse(s).unwrap()
}

fn cloud_with(devices: Vec<DeviceId>) -> RunningCloud {
    LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).unwrap()],
        devices,
        ..LocalCloudOptions::default()
    })
    .unwrap()
}

fn cloud() -> RunningCloud {
    cloud_with(vec![id(SEEDED)])
}

fn config(cloud: &RunningCloud, token: &str) -> CloudConfig {
    CloudConfig::new(
        cloud.base_url().parse().unwrap(),
        AccessToken::new(token).unwrap(),
    )
}

/// A blocking client on a recording clock.
fn client(config: CloudConfig) -> (BlockingClient, Arc<RecordingClock>) {
    let clock = Arc::new(RecordingClock::default());
    (
        BlockingClient::with_clock(config, clock.clone()).unwrap(),
        clock,
    )
}

fn provision(client: &BlockingClient, device: &str) -> Attempted<Provisioned> {
    client.provision_counted(&id(device), &ProvisionKey::generic().unwrap(), 88)
}

#[test]
fn a_seeded_device_is_provisioned_on_the_first_attempt() {
    let cloud = cloud();
    let (client, clock) = client(config(&cloud, TOKEN));
    let done = provision(&client, SEEDED).result.unwrap();
    assert_eq!(done.attempts, 1);
    assert_eq!(
        done.fingerprint,
        ProvisionKey::generic().unwrap().fingerprint
    );
    assert_eq!(done.order, "duoprov_1700000000000");
    assert_eq!(done.response, "Success!");
    let records = cloud.records_for(&id(SEEDED));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].filename.as_deref(), Some("duoprov"));
    assert_eq!(records[0].order.as_deref(), Some("duoprov_1700000000000"));
    assert_eq!(records[0].product_id, Some(88));
    assert_eq!(records[0].algorithm, "rsa");
    assert!(clock.sleeps().is_empty());
}

#[test]
fn rate_limited_twice_then_accepted_takes_three_attempts_honouring_retry_after() {
    let cloud = cloud();
    cloud.set_fault(Fault::Sequence {
        steps: vec![Fault::too_many_requests(1), Fault::too_many_requests(1)],
    });
    let (client, clock) = client(config(&cloud, TOKEN));
    let done = provision(&client, SEEDED).result.unwrap();
    assert_eq!(done.attempts, 3);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert!(
        sleeps.iter().all(|d| *d >= Duration::from_secs(1)),
        "{sleeps:?}"
    );
    assert_eq!(cloud.stats().requests, 3);
}

#[test]
fn gateway_errors_are_retried_until_the_attempts_run_out() {
    let cloud = cloud();
    cloud.set_fault(Fault::json_status(503));
    let (client, clock) = client(config(&cloud, TOKEN));
    let attempted = provision(&client, SEEDED);
    assert_eq!(attempted.attempts, 4);
    assert!(matches!(
        attempted.result,
        Err(CloudError::Server { status: 503, .. })
    ));
    assert_eq!(clock.sleeps().len(), 3);
    assert_eq!(cloud.stats().requests, 4);
}

#[test]
fn a_500_html_page_is_a_server_error_not_a_success_and_not_retried() {
    let cloud = cloud();
    cloud.set_fault(Fault::html_status(500));
    let (client, _) = client(config(&cloud, TOKEN));
    let attempted = provision(&client, SEEDED);
    assert_eq!(attempted.attempts, 1);
    let err = attempted.result.unwrap_err();
    assert!(
        matches!(err, CloudError::Server { status: 500, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("500"), "{err}");
}

#[test]
fn other_client_errors_are_not_retried() {
    let cloud = cloud();
    let (client, clock) = client(config(&cloud, TOKEN));
    let attempted = provision(&client, UNSEEDED);
    assert_eq!(attempted.attempts, 1);
    let err = attempted.result.unwrap_err();
    assert!(matches!(err, CloudError::PermissionDenied { .. }), "{err}");
    assert!(err.to_string().contains("initial provisioning"));

    cloud.set_fault(Fault::json_status(400));
    let attempted = provision(&client, SEEDED);
    assert_eq!(attempted.attempts, 1);
    assert!(matches!(
        attempted.result,
        Err(CloudError::Rejected { status: 400, .. })
    ));
    assert!(clock.sleeps().is_empty());
}

#[test]
fn a_wrong_token_is_an_invalid_token_error_that_never_shows_the_token() {
    let cloud = cloud();
    let wrong = "wrong-token-5a5a5a";
    let (client, _) = client(config(&cloud, wrong));
    let attempted = provision(&client, SEEDED);
    assert_eq!(attempted.attempts, 1);
    let err = attempted.result.unwrap_err();
    assert!(matches!(err, CloudError::InvalidToken { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("access token"), "{text}");
    assert!(!text.contains(wrong), "{text}");
}

#[test]
fn a_dropped_connection_is_retried_as_a_network_error() {
    let cloud = cloud();
    cloud.set_fault(Fault::Sequence {
        steps: vec![Fault::Drop],
    });
    let (client, clock) = client(config(&cloud, TOKEN));
    let done = provision(&client, SEEDED).result.unwrap();
    assert_eq!(done.attempts, 2);
    assert_eq!(clock.sleeps().len(), 1);
    assert_eq!(cloud.records_for(&id(SEEDED)).len(), 1);
}

#[test]
fn an_unreachable_cloud_is_a_network_error_without_the_token() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = CloudConfig::new(
        format!("http://127.0.0.1:{port}").parse().unwrap(),
        AccessToken::new(TOKEN).unwrap(),
    );
    let (client, clock) = client(config);
    let attempted = provision(&client, SEEDED);
    assert_eq!(attempted.attempts, 4);
    assert_eq!(clock.sleeps().len(), 3);
    let err = attempted.result.unwrap_err();
    assert!(matches!(err, CloudError::Network { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains(&port.to_string()), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

/// This one is about a timeout, so it runs on real time: 200 ms against a
/// 1 s delay.
#[test]
fn a_reply_slower_than_the_timeout_is_a_timeout_error() {
    let cloud = cloud();
    cloud.set_fault(Fault::Delay { ms: 1_000 });
    let mut config = config(&cloud, TOKEN);
    config.timeout = Duration::from_millis(200);
    let (client, clock) = client(config);
    let attempted = provision(&client, SEEDED);
    assert_eq!(attempted.attempts, 1);
    assert!(
        matches!(attempted.result, Err(CloudError::Timeout { .. })),
        "{:?}",
        attempted.result
    );
    assert!(clock.sleeps().is_empty());
}

#[test]
fn an_excessive_retry_after_fails_as_rate_limited_naming_the_delay() {
    let cloud = cloud();
    cloud.set_fault(Fault::too_many_requests(3600));
    let (client, clock) = client(config(&cloud, TOKEN));
    let attempted = provision(&client, SEEDED);
    assert_eq!(attempted.attempts, 1);
    let err = attempted.result.unwrap_err();
    assert!(
        matches!(err, CloudError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3600)),
        "{err}"
    );
    assert!(err.to_string().contains("3600 s"), "{err}");
    assert!(clock.sleeps().is_empty());
}

#[test]
fn the_device_endpoint_answers_for_known_devices() {
    let cloud = cloud();
    let (client, _) = client(config(&cloud, TOKEN));
    assert_eq!(client.device(&id(SEEDED)).unwrap()["id"], SEEDED);
    assert!(matches!(
        client.device(&id(UNSEEDED)),
        Err(CloudError::PermissionDenied { .. })
    ));
}

#[test]
fn provisioning_pem_text_of_a_private_key_sends_only_its_public_half() {
    let cloud = cloud();
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
    let pem =
        rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&private, rsa::pkcs8::LineEnding::LF).unwrap();
    let (client, _) = client(config(&cloud, TOKEN));
    client.provision(&id(SEEDED), &pem, 88).unwrap();
    let held = cloud.public_key(&id(SEEDED)).unwrap();
    assert!(held.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        crate::keys::parse_public_key(held.as_bytes()).unwrap(),
        private.to_public_key()
    );
    let err = client.provision(&id(SEEDED), "junk", 88).unwrap_err();
    assert!(matches!(err, CloudError::InvalidKey { .. }), "{err}");
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_request() {
    let config = CloudConfig::new(
        "http://api.particle.io".parse().unwrap(),
        AccessToken::new(TOKEN).unwrap(),
    );
    assert!(matches!(
        CloudClient::new(config),
        Err(CloudError::InsecureUrl { .. })
    ));
}

#[test]
fn configs_and_clients_print_without_the_token() {
    let cloud = cloud();
    let config = config(&cloud, TOKEN);
    assert!(!format!("{config:?}").contains(TOKEN));
    let (client, _) = client(config);
    assert!(!format!("{client:?}").contains(TOKEN));
}

#[test]
fn a_batch_provisions_every_device_exactly_once_and_counts_failures() {
    let mut ids: Vec<DeviceId> = (0..200u32).map(|i| id(&format!("{i:024x}"))).collect();
    let cloud = cloud_with(ids.clone());
    ids.push(id(UNSEEDED));
    let key = Arc::new(ProvisionKey::generic().unwrap());
    let jobs: Vec<BatchJob> = ids
        .iter()
        .enumerate()
        .map(|(i, d)| BatchJob {
            line: i + 1,
            device_id: d.clone(),
            key: key.clone(),
        })
        .collect();
    let (client, _) = client(config(&cloud, TOKEN));
    let options = BatchOptions {
        concurrency: 8,
        product_id: 88,
    };
    let mut seen = 0;
    let (results, summary) = client.run_batch(jobs, &options, |_| seen += 1);
    assert_eq!(seen, 201);
    assert_eq!(results.len(), 201);
    assert_eq!((summary.total, summary.ok, summary.failed), (201, 200, 1));
    assert_eq!(summary.attempts, 201);
    assert_eq!(summary.concurrency, 8);
    assert!(!summary.all_ok());
    let failed: Vec<_> = results.iter().filter(|r| !r.ok).collect();
    assert_eq!(failed[0].device_id.as_str(), UNSEEDED);
    assert_eq!(failed[0].error_kind, Some("permission_denied"));
    for d in &ids[..200] {
        assert_eq!(cloud.records_for(d).len(), 1, "{d}");
    }
    assert!(summary.to_string().contains("devices/s"));
}

/// A clock whose first `epoch_millis` call panics: stands in for any bug
/// that kills one batch worker in the middle of a device.
#[derive(Debug, Default)]
struct PanicsOnce(std::sync::atomic::AtomicBool);

impl AsyncClock for PanicsOnce {
    fn sleep(&self, _: Duration) -> SleepFuture {
        Box::pin(async {})
    }
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
    fn epoch_millis(&self) -> u64 {
        if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            panic!("test: a worker dies mid-device");
        }
        1_700_000_000_000
    }
}

#[test]
fn a_batch_whose_worker_dies_counts_the_unfinished_device_as_failed() {
    let other = id("00000000000000000000000a");
    let cloud = cloud_with(vec![id(SEEDED), other.clone()]);
    let key = Arc::new(ProvisionKey::generic().unwrap());
    let jobs: Vec<BatchJob> = [id(SEEDED), other]
        .into_iter()
        .enumerate()
        .map(|(i, device_id)| BatchJob {
            line: i + 1,
            device_id,
            key: key.clone(),
        })
        .collect();
    let client =
        BlockingClient::with_clock(config(&cloud, TOKEN), Arc::new(PanicsOnce::default())).unwrap();
    let options = BatchOptions {
        concurrency: 2,
        product_id: 88,
    };
    let mut seen = 0;
    let (results, summary) = client.run_batch(jobs, &options, |_| seen += 1);
    assert_eq!(seen, 2);
    assert_eq!(results.len(), 2);
    assert_eq!((summary.total, summary.ok, summary.failed), (2, 1, 1));
    assert!(!summary.all_ok());
    let failed: Vec<_> = results.iter().filter(|r| !r.ok).collect();
    assert_eq!(failed[0].error_kind, Some("internal"));
}

/// A one-shot HTTP server on loopback that answers any request with `reply`.
fn one_reply_server(reply: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 8192];
        let _ = conn.read(&mut request);
        // The client may stop reading and close early: that is the point.
        let _ = conn.write_all(&reply);
    });
    (url, handle)
}

#[test]
fn an_endless_success_reply_is_read_only_so_far_and_is_not_a_success() {
    // A 200 whose JSON would say ok, but only after 8 MiB of padding.
    let padding = "x".repeat(8 * 1024 * 1024);
    let body = format!("{{\"pad\":\"{padding}\",\"ok\":true}}");
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(body.as_bytes());
    let (url, server) = one_reply_server(reply);
    let config = CloudConfig::new(url.parse().unwrap(), AccessToken::new(TOKEN).unwrap());
    let (client, _) = client(config);
    let attempted = provision(&client, SEEDED);
    let err = attempted.result.unwrap_err();
    assert!(matches!(err, CloudError::BadResponse { .. }), "{err}");
    assert!(!err.to_string().contains(TOKEN));
    // Dropping the client closes the connection, so the server's write ends.
    drop(client);
    server.join().unwrap();
}

fn jobs_for(ids: &[DeviceId]) -> Vec<BatchJob> {
    let key = Arc::new(ProvisionKey::generic().unwrap());
    ids.iter()
        .enumerate()
        .map(|(i, d)| BatchJob {
            line: i + 1,
            device_id: d.clone(),
            key: key.clone(),
        })
        .collect()
}

/// Issue 8 item 5: a batch cancelled after its first device starts no new
/// job; every device is still in the results, the unfinished ones with
/// code `CANCELLED`, and the summary counts them.
#[test]
fn a_cancelled_batch_starts_no_new_job_and_reports_the_rest_as_cancelled() {
    use crate::progress::{CancelToken, Monitor, Phase, ProgressEvent, Unit};
    let ids: Vec<DeviceId> = (0..20u32).map(|i| id(&format!("{i:024x}"))).collect();
    let cloud = cloud_with(ids.clone());
    let (client, _) = client(config(&cloud, TOKEN));
    let options = BatchOptions {
        concurrency: 1,
        product_id: 88,
    };
    let token = CancelToken::new();
    let trigger = token.clone();
    let events = Arc::new(std::sync::Mutex::new(Vec::<ProgressEvent>::new()));
    let sink = events.clone();
    let monitor =
        Monitor::new()
            .with_cancel(token)
            .with_observer(Arc::new(move |e: &ProgressEvent| {
                assert_eq!((e.phase, e.unit), (Phase::Provision, Unit::Devices));
                if e.done == 1 {
                    trigger.cancel();
                }
                sink.lock().unwrap().push(*e);
            }));
    let (results, summary) = client.run_batch_with(jobs_for(&ids), &options, |_| {}, &monitor);
    assert_eq!(results.len(), 20);
    assert_eq!(summary.total, 20);
    assert_eq!(summary.failed, 0);
    assert!(summary.ok >= 1, "{summary}");
    assert!(summary.cancelled >= 1, "{summary}");
    assert_eq!(summary.ok + summary.cancelled, 20, "{summary}");
    assert!(!summary.all_ok());
    assert!(summary.to_string().contains("cancelled"), "{summary}");
    for r in &results {
        let records = cloud.records_for(&r.device_id).len();
        if r.ok {
            assert_eq!(records, 1, "{}", r.device_id);
        } else {
            assert_eq!(r.code, Some(crate::error::ErrorCode::Cancelled));
            if r.error.as_deref().unwrap().contains("not sent") {
                assert_eq!(records, 0, "{}: never sent", r.device_id);
            }
        }
    }
    let done: Vec<u64> = events.lock().unwrap().iter().map(|e| e.done).collect();
    assert_eq!(done, (0..=20).collect::<Vec<u64>>());
}

#[test]
fn a_batch_cancelled_before_it_starts_sends_nothing() {
    use crate::progress::{CancelToken, Monitor};
    let ids: Vec<DeviceId> = (0..5u32).map(|i| id(&format!("{i:024x}"))).collect();
    let cloud = cloud_with(ids.clone());
    let (client, _) = client(config(&cloud, TOKEN));
    let token = CancelToken::new();
    token.cancel();
    let monitor = Monitor::new().with_cancel(token);
    let options = BatchOptions {
        concurrency: 4,
        product_id: 88,
    };
    let (results, summary) = client.run_batch_with(jobs_for(&ids), &options, |_| {}, &monitor);
    assert_eq!((summary.total, summary.cancelled, summary.ok), (5, 5, 0));
    for r in &results {
        assert_eq!(cloud.records_for(&r.device_id).len(), 0);
        assert_eq!(r.attempts, 0);
    }
}

/// A single provision waiting on a slow cloud is dropped on cancel and
/// answers `CANCELLED` with the device id.
#[test]
fn a_provision_in_flight_is_cancelled() {
    use crate::progress::{CancelToken, Monitor};
    let cloud = cloud();
    cloud.set_fault(Fault::Delay { ms: 60_000 });
    let (client, _) = client(config(&cloud, TOKEN));
    let token = CancelToken::new();
    let monitor = Monitor::new().with_cancel(token.clone());
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        token.cancel();
    });
    let pem = ProvisionKey::generic().unwrap().pem;
    let err = client
        .provision_with(&id(SEEDED), &pem, 88, &monitor)
        .unwrap_err();
    canceller.join().unwrap();
    assert_eq!(crate::error::ErrorInfo::code(&err).as_str(), "CANCELLED");
    assert_eq!(
        crate::error::ErrorInfo::facts(&err).device_id.as_deref(),
        Some(SEEDED)
    );
    assert!(err.to_string().contains("may or may not"), "{err}");
}
