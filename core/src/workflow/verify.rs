//! `verify`: read the device's key and server block over DFU and check that
//! the next connection can work — the key is valid and matches the public
//! key in the DCT, the server block parses and says where it connects — and,
//! with a handshake, run the device side of REFERENCE §5 from the host with
//! the device's keys against that server (against the real cloud this opens
//! a session as that device).

use std::time::Duration;

use serde::Serialize;

use crate::device::{Device, DeviceError};
use crate::keys::{self, SlotState};
use crate::protocol::coap::HelloPayload;
use crate::protocol::connect::{self, ConnectOptions, ConnectOutcome};
use crate::protocol::device::DeviceCredentials;
use crate::server_key::{self, ServerKeySummary};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    /// The device id (12 bytes), needed for the handshake only.
    pub device_id: Option<[u8; 12]>,
    /// Run the handshake against the server in the block.
    pub handshake: bool,
    /// Connect to loopback servers only (tests).
    pub loopback_only: bool,
}

/// The device key check.
#[derive(Debug, Clone, Serialize)]
pub struct KeyCheck {
    pub state: SlotState,
    pub fingerprint: Option<String>,
    /// The public key at DCT 1250 is the key's public half.
    pub matches_dct_public_key: bool,
}

/// The server block check.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCheck {
    pub summary: Option<ServerKeySummary>,
    pub error: Option<String>,
}

/// What `verify` found; `ok` only if every check held.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub key: KeyCheck,
    pub server: ServerCheck,
    pub handshake: Option<ConnectOutcome>,
    /// One line per failed check, with what to do.
    pub problems: Vec<String>,
}

/// A virtual Duo knows its id; a board in DFU mode may not (REFERENCE §1).
fn virtual_device_id(device: &Device) -> Option<[u8; 12]> {
    #[cfg(feature = "sim")]
    if let crate::device::Connection::Sim(dir) = device.connection() {
        return crate::sim::duo::VirtualDuo::probe(dir)
            .ok()
            .map(|i| i.device_id);
    }
    let _ = device;
    None
}

/// Run the checks on an open device in DFU mode.
pub fn verify(device: &mut Device, request: &VerifyRequest) -> Result<VerifyReport, DeviceError> {
    let dct = device.read_app_dct()?;
    let mut problems = Vec::new();
    let slot = dct.private_key_slot();
    let state = keys::classify_slot(slot);
    let private = state
        .is_valid()
        .then(|| keys::parse_private_key(slot).ok())
        .flatten();
    let public = keys::parse_public_key(dct.public_key_slot()).ok();
    let matches = match (&private, &public) {
        (Some(k), Some(p)) => keys::keys_match(k, p),
        _ => false,
    };
    match &private {
        None => problems.push(format!(
            "the device key slot holds no valid key ({state:?}): load a backed-up key or give the \
             device a new one (keys doctor)"
        )),
        Some(_) if !matches => problems.push(
            "the public key at DCT 1250 is not the private key's public half: the firmware \
             rewrites it at its next connection attempt; boot the device once"
                .into(),
        ),
        Some(_) => {}
    }
    let block = server_key::parse_server_key(dct.server_key_block());
    let server = match &block {
        Ok(b) => ServerCheck {
            summary: Some(b.summary()),
            error: None,
        },
        Err(e) => {
            problems.push(format!(
                "the server key block at DCT 2082 does not parse ({e}): write the server key block of \
                 the cloud it should use"
            ));
            ServerCheck {
                summary: None,
                error: Some(e.to_string()),
            }
        }
    };
    let device_id = request.device_id.or_else(|| virtual_device_id(device));
    let handshake = match (request.handshake, &private, &block, device_id) {
        (false, ..) => None,
        (true, Some(key), Ok(block), Some(device_id)) => {
            let platform_id = device.platform().platform_id;
            let credentials = DeviceCredentials {
                device_id,
                device_key: key.clone(),
                server_key: block.key.clone(),
                hello: HelloPayload {
                    product_id: platform_id,
                    firmware_version: 0,
                    flags: 0,
                    platform_id,
                },
            };
            let outcome = connect::connect_to_server(
                block,
                &credentials,
                ConnectOptions {
                    loopback_only: request.loopback_only,
                    stay: Duration::ZERO,
                    time_factor: 1.0,
                    sleep: &|_| {},
                },
            );
            if !outcome.is_connected() {
                problems.push(format!("handshake: {outcome}"));
            }
            Some(outcome)
        }
        (true, _, _, None) => {
            problems.push("the handshake needs the device id: give DEVICE_ID".into());
            None
        }
        (true, ..) => {
            problems.push("no handshake: the key or the server block is not usable".into());
            None
        }
    };
    Ok(VerifyReport {
        ok: problems.is_empty(),
        key: KeyCheck {
            state,
            fingerprint: private.map(|k| keys::fingerprint(&k.to_public_key())),
            matches_dct_public_key: matches,
        },
        server,
        handshake,
        problems,
    })
}
