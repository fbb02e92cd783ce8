//! `duo_provisioning::cloud`: provisioning one device or many
//! (REFERENCE §4). Token and API URL are found as the CLI finds them when
//! not given (environment, particle-cli's login); results say where each
//! came from, never the token.

use std::path::PathBuf;
use std::sync::Arc;

use duo_provisioning::cloud::batch::{prepare_jobs, BatchEntry, BatchOptions, DeviceResult};
use duo_provisioning::cloud::blocking::BlockingClient;
use duo_provisioning::cloud::config::ArgNames;
use duo_provisioning::cloud::settings::{ClientOptions, ClientReport};
use duo_provisioning::cloud::{DeviceId, KeySource, ProvisionKey, Provisioned};
use napi::bindgen_prelude::{AsyncTask, Buffer, Either, Object};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;

use crate::convert::json;
use crate::error::CoreError;
use crate::task::{self, ProgressFn, Watch, Work};

/// Product id of the RedBear Duo (REFERENCE §4).
const DUO_PRODUCT_ID: u16 = 88;

/// How to reach the cloud; every field is optional.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ProvisionOptions<'a> {
    /// Default 88, the Duo's product id.
    pub product_id: Option<u16>,
    /// The key to send: PEM text, PEM/DER bytes, or a key file path (a
    /// private key's public half is sent). Default: RedBear's generic key.
    pub public_key: Option<Either<String, Buffer>>,
    /// Default: `PARTICLE_API_URL`, particle-cli's `apiUrl`, then
    /// `https://api.particle.io`. Plain `http://` only to loopback.
    pub api_url: Option<String>,
    /// Bound on one request, in milliseconds (default 30000).
    pub timeout_ms: Option<u32>,
    /// Retries after the first attempt for 429 / 502 / 503 / 504 / network
    /// errors (default 3).
    pub retries: Option<u32>,
    /// Aborts the call: it rejects with code `CANCELLED`.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'a>>,
}

/// A confirmed provisioning. Never holds the token.
#[napi(object)]
pub struct ProvisionResult {
    pub device_id: String,
    /// SHA-256 (hex) of the public key the cloud now holds for the device.
    pub fingerprint: String,
    pub product_id: u16,
    /// Requests it took, including the successful one.
    pub attempts: u32,
    /// The `order` field sent.
    pub order: String,
    /// `{ kind: 'generic' | 'file' | 'pem-text', path? }`.
    #[napi(ts_type = "{ kind: string; path?: string }")]
    pub key_source: Value,
    /// Where the token came from: `{ kind: 'flag' | 'env' | 'particle-config', name?, path? }`.
    #[napi(ts_type = "{ kind: string; name?: string; path?: string }")]
    pub token_origin: Value,
    pub api_url: String,
    #[napi(ts_type = "{ kind: string; name?: string; path?: string }")]
    pub api_url_origin: Value,
    /// The cloud's JSON reply.
    pub response: Value,
}

/// How this package names the options the core's messages mention.
const NAMES: ArgNames = ArgNames {
    token: "the token argument of provision()",
    api_url: "the apiUrl option",
    timeout: "the timeoutMs option",
    ca_cert: "the caCert option",
};

/// The client settings both calls share, resolved by the core
/// (`ClientOptions::resolve`: discovery order, timeout bounds, retries).
struct Client {
    client: BlockingClient,
    report: ClientReport,
    product_id: u16,
}

fn client(
    token: Option<String>,
    api_url: Option<String>,
    timeout_ms: Option<u32>,
    retries: Option<u32>,
    product_id: Option<u16>,
) -> Result<Client, CoreError> {
    let settings = ClientOptions {
        token,
        api_url,
        timeout_secs: timeout_ms.map(|ms| f64::from(ms) / 1000.0),
        retries,
        names: NAMES,
        ..ClientOptions::default()
    }
    .resolve()?;
    Ok(Client {
        client: BlockingClient::new(settings.config)?,
        report: settings.report,
        product_id: product_id.unwrap_or(DUO_PRODUCT_ID),
    })
}

fn provision_key(key: Option<Either<String, Buffer>>) -> Result<ProvisionKey, CoreError> {
    Ok(match key {
        None => ProvisionKey::generic()?,
        Some(Either::A(text)) => ProvisionKey::from_arg(Some(&text))?,
        Some(Either::B(bytes)) => ProvisionKey::from_bytes(&bytes, KeySource::PemText)?,
    })
}

fn result(done: Provisioned, key: &ProvisionKey, report: &ClientReport) -> ProvisionResult {
    ProvisionResult {
        device_id: done.device_id.to_string(),
        fingerprint: done.fingerprint,
        product_id: done.product_id,
        attempts: done.attempts,
        order: done.order,
        key_source: json(&key.source),
        token_origin: json(&report.token_origin),
        api_url: report.api_url.clone(),
        api_url_origin: json(&report.api_url_origin),
        response: done.response,
    }
}

/// Send a device's public key to the cloud. Resolves with the confirmed
/// provisioning; rejects with an `Error` whose `code` is e.g.
/// `INVALID_TOKEN`, `PERMISSION_DENIED`, `RATE_LIMITED`, `SERVER_ERROR`.
#[napi(ts_return_type = "Promise<ProvisionResult>")]
pub fn provision(
    env: Env,
    device_id: String,
    token: Option<String>,
    options: Option<ProvisionOptions<'_>>,
) -> napi::Result<AsyncTask<Work<ProvisionResult>>> {
    let ProvisionOptions {
        product_id,
        public_key,
        api_url,
        timeout_ms,
        retries,
        signal,
    } = options.unwrap_or_default();
    let watch = Watch::new(&env, signal, None)?;
    let work = task::with(
        move || {
            let monitor = watch.monitor;
            Watch::check(&monitor)?;
            let device_id = DeviceId::parse(&device_id)?;
            let key = provision_key(public_key)?;
            let c = client(token, api_url, timeout_ms, retries, product_id)?;
            let done = c
                .client
                .provision_key_with(&device_id, &key, c.product_id, &monitor)?;
            Ok(result(done, &key, &c.report))
        },
        task::native,
    );
    Ok(task::spawn(work))
}

/// One device of a batch: its id, and optionally the key file to send.
#[napi(object)]
pub struct BatchItem {
    pub device_id: String,
    /// A key file path; default: the generic key.
    pub public_key: Option<String>,
}

/// The result for one device.
#[napi(object)]
#[derive(Clone)]
pub struct BatchDeviceResult {
    /// 1-based position in `items`.
    pub line: u32,
    pub device_id: String,
    pub ok: bool,
    pub attempts: u32,
    pub latency_ms: f64,
    pub fingerprint: String,
    pub error: Option<String>,
    /// The error's code, as on a rejected `provision`.
    pub code: Option<String>,
}

impl From<&DeviceResult> for BatchDeviceResult {
    fn from(r: &DeviceResult) -> Self {
        BatchDeviceResult {
            line: r.line as u32,
            device_id: r.device_id.to_string(),
            ok: r.ok,
            attempts: r.attempts,
            latency_ms: r.latency_ms,
            fingerprint: r.fingerprint.clone(),
            error: r.error.clone(),
            code: r.code.map(|c| c.as_str().to_string()),
        }
    }
}

/// Totals of a batch, with every device's result in arrival order.
#[napi(object)]
pub struct BatchSummary {
    pub total: u32,
    pub ok: u32,
    pub failed: u32,
    /// Devices not provisioned because `signal` aborted the batch (never
    /// sent, or dropped before the cloud answered); their results have code
    /// `CANCELLED`. `ok + failed + cancelled === total`.
    pub cancelled: u32,
    /// Requests made, retries included.
    pub attempts: u32,
    pub concurrency: u32,
    pub elapsed_secs: f64,
    pub rate_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub results: Vec<BatchDeviceResult>,
}

#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ProvisionManyOptions<'a> {
    /// Requests in flight at once (default 32).
    pub concurrency: Option<u32>,
    pub product_id: Option<u16>,
    pub api_url: Option<String>,
    pub timeout_ms: Option<u32>,
    pub retries: Option<u32>,
    /// Called with each device's result as it arrives.
    pub on_result:
        Option<ThreadsafeFunction<BatchDeviceResult, (), BatchDeviceResult, napi::Status, false>>,
    /// Called as devices finish: `{ phase: 'provision', done, total, unit: 'devices' }`.
    #[napi(ts_type = "(progress: Progress) => void")]
    pub on_progress: Option<ProgressFn>,
    /// Stops the batch: no new request is sent, and the call resolves with
    /// the summary so far (`cancelled` counts the devices not done).
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'a>>,
}

/// Provision many devices concurrently. Resolves with the summary (also when
/// some devices failed: see `failed` and each result's `code`; and when
/// `signal` aborted the batch under way: `cancelled` counts the devices not
/// done); rejects only when nothing could be sent (bad id, key file, token
/// or URL; `CANCELLED` when `signal` had fired before the call).
#[napi(ts_return_type = "Promise<BatchSummary>")]
pub fn provision_many(
    env: Env,
    items: Vec<Either<String, BatchItem>>,
    token: Option<String>,
    options: Option<ProvisionManyOptions<'_>>,
) -> napi::Result<AsyncTask<Work<BatchSummary>>> {
    let o = options.unwrap_or_default();
    let watch = Watch::new(&env, o.signal, o.on_progress)?;
    let on_result = o.on_result;
    let (concurrency, product_id, api_url, timeout_ms, retries) = (
        o.concurrency,
        o.product_id,
        o.api_url,
        o.timeout_ms,
        o.retries,
    );
    let work = task::with(
        move || {
            let monitor = watch.monitor;
            Watch::check(&monitor)?;
            let entries = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let (id, key) = match item {
                        Either::A(id) => (id, None),
                        Either::B(item) => (item.device_id, item.public_key),
                    };
                    Ok(BatchEntry {
                        line: i + 1,
                        device_id: DeviceId::parse(&id)?,
                        key_file: key.map(PathBuf::from),
                    })
                })
                .collect::<Result<Vec<_>, CoreError>>()?;
            let jobs = prepare_jobs(entries, Arc::new(ProvisionKey::generic()?), "items")?;
            let c = client(token, api_url, timeout_ms, retries, product_id)?;
            let options = BatchOptions {
                concurrency: concurrency.unwrap_or(32).max(1) as usize,
                product_id: c.product_id,
            };
            let (results, summary) = c.client.run_batch_with(
                jobs,
                &options,
                |r| {
                    if let Some(f) = &on_result {
                        f.call(r.into(), ThreadsafeFunctionCallMode::NonBlocking);
                    }
                },
                &monitor,
            );
            Ok(BatchSummary {
                total: summary.total as u32,
                ok: summary.ok as u32,
                failed: summary.failed as u32,
                cancelled: summary.cancelled as u32,
                attempts: summary.attempts as u32,
                concurrency: summary.concurrency as u32,
                elapsed_secs: summary.elapsed_secs,
                rate_per_sec: summary.rate_per_sec,
                p50_ms: summary.p50_ms,
                p99_ms: summary.p99_ms,
                results: results.iter().map(BatchDeviceResult::from).collect(),
            })
        },
        task::native,
    );
    Ok(task::spawn(work))
}
