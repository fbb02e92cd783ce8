//! The libusb-1.0 C ABI this stand-in speaks: struct layouts, error codes and
//! constants copied from `/usr/include/libusb-1.0/libusb.h` (libusb 1.0.26).
//! Field names keep the header's spelling so the two can be compared line by
//! line.

#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{c_char, c_int, CStr};

pub const LIBUSB_SUCCESS: c_int = 0;
pub const LIBUSB_ERROR_IO: c_int = -1;
pub const LIBUSB_ERROR_INVALID_PARAM: c_int = -2;
pub const LIBUSB_ERROR_ACCESS: c_int = -3;
pub const LIBUSB_ERROR_NO_DEVICE: c_int = -4;
pub const LIBUSB_ERROR_NOT_FOUND: c_int = -5;
pub const LIBUSB_ERROR_BUSY: c_int = -6;
pub const LIBUSB_ERROR_TIMEOUT: c_int = -7;
pub const LIBUSB_ERROR_OVERFLOW: c_int = -8;
pub const LIBUSB_ERROR_PIPE: c_int = -9;
pub const LIBUSB_ERROR_INTERRUPTED: c_int = -10;
pub const LIBUSB_ERROR_NO_MEM: c_int = -11;
pub const LIBUSB_ERROR_NOT_SUPPORTED: c_int = -12;
pub const LIBUSB_ERROR_OTHER: c_int = -99;

/// `enum libusb_standard_request` (USB 2.0 §9.4).
pub const LIBUSB_REQUEST_GET_DESCRIPTOR: u8 = 0x06;
pub const LIBUSB_REQUEST_GET_CONFIGURATION: u8 = 0x08;
pub const LIBUSB_REQUEST_SET_CONFIGURATION: u8 = 0x09;

/// `enum libusb_descriptor_type`.
pub const LIBUSB_DT_DEVICE: u8 = 0x01;
pub const LIBUSB_DT_CONFIG: u8 = 0x02;
pub const LIBUSB_DT_STRING: u8 = 0x03;

/// `enum libusb_option`.
pub const LIBUSB_OPTION_LOG_LEVEL: c_int = 0;
pub const LIBUSB_OPTION_USE_USBDK: c_int = 1;
pub const LIBUSB_OPTION_NO_DEVICE_DISCOVERY: c_int = 2;

/// `enum libusb_capability`.
pub const LIBUSB_CAP_HAS_CAPABILITY: u32 = 0x0000;

/// `enum libusb_speed`: the STM32F2's OTG FS core runs at full speed.
pub const LIBUSB_SPEED_FULL: c_int = 2;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct libusb_device_descriptor {
    pub bLength: u8,
    pub bDescriptorType: u8,
    pub bcdUSB: u16,
    pub bDeviceClass: u8,
    pub bDeviceSubClass: u8,
    pub bDeviceProtocol: u8,
    pub bMaxPacketSize0: u8,
    pub idVendor: u16,
    pub idProduct: u16,
    pub bcdDevice: u16,
    pub iManufacturer: u8,
    pub iProduct: u8,
    pub iSerialNumber: u8,
    pub bNumConfigurations: u8,
}

impl libusb_device_descriptor {
    /// The struct libusb fills from the 18 bytes on the wire.
    pub fn from_bytes(d: &[u8; 18]) -> Self {
        let word = |i: usize| u16::from_le_bytes([d[i], d[i + 1]]);
        libusb_device_descriptor {
            bLength: d[0],
            bDescriptorType: d[1],
            bcdUSB: word(2),
            bDeviceClass: d[4],
            bDeviceSubClass: d[5],
            bDeviceProtocol: d[6],
            bMaxPacketSize0: d[7],
            idVendor: word(8),
            idProduct: word(10),
            bcdDevice: word(12),
            iManufacturer: d[14],
            iProduct: d[15],
            iSerialNumber: d[16],
            bNumConfigurations: d[17],
        }
    }
}

/// Only declared so `libusb_interface_descriptor.endpoint` has its C type:
/// the DFU interface has no endpoints, so none is ever built.
#[repr(C)]
pub struct libusb_endpoint_descriptor {
    pub bLength: u8,
    pub bDescriptorType: u8,
    pub bEndpointAddress: u8,
    pub bmAttributes: u8,
    pub wMaxPacketSize: u16,
    pub bInterval: u8,
    pub bRefresh: u8,
    pub bSynchAddress: u8,
    pub extra: *const u8,
    pub extra_length: c_int,
}

#[repr(C)]
#[derive(Debug)]
pub struct libusb_interface_descriptor {
    pub bLength: u8,
    pub bDescriptorType: u8,
    pub bInterfaceNumber: u8,
    pub bAlternateSetting: u8,
    pub bNumEndpoints: u8,
    pub bInterfaceClass: u8,
    pub bInterfaceSubClass: u8,
    pub bInterfaceProtocol: u8,
    pub iInterface: u8,
    pub endpoint: *const libusb_endpoint_descriptor,
    pub extra: *const u8,
    pub extra_length: c_int,
}

#[repr(C)]
#[derive(Debug)]
pub struct libusb_interface {
    pub altsetting: *const libusb_interface_descriptor,
    pub num_altsetting: c_int,
}

#[repr(C)]
#[derive(Debug)]
pub struct libusb_config_descriptor {
    pub bLength: u8,
    pub bDescriptorType: u8,
    pub wTotalLength: u16,
    pub bNumInterfaces: u8,
    pub bConfigurationValue: u8,
    pub iConfiguration: u8,
    pub bmAttributes: u8,
    pub MaxPower: u8,
    pub interface: *const libusb_interface,
    pub extra: *const u8,
    pub extra_length: c_int,
}

#[repr(C)]
pub struct libusb_version {
    pub major: u16,
    pub minor: u16,
    pub micro: u16,
    pub nano: u16,
    pub rc: *const c_char,
    pub describe: *const c_char,
}

/// The version this stand-in reports: the libusb release whose header it
/// follows, marked as the stand-in in `describe`.
pub struct StaticVersion(pub libusb_version);

// SAFETY: the pointers inside point to 'static, immutable C string literals.
unsafe impl Sync for StaticVersion {}

pub static VERSION: StaticVersion = StaticVersion(libusb_version {
    major: 1,
    minor: 0,
    micro: 26,
    nano: 0,
    rc: c"".as_ptr(),
    describe: c"duo-provisioning libusb-virtual (virtual Duo stand-in)".as_ptr(),
});

/// `libusb_error_name`: the enum constant's name, as libusb returns it.
pub fn error_name(code: c_int) -> &'static CStr {
    match code {
        LIBUSB_SUCCESS => c"LIBUSB_SUCCESS / LIBUSB_TRANSFER_COMPLETED",
        LIBUSB_ERROR_IO => c"LIBUSB_ERROR_IO",
        LIBUSB_ERROR_INVALID_PARAM => c"LIBUSB_ERROR_INVALID_PARAM",
        LIBUSB_ERROR_ACCESS => c"LIBUSB_ERROR_ACCESS",
        LIBUSB_ERROR_NO_DEVICE => c"LIBUSB_ERROR_NO_DEVICE",
        LIBUSB_ERROR_NOT_FOUND => c"LIBUSB_ERROR_NOT_FOUND",
        LIBUSB_ERROR_BUSY => c"LIBUSB_ERROR_BUSY",
        LIBUSB_ERROR_TIMEOUT => c"LIBUSB_ERROR_TIMEOUT",
        LIBUSB_ERROR_OVERFLOW => c"LIBUSB_ERROR_OVERFLOW",
        LIBUSB_ERROR_PIPE => c"LIBUSB_ERROR_PIPE",
        LIBUSB_ERROR_INTERRUPTED => c"LIBUSB_ERROR_INTERRUPTED",
        LIBUSB_ERROR_NO_MEM => c"LIBUSB_ERROR_NO_MEM",
        LIBUSB_ERROR_NOT_SUPPORTED => c"LIBUSB_ERROR_NOT_SUPPORTED",
        LIBUSB_ERROR_OTHER => c"LIBUSB_ERROR_OTHER",
        _ => c"**UNKNOWN**",
    }
}

/// `libusb_strerror`: libusb's English descriptions.
pub fn strerror(code: c_int) -> &'static CStr {
    match code {
        LIBUSB_SUCCESS => c"Success",
        LIBUSB_ERROR_IO => c"Input/Output Error",
        LIBUSB_ERROR_INVALID_PARAM => c"Invalid parameter",
        LIBUSB_ERROR_ACCESS => c"Access denied (insufficient permissions)",
        LIBUSB_ERROR_NO_DEVICE => c"No such device (it may have been disconnected)",
        LIBUSB_ERROR_NOT_FOUND => c"Entity not found",
        LIBUSB_ERROR_BUSY => c"Resource busy",
        LIBUSB_ERROR_TIMEOUT => c"Operation timed out",
        LIBUSB_ERROR_OVERFLOW => c"Overflow",
        LIBUSB_ERROR_PIPE => c"Pipe error",
        LIBUSB_ERROR_INTERRUPTED => c"System call interrupted (perhaps due to signal)",
        LIBUSB_ERROR_NO_MEM => c"Insufficient memory",
        LIBUSB_ERROR_NOT_SUPPORTED => c"Operation not supported or unimplemented on this platform",
        LIBUSB_ERROR_OTHER => c"Other error",
        _ => c"Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The offsets a C compiler gives libusb.h's structs on LP64 Linux.
    #[test]
    fn struct_layouts_match_libusb_h() {
        assert_eq!(size_of::<libusb_device_descriptor>(), 18);
        assert_eq!(offset_of!(libusb_device_descriptor, idVendor), 8);
        assert_eq!(offset_of!(libusb_device_descriptor, bNumConfigurations), 17);
        assert_eq!(offset_of!(libusb_interface_descriptor, endpoint), 16);
        assert_eq!(offset_of!(libusb_interface_descriptor, extra), 24);
        assert_eq!(offset_of!(libusb_interface_descriptor, extra_length), 32);
        assert_eq!(size_of::<libusb_interface_descriptor>(), 40);
        assert_eq!(size_of::<libusb_interface>(), 16);
        assert_eq!(offset_of!(libusb_config_descriptor, interface), 16);
        assert_eq!(offset_of!(libusb_config_descriptor, extra_length), 32);
        assert_eq!(size_of::<libusb_config_descriptor>(), 40);
        assert_eq!(offset_of!(libusb_version, rc), 8);
    }

    #[test]
    fn error_names_are_libusbs() {
        assert_eq!(error_name(LIBUSB_ERROR_PIPE), c"LIBUSB_ERROR_PIPE");
        assert_eq!(error_name(-1234), c"**UNKNOWN**");
        assert_eq!(strerror(LIBUSB_ERROR_BUSY), c"Resource busy");
    }
}
