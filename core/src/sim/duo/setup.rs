//! Making and booting a virtual board from a user's choices: the board from
//! a platform and optional bootloader / firmware names (the factory board's
//! where absent), the starting DCT image from a file, the boot's stay
//! checked, and what a boot reports. The CLI's `sim create` / `sim boot`
//! and the bindings make the same decisions through these calls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{BootOptions, BootReport, CreateOptions, Mode, SimError, VirtualDuo};
use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy};
use crate::platform::board::BoardError;
use crate::platform::{Board, Platform};

/// A virtual board to make.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub platform: &'static Platform,
    /// Bootloader revision (`r4`); default the factory board's.
    pub bootloader: Option<String>,
    /// System firmware (`0.2.4`, `none`); default the factory board's.
    pub firmware: Option<String>,
    /// A 32 KiB DCT region image to start from; default the platform's
    /// factory image.
    pub dct_image_file: Option<PathBuf>,
    /// The MCU's device id; default random.
    pub device_id: Option<[u8; 12]>,
    /// 1.0 = a real board's timing.
    pub time_factor: f64,
}

impl CreateRequest {
    /// The factory board of `platform` at real timing.
    pub fn new(platform: &'static Platform) -> Self {
        CreateRequest {
            platform,
            bootloader: None,
            firmware: None,
            dct_image_file: None,
            device_id: None,
            time_factor: 1.0,
        }
    }

    /// The board: the named bootloader and firmware, each defaulting to
    /// the factory board's (Duo: r4 and 0.2.4; Photon / P1: no firmware).
    pub fn board(&self) -> Result<Board, BoardError> {
        let factory = Board::factory(self.platform);
        Board::by_names(
            self.platform,
            self.bootloader
                .as_deref()
                .unwrap_or(factory.bootloader.name),
            self.firmware
                .as_deref()
                .unwrap_or(factory.firmware.map_or("none", |f| f.version)),
        )
    }
}

/// Make the virtual board of `request` in `dir` (absent or empty).
pub fn create_virtual_board(dir: &Path, request: &CreateRequest) -> Result<VirtualDuo, SetupError> {
    let board = request.board()?;
    let dct_image = match &request.dct_image_file {
        Some(path) => Some(std::fs::read(path).map_err(|source| SetupError::ReadImage {
            path: path.clone(),
            source,
        })?),
        None => None,
    };
    VirtualDuo::create(
        dir,
        CreateOptions {
            platform: board.platform,
            board: Some(board),
            dct_image,
            device_id: request.device_id,
            time_factor: request.time_factor,
        },
    )
    .map_err(|source| SetupError::Create {
        from: request.dct_image_file.clone(),
        source,
    })
}

/// How long a boot stays connected: `secs` seconds of device time, 0 or
/// more; `name` is the front end's word for the setting.
pub fn boot_stay(secs: f64, name: &str) -> Result<Duration, SetupError> {
    Duration::try_from_secs_f64(secs).map_err(|_| SetupError::InvalidStay {
        name: name.to_string(),
        value: secs,
    })
}

/// Boot the board in `dir` and stay `stay` (device time): its report.
pub fn boot_virtual_board(dir: &Path, stay: Duration) -> Result<BootResult, SetupError> {
    let mut duo = VirtualDuo::open(dir).map_err(SetupError::Open)?;
    let report = duo
        .boot_with(BootOptions { stay })
        .map_err(|source| SetupError::Boot {
            dir: dir.to_path_buf(),
            source,
        })?;
    Ok(BootResult {
        dir: dir.to_path_buf(),
        mode: duo.mode(),
        has_firmware: duo.board().firmware.is_some(),
        serial_port: None,
        report,
    })
}

/// What a boot did: `sim boot`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct BootResult {
    pub dir: PathBuf,
    pub mode: Mode,
    /// The board runs system firmware, so it has a serial port to serve.
    #[serde(skip)]
    pub has_firmware: bool,
    /// The board's serial port (a pseudo-terminal), also linked as
    /// DIR/tty, once its server runs; none without system firmware.
    pub serial_port: Option<PathBuf>,
    #[serde(flatten)]
    pub report: BootReport,
}

impl BootResult {
    /// The firmware's handshake was refused: a failed boot for a caller.
    pub fn rejected(&self) -> bool {
        self.report
            .connection
            .as_ref()
            .is_some_and(|c| c.is_rejected())
    }
}

/// A virtual board that cannot be made or booted.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Board(#[from] BoardError),
    #[error("cannot read the DCT image {}: {source}", .path.display())]
    ReadImage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", match from {
        Some(path) => format!("creating a virtual device from {}", path.display()),
        None => "creating a virtual device".to_string(),
    })]
    Create {
        from: Option<PathBuf>,
        source: SimError,
    },
    #[error("{name} {value}: give a number of seconds, 0 or more")]
    InvalidStay { name: String, value: f64 },
    /// The board cannot be opened (its own message).
    #[error(transparent)]
    Open(SimError),
    #[error("the firmware of {} failed at boot: {source}", .dir.display())]
    Boot { dir: PathBuf, source: SimError },
}

impl ErrorInfo for SetupError {
    fn code(&self) -> ErrorCode {
        match self {
            SetupError::Board(e) => e.code(),
            SetupError::ReadImage { .. } => ErrorCode::Io,
            SetupError::Create { source, .. }
            | SetupError::Boot { source, .. }
            | SetupError::Open(source) => source.code(),
            SetupError::InvalidStay { .. } => ErrorCode::InvalidArgument,
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            SetupError::Board(e) => e.facts(),
            SetupError::ReadImage { path, .. } => ErrorFacts {
                path: Some(path.clone()),
                ..ErrorFacts::default()
            },
            SetupError::Create { source, .. }
            | SetupError::Boot { source, .. }
            | SetupError::Open(source) => source.facts(),
            SetupError::InvalidStay { .. } => ErrorFacts::default(),
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            SetupError::Board(e) => e.remedies(),
            SetupError::Create { source, .. }
            | SetupError::Boot { source, .. }
            | SetupError::Open(source) => source.remedies(),
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{DUO, PHOTON};

    #[test]
    fn absent_names_give_the_factory_board() {
        let board = CreateRequest::new(&DUO).board().unwrap();
        assert_eq!(board, Board::factory(&DUO));
        let photon = CreateRequest::new(&PHOTON).board().unwrap();
        assert!(photon.firmware.is_none());
        let r6 = CreateRequest {
            bootloader: Some("r6".into()),
            firmware: Some("0.3.3".into()),
            ..CreateRequest::new(&DUO)
        };
        assert_eq!(r6.board().unwrap().bootloader.name, "r6");
        let unknown = CreateRequest {
            firmware: Some("9.9.9".into()),
            ..CreateRequest::new(&DUO)
        };
        assert!(unknown.board().is_err());
    }

    #[test]
    fn a_board_is_made_from_a_dct_image_file_and_boots_with_a_report() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("dct.bin");
        std::fs::write(&image, DUO.factory_dct_image().unwrap()).unwrap();
        let request = CreateRequest {
            dct_image_file: Some(image),
            device_id: Some([7; 12]),
            time_factor: 0.001,
            ..CreateRequest::new(&DUO)
        };
        let dir = tmp.path().join("vd");
        let duo = create_virtual_board(&dir, &request).unwrap();
        assert_eq!(duo.status().device_id, hex::encode([7u8; 12]));
        drop(duo);
        let booted = boot_virtual_board(&dir, Duration::ZERO).unwrap();
        assert_eq!(booted.mode, Mode::Firmware);
        assert!(booted.has_firmware);
        // A factory slot is erased: the firmware generated a key.
        assert!(booted.report.generated_key);
        assert!(!booted.rejected());
    }

    #[test]
    fn a_missing_image_or_a_negative_stay_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let request = CreateRequest {
            dct_image_file: Some(tmp.path().join("none.bin")),
            ..CreateRequest::new(&DUO)
        };
        let e = create_virtual_board(&tmp.path().join("vd"), &request).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Io);
        assert!(!tmp.path().join("vd").exists());
        let e = boot_stay(-1.0, "stay").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert_eq!(boot_stay(1.5, "stay").unwrap(), Duration::from_millis(1500));
    }
}
