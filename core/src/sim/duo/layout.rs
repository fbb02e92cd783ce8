//! The virtual Duo's memories, as its alt-setting strings declare them.
//!
//! The sector maps are not listed here a second time: they are parsed from
//! the DfuSe memory-layout strings of [`crate::platform::Platform::alt_settings`]
//! (REFERENCE §1: `@Name /0xSTART/N*SIZE[B|K|M]X,...`, X = a..g with bits
//! readable 1, erasable 2, writable 4), so what `dfu-util -l` prints is
//! exactly what the device enforces.

use crate::platform::Platform;

/// One sector of a DfuSe memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sector {
    pub addr: u32,
    pub size: u32,
    pub readable: bool,
    pub erasable: bool,
    pub writable: bool,
}

impl Sector {
    /// One past the last address of the sector.
    pub fn end(&self) -> u64 {
        u64::from(self.addr) + u64::from(self.size)
    }
}

/// A parsed DfuSe memory-layout string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryMap {
    /// The name before the first `/`, trimmed (`Internal Flash`).
    pub name: String,
    /// Sectors in address order.
    pub sectors: Vec<Sector>,
}

impl MemoryMap {
    /// Parse `@Name /0xSTART/N*SIZEuX,.../0xSTART/...`.
    pub fn parse(layout: &str) -> Result<Self, String> {
        let body = layout
            .strip_prefix('@')
            .ok_or_else(|| format!("memory layout {layout:?} does not start with '@'"))?;
        let mut parts = body.split('/');
        let name = parts.next().unwrap_or_default().trim().to_string();
        let rest: Vec<&str> = parts.collect();
        if rest.is_empty() || rest.len() % 2 != 0 {
            return Err(format!(
                "memory layout {layout:?}: expected /ADDRESS/SEGMENTS pairs"
            ));
        }
        let mut sectors = Vec::new();
        for pair in rest.chunks(2) {
            let start = parse_hex(pair[0].trim())
                .ok_or_else(|| format!("memory layout {layout:?}: bad address {:?}", pair[0]))?;
            let mut addr = u64::from(start);
            for segment in pair[1].split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (count, size, attrs) = parse_segment(segment)
                    .ok_or_else(|| format!("memory layout {layout:?}: bad segment {segment:?}"))?;
                for _ in 0..count {
                    let sector = Sector {
                        addr: u32::try_from(addr)
                            .map_err(|_| format!("memory layout {layout:?} runs past 4 GiB"))?,
                        size,
                        readable: attrs & 1 != 0,
                        erasable: attrs & 2 != 0,
                        writable: attrs & 4 != 0,
                    };
                    addr += u64::from(size);
                    sectors.push(sector);
                }
            }
        }
        Ok(MemoryMap { name, sectors })
    }

    /// The sector holding `addr`.
    pub fn sector_at(&self, addr: u32) -> Option<&Sector> {
        self.sectors
            .iter()
            .find(|s| addr >= s.addr && u64::from(addr) < s.end())
    }

    /// First address of the map.
    pub fn start(&self) -> u32 {
        self.sectors.first().map_or(0, |s| s.addr)
    }

    /// The sectors covering `[addr, addr + len)`, or `None` when any byte of
    /// the range lies outside the map.
    pub fn sectors_in(&self, addr: u32, len: usize) -> Option<Vec<&Sector>> {
        let end = u64::from(addr) + len as u64;
        let mut covered = u64::from(addr);
        let mut out = Vec::new();
        while covered < end {
            let s = self.sector_at(u32::try_from(covered).ok()?)?;
            out.push(s);
            covered = s.end();
        }
        if out.is_empty() {
            // A zero-length range still has to start inside the map.
            out.push(self.sector_at(addr)?);
        }
        Some(out)
    }

    /// How many bytes from `addr` stay inside contiguous sectors of the map.
    pub fn bytes_available(&self, addr: u32) -> u64 {
        let mut pos = u64::from(addr);
        while let Some(s) = u32::try_from(pos).ok().and_then(|p| self.sector_at(p)) {
            pos = s.end();
        }
        pos - u64::from(addr)
    }
}

fn parse_hex(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    u32::from_str_radix(digits, 16).ok()
}

/// `07*128Kg` → (7, 131072, 7).
fn parse_segment(segment: &str) -> Option<(u32, u32, u8)> {
    let (count, rest) = segment.split_once('*')?;
    let count: u32 = count.trim().parse().ok()?;
    let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
    let size: u32 = rest[..digits_end].parse().ok()?;
    let mut tail = rest[digits_end..].chars();
    let (multiplier, attr) = match (tail.next()?, tail.next()) {
        ('K', Some(a)) => (1024, a),
        ('M', Some(a)) => (1024 * 1024, a),
        ('B' | ' ', Some(a)) => (1, a),
        (a, None) => (1, a),
        _ => return None,
    };
    if !('a'..='g').contains(&attr) {
        return None;
    }
    Some((count, size.checked_mul(multiplier)?, attr as u8 - b'a' + 1))
}

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
    pub map: MemoryMap,
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

/// The media of a platform, one per alt setting, in alt order.
pub fn media_of(platform: &Platform) -> Result<Vec<Media>, String> {
    platform
        .alt_settings
        .iter()
        .map(|a| {
            let map = MemoryMap::parse(a.name)?;
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
    use crate::platform::DUO;

    #[test]
    fn duo_internal_flash_map_has_the_stm32f205_sectors() {
        let map = MemoryMap::parse(DUO.alt_settings[0].name).unwrap();
        assert_eq!(map.name, "Internal Flash");
        let sizes: Vec<u32> = map.sectors.iter().map(|s| s.size / 1024).collect();
        assert_eq!(
            sizes,
            [16, 16, 16, 16, 64, 128, 128, 128, 128, 128, 128, 128]
        );
        let boot = map.sector_at(0x0800_0000).unwrap();
        assert!(boot.readable && !boot.erasable && !boot.writable);
        assert!(map.sector_at(0x0800_4000).unwrap().writable);
        assert_eq!(map.sectors.last().unwrap().end(), 0x0810_0000);
        assert!(map.sector_at(0x0810_0000).is_none());
    }

    #[test]
    fn duo_serial_flash_map_is_two_mib_of_4k_sectors() {
        let map = MemoryMap::parse(DUO.alt_settings[2].name).unwrap();
        assert_eq!(map.sectors.len(), 512);
        assert!(map.sectors.iter().all(|s| s.size == 4096 && s.writable));
        assert_eq!(map.bytes_available(0), 2 * 1024 * 1024);
    }

    #[test]
    fn ranges_outside_the_map_are_refused() {
        let map = MemoryMap::parse(DUO.alt_settings[1].name).unwrap();
        assert!(map.sectors_in(0x3F00, 0x100).is_some());
        assert!(map.sectors_in(0x3F00, 0x101).is_none());
        assert!(map.sectors_in(0x4000, 0).is_none());
        assert!(MemoryMap::parse("Internal/0x0/1*4Kg").is_err());
        assert!(MemoryMap::parse("@X/0x0/1*4Kz").is_err());
    }
}
