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
        "the board did not come back in DFU mode within {waited_ms} ms. Check that it is still \
         plugged in; enter DFU mode with the buttons (hold SETUP, tap RESET) and retry"
    )]
    NotBackInDfu { waited_ms: u64 },
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
            NormalError::NotBackInDfu { .. } => ErrorCode::Timeout,
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
            _ => vec![],
        }
    }
}
