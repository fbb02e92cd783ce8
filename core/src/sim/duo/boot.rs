//! What the firmware does with the key slot when the board boots
//! (REFERENCE §2 "Key slot states", Device OS `HAL_FLASH_Read_CorePrivateKey`):
//! it reads 612 bytes at application-DCT offset 34 and treats the slot as
//! empty only if the first byte is 0xFF. Then it generates an RSA-1024 key,
//! writes it at 34 (612 bytes) and rewrites the public key at 1250 from it.
//! Any other first byte counts as a key and is kept, even garbage.
//!
//! How the bytes come out, following the firmware:
//! - the 612-byte buffer it writes is the slot it just read with the new
//!   PKCS#1 DER laid over its start (`gen_rsa_key` fills only the DER), so
//!   the bytes after the DER keep what the slot held — 0xFF on a factory
//!   device, 0x00 after the reset request — and bytes 612..1216 of the slot
//!   are not touched;
//! - the public key is written as `fetch_device_public_key` does: a
//!   384-byte buffer zeroed, the SubjectPublicKeyInfo DER at its start,
//!   written only if it differs from what is there.
//!
//! Both writes go through `dct_write_app_data` (in place or a partition
//! copy, REFERENCE §2). After generating a key the firmware resets
//! ([`BootReport::reset_after_key`]).
//!
//! On every boot with a valid key the public key at 1250 is re-derived from
//! the private key and rewritten only if it differs (REFERENCE §2: the
//! firmware does so each time the cloud protocol starts, i.e. at every
//! connection attempt, which follows every boot), so after `keys load` and a
//! boot the DCT holds the matching public key.

use serde::{Deserialize, Serialize};

use crate::keys;
use crate::platform::{known_field, PRIVATE_KEY_READ_LEN};

use super::memory::Memory;
use super::SimError;

/// What the boot did about the device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootReport {
    /// First byte of the key slot as the firmware found it.
    pub slot_first_byte: u8,
    /// Whether the firmware generated a new key (first byte was 0xFF).
    pub generated_key: bool,
    /// SHA-256 fingerprint of the public half of the key the slot holds
    /// after boot ([`keys::fingerprint`]); `None` when a kept slot does not
    /// parse as a key (the device will fail the cloud handshake).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The firmware generated a key and reset once more (REFERENCE §2).
    #[serde(default)]
    pub reset_after_key: bool,
    /// The public key at 1250 was rewritten (it did not match the private key).
    #[serde(default)]
    pub public_key_rewritten: bool,
    /// The cloud connection the firmware tried after the key rule
    /// (REFERENCE §5); `None` when the boot did not get that far.
    #[serde(default)]
    pub connection: Option<crate::protocol::connect::ConnectOutcome>,
    /// Which server key the connection started from: the DCT's block, or
    /// on 0.3.x the built-in one replacing a blank block in RAM (REFERENCE §2).
    #[serde(default)]
    pub server_key: Option<super::connect::ServerKeySource>,
    /// The bootloader booted a WICED application (`wiced_application` =
    /// 0x5AA5, REFERENCE §1): the system firmware, its key rule and its
    /// cloud connection did not run.
    #[serde(default)]
    pub wiced_application: bool,
}

impl BootReport {
    /// A boot into a WICED application: the key slot is left as it is.
    pub(crate) fn wiced_application(mem: &Memory) -> BootReport {
        let private = known_field("device_private_key");
        BootReport {
            slot_first_byte: mem.app_dct_read(private.offset, 1)[0],
            generated_key: false,
            fingerprint: None,
            reset_after_key: false,
            public_key_rewritten: false,
            connection: None,
            server_key: None,
            wiced_application: true,
        }
    }
}

/// Run the firmware's key rule against the DCT.
pub(crate) fn apply_key_rule(mem: &mut Memory) -> Result<BootReport, SimError> {
    let private = known_field("device_private_key");
    let mut slot = mem.app_dct_read(private.offset, PRIVATE_KEY_READ_LEN);
    let first = slot[0];
    if first != 0xFF {
        let kept = mem.app_dct_read(private.offset, private.size);
        let key = keys::classify_slot(&kept)
            .is_valid()
            .then(|| keys::parse_private_key(&kept).ok())
            .flatten();
        let public_key_rewritten = match &key {
            Some(key) => write_public_key(mem, key)?,
            None => false,
        };
        return Ok(BootReport {
            slot_first_byte: first,
            generated_key: false,
            fingerprint: key.map(|key| keys::fingerprint(&key.to_public_key())),
            reset_after_key: false,
            public_key_rewritten,
            connection: None,
            server_key: None,
            wiced_application: false,
        });
    }
    let key = keys::generate().map_err(SimError::Key)?;
    let der = keys::private_key_to_der(&key).map_err(SimError::Key)?;
    if der.len() > slot.len() {
        return Err(SimError::Platform(format!(
            "generated key DER is {} bytes, more than the {} the firmware writes",
            der.len(),
            slot.len()
        )));
    }
    slot[..der.len()].copy_from_slice(&der);
    mem.app_dct_write(private.offset, &slot)?;
    let public_key_rewritten = write_public_key(mem, &key)?;
    Ok(BootReport {
        slot_first_byte: first,
        generated_key: true,
        fingerprint: Some(keys::fingerprint(&key.to_public_key())),
        reset_after_key: true,
        public_key_rewritten,
        connection: None,
        server_key: None,
        wiced_application: false,
    })
}

/// `fetch_device_public_key`: the 162-byte SubjectPublicKeyInfo of `key`
/// then 222 zero bytes at 1250, written only if it differs. Returns whether
/// it was written.
fn write_public_key(mem: &mut Memory, key: &keys::RsaPrivateKey) -> Result<bool, SimError> {
    let public = known_field("device_public_key");
    let spki = keys::public_key_to_der(&key.to_public_key()).map_err(SimError::Key)?;
    let mut block = vec![0u8; public.size];
    block[..spki.len()].copy_from_slice(&spki);
    if mem.app_dct_read(public.offset, public.size) == block {
        return Ok(false);
    }
    mem.app_dct_write(public.offset, &block)?;
    Ok(true)
}
