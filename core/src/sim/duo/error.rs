//! The one error type of the virtual Duo.

use std::path::PathBuf;

use crate::dct::DctError;
use crate::keys::KeyError;

use super::STATE_FILE;
use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy, HOLD_SETUP_TEXT};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{} is not a virtual device: {} is missing. {}", dir.display(), STATE_FILE, Remedy::CreateVirtualDevice { dir: dir.clone() })]
    NotAVirtualDevice { dir: PathBuf },
    #[error("{} already holds a virtual device; remove the directory first or choose another one", dir.display())]
    AlreadyExists { dir: PathBuf },
    #[error("cannot create a virtual device in {}: the directory is not empty and is not a virtual device", dir.display())]
    DirNotEmpty { dir: PathBuf },
    #[error("the virtual device in {} is busy: another program has it open. {}", dir.display(), Remedy::WaitForOtherProgram)]
    Busy { dir: PathBuf },
    #[error("the device in {} is running firmware, not in DFU mode. To enter DFU mode, {HOLD_SETUP_TEXT}; for a virtual Duo: {}", dir.display(), Remedy::EnterDfuMode { virtual_device: Some(dir.clone()) })]
    NotInDfuMode { dir: PathBuf },
    #[error("the device in {} is not running system firmware (it is in DFU mode, or has none). {}", dir.display(), Remedy::Boot { virtual_device: Some(dir.clone()) })]
    NotInNormalMode { dir: PathBuf },
    #[error("the virtual device in {} has disconnected (injected fault). Reconnect it in DFU mode: {}", dir.display(), Remedy::EnterDfuMode { virtual_device: Some(dir.clone()) })]
    Disconnected { dir: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is damaged: {detail}. {}", path.display(), Remedy::RecreateVirtualDevice)]
    Corrupt { path: PathBuf, detail: String },
    #[error("unknown platform {0:?} (known: duo, photon, p1)")]
    UnknownPlatform(String),
    #[error("platform data: {0}")]
    Platform(String),
    #[error("a DCT image must be {expected} bytes (both partitions), got {got}")]
    DctImageSize { expected: usize, got: usize },
    #[error("DCT: {0}")]
    Dct(#[from] DctError),
    #[error("device key: {0}")]
    Key(KeyError),
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    #[error("the virtual device's serial port server failed: {0}")]
    SerialServer(String),
    #[error("the time factor must be a finite number ≥ 0 (1.0 = real device timing), got {0}")]
    TimeFactor(f64),
}

impl ErrorInfo for SimError {
    fn code(&self) -> ErrorCode {
        match self {
            SimError::NotAVirtualDevice { .. } => ErrorCode::NoDevice,
            SimError::AlreadyExists { .. } | SimError::DirNotEmpty { .. } => {
                ErrorCode::AlreadyExists
            }
            SimError::Busy { .. } => ErrorCode::DeviceBusy,
            SimError::NotInDfuMode { .. } => ErrorCode::NotInDfuMode,
            SimError::NotInNormalMode { .. } => ErrorCode::NoDevice,
            SimError::Disconnected { .. } => ErrorCode::DeviceGone,
            SimError::Io { .. } => ErrorCode::Io,
            SimError::Corrupt { .. } => ErrorCode::CorruptState,
            SimError::UnknownPlatform(_)
            | SimError::InvalidFault(_)
            | SimError::TimeFactor(_)
            | SimError::DctImageSize { .. } => ErrorCode::InvalidArgument,
            SimError::Platform(_) | SimError::SerialServer(_) => ErrorCode::Internal,
            SimError::Dct(e) => e.code(),
            SimError::Key(e) => e.code(),
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            SimError::Io { path, .. } | SimError::Corrupt { path, .. } => ErrorFacts {
                path: Some(path.clone()),
                ..ErrorFacts::default()
            },
            _ => ErrorFacts::default(),
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            SimError::NotAVirtualDevice { dir } => {
                vec![Remedy::CreateVirtualDevice { dir: dir.clone() }]
            }
            SimError::Busy { .. } => vec![Remedy::WaitForOtherProgram],
            SimError::NotInDfuMode { dir } | SimError::Disconnected { dir } => {
                vec![Remedy::EnterDfuMode {
                    virtual_device: Some(dir.clone()),
                }]
            }
            SimError::Corrupt { .. } => vec![Remedy::RecreateVirtualDevice],
            SimError::NotInNormalMode { dir } => vec![Remedy::Boot {
                virtual_device: Some(dir.clone()),
            }],
            SimError::Key(e) => e.remedies(),
            _ => vec![],
        }
    }
}
