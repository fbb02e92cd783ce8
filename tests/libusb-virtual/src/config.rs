//! The configuration descriptor as libusb hands it out: parsed from the bytes
//! the device sends into `libusb_config_descriptor` / `libusb_interface` /
//! `libusb_interface_descriptor`, with every class-specific descriptor in the
//! `extra` bytes libusb would put it in.
//!
//! libusb's rule (`descriptor.c`, `parse_configuration` / `parse_interface`):
//! bytes between the configuration descriptor and the first interface
//! descriptor are the configuration's `extra`; bytes after an interface
//! descriptor up to the next interface (or endpoint) descriptor are that
//! altsetting's `extra`; consecutive interface descriptors with the same
//! bInterfaceNumber are the altsettings of one `libusb_interface`. The Duo
//! (ST's DFU class, REFERENCE §1) sends one DFU functional descriptor after
//! its last alt setting, so it is the `extra` of alt 2 — where dfu-util
//! looks for it.

use std::ffi::c_int;
use std::ptr;

use crate::abi::{libusb_config_descriptor, libusb_interface, libusb_interface_descriptor};

const DESC_CONFIGURATION: u8 = 2;
const DESC_INTERFACE: u8 = 4;
const DESC_ENDPOINT: u8 = 5;

/// Why the stand-in refuses a configuration descriptor (never for the
/// virtual Duo's own; kept so a bad change there is an error, not UB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A descriptor's bLength runs past the data or is below 2.
    Truncated { offset: usize },
    /// Not a configuration descriptor at offset 0.
    NotAConfiguration,
    /// bNumInterfaces does not match the interface descriptors present.
    InterfaceCount { declared: u8, found: usize },
    /// The stand-in builds no endpoint descriptors: the DFU interface has none.
    Endpoints { interface: u8, alt: u8 },
}

/// One altsetting: its 9 interface descriptor bytes and its extra bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltSetting {
    pub descriptor: [u8; 9],
    pub extra: Vec<u8>,
}

/// A configuration descriptor split the way libusb splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedConfig {
    pub header: [u8; 9],
    pub extra: Vec<u8>,
    /// Interfaces in order of appearance, each with its altsettings.
    pub interfaces: Vec<Vec<AltSetting>>,
}

/// Split `bytes` (wTotalLength bytes of GET_DESCRIPTOR(CONFIGURATION)).
pub fn parse(bytes: &[u8]) -> Result<ParsedConfig, ConfigError> {
    let mut descriptors = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let len = usize::from(bytes[offset]);
        if len < 2 || offset + len > bytes.len() {
            return Err(ConfigError::Truncated { offset });
        }
        descriptors.push(&bytes[offset..offset + len]);
        offset += len;
    }
    let (first, rest) = descriptors
        .split_first()
        .ok_or(ConfigError::NotAConfiguration)?;
    if first.len() < 9 || first[1] != DESC_CONFIGURATION {
        return Err(ConfigError::NotAConfiguration);
    }
    let mut header = [0u8; 9];
    header.copy_from_slice(&first[..9]);
    let mut config = ParsedConfig {
        header,
        extra: Vec::new(),
        interfaces: Vec::new(),
    };
    for d in rest {
        match d[1] {
            DESC_INTERFACE if d.len() >= 9 => {
                let mut descriptor = [0u8; 9];
                descriptor.copy_from_slice(&d[..9]);
                if descriptor[4] != 0 {
                    return Err(ConfigError::Endpoints {
                        interface: descriptor[2],
                        alt: descriptor[3],
                    });
                }
                let alt = AltSetting {
                    descriptor,
                    extra: Vec::new(),
                };
                match config.interfaces.last_mut() {
                    Some(alts) if alts[0].descriptor[2] == descriptor[2] => alts.push(alt),
                    _ => config.interfaces.push(vec![alt]),
                }
            }
            DESC_ENDPOINT => {
                return Err(ConfigError::Endpoints {
                    interface: 0,
                    alt: 0,
                })
            }
            _ => match config
                .interfaces
                .last_mut()
                .and_then(|alts| alts.last_mut())
            {
                Some(alt) => alt.extra.extend_from_slice(d),
                None => config.extra.extend_from_slice(d),
            },
        }
    }
    if usize::from(header[4]) != config.interfaces.len() {
        return Err(ConfigError::InterfaceCount {
            declared: header[4],
            found: config.interfaces.len(),
        });
    }
    Ok(config)
}

/// The C structs and the memory they point into, freed together by
/// `libusb_free_config_descriptor`. `repr(C)` with `descriptor` first, so a
/// pointer to this is a valid `libusb_config_descriptor *` and converts back.
/// The pointers inside point into the heap buffers of the other fields,
/// which never move or change while this lives.
#[repr(C)]
pub struct ConfigAlloc {
    descriptor: libusb_config_descriptor,
    _interfaces: Vec<libusb_interface>,
    _altsettings: Vec<Vec<libusb_interface_descriptor>>,
    _extras: Vec<Vec<u8>>,
}

/// `(pointer, length)` of an extra block; NULL when empty, as in libusb.
fn extra_ptr(bytes: &[u8]) -> (*const u8, c_int) {
    if bytes.is_empty() {
        (ptr::null(), 0)
    } else {
        (bytes.as_ptr(), bytes.len() as c_int)
    }
}

impl ConfigAlloc {
    pub fn new(config: ParsedConfig) -> Box<ConfigAlloc> {
        let ParsedConfig {
            header,
            extra,
            interfaces,
        } = config;
        let mut extras: Vec<Vec<u8>> = Vec::new();
        let mut altsettings: Vec<Vec<libusb_interface_descriptor>> = Vec::new();
        for alts in interfaces {
            let mut built = Vec::with_capacity(alts.len());
            for AltSetting {
                descriptor: d,
                extra,
            } in alts
            {
                let (extra_p, extra_len) = extra_ptr(&extra);
                built.push(libusb_interface_descriptor {
                    bLength: d[0],
                    bDescriptorType: d[1],
                    bInterfaceNumber: d[2],
                    bAlternateSetting: d[3],
                    bNumEndpoints: d[4],
                    bInterfaceClass: d[5],
                    bInterfaceSubClass: d[6],
                    bInterfaceProtocol: d[7],
                    iInterface: d[8],
                    endpoint: ptr::null(),
                    extra: extra_p,
                    extra_length: extra_len,
                });
                // Moving the Vec keeps its heap buffer where `extra_p` points.
                extras.push(extra);
            }
            altsettings.push(built);
        }
        let interfaces: Vec<libusb_interface> = altsettings
            .iter()
            .map(|alts| libusb_interface {
                altsetting: alts.as_ptr(),
                num_altsetting: alts.len() as c_int,
            })
            .collect();
        let (extra_p, extra_len) = extra_ptr(&extra);
        let descriptor = libusb_config_descriptor {
            bLength: header[0],
            bDescriptorType: header[1],
            wTotalLength: u16::from_le_bytes([header[2], header[3]]),
            bNumInterfaces: header[4],
            bConfigurationValue: header[5],
            iConfiguration: header[6],
            bmAttributes: header[7],
            MaxPower: header[8],
            interface: if interfaces.is_empty() {
                ptr::null()
            } else {
                interfaces.as_ptr()
            },
            extra: extra_p,
            extra_length: extra_len,
        };
        extras.push(extra);
        Box::new(ConfigAlloc {
            descriptor,
            _interfaces: interfaces,
            _altsettings: altsettings,
            _extras: extras,
        })
    }

    pub fn descriptor(&self) -> &libusb_config_descriptor {
        &self.descriptor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duo_provisioning::platform::{Board, DUO};
    use duo_provisioning::sim::duo::usb;

    #[test]
    fn dfu_functional_descriptor_is_the_extra_of_the_last_alt_setting() {
        let board = Board::factory(&DUO);
        let config = parse(&usb::config_descriptor(&board)).unwrap();
        assert!(config.extra.is_empty());
        assert_eq!(config.interfaces.len(), 1);
        let alts = &config.interfaces[0];
        assert_eq!(alts.len(), 3);
        assert!(alts[0].extra.is_empty() && alts[1].extra.is_empty());
        assert_eq!(
            alts[2].extra,
            usb::functional_descriptor(&Board::factory(&DUO)).to_vec()
        );
        for (i, alt) in alts.iter().enumerate() {
            assert_eq!(alt.descriptor[3], i as u8, "bAlternateSetting");
            assert_eq!(&alt.descriptor[5..8], &[0xFE, 0x01, 0x02]);
        }
    }

    #[test]
    fn c_structs_point_at_the_parsed_bytes() {
        let alloc =
            ConfigAlloc::new(parse(&usb::config_descriptor(&Board::factory(&DUO))).unwrap());
        let d = alloc.descriptor();
        assert_eq!((d.bNumInterfaces, d.bConfigurationValue), (1, 1));
        assert!(d.extra.is_null() && d.extra_length == 0);
        // SAFETY: the pointers were built above from live Vecs owned by `alloc`.
        let (iface, alt2_extra) = unsafe {
            let iface = &*d.interface;
            let alt2 = &*iface.altsetting.add(2);
            (
                (
                    iface.num_altsetting,
                    alt2.bAlternateSetting,
                    alt2.iInterface,
                ),
                std::slice::from_raw_parts(alt2.extra, alt2.extra_length as usize).to_vec(),
            )
        };
        assert_eq!(iface, (3, 2, 8));
        assert_eq!(
            alt2_extra,
            usb::functional_descriptor(&Board::factory(&DUO)).to_vec()
        );
    }

    #[test]
    fn descriptors_the_stand_in_cannot_represent_are_refused() {
        let mut bytes = usb::config_descriptor(&Board::factory(&DUO));
        bytes[9 + 4] = 1; // alt 0 claims an endpoint
        assert_eq!(
            parse(&bytes),
            Err(ConfigError::Endpoints {
                interface: 0,
                alt: 0
            })
        );
        let bytes = usb::config_descriptor(&Board::factory(&DUO));
        assert_eq!(
            parse(&bytes[..bytes.len() - 1]),
            Err(ConfigError::Truncated { offset: 36 })
        );
        assert_eq!(parse(&[]), Err(ConfigError::NotAConfiguration));
    }
}
