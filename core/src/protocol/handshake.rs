//! The handshake messages (REFERENCE §5 steps 1–5).
//!
//! 1. server → device: [`NONCE_LEN`] random bytes;
//! 2. device → server: [`encrypt_identity`]: RSA-2048 PKCS#1 v1.5 type 2, to
//!    the server key in the DCT, of nonce ‖ 12-byte device id ‖ 162-byte SPKI
//!    (214 bytes) → 256 bytes; the server opens it with [`decrypt_identity`];
//! 4. server → device: [`seal_credentials`]: the 40 credential bytes
//!    (AES key ‖ IV ‖ salt) RSA-1024 type 2 to the **held** device key
//!    (128 bytes) ‖ the raw type-1 signature of HMAC-SHA1(ciphertext, key =
//!    credentials) (256 bytes) = 384 bytes;
//! 5. the device opens it with [`open_credentials`].
//!
//! RSA decryption may answer a wrong key with random bytes instead of an
//! error (implicit rejection), so lengths and the nonce are checked and the
//! signature and HMAC decide.

use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Encrypt, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;

use super::ProtocolError;
use crate::keys;

pub const NONCE_LEN: usize = 40;
pub const DEVICE_ID_LEN: usize = 12;
/// The SubjectPublicKeyInfo DER of an RSA-1024 key with e = 65537.
pub const DEVICE_PUBLIC_KEY_DER_LEN: usize = 162;
pub const IDENTITY_PLAINTEXT_LEN: usize = NONCE_LEN + DEVICE_ID_LEN + DEVICE_PUBLIC_KEY_DER_LEN;
/// Step 2 on the wire: one RSA-2048 block.
pub const IDENTITY_LEN: usize = 256;
pub const CREDENTIALS_LEN: usize = 40;
/// The credentials encrypted to an RSA-1024 device key.
pub const CREDENTIALS_CIPHERTEXT_LEN: usize = 128;
pub const HMAC_LEN: usize = 20;
/// A signature by the RSA-2048 server key.
pub const SIGNATURE_LEN: usize = 256;
/// Step 4 on the wire.
pub const SERVER_REPLY_LEN: usize = CREDENTIALS_CIPHERTEXT_LEN + SIGNATURE_LEN;

/// The session credentials of step 4. `Debug` does not print them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub aes_key: [u8; 16],
    pub iv: [u8; 16],
    pub salt: [u8; 8],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Credentials {
    pub fn from_bytes(bytes: &[u8; CREDENTIALS_LEN]) -> Credentials {
        let mut c = Credentials {
            aes_key: [0; 16],
            iv: [0; 16],
            salt: [0; 8],
        };
        c.aes_key.copy_from_slice(&bytes[..16]);
        c.iv.copy_from_slice(&bytes[16..32]);
        c.salt.copy_from_slice(&bytes[32..]);
        c
    }

    /// AES key ‖ IV ‖ salt.
    pub fn to_bytes(&self) -> [u8; CREDENTIALS_LEN] {
        let mut out = [0; CREDENTIALS_LEN];
        out[..16].copy_from_slice(&self.aes_key);
        out[16..32].copy_from_slice(&self.iv);
        out[32..].copy_from_slice(&self.salt);
        out
    }

    pub fn random(rng: &mut impl CryptoRngCore) -> Credentials {
        let mut bytes = [0; CREDENTIALS_LEN];
        rng.fill_bytes(&mut bytes);
        Credentials::from_bytes(&bytes)
    }
}

/// What step 2 tells the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub device_id: [u8; DEVICE_ID_LEN],
    /// The 162-byte SPKI DER as sent.
    pub public_key_der: Vec<u8>,
    pub public_key: RsaPublicKey,
}

impl Identity {
    /// The device id as the cloud writes it (24 lowercase hex).
    pub fn device_id_hex(&self) -> String {
        hex::encode(self.device_id)
    }
}

/// The 162-byte SPKI DER a device sends for its key.
pub fn device_public_key_der(key: &RsaPublicKey) -> Result<Vec<u8>, ProtocolError> {
    let der = keys::public_key_to_der(key).map_err(|e| ProtocolError::DevicePublicKey {
        detail: e.to_string(),
    })?;
    if der.len() != DEVICE_PUBLIC_KEY_DER_LEN {
        return Err(ProtocolError::DevicePublicKey {
            detail: format!(
                "it is {} bytes (an RSA-{} key)",
                der.len(),
                keys::key_bits(key)
            ),
        });
    }
    Ok(der)
}

/// Step 2's plaintext: nonce ‖ device id ‖ SPKI DER (214 bytes).
pub fn identity_plaintext(
    nonce: &[u8; NONCE_LEN],
    device_id: &[u8; DEVICE_ID_LEN],
    device_key: &RsaPublicKey,
) -> Result<Vec<u8>, ProtocolError> {
    let mut plain = Vec::with_capacity(IDENTITY_PLAINTEXT_LEN);
    plain.extend_from_slice(nonce);
    plain.extend_from_slice(device_id);
    plain.extend(device_public_key_der(device_key)?);
    Ok(plain)
}

/// Step 2, device side: 256 bytes for the server.
pub fn encrypt_identity(
    server_key: &RsaPublicKey,
    nonce: &[u8; NONCE_LEN],
    device_id: &[u8; DEVICE_ID_LEN],
    device_key: &RsaPublicKey,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, ProtocolError> {
    let plain = identity_plaintext(nonce, device_id, device_key)?;
    let out = server_key
        .encrypt(rng, Pkcs1v15Encrypt, &plain)
        .map_err(|e| ProtocolError::Encrypt {
            what: "server key in the DCT",
            detail: e.to_string(),
        })?;
    check_len("the handshake", IDENTITY_LEN, out.len())?;
    Ok(out)
}

/// Step 3, server side: open step 2 and check its nonce.
pub fn decrypt_identity(
    server_key: &RsaPrivateKey,
    nonce: &[u8; NONCE_LEN],
    message: &[u8],
) -> Result<Identity, ProtocolError> {
    check_len("the device's handshake", IDENTITY_LEN, message.len())?;
    let plain = server_key
        .decrypt(Pkcs1v15Encrypt, message)
        .map_err(|_| ProtocolError::IdentityDecrypt)?;
    if plain.len() != IDENTITY_PLAINTEXT_LEN {
        // Implicit rejection: a wrong key gives random bytes of any length.
        return Err(ProtocolError::IdentityDecrypt);
    }
    if plain[..NONCE_LEN] != nonce[..] {
        return Err(ProtocolError::NonceMismatch);
    }
    let mut device_id = [0; DEVICE_ID_LEN];
    device_id.copy_from_slice(&plain[NONCE_LEN..NONCE_LEN + DEVICE_ID_LEN]);
    let public_key_der = plain[NONCE_LEN + DEVICE_ID_LEN..].to_vec();
    let public_key =
        keys::parse_public_key(&public_key_der).map_err(|e| ProtocolError::DevicePublicKey {
            detail: e.to_string(),
        })?;
    Ok(Identity {
        device_id,
        public_key_der,
        public_key,
    })
}

/// HMAC-SHA1 of `data` keyed with `key`.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; HMAC_LEN] {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// PKCS#1 v1.5 type-1 padding over the raw bytes, no DigestInfo (OpenSSL
/// `RSA_private_encrypt`): what the device verifies.
pub fn sign_raw(server_key: &RsaPrivateKey, data: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    server_key
        .sign(Pkcs1v15Sign::new_unprefixed(), data)
        .map_err(|e| ProtocolError::Sign {
            detail: e.to_string(),
        })
}

/// The bytes a raw type-1 signature carries (`RSA_public_decrypt`), or
/// `None` when its padding is not `00 01 FF…FF 00` (another key signed it).
pub fn recover_raw(server_key: &RsaPublicKey, signature: &[u8]) -> Option<Vec<u8>> {
    let k = server_key.size();
    if signature.len() != k {
        return None;
    }
    let s = BigUint::from_bytes_be(signature);
    if &s >= server_key.n() {
        return None;
    }
    let m = s.modpow(server_key.e(), server_key.n()).to_bytes_be();
    let mut em = vec![0u8; k - m.len()];
    em.extend(m);
    if em.len() < 11 || em[0] != 0 || em[1] != 1 {
        return None;
    }
    let sep = em[2..].iter().position(|&b| b != 0xFF)? + 2;
    if sep < 10 || em[sep] != 0 {
        return None;
    }
    Some(em[sep + 1..].to_vec())
}

/// Step 4, server side: 384 bytes for the device.
pub fn seal_credentials(
    server_key: &RsaPrivateKey,
    held_device_key: &RsaPublicKey,
    credentials: &Credentials,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, ProtocolError> {
    let secret = credentials.to_bytes();
    let mut out = held_device_key
        .encrypt(rng, Pkcs1v15Encrypt, &secret)
        .map_err(|e| ProtocolError::Encrypt {
            what: "device key the cloud holds",
            detail: e.to_string(),
        })?;
    check_len(
        "the encrypted credentials",
        CREDENTIALS_CIPHERTEXT_LEN,
        out.len(),
    )?;
    let mac = hmac_sha1(&secret, &out);
    out.extend(sign_raw(server_key, &mac)?);
    check_len("the server's reply", SERVER_REPLY_LEN, out.len())?;
    Ok(out)
}

/// Step 5, device side: decrypt the credentials with the device key, check
/// the signature with the server key in the DCT, then the HMAC.
pub fn open_credentials(
    device_key: &RsaPrivateKey,
    server_key: &RsaPublicKey,
    message: &[u8],
) -> Result<Credentials, ProtocolError> {
    check_len("the server's reply", SERVER_REPLY_LEN, message.len())?;
    let (ciphertext, signature) = message.split_at(CREDENTIALS_CIPHERTEXT_LEN);
    let secret = device_key
        .decrypt(Pkcs1v15Encrypt, ciphertext)
        .map_err(|_| ProtocolError::CredentialsDecrypt)?;
    let secret: [u8; CREDENTIALS_LEN] = secret
        .try_into()
        .map_err(|_| ProtocolError::CredentialsDecrypt)?;
    let signed = recover_raw(server_key, signature).ok_or(ProtocolError::Signature)?;
    if signed.len() != HMAC_LEN {
        return Err(ProtocolError::Signature);
    }
    if hmac_sha1(&secret, ciphertext)[..] != signed[..] {
        // The server signed its HMAC: ours differs because the credentials
        // we decrypted are not the ones it encrypted.
        return Err(ProtocolError::Hmac);
    }
    Ok(Credentials::from_bytes(&secret))
}

pub(super) fn check_len(
    what: &'static str,
    expected: usize,
    got: usize,
) -> Result<(), ProtocolError> {
    if expected == got {
        Ok(())
    } else {
        Err(ProtocolError::Length {
            what,
            expected,
            got,
        })
    }
}
