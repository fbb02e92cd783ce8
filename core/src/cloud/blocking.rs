//! The client without an async runtime, for the CLI and the language
//! bindings: each [`BlockingClient`] owns a current-thread tokio runtime
//! and hands out nothing bound to it (no client, no handle).
//!
//! Safe from any thread, including one where a tokio runtime is running
//! (a binding's event loop, a `#[tokio::main]` program), current-thread or
//! multi-thread: there the work runs on a short-lived helper thread that
//! drives this client's own runtime while the caller's thread waits — no
//! "Cannot start a runtime from within a runtime" panic, and no hang,
//! since nothing the call needs runs on the caller's runtime. Dropping a
//! client there does not panic either (its runtime is shut down in the
//! background).

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::batch::{run_batch_with, BatchJob, BatchOptions, BatchSummary, DeviceResult};
use super::{
    AsyncClock, Attempted, CloudClient, CloudConfig, CloudError, DeviceId, ProvisionKey,
    Provisioned, TokioClock,
};
use crate::progress::Monitor;

/// A [`CloudClient`] driven by its own runtime.
#[derive(Debug)]
pub struct BlockingClient {
    runtime: OwnRuntime,
    client: CloudClient,
}

/// A runtime that may be dropped anywhere: a plain `Runtime` dropped inside
/// another runtime's async context panics, so this one is shut down in the
/// background (nothing of it outlives its client's calls anyway).
#[derive(Debug)]
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn get(&self) -> &tokio::runtime::Runtime {
        self.0
            .as_ref()
            .expect("the runtime lives as long as its client")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// True when this thread is inside a tokio runtime (where `block_on` panics).
fn in_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

impl BlockingClient {
    pub fn new(config: CloudConfig) -> Result<Self, CloudError> {
        Self::with_clock(config, Arc::new(TokioClock))
    }

    pub fn with_clock(config: CloudConfig, clock: Arc<dyn AsyncClock>) -> Result<Self, CloudError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CloudError::Client {
                detail: format!("cannot start the async runtime: {e}"),
            })?;
        let client = {
            let _guard = runtime.enter();
            CloudClient::with_clock(config, clock)?
        };
        Ok(BlockingClient {
            runtime: OwnRuntime(Some(runtime)),
            client,
        })
    }

    /// The configuration the client was made with.
    pub fn config(&self) -> &CloudConfig {
        self.client.config()
    }

    /// Run `future` to completion on this client's runtime: on this thread
    /// when it is outside any runtime, else on a helper thread while this
    /// one waits.
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self.runtime.get();
        if !in_runtime() {
            return runtime.block_on(future);
        }
        std::thread::scope(
            |scope| match scope.spawn(|| runtime.block_on(future)).join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            },
        )
    }

    /// See [`CloudClient::provision`].
    pub fn provision(
        &self,
        device_id: &DeviceId,
        public_key_pem: &str,
        product_id: u16,
    ) -> Result<Provisioned, CloudError> {
        self.block_on(self.client.provision(device_id, public_key_pem, product_id))
    }

    /// See [`CloudClient::provision_with`]: cancellable through `monitor`.
    pub fn provision_with(
        &self,
        device_id: &DeviceId,
        public_key_pem: &str,
        product_id: u16,
        monitor: &Monitor,
    ) -> Result<Provisioned, CloudError> {
        self.block_on(
            self.client
                .provision_with(device_id, public_key_pem, product_id, monitor),
        )
    }

    /// See [`CloudClient::provision_key_with`].
    pub fn provision_key_with(
        &self,
        device_id: &DeviceId,
        key: &ProvisionKey,
        product_id: u16,
        monitor: &Monitor,
    ) -> Result<Provisioned, CloudError> {
        self.block_on(
            self.client
                .provision_key_with(device_id, key, product_id, monitor),
        )
    }

    /// See [`CloudClient::provision_counted`].
    pub fn provision_counted(
        &self,
        device_id: &DeviceId,
        key: &ProvisionKey,
        product_id: u16,
    ) -> Attempted<Provisioned> {
        self.block_on(self.client.provision_counted(device_id, key, product_id))
    }

    /// See [`CloudClient::device`].
    pub fn device(&self, device_id: &DeviceId) -> Result<Value, CloudError> {
        self.block_on(self.client.device(device_id))
    }

    /// See [`run_batch`](super::batch::run_batch). `on_result` runs on the calling thread (it need
    /// not be `Send`), also when that thread is inside a runtime.
    pub fn run_batch(
        &self,
        jobs: Vec<BatchJob>,
        options: &BatchOptions,
        on_result: impl FnMut(&DeviceResult),
    ) -> (Vec<DeviceResult>, BatchSummary) {
        self.run_batch_with(jobs, options, on_result, &Monitor::default())
    }

    /// See [`run_batch_with`]: progress per device and cancellation
    /// through `monitor`. `on_result` runs on the calling thread, as for
    /// [`BlockingClient::run_batch`].
    pub fn run_batch_with(
        &self,
        jobs: Vec<BatchJob>,
        options: &BatchOptions,
        mut on_result: impl FnMut(&DeviceResult),
        monitor: &Monitor,
    ) -> (Vec<DeviceResult>, BatchSummary) {
        if !in_runtime() {
            return self.runtime.get().block_on(run_batch_with(
                &self.client,
                jobs,
                options,
                on_result,
                monitor,
            ));
        }
        let (sender, results) = std::sync::mpsc::channel::<DeviceResult>();
        std::thread::scope(|scope| {
            let worker = scope.spawn(move || {
                self.runtime.get().block_on(run_batch_with(
                    &self.client,
                    jobs,
                    options,
                    move |r| {
                        let _ = sender.send(r.clone());
                    },
                    monitor,
                ))
            });
            // Ends when the batch is over and its callback (the sender) dropped.
            for result in results {
                on_result(&result);
            }
            match worker.join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// Provision one device and return; builds a client for the call.
pub fn provision(
    config: CloudConfig,
    device_id: &DeviceId,
    public_key_pem: &str,
    product_id: u16,
) -> Result<Provisioned, CloudError> {
    BlockingClient::new(config)?.provision(device_id, public_key_pem, product_id)
}
