//! The firmware's cloud connection after boot (REFERENCE §5, device side):
//! the server block and server key from DCT 2082, the device key from DCT 34,
//! then the handshake and the Hello exchange against the address in the
//! block ([`crate::protocol::connect`]). The virtual Duo connects only to
//! loopback addresses: for any other host (the factory `device.spark.io`) it
//! reports where it would connect and that it did not try.

use std::time::Duration;

use crate::keys;
use crate::platform::{known_field, Platform};
use crate::protocol::coap::HelloPayload;
use crate::protocol::connect::{self, ConnectOptions, ConnectOutcome};
use crate::protocol::device::{DeviceCredentials, Step};
use crate::server_key;

use super::memory::Memory;

/// What the connect step needs besides the DCT.
#[derive(Clone, Copy)]
pub(crate) struct ConnectContext<'a> {
    pub platform: &'static Platform,
    pub device_id: [u8; 12],
    /// Stay connected this long (device time), pinging every 15 s.
    pub stay: Duration,
    pub time_factor: f64,
    pub sleep: &'a dyn Fn(Duration),
    /// The firmware replaces a blank server key block by its built-in one,
    /// in RAM only (0.3.x, REFERENCE §2 "Server public key block").
    pub builtin_server_key: bool,
}

/// Which server key the firmware starts its connection with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKeySource {
    /// The block at DCT 2082.
    Dct,
    /// The block was blank (all 0xFF): firmware 0.3.x uses its built-in
    /// key for the public cloud (`device.spark.io`, 5683), in RAM only; the
    /// DCT keeps its 0xFF bytes.
    BuiltIn,
    /// The block was blank and the firmware (0.2.x) has no built-in key.
    Missing,
    /// The block is not blank and does not parse.
    Unusable,
}

/// Where the server key comes from, given the 768 bytes at DCT 2082.
pub(crate) fn server_key_source(block: &[u8], builtin_server_key: bool) -> ServerKeySource {
    let blank = block.iter().all(|&b| b == 0xFF);
    match (blank, builtin_server_key) {
        (true, true) => ServerKeySource::BuiltIn,
        (true, false) => ServerKeySource::Missing,
        (false, _) if server_key::parse_server_key(block).is_ok() => ServerKeySource::Dct,
        (false, _) => ServerKeySource::Unusable,
    }
}

/// Connect as the firmware does after boot.
pub(crate) fn connect(mem: &Memory, cx: ConnectContext<'_>) -> ConnectOutcome {
    let field = known_field("server_public_key");
    let raw = mem.app_dct_read(field.offset, field.size);
    let not_tried = |reason: String| ConnectOutcome::NotTried {
        host: server_key::DEFAULT_HOST.to_string(),
        port: server_key::DEFAULT_PORT,
        reason,
    };
    let block =
        match server_key_source(&raw, cx.builtin_server_key) {
            ServerKeySource::Dct => match server_key::parse_server_key(&raw) {
                Ok(b) => b,
                Err(e) => return not_tried(e.to_string()),
            },
            // REFERENCE §2: 0.3.x replaces a blank block in RAM by its built-in
            // key for the public cloud; the virtual Duo never connects there.
            ServerKeySource::BuiltIn => return not_tried(
                "the server key block at DCT 2082 is blank (all 0xFF), so the firmware uses its \
                 built-in key for the public cloud (in RAM; the DCT stays blank); the virtual \
                 Duo connects only to loopback addresses"
                    .into(),
            ),
            ServerKeySource::Missing => return not_tried(
                "the server key block at DCT 2082 is blank (all 0xFF) and firmware 0.2.x has no \
                 built-in key: the handshake cannot start until a server key is written at 2082"
                    .into(),
            ),
            // Any other unusable block leaves the firmware on its fallback
            // address: device.spark.io, never a loopback server.
            ServerKeySource::Unusable => {
                let e = server_key::parse_server_key(&raw)
                    .err()
                    .map_or_else(String::new, |e| e.to_string());
                return not_tried(format!(
                    "the server key block at DCT 2082 is not usable ({e}), so the firmware falls \
                 back to the public cloud; the virtual Duo connects only to loopback addresses"
                ));
            }
        };
    if let Some(not_tried) = connect::not_loopback(&block) {
        return not_tried;
    }
    let slot_field = known_field("device_private_key");
    let slot = mem.app_dct_read(slot_field.offset, slot_field.size);
    let device_key = keys::classify_slot(&slot)
        .is_valid()
        .then(|| keys::parse_private_key(&slot).ok())
        .flatten();
    let options = ConnectOptions {
        loopback_only: true,
        stay: cx.stay,
        time_factor: cx.time_factor,
        sleep: cx.sleep,
    };
    let Some(device_key) = device_key else {
        return ConnectOutcome::Rejected {
            host: block.address.to_string(),
            port: block.port,
            step: Step::Identity,
            reason: "the device key slot at DCT 34 holds no valid key (write a backed-up key or \
                     the reset request into it in DFU mode)"
                .into(),
        };
    };
    let credentials = DeviceCredentials {
        device_id: cx.device_id,
        device_key,
        server_key: block.key.clone(),
        hello: HelloPayload {
            product_id: cx.platform.platform_id,
            firmware_version: 0,
            flags: 0,
            platform_id: cx.platform.platform_id,
        },
    };
    connect::connect_to_server(&block, &credentials, options)
}
