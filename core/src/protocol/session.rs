//! The session after the handshake (REFERENCE §5): every message is a 2-byte
//! big-endian length ‖ the AES-128-CBC ciphertext of one CoAP message, PKCS#7
//! padded (1–16 bytes: an aligned message gets a whole extra block). Each
//! direction keeps its own IV, both starting at the credentials' IV; after a
//! message, that direction's IV becomes the **first** 16 bytes of that
//! message's ciphertext. Each message is its own CBC run.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use super::handshake::Credentials;
use super::ProtocolError;

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

/// The largest frame either side accepts (the firmware's buffers are
/// smaller; anything longer is garbage).
pub const MAX_FRAME_LEN: usize = 1024;

/// One direction of a session: seal (sender) or open (receiver) with the
/// same chaining.
#[derive(Clone, PartialEq, Eq)]
pub struct Channel {
    key: [u8; 16],
    iv: [u8; 16],
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Channel { .. }")
    }
}

impl Channel {
    pub fn new(credentials: &Credentials) -> Channel {
        Channel {
            key: credentials.aes_key,
            iv: credentials.iv,
        }
    }

    /// The IV the next message will use.
    pub fn iv(&self) -> [u8; 16] {
        self.iv
    }

    /// Encrypt one message and frame it (length ‖ ciphertext).
    pub fn seal(&mut self, message: &[u8]) -> Vec<u8> {
        let ct =
            Enc::new(&self.key.into(), &self.iv.into()).encrypt_padded_vec_mut::<Pkcs7>(message);
        self.iv.copy_from_slice(&ct[..16]);
        let mut frame = Vec::with_capacity(2 + ct.len());
        frame.extend((ct.len() as u16).to_be_bytes());
        frame.extend(ct);
        frame
    }

    /// Decrypt one frame's ciphertext (without its length).
    pub fn open(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        check_frame_len(ciphertext.len())?;
        let plain = Dec::new(&self.key.into(), &self.iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|_| ProtocolError::Decrypt)?;
        self.iv.copy_from_slice(&ciphertext[..16]);
        Ok(plain)
    }
}

fn check_frame_len(len: usize) -> Result<(), ProtocolError> {
    let reason = if len == 0 {
        "empty"
    } else if len % 16 != 0 {
        "not a whole number of AES blocks"
    } else if len > MAX_FRAME_LEN {
        "longer than any session message"
    } else {
        return Ok(());
    };
    Err(ProtocolError::Frame { len, reason })
}

/// Splits a byte stream into frames' ciphertexts.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Append bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's ciphertext, if one has arrived; an error for a
    /// length no session message has.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, ProtocolError> {
        if self.buf.len() < 2 {
            return Ok(None);
        }
        let len = u16::from_be_bytes([self.buf[0], self.buf[1]]) as usize;
        check_frame_len(len)?;
        if self.buf.len() < 2 + len {
            return Ok(None);
        }
        let frame = self.buf[2..2 + len].to_vec();
        self.buf.drain(..2 + len);
        Ok(Some(frame))
    }
}
