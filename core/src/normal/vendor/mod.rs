//! The USB vendor control requests of a board in normal mode (REFERENCE §7),
//! device recipient, no interface claim, over [`ControlTransport`]:
//!
//! - legacy (firmware 0.3.0/0.3.1, reads also on 0.3.2+): bRequest 0x50 with
//!   wIndex = type: IN 20 device id, IN 30 firmware version, OUT 40 reset,
//!   OUT 50 enter DFU;
//! - Particle's service requests (0.3.2+): INIT / CHECK / SEND / RECV /
//!   RESET, each answered by a [`ServiceReply`].
//!
//! Firmware 0.2.x has none: every request stalls.

use serde::Serialize;

use crate::dfu::transport::{ControlTransport, Setup, TransportError};

use super::identity::device_id_from_usb_serial;
use super::NormalError;

/// bmRequestType: vendor, device recipient.
pub const VENDOR_IN: u8 = 0xC0;
pub const VENDOR_OUT: u8 = 0x40;

/// The legacy request (bRequest 0x50) and its wIndex types.
pub mod legacy {
    pub const REQUEST: u8 = 0x50;
    /// IN: the device id, lowercase hex + NUL (0.3.0/0.3.1) or 24 uppercase
    /// hex bytes (0.3.2+); with wValue 1, the 12 raw bytes.
    pub const DEVICE_ID: u16 = 20;
    /// IN: the system firmware version string.
    pub const FIRMWARE_VERSION: u16 = 30;
    /// OUT: reset.
    pub const RESET: u16 = 40;
    /// OUT: reset into DFU mode.
    pub const ENTER_DFU: u16 = 50;
    /// OUT: reboot into safe mode. Never sent by this crate.
    pub const SAFE_MODE: u16 = 70;
}

/// Particle's service requests (bRequest) and request types (wIndex of INIT).
pub mod service {
    pub const INIT: u8 = 1;
    pub const CHECK: u8 = 2;
    pub const SEND: u8 = 3;
    pub const RECV: u8 = 4;
    pub const RESET: u8 = 5;

    pub const TYPE_RESET: u16 = 40;
    pub const TYPE_ENTER_DFU: u16 = 50;
    pub const TYPE_START_LISTENING: u16 = 70;
    pub const TYPE_STOP_LISTENING: u16 = 71;
    pub const TYPE_MODULE_INFO: u16 = 90;

    /// wLength of INIT and CHECK.
    pub const REPLY_LEN: u16 = 64;

    pub const FLAG_STATUS: u32 = 1;
    pub const FLAG_ID: u32 = 2;
    pub const FLAG_SIZE: u32 = 4;
    pub const FLAG_RESULT: u32 = 8;
}

/// wLength of the legacy string reads.
const LEGACY_READ_LEN: u16 = 64;

/// The status of a service request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    Ok,
    Error,
    Pending,
    Busy,
    NoMemory,
    NotFound,
    /// A code outside the table.
    Unknown(u16),
}

impl ServiceStatus {
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => ServiceStatus::Ok,
            1 => ServiceStatus::Error,
            2 => ServiceStatus::Pending,
            3 => ServiceStatus::Busy,
            4 => ServiceStatus::NoMemory,
            5 => ServiceStatus::NotFound,
            n => ServiceStatus::Unknown(n),
        }
    }

    pub fn code(self) -> u16 {
        match self {
            ServiceStatus::Ok => 0,
            ServiceStatus::Error => 1,
            ServiceStatus::Pending => 2,
            ServiceStatus::Busy => 3,
            ServiceStatus::NoMemory => 4,
            ServiceStatus::NotFound => 5,
            ServiceStatus::Unknown(n) => n,
        }
    }
}

impl std::fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceStatus::Ok => f.write_str("ok"),
            ServiceStatus::Error => f.write_str("error"),
            ServiceStatus::Pending => f.write_str("pending"),
            ServiceStatus::Busy => f.write_str("busy"),
            ServiceStatus::NoMemory => f.write_str("no memory"),
            ServiceStatus::NotFound => f.write_str("not found"),
            ServiceStatus::Unknown(n) => write!(f, "unknown status {n}"),
        }
    }
}

/// A service request's reply: u32 LE flags, u16 status, then the id, size
/// and result the flags announce, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServiceReply {
    pub status: ServiceStatus,
    pub id: Option<u16>,
    pub size: Option<u32>,
    pub result: Option<i32>,
}

impl ServiceReply {
    /// Parse a reply; `None` if it is shorter than its flags announce.
    pub fn parse(bytes: &[u8]) -> Option<ServiceReply> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Option<&[u8]> {
            if rest.len() < n {
                return None;
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Some(head)
        };
        let flags = u32::from_le_bytes(take(4)?.try_into().ok()?);
        let status = ServiceStatus::from_code(u16::from_le_bytes(take(2)?.try_into().ok()?));
        let id = if flags & service::FLAG_ID != 0 {
            Some(u16::from_le_bytes(take(2)?.try_into().ok()?))
        } else {
            None
        };
        let size = if flags & service::FLAG_SIZE != 0 {
            Some(u32::from_le_bytes(take(4)?.try_into().ok()?))
        } else {
            None
        };
        let result = if flags & service::FLAG_RESULT != 0 {
            Some(i32::from_le_bytes(take(4)?.try_into().ok()?))
        } else {
            None
        };
        Some(ServiceReply {
            status,
            id,
            size,
            result,
        })
    }

    /// The wire form (what the virtual Duo sends).
    pub fn encode(&self) -> Vec<u8> {
        let mut flags = service::FLAG_STATUS;
        let mut tail = Vec::new();
        if let Some(id) = self.id {
            flags |= service::FLAG_ID;
            tail.extend_from_slice(&id.to_le_bytes());
        }
        if let Some(size) = self.size {
            flags |= service::FLAG_SIZE;
            tail.extend_from_slice(&size.to_le_bytes());
        }
        if let Some(result) = self.result {
            flags |= service::FLAG_RESULT;
            tail.extend_from_slice(&result.to_le_bytes());
        }
        let mut out = flags.to_le_bytes().to_vec();
        out.extend_from_slice(&self.status.code().to_le_bytes());
        out.extend_from_slice(&tail);
        out
    }

    /// A bare status reply.
    pub fn status(status: ServiceStatus) -> Self {
        ServiceReply {
            status,
            id: None,
            size: None,
            result: None,
        }
    }
}

/// How a request that resets the board ended. The board resets inside the
/// transfer (REFERENCE §7), so a timeout, a pipe error or a disconnect are
/// expected endings; only a later re-appearance in DFU mode proves it worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetEnding {
    /// The transfer completed.
    Completed,
    /// It ended in the transport error named (the board reset inside it).
    Interrupted(String),
}

fn legacy_setup(direction: u8, index: u16, value: u16, length: u16) -> Setup {
    Setup {
        request_type: direction,
        request: legacy::REQUEST,
        value,
        index,
        length,
    }
}

fn vendor_error(request: &'static str, source: TransportError) -> NormalError {
    NormalError::VendorRequest { request, source }
}

/// Legacy IN wIndex 20: the device id (24 lower-case hex digits). Firmware
/// 0.3.0/0.3.1 send lower-case hex and a NUL, 0.3.2+ 24 upper-case bytes.
pub fn legacy_device_id<T: ControlTransport + ?Sized>(t: &mut T) -> Result<String, NormalError> {
    let mut buf = [0u8; LEGACY_READ_LEN as usize];
    let setup = legacy_setup(VENDOR_IN, legacy::DEVICE_ID, 0, LEGACY_READ_LEN);
    let n = t
        .control_in(setup, &mut buf)
        .map_err(|e| vendor_error("legacy device id (0x50, wIndex 20)", e))?;
    let text = nul_terminated(&buf[..n]);
    match device_id_from_usb_serial(&text) {
        Some(id) if text.len() == 24 => Ok(id),
        _ => Err(NormalError::BadVendorReply {
            request: "legacy device id (0x50, wIndex 20)",
            reply: super::console::escape(text.as_bytes()),
        }),
    }
}

/// Legacy IN wIndex 30: the system firmware version (`0.3.3`).
pub fn legacy_firmware_version<T: ControlTransport + ?Sized>(
    t: &mut T,
) -> Result<String, NormalError> {
    let mut buf = [0u8; LEGACY_READ_LEN as usize];
    let setup = legacy_setup(VENDOR_IN, legacy::FIRMWARE_VERSION, 0, LEGACY_READ_LEN);
    let n = t
        .control_in(setup, &mut buf)
        .map_err(|e| vendor_error("legacy firmware version (0x50, wIndex 30)", e))?;
    let text = nul_terminated(&buf[..n]);
    if is_version(&text) {
        Ok(text)
    } else {
        Err(NormalError::BadVendorReply {
            request: "legacy firmware version (0x50, wIndex 30)",
            reply: super::console::escape(text.as_bytes()),
        })
    }
}

/// Legacy OUT wIndex 50: reset into DFU mode.
pub fn legacy_enter_dfu<T: ControlTransport + ?Sized>(
    t: &mut T,
) -> Result<ResetEnding, NormalError> {
    reset_request(
        t,
        legacy_setup(VENDOR_OUT, legacy::ENTER_DFU, 0, 0),
        "legacy enter DFU (0x50, wIndex 50)",
    )
}

/// Legacy OUT wIndex 40: reset (back to normal mode).
pub fn legacy_reset<T: ControlTransport + ?Sized>(t: &mut T) -> Result<ResetEnding, NormalError> {
    reset_request(
        t,
        legacy_setup(VENDOR_OUT, legacy::RESET, 0, 0),
        "legacy reset (0x50, wIndex 40)",
    )
}

fn reset_request<T: ControlTransport + ?Sized>(
    t: &mut T,
    setup: Setup,
    request: &'static str,
) -> Result<ResetEnding, NormalError> {
    match t.control_out(setup, &[]) {
        Ok(_) => Ok(ResetEnding::Completed),
        // A stall is how a board without the request answers; a board that
        // resets inside the request can end it as a pipe error too, so the
        // caller decides by whether the board comes back in the new mode.
        Err(e @ (TransportError::Timeout | TransportError::NoDevice | TransportError::Stall)) => {
            Ok(ResetEnding::Interrupted(e.to_string()))
        }
        Err(e) => Err(vendor_error(request, e)),
    }
}

/// One service-request exchange (INIT or CHECK): the parsed reply.
fn service_in<T: ControlTransport + ?Sized>(
    t: &mut T,
    request: u8,
    value: u16,
    index: u16,
    what: &'static str,
) -> Result<ServiceReply, NormalError> {
    let mut buf = [0u8; service::REPLY_LEN as usize];
    let setup = Setup {
        request_type: VENDOR_IN,
        request,
        value,
        index,
        length: service::REPLY_LEN,
    };
    let n = t
        .control_in(setup, &mut buf)
        .map_err(|e| vendor_error(what, e))?;
    ServiceReply::parse(&buf[..n]).ok_or_else(|| NormalError::BadVendorReply {
        request: what,
        reply: hex::encode(&buf[..n]),
    })
}

/// Most CHECKs a pending request gets before it is given up.
const MAX_CHECKS: usize = 20;

/// INIT a service request of `request_type` with no payload, then CHECK it
/// until it is no longer pending; the final reply (status ok) with the
/// request id. A refused INIT (not found, busy, …) is
/// [`NormalError::ServiceRefused`].
pub fn service_request<T: ControlTransport + ?Sized>(
    t: &mut T,
    request_type: u16,
    what: &'static str,
) -> Result<(u16, ServiceReply), NormalError> {
    let init = service_in(t, service::INIT, 0, request_type, what)?;
    let id = match (init.status, init.id) {
        (ServiceStatus::Ok, Some(id)) => id,
        (ServiceStatus::Ok, None) => {
            return Err(NormalError::BadVendorReply {
                request: what,
                reply: "INIT ok without a request id".into(),
            })
        }
        (status, _) => {
            return Err(NormalError::ServiceRefused {
                request: what,
                status,
            })
        }
    };
    for _ in 0..MAX_CHECKS {
        let reply = service_in(t, service::CHECK, 0, id, what)?;
        match reply.status {
            ServiceStatus::Pending | ServiceStatus::Busy => continue,
            ServiceStatus::Ok => return Ok((id, reply)),
            status => {
                return Err(NormalError::ServiceRefused {
                    request: what,
                    status,
                })
            }
        }
    }
    Err(NormalError::ServiceRefused {
        request: what,
        status: ServiceStatus::Pending,
    })
}

/// Service request 50: enter DFU mode. The board resets after answering
/// CHECK, so a CHECK that ends in a disconnect counts as sent.
pub fn service_enter_dfu<T: ControlTransport + ?Sized>(
    t: &mut T,
) -> Result<ResetEnding, NormalError> {
    action(
        t,
        service::TYPE_ENTER_DFU,
        "service request enter DFU (type 50)",
    )
}

/// Service request 40: reset.
pub fn service_reset<T: ControlTransport + ?Sized>(t: &mut T) -> Result<ResetEnding, NormalError> {
    action(t, service::TYPE_RESET, "service request reset (type 40)")
}

/// Service request 70: start listening mode (no reboot).
pub fn service_start_listening<T: ControlTransport + ?Sized>(t: &mut T) -> Result<(), NormalError> {
    service_request(
        t,
        service::TYPE_START_LISTENING,
        "service request start listening (type 70)",
    )
    .map(|_| ())
}

/// Service request 71: stop listening mode.
pub fn service_stop_listening<T: ControlTransport + ?Sized>(t: &mut T) -> Result<(), NormalError> {
    service_request(
        t,
        service::TYPE_STOP_LISTENING,
        "service request stop listening (type 71)",
    )
    .map(|_| ())
}

fn action<T: ControlTransport + ?Sized>(
    t: &mut T,
    request_type: u16,
    what: &'static str,
) -> Result<ResetEnding, NormalError> {
    match service_request(t, request_type, what) {
        Ok(_) => Ok(ResetEnding::Completed),
        Err(NormalError::VendorRequest {
            source: e @ (TransportError::Timeout | TransportError::NoDevice),
            ..
        }) => Ok(ResetEnding::Interrupted(e.to_string())),
        Err(e) => Err(e),
    }
}

/// Service request 90: the module info JSON (what the console's `s` prints),
/// fetched with RECV.
pub fn service_module_info<T: ControlTransport + ?Sized>(t: &mut T) -> Result<String, NormalError> {
    let what = "service request module info (type 90)";
    let (id, reply) = service_request(t, service::TYPE_MODULE_INFO, what)?;
    let size = reply.size.unwrap_or(0);
    let length = u16::try_from(size).map_err(|_| NormalError::BadVendorReply {
        request: what,
        reply: format!("a reply of {size} bytes"),
    })?;
    let mut buf = vec![0u8; usize::from(length)];
    let setup = Setup {
        request_type: VENDOR_IN,
        request: service::RECV,
        value: 0,
        index: id,
        length,
    };
    let n = t
        .control_in(setup, &mut buf)
        .map_err(|e| vendor_error(what, e))?;
    String::from_utf8(buf[..n].to_vec()).map_err(|_| NormalError::BadVendorReply {
        request: what,
        reply: super::console::escape(&buf[..n]),
    })
}

/// The bytes up to the first NUL, as text.
fn nul_terminated(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `N.N.N` (with optional `-suffix`, as particle-cli's `[\w.-]+` allows).
pub(crate) fn is_version(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
}

#[cfg(all(test, feature = "sim"))]
mod tests;
