//! `duo_provisioning::keys` and `server_key`: device keys and the server key
//! block (REFERENCE §2 offset 2082, §3).

use duo_provisioning::keys;
use duo_provisioning::server_key;
use napi::bindgen_prelude::{Buffer, Either};
use napi::{Env, Unknown};
use napi_derive::napi;

use crate::convert::{key_bytes, to_js};
use crate::error::{throw, CoreError};

/// A new device key (RSA-1024, e = 65537, as the firmware makes them).
#[napi(object)]
pub struct GeneratedKey {
    /// PKCS#1 DER: what particle-cli's `.der` files and the key slot hold.
    pub der: Buffer,
    /// The same key as PKCS#1 PEM.
    pub pem: String,
    /// Its public half, PEM SubjectPublicKeyInfo (what the cloud is sent).
    pub public_pem: String,
    /// Lower-case hex SHA-256 of the public key's SPKI DER.
    pub fingerprint: String,
    pub bits: u32,
}

/// Make a new device key.
#[napi]
pub fn generate_key(env: Env) -> napi::Result<GeneratedKey> {
    let made = (|| -> Result<GeneratedKey, keys::KeyError> {
        let key = keys::generate()?;
        let public = key.to_public_key();
        Ok(GeneratedKey {
            der: keys::private_key_to_der(&key)?.into(),
            pem: keys::private_key_to_pem(&key)?,
            public_pem: keys::public_key_to_pem(&public)?,
            fingerprint: keys::fingerprint(&public),
            bits: keys::key_bits(&key) as u32,
        })
    })();
    made.map_err(|e| throw(&env, e))
}

/// What a key file, key bytes or key slot dump holds (the core's
/// `KeyReport`): `{ kind, state, bits, format, fingerprint, … }`. A string is
/// read as a file path.
#[napi(ts_return_type = "KeyReport")]
pub fn inspect_key<'env>(
    env: &'env Env,
    key: Either<Buffer, String>,
) -> napi::Result<Unknown<'env>> {
    let bytes = key_bytes(&key).map_err(|e| e.into_napi(env))?;
    to_js(env, &keys::inspect_key(&bytes))
}

#[napi(object)]
pub struct ServerKeyOptions {
    /// Domain name or dotted IPv4 address the device connects to.
    pub host: Option<String>,
    pub port: Option<u16>,
}

/// Build the server key block for DCT offset 2082 from a public key (PEM or
/// DER bytes, or a file path), with an optional host and port.
#[napi]
pub fn format_server_key(
    env: Env,
    key: Either<Buffer, String>,
    options: Option<ServerKeyOptions>,
) -> napi::Result<Buffer> {
    let built = (|| -> Result<Vec<u8>, CoreError> {
        let public = keys::parse_public_key(&key_bytes(&key)?)?;
        let (host, port) = options.map_or((None, None), |o| (o.host, o.port));
        let address = host.as_deref().map(server_key::parse_address).transpose()?;
        Ok(server_key::format_server_key(
            &public,
            address.as_ref(),
            port,
        )?)
    })();
    built.map(Buffer::from).map_err(|e| throw(&env, e))
}

/// Decode a server key block (`ServerKeySummary`): key size and fingerprint,
/// the address and port the firmware will use, and what is stored.
#[napi(ts_return_type = "ServerKeySummary")]
pub fn parse_server_key<'env>(env: &'env Env, block: Buffer) -> napi::Result<Unknown<'env>> {
    let parsed = server_key::parse_server_key(&block).map_err(|e| throw(env, e))?;
    to_js(env, &parsed.summary())
}
