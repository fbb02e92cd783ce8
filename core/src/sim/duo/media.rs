//! The virtual Duo's memories, as its alt-setting strings declare them, and
//! the time each medium declares for its operations.
//!
//! The sector maps are not listed here a second time: they are the DfuSe
//! memory-layout strings of [`crate::platform::Board::alt_settings`]
//! parsed by the host's own [`MemoryLayout`] (REFERENCE §1), so what
//! `dfu-util -l` prints is exactly what the device enforces.

use crate::dfu::layout::MemoryLayout;
use std::time::Duration;

use crate::platform::timing::{self, Figure};
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
    /// The (erase, write) times the medium declares to the DFU class, ms
    /// before time scaling (REFERENCE §1): the DCT layer 1 / 500; internal
    /// and serial flash 5 / 5 on r3/r4, 0 / 0 on r5/r6. GETSTATUS reports
    /// them inverted ([`super::dfu`]).
    pub fn declared_ms(&self, board: &Board) -> (u32, u32) {
        match self.kind {
            MediaKind::Dct => (1, 500),
            _ => (
                board.bootloader.flash_poll_ms,
                board.bootloader.flash_poll_ms,
            ),
        }
    }

    /// How long erasing the sector of `sector_size` bytes really takes
    /// ([`timing`], datasheet typical figures); the DCT's erase is a no-op.
    pub fn erase_time(&self, sector_size: u32) -> Duration {
        Duration::from_micros(match self.kind {
            MediaKind::InternalFlash => timing::internal_erase_us(sector_size, Figure::Typical),
            MediaKind::SerialFlash => timing::serial_erase_us(Figure::Typical),
            MediaKind::Dct => 0,
        })
    }

    /// How long programming `len` raw bytes takes (DCT writes are timed by
    /// what the DCT layer did, [`timing::dct_write_us`]).
    pub fn program_time(&self, len: usize) -> Duration {
        Duration::from_micros(match self.kind {
            MediaKind::InternalFlash => timing::internal_program_us(len, Figure::Typical),
            MediaKind::SerialFlash => timing::serial_program_us(len, Figure::Typical),
            MediaKind::Dct => 0,
        })
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
        let r4 = Board::factory(&DUO);
        assert_eq!(media[0].declared_ms(&r4), (5, 5));
        assert_eq!(media[1].declared_ms(&r4), (1, 500));
        let r6 = Board::by_names(&DUO, "r6", "0.3.3").unwrap();
        assert_eq!(media[2].declared_ms(&r6), (0, 0));
        assert_eq!(media[0].erase_time(128 * 1024), Duration::from_secs(1));
        assert_eq!(media[0].program_time(4096), Duration::from_micros(16_384));
    }
}
