//! Core errors → Python exceptions. The exception classes live in
//! `duo_provisioning._errors`; this file only hands over the error's stable
//! code, its message, its remedy and its fields.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use duo_provisioning::cloud::batch::BatchError;
use duo_provisioning::cloud::CloudError;
use duo_provisioning::dct::DctError;
use duo_provisioning::device::DeviceError;
use duo_provisioning::dfu::DfuError;
use duo_provisioning::keys::KeyError;
use duo_provisioning::server_key::ServerKeyError;
use duo_provisioning::sim::cloud::LocalCloudError;
use duo_provisioning::sim::duo::SimError;

/// Any core error a binding call can end with.
#[derive(Debug)]
pub enum Error {
    Key(KeyError),
    ServerKey(ServerKeyError),
    Dct(DctError),
    Device(DeviceError),
    Dfu(DfuError),
    Cloud(CloudError),
    Batch(BatchError),
    Sim(SimError),
    LocalCloud(LocalCloudError),
}

macro_rules! from_core {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self { Error::$variant(e) }
        }
    )*};
}
from_core!(
    Key(KeyError),
    ServerKey(ServerKeyError),
    Dct(DctError),
    Device(DeviceError),
    Dfu(DfuError),
    Cloud(CloudError),
    Batch(BatchError),
    Sim(SimError),
    LocalCloud(LocalCloudError)
);

impl Error {
    /// The stable code (SCREAMING_SNAKE) the exception class is chosen by.
    fn code(&self) -> &'static str {
        match self {
            Error::Key(_) => "INVALID_KEY",
            Error::ServerKey(_) => "INVALID_SERVER_KEY",
            Error::Dct(_) => "INVALID_DCT",
            Error::Device(e) => device_code(e),
            Error::Dfu(e) => dfu_code(e),
            Error::Cloud(e) => cloud_code(e),
            Error::Batch(_) => "INVALID_ARGUMENT",
            Error::Sim(e) => sim_code(e),
            Error::LocalCloud(_) => "IO",
        }
    }

    /// Facts a program needs, as exception attributes.
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let fields = PyDict::new(py);
        if let Error::Cloud(e) = self {
            match e {
                CloudError::RateLimited { retry_after } => {
                    fields.set_item("retry_after", retry_after.map(|d| d.as_secs_f64()))?
                }
                CloudError::PermissionDenied { device_id }
                | CloudError::DeviceNotFound { device_id } => {
                    fields.set_item("device_id", device_id.as_str())?
                }
                CloudError::Rejected {
                    device_id, status, ..
                } => {
                    fields.set_item("device_id", device_id.as_str())?;
                    fields.set_item("status", status)?;
                }
                CloudError::Server { status, .. } | CloudError::BadResponse { status, .. } => {
                    fields.set_item("status", status)?
                }
                _ => {}
            }
        }
        Ok(fields)
    }

    fn message(&self) -> String {
        match self {
            Error::Key(e) => e.to_string(),
            Error::ServerKey(e) => e.to_string(),
            Error::Dct(e) => e.to_string(),
            Error::Device(e) => e.to_string(),
            Error::Dfu(e) => e.to_string(),
            Error::Cloud(e) => e.to_string(),
            Error::Batch(e) => e.to_string(),
            Error::Sim(e) => e.to_string(),
            Error::LocalCloud(e) => e.to_string(),
        }
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
        CloudError::InsecureUrl { .. }
        | CloudError::InvalidUrl { .. }
        | CloudError::EndpointNotFound { .. } => "INVALID_URL",
        CloudError::ConfigUnreadable { .. } => "IO",
    }
}

fn dfu_code(e: &DfuError) -> &'static str {
    match e {
        DfuError::NotInDfuMode => "NOT_IN_DFU_MODE",
        DfuError::NoDevice { .. } => "NO_DEVICE",
        DfuError::SeveralDevices { .. } => "MULTIPLE_DEVICES",
        DfuError::Busy { .. } => "DEVICE_BUSY",
        DfuError::Status { .. } => "DFU_STATUS",
        DfuError::Selector { .. } => "INVALID_ARGUMENT",
        DfuError::Transport { .. } | DfuError::Usb { .. } => "DEVICE_GONE",
        _ => "DFU_STATUS",
    }
}

fn sim_code(e: &SimError) -> &'static str {
    match e {
        SimError::NotInDfuMode { .. } => "NOT_IN_DFU_MODE",
        SimError::Disconnected { .. } => "DEVICE_GONE",
        SimError::Busy { .. } => "DEVICE_BUSY",
        SimError::NotAVirtualDevice { .. } => "NO_DEVICE",
        SimError::Dct(_) | SimError::DctImageSize { .. } => "INVALID_DCT",
        SimError::Key(_) => "INVALID_KEY",
        SimError::InvalidFault(_) | SimError::TimeFactor(_) | SimError::UnknownPlatform(_) => {
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
        DeviceError::VerifyMismatch { .. } => "VERIFY_FAILED",
        DeviceError::Backup { .. } => "BACKUP_FAILED",
        DeviceError::NoKeyToSave { .. } => "SLOT_EMPTY",
        DeviceError::AfterKeyReplaced { failure, .. } | DeviceError::LoadFailed { failure, .. } => {
            device_code(failure)
        }
        _ => "INVALID_ARGUMENT",
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| match build(py, &e) {
            Ok(exc) => PyErr::from_value(exc),
            Err(failed) => failed,
        })
    }
}

/// `duo_provisioning._errors.from_core(code, message, remedy, neutral_remedy, fields)`.
fn build<'py>(py: Python<'py>, e: &Error) -> PyResult<Bound<'py, PyAny>> {
    let (remedy, neutral): (Option<Bound<'py, PyAny>>, Option<String>) = (None, None);
    py.import("duo_provisioning._errors")?
        .getattr("from_core")?
        .call1((e.code(), e.message(), remedy, neutral, e.fields(py)?))
}

/// `result.py()?`: a core result as a Python one.
pub trait Core<T> {
    fn py(self) -> PyResult<T>;
}

impl<T, E: Into<Error>> Core<T> for Result<T, E> {
    fn py(self) -> PyResult<T> {
        self.map_err(|e| PyErr::from(e.into()))
    }
}

/// A bad argument caught at the edge (wrong type or value for Python).
pub fn argument(message: impl Into<String>) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message.into())
}
