//! The CoAP messages of a session's start (REFERENCE §5): the device's and
//! the server's Hello, the keep-alive ping and its ACK, the message counter
//! taken from the salt, and which messages a device can decode at all.

use super::ProtocolError;

/// CoAP message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Kind {
    Confirmable,
    NonConfirmable,
    Ack,
    Reset,
}

/// Codes (class << 5 | detail).
pub const EMPTY: u8 = 0x00;
pub const GET: u8 = 0x01;
pub const POST: u8 = 0x02;
pub const PUT: u8 = 0x03;
/// 2.05 Content (the device reads it as a time reply).
pub const CONTENT: u8 = 0x45;

/// The Uri-Path of a Hello.
pub const HELLO_PATH: u8 = b'h';

/// A parsed message: header, the first Uri-Path byte and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub code: u8,
    pub message_id: u16,
    pub token: Vec<u8>,
    pub path: Option<u8>,
    pub payload: Vec<u8>,
}

/// The Hello payload a device sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HelloPayload {
    pub product_id: u16,
    pub firmware_version: u16,
    /// Bit 0: an OTA upgrade succeeded.
    pub flags: u8,
    pub platform_id: u16,
}

/// Device Hello: NON POST `h`, no token: `50 02 MID MID b1 68 ff` ‖ product
/// id ‖ product firmware version ‖ 0x00 ‖ flags ‖ platform id.
pub fn device_hello(message_id: u16, hello: &HelloPayload) -> Vec<u8> {
    let mid = message_id.to_be_bytes();
    let mut out = vec![0x50, POST, mid[0], mid[1], 0xb1, HELLO_PATH, 0xff];
    out.extend(hello.product_id.to_be_bytes());
    out.extend(hello.firmware_version.to_be_bytes());
    out.push(0x00);
    out.push(hello.flags);
    out.extend(hello.platform_id.to_be_bytes());
    out
}

/// Server Hello: NON POST `h` with a one-byte token: `51 02 MID MID TOKEN b1 68`.
pub fn server_hello(message_id: u16, token: u8) -> Vec<u8> {
    let mid = message_id.to_be_bytes();
    vec![0x51, POST, mid[0], mid[1], token, 0xb1, HELLO_PATH]
}

/// Keep-alive: a CON empty message.
pub fn ping(message_id: u16) -> Vec<u8> {
    let mid = message_id.to_be_bytes();
    vec![0x40, EMPTY, mid[0], mid[1]]
}

/// The empty ACK of a CON message.
pub fn empty_ack(message_id: u16) -> Vec<u8> {
    let mid = message_id.to_be_bytes();
    vec![0x60, EMPTY, mid[0], mid[1]]
}

fn coap_err(reason: impl Into<String>) -> ProtocolError {
    ProtocolError::Coap {
        reason: reason.into(),
    }
}

/// Parse a message (header, token, options for the first Uri-Path byte).
pub fn parse(bytes: &[u8]) -> Result<Message, ProtocolError> {
    if bytes.len() < 4 {
        return Err(coap_err(format!("{} bytes, a header is 4", bytes.len())));
    }
    if bytes[0] >> 6 != 1 {
        return Err(coap_err(format!("version {}, not 1", bytes[0] >> 6)));
    }
    let kind = match (bytes[0] >> 4) & 3 {
        0 => Kind::Confirmable,
        1 => Kind::NonConfirmable,
        2 => Kind::Ack,
        _ => Kind::Reset,
    };
    let tkl = (bytes[0] & 0x0f) as usize;
    if tkl > 8 || bytes.len() < 4 + tkl {
        return Err(coap_err(format!("token length {tkl}")));
    }
    let token = bytes[4..4 + tkl].to_vec();
    let mut i = 4 + tkl;
    let mut option = 0u32;
    let mut path = None;
    let mut payload = Vec::new();
    while i < bytes.len() {
        if bytes[i] == 0xff {
            payload = bytes[i + 1..].to_vec();
            break;
        }
        let (delta, rest) = extended(bytes[i] >> 4, &bytes[i + 1..])?;
        let (len, rest) = extended(bytes[i] & 0x0f, rest)?;
        let start = bytes.len() - rest.len();
        if rest.len() < len as usize {
            return Err(coap_err("option runs past the end"));
        }
        option += delta;
        if option == 11 && path.is_none() && len > 0 {
            path = Some(bytes[start]);
        }
        i = start + len as usize;
    }
    Ok(Message {
        kind,
        code: bytes[1],
        message_id: u16::from_be_bytes([bytes[2], bytes[3]]),
        token,
        path,
        payload,
    })
}

fn extended(nibble: u8, rest: &[u8]) -> Result<(u32, &[u8]), ProtocolError> {
    match nibble {
        0..=12 => Ok((nibble as u32, rest)),
        13 if !rest.is_empty() => Ok((13 + rest[0] as u32, &rest[1..])),
        14 if rest.len() >= 2 => Ok((
            269 + u16::from_be_bytes([rest[0], rest[1]]) as u32,
            &rest[2..],
        )),
        _ => Err(coap_err("bad option header")),
    }
}

/// Whether the device's protocol code decodes this message (REFERENCE §5:
/// GET `v`/`d`; POST `e E h f s u c`; PUT `k u s`; empty; 2.05). Anything else
/// counts as an error and the device drops the connection.
pub fn device_decodes(message: &Message) -> bool {
    match (message.code, message.path) {
        (EMPTY, _) | (CONTENT, _) => true,
        (GET, Some(p)) => b"vd".contains(&p),
        (POST, Some(p)) => b"eEhfsuc".contains(&p),
        (PUT, Some(p)) => b"kus".contains(&p),
        _ => false,
    }
}

/// Whether `message` is a Hello (POST `h`).
pub fn is_hello(message: &Message) -> bool {
    message.code == POST && message.path == Some(HELLO_PATH)
}

/// The device's message ids: start at salt[0]<<8 | salt[1], pre-increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCounter {
    last: u16,
}

impl MessageCounter {
    pub fn from_salt(salt: &[u8; 8]) -> MessageCounter {
        MessageCounter {
            last: u16::from_be_bytes([salt[0], salt[1]]),
        }
    }

    /// The next id (the Hello carries start + 1).
    pub fn next_id(&mut self) -> u16 {
        self.last = self.last.wrapping_add(1);
        self.last
    }
}

/// The CoAP token base of a session: salt[2].
pub fn token_base(salt: &[u8; 8]) -> u8 {
    salt[2]
}

/// The server's check of the device's ids: it adopts the Hello's id; then
/// each non-ACK device message must be the previous + 1 (mod 65536).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterCheck {
    last: Option<u16>,
}

impl CounterCheck {
    pub fn check(&mut self, message: &Message) -> Result<(), ProtocolError> {
        if message.kind == Kind::Ack {
            return Ok(());
        }
        let got = message.message_id;
        match self.last {
            Some(last) if got != last.wrapping_add(1) => Err(ProtocolError::BadCounter {
                expected: last.wrapping_add(1),
                got,
            }),
            _ => {
                self.last = Some(got);
                Ok(())
            }
        }
    }
}
