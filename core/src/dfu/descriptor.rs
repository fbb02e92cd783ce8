//! Standard USB descriptors read with plain GET_DESCRIPTOR control transfers,
//! the way dfu-util reads them (REFERENCE §6), so the same probe works over
//! libusb and against the virtual Duo, which answers standard requests itself.
//!
//! The Duo's bootloader (ST's DFU class) sends one configuration with one
//! interface descriptor per alt setting (class 0xFE, subclass 0x01, protocol
//! 0x02, iInterface → the memory-layout string) and ONE DFU functional
//! descriptor after the last alt setting (REFERENCE §1).

use super::error::DfuError;
use super::protocol::Step;
use super::transport::{ControlTransport, Setup};

/// Standard request GET_DESCRIPTOR and the descriptor types (USB 2.0 §9.4).
pub const GET_DESCRIPTOR: u8 = 6;
pub const TYPE_DEVICE: u8 = 1;
pub const TYPE_CONFIGURATION: u8 = 2;
pub const TYPE_STRING: u8 = 3;
pub const TYPE_INTERFACE: u8 = 4;
/// DFU functional descriptor (DFU 1.1 §4.1.3).
pub const TYPE_DFU_FUNCTIONAL: u8 = 0x21;
/// US English, the language dfu-util asks for.
pub const LANG_EN_US: u16 = 0x0409;

/// Application-specific class, DFU subclass.
pub const DFU_CLASS: u8 = 0xFE;
pub const DFU_SUBCLASS: u8 = 0x01;
/// Protocol 1 = runtime (firmware running), 2 = DFU mode (bootloader).
pub const DFU_PROTOCOL_RUNTIME: u8 = 0x01;
pub const DFU_PROTOCOL_DFU_MODE: u8 = 0x02;
/// bcdDFUVersion of ST's DfuSe extension.
pub const DFUSE_VERSION: u16 = 0x011A;

/// The fields of the 18-byte device descriptor that DFU tooling uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceDescriptor {
    pub usb_version: u16,
    pub vendor_id: u16,
    pub product_id: u16,
    /// bcdDevice (0x0200 on Duo bootloaders).
    pub device_version: u16,
    pub manufacturer_index: u8,
    pub product_index: u8,
    pub serial_index: u8,
    pub num_configurations: u8,
}

impl DeviceDescriptor {
    pub fn parse(b: &[u8]) -> Result<Self, DfuError> {
        if b.len() < 18 || b[1] != TYPE_DEVICE {
            return Err(DfuError::Descriptor(format!(
                "device descriptor is {} bytes of type {}, expected 18 bytes of type 1",
                b.len(),
                b.get(1).copied().unwrap_or(0)
            )));
        }
        let w = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Ok(DeviceDescriptor {
            usb_version: w(2),
            vendor_id: w(8),
            product_id: w(10),
            device_version: w(12),
            manufacturer_index: b[14],
            product_index: b[15],
            serial_index: b[16],
            num_configurations: b[17],
        })
    }
}

/// The DFU functional descriptor (type 0x21): 9 bytes in DFU 1.1, 7 in DFU
/// 1.0 (no bcdDFUVersion; dfu-util then deduces version 1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionalDescriptor {
    pub attributes: u8,
    /// wDetachTimeOut in ms.
    pub detach_timeout_ms: u16,
    /// wTransferSize: the largest DNLOAD/UPLOAD block (4096 on the Duo).
    pub transfer_size: u16,
    /// bcdDFUVersion (0x011A = DfuSe; 0x0100 assumed for the 7-byte form).
    pub dfu_version: u16,
}

impl FunctionalDescriptor {
    pub fn parse(b: &[u8]) -> Result<Self, DfuError> {
        let len = b.first().copied().map(usize::from).unwrap_or(0);
        if b.len() < 7 || len < 7 || b[1] != TYPE_DFU_FUNCTIONAL {
            return Err(DfuError::Descriptor(format!(
                "DFU functional descriptor must be 7 or 9 bytes of type 0x21, got {:02x?}",
                b
            )));
        }
        let w = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let dfu_version = if len >= 9 && b.len() >= 9 {
            w(7)
        } else {
            0x0100
        };
        Ok(FunctionalDescriptor {
            attributes: b[2],
            detach_timeout_ms: w(3),
            transfer_size: w(5),
            dfu_version,
        })
    }

    /// bitCanDnload.
    pub fn can_download(&self) -> bool {
        self.attributes & 0x01 != 0
    }
    /// bitCanUpload.
    pub fn can_upload(&self) -> bool {
        self.attributes & 0x02 != 0
    }
    /// bitManifestationTolerant: the device stays in DFU after manifesting.
    pub fn manifestation_tolerant(&self) -> bool {
        self.attributes & 0x04 != 0
    }
    /// bitWillDetach: the device detaches itself on DETACH / after manifesting.
    pub fn will_detach(&self) -> bool {
        self.attributes & 0x08 != 0
    }
    pub fn is_dfuse(&self) -> bool {
        self.dfu_version == DFUSE_VERSION
    }
}

/// One DFU interface alt setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfuAltSetting {
    pub interface: u8,
    pub alt: u8,
    /// [`DFU_PROTOCOL_DFU_MODE`] or [`DFU_PROTOCOL_RUNTIME`].
    pub protocol: u8,
    pub name_index: u8,
    /// The iInterface string: a DfuSe memory layout in DFU mode.
    pub name: Option<String>,
}

/// The DFU part of a configuration descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfuConfig {
    pub configuration_value: u8,
    pub alt_settings: Vec<DfuAltSetting>,
    /// The first functional descriptor found (the Duo sends exactly one).
    pub functional: Option<FunctionalDescriptor>,
}

impl DfuConfig {
    /// Walk a full configuration descriptor (wTotalLength bytes).
    pub fn parse(b: &[u8]) -> Result<Self, DfuError> {
        if b.len() < 9 || b[1] != TYPE_CONFIGURATION {
            return Err(DfuError::Descriptor(format!(
                "configuration descriptor is {} bytes, expected at least 9 of type 2",
                b.len()
            )));
        }
        let mut config = DfuConfig {
            configuration_value: b[5],
            alt_settings: Vec::new(),
            functional: None,
        };
        let mut pos = usize::from(b[0]);
        while pos + 2 <= b.len() {
            let len = usize::from(b[pos]);
            if len < 2 || pos + len > b.len() {
                return Err(DfuError::Descriptor(format!(
                    "descriptor at byte {pos} of the configuration has length {len}, {} bytes remain",
                    b.len() - pos
                )));
            }
            let d = &b[pos..pos + len];
            match d[1] {
                TYPE_INTERFACE if len >= 9 && d[5] == DFU_CLASS && d[6] == DFU_SUBCLASS => {
                    config.alt_settings.push(DfuAltSetting {
                        interface: d[2],
                        alt: d[3],
                        protocol: d[7],
                        name_index: d[8],
                        name: None,
                    });
                }
                TYPE_DFU_FUNCTIONAL if config.functional.is_none() => {
                    config.functional = Some(FunctionalDescriptor::parse(d)?);
                }
                _ => {}
            }
            pos += len;
        }
        Ok(config)
    }
}

/// Everything the host learns about a DFU device before talking DFU to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device: DeviceDescriptor,
    pub serial: Option<String>,
    pub config: DfuConfig,
    pub functional: FunctionalDescriptor,
}

impl DeviceInfo {
    /// True if the device exposes a DFU-mode alt setting (it runs the bootloader).
    pub fn in_dfu_mode(&self) -> bool {
        self.config
            .alt_settings
            .iter()
            .any(|a| a.protocol == DFU_PROTOCOL_DFU_MODE)
    }

    /// The DFU-mode alt setting number `alt` of the DFU interface.
    pub fn alt(&self, alt: u8) -> Option<&DfuAltSetting> {
        self.config
            .alt_settings
            .iter()
            .find(|a| a.alt == alt && a.protocol == DFU_PROTOCOL_DFU_MODE)
    }

    /// `0 ("@Internal Flash …"), 1 (…)` for error messages.
    pub fn describe_alts(&self) -> String {
        let list: Vec<String> = self
            .config
            .alt_settings
            .iter()
            .filter(|a| a.protocol == DFU_PROTOCOL_DFU_MODE)
            .map(|a| format!("{} ({:?})", a.alt, a.name.as_deref().unwrap_or("")))
            .collect();
        if list.is_empty() {
            "no DFU alt settings".to_string()
        } else {
            format!("alt settings {}", list.join(", "))
        }
    }
}

fn get_descriptor<T: ControlTransport + ?Sized>(
    t: &mut T,
    kind: u8,
    index: u8,
    lang: u16,
    len: u16,
) -> Result<Vec<u8>, DfuError> {
    let setup = Setup {
        request_type: 0x80,
        request: GET_DESCRIPTOR,
        value: u16::from(kind) << 8 | u16::from(index),
        index: lang,
        length: len,
    };
    let mut buf = vec![0u8; usize::from(len)];
    let n = t
        .control_in(setup, &mut buf)
        .map_err(|e| DfuError::transport(&Step::ReadDescriptors, e))?;
    buf.truncate(n.min(buf.len()));
    Ok(buf)
}

/// Read the device descriptor.
pub fn read_device_descriptor<T: ControlTransport + ?Sized>(
    t: &mut T,
) -> Result<DeviceDescriptor, DfuError> {
    DeviceDescriptor::parse(&get_descriptor(t, TYPE_DEVICE, 0, 0, 18)?)
}

/// Read configuration `index` in full (header first for wTotalLength).
pub fn read_config<T: ControlTransport + ?Sized>(
    t: &mut T,
    index: u8,
) -> Result<DfuConfig, DfuError> {
    let head = get_descriptor(t, TYPE_CONFIGURATION, index, 0, 9)?;
    if head.len() < 4 {
        return Err(DfuError::Descriptor(format!(
            "configuration descriptor header is {} bytes",
            head.len()
        )));
    }
    let total = u16::from_le_bytes([head[2], head[3]]);
    DfuConfig::parse(&get_descriptor(t, TYPE_CONFIGURATION, index, 0, total)?)
}

/// The language to ask strings in: 0x0409 if offered (or nothing is offered).
pub fn read_language<T: ControlTransport + ?Sized>(t: &mut T) -> Result<u16, DfuError> {
    let b = get_descriptor(t, TYPE_STRING, 0, 0, 255)?;
    let langs: Vec<u16> = b
        .get(2..usize::from(b.first().copied().unwrap_or(0)).min(b.len()))
        .unwrap_or(&[])
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Ok(if langs.is_empty() || langs.contains(&LANG_EN_US) {
        LANG_EN_US
    } else {
        langs[0]
    })
}

/// Read and decode string descriptor `index` (UTF-16LE).
pub fn read_string<T: ControlTransport + ?Sized>(
    t: &mut T,
    index: u8,
    lang: u16,
) -> Result<String, DfuError> {
    let b = get_descriptor(t, TYPE_STRING, index, lang, 255)?;
    if b.len() < 2 || b[1] != TYPE_STRING {
        return Err(DfuError::Descriptor(format!(
            "string descriptor {index} is not a string descriptor ({:02x?})",
            &b[..b.len().min(4)]
        )));
    }
    let end = usize::from(b[0]).min(b.len());
    let units: Vec<u16> = b[2..end.max(2)]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Ok(String::from_utf16_lossy(&units))
}

/// Device descriptor, first configuration, its alt-setting names and the
/// serial string: what `dfu-util -l` shows.
pub fn probe<T: ControlTransport + ?Sized>(t: &mut T) -> Result<DeviceInfo, DfuError> {
    let device = read_device_descriptor(t)?;
    let config = read_config(t, 0)?;
    with_strings(t, device, config)
}

/// Complete descriptors the caller already has (e.g. libusb's cached copies,
/// which cost no transfers) with the strings only the device can give: the
/// alt-setting names (the DfuSe memory layouts) and the serial.
pub fn with_strings<T: ControlTransport + ?Sized>(
    t: &mut T,
    device: DeviceDescriptor,
    mut config: DfuConfig,
) -> Result<DeviceInfo, DfuError> {
    if config.alt_settings.is_empty() {
        return Err(DfuError::NoDfuInterface(format!(
            " on {:04x}:{:04x}",
            device.vendor_id, device.product_id
        )));
    }
    let functional = config.functional.ok_or_else(|| {
        DfuError::NoDfuInterface(": the configuration has no DFU functional descriptor".into())
    })?;
    let needs_strings =
        device.serial_index != 0 || config.alt_settings.iter().any(|a| a.name_index != 0);
    let mut serial = None;
    if needs_strings {
        let lang = read_language(t)?;
        for alt in &mut config.alt_settings {
            if alt.name_index != 0 {
                alt.name = Some(read_string(t, alt.name_index, lang)?);
            }
        }
        if device.serial_index != 0 {
            serial = Some(read_string(t, device.serial_index, lang)?);
        }
    }
    Ok(DeviceInfo {
        device,
        serial,
        config,
        functional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duo_functional_descriptor_9_bytes() {
        let f =
            FunctionalDescriptor::parse(&[9, 0x21, 0x0B, 0xFF, 0, 0x00, 0x10, 0x1A, 0x01]).unwrap();
        assert!(f.can_download() && f.can_upload() && f.will_detach());
        assert!(!f.manifestation_tolerant());
        assert_eq!(f.detach_timeout_ms, 255);
        assert_eq!(f.transfer_size, 4096);
        assert_eq!(f.dfu_version, 0x011A);
        assert!(f.is_dfuse());
    }

    #[test]
    fn dfu_1_0_functional_descriptor_7_bytes() {
        let f = FunctionalDescriptor::parse(&[7, 0x21, 0x07, 0x10, 0x00, 0x00, 0x08]).unwrap();
        assert!(f.can_download() && f.can_upload() && f.manifestation_tolerant());
        assert!(!f.will_detach());
        assert_eq!(f.detach_timeout_ms, 16);
        assert_eq!(f.transfer_size, 2048);
        assert_eq!(f.dfu_version, 0x0100);
        assert!(!f.is_dfuse());
        assert!(FunctionalDescriptor::parse(&[6, 0x21, 0, 0, 0, 0]).is_err());
        assert!(FunctionalDescriptor::parse(&[9, 0x24, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn configuration_with_one_functional_descriptor_after_the_last_alt() {
        let mut b = vec![9, 2, 0, 0, 1, 1, 0, 0x80, 50];
        for alt in 0..3u8 {
            b.extend_from_slice(&[9, 4, 0, alt, 0, 0xFE, 0x01, 0x02, 4 + alt]);
        }
        b.extend_from_slice(&[9, 0x21, 0x0B, 0xFF, 0, 0x00, 0x10, 0x1A, 0x01]);
        let total = b.len() as u16;
        b[2..4].copy_from_slice(&total.to_le_bytes());
        let c = DfuConfig::parse(&b).unwrap();
        assert_eq!(c.alt_settings.len(), 3);
        assert_eq!(c.alt_settings[2].alt, 2);
        assert_eq!(c.alt_settings[2].name_index, 6);
        assert_eq!(c.functional.unwrap().transfer_size, 4096);
        // A truncated descriptor is an error, not a panic.
        assert!(DfuConfig::parse(&b[..b.len() - 3]).is_err());
    }
}
