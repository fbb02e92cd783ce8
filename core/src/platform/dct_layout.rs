//! The application-DCT layout of each firmware generation (REFERENCE §2,
//! "The table above is exact for Duo firmware 0.3.0/0.3.1" and the list of
//! differences per RedBear `dct.h` tag). Offsets below 1658 and from 1762 to
//! 3618 are the same in all three.

use std::sync::OnceLock;

use super::{Field, APP_DCT_FIELDS};
use crate::platform::board::DctLayout;

const fn f(name: &'static str, offset: usize, size: usize) -> Field {
    Field { name, offset, size }
}

/// Firmware 0.2.x: no feature flags or country code (`unused` runs from
/// 1658 to the claim code at 1762; REFERENCE §2 calls it `unused[100]` and
/// puts the later country-code offset inside it, so it is taken to cover
/// 1658..1762), the fields from 3618 to 3822 do not exist (`reserved2` runs
/// 3618–4257), extra system flags at 4258, end 4290. The field REFERENCE
/// calls "device id" at 1852 keeps the name `device_code` here so the same
/// name means the same bytes in every layout. Built from the 0.3.0 table:
/// fields 0..5 and 8..25 are the same.
fn v0_2_fields() -> Vec<Field> {
    let mut out = APP_DCT_FIELDS[..5].to_vec();
    out.push(f("unused", 1658, 104));
    out.extend_from_slice(&APP_DCT_FIELDS[8..25]);
    out.push(f("reserved2", 3618, 640));
    out.push(f("extra_system_flags", 4258, 32));
    out
}

/// Firmware 0.3.2/0.3.3: as 0.3.0 up to 3822, then `eap_config` at 3823
/// (enterprise Wi-Fi; REFERENCE gives 4324 bytes but places `reserved2` at
/// 8119, which leaves 4296: the offsets are taken), `reserved2` at 8119
/// (272), extra system flags at 8391, end 8423.
fn v0_3_2_fields() -> Vec<Field> {
    let mut out = APP_DCT_FIELDS[..30].to_vec();
    out.push(f("eap_config", 3823, 4296));
    out.push(f("reserved2", 8119, 272));
    out.push(f("extra_system_flags", 8391, 32));
    out
}

static V0_2: OnceLock<Vec<Field>> = OnceLock::new();
static V0_3_2: OnceLock<Vec<Field>> = OnceLock::new();

impl DctLayout {
    /// The field table, in offset order, contiguous from 0.
    pub fn fields(self) -> &'static [Field] {
        match self {
            DctLayout::V0_2 => V0_2.get_or_init(v0_2_fields),
            DctLayout::V0_3_0 => APP_DCT_FIELDS,
            DctLayout::V0_3_2 => V0_3_2.get_or_init(v0_3_2_fields),
        }
    }

    /// Size of the application DCT: one past its last field.
    pub fn size(self) -> usize {
        self.fields().last().map_or(0, Field::end)
    }

    pub fn field(self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// `0.2.x`, `0.3.0/0.3.1`, `0.3.2+`: the firmware versions using it.
    pub fn firmware(self) -> &'static str {
        match self {
            DctLayout::V0_2 => "0.2.x",
            DctLayout::V0_3_0 => "0.3.0/0.3.1",
            DctLayout::V0_3_2 => "0.3.2+",
        }
    }

    /// The layout of a firmware version (`0.2.4`, `0.3.1`, `0.3.3`, also
    /// `0.2`, `0.3.0`, `0.3.2`).
    pub fn for_firmware(version: &str) -> Option<DctLayout> {
        let v = version.trim().trim_start_matches('v');
        let mut parts = v.split('.').map(|p| p.parse::<u8>().ok());
        let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next().flatten());
        match (major, minor, patch.unwrap_or(0)) {
            (0, 2, _) => Some(DctLayout::V0_2),
            (0, 3, 0 | 1) => Some(DctLayout::V0_3_0),
            (0, 3, _) => Some(DctLayout::V0_3_2),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_is_contiguous_and_ends_where_reference_says() {
        for (layout, end, flags) in [
            (DctLayout::V0_2, 4290, 4258),
            (DctLayout::V0_3_0, 4290, 4258),
            (DctLayout::V0_3_2, 8423, 8391),
        ] {
            let mut next = 0;
            for f in layout.fields() {
                assert_eq!(f.offset, next, "{layout:?}: gap before {}", f.name);
                next = f.end();
            }
            assert_eq!(layout.size(), end);
            assert_eq!(layout.field("extra_system_flags").unwrap().offset, flags);
        }
        assert!(DctLayout::V0_2.field("feature_flags").is_none());
        assert!(DctLayout::V0_2.field("device_id").is_none());
        assert_eq!(DctLayout::V0_3_2.field("eap_config").unwrap().offset, 3823);
        assert_eq!(DctLayout::for_firmware("0.3.3"), Some(DctLayout::V0_3_2));
        assert_eq!(DctLayout::for_firmware("0.2.4"), Some(DctLayout::V0_2));
        assert_eq!(DctLayout::for_firmware("0.3.1"), Some(DctLayout::V0_3_0));
        assert_eq!(DctLayout::for_firmware("1.0"), None);
    }
}
