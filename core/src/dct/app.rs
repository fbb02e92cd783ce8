//! The application DCT as DFU alt 1 shows it (REFERENCE §1 "Alt 1", §2).

use super::{encode, value, DctError, Field, FieldValue, LayoutSource};
use crate::platform::{known_field, DctLayout, Platform, APP_DCT_SIZE};

/// Alt 1 accepts addresses 0x0000..0x3FFF (`@DCT Flash /0x00000000/01*016Kg`),
/// so a full alt-1 dump is 16 KiB. Bytes past [`APP_DCT_SIZE`] are whatever
/// follows the table in flash; they are kept but not interpreted.
pub const ALT1_DUMP_MAX: usize = 0x4000;

/// The two u16 (little-endian) that open `system_flags` on a DCT whose flags
/// have been written: bytes `c0 ac de 1a`.
pub const SYSTEM_FLAGS_HEADER: [u16; 2] = [0xACC0, 0x1ADE];

/// Application DCT bytes (alt-1 view): offset N here is DfuSe address N on
/// alt 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDct {
    platform: &'static Platform,
    /// The firmware's field table (REFERENCE §2): 0.2.x, 0.3.0/0.3.1 or 0.3.2+.
    layout: DctLayout,
    /// Who decided `layout`.
    layout_source: LayoutSource,
    bytes: Vec<u8>,
}

impl AppDct {
    /// Accepts [`APP_DCT_SIZE`] (4290) up to [`ALT1_DUMP_MAX`] (16384)
    /// bytes, read with the 0.3.0/0.3.1 table (REFERENCE §2's own).
    pub fn from_bytes(platform: &'static Platform, bytes: &[u8]) -> Result<Self, DctError> {
        Ok(Self::from_bytes_as(platform, DctLayout::V0_3_0, bytes)?
            .with_layout_source(LayoutSource::Default))
    }

    /// As [`AppDct::from_bytes`], read with `layout`'s table (0.3.2+ needs
    /// 8423 bytes).
    pub fn from_bytes_as(
        platform: &'static Platform,
        layout: DctLayout,
        bytes: &[u8],
    ) -> Result<Self, DctError> {
        let min = layout.size().max(APP_DCT_SIZE);
        if !(min..=ALT1_DUMP_MAX).contains(&bytes.len()) {
            return Err(DctError::AppSize {
                size: bytes.len(),
                min,
                max: ALT1_DUMP_MAX,
            });
        }
        Ok(AppDct {
            platform,
            layout,
            layout_source: LayoutSource::Given,
            bytes: bytes.to_vec(),
        })
    }

    /// Say who decided the layout (reported by `layout_source`).
    pub fn with_layout_source(mut self, source: LayoutSource) -> Self {
        self.layout_source = source;
        self
    }

    /// Who decided the layout this DCT is read with.
    pub fn layout_source(&self) -> LayoutSource {
        self.layout_source
    }

    /// The field table this DCT is read with.
    pub fn layout(&self) -> DctLayout {
        self.layout
    }

    /// The field called `name` in this DCT's layout.
    pub(crate) fn lookup(&self, name: &str) -> Result<&'static Field, DctError> {
        match self.layout.field(&super::normalize_field_name(name)) {
            Some(f) => Ok(f),
            None => Err(DctError::UnknownField {
                name: name.to_string(),
                known: format!(
                    "{} (the firmware {} layout)",
                    self.layout
                        .fields()
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.layout.firmware()
                ),
            }),
        }
    }

    pub fn platform(&self) -> &'static Platform {
        self.platform
    }

    /// All bytes held (4290 up to 16384).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Raw bytes of a named field.
    pub fn field_bytes(&self, name: &str) -> Result<&[u8], DctError> {
        Ok(self.field(self.lookup(name)?))
    }

    fn field(&self, field: &Field) -> &[u8] {
        &self.bytes[field.offset..field.end()]
    }

    /// Overwrite a named field with raw bytes: at most the field's size;
    /// shorter is padded with 0xFF (the erased state).
    pub fn set_field_bytes(&mut self, name: &str, value: &[u8]) -> Result<(), DctError> {
        let field = self.lookup(name)?;
        let padded = pad_to_field(field, value)?;
        self.bytes[field.offset..field.end()].copy_from_slice(&padded);
        Ok(())
    }

    /// Overwrite `data.len()` bytes at `offset`: the read-modify-write that
    /// `dct_write_app_data` does for an alt-1 DNLOAD. Bounds are the bytes
    /// held, so a 4290-byte table refuses writes past 4290.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<(), DctError> {
        let end = offset
            .checked_add(data.len())
            .filter(|&end| end <= self.bytes.len())
            .ok_or(DctError::OutOfBounds {
                offset,
                len: data.len(),
                limit: self.bytes.len(),
                what: "application DCT held",
            })?;
        self.bytes[offset..end].copy_from_slice(data);
        Ok(())
    }

    /// The device private key slot (offset 34, 1216 bytes).
    pub fn private_key_slot(&self) -> &[u8] {
        self.field(known_field("device_private_key"))
    }

    /// The device public key slot (offset 1250, 384 bytes).
    pub fn public_key_slot(&self) -> &[u8] {
        self.field(known_field("device_public_key"))
    }

    /// The server public key block (offset 2082, 768 bytes): key DER, 0xFF,
    /// address TLV at 384, optional port at 450 (REFERENCE §2).
    pub fn server_key_block(&self) -> &[u8] {
        self.field(known_field("server_public_key"))
    }

    /// `Bootloader_Version_SysFlag`: u16 LE at byte 4 of `system_flags`.
    pub fn bootloader_version(&self) -> u16 {
        let flags = self.field(known_field("system_flags"));
        u16::from_le_bytes([flags[4], flags[5]])
    }

    /// 24 lower-case hex digits, or `None` when unset (all 0xFF / all 0).
    pub fn device_id(&self) -> Option<String> {
        // Firmware 0.2.x has no device id field (REFERENCE §2).
        let id = self.field(self.layout.field("device_id")?);
        if id.iter().all(|&b| b == 0xFF) || id.iter().all(|&b| b == 0) {
            None
        } else {
            Some(hex::encode(id))
        }
    }

    /// Whether `system_flags` opens with the header 0xACC0, 0x1ADE. Files
    /// without it are still accepted ([`super::DctFile::detect`]); this is
    /// how callers can tell they may be looking at something else.
    pub fn looks_valid(&self) -> bool {
        self.system_flags_header() == SYSTEM_FLAGS_HEADER
    }

    fn system_flags_header(&self) -> [u16; 2] {
        let b = self.field(known_field("system_flags"));
        [
            u16::from_le_bytes([b[0], b[1]]),
            u16::from_le_bytes([b[2], b[3]]),
        ]
    }

    /// Oddities worth telling the user, none of which stop the file being
    /// read or edited.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.looks_valid() {
            let [a, b] = self.system_flags_header();
            out.push(format!(
                "system flags header is {a:#06x},{b:#06x}, expected {:#06x},{:#06x}: this may \
                 not be an application DCT, or its flags were never written",
                SYSTEM_FLAGS_HEADER[0], SYSTEM_FLAGS_HEADER[1]
            ));
        }
        out
    }

    /// Typed value of a field (see [`FieldValue`] for what each field
    /// decodes to). Undecodable content is [`FieldValue::Invalid`], not an
    /// error; unknown names are an error.
    pub fn get(&self, name: &str) -> Result<FieldValue, DctError> {
        let field = self.lookup(name)?;
        Ok(value::decode(field, self.field(field)))
    }

    /// Set a field from text. `hex:…` writes raw bytes to any field (shorter
    /// is padded with 0xFF; `hex:` alone erases the field). Typed fields also
    /// take their own text form, validated:
    ///
    /// | field | text |
    /// |---|---|
    /// | system_flags | `name=value[,name=value…]` over [`super::SYSTEM_FLAG_FIELDS`] |
    /// | version | 0..=65535 (decimal or `0x…`) |
    /// | claim_code | up to 63 printable ASCII characters |
    /// | claimed | `true`/`false` (also `yes`/`no`, `1`/`0`) |
    /// | ssid_prefix | up to 25 printable ASCII characters |
    /// | device_code | exactly 6 ASCII letters or digits |
    /// | version_string | up to 32 printable ASCII characters |
    /// | country_code | two letters and an optional revision hex digit (`GB`, `JP2`) |
    /// | ip_config | `dhcp`, or `static IP MASK GATEWAY [DNS1 [DNS2]]` |
    /// | product_store | up to 12 numbers 0..=65535 (`-` = unset), comma or space separated |
    /// | antenna_selection | `internal`, `external`, `auto` or 0..=255 |
    /// | cloud_transport | 0..=255 |
    /// | device_id | 24 hex digits |
    /// | any other field | hex digits, with or without `hex:` |
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), DctError> {
        let field = self.lookup(name)?;
        let bytes = encode::encode(field, self.field(field), value)?;
        let padded = pad_to_field(field, &bytes)?;
        self.bytes[field.offset..field.end()].copy_from_slice(&padded);
        Ok(())
    }

    /// Every field with its typed value, in table order (`dct show`).
    pub fn fields(&self) -> Vec<(&'static Field, FieldValue)> {
        self.layout
            .fields()
            .iter()
            .map(|f| (f, value::decode(f, self.field(f))))
            .collect()
    }
}

/// `value` padded with 0xFF to the field's size, or an error if it is longer.
pub(super) fn pad_to_field(field: &'static Field, value: &[u8]) -> Result<Vec<u8>, DctError> {
    if value.len() > field.size {
        return Err(DctError::FieldTooLong {
            field: field.name,
            len: value.len(),
            size: field.size,
        });
    }
    let mut out = value.to_vec();
    out.resize(field.size, 0xFF);
    Ok(out)
}
