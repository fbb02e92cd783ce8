//! A device connection over TCP to the server a key block names: what the
//! virtual Duo does after boot and `duoprov verify --handshake` does from the
//! host with the device's keys.

use std::fmt;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use super::device::{self, DeviceCredentials, Step};
use crate::server_key::{ServerAddress, ServerKeyBlock};

/// The device's deadline for the server's Hello (and every other wait).
pub const HELLO_DEADLINE: Duration = Duration::from_secs(2);
/// The device pings after this much silence.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// How a connection attempt ended.
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
    /// Not tried (a host that is not loopback, for the virtual Duo).
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

    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectOutcome::Connected { .. })
    }

    /// The step it was rejected at.
    pub fn rejected_step(&self) -> Option<Step> {
        match self {
            ConnectOutcome::Rejected { step, .. } => Some(*step),
            _ => None,
        }
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

/// How to connect.
#[derive(Clone, Copy)]
pub struct ConnectOptions<'a> {
    /// Refuse (NotTried) any host that is not loopback.
    pub loopback_only: bool,
    /// Stay connected this long (device time), pinging every 15 s.
    pub stay: Duration,
    /// Device time → injected-clock time.
    pub time_factor: f64,
    /// Waits while staying go through this (the injected clock).
    pub sleep: &'a dyn Fn(Duration),
}

/// `NotTried` for a block whose address is not loopback (decided without a
/// name lookup: `localhost` or 127.0.0.0/8 only).
pub fn not_loopback(block: &ServerKeyBlock) -> Option<ConnectOutcome> {
    let loopback = match &block.address {
        ServerAddress::Ipv4(ip) => ip.is_loopback(),
        ServerAddress::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    };
    (!loopback).then(|| ConnectOutcome::NotTried {
        host: block.address.to_string(),
        port: block.port,
        reason: "the virtual Duo connects only to loopback addresses".into(),
    })
}

/// Connect as `device` to the server `block` names.
pub fn connect_to_server(
    block: &ServerKeyBlock,
    device: &DeviceCredentials,
    options: ConnectOptions<'_>,
) -> ConnectOutcome {
    let host = block.address.to_string();
    let port = block.port;
    let rejected = |step: Step, reason: String| ConnectOutcome::Rejected {
        host: host.clone(),
        port,
        step,
        reason,
    };
    if options.loopback_only {
        // Decided before any name lookup: a test rig never resolves a
        // public host.
        if let Some(not_tried) = not_loopback(block) {
            return not_tried;
        }
    }
    let addr: Option<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
        Ok(mut a) => a.find(|a| !options.loopback_only || a.ip().is_loopback()),
        Err(e) => return rejected(Step::Connect, format!("cannot resolve {host}: {e}")),
    };
    let Some(addr) = addr else {
        return rejected(Step::Connect, format!("{host} has no usable address"));
    };
    let stream = match TcpStream::connect_timeout(&addr, HELLO_DEADLINE) {
        Ok(s) => s,
        Err(e) => return rejected(Step::Connect, format!("cannot connect to {addr}: {e}")),
    };
    let _ = stream.set_read_timeout(Some(HELLO_DEADLINE));
    let _ = stream.set_nodelay(true);
    let mut session = match device::connect(stream, device, &mut OsRng) {
        Ok(s) => s,
        Err(r) => return rejected(r.step, r.reason),
    };
    let mut pings = 0;
    let mut left = options.stay;
    while left >= KEEP_ALIVE_INTERVAL {
        (options.sleep)(KEEP_ALIVE_INTERVAL.mul_f64(options.time_factor));
        left -= KEEP_ALIVE_INTERVAL;
        if let Err(r) = session.ping() {
            return rejected(r.step, r.reason);
        }
        pings += 1;
    }
    if !left.is_zero() {
        (options.sleep)(left.mul_f64(options.time_factor));
    }
    ConnectOutcome::Connected { host, port, pings }
}
