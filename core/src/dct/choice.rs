//! Which firmware's layout a DCT is read with (REFERENCE §2, "The table
//! above is exact for Duo firmware 0.3.0/0.3.1" and the differences per
//! version), and who decided it.
//!
//! What can be told without being told:
//!
//! - **A board in DFU mode**: its bootloader generation decides, and it
//!   decides exactly. r3/r4 (the 16 KiB alt-0 map) run firmware ≤ 0.2.4
//!   (0.3.x replaces them at its first boot); r5 (32 KiB map, upper-case
//!   serial) runs 0.3.0/0.3.1 (0.3.2+ would have installed r6); r6
//!   (lower-case serial) reaches the DCT through system part 2 only when
//!   0.3.2+ is installed (REFERENCE §1 "Alt 1"), so whatever alt 1 shows
//!   there is in the 0.3.2+ layout.
//! - **A file** (an alt-1 dump or a 32 KiB region image): the bytes carry
//!   one hint, the bootloader version in the system flags (DCT 4..6),
//!   written by bootloaders r3–r5 at every boot and on leaving DFU. 3 or 4
//!   means the 0.2.x layout, 5 the 0.3.0/0.3.1 one. It cannot tell 0.3.2+:
//!   from 0.3.2 on the flags live in the RTC backup registers and the DCT
//!   keeps whatever r5 last wrote (REFERENCE §2), so a 0.3.2+ board's file
//!   reads as 0.3.0/0.3.1 unless the caller names the firmware. A file whose
//!   flags were never written (no `c0 ac de 1a` header) tells nothing.
//! - Otherwise: REFERENCE §2's own table, 0.3.0/0.3.1.

use serde::Serialize;

use crate::platform::{known_field, DctLayout};

use super::app::SYSTEM_FLAGS_HEADER;
use super::DctError;

/// Who decided which layout a DCT was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutSource {
    /// The caller named the firmware version.
    Given,
    /// The board's bootloader generation (a board in DFU mode).
    Bootloader,
    /// The bootloader version in the DCT's own system flags (r3–r5).
    SystemFlags,
    /// Nothing told: REFERENCE §2's own table (0.3.0/0.3.1).
    Default,
}

impl LayoutSource {
    /// Words for reports: `the caller`, `the system flags (bootloader 3)`.
    pub fn describe(self) -> &'static str {
        match self {
            LayoutSource::Given => "the firmware version given",
            LayoutSource::Bootloader => "the board's bootloader generation",
            LayoutSource::SystemFlags => "the bootloader version in the DCT's system flags",
            LayoutSource::Default => {
                "nothing in the file tells it: the 0.3.0/0.3.1 table (0.3.2+ files cannot be \
                 told apart; name the firmware version)"
            }
        }
    }
}

/// The layout named by a firmware version (`0.2.4`, `0.3.1`, `0.3.3`, also
/// `0.2`, `0.3.0`, `0.3.2`), or an error naming the versions known.
pub fn layout_for_firmware(version: &str) -> Result<DctLayout, DctError> {
    DctLayout::for_firmware(version).ok_or_else(|| DctError::UnknownFirmware {
        version: version.to_string(),
    })
}

/// The layout the bootloader version in an application DCT's system flags
/// points to, if the flags were written (see the module docs).
pub fn layout_from_system_flags(app: &[u8]) -> Option<DctLayout> {
    let flags = known_field("system_flags");
    let b = app.get(flags.offset..flags.end())?;
    let header = [
        u16::from_le_bytes([b[0], b[1]]),
        u16::from_le_bytes([b[2], b[3]]),
    ];
    if header != SYSTEM_FLAGS_HEADER {
        return None;
    }
    match u16::from_le_bytes([b[4], b[5]]) {
        1..=4 => Some(DctLayout::V0_2),
        5 => Some(DctLayout::V0_3_0),
        _ => None,
    }
}

/// `given` if any, else what the system flags tell, else the default.
pub fn choose_layout(app: &[u8], given: Option<DctLayout>) -> (DctLayout, LayoutSource) {
    match (given, layout_from_system_flags(app)) {
        (Some(layout), _) => (layout, LayoutSource::Given),
        (None, Some(layout)) => (layout, LayoutSource::SystemFlags),
        (None, None) => (DctLayout::V0_3_0, LayoutSource::Default),
    }
}
