//! The local cloud's device endpoint: the server side of the Gen 2
//! handshake and session (REFERENCE §5) on TCP, one thread per connection.
//!
//! The cloud's rules (the seed guide's promise): a device provisioned with
//! the **generic** key is accepted — the credentials go to the key the device
//! sent, and once its Hello proves it holds the private half the cloud keeps
//! that key instead of the generic one; a device provisioned with its own key
//! gets credentials encrypted to that key, so only the matching private key
//! decrypts them; a device never provisioned (or unknown) is disconnected
//! before step 4 and the key it sent is only recorded. After the Hello: the
//! server's Hello, empty ACKs for keep-alive pings, and the counter check
//! ("bad counter" disconnects).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::connections::{Connections, Unidentified, ADOPTED_FILENAME};
use super::store::{Record, Store};
use super::LocalCloudError;
use crate::cloud::{AsyncClock, DeviceId};
use crate::keys;
use crate::protocol::coap::{self, CounterCheck, Kind};
use crate::protocol::handshake::{self, Credentials, Identity, IDENTITY_LEN, NONCE_LEN};
use crate::protocol::session::{Channel, FrameReader};

/// The file in `--state` that keeps the server's private key (PKCS#1 DER, 0600).
pub const SERVER_KEY_FILE: &str = "server_key.der";
/// How long the cloud waits for any message before it drops a silent device
/// (the device pings after 15 s of silence).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The cloud's RSA-2048 server key: given, loaded from the state directory,
/// or generated on first use (and then saved there).
#[derive(Debug)]
pub(crate) struct ServerKey {
    key: OnceLock<RsaPrivateKey>,
    path: Option<PathBuf>,
    init: Mutex<()>,
}

impl ServerKey {
    pub(crate) fn new(
        given: Option<RsaPrivateKey>,
        state_dir: Option<&Path>,
    ) -> Result<ServerKey, LocalCloudError> {
        let path = state_dir.map(|d| d.join(SERVER_KEY_FILE));
        let key = OnceLock::new();
        if let Some(k) = given {
            let _ = key.set(k);
        } else if let Some(path) = path.as_ref().filter(|p| p.exists()) {
            let k = keys::load_private_key_file(path).map_err(|e| LocalCloudError::State {
                path: path.clone(),
                reason: format!("not the server's private key ({e}); remove it to make a new one"),
            })?;
            let _ = key.set(k);
        }
        Ok(ServerKey {
            key,
            path,
            init: Mutex::new(()),
        })
    }

    pub(crate) fn get(&self) -> Result<&RsaPrivateKey, LocalCloudError> {
        if let Some(k) = self.key.get() {
            return Ok(k);
        }
        let _guard = self.init.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = self.key.get() {
            return Ok(k);
        }
        let state_err = |reason: String| LocalCloudError::State {
            path: self.path.clone().unwrap_or_default(),
            reason,
        };
        let k = RsaPrivateKey::new(&mut OsRng, 2048)
            .map_err(|e| state_err(format!("cannot generate the server key: {e}")))?;
        if let Some(path) = &self.path {
            let der = keys::private_key_to_der(&k).map_err(|e| state_err(e.to_string()))?;
            keys::write_atomic(path, &der, true, false).map_err(|e| state_err(e.to_string()))?;
        }
        Ok(self.key.get_or_init(|| k))
    }
}

/// What every connection thread shares.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) store: Arc<Mutex<Store>>,
    pub(crate) connections: Arc<Mutex<Connections>>,
    pub(crate) server_key: Arc<ServerKey>,
    pub(crate) clock: Arc<dyn AsyncClock>,
}

impl Link {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn log(&self) -> MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The listening endpoint; dropping it stops accepting.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    pub(crate) fn start(addr: SocketAddr, link: Link) -> Result<Endpoint, LocalCloudError> {
        let bind_error = |e: std::io::Error| LocalCloudError::Bind {
            addr,
            reason: format!("{e} (the device endpoint)"),
        };
        let listener = TcpListener::bind(addr).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("local-cloud-devices".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let link = link.clone();
                    let _ = std::thread::Builder::new()
                        .name("local-cloud-device".into())
                        .spawn(move || serve(stream, &link));
                }
            })
            .map_err(|e| LocalCloudError::Runtime {
                reason: e.to_string(),
            })?;
        Ok(Endpoint {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One device connection, start to end.
fn serve(mut stream: TcpStream, link: &Link) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let unidentified = |reason: String| {
        link.log().unidentified(Unidentified {
            time: link.clock.epoch_millis(),
            peer: peer.clone(),
            reason,
        })
    };
    let server_key = match link.server_key.get() {
        Ok(k) => k,
        Err(e) => return unidentified(e.to_string()),
    };
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    if stream.write_all(&nonce).is_err() {
        return;
    }
    let mut message = [0u8; IDENTITY_LEN];
    if let Err(e) = stream.read_exact(&mut message) {
        return unidentified(format!("no handshake from the device: {e}"));
    }
    let identity = match handshake::decrypt_identity(server_key, &nonce, &message) {
        Ok(identity) => identity,
        Err(e) => return unidentified(e.to_string()),
    };
    let Ok(id) = DeviceId::parse(&identity.device_id_hex()) else {
        return unidentified(format!("bad device id {}", identity.device_id_hex()));
    };
    link.log().attempt(
        &id,
        link.clock.epoch_millis(),
        keys::fingerprint(&identity.public_key),
    );
    let outcome = session(&mut stream, link, server_key, &id, &identity);
    let mut log = link.log();
    match outcome {
        Ok(()) => log.closed(&id),
        Err(reason) => log.rejected(&id, reason),
    }
}

/// Decide on the device, send the credentials, then run the session until
/// it ends; `Err` is the reason it was rejected or dropped.
fn session(
    stream: &mut TcpStream,
    link: &Link,
    server_key: &RsaPrivateKey,
    id: &DeviceId,
    identity: &Identity,
) -> Result<(), String> {
    let sent_pem = keys::public_key_to_pem(&identity.public_key).map_err(|e| e.to_string())?;
    let held = link.store().device(id).and_then(|d| d.public_key);
    let Some(held) = held else {
        link.log().untrusted(id, sent_pem);
        return Err(
            "never provisioned: the cloud holds no public key for this device; disconnected \
             before its reply, the key it sent is recorded (provision its key first)"
                .into(),
        );
    };
    let held = keys::parse_public_key(held.as_bytes()).map_err(|e| e.to_string())?;
    let generic = keys::parse_public_key(keys::GENERIC_PUBLIC_KEY_PEM.as_bytes())
        .expect("embedded generic key parses");
    let adopt = held == generic;
    let target: &RsaPublicKey = if adopt { &identity.public_key } else { &held };

    let credentials = Credentials::random(&mut OsRng);
    let reply = handshake::seal_credentials(server_key, target, &credentials, &mut OsRng)
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&reply)
        .map_err(|e| format!("sending the session key: {e}"))?;

    let mut recv = Channel::new(&credentials);
    let mut send = Channel::new(&credentials);
    let mut reader = FrameReader::new();
    let mut counter = CounterCheck::default();
    let mut server_ids = coap::MessageCounter::from_salt(&[
        credentials.salt[4],
        credentials.salt[5],
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    let mismatch = if adopt {
        "the device closed the connection instead of its Hello".to_string()
    } else {
        "the device could not use the session key: its private key does not match the public \
         key the cloud holds (provision its current key)"
            .to_string()
    };
    let hello = next_message(stream, &mut reader, &mut recv).map_err(|e| match e {
        None => mismatch.clone(),
        Some(e) => format!("waiting for the device's Hello: {e}"),
    })?;
    if !coap::is_hello(&hello) {
        return Err(format!(
            "the device's first message is code {:#04x}, not its Hello",
            hello.code
        ));
    }
    counter.check(&hello).map_err(|e| e.to_string())?;
    // The Hello decrypted under the credentials proves the device holds the
    // private half of the key they were sealed to: record the outcome (and
    // adopt the key) before answering, so the device never sees a Hello
    // the cloud has not yet accounted for.
    if adopt {
        adopt_key(link, id, &identity.public_key)?;
    }
    link.log().accepted(
        id,
        if adopt {
            "accepted: provisioned with the generic key; the cloud now holds the key the device \
             sent"
                .into()
        } else {
            "accepted: the device's key matches the key the cloud holds".into()
        },
    );
    let token = coap::token_base(&credentials.salt);
    stream
        .write_all(&send.seal(&coap::server_hello(server_ids.next_id(), token)))
        .map_err(|e| format!("sending the server's Hello: {e}"))?;
    loop {
        let message = match next_message(stream, &mut reader, &mut recv) {
            Ok(m) => m,
            Err(None) => return Ok(()),
            Err(Some(e)) => return Err(format!("session dropped: {e}")),
        };
        counter.check(&message).map_err(|e| {
            format!("{e}; the cloud disconnected the device (its messages must count up by one)")
        })?;
        if message.kind == Kind::Confirmable {
            stream
                .write_all(&send.seal(&coap::empty_ack(message.message_id)))
                .map_err(|e| format!("sending an ACK: {e}"))?;
        }
    }
}

/// Keep the key from the handshake instead of the generic one (a record the
/// store replays from its state directory).
fn adopt_key(link: &Link, id: &DeviceId, key: &RsaPublicKey) -> Result<(), String> {
    let pem = keys::public_key_to_pem(key).map_err(|e| e.to_string())?;
    let mut store = link.store();
    let account = store.owner(id).map_or_else(
        || super::DEFAULT_ACCOUNT.to_string(),
        |(a, _)| a.to_string(),
    );
    store
        .accept(Record {
            device_id: id.clone(),
            account,
            public_key: pem,
            product_id: None,
            order: Some("first-connection".into()),
            filename: Some(ADOPTED_FILENAME.into()),
            algorithm: "rsa".into(),
            time: link.clock.epoch_millis(),
        })
        .map_err(|e| e.to_string())
}

/// The next decrypted message; `Err(None)` when the device closed the
/// connection.
fn next_message(
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    recv: &mut Channel,
) -> Result<coap::Message, Option<String>> {
    loop {
        if let Some(frame) = reader.next_frame().map_err(|e| Some(e.to_string()))? {
            let plain = recv.open(&frame).map_err(|e| Some(e.to_string()))?;
            return coap::parse(&plain).map_err(|e| Some(e.to_string()));
        }
        let mut buf = [0u8; 512];
        match stream.read(&mut buf) {
            Ok(0) => return Err(None),
            Ok(n) => reader.push(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return Err(None)
            }
            Err(e) => return Err(Some(e.to_string())),
        }
    }
}
