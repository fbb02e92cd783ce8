//! The Gen 2 device ↔ cloud protocol (REFERENCE §5), sans-IO: the bytes of
//! the TCP handshake, the session's AES-128-CBC framing with per-direction
//! IV chaining, the message counter and the few CoAP messages the session
//! starts with (Hello, keep-alive ping and its ACK).
//!
//! - [`handshake`] — step 2 (the device's identity, RSA-2048 to the server key)
//!   and steps 4–5 (the session credentials, encrypted to the held device key,
//!   HMAC-SHA1'd and signed with the raw PKCS#1 v1.5 type-1 signature);
//! - [`session`] — [`session::Channel`] (one direction: seal / open, IV chaining)
//!   and [`session::FrameReader`] (2-byte big-endian length framing);
//! - [`device`] — the device side over any `Read + Write` stream, and
//!   [`connect`] — over TCP to the server a key block names;
//! - [`coap`] — Hello layouts, ping / ACK, what the device can decode, and the
//!   message counter taken from the salt.
//!
//! Nothing here but [`device`] touches a stream, and nothing reads a clock: the local cloud's device endpoint
//! (`sim::cloud`), the virtual Duo's connect step (`sim::duo`) and
//! `duoprov verify --handshake` drive these functions over their own I/O.

pub mod coap;
pub mod connect;
pub mod device;
pub mod handshake;
pub mod session;

#[cfg(test)]
pub(crate) mod tests;

/// The TCP port Gen 2 devices connect to when the server block stores none.
pub const DEFAULT_PORT: u16 = 5683;

/// A protocol message that is not what REFERENCE §5 says it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("{what} is {got} bytes, expected {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("the device's public key is not a 162-byte RSA-1024 SubjectPublicKeyInfo: {detail}")]
    DevicePublicKey { detail: String },
    #[error(
        "cannot decrypt the device's handshake with the server's private key \
         (the device holds another server key in its DCT)"
    )]
    IdentityDecrypt,
    #[error(
        "the handshake does not carry the nonce this server sent \
         (the device holds another server key, or the message was altered)"
    )]
    NonceMismatch,
    #[error("cannot encrypt to the {what}: {detail}")]
    Encrypt { what: &'static str, detail: String },
    #[error("cannot sign the session credentials: {detail}")]
    Sign { detail: String },
    #[error(
        "cannot decrypt the session key: the cloud holds a different public key for this device"
    )]
    CredentialsDecrypt,
    #[error("server signature does not verify with the server key in the DCT")]
    Signature,
    #[error(
        "the session key's HMAC does not match the server's signature: \
         the cloud holds a different public key for this device"
    )]
    Hmac,
    #[error("frame of {len} bytes: {reason}")]
    Frame { len: usize, reason: &'static str },
    #[error("cannot decrypt a session message (bad padding): the peer uses other session keys")]
    Decrypt,
    #[error("not a CoAP message: {reason}")]
    Coap { reason: String },
    #[error("bad counter: message id {got:#06x}, expected {expected:#06x}")]
    BadCounter { expected: u16, got: u16 },
}

impl crate::error::ErrorInfo for ProtocolError {
    fn code(&self) -> crate::error::ErrorCode {
        match self {
            ProtocolError::DevicePublicKey { .. } => crate::error::ErrorCode::InvalidKey,
            ProtocolError::Encrypt { .. } | ProtocolError::Sign { .. } => {
                crate::error::ErrorCode::Internal
            }
            // The peer's bytes are not what the protocol says.
            _ => crate::error::ErrorCode::BadResponse,
        }
    }
}
