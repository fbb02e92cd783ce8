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
    f("device_private_key", 34, DEVICE_PRIVATE_KEY_SIZE),
    f("device_public_key", 1250, DEVICE_PUBLIC_KEY_SIZE),
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
    f("server_public_key", 2082, SERVER_PUBLIC_KEY_SIZE),
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

/// The device private key slot (application-DCT offset 34, REFERENCE §2).
pub const DEVICE_PRIVATE_KEY_SIZE: usize = 1216;
/// The device public key slot (offset 1250).
pub const DEVICE_PUBLIC_KEY_SIZE: usize = 384;
/// The server public key field (offset 2082): key DER, address TLV, port.
pub const SERVER_PUBLIC_KEY_SIZE: usize = 768;

/// The factory DCT region image RedBear ships for the Duo (`fac-dct-r1.bin`,
/// both 16 KiB partitions; key slots erased).
pub const DUO_FACTORY_DCT_IMAGE: &[u8] = include_bytes!("../../assets/fac-dct-r1.bin");

/// The button sequence that enters DFU mode on every Gen 2 board.
pub const GEN2_DFU_BUTTONS: &str =
    "hold SETUP, tap RESET, release SETUP when the LED blinks yellow";

/// Size of the application DCT (end of `extra_system_flags`).
pub const APP_DCT_SIZE: usize = 4290;

/// Bytes of the private key slot the firmware reads at boot
/// (`HAL_FLASH_Read_CorePrivateKey`), and what particle-cli reads back.
pub const PRIVATE_KEY_READ_LEN: usize = 612;

pub mod board;
mod dct_layout;
pub mod timing;

pub use board::{Board, BoardError, Bootloader, DctLayout, Firmware, FlashMap, SerialStyle};

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

/// Everything that identifies one board family. What depends on the
/// bootloader revision or the system firmware is in [`board`].
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
    /// Manufacturer and product strings in DFU mode.
    pub dfu_manufacturer: &'static str,
    pub dfu_product: &'static str,
    /// DFU alt settings after alt 0 (whose string is the flash map's).
    pub other_alts: &'static [AltSetting],
    /// The internal-flash map generations its bootloaders present.
    pub flash_maps: &'static [&'static FlashMap],
    /// Bootloader revisions, oldest first.
    pub bootloaders: &'static [&'static Bootloader],
    /// System firmware versions, oldest first (empty: not modelled).
    pub firmwares: &'static [&'static Firmware],
    /// Index in `bootloaders` / `firmwares` of what a factory board has.
    pub factory_bootloader: usize,
    pub factory_firmware: Option<usize>,
    /// wTransferSize of the DFU functional descriptor.
    pub transfer_size: u16,
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
    /// The vendor's factory DCT region image, if we have one.
    pub factory_dct: Option<&'static [u8]>,
    /// How to put the board into DFU mode by hand (its buttons).
    pub dfu_buttons: &'static str,
}

impl Platform {
    /// The factory DCT image the vendor ships for this board, if we have one
    /// (the Duo's `fac-dct-r1.bin`; none for the Photon and P1).
    pub fn factory_dct_image(&self) -> Option<&'static [u8]> {
        self.factory_dct
    }

    /// The DCT region a new virtual board of this platform starts from:
    /// its factory image, or, for a board we have none for, the Duo's
    /// (every Gen 2 board shares its partition geometry and field table).
    pub fn initial_dct_image(&self) -> &'static [u8] {
        self.factory_dct.unwrap_or(DUO_FACTORY_DCT_IMAGE)
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
        self.dfu_buttons
    }

    /// The factory board's alt settings (alt 0 of its flash map first).
    pub fn factory_alt_settings(&'static self) -> Vec<AltSetting> {
        Board::factory(self).alt_settings()
    }

    /// The bootloader revision called `name` (`r4`).
    pub fn bootloader(&'static self, name: &str) -> Result<&'static Bootloader, BoardError> {
        let wanted = name.trim().to_ascii_lowercase();
        self.bootloaders
            .iter()
            .copied()
            .find(|b| b.name == wanted)
            .ok_or_else(|| BoardError::UnknownBootloader {
                platform: self.display_name,
                name: name.to_string(),
                choices: self.bootloader_names().join(", "),
            })
    }

    /// The system firmware called `name` (`0.2.4`), or `none`.
    pub fn firmware(&'static self, name: &str) -> Result<Option<&'static Firmware>, BoardError> {
        let wanted = name.trim().to_ascii_lowercase();
        if wanted == "none" {
            return Ok(None);
        }
        let wanted = wanted.trim_start_matches('v');
        self.firmwares
            .iter()
            .copied()
            .find(|f| f.version == wanted)
            .map(Some)
            .ok_or_else(|| BoardError::UnknownFirmware {
                platform: self.display_name,
                name: name.to_string(),
                choices: self.firmware_names().join(", "),
            })
    }

    pub fn bootloader_names(&self) -> Vec<&'static str> {
        self.bootloaders.iter().map(|b| b.name).collect()
    }

    /// Firmware versions and `none`.
    pub fn firmware_names(&self) -> Vec<&'static str> {
        self.firmwares
            .iter()
            .map(|f| f.version)
            .chain(std::iter::once("none"))
            .collect()
    }

    /// The flash-map generation whose alt-0 string is `alt0` (REFERENCE §1):
    /// how the host tells where a real board keeps its bootloader and DCT.
    pub fn flash_map_for_alt0(&self, alt0: &str) -> Option<&'static FlashMap> {
        self.flash_maps.iter().copied().find(|m| m.alt0 == alt0)
    }
}

/// Alt settings 1 and 2 exactly as `dfu-util -l` prints them on a real Duo
/// (REFERENCE §1); alt 0 is the flash map's ([`board::DUO_MAP_16K`] on a
/// factory board).
pub const DUO_OTHER_ALTS: &[AltSetting] = &[
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
    dfu_manufacturer: "RedBear",
    dfu_product: "Duo DFU Mode",
    other_alts: DUO_OTHER_ALTS,
    flash_maps: board::DUO_FLASH_MAPS,
    bootloaders: board::DUO_BOOTLOADERS,
    firmwares: board::DUO_FIRMWARES,
    factory_bootloader: 1,
    factory_firmware: Some(0),
    transfer_size: 4096,
    dct_partition_size: 16 * 1024,
    app_dct_offset: 0x1D7C,
    dct_alt: 1,
    internal_flash_size: 1024 * 1024,
    serial_flash_size: 2 * 1024 * 1024,
    factory_dct: Some(DUO_FACTORY_DCT_IMAGE),
    dfu_buttons: GEN2_DFU_BUTTONS,
};

// Photon and P1: alt settings from Particle's Device OS v0.6.2 sources
// (REFERENCE §1, "Photon and P1"). Manufacturer and product strings are not
// given there: "Particle" and "<board> DFU Mode" are assumptions.
const PHOTON_OTHER_ALTS: &[AltSetting] = &[DUO_OTHER_ALTS[0]];

const P1_OTHER_ALTS: &[AltSetting] = &[
    DUO_OTHER_ALTS[0],
    AltSetting {
        alt: 2,
        name: "@Serial Flash   /0x00000000/256*004Kg",
    },
];

pub const PHOTON: Platform = Platform {
    name: "photon",
    display_name: "Particle Photon",
    platform_id: 6,
    normal_pid: 0xc006,
    dfu_pid: 0xd006,
    dfu_manufacturer: "Particle",
    dfu_product: "Photon DFU Mode",
    other_alts: PHOTON_OTHER_ALTS,
    flash_maps: board::PARTICLE_FLASH_MAPS,
    bootloaders: board::PARTICLE_BOOTLOADERS,
    firmwares: &[],
    factory_bootloader: 0,
    factory_firmware: None,
    serial_flash_size: 0,
    factory_dct: None,
    ..DUO
};

pub const P1: Platform = Platform {
    name: "p1",
    display_name: "Particle P1",
    platform_id: 8,
    normal_pid: 0xc008,
    dfu_pid: 0xd008,
    dfu_product: "P1 DFU Mode",
    other_alts: P1_OTHER_ALTS,
    serial_flash_size: 1024 * 1024,
    ..PHOTON
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

    #[test]
    fn photon_has_two_alts_and_p1_a_one_mib_serial_flash() {
        let photon = PHOTON.factory_alt_settings();
        assert_eq!(photon.len(), 2);
        assert_eq!(
            photon[0].name,
            "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"
        );
        let p1 = P1.factory_alt_settings();
        assert_eq!(p1[2].name, "@Serial Flash   /0x00000000/256*004Kg");
        assert_eq!(P1.serial_flash_size, 1 << 20);
    }

    #[test]
    fn factory_duo_is_r4_with_0_2_4_and_the_16k_bootloader_map() {
        let b = Board::factory(&DUO);
        assert_eq!(
            (b.bootloader.name, b.firmware.unwrap().version),
            ("r4", "0.2.4")
        );
        assert_eq!(b.flash_map().dct_region_addr, 0x0800_4000);
        let r6 = Board::by_names(&DUO, "r6", "0.3.3").unwrap();
        assert_eq!(r6.flash_map().dct_region_addr, 0x0800_8000);
        assert_eq!(
            DUO.flash_map_for_alt0(r6.alt_settings()[0].name),
            Some(&board::DUO_MAP_32K)
        );
        assert!(matches!(
            Board::by_names(&DUO, "r6", "0.2.4"),
            Err(BoardError::Incompatible { .. })
        ));
        let upgraded = Board::by_names(&DUO, "r4", "0.3.3").unwrap().after_boot();
        assert_eq!(upgraded.bootloader.name, "r6");
        assert!(!Board::by_names(&DUO, "r6", "none").unwrap().dct_alt_works());
    }
}
