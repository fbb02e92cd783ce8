//! `cloud`: provisioning device public keys with the Particle Cloud
//! (REFERENCE §4), one device or a batch.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use serde::Serialize;

use duo_provisioning::cloud::batch::{BatchJob, BatchOptions, BatchSummary, DeviceResult};
use duo_provisioning::cloud::blocking::BlockingClient;
use duo_provisioning::cloud::config::ArgNames;
use duo_provisioning::cloud::report::ProvisionReport;
use duo_provisioning::cloud::settings::ClientOptions;
use duo_provisioning::cloud::{DeviceId, KeySource, ProvisionKey};

use crate::convert::report;
use crate::error::{argument, Core};
use crate::monitor;

/// The public key to send: `None` → RedBear's generic key; bytes → a PEM or
/// DER key (a private key's public half is sent); `str` → PEM text or a
/// file path; `os.PathLike` → a file.
fn provision_key(public_key: Option<&Bound<'_, PyAny>>) -> PyResult<ProvisionKey> {
    let Some(obj) = public_key else {
        return ProvisionKey::generic().py();
    };
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return ProvisionKey::from_bytes(bytes.as_bytes(), KeySource::PemText).py();
    }
    if let Ok(text) = obj.cast::<PyString>() {
        return ProvisionKey::from_arg(Some(&text.to_cow()?)).py();
    }
    let path: PathBuf = obj.extract()?;
    ProvisionKey::from_file(&path).py()
}

/// Token and URL as the CLI finds them (argument, then
/// `PARTICLE_ACCESS_TOKEN` / `PARTICLE_API_URL`, then particle-cli's config),
/// the timeout and retries checked: the core's `ClientOptions::resolve`.
fn client(
    token: Option<String>,
    api_url: Option<String>,
    timeout: f64,
    retries: u32,
) -> PyResult<BlockingClient> {
    let options = ClientOptions {
        token,
        api_url,
        timeout_secs: Some(timeout),
        retries: Some(retries),
        names: ArgNames {
            token: "token=",
            api_url: "api_url=",
            timeout: "timeout=",
            ca_cert: "ca_cert=",
        },
        ..ClientOptions::default()
    };
    let settings = options.resolve().py()?;
    BlockingClient::new(settings.config).py()
}

/// Provision `device_id` (24 hex digits) with the cloud: send the public key
/// (`public_key`, default RedBear's generic key) so the device's next
/// handshake is accepted. `token`: the access token (default: as the CLI
/// finds it). `api_url`: default the Particle API (a loopback `http://` URL
/// for a local cloud). Retries 429/502/503/504 and connection errors
/// `retries` times. Returns a `ProvisionResult` (device_id, fingerprint,
/// attempts, …); raises `PermissionDeniedError`, `InvalidTokenError`,
/// `RateLimitedError`, `CloudError`, `InvalidDeviceIdError`, ….
/// The GIL is released while it waits for the cloud; Ctrl-C
/// (`KeyboardInterrupt`) drops the request (the core's cancellation) and
/// is raised.
#[pyfunction]
#[pyo3(signature = (device_id, token=None, *, product_id=88, public_key=None, api_url=None, timeout=30.0, retries=3))]
#[allow(clippy::too_many_arguments)]
fn provision(
    py: Python<'_>,
    device_id: &str,
    token: Option<String>,
    product_id: u16,
    public_key: Option<&Bound<'_, PyAny>>,
    api_url: Option<String>,
    timeout: f64,
    retries: u32,
) -> PyResult<Py<PyAny>> {
    let device_id = DeviceId::parse(device_id).py()?;
    let key = provision_key(public_key)?;
    let client = client(token, api_url, timeout, retries)?;
    let done = monitor::run(py, None, |m| {
        client
            .provision_key_with(&device_id, &key, product_id, m)
            .py()
    })?;
    report(py, "ProvisionResult", &ProvisionReport::new(&done, &key))
}

#[derive(Serialize)]
struct BatchReport<'a> {
    results: &'a [DeviceResult],
    summary: &'a BatchSummary,
}

/// Provision many devices, `concurrency` requests in flight. `items`: device
/// ids, or `(device_id, public_key)` pairs (keys as for `provision`).
/// `on_result(DeviceResult)` is called as each device finishes. Other
/// arguments as for `provision`. Returns a `BatchReport` (`results` in the
/// order they arrived, `summary`); a device that fails does not raise — its
/// result says `ok=False` with `error` and `error_kind`.
/// `on_progress(ProgressEvent)` follows phase `provision` in `devices`.
/// Ctrl-C (`KeyboardInterrupt`) cancels the batch through the core: no new
/// request starts, requests in flight are dropped, and `KeyboardInterrupt`
/// is raised once the batch has stopped. Both callbacks run on a worker
/// thread; one that raises stops the batch the same way, and its exception
/// is raised.
#[pyfunction]
#[pyo3(signature = (items, token=None, *, concurrency=32, product_id=88, api_url=None, timeout=30.0, retries=3, on_result=None, on_progress=None))]
#[allow(clippy::too_many_arguments)]
fn provision_many(
    py: Python<'_>,
    items: &Bound<'_, PyAny>,
    token: Option<String>,
    concurrency: usize,
    product_id: u16,
    api_url: Option<String>,
    timeout: f64,
    retries: u32,
    on_result: Option<Py<PyAny>>,
    on_progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let generic = Arc::new(ProvisionKey::generic().py()?);
    let mut jobs = Vec::new();
    for (index, item) in items.try_iter()?.enumerate() {
        let item = item?;
        let (id, key) = match item.extract::<(String, Bound<'_, PyAny>)>() {
            Ok((id, key)) => (id, Arc::new(provision_key(Some(&key))?)),
            Err(_) => (item.extract::<String>()?, generic.clone()),
        };
        jobs.push(BatchJob {
            line: index + 1,
            device_id: DeviceId::parse(&id).py()?,
            key,
        });
    }
    if jobs.is_empty() {
        return Err(argument("provision_many() needs at least one device id"));
    }
    let client = client(token, api_url, timeout, retries)?;
    let options = BatchOptions {
        concurrency: concurrency.max(1),
        product_id,
    };
    let mut callback_error: Option<PyErr> = None;
    let (results, summary) = monitor::run(py, on_progress, |m| {
        Ok(client.run_batch_with(
            jobs,
            &options,
            |result| {
                let Some(callback) = &on_result else { return };
                if callback_error.is_some() {
                    return;
                }
                Python::attach(|py| {
                    let called = report(py, "DeviceResult", result)
                        .and_then(|r| callback.call1(py, (r,)).map(drop));
                    if let Err(e) = called {
                        m.cancel_token().cancel();
                        callback_error = Some(e);
                    }
                });
            },
            m,
        ))
    })?;
    if let Some(e) = callback_error {
        return Err(e);
    }
    report(
        py,
        "BatchReport",
        &BatchReport {
            results: &results,
            summary: &summary,
        },
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(provision, m)?)?;
    m.add_function(wrap_pyfunction!(provision_many, m)?)?;
    Ok(())
}
