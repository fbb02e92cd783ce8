//! The virtual Duo's memories, as its alt-setting strings declare them, and
//! the time each medium declares for its operations.
//!
//! The sector maps are not listed here a second time: they are the DfuSe
//! memory-layout strings of [`crate::platform::Board::alt_settings`]
//! parsed by the host's own [`MemoryLayout`] (REFERENCE §1), so what
//! `dfu-util -l` prints is exactly what the device enforces.

use crate::dfu::layout::MemoryLayout;
use crate::platform::Board;

/// What backs an alt setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// The STM32's own flash (alt 0), raw NOR.
    InternalFlash,
    /// The application DCT through `dct_write_app_data` (alt 1, REFERENCE §1 "Alt 1").
    Dct,
    /// The external SPI flash (alt 2), raw NOR.
    SerialFlash,
}

/// One alt setting of the device: its kind and memory map.
#[derive(Debug, Clone)]
pub struct Media {
    pub alt: u8,
    pub kind: MediaKind,
    pub map: MemoryLayout,
}

impl Media {
    /// Declared erase time of the sector at `addr`, in ms, before time scaling.
    ///
    /// - Internal flash: STM32F205 datasheet typical sector erase times at
    ///   x32 parallelism (2.7–3.6 V): 16 KiB 250 ms, 64 KiB 550 ms, 128 KiB
    ///   1 s. (The Duo bootloader itself declares 5 ms and then holds the bus
    ///   with NAKs for the real erase time; the simulator cannot NAK, so it
    ///   declares the physical time instead.)
    /// - Serial flash: typical SPI NOR 4 KiB sector erase, ~45 ms
    ///   (Macronix MX25L16-class parts: 40–60 ms typical; part not verified).
    /// - DCT: 1 ms, the no-op erase `usbd_dct_if.c` declares (REFERENCE §1).
    pub fn erase_ms(&self, sector_size: u32) -> u32 {
        match self.kind {
            MediaKind::InternalFlash => match sector_size {
                0..=16384 => 250,
                16385..=65536 => 550,
                _ => 1000,
            },
            MediaKind::SerialFlash => 45,
            MediaKind::Dct => 1,
        }
    }

    /// Declared programming time, in ms before time scaling, of one
    /// download block. ST's DFU class reports one fixed time per medium, and
    /// uses it for every command block that is not an erase too.
    ///
    /// - Internal flash: 4 KiB = 1024 words at the datasheet's typical 16 µs
    ///   per 32-bit word → 17 ms.
    /// - Serial flash: 16 pages of 256 bytes at ~0.7 ms typical → 12 ms.
    /// - DCT: 500 ms, `dct_write_app_data`'s declared time (REFERENCE §1).
    pub fn program_ms(&self) -> u32 {
        match self.kind {
            MediaKind::InternalFlash => 17,
            MediaKind::SerialFlash => 12,
            MediaKind::Dct => 500,
        }
    }
}

/// The media of a board, one per alt setting, in alt order.
pub fn media_of(board: &Board) -> Result<Vec<Media>, String> {
    let platform = board.platform;
    board
        .alt_settings()
        .iter()
        .map(|a| {
            let map = MemoryLayout::parse(a.name).map_err(|e| e.to_string())?;
            let kind = if a.alt == platform.dct_alt {
                MediaKind::Dct
            } else if map.name.contains("Internal") {
                MediaKind::InternalFlash
            } else if map.name.contains("Serial") {
                MediaKind::SerialFlash
            } else {
                return Err(format!(
                    "alt {} ({:?}) is no memory the simulator knows",
                    a.alt, a.name
                ));
            };
            Ok(Media {
                alt: a.alt,
                kind,
                map,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{Board, DUO};

    #[test]
    fn duo_alt_settings_map_to_internal_flash_dct_and_serial_flash() {
        let media = media_of(&Board::factory(&DUO)).unwrap();
        let kinds: Vec<MediaKind> = media.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [
                MediaKind::InternalFlash,
                MediaKind::Dct,
                MediaKind::SerialFlash
            ]
        );
        assert_eq!(media[0].map.start(), 0x0800_0000);
        assert_eq!(media[0].program_ms(), 17);
        assert_eq!(media[0].erase_ms(128 * 1024), 1000);
        assert_eq!((media[1].program_ms(), media[1].erase_ms(16384)), (500, 1));
    }
}
