//! The bootloader's USB identity: descriptors and the standard requests,
//! answered by the device itself so that a libusb stand-in can serve
//! dfu-util (which reads every string with a plain GET_DESCRIPTOR,
//! REFERENCE §6).
//!
//! Layout follows ST's STM32 USB device library DFU class (REFERENCE §1):
//! one configuration (bmAttributes 0xC0, bMaxPower 0x32 = 100 mA, iConfiguration
//! 2 — both as in ST's `usbd_dfu_core.c`), interface 0 with one interface
//! descriptor per alt setting (no endpoints, class 0xFE / subclass 0x01 /
//! protocol 0x02), then a single 9-byte DFU functional descriptor.
//! Descriptor type codes, DFU class codes and the language id are the host's
//! own ([`crate::dfu::descriptor`]), so both ends agree by construction.
//! String indices are ST's: 0 language ids, 1 manufacturer, 2 product,
//! 3 serial, 4 configuration, 5 interface, 6 + n the memory layout of alt n.

use serde::{Deserialize, Serialize};

use crate::dfu::descriptor::{
    DFUSE_VERSION, DFU_CLASS, DFU_PROTOCOL_DFU_MODE, DFU_SUBCLASS, GET_DESCRIPTOR, LANG_EN_US,
    TYPE_CONFIGURATION, TYPE_DEVICE, TYPE_DFU_FUNCTIONAL, TYPE_INTERFACE, TYPE_STRING,
};
use crate::dfu::transport::Setup;
use crate::platform::Board;

pub const REQ_GET_STATUS: u8 = 0;
pub const REQ_CLEAR_FEATURE: u8 = 1;
pub const REQ_SET_FEATURE: u8 = 3;
pub const REQ_SET_ADDRESS: u8 = 5;
pub const REQ_GET_CONFIGURATION: u8 = 8;
pub const REQ_SET_CONFIGURATION: u8 = 9;
pub const REQ_GET_INTERFACE: u8 = 10;
pub const REQ_SET_INTERFACE: u8 = 11;

pub const STRING_MANUFACTURER: u8 = 1;
pub const STRING_PRODUCT: u8 = 2;
pub const STRING_SERIAL: u8 = 3;
pub const STRING_CONFIGURATION: u8 = 4;
pub const STRING_INTERFACE: u8 = 5;
/// iInterface of alt 0; alt n uses this + n.
pub const STRING_FIRST_ALT: u8 = 6;

/// DFU functional descriptor bmAttributes: can download, can upload, will
/// detach, not manifestation tolerant.
pub const DFU_ATTRIBUTES: u8 = 0x0B;
/// wDetachTimeOut, ms.
pub const DFU_DETACH_TIMEOUT_MS: u16 = 255;

/// String index of the Microsoft OS string descriptor (r5/r6, REFERENCE §1).
pub const STRING_MS_OS: u8 = 0xEE;
/// bMS_VendorCode of the Microsoft OS string: the bRequest of the vendor
/// request that returns the compatible-id descriptor.
pub const MS_VENDOR_CODE: u8 = 0xEE;
/// wIndex of the extended compat id OS feature descriptor request.
pub const MS_COMPAT_ID_INDEX: u16 = 0x0004;

/// The 18-byte device descriptor; bcdDevice is the bootloader's (0x0200 on
/// r3/r4, 0x0250 on r5/r6, REFERENCE §1).
pub fn device_descriptor(board: &Board) -> [u8; 18] {
    let platform = board.platform;
    let [vid_lo, vid_hi] = platform.usb_vid.to_le_bytes();
    let [pid_lo, pid_hi] = platform.dfu_pid.to_le_bytes();
    let [bcd_lo, bcd_hi] = board.bootloader.bcd_device.to_le_bytes();
    [
        18,
        TYPE_DEVICE,
        0x00,
        0x02, // bcdUSB 2.00
        0x00,
        0x00,
        0x00, // class/subclass/protocol per interface
        64,   // bMaxPacketSize0
        vid_lo,
        vid_hi,
        pid_lo,
        pid_hi,
        bcd_lo,
        bcd_hi,
        STRING_MANUFACTURER,
        STRING_PRODUCT,
        STRING_SERIAL,
        1, // bNumConfigurations
    ]
}

/// The 9-byte DFU functional descriptor.
pub fn functional_descriptor(board: &Board) -> [u8; 9] {
    let [det_lo, det_hi] = DFU_DETACH_TIMEOUT_MS.to_le_bytes();
    let [xfer_lo, xfer_hi] = board.platform.transfer_size.to_le_bytes();
    let [ver_lo, ver_hi] = DFUSE_VERSION.to_le_bytes();
    [
        9,
        TYPE_DFU_FUNCTIONAL,
        DFU_ATTRIBUTES,
        det_lo,
        det_hi,
        xfer_lo,
        xfer_hi,
        ver_lo,
        ver_hi,
    ]
}

/// The full configuration descriptor (wTotalLength bytes).
pub fn config_descriptor(board: &Board) -> Vec<u8> {
    let alts = board.alt_settings();
    let total = 9 + 9 * alts.len() + 9;
    let [total_lo, total_hi] = (total as u16).to_le_bytes();
    let mut d = vec![
        9,
        TYPE_CONFIGURATION,
        total_lo,
        total_hi,
        1,    // bNumInterfaces
        1,    // bConfigurationValue
        2,    // iConfiguration (ST)
        0xC0, // bmAttributes
        0x32, // bMaxPower, 2 mA units
    ];
    for alt in &alts {
        d.extend_from_slice(&[
            9,
            TYPE_INTERFACE,
            0, // bInterfaceNumber
            alt.alt,
            0, // bNumEndpoints
            DFU_CLASS,
            DFU_SUBCLASS,
            DFU_PROTOCOL_DFU_MODE,
            STRING_FIRST_ALT + alt.alt,
        ]);
    }
    d.extend_from_slice(&functional_descriptor(board));
    d
}

/// The text of string descriptor `index`, if the device has one. The
/// serial is the bootloader's: `00000000010C` on r3/r4, the device id in
/// upper case on r5, lower case on r6 (REFERENCE §1).
pub fn string(board: &Board, device_id: &[u8; 12], index: u8) -> Option<String> {
    match index {
        STRING_MANUFACTURER => Some(board.platform.dfu_manufacturer.to_string()),
        STRING_PRODUCT => Some(board.platform.dfu_product.to_string()),
        STRING_SERIAL => Some(board.bootloader.serial.render(device_id)),
        STRING_CONFIGURATION => Some("DFU Config".into()),
        STRING_INTERFACE => Some("DFU Interface".into()),
        STRING_MS_OS if board.bootloader.ms_os_descriptors => None,
        i if i >= STRING_FIRST_ALT => board.alt_name(i - STRING_FIRST_ALT).map(str::to_string),
        _ => None,
    }
}

/// String descriptor `index` as sent on the wire (index 0: the language
/// list). The ST code ignores the language id, and so does this.
pub fn string_descriptor(board: &Board, device_id: &[u8; 12], index: u8) -> Option<Vec<u8>> {
    if index == 0 {
        let [lo, hi] = LANG_EN_US.to_le_bytes();
        return Some(vec![4, TYPE_STRING, lo, hi]);
    }
    if index == STRING_MS_OS && board.bootloader.ms_os_descriptors {
        // "MSFT100", then bMS_VendorCode and a pad byte.
        let mut d = vec![18, TYPE_STRING];
        for u in "MSFT100".encode_utf16() {
            d.extend_from_slice(&u.to_le_bytes());
        }
        d.extend_from_slice(&[MS_VENDOR_CODE, 0]);
        return Some(d);
    }
    let text = string(board, device_id, index)?;
    let units: Vec<u16> = text.encode_utf16().take(126).collect();
    let mut d = vec![(2 + 2 * units.len()) as u8, TYPE_STRING];
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    Some(d)
}

/// Standard-request state of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UsbRegs {
    /// bConfigurationValue (the host's USB stack sets 1 at enumeration).
    pub configuration: u8,
    /// Selected alt setting of interface 0.
    pub alt: u8,
}

impl Default for UsbRegs {
    fn default() -> Self {
        UsbRegs {
            configuration: 1,
            alt: 0,
        }
    }
}

/// The extended compat id OS feature descriptor: interface 0 is `WINUSB`,
/// so Windows binds WinUSB without a driver install (r5/r6, REFERENCE §1).
pub fn ms_compat_id_descriptor() -> Vec<u8> {
    let mut d = Vec::with_capacity(40);
    d.extend_from_slice(&40u32.to_le_bytes()); // dwLength
    d.extend_from_slice(&0x0100u16.to_le_bytes()); // bcdVersion
    d.extend_from_slice(&MS_COMPAT_ID_INDEX.to_le_bytes()); // wIndex
    d.push(1); // bCount
    d.extend_from_slice(&[0; 7]);
    d.push(0); // bFirstInterfaceNumber
    d.push(1); // reserved
    d.extend_from_slice(b"WINUSB\0\0");
    d.extend_from_slice(&[0; 8]); // subCompatibleID
    d.extend_from_slice(&[0; 6]);
    d
}

/// A vendor request: only the Microsoft OS compat-id request on r5/r6.
pub(crate) fn vendor_request(board: &Board, setup: &Setup) -> Option<Vec<u8>> {
    let device_in = setup.request_type == 0xC0;
    if board.bootloader.ms_os_descriptors
        && device_in
        && setup.request == MS_VENDOR_CODE
        && setup.index == MS_COMPAT_ID_INDEX
    {
        let mut d = ms_compat_id_descriptor();
        d.truncate(usize::from(setup.length));
        return Some(d);
    }
    None
}

/// Answer a standard request; `None` = STALL.
pub(crate) fn standard_request(
    board: &Board,
    device_id: &[u8; 12],
    regs: &mut UsbRegs,
    setup: &Setup,
) -> Option<Vec<u8>> {
    let is_in = setup.request_type & 0x80 != 0;
    let recipient = setup.request_type & 0x1F;
    let [index, kind] = setup.value.to_le_bytes();
    let reply = match (setup.request, is_in, recipient) {
        (GET_DESCRIPTOR, true, 0) => match kind {
            TYPE_DEVICE => device_descriptor(board).to_vec(),
            TYPE_CONFIGURATION if index == 0 => config_descriptor(board),
            TYPE_STRING => string_descriptor(board, device_id, index)?,
            _ => return None,
        },
        (GET_DESCRIPTOR, true, 1) if kind == TYPE_DFU_FUNCTIONAL => {
            functional_descriptor(board).to_vec()
        }
        (REQ_GET_STATUS, true, 0) => vec![0x01, 0x00], // self-powered, as bmAttributes says
        (REQ_GET_STATUS, true, 1 | 2) => vec![0x00, 0x00],
        (REQ_GET_CONFIGURATION, true, 0) => vec![regs.configuration],
        (REQ_SET_CONFIGURATION, false, 0) if setup.value <= 1 => {
            regs.configuration = setup.value as u8;
            regs.alt = 0;
            Vec::new()
        }
        (REQ_GET_INTERFACE, true, 1) if setup.index == 0 && regs.configuration != 0 => {
            vec![regs.alt]
        }
        (REQ_SET_INTERFACE, false, 1)
            if setup.index == 0
                && regs.configuration != 0
                && board
                    .alt_settings()
                    .iter()
                    .any(|a| u16::from(a.alt) == setup.value) =>
        {
            regs.alt = setup.value as u8;
            Vec::new()
        }
        (REQ_SET_ADDRESS | REQ_CLEAR_FEATURE | REQ_SET_FEATURE, false, _) => Vec::new(),
        _ => return None,
    };
    let mut reply = reply;
    reply.truncate(usize::from(setup.length));
    Some(reply)
}
