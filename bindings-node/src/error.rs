//! The core's errors as JS `Error` objects: `message` is the core's message,
//! `code` its stable code string, and the facts a program needs are
//! properties (`status`, `retryAfter`, `deviceId`, `backupPath`, `dfuStep`).
//! No message or property ever holds the access token: the core redacts it
//! from everything it reports.

use std::path::PathBuf;

use duo_provisioning::cloud::batch::BatchError;
use duo_provisioning::cloud::CloudError;
use duo_provisioning::dct::DctError;
use duo_provisioning::device::DeviceError;
use duo_provisioning::dfu::DfuError;
use duo_provisioning::keys::KeyError;
use duo_provisioning::server_key::ServerKeyError;
use duo_provisioning::sim::cloud::LocalCloudError;
use duo_provisioning::sim::duo::SimError;
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, JsValue};

/// Any error of a core call this binding makes.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    ServerKey(#[from] ServerKeyError),
    #[error(transparent)]
    Dct(#[from] DctError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    LocalCloud(#[from] LocalCloudError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// An argument the JS caller passed that the core's types refuse.
    #[error("{0}")]
    Argument(String),
    /// The caller's `AbortSignal` fired before the work started.
    #[error("the operation was aborted before it started; nothing was done")]
    Cancelled,
}

/// The facts of an error, as JS properties.
#[derive(Default)]
struct Fields {
    status: Option<u16>,
    retry_after: Option<f64>,
    device_id: Option<String>,
    backup_path: Option<PathBuf>,
    dfu_step: Option<String>,
}

impl CoreError {
    /// The stable code string (the core's `ErrorCode` names).
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Cloud(e) => cloud_code(e),
            CoreError::Device(e) => device_code(e),
            CoreError::Key(_) => "INVALID_KEY",
            CoreError::ServerKey(ServerKeyError::KeyTooLarge { .. }) => "KEY_TOO_LARGE",
            CoreError::ServerKey(_) => "INVALID_SERVER_KEY",
            CoreError::Dct(_) => "INVALID_DCT",
            CoreError::Sim(e) => sim_code(e),
            CoreError::LocalCloud(_) => "IO",
            CoreError::Batch(_) => "INVALID_ARGUMENT",
            CoreError::Argument(_) => "INVALID_ARGUMENT",
            CoreError::Cancelled => "CANCELLED",
        }
    }

    fn fields(&self) -> Fields {
        match self {
            CoreError::Cloud(e) => cloud_fields(e),
            CoreError::Device(e) => device_fields(e),
            _ => Fields::default(),
        }
    }

    /// The JS `Error` object for this error.
    pub fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let mut error = env.create_error(napi::Error::from_reason(self.to_string()))?;
        error.set_named_property("code", self.code())?;
        let fields = self.fields();
        if let Some(status) = fields.status {
            error.set_named_property("status", u32::from(status))?;
        }
        if let Some(secs) = fields.retry_after {
            error.set_named_property("retryAfter", secs)?;
        }
        if let Some(id) = fields.device_id {
            error.set_named_property("deviceId", id)?;
        }
        if let Some(path) = fields.backup_path {
            error.set_named_property("backupPath", path.display().to_string())?;
        }
        if let Some(step) = fields.dfu_step {
            error.set_named_property("dfuStep", step)?;
        }
        Ok(error)
    }

    /// A `napi::Error` that rejects / throws with [`CoreError::to_js`].
    pub fn into_napi(self, env: &Env) -> napi::Error {
        match self.to_js(env) {
            Ok(object) => napi::Error::from(object.to_unknown()),
            Err(e) => e,
        }
    }
}

/// The code for a batch result's `error_kind` (the core's
/// [`CloudError::kind`] names).
pub fn code_of_kind(kind: &str) -> &'static str {
    match kind {
        "invalid_token" | "malformed_token" => "INVALID_TOKEN",
        "permission_denied" => "PERMISSION_DENIED",
        "device_not_found" => "DEVICE_NOT_FOUND",
        "rate_limited" => "RATE_LIMITED",
        "server" => "SERVER_ERROR",
        "rejected" => "CLOUD_REJECTED",
        "bad_response" => "BAD_RESPONSE",
        "timeout" => "TIMEOUT",
        "invalid_device_id" => "INVALID_DEVICE_ID",
        "invalid_key" => "INVALID_KEY",
        _ => "NETWORK",
    }
}

fn cloud_code(e: &CloudError) -> &'static str {
    match e {
        CloudError::InvalidToken { .. } | CloudError::MalformedToken { .. } => "INVALID_TOKEN",
        CloudError::NoToken { .. } => "NO_TOKEN",
        CloudError::PermissionDenied { .. } => "PERMISSION_DENIED",
        CloudError::DeviceNotFound { .. } => "DEVICE_NOT_FOUND",
        CloudError::RateLimited { .. } => "RATE_LIMITED",
        CloudError::Server { .. } => "SERVER_ERROR",
        CloudError::Rejected { .. } => "CLOUD_REJECTED",
        CloudError::BadResponse { .. } => "BAD_RESPONSE",
        CloudError::Network { .. } | CloudError::Client { .. } => "NETWORK",
        CloudError::Timeout { .. } => "TIMEOUT",
        CloudError::InvalidDeviceId { .. } => "INVALID_DEVICE_ID",
        CloudError::InvalidKey { .. } => "INVALID_KEY",
        CloudError::InsecureUrl { .. } | CloudError::InvalidUrl { .. } => "INVALID_URL",
        CloudError::ConfigUnreadable { .. } => "IO",
    }
}

fn cloud_fields(e: &CloudError) -> Fields {
    match e {
        CloudError::PermissionDenied { device_id } | CloudError::DeviceNotFound { device_id } => {
            Fields {
                device_id: Some(device_id.to_string()),
                status: Some(if matches!(e, CloudError::PermissionDenied { .. }) {
                    403
                } else {
                    404
                }),
                ..Fields::default()
            }
        }
        CloudError::InvalidToken { .. } => Fields {
            status: Some(401),
            ..Fields::default()
        },
        CloudError::RateLimited { retry_after } => Fields {
            status: Some(429),
            retry_after: retry_after.map(|d| d.as_secs_f64()),
            ..Fields::default()
        },
        CloudError::Server { status, .. } | CloudError::BadResponse { status, .. } => Fields {
            status: Some(*status),
            ..Fields::default()
        },
        CloudError::Rejected {
            device_id, status, ..
        } => Fields {
            status: Some(*status),
            device_id: Some(device_id.to_string()),
            ..Fields::default()
        },
        _ => Fields::default(),
    }
}

fn dfu_code(e: &DfuError) -> &'static str {
    match e {
        DfuError::NoDevice { .. } => "NO_DEVICE",
        DfuError::SeveralDevices { .. } => "MULTIPLE_DEVICES",
        DfuError::NotInDfuMode | DfuError::NoDfuInterface(_) => "NOT_IN_DFU_MODE",
        DfuError::Busy { .. } | DfuError::StayedBusy { .. } => "DEVICE_BUSY",
        DfuError::Status { .. } | DfuError::MalformedStatus { .. } => "DFU_STATUS",
        DfuError::Transport { .. } => "DFU_STALL",
        DfuError::NotPermitted { .. } => "DFU_READ_ONLY",
        DfuError::Selector { .. } | DfuError::OutOfRange { .. } | DfuError::Layout { .. } => {
            "INVALID_ARGUMENT"
        }
        _ => "IO",
    }
}

fn device_code(e: &DeviceError) -> &'static str {
    match e {
        DeviceError::Dfu(e) => dfu_code(e),
        DeviceError::Sim(e) => sim_code(e),
        DeviceError::Key(_) => "INVALID_KEY",
        DeviceError::Dct(_) => "INVALID_DCT",
        DeviceError::ServerKey(_) => "INVALID_SERVER_KEY",
        DeviceError::NoKeyToSave { .. } => "SLOT_EMPTY",
        DeviceError::VerifyMismatch { .. } => "VERIFY_FAILED",
        DeviceError::Backup { .. } => "BACKUP_FAILED",
        DeviceError::AfterKeyReplaced { failure, .. } | DeviceError::LoadFailed { failure, .. } => {
            device_code(failure)
        }
        _ => "INVALID_ARGUMENT",
    }
}

fn device_fields(e: &DeviceError) -> Fields {
    match e {
        DeviceError::Dfu(dfu) => Fields {
            dfu_step: dfu.step().map(|s| s.to_string()),
            ..Fields::default()
        },
        DeviceError::Backup { path, .. } => Fields {
            backup_path: Some(path.clone()),
            ..Fields::default()
        },
        DeviceError::AfterKeyReplaced { failure, backup } => Fields {
            backup_path: Some(backup.clone()),
            ..device_fields(failure)
        },
        _ => Fields::default(),
    }
}

fn sim_code(e: &SimError) -> &'static str {
    match e {
        SimError::NotInDfuMode { .. } => "NOT_IN_DFU_MODE",
        SimError::Disconnected { .. } => "DEVICE_GONE",
        SimError::Busy { .. } => "DEVICE_BUSY",
        SimError::Dct(_) | SimError::DctImageSize { .. } => "INVALID_DCT",
        SimError::Key(_) => "INVALID_KEY",
        SimError::Io { .. } | SimError::Corrupt { .. } => "IO",
        _ => "INVALID_ARGUMENT",
    }
}

/// Throw `error` from a synchronous binding function.
pub fn throw(env: &Env, error: impl Into<CoreError>) -> napi::Error {
    error.into().into_napi(env)
}
