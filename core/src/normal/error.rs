//! The one error type of normal-mode work (REFERENCE §7).

use crate::dfu::transport::TransportError;

use super::vendor::ServiceStatus;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalError {
    #[error(
        "the {request} failed: {source}. The board may not run firmware that has it \
         (0.2.x has no vendor requests); try the serial console instead"
    )]
    VendorRequest {
        request: &'static str,
        source: TransportError,
    },
    #[error("the {request} got a reply that is not what REFERENCE §7 describes: {reply:?}")]
    BadVendorReply {
        request: &'static str,
        reply: String,
    },
    #[error("the board refused the {request}: status {status}")]
    ServiceRefused {
        request: &'static str,
        status: ServiceStatus,
    },
    #[error(
        "the serial console on {port} did not answer {command:?} within {waited_ms} ms. \
         Is the board in listening mode (LED blinking blue)? Check the cable and that no other \
         program (a serial monitor) has the port open"
    )]
    ConsoleSilent {
        port: String,
        command: char,
        waited_ms: u64,
    },
    #[error(
        "the serial console on {port} answered {command:?} with {reply:?}, which is not a \
         listening-mode reply; another program may be talking on the port, or it is not a Duo"
    )]
    ConsoleGarbage {
        port: String,
        command: char,
        reply: String,
    },
    #[error(
        "the serial port {port} went away ({detail}): the board was unplugged or reset. \
         Plug it in again and retry"
    )]
    PortVanished { port: String, detail: String },
    #[error("the serial port {port} failed: {detail}")]
    Port { port: String, detail: String },
    #[error(
        "refusing to set {port} to {baud} baud: on a Duo 1200 baud triggers an Arduino-upload \
         reset (REFERENCE §7)"
    )]
    ForbiddenBaud { port: String, baud: u32 },
    #[error(
        "more than one serial port belongs to a USB device with serial {serial:?}: {}. \
         Name the port to use",
        ports.join(", ")
    )]
    AmbiguousPort { serial: String, ports: Vec<String> },
    #[error(
        "the board told no device id: its USB serial has none, it has no vendor requests \
         (firmware 0.2.x) and no serial port was found to ask its console"
    )]
    NoRouteToIdentity,
    #[error(
        "could not put the board in DFU mode without its buttons; tried: {}. Hold SETUP, \
         tap RESET, release SETUP when the LED blinks yellow",
        tried.join("; ")
    )]
    NoRouteToDfu { tried: Vec<String> },
    #[error(
        "could not change the board's listening mode; tried: {}. Hold SETUP until the LED \
         blinks blue to enter it, or reset the board to leave it",
        tried.join("; ")
    )]
    NoRouteToListening { tried: Vec<String> },
    #[error(
        "the board did not come back in DFU mode within {waited_ms} ms. Check that it is still \
         plugged in; enter DFU mode with the buttons (hold SETUP, tap RESET) and retry"
    )]
    NotBackInDfu { waited_ms: u64 },
    #[error(
        "no board in normal mode found{detail} (looked for the normal-mode USB ids, e.g. \
         2b04:c058). Check that the board is plugged in and its firmware runs (LED breathing \
         cyan or blinking)"
    )]
    NoBoard { detail: String },
    #[error(
        "more than one board in normal mode matches:\n{list}\nchoose one by its selector \
         (e.g. {example})"
    )]
    SeveralBoards { list: String, example: String },
    #[error(
        "{} boards report the same device id {device_id}: {}. A device id must be unique \
         (a copied DCT or key does not change it, but a board that reports another's id \
         cannot be told apart by it); unplug all but one, or choose one by its USB port",
        boards.len(),
        boards.join("; ")
    )]
    SameDeviceId {
        device_id: String,
        boards: Vec<String>,
    },
    #[error(
        "{board} is in DFU mode and its bootloader (r3/r4) does not report the device id \
         (its serial is a constant). Give the device id, or let the board run its firmware \
         (normal mode), which tells it (REFERENCE §7)"
    )]
    IdUnknownInDfu { board: String },
    #[error("USB error while {doing}: {detail}")]
    Usb { doing: String, detail: String },
}

impl crate::error::ErrorInfo for NormalError {
    fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            NormalError::VendorRequest { source, .. } => source.code(),
            NormalError::BadVendorReply { .. } | NormalError::ConsoleGarbage { .. } => {
                ErrorCode::BadResponse
            }
            NormalError::ServiceRefused { .. } => ErrorCode::CloudRejected,
            NormalError::ConsoleSilent { .. } => ErrorCode::Timeout,
            NormalError::PortVanished { .. } => ErrorCode::DeviceGone,
            NormalError::Port { .. } => ErrorCode::Io,
            NormalError::ForbiddenBaud { .. } => ErrorCode::InvalidArgument,
            NormalError::AmbiguousPort { .. } => ErrorCode::MultipleDevices,
            NormalError::NoRouteToIdentity => ErrorCode::NoDevice,
            NormalError::NoRouteToDfu { .. } => ErrorCode::NotInDfuMode,
            NormalError::NoRouteToListening { .. } => ErrorCode::Unsupported,
            NormalError::NotBackInDfu { .. } => ErrorCode::Timeout,
            NormalError::NoBoard { .. } => ErrorCode::NoDevice,
            NormalError::SeveralBoards { .. } | NormalError::SameDeviceId { .. } => {
                ErrorCode::MultipleDevices
            }
            NormalError::Usb { .. } => ErrorCode::Io,
            NormalError::IdUnknownInDfu { .. } => ErrorCode::Unsupported,
        }
    }

    fn facts(&self) -> crate::error::ErrorFacts {
        match self {
            NormalError::SameDeviceId { device_id, .. } => crate::error::ErrorFacts {
                device_id: Some(device_id.clone()),
                ..Default::default()
            },
            _ => Default::default(),
        }
    }

    fn remedies(&self) -> Vec<crate::error::Remedy> {
        use crate::error::Remedy;
        match self {
            NormalError::NoRouteToDfu { .. } | NormalError::NotBackInDfu { .. } => {
                vec![Remedy::EnterDfuMode {
                    virtual_device: None,
                }]
            }
            NormalError::PortVanished { .. } => vec![Remedy::Replug],
            NormalError::SeveralBoards { example, .. } => vec![Remedy::ChooseDevice {
                example: example.clone(),
            }],
            NormalError::SameDeviceId { boards, .. } => vec![Remedy::ChooseDevice {
                example: boards
                    .first()
                    .and_then(|b| b.split_whitespace().next())
                    .unwrap_or("usb:1-1")
                    .to_string(),
            }],
            _ => vec![],
        }
    }
}
