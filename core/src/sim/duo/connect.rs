//! The firmware's cloud connection after boot (REFERENCE §5, device side):
//! the server block and server key from DCT 2082, the device key from DCT 34,
//! then the handshake and the Hello exchange against the address in the
//! block. The virtual Duo connects only to loopback addresses: for any other
//! host (the factory `device.spark.io`) it reports where it would connect and
//! that it did not try.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::platform::{known_field, Platform};
use crate::protocol::coap::HelloPayload;
use crate::protocol::device::{self, DeviceCredentials, Step};
use crate::server_key::{self, ServerAddress};

use super::memory::Memory;

/// The device's deadline for the server's Hello (and every other wait).
pub const HELLO_DEADLINE: Duration = Duration::from_secs(2);
/// The device pings after this much silence.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// How a boot's connection attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ConnectOutcome {
    /// Handshake and Hello done; `pings` keep-alives answered while it stayed.
    Connected { host: String, port: u16, pings: u32 },
    /// Tried and refused or failed at `step`.
    Rejected {
        host: String,
        port: u16,
        step: Step,
        reason: String,
    },
    /// Not tried (a host that is not loopback).
    NotTried {
        host: String,
        port: u16,
        reason: String,
    },
}

impl ConnectOutcome {
    /// A connection was tried and did not succeed.
    pub fn is_rejected(&self) -> bool {
        matches!(self, ConnectOutcome::Rejected { .. })
    }
}

impl fmt::Display for ConnectOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectOutcome::Connected { host, port, pings } => {
                write!(f, "connected to {host}:{port}")?;
                if *pings > 0 {
                    write!(f, " ({pings} keep-alive ping(s) answered)")?;
                }
                Ok(())
            }
            ConnectOutcome::Rejected { step, reason, .. } => {
                write!(f, "rejected at {step}: {reason}")
            }
            ConnectOutcome::NotTried { host, port, reason } => {
                write!(f, "would connect to {host}:{port}; did not try: {reason}")
            }
        }
    }
}

/// What the connect step needs besides the DCT.
#[derive(Clone, Copy)]
pub(crate) struct ConnectContext<'a> {
    pub platform: &'static Platform,
    pub device_id: [u8; 12],
    /// Stay connected this long (device time), pinging every 15 s.
    pub stay: Duration,
    pub time_factor: f64,
    pub sleep: &'a dyn Fn(Duration),
}

/// Connect as the firmware does after boot.
pub(crate) fn connect(mem: &Memory, cx: ConnectContext<'_>) -> ConnectOutcome {
    let field = known_field("server_public_key");
    let block = mem.app_dct_read(field.offset, field.size);
    let parsed = server_key::parse_server_key(&block);
    let (host, port) = match &parsed {
        Ok(b) => (b.address.to_string(), b.port),
        Err(_) => (
            server_key::DEFAULT_HOST.to_string(),
            server_key::DEFAULT_PORT,
        ),
    };
    let rejected = |step: Step, reason: String| ConnectOutcome::Rejected {
        host: host.clone(),
        port,
        step,
        reason,
    };
    let block = match parsed {
        Ok(b) => b,
        Err(e) => {
            return rejected(
                Step::Connect,
                format!("the server key block at DCT 2082 does not parse: {e}"),
            )
        }
    };
    let Some(addr) = loopback_addr(&block.address, port) else {
        return ConnectOutcome::NotTried {
            host,
            port,
            reason: "the virtual Duo connects only to loopback addresses".into(),
        };
    };
    let slot_field = known_field("device_private_key");
    let slot = mem.app_dct_read(slot_field.offset, slot_field.size);
    let device_key = match keys::classify_slot(&slot)
        .is_valid()
        .then(|| keys::parse_private_key(&slot).ok())
        .flatten()
    {
        Some(k) => k,
        None => {
            return rejected(
                Step::Identity,
                "the device key slot at DCT 34 holds no valid key (write a backup with \
                 `duoprov keys load` or the reset request with `duoprov keys reset`)"
                    .into(),
            )
        }
    };
    let credentials = DeviceCredentials {
        device_id: cx.device_id,
        device_key,
        server_key: block.key,
        hello: HelloPayload {
            product_id: cx.platform.platform_id,
            firmware_version: 0,
            flags: 0,
            platform_id: cx.platform.platform_id,
        },
    };
    let stream = match TcpStream::connect_timeout(&addr, HELLO_DEADLINE) {
        Ok(s) => s,
        Err(e) => return rejected(Step::Connect, format!("cannot connect to {addr}: {e}")),
    };
    let _ = stream.set_read_timeout(Some(HELLO_DEADLINE));
    let _ = stream.set_nodelay(true);
    let mut session = match device::connect(stream, &credentials, &mut OsRng) {
        Ok(s) => s,
        Err(r) => return rejected(r.step, r.reason),
    };
    let mut pings = 0;
    let mut left = cx.stay;
    while left >= KEEP_ALIVE_INTERVAL {
        (cx.sleep)(KEEP_ALIVE_INTERVAL.mul_f64(cx.time_factor));
        left -= KEEP_ALIVE_INTERVAL;
        if let Err(r) = session.ping() {
            return rejected(r.step, r.reason);
        }
        pings += 1;
    }
    if !left.is_zero() {
        (cx.sleep)(left.mul_f64(cx.time_factor));
    }
    ConnectOutcome::Connected { host, port, pings }
}

/// The socket address for a loopback server, `None` for anything else.
fn loopback_addr(address: &ServerAddress, port: u16) -> Option<SocketAddr> {
    match address {
        ServerAddress::Ipv4(ip) if ip.is_loopback() => Some(SocketAddr::new(IpAddr::V4(*ip), port)),
        ServerAddress::Domain(name) if name == "localhost" => (name.as_str(), port)
            .to_socket_addrs()
            .ok()?
            .find(|a| a.ip().is_loopback()),
        _ => None,
    }
}
