//! DfuSe memory layouts: the alt-setting strings of REFERENCE §1, e.g.
//! `@Internal Flash   /0x08000000/01*016Ka,02*016Kg,01*016Kg,01*064Kg,07*128Kg`.
//!
//! Grammar (ST's DfuSe, as dfu-util reads it): `@Name` then one or more groups
//! `/0xSTART/N*SIZE[B|K|M| ]X,...`; sectors of a group follow each other from
//! START. X is a letter `a`..`g` whose value (letter − 'a' + 1) is a bit set:
//! 1 readable, 2 erasable, 4 writable.

use std::fmt;

use super::error::DfuError;

/// What a segment allows, from its type letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    pub readable: bool,
    pub erasable: bool,
    pub writable: bool,
}

impl Perms {
    /// Decode a DfuSe type letter (`a`..`g`).
    pub fn from_letter(letter: char) -> Option<Self> {
        if !('a'..='g').contains(&letter) {
            return None;
        }
        let bits = letter as u8 - b'a' + 1;
        Some(Perms {
            readable: bits & 1 != 0,
            erasable: bits & 2 != 0,
            writable: bits & 4 != 0,
        })
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.readable && !self.erasable && !self.writable {
            return f.write_str("read-only");
        }
        let words: Vec<&str> = [
            (self.readable, "readable"),
            (self.erasable, "erasable"),
            (self.writable, "writable"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        let mut text = words.join(", ");
        if !self.readable {
            text.push_str(", not readable");
        }
        f.write_str(&text)
    }
}

/// `sector_count` sectors of `sector_size` bytes each, from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub start: u32,
    pub sector_size: u32,
    pub sector_count: u32,
    pub perms: Perms,
    /// The type letter as written in the string.
    pub letter: char,
}

impl Segment {
    /// One past the last byte (may be 2^32 for a segment ending the address space).
    pub fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.sector_size) * u64::from(self.sector_count)
    }

    pub fn contains(&self, addr: u64) -> bool {
        addr >= u64::from(self.start) && addr < self.end()
    }

    /// Every sector of the segment, in address order.
    pub fn sectors(&self) -> impl Iterator<Item = Sector> + '_ {
        (0..self.sector_count).map(move |i| Sector {
            start: self.start + i * self.sector_size,
            size: self.sector_size,
            perms: self.perms,
        })
    }

    /// The sector holding `addr`, if the segment does.
    pub fn sector_at(&self, addr: u64) -> Option<Sector> {
        if !self.contains(addr) {
            return None;
        }
        let index = (addr - u64::from(self.start)) / u64::from(self.sector_size);
        Some(Sector {
            start: self.start + (index as u32) * self.sector_size,
            size: self.sector_size,
            perms: self.perms,
        })
    }
}

/// One erasable unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sector {
    pub start: u32,
    pub size: u32,
    pub perms: Perms,
}

/// A parsed DfuSe memory layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLayout {
    /// The memory's name, trimmed (`Internal Flash`).
    pub name: String,
    pub segments: Vec<Segment>,
}

impl MemoryLayout {
    /// Parse an interface string. Errors name the string and the byte position.
    pub fn parse(s: &str) -> Result<Self, DfuError> {
        Parser {
            s,
            b: s.as_bytes(),
            pos: 0,
        }
        .layout()
    }

    /// The segment holding `addr`.
    pub fn segment_at(&self, addr: u64) -> Option<&Segment> {
        self.segments.iter().find(|seg| seg.contains(addr))
    }

    /// The sector holding `addr`.
    pub fn sector_at(&self, addr: u64) -> Option<Sector> {
        self.segment_at(addr).and_then(|seg| seg.sector_at(addr))
    }

    /// The segments covering `[addr, addr + len)`, in address order, or the
    /// first address of the range that no segment covers.
    pub fn segments_in(&self, addr: u64, len: u64) -> Result<Vec<Segment>, u64> {
        let end = addr.saturating_add(len);
        let mut pos = addr;
        let mut out = Vec::new();
        while pos < end {
            let seg = *self.segment_at(pos).ok_or(pos)?;
            pos = seg.end();
            out.push(seg);
        }
        Ok(out)
    }

    /// Every sector overlapping `[addr, addr + len)`, or the first uncovered address.
    pub fn sectors_in(&self, addr: u64, len: u64) -> Result<Vec<Sector>, u64> {
        let end = addr.saturating_add(len);
        let mut pos = addr;
        let mut out = Vec::new();
        while pos < end {
            let sector = self.sector_at(pos).ok_or(pos)?;
            pos = u64::from(sector.start) + u64::from(sector.size);
            out.push(sector);
        }
        Ok(out)
    }

    /// One past the last byte reachable from `addr` through adjacent
    /// segments (`addr` itself when no segment holds it): where a read
    /// running from `addr` must stop.
    pub fn contiguous_end(&self, addr: u64) -> u64 {
        let mut pos = addr;
        while let Some(seg) = self.segment_at(pos) {
            pos = seg.end();
        }
        pos
    }

    /// Lowest address of the map (0 for a layout with no segment).
    pub fn start(&self) -> u32 {
        self.segments.iter().map(|s| s.start).min().unwrap_or(0)
    }

    /// The covered address ranges, merged, as `0x..-0x.., ...` for messages.
    pub fn describe_map(&self) -> String {
        let mut spans: Vec<(u64, u64)> = self
            .segments
            .iter()
            .map(|s| (u64::from(s.start), s.end()))
            .collect();
        spans.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        merged
            .iter()
            .map(|(a, b)| format!("0x{a:08x}..0x{b:08x}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> DfuError {
        DfuError::Layout {
            string: self.s.to_string(),
            position: self.pos,
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), DfuError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected {what}")))
        }
    }

    fn number(&mut self, radix: u32, what: &str) -> Result<u64, DfuError> {
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(d) = self.peek().and_then(|c| (c as char).to_digit(radix)) {
            value = value
                .checked_mul(u64::from(radix))
                .and_then(|v| v.checked_add(u64::from(d)))
                .filter(|v| *v <= u64::from(u32::MAX))
                .ok_or_else(|| self.err(format!("{what} does not fit in 32 bits")))?;
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err(format!("expected {what}")));
        }
        Ok(value)
    }

    fn layout(mut self) -> Result<MemoryLayout, DfuError> {
        self.expect(b'@', "'@' at the start of a DfuSe memory layout")?;
        let name_end = self.b.iter().position(|&c| c == b'/').ok_or_else(|| {
            Parser {
                pos: self.b.len(),
                ..self
            }
            .err("expected '/0xSTART/' after the name")
        })?;
        let name = self.s[1..name_end].trim().to_string();
        self.pos = name_end;
        let mut segments = Vec::new();
        while self.peek() == Some(b'/') {
            self.group(&mut segments)?;
            self.skip_spaces();
        }
        // Some devices NUL-terminate the string inside the descriptor.
        while matches!(self.peek(), Some(b'\0' | b' ')) {
            self.pos += 1;
        }
        if self.pos != self.b.len() {
            return Err(self.err("unexpected text after the last segment"));
        }
        Ok(MemoryLayout { name, segments })
    }

    /// `/0xSTART/N*SIZE[mult]X,...`
    fn group(&mut self, segments: &mut Vec<Segment>) -> Result<(), DfuError> {
        self.expect(b'/', "'/'")?;
        self.skip_spaces();
        if !(self.b[self.pos..].starts_with(b"0x") || self.b[self.pos..].starts_with(b"0X")) {
            return Err(self.err("expected a start address written 0x…"));
        }
        self.pos += 2;
        let mut addr = self.number(16, "a hexadecimal start address")?;
        self.skip_spaces();
        self.expect(b'/', "'/' after the start address")?;
        loop {
            self.skip_spaces();
            let seg_pos = self.pos;
            let count = self.number(10, "a sector count")?;
            self.skip_spaces();
            self.expect(b'*', "'*' between sector count and size")?;
            self.skip_spaces();
            let size = self.number(10, "a sector size")?;
            let multiplier: u64 = match self.peek() {
                Some(b'B') => 1,
                Some(b'K') => 1024,
                Some(b'M') => 1024 * 1024,
                _ => 0,
            };
            if multiplier != 0 {
                self.pos += 1;
            }
            self.skip_spaces();
            let letter = self.peek().map(char::from).unwrap_or('\0');
            let perms = Perms::from_letter(letter)
                .ok_or_else(|| self.err("expected a sector type letter a..g"))?;
            self.pos += 1;
            let sector_size = size * multiplier.max(1);
            if count == 0 || sector_size == 0 {
                self.pos = seg_pos;
                return Err(self.err("a segment needs at least one sector of at least one byte"));
            }
            let end = count
                .checked_mul(sector_size)
                .and_then(|n| n.checked_add(addr))
                .filter(|end| *end <= 1 << 32 && sector_size <= u64::from(u32::MAX));
            let Some(end) = end else {
                self.pos = seg_pos;
                return Err(self.err("segment runs past the 32-bit address space"));
            };
            segments.push(Segment {
                start: addr as u32,
                sector_size: sector_size as u32,
                sector_count: count as u32,
                perms,
                letter,
            });
            addr = end;
            self.skip_spaces();
            if self.peek() == Some(b',') {
                self.pos += 1;
            } else {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::DUO;
    use proptest::prelude::*;

    fn duo(alt: usize) -> MemoryLayout {
        MemoryLayout::parse(DUO.factory_alt_settings()[alt].name).unwrap()
    }

    #[test]
    fn duo_internal_flash_has_twelve_sectors_and_a_read_only_bootloader() {
        let l = duo(0);
        assert_eq!(l.name, "Internal Flash");
        let sectors = l.sectors_in(0x0800_0000, 1024 * 1024).unwrap();
        assert_eq!(sectors.len(), 12);
        let listed: Vec<Sector> = l.segments.iter().flat_map(|s| s.sectors()).collect();
        assert_eq!(listed, sectors);
        assert_eq!(sectors[0].start, 0x0800_0000);
        assert_eq!(sectors[0].size, 16 * 1024);
        assert_eq!(l.segments[0].letter, 'a');
        assert_eq!(sectors[0].perms.to_string(), "read-only");
        assert!(!sectors[0].perms.writable && !sectors[0].perms.erasable);
        let starts: Vec<u32> = sectors.iter().map(|s| s.start).collect();
        assert_eq!(
            &starts[..6],
            &[
                0x0800_0000,
                0x0800_4000,
                0x0800_8000,
                0x0800_C000,
                0x0801_0000,
                0x0802_0000
            ]
        );
        assert_eq!(sectors[11].start, 0x080E_0000);
        assert_eq!(l.segments.last().unwrap().end(), 0x0810_0000);
        assert_eq!(l.sector_at(0x0802_1234).unwrap().start, 0x0802_0000);
        assert!(l.sector_at(0x0810_0000).is_none());
        assert!(l.sector_at(0x07FF_FFFF).is_none());
    }

    #[test]
    fn duo_dct_and_serial_flash_layouts() {
        let dct = duo(1);
        assert_eq!(dct.name, "DCT Flash");
        assert_eq!(dct.segments.len(), 1);
        assert_eq!((dct.segments[0].start, dct.segments[0].end()), (0, 0x4000));
        assert_eq!(
            dct.segments[0].perms.to_string(),
            "readable, erasable, writable"
        );
        let sf = duo(2);
        assert_eq!(sf.name, "Serial Flash");
        assert_eq!(sf.segments.iter().map(|s| s.sector_count).sum::<u32>(), 512);
        assert_eq!(sf.segments.last().unwrap().end(), 2 * 1024 * 1024);
        assert_eq!(sf.describe_map(), "0x00000000..0x00200000");
        assert_eq!(sf.contiguous_end(0x1234), 2 * 1024 * 1024);
        assert_eq!(dct.contiguous_end(0x3F00), 0x4000);
        assert_eq!(dct.contiguous_end(0x4000), 0x4000, "outside: nothing");
        assert_eq!(duo(0).start(), 0x0800_0000);
    }

    #[test]
    fn several_groups_and_st_space_multiplier() {
        let l = MemoryLayout::parse(
            "@Internal Flash  /0x08000000/04*016Kg,01*064Kg/0x1FFFC000/01*016 e, 2*8Bb",
        )
        .unwrap();
        assert_eq!(l.segments.len(), 4);
        assert_eq!(l.segments[2].start, 0x1FFF_C000);
        assert_eq!(l.segments[2].sector_size, 16);
        assert_eq!(l.segments[3].start, 0x1FFF_C010);
        assert!(l.segments[2].perms.writable && !l.segments[2].perms.erasable);
        assert_eq!(
            l.describe_map(),
            "0x08000000..0x08020000, 0x1fffc000..0x1fffc020"
        );
        assert_eq!(
            l.contiguous_end(0x0800_0000),
            0x0802_0000,
            "stops at the gap"
        );
        assert_eq!(
            l.segments_in(0x0801_FFFF, 0x1FFF_C000 - 0x0801_FFFF),
            Err(0x0802_0000)
        );
    }

    #[test]
    fn malformed_layouts_name_string_and_position() {
        let e = MemoryLayout::parse("@DCT Flash   /0x00000000/01*016Kz").unwrap_err();
        let DfuError::Layout {
            string,
            position,
            reason,
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(string, "@DCT Flash   /0x00000000/01*016Kz");
        assert_eq!(*position, 32);
        assert!(reason.contains("type letter"), "{reason}");
        assert!(e.to_string().contains("position 32"));
        for bad in [
            "",
            "DCT/0x0/1*1Kg",
            "@DCT",
            "@DCT/0x/1*1Kg",
            "@DCT/0x0/1*Kg",
            "@DCT/0x0/0*1Kg",
            "@DCT/0x0/1*1Kg junk",
            "@DCT/0xFFFFFFFF/2*1Bg",
            "@DCT/0x0/99999999999*1Kg",
        ] {
            assert!(MemoryLayout::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,80}") {
            let _ = MemoryLayout::parse(&s);
        }

        #[test]
        fn parsing_near_valid_strings_never_panics(
            s in "@[A-Za-z ]{0,6}(/0x[0-9A-Fa-f]{1,9}/([0-9]{1,6}\\*[0-9 ]{1,6}[BKM ]?[a-h ],?){0,3}){0,3}"
        ) {
            if let Ok(l) = MemoryLayout::parse(&s) {
                for seg in &l.segments {
                    prop_assert!(seg.end() <= 1 << 32);
                    prop_assert!(seg.sector_count > 0 && seg.sector_size > 0);
                }
            }
        }
    }
}
