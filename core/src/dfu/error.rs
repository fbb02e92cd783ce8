//! The one error type of the `dfu` module. Every variant names what failed,
//! the value involved, and, where there is one, the next step.

use std::time::Duration;

use super::protocol::{DfuState, DfuStatus, Step};
use super::transport::TransportError;
use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy};

/// How to put a Gen 2 board into DFU mode (the yellow-blinking bootloader).
pub const ENTER_DFU_HINT: &str = crate::error::ENTER_DFU_TEXT;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DfuError {
    /// The caller's [`crate::progress::CancelToken`] was triggered; the
    /// operation stopped between blocks or in a wait.
    #[error("the operation was cancelled")]
    Cancelled,
    /// The wire failed during a step.
    #[error("{step}: {source}{}", transport_hint(source))]
    Transport {
        step: Step,
        #[source]
        source: TransportError,
    },
    /// The device answered GETSTATUS with a non-OK status.
    #[error("{step}: device reported {status} ({}){}", status.description(), stalled_note(*stalled))]
    Status {
        step: Step,
        status: DfuStatus,
        state: DfuState,
        /// The request itself was stalled; the status came from the follow-up GETSTATUS.
        stalled: bool,
    },
    /// The bootloader stalled the GETSTATUS that ran a write or erase: the
    /// operation failed (REFERENCE §1: no errWRITE / errADDRESS is sent).
    #[error(
        "{step}: the device stalled the status request that ran it, which is how the bootloader \
         reports a failed write or erase (an address its memory does not take, a read-only \
         sector, flash that did not verify){}", failed_state_note(*state)
    )]
    OperationFailed {
        step: Step,
        /// The state the next GETSTATUS reported (dfuDNLOAD_IDLE on a Duo).
        state: Option<DfuState>,
    },
    /// A GETSTATUS reply that is not a valid 6-byte status.
    #[error("{step}: {reason}")]
    MalformedStatus { step: Step, reason: String },
    /// The device ended up in a state the step does not allow.
    #[error("{step}: the device went to {state}, expected {expected}")]
    UnexpectedState {
        step: Step,
        state: DfuState,
        expected: &'static str,
    },
    /// dfuDNBUSY for longer than the busy bound (counted in polls of the
    /// device's own bwPollTimeout, so the bound scales with what it declared).
    #[error(
        "{step}: device stayed busy (dfuDNBUSY) for {polls} status polls ({waited:?} of declared \
         poll timeouts); {}",
        Remedy::ReplugIntoDfuMode
    )]
    StayedBusy {
        step: Step,
        polls: u32,
        waited: Duration,
    },
    /// The device sent fewer bytes than a step needs.
    #[error("{step}: the device transferred {got} bytes, expected {expected}")]
    ShortTransfer {
        step: Step,
        got: usize,
        expected: usize,
    },
    /// The device is running firmware (DFU runtime interface, appIDLE).
    #[error("the device is running firmware, not in DFU mode; {ENTER_DFU_HINT}")]
    NotInDfuMode,
    /// The device is manifesting and must be reset before it accepts requests.
    #[error(
        "{step}: the device is in {state} (manifesting new firmware); {}",
        Remedy::ResetIntoDfuMode
    )]
    Manifesting { step: Step, state: DfuState },
    /// A USB descriptor that cannot be parsed.
    #[error("malformed USB descriptor: {0}")]
    Descriptor(String),
    /// The configuration has no DFU interface / functional descriptor.
    #[error("the device has no DFU interface (class 0xFE subclass 0x01){0}")]
    NoDfuInterface(String),
    /// The device speaks plain DFU, not ST's DfuSe addressing.
    #[error("the device's DFU version is 0x{version:04x}, not DfuSe (0x011a); it cannot be addressed by memory location")]
    NotDfuse { version: u16 },
    #[error("alt setting {alt} does not exist; the device has {available}")]
    UnknownAlt { alt: u8, available: String },
    /// An interface string is not a DfuSe memory layout.
    #[error("malformed DfuSe memory layout {string:?} at position {position}: {reason}")]
    Layout {
        string: String,
        position: usize,
        reason: String,
    },
    /// A range that is not entirely inside the alt's memory map; nothing was sent.
    #[error(
        "{op} 0x{addr:08x}..0x{end:08x} ({len} bytes) on alt {alt} ({memory}): address 0x{first_bad:08x} \
         is outside its memory map {map}; nothing was sent"
    )]
    OutOfRange {
        op: &'static str,
        alt: u8,
        memory: String,
        addr: u32,
        end: u64,
        len: u64,
        first_bad: u64,
        map: String,
    },
    /// A range touching a segment without the needed permission; nothing was sent.
    #[error(
        "refusing to {op} 0x{addr:08x} on alt {alt} ({memory}): segment 0x{segment_start:08x}..0x{segment_end:08x} \
         is {perms} (type '{letter}'){hint}; nothing was sent"
    )]
    NotPermitted {
        op: &'static str,
        alt: u8,
        memory: String,
        addr: u32,
        segment_start: u32,
        segment_end: u64,
        perms: String,
        letter: char,
        hint: &'static str,
    },
    /// Several DFU devices match; the user must choose.
    #[error("several devices in DFU mode found:\n{list}\n{}", Remedy::ChooseDevice { example: example.clone() })]
    SeveralDevices { list: String, example: String },
    /// No DFU device (matching the selector) on the bus.
    #[error("no device in DFU mode found{detail}; {ENTER_DFU_HINT}")]
    NoDevice { detail: String },
    #[error("permission denied opening {device}; {}", Remedy::GrantUsbAccess)]
    PermissionDenied { device: String },
    #[error("{device} is busy: another program (dfu-util, particle-cli, a second provisioning run?) has claimed it; {}", Remedy::CloseOtherProgram)]
    Busy { device: String },
    /// Anything else libusb reports while finding or opening a device.
    #[error("USB error while {doing}: {message}")]
    Usb { doing: String, message: String },
    /// A `--device` value that is not one of the accepted forms.
    #[error("invalid device selector {input:?}: {reason}; accepted forms: usb:VID:PID (hex, e.g. usb:2b04:d058), usb:BUS-PORT (e.g. usb:1-4 or usb:1-4.2), serial:STRING, id:DEVICE_ID (24 hex digits), sim:DIR")]
    Selector { input: String, reason: String },
}

fn transport_hint(e: &TransportError) -> String {
    e.remedy().map(|r| format!("; {r}")).unwrap_or_default()
}

fn failed_state_note(state: Option<DfuState>) -> String {
    match state {
        Some(state) => {
            format!("; the device then reported {state} and was brought back to dfuIDLE")
        }
        None => "; the device did not answer the status request that followed".to_string(),
    }
}

fn stalled_note(stalled: bool) -> &'static str {
    if stalled {
        "; the device stalled the request"
    } else {
        ""
    }
}

impl DfuError {
    pub(crate) fn transport(step: &Step, source: TransportError) -> Self {
        DfuError::Transport {
            step: step.clone(),
            source,
        }
    }

    /// The DFU step this error names, if it happened during one.
    pub fn step(&self) -> Option<&Step> {
        match self {
            DfuError::Transport { step, .. }
            | DfuError::Status { step, .. }
            | DfuError::OperationFailed { step, .. }
            | DfuError::MalformedStatus { step, .. }
            | DfuError::UnexpectedState { step, .. }
            | DfuError::StayedBusy { step, .. }
            | DfuError::ShortTransfer { step, .. }
            | DfuError::Manifesting { step, .. } => Some(step),
            _ => None,
        }
    }

    /// The device status code behind this error, if the device reported one.
    pub fn status(&self) -> Option<DfuStatus> {
        match self {
            DfuError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when nothing reached the device (validation refused the request).
    pub fn nothing_sent(&self) -> bool {
        matches!(
            self,
            DfuError::OutOfRange { .. }
                | DfuError::NotPermitted { .. }
                | DfuError::UnknownAlt { .. }
                | DfuError::Layout { .. }
                | DfuError::NotDfuse { .. }
        )
    }

    /// True for a cancellation through the caller's token.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, DfuError::Cancelled)
    }
}

impl ErrorInfo for TransportError {
    fn code(&self) -> ErrorCode {
        match self {
            TransportError::Stall => ErrorCode::DfuStall,
            TransportError::NoDevice => ErrorCode::DeviceGone,
            TransportError::Timeout => ErrorCode::Timeout,
            TransportError::Busy => ErrorCode::DeviceBusy,
            TransportError::Access => ErrorCode::AccessDenied,
            TransportError::Other(_) => ErrorCode::Io,
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            TransportError::NoDevice => vec![Remedy::CheckConnection],
            TransportError::Timeout => vec![Remedy::Replug],
            TransportError::Access => vec![Remedy::GrantUsbAccess],
            _ => vec![],
        }
    }
}

impl ErrorInfo for DfuError {
    fn code(&self) -> ErrorCode {
        match self {
            DfuError::Transport { source, .. } => source.code(),
            DfuError::Status { .. } => ErrorCode::DfuStatus,
            // REFERENCE §1: the bootloader's way of saying a write failed.
            DfuError::OperationFailed { .. } => ErrorCode::DfuStall,
            DfuError::MalformedStatus { .. }
            | DfuError::UnexpectedState { .. }
            | DfuError::ShortTransfer { .. }
            | DfuError::Descriptor(_)
            | DfuError::NoDfuInterface(_)
            | DfuError::NotDfuse { .. }
            | DfuError::Layout { .. } => ErrorCode::DfuProtocol,
            DfuError::StayedBusy { .. } => ErrorCode::Timeout,
            DfuError::NotInDfuMode | DfuError::Manifesting { .. } => ErrorCode::NotInDfuMode,
            DfuError::UnknownAlt { .. }
            | DfuError::OutOfRange { .. }
            | DfuError::Selector { .. } => ErrorCode::InvalidArgument,
            DfuError::NotPermitted { .. } => ErrorCode::DfuReadOnly,
            DfuError::SeveralDevices { .. } => ErrorCode::MultipleDevices,
            DfuError::NoDevice { .. } => ErrorCode::NoDevice,
            DfuError::PermissionDenied { .. } => ErrorCode::AccessDenied,
            DfuError::Busy { .. } => ErrorCode::DeviceBusy,
            DfuError::Usb { .. } => ErrorCode::Io,
            DfuError::Cancelled => ErrorCode::Cancelled,
        }
    }

    fn facts(&self) -> ErrorFacts {
        let state = match self {
            DfuError::Status { state, .. }
            | DfuError::UnexpectedState { state, .. }
            | DfuError::Manifesting { state, .. } => Some(state.name().to_string()),
            DfuError::OperationFailed { state, .. } => state.map(|s| s.name().to_string()),
            _ => None,
        };
        ErrorFacts {
            step: self.step().map(|s| s.to_string()),
            status: self.status().map(|s| s.name().to_string()),
            state,
            ..ErrorFacts::default()
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            DfuError::Transport { source, .. } => source.remedies(),
            DfuError::StayedBusy { .. } => vec![Remedy::ReplugIntoDfuMode],
            DfuError::NotInDfuMode | DfuError::NoDevice { .. } => vec![Remedy::EnterDfuMode {
                virtual_device: None,
            }],
            DfuError::Manifesting { .. } => vec![Remedy::ResetIntoDfuMode],
            DfuError::SeveralDevices { example, .. } => vec![Remedy::ChooseDevice {
                example: example.clone(),
            }],
            DfuError::PermissionDenied { .. } => vec![Remedy::GrantUsbAccess],
            DfuError::Busy { .. } => vec![Remedy::CloseOtherProgram],
            _ => vec![],
        }
    }
}

impl From<crate::progress::Cancelled> for DfuError {
    fn from(_: crate::progress::Cancelled) -> Self {
        DfuError::Cancelled
    }
}
