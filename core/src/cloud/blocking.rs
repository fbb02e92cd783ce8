//! The client without an async runtime, for the CLI and the language
//! bindings: each [`BlockingClient`] owns a current-thread tokio runtime.
//! Do not call these from inside another tokio runtime.

use std::sync::Arc;

use serde_json::Value;

use super::batch::{run_batch, run_batch_with, BatchJob, BatchOptions, BatchSummary, DeviceResult};
use super::{
    AsyncClock, Attempted, CloudClient, CloudConfig, CloudError, DeviceId, ProvisionKey,
    Provisioned, TokioClock,
};
use crate::progress::Monitor;

/// A [`CloudClient`] driven by its own runtime.
#[derive(Debug)]
pub struct BlockingClient {
    runtime: tokio::runtime::Runtime,
    client: CloudClient,
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
        Ok(BlockingClient { runtime, client })
    }

    pub fn client(&self) -> &CloudClient {
        &self.client
    }

    /// See [`CloudClient::provision`].
    pub fn provision(
        &self,
        device_id: &DeviceId,
        public_key_pem: &str,
        product_id: u16,
    ) -> Result<Provisioned, CloudError> {
        self.runtime
            .block_on(self.client.provision(device_id, public_key_pem, product_id))
    }

    /// See [`CloudClient::provision_with`]: cancellable through `monitor`.
    pub fn provision_with(
        &self,
        device_id: &DeviceId,
        public_key_pem: &str,
        product_id: u16,
        monitor: &Monitor,
    ) -> Result<Provisioned, CloudError> {
        self.runtime.block_on(self.client.provision_with(
            device_id,
            public_key_pem,
            product_id,
            monitor,
        ))
    }

    /// See [`CloudClient::provision_key_with`].
    pub fn provision_key_with(
        &self,
        device_id: &DeviceId,
        key: &ProvisionKey,
        product_id: u16,
        monitor: &Monitor,
    ) -> Result<Provisioned, CloudError> {
        self.runtime.block_on(
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
        self.runtime
            .block_on(self.client.provision_counted(device_id, key, product_id))
    }

    /// See [`CloudClient::device`].
    pub fn device(&self, device_id: &DeviceId) -> Result<Value, CloudError> {
        self.runtime.block_on(self.client.device(device_id))
    }

    /// See [`run_batch`].
    pub fn run_batch(
        &self,
        jobs: Vec<BatchJob>,
        options: &BatchOptions,
        on_result: impl FnMut(&DeviceResult),
    ) -> (Vec<DeviceResult>, BatchSummary) {
        self.runtime
            .block_on(run_batch(&self.client, jobs, options, on_result))
    }

    /// See [`run_batch_with`]: progress per device and cancellation.
    pub fn run_batch_with(
        &self,
        jobs: Vec<BatchJob>,
        options: &BatchOptions,
        on_result: impl FnMut(&DeviceResult),
        monitor: &Monitor,
    ) -> (Vec<DeviceResult>, BatchSummary) {
        self.runtime.block_on(run_batch_with(
            &self.client,
            jobs,
            options,
            on_result,
            monitor,
        ))
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
