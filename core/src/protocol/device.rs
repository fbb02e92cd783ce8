//! The device side of the handshake and session over any byte stream
//! (REFERENCE §5): what the virtual Duo's connect step and `duoprov verify
//! --handshake` run. The caller opens the stream and sets its read timeout
//! (the Hello deadline is the stream's, not a sleep).

use std::io::{ErrorKind, Read, Write};

use rand_core::CryptoRngCore;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};

use super::coap::{self, HelloPayload, MessageCounter};
use super::handshake::{self, Credentials, NONCE_LEN, SERVER_REPLY_LEN};
use super::session::{Channel, FrameReader};
use super::ProtocolError;

/// Where a connection attempt stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Opening the TCP connection.
    Connect,
    /// Step 1: reading the server's nonce.
    Nonce,
    /// Steps 2–3: sending the identity, waiting for the server's reply.
    Identity,
    /// Step 5: decrypting the session key.
    SessionKey,
    /// Step 5: checking the server's signature.
    Signature,
    /// The Hello exchange.
    Hello,
    /// A keep-alive ping and its ACK.
    KeepAlive,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Connect => "connect",
            Step::Nonce => "nonce",
            Step::Identity => "identity",
            Step::SessionKey => "session key",
            Step::Signature => "signature",
            Step::Hello => "hello",
            Step::KeepAlive => "keep-alive",
        })
    }
}

/// A refused or failed connection: the step and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("rejected at {step}: {reason}")]
pub struct Rejected {
    pub step: Step,
    pub reason: String,
}

impl Rejected {
    pub fn new(step: Step, reason: impl Into<String>) -> Rejected {
        Rejected {
            step,
            reason: reason.into(),
        }
    }
}

/// What the device holds: its id, its key (DCT 34) and the server key (DCT 2082).
#[derive(Debug, Clone)]
pub struct DeviceCredentials {
    pub device_id: [u8; 12],
    pub device_key: RsaPrivateKey,
    pub server_key: RsaPublicKey,
    pub hello: HelloPayload,
}

/// An open session, device side.
#[derive(Debug)]
pub struct DeviceSession<S> {
    stream: S,
    send: Channel,
    recv: Channel,
    reader: FrameReader,
    counter: MessageCounter,
}

fn io_reason(e: &std::io::Error, waiting_for: &str) -> String {
    match e.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
            format!("the cloud closed the connection while the device waited for {waiting_for}")
        }
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            format!("no {waiting_for} arrived in time")
        }
        _ => format!("reading {waiting_for}: {e}"),
    }
}

/// Run steps 1–5 and the Hello exchange.
pub fn connect<S: Read + Write>(
    mut stream: S,
    device: &DeviceCredentials,
    rng: &mut impl CryptoRngCore,
) -> Result<DeviceSession<S>, Rejected> {
    let mut nonce = [0u8; NONCE_LEN];
    stream
        .read_exact(&mut nonce)
        .map_err(|e| Rejected::new(Step::Nonce, io_reason(&e, "the server's nonce")))?;
    let identity = handshake::encrypt_identity(
        &device.server_key,
        &nonce,
        &device.device_id,
        &device.device_key.to_public_key(),
        rng,
    )
    .map_err(|e| Rejected::new(Step::Identity, e.to_string()))?;
    stream
        .write_all(&identity)
        .and_then(|_| stream.flush())
        .map_err(|e| Rejected::new(Step::Identity, format!("sending the handshake: {e}")))?;
    let mut reply = vec![0u8; SERVER_REPLY_LEN];
    stream.read_exact(&mut reply).map_err(|e| {
        let mut reason = io_reason(&e, "the session key");
        if e.kind() == ErrorKind::UnexpectedEof {
            reason.push_str(
                ": it does not accept this device (never provisioned, or its DCT holds \
                 another server key); see the cloud's record for this device",
            );
        }
        Rejected::new(Step::Identity, reason)
    })?;
    let credentials = handshake::open_credentials(&device.device_key, &device.server_key, &reply)
        .map_err(|e| match e {
        ProtocolError::Signature => Rejected::new(Step::Signature, e.to_string()),
        other => Rejected::new(Step::SessionKey, other.to_string()),
    })?;
    let mut session = DeviceSession::new(stream, &credentials);
    session.hello(&device.hello)?;
    Ok(session)
}

impl<S: Read + Write> DeviceSession<S> {
    fn new(stream: S, credentials: &Credentials) -> Self {
        DeviceSession {
            stream,
            send: Channel::new(credentials),
            recv: Channel::new(credentials),
            reader: FrameReader::new(),
            counter: MessageCounter::from_salt(&credentials.salt),
        }
    }

    fn hello(&mut self, hello: &HelloPayload) -> Result<(), Rejected> {
        let id = self.counter.next_id();
        self.send_raw(&coap::device_hello(id, hello))
            .map_err(|e| Rejected::new(Step::Hello, e))?;
        let reply = self.receive(Step::Hello, "the server's Hello")?;
        if !coap::is_hello(&reply) {
            return Err(Rejected::new(
                Step::Hello,
                format!(
                    "the server answered code {:#04x} instead of its Hello",
                    reply.code
                ),
            ));
        }
        Ok(())
    }

    /// The next message id (pre-incremented).
    pub fn next_id(&mut self) -> u16 {
        self.counter.next_id()
    }

    /// Encrypt, frame and send one CoAP message as it is.
    pub fn send_raw(&mut self, message: &[u8]) -> Result<(), String> {
        let frame = self.send.seal(message);
        self.stream
            .write_all(&frame)
            .and_then(|_| self.stream.flush())
            .map_err(|e| format!("sending: {e}"))
    }

    /// Read one message the device can decode.
    pub fn receive(&mut self, step: Step, what: &str) -> Result<coap::Message, Rejected> {
        let frame = loop {
            match self.reader.next_frame() {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(e) => return Err(Rejected::new(step, e.to_string())),
            }
            let mut buf = [0u8; 512];
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    let e = std::io::Error::from(ErrorKind::UnexpectedEof);
                    return Err(Rejected::new(step, io_reason(&e, what)));
                }
                Ok(n) => self.reader.push(&buf[..n]),
                Err(e) => return Err(Rejected::new(step, io_reason(&e, what))),
            }
        };
        let plain = self
            .recv
            .open(&frame)
            .map_err(|e| Rejected::new(step, e.to_string()))?;
        let message = coap::parse(&plain).map_err(|e| Rejected::new(step, e.to_string()))?;
        if !coap::device_decodes(&message) {
            return Err(Rejected::new(
                step,
                format!(
                    "the server sent code {:#04x}, which the device cannot decode",
                    message.code
                ),
            ));
        }
        Ok(message)
    }

    /// One keep-alive: a CON empty message, answered by its empty ACK.
    pub fn ping(&mut self) -> Result<(), Rejected> {
        let id = self.next_id();
        self.send_raw(&coap::ping(id))
            .map_err(|e| Rejected::new(Step::KeepAlive, e))?;
        let ack = self.receive(Step::KeepAlive, "the ACK of a keep-alive ping")?;
        if ack.kind != coap::Kind::Ack || ack.message_id != id {
            return Err(Rejected::new(
                Step::KeepAlive,
                format!(
                    "expected the ACK of ping {id:#06x}, got {:?} {:#06x}",
                    ack.kind, ack.message_id
                ),
            ));
        }
        Ok(())
    }

    /// The stream, e.g. to close it.
    pub fn into_inner(self) -> S {
        self.stream
    }
}
