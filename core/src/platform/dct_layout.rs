//! The application-DCT layout of each firmware generation (REFERENCE §2,
//! "The table above is exact for Duo firmware 0.3.0/0.3.1" and the list of
//! differences per RedBear `dct.h` tag). Offsets below 1658 and from 1762 to
//! 3618 are the same in all three.

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
/// name means the same bytes in every layout.
pub const V0_2_FIELDS: &[Field] = &[
    f("system_flags", 0, 32),
    f("version", 32, 2),
    f("device_private_key", 34, 1216),
    f("device_public_key", 1250, 384),
    f("ip_config", 1634, 24),
    f("unused", 1658, 104),
    f("claim_code", 1762, 63),
    f("claimed", 1825, 1),
    f("ssid_prefix", 1826, 26),
    f("device_code", 1852, 6),
    f("version_string", 1858, 32),
    f("dns_resolve", 1890, 128),
    f("reserved1", 2018, 64),
    f("server_public_key", 2082, 768),
    f("padding", 2850, 2),
    f("flash_modules", 2852, 100),
    f("product_store", 2952, 24),
    f("antenna_selection", 2976, 1),
    f("cloud_transport", 2977, 1),
    f("alt_device_public_key", 2978, 128),
    f("alt_device_private_key", 3106, 192),
    f("alt_server_public_key", 3298, 192),
    f("alt_server_address", 3490, 128),
    f("reserved2", 3618, 640),
    f("extra_system_flags", 4258, 32),
];

/// Firmware 0.3.2/0.3.3: as 0.3.0 up to 3822, then `eap_config` at 3823
/// (enterprise Wi-Fi; REFERENCE gives 4324 bytes but places `reserved2` at
/// 8119, which leaves 4296: the offsets are taken), `reserved2` at 8119
/// (272), extra system flags at 8391, end 8423.
pub const V0_3_2_FIELDS: &[Field] = &[
    f("system_flags", 0, 32),
    f("version", 32, 2),
    f("device_private_key", 34, 1216),
    f("device_public_key", 1250, 384),
    f("ip_config", 1634, 24),
    f("unused", 1658, 96),
    f("feature_flags", 1754, 4),
    f("country_code", 1758, 4),
    f("claim_code", 1762, 63),
    f("claimed", 1825, 1),
    f("ssid_prefix", 1826, 26),
    f("device_code", 1852, 6),
    f("version_string", 1858, 32),
    f("dns_resolve", 1890, 128),
    f("reserved1", 2018, 64),
    f("server_public_key", 2082, 768),
    f("padding", 2850, 2),
    f("flash_modules", 2852, 100),
    f("product_store", 2952, 24),
    f("antenna_selection", 2976, 1),
    f("cloud_transport", 2977, 1),
    f("alt_device_public_key", 2978, 128),
    f("alt_device_private_key", 3106, 192),
    f("alt_server_public_key", 3298, 192),
    f("alt_server_address", 3490, 128),
    f("device_id", 3618, 12),
    f("radio_flags", 3630, 1),
    f("mode_button_mirror", 3631, 32),
    f("led_mirror", 3663, 96),
    f("led_theme", 3759, 64),
    f("eap_config", 3823, 4296),
    f("reserved2", 8119, 272),
    f("extra_system_flags", 8391, 32),
];

impl DctLayout {
    /// The field table, in offset order, contiguous from 0.
    pub fn fields(self) -> &'static [Field] {
        match self {
            DctLayout::V0_2 => V0_2_FIELDS,
            DctLayout::V0_3_0 => APP_DCT_FIELDS,
            DctLayout::V0_3_2 => V0_3_2_FIELDS,
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
