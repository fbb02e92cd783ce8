//! DCT tests against REFERENCE §2 and RedBear's factory image.

mod image;
mod layout;
mod properties;
mod values;

use super::*;
use crate::platform::{APP_DCT_SIZE, DUO};
use crate::FACTORY_DCT_IMAGE;

/// REFERENCE §2, "Application DCT layout", copied row by row so that a change
/// to `APP_DCT_FIELDS` cannot go unnoticed.
pub(super) const REFERENCE_TABLE: &[(&str, usize, usize)] = &[
    ("system_flags", 0, 32),
    ("version", 32, 2),
    ("device_private_key", 34, 1216),
    ("device_public_key", 1250, 384),
    ("ip_config", 1634, 24),
    ("unused", 1658, 96),
    ("feature_flags", 1754, 4),
    ("country_code", 1758, 4),
    ("claim_code", 1762, 63),
    ("claimed", 1825, 1),
    ("ssid_prefix", 1826, 26),
    ("device_code", 1852, 6),
    ("version_string", 1858, 32),
    ("dns_resolve", 1890, 128),
    ("reserved1", 2018, 64),
    ("server_public_key", 2082, 768),
    ("padding", 2850, 2),
    ("flash_modules", 2852, 100),
    ("product_store", 2952, 24),
    ("antenna_selection", 2976, 1),
    ("cloud_transport", 2977, 1),
    ("alt_device_public_key", 2978, 128),
    ("alt_device_private_key", 3106, 192),
    ("alt_server_public_key", 3298, 192),
    ("alt_server_address", 3490, 128),
    ("device_id", 3618, 12),
    ("radio_flags", 3630, 1),
    ("mode_button_mirror", 3631, 32),
    ("led_mirror", 3663, 96),
    ("led_theme", 3759, 64),
    ("reserved2", 3823, 435),
    ("extra_system_flags", 4258, 32),
];

pub(super) const APP_AT: usize = 0x1D7C;

pub(super) fn factory_image() -> DctImage {
    DctImage::from_bytes(&DUO, FACTORY_DCT_IMAGE).unwrap()
}

pub(super) fn factory_app_bytes() -> &'static [u8] {
    &FACTORY_DCT_IMAGE[APP_AT..APP_AT + APP_DCT_SIZE]
}

pub(super) fn blank_app() -> AppDct {
    AppDct::from_bytes(&DUO, &[0u8; APP_DCT_SIZE]).unwrap()
}
