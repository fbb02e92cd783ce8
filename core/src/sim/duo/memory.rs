//! The media behind the alt settings (REFERENCE §1): internal flash and
//! serial flash as raw NOR, and alt 1 as the bootloader's DCT layer
//! (`usbd_dct_if.c`) over the DCT region of internal flash.
//!
//! NOR semantics (REFERENCE §1): erase sets a whole sector to 0xFF;
//! programming can only clear bits (`new = old & data`). Programming a 1
//! over a 0 is not an error: the STM32F2 flash controller has no flag for it
//! and the media layer does not verify, so the bits simply stay 0 — a
//! read-back shows it. Serial-flash writes never erase first and always
//! report success. A write or erase the medium refuses (outside its map, a
//! read-only sector, a DCT address past 0x3FFF) is a [`Failure::Refused`]:
//! the GETSTATUS that runs it stalls.
//!
//! Every operation returns how long the part really takes
//! ([`crate::platform::timing`]); the DFU class holds the bus that long.

use std::path::Path;
use std::time::Duration;

use crate::dct::DctImage;
use crate::platform::timing::{self, DctWrite, Figure};
use crate::platform::{Board, FlashMap, Platform};

use super::media::{media_of, Media, MediaKind};
use super::store::{FlashFile, INTERNAL_FLASH_FILE, SERIAL_FLASH_FILE};
use super::SimError;

/// Why a media operation did not happen.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The medium refused the operation (the device stalls).
    Refused,
    /// The state directory failed underneath the device.
    Io(SimError),
}

impl From<SimError> for Failure {
    fn from(e: SimError) -> Self {
        Failure::Io(e)
    }
}

/// Bytes the read-only bootloader sectors hold on a virtual device: any
/// recognisable non-erased content will do, since nothing reads it.
const BOOTLOADER_FILL: &[u8] = b"virtual Duo bootloader (read-only) ";

#[derive(Debug)]
pub(crate) struct Memory {
    platform: &'static Platform,
    board: Board,
    media: Vec<Media>,
    /// Address of the first byte of internal flash (0x08000000).
    internal_base: u32,
    internal: FlashFile,
    serial: Option<FlashFile>,
}

impl Memory {
    /// Fresh flash images: internal flash erased except the bootloader
    /// sectors and the DCT region (`dct_image`); serial flash erased.
    pub fn create(dir: &Path, board: Board, dct_image: &[u8]) -> Result<Self, SimError> {
        let platform = board.platform;
        let media = media_of(&board).map_err(SimError::Platform)?;
        let internal_base = internal_base(&media)?;
        let mut internal = vec![0xFF; platform.internal_flash_size];
        fill_bootloader(&mut internal, internal_base, board.flash_map());
        let dct_start = (board.flash_map().dct_region_addr - internal_base) as usize;
        internal[dct_start..dct_start + dct_image.len()].copy_from_slice(dct_image);
        let internal = FlashFile::create(&dir.join(INTERNAL_FLASH_FILE), internal)?;
        let serial = match platform.serial_flash_size {
            0 => None,
            n => Some(FlashFile::create(
                &dir.join(SERIAL_FLASH_FILE),
                vec![0xFF; n],
            )?),
        };
        Memory::checked(board, media, internal_base, internal, serial)
    }

    pub fn open(dir: &Path, board: Board) -> Result<Self, SimError> {
        let platform = board.platform;
        let media = media_of(&board).map_err(SimError::Platform)?;
        let internal_base = internal_base(&media)?;
        let internal =
            FlashFile::open(&dir.join(INTERNAL_FLASH_FILE), platform.internal_flash_size)?;
        let serial = match platform.serial_flash_size {
            0 => None,
            n => Some(FlashFile::open(&dir.join(SERIAL_FLASH_FILE), n)?),
        };
        Memory::checked(board, media, internal_base, internal, serial)
    }

    /// Every raw memory map must fit its image.
    fn checked(
        board: Board,
        media: Vec<Media>,
        internal_base: u32,
        internal: FlashFile,
        serial: Option<FlashFile>,
    ) -> Result<Self, SimError> {
        for m in &media {
            let image_len = match m.kind {
                MediaKind::InternalFlash => internal.len(),
                MediaKind::SerialFlash => serial.as_ref().map_or(0, FlashFile::len),
                MediaKind::Dct => continue,
            };
            let span = m.map.segments.iter().map(|s| s.end()).max().unwrap_or(0)
                - u64::from(m.map.start());
            if span > image_len as u64 {
                return Err(SimError::Platform(format!(
                    "alt {} declares {span} bytes but its flash image has {image_len}",
                    m.alt
                )));
            }
        }
        Ok(Memory {
            platform: board.platform,
            board,
            media,
            internal_base,
            internal,
            serial,
        })
    }

    /// The firmware installed a new bootloader (REFERENCE §1: 0.3.x over
    /// r3/r4). When the flash map changes generation, the 32 KiB bootloader
    /// is written over the old DCT1 (0x08004000–0x08007FFF) and the DCT is
    /// then read at 0x08008000, whose first partition is the old DCT2: if
    /// the old DCT1 was current, the keys and credentials are gone and the
    /// firmware finds an erased table (given a fresh header).
    pub fn install_bootloader(&mut self, board: Board) -> Result<(), SimError> {
        let (old, new) = (self.board.flash_map(), board.flash_map());
        let media = media_of(&board).map_err(SimError::Platform)?;
        if old != new {
            let end = (new.bootloader_end - self.internal_base) as usize;
            let mut boot = self.internal()[..end].to_vec();
            fill_bootloader(&mut boot, self.internal_base, new);
            self.internal.store(0, &boot)?;
        }
        self.board = board;
        self.media = media;
        if old != new
            && DctImage::from_bytes(self.platform, self.dct_region())
                .and_then(|image| image.current_partition())
                .is_err()
        {
            self.fresh_dct()?;
        }
        Ok(())
    }

    /// No current partition: DCT1 is erased and given a fresh header
    /// (REFERENCE §2, "Which partition is current").
    fn fresh_dct(&mut self) -> Result<(), SimError> {
        let range = self.dct_region_range();
        let mut region = vec![0xFF; range.len()];
        let part = self.platform.dct_partition_size;
        region[..4].copy_from_slice(&(part as u32).to_le_bytes());
        region[4..8].copy_from_slice(&(part as u32).to_le_bytes());
        region[8] = 0; // write_incomplete
        region[9] = 1; // is_current_dct
        region[10] = 1; // app_valid
        region[12..16].copy_from_slice(&crate::dct::WICED_MAGIC);
        self.internal.store(range.start, &region)
    }

    pub fn internal(&self) -> &[u8] {
        self.internal.bytes()
    }

    pub fn serial(&self) -> Option<&[u8]> {
        self.serial.as_ref().map(FlashFile::bytes)
    }

    fn media(&self, alt: u8) -> Result<&Media, Failure> {
        self.media
            .iter()
            .find(|m| m.alt == alt)
            .ok_or(Failure::Refused)
    }

    /// The flash image behind a raw medium and the offset of `addr` in it.
    fn raw(&mut self, kind: MediaKind, addr: u32, start: u32) -> (&mut FlashFile, usize) {
        match kind {
            MediaKind::SerialFlash => (
                self.serial.as_mut().expect("checked at open"),
                (addr - start) as usize,
            ),
            _ => (&mut self.internal, (addr - self.internal_base) as usize),
        }
    }

    /// The (erase, write) times the alt's medium declares, if `pointer`
    /// lies in it (`None`: no medium answers and bwPollTimeout stays).
    pub fn declared_ms(&self, alt: u8, pointer: u32) -> Option<(u32, u32)> {
        let media = self.media(alt).ok()?;
        media.map.sector_at(u64::from(pointer))?;
        Some(media.declared_ms(&self.board))
    }

    /// Erase the sector holding `addr`; returns the time it takes.
    pub fn erase(&mut self, alt: u8, addr: u32) -> Result<Duration, Failure> {
        let media = self.media(alt)?.clone();
        if media.kind == MediaKind::Dct {
            // `DCT_If_Erase` is a no-op that succeeds.
            return Ok(Duration::ZERO);
        }
        let sector = media
            .map
            .sector_at(u64::from(addr))
            .ok_or(Failure::Refused)?;
        if !sector.perms.erasable {
            return Err(Failure::Refused);
        }
        let (flash, offset) = self.raw(media.kind, sector.start, media.map.start());
        flash.erase(offset, sector.size as usize)?;
        Ok(media.erase_time(sector.size))
    }

    /// Program `data` at `addr`; returns the time it takes.
    pub fn write(&mut self, alt: u8, addr: u32, data: &[u8]) -> Result<Duration, Failure> {
        let media = self.media(alt)?.clone();
        match media.kind {
            MediaKind::Dct => {
                // Only the start is checked (`DCT_If_CheckAdd`); r6 reaches
                // the DCT through system part 2 (REFERENCE §1, "Alt 1").
                if addr >= 0x4000 || !self.board.dct_alt_works() {
                    return Err(Failure::Refused);
                }
                match self.app_dct_write(addr as usize, data) {
                    Ok(done) => Ok(Duration::from_micros(timing::dct_write_us(
                        done,
                        Figure::Typical,
                    ))),
                    Err(SimError::Dct(_)) => Err(Failure::Refused),
                    Err(e) => Err(Failure::Io(e)),
                }
            }
            MediaKind::SerialFlash => {
                // Never erases first, always reports success; bytes past
                // the map are dropped.
                let end = u64::from(addr) + data.len() as u64;
                let map_end = media.map.contiguous_end(u64::from(addr));
                if map_end > u64::from(addr) {
                    let n = (end.min(map_end) - u64::from(addr)) as usize;
                    let (flash, offset) = self.raw(media.kind, addr, media.map.start());
                    flash.program(offset, &data[..n])?;
                }
                Ok(media.program_time(data.len()))
            }
            MediaKind::InternalFlash => {
                let sectors = media
                    .map
                    .sectors_in(u64::from(addr), data.len() as u64)
                    .map_err(|_| Failure::Refused)?;
                if sectors.iter().any(|s| !s.perms.writable) {
                    return Err(Failure::Refused);
                }
                let (flash, offset) = self.raw(media.kind, addr, media.map.start());
                flash.program(offset, data)?;
                Ok(media.program_time(data.len()))
            }
        }
    }

    /// Up to `len` bytes from `addr`. Raw media are cut short at the end of
    /// the map (how a DfuSe host notices the end of an upload); the DCT alt
    /// reads on past the application DCT with no length check, and on r6
    /// without valid system firmware reads zeros.
    pub fn read(&mut self, alt: u8, addr: u32, len: usize) -> Result<Vec<u8>, Failure> {
        let media = self.media(alt)?.clone();
        let addr64 = u64::from(addr);
        if media.kind == MediaKind::Dct {
            if addr >= 0x4000 {
                return Err(Failure::Refused);
            }
            if !self.board.dct_alt_works() {
                return Ok(vec![0; len]);
            }
            return Ok(self.app_dct_read(addr as usize, len));
        }
        if media.map.segment_at(addr64).is_none() {
            return Err(Failure::Refused);
        }
        let n = (len as u64).min(media.map.contiguous_end(addr64) - addr64) as usize;
        let (flash, offset) = self.raw(media.kind, addr, media.map.start());
        Ok(flash.bytes()[offset..offset + n].to_vec())
    }

    fn dct_region_range(&self) -> std::ops::Range<usize> {
        let start = (self.board.flash_map().dct_region_addr - self.internal_base) as usize;
        start..start + 2 * self.platform.dct_partition_size
    }

    /// The DCT region (both partitions) as it is in internal flash.
    pub fn dct_region(&self) -> &[u8] {
        &self.internal()[self.dct_region_range()]
    }

    /// `dct_read_app_data`: bytes at `offset` of the application DCT of the
    /// current partition, read straight from flash (so a read past the
    /// partition returns whatever flash holds there, as on the device).
    /// A region with no valid current partition reads partition 0.
    pub fn app_dct_read(&self, offset: usize, len: usize) -> Vec<u8> {
        let partition = DctImage::from_bytes(self.platform, self.dct_region())
            .ok()
            .and_then(|image| image.current_partition().ok())
            .unwrap_or(0);
        let start = self.dct_region_range().start
            + partition * self.platform.dct_partition_size
            + self.platform.app_dct_offset
            + offset;
        let flash = self.internal();
        let mut out = flash[start.min(flash.len())..(start + len).min(flash.len())].to_vec();
        out.resize(len, 0xFF);
        out
    }

    /// `dct_write_app_data` as RedBear's WICED library does it
    /// (REFERENCE §2): identical data is not written; on firmware ≤ 0.3.1 a
    /// change that only clears bits is programmed in place in the current
    /// partition; otherwise the whole partition is copied with the change
    /// into the other one, which becomes current, and (≤ 0.3.1) the old
    /// partition is erased completely. 0.3.2+ always copies and ends the new
    /// partition with the WICED 3.7 trailer (sequence and CRC,
    /// [`crate::dct::image`]). Like the device, it accepts any write that
    /// ends within the partition (before the trailer on 0.3.2+).
    pub fn app_dct_write(&mut self, offset: usize, data: &[u8]) -> Result<DctWrite, SimError> {
        let mut image = DctImage::from_bytes(self.platform, self.dct_region())?;
        let current = image.current_partition()?;
        let part = self.platform.dct_partition_size;
        let limit = part - self.platform.app_dct_offset;
        if offset
            .checked_add(data.len())
            .map_or(true, |end| end > limit)
        {
            // Refused by the bounds check of the image's own write.
            image.write_app_data(offset, data)?;
        }
        let at =
            self.dct_region_range().start + current * part + self.platform.app_dct_offset + offset;
        let old = self.internal()[at..at + data.len()].to_vec();
        if old == data {
            return Ok(DctWrite::Identical);
        }
        let always_copies = self.board.firmware.is_some_and(|f| f.dct_always_copies);
        let clears_only = old.iter().zip(data).all(|(o, d)| o & d == *d);
        if clears_only && !always_copies {
            self.internal.program(at, data)?;
            return Ok(DctWrite::InPlace { len: data.len() });
        }
        if always_copies {
            // 0.3.2+: the WICED 3.7 scheme, sequence and CRC in a trailer.
            image.write_app_data_sequenced(offset, data)?;
        } else {
            image.write_app_data(offset, data)?;
        }
        let mut bytes = image.into_bytes();
        let erase_old = !always_copies;
        if erase_old {
            bytes[current * part..(current + 1) * part].fill(0xFF);
        }
        let start = self.dct_region_range().start;
        self.internal.store(start, &bytes)?;
        Ok(DctWrite::Copy {
            partition: part,
            erase_old,
        })
    }
}

/// The bootloader's sectors hold recognisable non-erased bytes.
fn fill_bootloader(internal: &mut [u8], internal_base: u32, map: &FlashMap) {
    let end = (map.bootloader_end - internal_base) as usize;
    for (i, b) in internal[..end].iter_mut().enumerate() {
        *b = BOOTLOADER_FILL[i % BOOTLOADER_FILL.len()];
    }
}

fn internal_base(media: &[Media]) -> Result<u32, SimError> {
    media
        .iter()
        .find(|m| m.kind == MediaKind::InternalFlash)
        .map(|m| m.map.start())
        .ok_or_else(|| SimError::Platform("the platform declares no internal flash alt".into()))
}
