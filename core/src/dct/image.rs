//! The raw DCT region of internal flash (REFERENCE §2): two 16 KiB partitions
//! (at 0x08004000 on a Duo with firmware ≤ 0.2.4, 0x08008000 since 0.3.0,
//! [`crate::platform::FlashMap`]), each opening with the WICED platform DCT
//! header and holding the application DCT at `platform.app_dct_offset`.
//!
//! # Which partition is current
//!
//! As WICED's `wiced_dct_get_current_address` decides it: a partition is
//! *usable* when its header has the magic `BRCM`, `is_current_dct == 1` and
//! `write_incomplete == 0`. Partition 0 is taken if usable, else partition 1;
//! if both are usable (a write interrupted between its last two flag writes)
//! partition 0 wins, exactly as on the device. If neither is usable the
//! firmware would erase and re-initialise the table, so
//! [`DctImage::current_partition`] returns [`DctError::NoCurrentPartition`]
//! describing both headers.
//!
//! # How a write is done
//!
//! The order of WICED's `platform_write_dct`, one [`WriteStep`] each, with
//! NOR-flash semantics (erase sets 0xFF, programming can only clear bits):
//!
//! 1. [`WriteStep::EraseStandby`]: erase the standby partition;
//! 2. [`WriteStep::CopyBody`]: program everything after the header from the
//!    current partition, with the change applied. The standby header is still
//!    erased, so `write_incomplete` reads 0xFF and there is no magic;
//! 3. [`WriteStep::WriteHeader`]: program the header: `full_size`/`used_size`
//!    and `mfg_info_programmed` copied from the current header,
//!    `write_incomplete = 1`, `is_current_dct = 1`, `app_valid = 1`, `BRCM`;
//! 4. [`WriteStep::MarkComplete`]: clear `write_incomplete` on the new
//!    partition;
//! 5. [`WriteStep::RetireOld`]: clear `is_current_dct` on the old one, whose
//!    data is otherwise left as it was.
//!
//! Stopped after any step, the image still reads as the old table or the new
//! one, never a mix ([`DctImage::write_app_interrupted`] models power loss).
//!
//! # The WICED 3.7 trailer (firmware 0.3.2+)
//!
//! From 0.3.2 every write copies to the other partition and ends the new
//! partition with a 16-byte trailer holding a sequence number and a CRC
//! (REFERENCE §2). REFERENCE gives its size, place and content but not its
//! byte layout; this model writes [`DctTrailer`]: u32 LE sequence (the
//! current partition's + 1, or 1 when it has none), u32 LE CRC-32 (IEEE) of
//! the partition between the 16-byte header and the trailer, then 8 zero
//! bytes. The body copy of such a write stops before the trailer. When
//! choosing the current partition, a usable partition whose trailer is
//! written but whose CRC does not match its bytes is not usable, and of two
//! usable partitions with valid trailers the higher sequence wins. A
//! partition never written by 0.3.2+ has an erased trailer (0xFF) and is
//! judged by its header alone, as on ≤ 0.3.1.
//! Simplification: only the first 16 header bytes are treated as the header;
//! the rest of WICED's header struct is copied with the body.

use serde::Serialize;

use super::app::pad_to_field;
use super::{AppDct, DctError, ALT1_DUMP_MAX};
use crate::platform::{DctLayout, Platform, APP_DCT_SIZE};

/// `BOOTLOADER_MAGIC_NUMBER` as stored at bytes 12..16 of a partition.
pub const WICED_MAGIC: [u8; 4] = *b"BRCM";
/// Bytes of the header this module interprets (REFERENCE §2).
pub const WICED_HEADER_LEN: usize = 16;

const WRITE_INCOMPLETE: usize = 8;
const IS_CURRENT: usize = 9;
const APP_VALID: usize = 10;
const MFG_INFO: usize = 11;
const MAGIC: usize = 12;

/// Bytes of the WICED 3.7 trailer at the end of a partition (0.3.2+).
pub const DCT_TRAILER_LEN: usize = 16;

/// The WICED 3.7 trailer of a partition (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DctTrailer {
    pub sequence: u32,
    pub crc32: u32,
    /// Whether `crc32` matches the partition's bytes.
    pub crc_ok: bool,
}

impl DctTrailer {
    /// The trailer of partition bytes `p`, `None` while it is erased.
    fn parse(p: &[u8]) -> Option<Self> {
        let t = &p[p.len() - DCT_TRAILER_LEN..];
        if t.iter().all(|&b| b == 0xFF) {
            return None;
        }
        let sequence = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let crc32 = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        Some(DctTrailer {
            sequence,
            crc32,
            crc_ok: crc32 == trailer_crc(p),
        })
    }

    fn encode(sequence: u32, partition: &[u8]) -> [u8; DCT_TRAILER_LEN] {
        let mut t = [0u8; DCT_TRAILER_LEN];
        t[..4].copy_from_slice(&sequence.to_le_bytes());
        t[4..8].copy_from_slice(&trailer_crc(partition).to_le_bytes());
        t
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib) of a partition between its
/// header and its trailer.
fn trailer_crc(partition: &[u8]) -> u32 {
    crc32(&partition[WICED_HEADER_LEN..partition.len() - DCT_TRAILER_LEN])
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The WICED platform DCT header at the start of a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WicedHeader {
    pub full_size: u32,
    pub used_size: u32,
    pub write_incomplete: u8,
    pub is_current_dct: u8,
    pub app_valid: u8,
    pub mfg_info_programmed: u8,
    /// `BRCM`, or the four bytes in hex when they are not.
    pub magic: String,
    pub has_magic: bool,
    /// Magic present, `is_current_dct == 1`, `write_incomplete == 0`, and
    /// no WICED 3.7 trailer whose CRC fails.
    pub usable: bool,
    /// The WICED 3.7 trailer (0.3.2+), when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trailer: Option<DctTrailer>,
}

impl WicedHeader {
    fn parse(p: &[u8]) -> Self {
        let magic = &p[MAGIC..MAGIC + 4];
        let has_magic = magic == WICED_MAGIC;
        let trailer = DctTrailer::parse(p);
        let crc_fails = trailer.as_ref().is_some_and(|t| !t.crc_ok);
        WicedHeader {
            full_size: u32::from_le_bytes([p[0], p[1], p[2], p[3]]),
            used_size: u32::from_le_bytes([p[4], p[5], p[6], p[7]]),
            write_incomplete: p[WRITE_INCOMPLETE],
            is_current_dct: p[IS_CURRENT],
            app_valid: p[APP_VALID],
            mfg_info_programmed: p[MFG_INFO],
            magic: if has_magic {
                "BRCM".to_string()
            } else {
                hex::encode(magic)
            },
            has_magic,
            usable: has_magic && p[IS_CURRENT] == 1 && p[WRITE_INCOMPLETE] == 0 && !crc_fails,
            trailer,
        }
    }

    fn describe(&self) -> String {
        if !self.has_magic {
            format!("no BRCM magic (found {})", self.magic)
        } else if self.trailer.as_ref().is_some_and(|t| !t.crc_ok) {
            "its WICED 3.7 trailer's CRC does not match its bytes".to_string()
        } else {
            format!(
                "is_current_dct={}, write_incomplete={}",
                self.is_current_dct, self.write_incomplete
            )
        }
    }
}

/// One flash operation of a DCT write, in device order (see module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WriteStep {
    EraseStandby,
    CopyBody,
    WriteHeader,
    MarkComplete,
    RetireOld,
}

impl WriteStep {
    pub const ALL: [WriteStep; 5] = [
        WriteStep::EraseStandby,
        WriteStep::CopyBody,
        WriteStep::WriteHeader,
        WriteStep::MarkComplete,
        WriteStep::RetireOld,
    ];
}

/// The 32 KiB DCT region image (at the board's [`crate::platform::FlashMap::dct_region_addr`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DctImage {
    platform: &'static Platform,
    bytes: Vec<u8>,
    /// The firmware layout the application DCT is read in; `None`: what
    /// the current partition's system flags tell ([`super::choose_layout`]).
    layout: Option<DctLayout>,
}

impl DctImage {
    /// Exactly two partitions' worth of bytes. Header validity is not
    /// required here; [`DctImage::current_partition`] reports on it.
    pub fn from_bytes(platform: &'static Platform, bytes: &[u8]) -> Result<Self, DctError> {
        let part = platform.dct_partition_size;
        if platform.app_dct_offset < WICED_HEADER_LEN
            || platform.app_dct_offset + APP_DCT_SIZE > part
        {
            return Err(DctError::Geometry {
                platform: platform.name,
                detail: format!(
                    "application DCT at {:#x} (+{APP_DCT_SIZE} bytes) does not fit after the \
                     header of a {part}-byte partition",
                    platform.app_dct_offset
                ),
            });
        }
        if bytes.len() != 2 * part {
            return Err(DctError::ImageSize {
                size: bytes.len(),
                expected: 2 * part,
                partition: part,
            });
        }
        Ok(DctImage {
            platform,
            bytes: bytes.to_vec(),
            layout: None,
        })
    }

    /// Read the application DCT in `layout` (`None`: as the system flags tell).
    pub fn with_layout(mut self, layout: Option<DctLayout>) -> Self {
        self.layout = layout;
        self
    }

    pub fn platform(&self) -> &'static Platform {
        self.platform
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn part_size(&self) -> usize {
        self.platform.dct_partition_size
    }

    /// The bytes of partition 0 or 1.
    pub fn partition(&self, index: usize) -> Result<&[u8], DctError> {
        if index > 1 {
            return Err(DctError::NoSuchPartition { index });
        }
        let size = self.part_size();
        Ok(&self.bytes[index * size..(index + 1) * size])
    }

    pub fn header(&self, index: usize) -> Result<WicedHeader, DctError> {
        Ok(WicedHeader::parse(self.partition(index)?))
    }

    /// Index (0 or 1) of the current partition, by the rule in the module
    /// docs.
    pub fn current_partition(&self) -> Result<usize, DctError> {
        let headers = [self.header(0)?, self.header(1)?];
        if let [Some(a), Some(b)] = headers
            .clone()
            .map(|h| h.usable.then_some(h.trailer).flatten())
        {
            // Two usable 0.3.2+ partitions: the later write wins.
            return Ok(usize::from(b.sequence > a.sequence));
        }
        headers
            .iter()
            .position(|h| h.usable)
            .ok_or_else(|| DctError::NoCurrentPartition {
                detail: format!(
                    "partition 0: {}; partition 1: {}",
                    headers[0].describe(),
                    headers[1].describe()
                ),
            })
    }

    /// The application DCT of the current partition.
    pub fn app_dct(&self) -> Result<AppDct, DctError> {
        self.app_dct_of(self.current_partition()?)
    }

    /// The application DCT stored in a given partition, current or not.
    pub fn app_dct_of(&self, partition: usize) -> Result<AppDct, DctError> {
        let start = self.platform.app_dct_offset;
        let part = self.partition(partition)?;
        let (layout, source) = super::choose_layout(&part[start..], self.layout);
        let end = (start + layout.size().max(APP_DCT_SIZE)).min(part.len());
        Ok(
            AppDct::from_bytes_as(self.platform, layout, &part[start..end])?
                .with_layout_source(source),
        )
    }

    /// The size of the application DCT in the layout it is read in.
    fn app_size(&self) -> usize {
        self.app_dct()
            .map_or(APP_DCT_SIZE, |app| app.layout().size().max(APP_DCT_SIZE))
    }

    /// Apply `data` at application-DCT `offset` the way the device does:
    /// copy-on-write into the standby partition, then make it current.
    /// Writes must end within the application DCT (4290 bytes).
    pub fn write_app(&mut self, offset: usize, data: &[u8]) -> Result<(), DctError> {
        let limit = self.app_size();
        self.write_until(offset, data, limit, "application DCT", WriteStep::RetireOld)
    }

    /// [`DctImage::write_app`] with the device's own limit: `dct_write_app_data`
    /// accepts anything that ends within the partition, i.e. up to
    /// `dct_partition_size - app_dct_offset` (8836 bytes on a Duo) past the
    /// start of the application DCT. For a virtual device's alt-1 DNLOAD.
    pub fn write_app_data(&mut self, offset: usize, data: &[u8]) -> Result<(), DctError> {
        let limit = self.part_size() - self.platform.app_dct_offset;
        self.write_until(offset, data, limit, "DCT partition", WriteStep::RetireOld)
    }

    /// [`DctImage::write_app_data`] as firmware 0.3.2+ does it: the new
    /// partition also gets the WICED 3.7 trailer (module docs), so writes
    /// stop 16 bytes earlier.
    pub fn write_app_data_sequenced(&mut self, offset: usize, data: &[u8]) -> Result<(), DctError> {
        let limit = self.part_size() - DCT_TRAILER_LEN - self.platform.app_dct_offset;
        let old = self.current_partition()?;
        let sequence = self
            .header(old)?
            .trailer
            .map_or(1, |t| t.sequence.wrapping_add(1));
        self.write_steps(
            offset,
            data,
            limit,
            "DCT partition",
            WriteStep::RetireOld,
            Some(sequence),
        )
    }

    /// [`DctImage::write_app`] cut short after `last`: what flash holds when
    /// power is lost at that point.
    pub fn write_app_interrupted(
        &mut self,
        offset: usize,
        data: &[u8],
        last: WriteStep,
    ) -> Result<(), DctError> {
        self.write_until(offset, data, APP_DCT_SIZE, "application DCT", last)
    }

    fn write_until(
        &mut self,
        offset: usize,
        data: &[u8],
        limit: usize,
        what: &'static str,
        last: WriteStep,
    ) -> Result<(), DctError> {
        self.write_steps(offset, data, limit, what, last, None)
    }

    /// The write of the module docs; with `sequence`, the body stops before
    /// the trailer and the trailer is programmed with the body.
    fn write_steps(
        &mut self,
        offset: usize,
        data: &[u8],
        limit: usize,
        what: &'static str,
        last: WriteStep,
        sequence: Option<u32>,
    ) -> Result<(), DctError> {
        if offset
            .checked_add(data.len())
            .map_or(true, |end| end > limit)
        {
            return Err(DctError::OutOfBounds {
                offset,
                len: data.len(),
                limit,
                what,
            });
        }
        let old = self.current_partition()?;
        let new = 1 - old;
        let size = self.part_size();
        let (old_at, new_at) = (old * size, new * size);

        let body_end = size
            - if sequence.is_some() {
                DCT_TRAILER_LEN
            } else {
                0
            };
        let mut body = self.bytes[old_at + WICED_HEADER_LEN..old_at + body_end].to_vec();
        let at = self.platform.app_dct_offset - WICED_HEADER_LEN + offset;
        body[at..at + data.len()].copy_from_slice(data);
        let trailer = sequence.map(|seq| {
            let mut partition = vec![0xFF; size];
            partition[WICED_HEADER_LEN..body_end].copy_from_slice(&body);
            DctTrailer::encode(seq, &partition)
        });

        let mut header = [0u8; WICED_HEADER_LEN];
        header[..WRITE_INCOMPLETE].copy_from_slice(&self.bytes[old_at..old_at + WRITE_INCOMPLETE]);
        header[WRITE_INCOMPLETE] = 1;
        header[IS_CURRENT] = 1;
        header[APP_VALID] = 1;
        header[MFG_INFO] = self.bytes[old_at + MFG_INFO];
        header[MAGIC..].copy_from_slice(&WICED_MAGIC);

        for step in WriteStep::ALL.into_iter().filter(|s| *s <= last) {
            match step {
                WriteStep::EraseStandby => self.bytes[new_at..new_at + size].fill(0xFF),
                WriteStep::CopyBody => {
                    self.program(new_at + WICED_HEADER_LEN, &body);
                    if let Some(t) = &trailer {
                        self.program(new_at + size - DCT_TRAILER_LEN, t);
                    }
                }
                WriteStep::WriteHeader => self.program(new_at, &header),
                WriteStep::MarkComplete => self.program(new_at + WRITE_INCOMPLETE, &[0]),
                WriteStep::RetireOld => self.program(old_at + IS_CURRENT, &[0]),
            }
        }
        Ok(())
    }

    /// NOR programming: bits can only go from 1 to 0.
    fn program(&mut self, at: usize, data: &[u8]) {
        for (cell, &b) in self.bytes[at..at + data.len()].iter_mut().zip(data) {
            *cell &= b;
        }
    }

    /// What an alt-1 UPLOAD returns: `len` bytes from application-DCT
    /// `offset` of the current partition. The bootloader reads flash
    /// directly, so reads run on past the partition; past the 32 KiB region
    /// this model returns 0xFF. `offset + len` may not pass 0x4000.
    pub fn read_app(&self, offset: usize, len: usize) -> Result<Vec<u8>, DctError> {
        if offset
            .checked_add(len)
            .map_or(true, |end| end > ALT1_DUMP_MAX)
        {
            return Err(DctError::OutOfBounds {
                offset,
                len,
                limit: ALT1_DUMP_MAX,
                what: "DFU alt-1 address range",
            });
        }
        let start =
            self.current_partition()? * self.part_size() + self.platform.app_dct_offset + offset;
        let mut out = vec![0xFF; len];
        if start < self.bytes.len() {
            let n = len.min(self.bytes.len() - start);
            out[..n].copy_from_slice(&self.bytes[start..start + n]);
        }
        Ok(out)
    }

    /// Overwrite a named field with raw bytes (0xFF-padded), device-style.
    pub fn set_field_bytes(&mut self, name: &str, value: &[u8]) -> Result<(), DctError> {
        let field = self.app_dct()?.lookup(name)?;
        let padded = pad_to_field(field, value)?;
        self.write_app(field.offset, &padded)
    }

    /// [`AppDct::set`] on the current table, written device-style: the
    /// standby partition gets the new value and becomes current.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), DctError> {
        let mut app = self.app_dct()?;
        let field = app.lookup(name)?;
        app.set(name, value)?;
        self.write_app(field.offset, &app.as_bytes()[field.offset..field.end()])
    }
}
