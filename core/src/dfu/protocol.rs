//! DFU 1.1 class requests, states and status codes (DFU 1.1 §6.1, tables
//! A.1/A.2), plus the [`Step`] that names what the host was doing when
//! something failed, so every error can say "writing block 3 at DCT offset
//! 0x22 (alt 1)" rather than "errWRITE".

use std::fmt;
use std::time::Duration;

/// bmRequestType of host-to-device class requests to an interface.
pub const REQUEST_TYPE_OUT: u8 = 0x21;
/// bmRequestType of device-to-host class requests to an interface.
pub const REQUEST_TYPE_IN: u8 = 0xA1;

/// DFU class request codes (DFU 1.1 table 3.2).
pub mod request {
    pub const DETACH: u8 = 0;
    pub const DNLOAD: u8 = 1;
    pub const UPLOAD: u8 = 2;
    pub const GETSTATUS: u8 = 3;
    pub const CLRSTATUS: u8 = 4;
    pub const GETSTATE: u8 = 5;
    pub const ABORT: u8 = 6;
}

/// DfuSe commands, sent as DNLOAD with wBlockNum 0 (REFERENCE §1).
pub mod dfuse {
    /// `0x21 addr32le`: set the address pointer.
    pub const SET_ADDRESS: u8 = 0x21;
    /// `0x41 addr32le`: erase the sector holding addr; `0x41` alone: mass erase.
    pub const ERASE: u8 = 0x41;
    /// `0x92`: read unprotect (wipes the chip on STM32; never sent by us).
    pub const READ_UNPROTECT: u8 = 0x92;
    /// `0x00`: get the supported commands.
    pub const GET_COMMANDS: u8 = 0x00;
    /// First wBlockNum that carries data: address = pointer + (n − 2) × wTransferSize.
    pub const FIRST_DATA_BLOCK: u16 = 2;
}

/// Length of a GETSTATUS reply (DFU 1.1 §6.1.2).
pub const STATUS_LEN: usize = 6;

/// The eleven DFU states (DFU 1.1 table A.1), by their spec names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DfuState {
    AppIdle,
    AppDetach,
    DfuIdle,
    DfuDnloadSync,
    DfuDnBusy,
    DfuDnloadIdle,
    DfuManifestSync,
    DfuManifest,
    DfuManifestWaitReset,
    DfuUploadIdle,
    DfuError,
}

impl DfuState {
    pub const ALL: [DfuState; 11] = [
        DfuState::AppIdle,
        DfuState::AppDetach,
        DfuState::DfuIdle,
        DfuState::DfuDnloadSync,
        DfuState::DfuDnBusy,
        DfuState::DfuDnloadIdle,
        DfuState::DfuManifestSync,
        DfuState::DfuManifest,
        DfuState::DfuManifestWaitReset,
        DfuState::DfuUploadIdle,
        DfuState::DfuError,
    ];

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// A download or manifestation is under way: the device may still be
    /// working, and its bwPollTimeout is how long to wait before asking again.
    pub fn operation_pending(self) -> bool {
        matches!(
            self,
            DfuState::DfuDnloadSync
                | DfuState::DfuDnBusy
                | DfuState::DfuManifestSync
                | DfuState::DfuManifest
        )
    }

    /// The spec's name (`dfuDNLOAD-IDLE` is spelled with underscores, as dfu-util does).
    pub fn name(self) -> &'static str {
        match self {
            DfuState::AppIdle => "appIDLE",
            DfuState::AppDetach => "appDETACH",
            DfuState::DfuIdle => "dfuIDLE",
            DfuState::DfuDnloadSync => "dfuDNLOAD_SYNC",
            DfuState::DfuDnBusy => "dfuDNBUSY",
            DfuState::DfuDnloadIdle => "dfuDNLOAD_IDLE",
            DfuState::DfuManifestSync => "dfuMANIFEST_SYNC",
            DfuState::DfuManifest => "dfuMANIFEST",
            DfuState::DfuManifestWaitReset => "dfuMANIFEST_WAIT_RESET",
            DfuState::DfuUploadIdle => "dfuUPLOAD_IDLE",
            DfuState::DfuError => "dfuERROR",
        }
    }

    /// Runtime (application) states: the device is running firmware and only
    /// understands DETACH.
    pub fn is_app(self) -> bool {
        matches!(self, DfuState::AppIdle | DfuState::AppDetach)
    }
}

impl fmt::Display for DfuState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The sixteen DFU status codes (DFU 1.1 table A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DfuStatus {
    Ok,
    ErrTarget,
    ErrFile,
    ErrWrite,
    ErrErase,
    ErrCheckErased,
    ErrProg,
    ErrVerify,
    ErrAddress,
    ErrNotDone,
    ErrFirmware,
    ErrVendor,
    ErrUsbr,
    ErrPor,
    ErrUnknown,
    ErrStalledPkt,
}

impl DfuStatus {
    pub const ALL: [DfuStatus; 16] = [
        DfuStatus::Ok,
        DfuStatus::ErrTarget,
        DfuStatus::ErrFile,
        DfuStatus::ErrWrite,
        DfuStatus::ErrErase,
        DfuStatus::ErrCheckErased,
        DfuStatus::ErrProg,
        DfuStatus::ErrVerify,
        DfuStatus::ErrAddress,
        DfuStatus::ErrNotDone,
        DfuStatus::ErrFirmware,
        DfuStatus::ErrVendor,
        DfuStatus::ErrUsbr,
        DfuStatus::ErrPor,
        DfuStatus::ErrUnknown,
        DfuStatus::ErrStalledPkt,
    ];

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            DfuStatus::Ok => "OK",
            DfuStatus::ErrTarget => "errTARGET",
            DfuStatus::ErrFile => "errFILE",
            DfuStatus::ErrWrite => "errWRITE",
            DfuStatus::ErrErase => "errERASE",
            DfuStatus::ErrCheckErased => "errCHECK_ERASED",
            DfuStatus::ErrProg => "errPROG",
            DfuStatus::ErrVerify => "errVERIFY",
            DfuStatus::ErrAddress => "errADDRESS",
            DfuStatus::ErrNotDone => "errNOTDONE",
            DfuStatus::ErrFirmware => "errFIRMWARE",
            DfuStatus::ErrVendor => "errVENDOR",
            DfuStatus::ErrUsbr => "errUSBR",
            DfuStatus::ErrPor => "errPOR",
            DfuStatus::ErrUnknown => "errUNKNOWN",
            DfuStatus::ErrStalledPkt => "errSTALLEDPKT",
        }
    }

    /// The spec's meaning of the code (DFU 1.1 table A.2, lightly worded).
    pub fn description(self) -> &'static str {
        match self {
            DfuStatus::Ok => "no error",
            DfuStatus::ErrTarget => "the file is not targeted for use by this device",
            DfuStatus::ErrFile => "the file is for this device but fails a vendor-specific check",
            DfuStatus::ErrWrite => "device is unable to write memory",
            DfuStatus::ErrErase => "memory erase function failed",
            DfuStatus::ErrCheckErased => "memory erase check failed",
            DfuStatus::ErrProg => "program memory function failed",
            DfuStatus::ErrVerify => "programmed memory failed verification",
            DfuStatus::ErrAddress => "address out of range for this memory",
            DfuStatus::ErrNotDone => {
                "zero-length download received but the device does not have all the data yet"
            }
            DfuStatus::ErrFirmware => "device firmware is corrupt and cannot return to run-time",
            DfuStatus::ErrVendor => "vendor-specific error",
            DfuStatus::ErrUsbr => "device detected an unexpected USB reset",
            DfuStatus::ErrPor => "device detected an unexpected power-on reset",
            DfuStatus::ErrUnknown => "something went wrong, but the device does not know what",
            DfuStatus::ErrStalledPkt => "device stalled an unexpected request",
        }
    }
}

/// Both enums are persisted (the virtual Duo's state file) and reported
/// (`--json`) by their spec names, e.g. `dfuDNBUSY`, `errWRITE`.
macro_rules! serde_by_spec_name {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == text)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown DFU name {text:?}")))
            }
        }
    )*};
}

serde_by_spec_name!(DfuState, DfuStatus);

impl fmt::Display for DfuStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded GETSTATUS reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusReply {
    pub status: DfuStatus,
    /// bwPollTimeout: how long the host must wait before the next GETSTATUS.
    pub poll_timeout: Duration,
    pub state: DfuState,
    pub string_index: u8,
}

impl StatusReply {
    /// Decode the 6-byte reply: bStatus, bwPollTimeout (24-bit LE), bState, iString.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < STATUS_LEN {
            return Err(format!(
                "GETSTATUS reply is {} bytes, a DFU device must send {STATUS_LEN}",
                bytes.len()
            ));
        }
        let status = DfuStatus::from_code(bytes[0])
            .ok_or_else(|| format!("GETSTATUS reply has unknown bStatus 0x{:02x}", bytes[0]))?;
        let state = DfuState::from_code(bytes[4])
            .ok_or_else(|| format!("GETSTATUS reply has unknown bState {}", bytes[4]))?;
        let ms = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], 0]);
        Ok(StatusReply {
            status,
            poll_timeout: Duration::from_millis(u64::from(ms)),
            state,
            string_index: bytes[5],
        })
    }

    /// The reply as the device sends it (used by test targets).
    pub fn encode(&self) -> [u8; STATUS_LEN] {
        let ms = u32::try_from(self.poll_timeout.as_millis())
            .unwrap_or(0xFF_FFFF)
            .min(0xFF_FFFF)
            .to_le_bytes();
        [
            self.status.code(),
            ms[0],
            ms[1],
            ms[2],
            self.state.code(),
            self.string_index,
        ]
    }
}

/// Where in a device's memory a step happened. The DCT alt is addressed by
/// application-DCT offset (REFERENCE §1), so it reads as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub alt: u8,
    pub addr: u32,
    /// The alt setting maps onto the application DCT (platform `dct_alt`).
    pub dct: bool,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dct {
            write!(f, "DCT offset 0x{:x} (alt {})", self.addr, self.alt)
        } else {
            write!(f, "address 0x{:08x} (alt {})", self.addr, self.alt)
        }
    }
}

/// The DFU step the host was performing; errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    ReadDescriptors,
    GetToIdle,
    SelectAlt {
        alt: u8,
    },
    SetAddress {
        at: Location,
    },
    Erase {
        at: Location,
    },
    MassErase {
        alt: u8,
    },
    /// `block` counts from 1 within one write, out of `blocks`.
    Download {
        block: u32,
        blocks: u32,
        at: Location,
    },
    /// `block` counts from 1 within one read, out of `blocks`.
    Upload {
        block: u32,
        blocks: u32,
        at: Location,
    },
    Abort,
    Leave,
    Detach,
    /// A USB port reset, to free a device stuck in dfuDNBUSY.
    UsbReset,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::ReadDescriptors => f.write_str("reading the USB descriptors"),
            Step::GetToIdle => f.write_str("bringing the device to dfuIDLE"),
            Step::SelectAlt { alt } => write!(f, "selecting alt setting {alt}"),
            Step::SetAddress { at } => write!(f, "setting the address pointer to {at}"),
            Step::Erase { at } => write!(f, "erasing the sector at {at}"),
            Step::MassErase { alt } => write!(f, "mass-erasing alt {alt}"),
            Step::Download { block, blocks, at } => {
                write!(f, "writing block {block} of {blocks} at {at}")
            }
            Step::Upload { block, blocks, at } => {
                write!(f, "reading block {block} of {blocks} at {at}")
            }
            Step::Abort => f.write_str("aborting to dfuIDLE"),
            Step::Leave => f.write_str("leaving DFU mode"),
            Step::Detach => f.write_str("detaching"),
            Step::UsbReset => f.write_str("resetting the USB port"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_status_code_round_trips() {
        for (i, s) in DfuState::ALL.iter().enumerate() {
            assert_eq!(usize::from(s.code()), i);
            assert_eq!(DfuState::from_code(s.code()), Some(*s));
        }
        for (i, s) in DfuStatus::ALL.iter().enumerate() {
            assert_eq!(usize::from(s.code()), i);
            assert_eq!(DfuStatus::from_code(s.code()), Some(*s));
        }
        assert_eq!(DfuState::from_code(11), None);
        assert_eq!(DfuStatus::from_code(16), None);
        assert_eq!(DfuStatus::ErrStalledPkt.code(), 0x0F);
        assert_eq!(DfuState::DfuError.code(), 10);
    }

    #[test]
    fn states_and_statuses_serialize_by_spec_name() {
        let json = serde_json::to_string(&(DfuState::DfuDnBusy, DfuStatus::ErrWrite)).unwrap();
        assert_eq!(json, r#"["dfuDNBUSY","errWRITE"]"#);
        let back: (DfuState, DfuStatus) = serde_json::from_str(&json).unwrap();
        assert_eq!(back, (DfuState::DfuDnBusy, DfuStatus::ErrWrite));
        assert!(serde_json::from_str::<DfuState>(r#""DFU_IDLE""#).is_err());
    }

    #[test]
    fn status_reply_decodes_24_bit_poll_timeout() {
        let r = StatusReply::parse(&[0, 0xF4, 0x01, 0x00, 4, 0]).unwrap();
        assert_eq!(r.poll_timeout, Duration::from_millis(500));
        assert_eq!(r.state, DfuState::DfuDnBusy);
        assert_eq!(r.status, DfuStatus::Ok);
        assert_eq!(r.encode(), [0, 0xF4, 0x01, 0x00, 4, 0]);
    }

    #[test]
    fn short_or_unknown_status_reply_is_an_error_not_a_panic() {
        assert!(StatusReply::parse(&[0, 0, 0, 0, 2])
            .unwrap_err()
            .contains("5 bytes"));
        assert!(StatusReply::parse(&[]).is_err());
        assert!(StatusReply::parse(&[0x42, 0, 0, 0, 2, 0]).is_err());
        assert!(StatusReply::parse(&[0, 0, 0, 0, 99, 0]).is_err());
    }

    #[test]
    fn steps_name_the_dct_by_offset() {
        let at = Location {
            alt: 1,
            addr: 0x22,
            dct: true,
        };
        let s = Step::Download {
            block: 3,
            blocks: 4,
            at,
        };
        assert_eq!(
            s.to_string(),
            "writing block 3 of 4 at DCT offset 0x22 (alt 1)"
        );
        let at = Location {
            alt: 0,
            addr: 0x0802_0000,
            dct: false,
        };
        assert_eq!(
            Step::Erase { at }.to_string(),
            "erasing the sector at address 0x08020000 (alt 0)"
        );
    }
}
