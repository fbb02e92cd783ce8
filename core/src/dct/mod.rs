//! The Device Configuration Table (REFERENCE §2).
//!
//! - [`AppDct`]: the application DCT as seen through DFU alt 1 (4290 bytes up
//!   to a full 16 KiB alt-1 dump), with typed access ([`AppDct::get`],
//!   [`AppDct::set`]) to every field of [`crate::platform::APP_DCT_FIELDS`].
//! - [`DctImage`]: the raw 32 KiB DCT region of internal flash (two WICED
//!   partitions), written the way the device writes it: copy the current
//!   partition to the standby one with the change applied, then flip the
//!   "current" flag (see [`image`] for the exact order and for how the
//!   current partition is chosen).
//! - [`DctFile`]: tells the two apart by size and content.

mod app;
pub mod choice;
mod encode;
pub mod file;
pub mod image;
mod value;

#[cfg(test)]
mod tests;

pub use crate::platform::Field;
pub use app::{AppDct, ALT1_DUMP_MAX, SYSTEM_FLAGS_HEADER};
pub use choice::{choose_layout, layout_for_firmware, LayoutSource};
pub use image::{
    DctImage, DctTrailer, WicedHeader, WriteStep, DCT_TRAILER_LEN, WICED_HEADER_LEN, WICED_MAGIC,
};
pub use value::{FieldValue, FlashModule, IpConfig, SystemFlags, SYSTEM_FLAG_FIELDS};

use crate::platform::{DctLayout, Platform, APP_DCT_FIELDS, APP_DCT_SIZE};

/// Everything that can go wrong reading or editing a DCT. Each message names
/// the value involved and the limit it broke.
#[derive(Debug, thiserror::Error)]
pub enum DctError {
    #[error(
        "an application DCT is {min} bytes (the table) up to {max} bytes (a full DFU alt-1 \
         dump), but this one is {size} bytes; read it with `dfu-util -a 1 -s 0:{min} -U FILE`"
    )]
    AppSize { size: usize, min: usize, max: usize },

    #[error(
        "a DCT region image is exactly {expected} bytes (two {partition}-byte partitions), \
         but this one is {size} bytes"
    )]
    ImageSize {
        size: usize,
        expected: usize,
        partition: usize,
    },

    #[error(
        "the file is {size} bytes (32 KiB, the size of a DCT region image) but has no WICED \
         header: neither partition has the magic \"BRCM\" at byte 12. It is not a DCT image; \
         read the region from internal flash at the board's DCT address (`dfu-util -a 0 -s \
         0x08004000:32768 -U FILE` for firmware ≤ 0.2.4, `-s 0x08008000:32768` since 0.3.0)"
    )]
    NoWicedHeader { size: usize },

    #[error(
        "{size} bytes is neither an application DCT ({app_min}..={app_max} bytes, DFU alt 1) \
         nor a DCT region image ({image} bytes, internal flash at 0x08004000 or 0x08008000)"
    )]
    UnrecognisedSize {
        size: usize,
        app_min: usize,
        app_max: usize,
        image: usize,
    },

    #[error(
        "this {size}-byte file starts with a WICED partition header (`BRCM` at byte 12): it is \
         one DCT partition, not a DFU alt-1 dump (whose offsets it would shift); dump alt 1 \
         (`dfu-util -a 1 -s 0:16384 -U FILE`) or the whole two-partition region"
    )]
    SinglePartition { size: usize },

    #[error("platform {platform}: {detail}")]
    Geometry {
        platform: &'static str,
        detail: String,
    },

    #[error("unknown DCT field `{name}`; known fields: {known}")]
    UnknownField { name: String, known: String },

    #[error("{len} bytes do not fit DCT field `{field}`, which is {size} bytes")]
    FieldTooLong {
        field: &'static str,
        len: usize,
        size: usize,
    },

    #[error(
        "a write of {len} bytes at offset {offset} runs past the end of the {what} ({limit} bytes)"
    )]
    OutOfBounds {
        offset: usize,
        len: usize,
        limit: usize,
        what: &'static str,
    },

    #[error("there is no DCT partition {index}; a DCT region has partitions 0 and 1")]
    NoSuchPartition { index: usize },

    #[error(
        "no DCT partition is current ({detail}); at boot the device would re-initialise the \
         DCT and lose its keys. Restore a known-good DCT image"
    )]
    NoCurrentPartition { detail: String },

    #[error(
        "no DCT layout is known for firmware {version:?}: the layouts are those of 0.2.x, \
         0.3.0/0.3.1 and 0.3.2+ (give a version such as 0.2.4, 0.3.1 or 0.3.3)"
    )]
    UnknownFirmware { version: String },

    #[error("invalid value {value:?} for DCT field `{field}`: {reason}")]
    InvalidValue {
        field: &'static str,
        value: String,
        reason: String,
    },
}

/// Look a field up by name. Accepts the table's names and the same with `-`
/// or spaces for `_`, in any case (`device-private-key`, `Claim Code`).
pub fn lookup(name: &str) -> Result<&'static Field, DctError> {
    let wanted = normalize_field_name(name);
    APP_DCT_FIELDS
        .iter()
        .find(|f| f.name == wanted)
        .ok_or_else(|| DctError::UnknownField {
            name: name.to_string(),
            known: APP_DCT_FIELDS
                .iter()
                .map(|f| f.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// `Claim Code`, `device-private-key` → `claim_code`, `device_private_key`.
pub(crate) fn normalize_field_name(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A DCT file of either kind, told apart by size and content.
#[derive(Debug, Clone)]
pub enum DctFile {
    App(AppDct),
    Image(DctImage),
}

impl DctFile {
    /// Tell an alt-1 dump from a 32 KiB region image.
    ///
    /// - exactly two partitions (32 KiB): a [`DctImage`], provided at least one
    ///   partition carries the WICED magic `BRCM` (otherwise
    ///   [`DctError::NoWicedHeader`]). Whether a partition is *current* is
    ///   checked later, by [`DctImage::current_partition`].
    /// - 4290..=16384 bytes: an [`AppDct`]. A file whose system-flags header
    ///   is not `c0 ac de 1a` is still accepted (a DCT whose flags were never
    ///   written reads that way too); [`DctFile::warnings`] reports it.
    /// - anything else: [`DctError::UnrecognisedSize`].
    ///
    /// The fields are read in the layout [`choose_layout`] picks with
    /// nothing given: the one the system flags point to, else 0.3.0/0.3.1.
    pub fn detect(platform: &'static Platform, bytes: &[u8]) -> Result<Self, DctError> {
        Self::detect_as(platform, bytes, None)
    }

    /// [`DctFile::detect`], read in `layout` when the caller knows the
    /// board's firmware (see [`choice`] for what a file tells by itself).
    pub fn detect_as(
        platform: &'static Platform,
        bytes: &[u8],
        layout: Option<DctLayout>,
    ) -> Result<Self, DctError> {
        let image_len = 2 * platform.dct_partition_size;
        if bytes.len() == image_len {
            let image = DctImage::from_bytes(platform, bytes)?.with_layout(layout);
            if !(0..2).any(|i| image.header(i).is_ok_and(|h| h.has_magic)) {
                return Err(DctError::NoWicedHeader { size: bytes.len() });
            }
            return Ok(DctFile::Image(image));
        }
        if bytes.get(12..16) == Some(b"BRCM".as_slice()) {
            // An alt-1 dump starts with the system flags; bytes 12..16 are
            // `BRCM` only in a WICED partition header (REFERENCE §2).
            return Err(DctError::SinglePartition { size: bytes.len() });
        }
        if (APP_DCT_SIZE..=ALT1_DUMP_MAX).contains(&bytes.len()) {
            let (layout, source) = choose_layout(bytes, layout);
            let app = AppDct::from_bytes_as(platform, layout, bytes)?.with_layout_source(source);
            return Ok(DctFile::App(app));
        }
        Err(DctError::UnrecognisedSize {
            size: bytes.len(),
            app_min: APP_DCT_SIZE,
            app_max: ALT1_DUMP_MAX,
            image: image_len,
        })
    }

    /// Human name of the kind of file.
    pub fn kind(&self) -> &'static str {
        match self {
            DctFile::App(_) => "application DCT (DFU alt 1)",
            DctFile::Image(_) => "DCT region image (internal flash 0x08004000 / 0x08008000)",
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            DctFile::App(app) => app.as_bytes(),
            DctFile::Image(image) => image.as_bytes(),
        }
    }

    /// The application DCT: the file itself, or the current partition's.
    pub fn app_dct(&self) -> Result<AppDct, DctError> {
        match self {
            DctFile::App(app) => Ok(app.clone()),
            DctFile::Image(image) => image.app_dct(),
        }
    }

    pub fn get(&self, name: &str) -> Result<FieldValue, DctError> {
        self.app_dct()?.get(name)
    }

    /// Set a field from text (see [`AppDct::set`]). An alt-1 file is edited
    /// in place; an image gets a device-style copy-on-write
    /// ([`DctImage::set`]).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), DctError> {
        match self {
            DctFile::App(app) => app.set(name, value),
            DctFile::Image(image) => image.set(name, value),
        }
    }

    /// Things that are odd about the file but do not stop it being read.
    pub fn warnings(&self) -> Vec<String> {
        match self.app_dct() {
            Ok(app) => app.warnings(),
            Err(e) => vec![e.to_string()],
        }
    }
}

/// Shorten a user-supplied value for an error message: values can be key
/// material (`hex:` of a private key), which has no place in a log.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head}… ({} characters)", value.chars().count())
    }
}

impl crate::error::ErrorInfo for DctError {
    fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            DctError::UnknownField { .. }
            | DctError::FieldTooLong { .. }
            | DctError::InvalidValue { .. }
            | DctError::UnknownFirmware { .. }
            | DctError::OutOfBounds { .. }
            | DctError::NoSuchPartition { .. } => ErrorCode::InvalidArgument,
            DctError::Geometry { .. } => ErrorCode::Internal,
            DctError::AppSize { .. }
            | DctError::ImageSize { .. }
            | DctError::NoWicedHeader { .. }
            | DctError::UnrecognisedSize { .. }
            | DctError::SinglePartition { .. }
            | DctError::NoCurrentPartition { .. } => ErrorCode::InvalidDct,
        }
    }
}
