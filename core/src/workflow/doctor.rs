//! `keys doctor`: give a device a fresh key the cloud knows — generate a key
//! on the host, back up the device's key, load the new one (verified), send
//! its public key to the cloud. Success only after all four; any failure
//! names the step, leaves device and backup consistent, and says the
//! command that finishes the job.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cloud::blocking::BlockingClient;
use crate::cloud::{CloudError, DeviceId, ProvisionKey};
use crate::device::{Device, DeviceError, KeyToLoad, LoadReport};
use crate::keys::{self, KeyError, KeyFiles};

/// What `keys doctor` needs.
#[derive(Debug, Clone)]
pub struct DoctorRequest {
    pub device_id: DeviceId,
    /// Base name of the new key's files (`BASE.der`, `.pem`, `.pub.pem`).
    pub key_base: PathBuf,
    /// Product id to provision under (88 for the Duo).
    pub product_id: u16,
}

impl DoctorRequest {
    /// New key files `doctor_<ID>` in `dir`.
    pub fn new(device_id: DeviceId, dir: &Path) -> DoctorRequest {
        DoctorRequest {
            key_base: dir.join(format!("doctor_{}", device_id.as_str())),
            device_id,
            product_id: 88,
        }
    }
}

/// What a successful `keys doctor` did.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub device_id: DeviceId,
    /// The new key's files.
    pub new_key: KeyFiles,
    pub fingerprint: String,
    /// The device's previous key, verified (`backup_rsa_NAME.der`).
    pub backup: PathBuf,
    pub load: LoadReport,
    /// Requests the provisioning took.
    pub attempts: u32,
}

/// The step of `keys doctor` that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoctorStep {
    GenerateKey,
    LoadKey,
    Provision,
}

/// Why `keys doctor` stopped, and what holds what.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("keys doctor, step 1 (generate a key on the host): {error}; nothing was changed")]
    Generate { error: KeyError },
    #[error(
        "keys doctor, steps 2-3 (back up the device key, load the new one): {error}; \
         the new key is in {}; finish by loading it into the device and provisioning {} for \
         device {device_id}",
        .new_key.der.display(), .new_key.public_pem.display()
    )]
    Load {
        error: Box<DeviceError>,
        new_key: KeyFiles,
        device_id: DeviceId,
    },
    #[error(
        "keys doctor, step 4 (send the public key to the cloud) failed: the device now holds \
         the new key ({}, loaded and verified), the cloud does not. The cloud said: {error}. \
         The device's previous key is backed up in {}. Finish by provisioning device \
         {device_id} with {}",
        .new_key.der.display(), .backup.display(), .new_key.public_pem.display()
    )]
    Provision {
        error: Box<CloudError>,
        new_key: KeyFiles,
        backup: PathBuf,
        device_id: DeviceId,
    },
}

impl DoctorError {
    pub fn step(&self) -> DoctorStep {
        match self {
            DoctorError::Generate { .. } => DoctorStep::GenerateKey,
            DoctorError::Load { .. } => DoctorStep::LoadKey,
            DoctorError::Provision { .. } => DoctorStep::Provision,
        }
    }

    /// What finishes the job (`None` when nothing changed): a front end
    /// words it as its own commands.
    pub fn finish(&self) -> Option<DoctorFinish> {
        match self {
            DoctorError::Generate { .. } => None,
            DoctorError::Load {
                new_key, device_id, ..
            } => Some(DoctorFinish {
                device_id: device_id.clone(),
                load_key: Some(new_key.der.clone()),
                provision_key: new_key.public_pem.clone(),
            }),
            DoctorError::Provision {
                new_key, device_id, ..
            } => Some(DoctorFinish {
                device_id: device_id.clone(),
                load_key: None,
                provision_key: new_key.public_pem.clone(),
            }),
        }
    }
}

/// The steps left after a failed `keys doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorFinish {
    pub device_id: DeviceId,
    /// Load this key into the device first (when the load failed).
    pub load_key: Option<PathBuf>,
    /// Then provision this public key for the device.
    pub provision_key: PathBuf,
}

/// Run the four steps on an open device in DFU mode.
pub fn keys_doctor(
    device: &mut Device,
    client: &BlockingClient,
    request: &DoctorRequest,
) -> Result<DoctorReport, Box<DoctorError>> {
    run(device, client, request).map_err(Box::new)
}

#[allow(clippy::result_large_err)] // boxed once, by `keys_doctor`
fn run(
    device: &mut Device,
    client: &BlockingClient,
    request: &DoctorRequest,
) -> Result<DoctorReport, DoctorError> {
    let key = keys::generate().map_err(|error| DoctorError::Generate { error })?;
    let pem = keys::public_key_to_pem(&key.to_public_key())
        .map_err(|error| DoctorError::Generate { error })?;
    let new_key = keys::write_key_files(&request.key_base, &key, false)
        .map_err(|error| DoctorError::Generate { error })?;
    let load_err = |error: DeviceError| DoctorError::Load {
        error: Box::new(error),
        new_key: new_key.clone(),
        device_id: request.device_id.clone(),
    };
    let to_load = KeyToLoad::from_file(&new_key.der).map_err(load_err)?;
    let load = device.load_key(&to_load).map_err(load_err)?;
    let provision_err = |error: CloudError| DoctorError::Provision {
        error: Box::new(error),
        new_key: new_key.clone(),
        backup: load.backup.clone(),
        device_id: request.device_id.clone(),
    };
    let provision_key = ProvisionKey::from_pem_text(&pem).map_err(provision_err)?;
    let attempted =
        client.provision_counted(&request.device_id, &provision_key, request.product_id);
    let provisioned = attempted.result.map_err(provision_err)?;
    Ok(DoctorReport {
        device_id: request.device_id.clone(),
        fingerprint: provisioned.fingerprint,
        backup: load.backup.clone(),
        new_key,
        load,
        attempts: attempted.attempts,
    })
}

impl crate::error::ErrorInfo for DoctorError {
    /// The code of the failure inside (key generation, the device, the cloud).
    fn code(&self) -> crate::error::ErrorCode {
        match self {
            DoctorError::Generate { error } => error.code(),
            DoctorError::Load { error, .. } => error.code(),
            DoctorError::Provision { error, .. } => error.code(),
        }
    }

    fn facts(&self) -> crate::error::ErrorFacts {
        match self {
            DoctorError::Generate { error } => error.facts(),
            DoctorError::Load { error, .. } => error.facts(),
            DoctorError::Provision { error, backup, .. } => {
                let mut facts = error.facts();
                facts.backup = Some(backup.clone());
                facts
            }
        }
    }
}
