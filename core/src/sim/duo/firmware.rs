//! The board's USB face while its system firmware runs (normal mode,
//! REFERENCE §7): 2b04:c058 with a CDC serial interface ("Duo Serial"), the
//! serial-number, manufacturer and product strings of its firmware, and the
//! vendor control requests that firmware has (none on 0.2.x, the legacy
//! 0x50 requests on 0.3.0/0.3.1, the 0x50 reads plus Particle's service
//! requests on 0.3.2+). The codecs are the host's own
//! ([`crate::normal::vendor`]), so both ends agree by construction.

use serde::{Deserialize, Serialize};

use crate::dfu::descriptor::{
    GET_DESCRIPTOR, LANG_EN_US, TYPE_CONFIGURATION, TYPE_DEVICE, TYPE_INTERFACE, TYPE_STRING,
};
use crate::dfu::transport::Setup;
use crate::normal::vendor::{legacy, service, ServiceReply, ServiceStatus, VENDOR_IN, VENDOR_OUT};
use crate::platform::board::VendorRequests;
use crate::platform::{Board, Firmware};

use super::serial::ConsoleFace;
use super::usb::{
    REQ_GET_CONFIGURATION, REQ_GET_STATUS, REQ_SET_CONFIGURATION, STRING_MANUFACTURER,
    STRING_PRODUCT, STRING_SERIAL,
};

/// iInterface of the CDC communication interface.
pub const STRING_SERIAL_INTERFACE: u8 = 4;
/// bcdDevice in normal mode (the simulator's choice; REFERENCE gives none).
pub const NORMAL_BCD_DEVICE: u16 = 0x0250;

/// The 18-byte device descriptor in normal mode.
pub fn device_descriptor(board: &Board) -> [u8; 18] {
    let p = board.platform;
    let [vid_lo, vid_hi] = p.usb_vid.to_le_bytes();
    let [pid_lo, pid_hi] = p.normal_pid.to_le_bytes();
    let [bcd_lo, bcd_hi] = NORMAL_BCD_DEVICE.to_le_bytes();
    [
        18,
        TYPE_DEVICE,
        0x00,
        0x02, // bcdUSB 2.00
        0xEF,
        0x02,
        0x01, // miscellaneous / common class / IAD
        64,
        vid_lo,
        vid_hi,
        pid_lo,
        pid_hi,
        bcd_lo,
        bcd_hi,
        STRING_MANUFACTURER,
        STRING_PRODUCT,
        STRING_SERIAL,
        1,
    ]
}

/// One configuration: CDC communication (class 2, ACM) and data (class 10)
/// interfaces. Endpoints are not modelled: the serial data goes through the
/// board's pseudo-terminal, not through USB transfers.
pub fn config_descriptor() -> Vec<u8> {
    let total: u16 = 9 + 9 + 9;
    let [lo, hi] = total.to_le_bytes();
    vec![
        9,
        TYPE_CONFIGURATION,
        lo,
        hi,
        2,
        1,
        0,
        0xC0,
        0x32,
        9,
        TYPE_INTERFACE,
        0,
        0,
        0,
        0x02,
        0x02,
        0x01,
        STRING_SERIAL_INTERFACE,
        9,
        TYPE_INTERFACE,
        1,
        0,
        0,
        0x0A,
        0x00,
        0x00,
        0,
    ]
}

/// The text of string `index` in normal mode.
pub fn string(
    board: &Board,
    firmware: &Firmware,
    device_id: &[u8; 12],
    index: u8,
) -> Option<String> {
    let _ = board;
    match index {
        STRING_MANUFACTURER => Some(firmware.normal_manufacturer.to_string()),
        STRING_PRODUCT => Some(firmware.normal_product.to_string()),
        STRING_SERIAL => Some(firmware.normal_serial.render(device_id)),
        STRING_SERIAL_INTERFACE => Some("Duo Serial".to_string()),
        _ => None,
    }
}

pub fn string_descriptor(
    board: &Board,
    firmware: &Firmware,
    device_id: &[u8; 12],
    index: u8,
) -> Option<Vec<u8>> {
    if index == 0 {
        let [lo, hi] = LANG_EN_US.to_le_bytes();
        return Some(vec![4, TYPE_STRING, lo, hi]);
    }
    let units: Vec<u16> = string(board, firmware, device_id, index)?
        .encode_utf16()
        .take(126)
        .collect();
    let mut d = vec![(2 + 2 * units.len()) as u8, TYPE_STRING];
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    Some(d)
}

/// The service requests in flight (0.3.2+).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRegs {
    next_id: u16,
    /// The request INIT accepted and not yet completed: (id, type).
    pending: Option<(u16, u16)>,
}

/// What the board does once the reply has gone out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    EnterDfu,
    Reset,
    Listen(bool),
}

/// Standard and vendor requests in normal mode; `None` is a STALL.
pub(crate) fn request(
    board: &Board,
    firmware: &Firmware,
    device_id: &[u8; 12],
    configuration: &mut u8,
    regs: &mut ServiceRegs,
    setup: &Setup,
) -> Option<(Vec<u8>, Action)> {
    let mut reply = match setup.request_type & 0x60 {
        0x00 => (
            standard(board, firmware, device_id, configuration, setup)?,
            Action::None,
        ),
        0x40 if setup.request_type & 0x1F == 0 => vendor(firmware, device_id, regs, setup)?,
        _ => return None,
    };
    reply.0.truncate(usize::from(setup.length));
    Some(reply)
}

fn standard(
    board: &Board,
    firmware: &Firmware,
    device_id: &[u8; 12],
    configuration: &mut u8,
    setup: &Setup,
) -> Option<Vec<u8>> {
    let is_in = setup.request_type & 0x80 != 0;
    let [index, kind] = setup.value.to_le_bytes();
    Some(match (setup.request, is_in, setup.request_type & 0x1F) {
        (GET_DESCRIPTOR, true, 0) => match kind {
            TYPE_DEVICE => device_descriptor(board).to_vec(),
            TYPE_CONFIGURATION if index == 0 => config_descriptor(),
            TYPE_STRING => string_descriptor(board, firmware, device_id, index)?,
            _ => return None,
        },
        (REQ_GET_STATUS, true, _) => vec![0, 0],
        (REQ_GET_CONFIGURATION, true, 0) => vec![*configuration],
        (REQ_SET_CONFIGURATION, false, 0) if setup.value <= 1 => {
            *configuration = setup.value as u8;
            Vec::new()
        }
        _ => return None,
    })
}

fn vendor(
    firmware: &Firmware,
    device_id: &[u8; 12],
    regs: &mut ServiceRegs,
    setup: &Setup,
) -> Option<(Vec<u8>, Action)> {
    let kind = firmware.vendor_requests;
    if kind == VendorRequests::None {
        return None;
    }
    if setup.request == legacy::REQUEST {
        return legacy_request(firmware, kind, device_id, setup);
    }
    if kind != VendorRequests::Service || setup.request_type != VENDOR_IN {
        return None;
    }
    let status = |s| Some((ServiceReply::status(s).encode(), Action::None));
    match setup.request {
        service::INIT => {
            let supported = [
                service::TYPE_RESET,
                service::TYPE_ENTER_DFU,
                service::TYPE_START_LISTENING,
                service::TYPE_STOP_LISTENING,
                service::TYPE_MODULE_INFO,
            ];
            if !supported.contains(&setup.index) {
                return status(ServiceStatus::NotFound);
            }
            if regs.pending.is_some() {
                return status(ServiceStatus::Busy);
            }
            regs.next_id = regs.next_id.wrapping_add(1).max(1);
            regs.pending = Some((regs.next_id, setup.index));
            let reply = ServiceReply {
                id: Some(regs.next_id),
                ..ServiceReply::status(ServiceStatus::Ok)
            };
            Some((reply.encode(), Action::None))
        }
        service::CHECK => {
            let Some((id, kind)) = regs.pending.filter(|(id, _)| *id == setup.index) else {
                return status(ServiceStatus::NotFound);
            };
            let mut reply = ServiceReply::status(ServiceStatus::Ok);
            let action = match kind {
                service::TYPE_ENTER_DFU => Action::EnterDfu,
                service::TYPE_RESET => Action::Reset,
                service::TYPE_START_LISTENING => Action::Listen(true),
                service::TYPE_STOP_LISTENING => Action::Listen(false),
                _ => {
                    // Module info: the reply waits for RECV.
                    reply.size = Some(ConsoleFace::of(firmware).modules_json.len() as u32);
                    let _ = id;
                    return Some((reply.encode(), Action::None));
                }
            };
            regs.pending = None;
            Some((reply.encode(), action))
        }
        service::RECV => match regs.pending {
            Some((id, service::TYPE_MODULE_INFO)) if id == setup.index => {
                regs.pending = None;
                Some((
                    ConsoleFace::of(firmware).modules_json.into_bytes(),
                    Action::None,
                ))
            }
            _ => None,
        },
        service::RESET => {
            regs.pending = None;
            status(ServiceStatus::Ok)
        }
        _ => None,
    }
}

fn legacy_request(
    firmware: &Firmware,
    kind: VendorRequests,
    device_id: &[u8; 12],
    setup: &Setup,
) -> Option<(Vec<u8>, Action)> {
    match (setup.request_type, setup.index) {
        (VENDOR_IN, legacy::DEVICE_ID) if setup.value == 1 => {
            Some((device_id.to_vec(), Action::None))
        }
        (VENDOR_IN, legacy::DEVICE_ID) => {
            let text = match kind {
                VendorRequests::Legacy => format!("{}\0", hex::encode(device_id)),
                _ => hex::encode_upper(device_id),
            };
            Some((text.into_bytes(), Action::None))
        }
        (VENDOR_IN, legacy::FIRMWARE_VERSION) => {
            Some((firmware.version.as_bytes().to_vec(), Action::None))
        }
        // The actions are 0.3.0/0.3.1's; 0.3.2+ use service requests.
        (VENDOR_OUT, legacy::RESET) if kind == VendorRequests::Legacy => {
            Some((Vec::new(), Action::Reset))
        }
        (VENDOR_OUT, legacy::ENTER_DFU) if kind == VendorRequests::Legacy => {
            Some((Vec::new(), Action::EnterDfu))
        }
        _ => None,
    }
}
