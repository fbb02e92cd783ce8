//! Platform data: what each supported board *is* (USB ids, DFU memory
//! layouts, DCT geometry and field table), kept as one table per platform so
//! that transports and protocol code never hard-code a board's constants.
//!
//! Source: `REFERENCE.md` §1 (USB identities, DFU strings) and §2 (DCT).

/// One field of the application DCT, as seen through DFU alt 1 (REFERENCE §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Name used on the command line (`duoprov dct get NAME`) and in JSON.
    pub name: &'static str,
    /// Byte offset in the application DCT (the DfuSe address on alt 1).
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

impl Field {
    /// One past the last byte of the field.
    pub const fn end(&self) -> usize {
        self.offset + self.size
    }
}

const fn f(name: &'static str, offset: usize, size: usize) -> Field {
    Field { name, offset, size }
}

/// Application DCT field table of REFERENCE §2. Photon and P1 share offsets
/// 0..2976 with the Duo (Particle `dct.h` asserts them statically); the rest is
/// the Duo's layout, which Device OS also uses for the other Gen 2 boards.
pub const APP_DCT_FIELDS: &[Field] = &[
    f("system_flags", 0, 32),
    f("version", 32, 2),
    f("device_private_key", 34, 1216),
    f("device_public_key", 1250, 384),
    f("ip_config", 1634, 24),
    f("unused", 1658, 96),
    f("feature_flags", 1754, 4),
    f("country_code", 1758, 4),
    f("claim_code", 1762, 63),
    f("claimed", 1825, 1),
    f("ssid_prefix", 1826, 26),
    f("device_code", 1852, 6),
    f("version_string", 1858, 32),
    f("dns_resolve", 1890, 128),
    f("reserved1", 2018, 64),
    f("server_public_key", 2082, 768),
    f("padding", 2850, 2),
    f("flash_modules", 2852, 100),
    f("product_store", 2952, 24),
    f("antenna_selection", 2976, 1),
    f("cloud_transport", 2977, 1),
    f("alt_device_public_key", 2978, 128),
    f("alt_device_private_key", 3106, 192),
    f("alt_server_public_key", 3298, 192),
    f("alt_server_address", 3490, 128),
    f("device_id", 3618, 12),
    f("radio_flags", 3630, 1),
    f("mode_button_mirror", 3631, 32),
    f("led_mirror", 3663, 96),
    f("led_theme", 3759, 64),
    f("reserved2", 3823, 435),
    f("extra_system_flags", 4258, 32),
];

/// Size of the application DCT (end of `extra_system_flags`).
pub const APP_DCT_SIZE: usize = 4290;

/// Bytes of the private key slot the firmware reads at boot
/// (`HAL_FLASH_Read_CorePrivateKey`), and what particle-cli reads back.
pub const PRIVATE_KEY_READ_LEN: usize = 612;

/// Look up a field of the application DCT by name.
pub fn field(name: &str) -> Option<&'static Field> {
    APP_DCT_FIELDS.iter().find(|f| f.name == name)
}

/// Look up a field by name, panicking if it is not in the table. For the
/// fixed names the library itself uses.
pub(crate) fn known_field(name: &str) -> &'static Field {
    field(name).unwrap_or_else(|| panic!("field {name} missing from APP_DCT_FIELDS"))
}

/// A DfuSe alt setting as the bootloader declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AltSetting {
    pub alt: u8,
    /// Exact interface string (DfuSe memory layout), including the odd spacing.
    pub name: &'static str,
}

/// Everything that identifies one board family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// Short name used on the command line: `duo`, `photon`, `p1`.
    pub name: &'static str,
    /// Human name.
    pub display_name: &'static str,
    /// Particle platform id (the "product id 88" of the Duo guide).
    pub platform_id: u16,
    pub usb_vid: u16,
    /// PID when running firmware.
    pub normal_pid: u16,
    /// PID in DFU mode (bootloader).
    pub dfu_pid: u16,
    /// bcdDevice reported in DFU mode.
    pub bcd_device: u16,
    /// Serial string the bootloader reports (constant on Duo bootloaders).
    pub dfu_serial: &'static str,
    /// DFU alt settings in interface order.
    pub alt_settings: &'static [AltSetting],
    /// wTransferSize of the DFU functional descriptor.
    pub transfer_size: u16,
    /// Internal flash address of the DCT region (two partitions).
    pub dct_region_addr: u32,
    /// Size of one DCT partition.
    pub dct_partition_size: usize,
    /// Offset of the application DCT inside a partition.
    pub app_dct_offset: usize,
    /// The alt setting that maps onto the application DCT.
    pub dct_alt: u8,
    /// Size of internal flash in bytes.
    pub internal_flash_size: usize,
    /// Size of external serial flash (0 = none).
    pub serial_flash_size: usize,
}

impl Platform {
    /// The factory DCT image the vendor ships for this board, if we have one
    /// (the Duo's `fac-dct-r1.bin`; none for the Photon and P1).
    pub fn factory_dct_image(&self) -> Option<&'static [u8]> {
        (self.platform_id == DUO.platform_id).then_some(crate::FACTORY_DCT_IMAGE)
    }

    /// The device private key slot (application-DCT offset 34, 1216 bytes:
    /// REFERENCE §2), the same on every Gen 2 board.
    pub fn key_slot(&self) -> &'static Field {
        known_field("device_private_key")
    }

    /// Bytes of the key slot the firmware reads at boot.
    pub fn key_read_len(&self) -> usize {
        PRIVATE_KEY_READ_LEN
    }

    /// How to put this board into DFU mode by hand (its buttons).
    pub fn enter_dfu_hint(&self) -> &'static str {
        crate::error::HOLD_SETUP_TEXT
    }

    pub fn alt_name(&self, alt: u8) -> Option<&'static str> {
        self.alt_settings
            .iter()
            .find(|a| a.alt == alt)
            .map(|a| a.name)
    }
}

/// Alt settings exactly as `dfu-util -l` prints them on a real Duo (REFERENCE §1).
pub const DUO_ALT_SETTINGS: &[AltSetting] = &[
    AltSetting {
        alt: 0,
        name: "@Internal Flash   /0x08000000/01*016Ka,02*016Kg,01*016Kg,01*064Kg,07*128Kg",
    },
    AltSetting {
        alt: 1,
        name: "@DCT Flash   /0x00000000/01*016Kg",
    },
    AltSetting {
        alt: 2,
        name: "@Serial Flash   /0x00000000/192*004Kg,128*004Kg,64*004Kg,128*004Kg",
    },
];

pub const DUO: Platform = Platform {
    name: "duo",
    display_name: "RedBear Duo",
    platform_id: 88,
    usb_vid: 0x2b04,
    normal_pid: 0xc058,
    dfu_pid: 0xd058,
    bcd_device: 0x0200,
    dfu_serial: "00000000010C",
    alt_settings: DUO_ALT_SETTINGS,
    transfer_size: 4096,
    dct_region_addr: 0x0800_8000,
    dct_partition_size: 16 * 1024,
    app_dct_offset: 0x1D7C,
    dct_alt: 1,
    internal_flash_size: 1024 * 1024,
    serial_flash_size: 2 * 1024 * 1024,
};

// Photon and P1: USB ids and platform ids are from REFERENCE §1. Their DFU
// strings have not been checked against a board here; they are taken to be
// the Duo's internal-flash and DCT layouts (same STM32F205, same bootloader
// family), and the Photon has no serial flash.
const PHOTON_ALT_SETTINGS: &[AltSetting] = &[DUO_ALT_SETTINGS[0], DUO_ALT_SETTINGS[1]];

pub const PHOTON: Platform = Platform {
    name: "photon",
    display_name: "Particle Photon",
    platform_id: 6,
    normal_pid: 0xc006,
    dfu_pid: 0xd006,
    alt_settings: PHOTON_ALT_SETTINGS,
    serial_flash_size: 0,
    ..DUO
};

pub const P1: Platform = Platform {
    name: "p1",
    display_name: "Particle P1",
    platform_id: 8,
    normal_pid: 0xc008,
    dfu_pid: 0xd008,
    ..DUO
};

/// Every supported platform.
pub const PLATFORMS: &[&Platform] = &[&DUO, &PHOTON, &P1];

/// Find a platform by its DFU-mode USB ids.
pub fn by_dfu_ids(vid: u16, pid: u16) -> Option<&'static Platform> {
    PLATFORMS
        .iter()
        .copied()
        .find(|p| p.usb_vid == vid && p.dfu_pid == pid)
}

/// Find a platform by its normal-mode (firmware) USB ids.
pub fn by_normal_ids(vid: u16, pid: u16) -> Option<&'static Platform> {
    PLATFORMS
        .iter()
        .copied()
        .find(|p| p.usb_vid == vid && p.normal_pid == pid)
}

/// Find a platform by name (`duo`, `photon`, `p1`) or platform id.
pub fn by_name(name: &str) -> Option<&'static Platform> {
    let lower = name.to_ascii_lowercase();
    PLATFORMS
        .iter()
        .copied()
        .find(|p| p.name == lower || p.platform_id.to_string() == lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_table_is_contiguous_and_ends_at_4290() {
        let mut next = 0;
        for f in APP_DCT_FIELDS {
            assert_eq!(f.offset, next, "gap or overlap before {}", f.name);
            next = f.end();
        }
        assert_eq!(next, APP_DCT_SIZE);
    }

    #[test]
    fn platform_lookup_by_usb_ids() {
        assert_eq!(by_dfu_ids(0x2b04, 0xd058).unwrap().name, "duo");
        assert_eq!(by_dfu_ids(0x2b04, 0xd006).unwrap().platform_id, 6);
        assert_eq!(by_normal_ids(0x2b04, 0xc008).unwrap().name, "p1");
        assert!(by_dfu_ids(0x2b04, 0xc058).is_none());
        assert_eq!(by_name("88").unwrap().name, "duo");
    }
}
