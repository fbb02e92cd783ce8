//! The local cloud: the Particle provisioning API (REFERENCE §4) on loopback,
//! so provisioning runs end to end without the internet — from Rust tests
//! ([`LocalCloud::start`]), from other processes and languages
//! (`duoprov cloud serve` prints its base URL), and in benchmarks.
//!
//! It answers byte for byte as REFERENCE §4 records the real endpoint
//! ([`replies`] holds the recorded bodies): form or JSON bodies; the token
//! from exactly one of `Authorization: Bearer`, an `access_token` query
//! parameter or form field (none: 400 `invalid_request`; two: 400 "Only one
//! method…"); 401 `invalid_token` for unknown tokens (these OAuth errors
//! with `Cache-Control: no-store`, `Pragma: no-cache`); the device id from
//! the body's `deviceID` (the path's only when the body has none); 403
//! `Permission Denied` for devices it never "initially provisioned" (not
//! seeded) — never 404; 400 for malformed ids and keys; 200 with the JSON
//! string `"Success!"` and a [`Record`] for accepted requests. Every JSON
//! reply is `application/json; charset=utf-8`. `GET /v1/devices/{id}`
//! answers for seeded devices (403 for others).
//!
//! Accounts ([`Account`], [`SeededDevice`]): each token acts for one
//! account, each seeded device belongs to one account and product; a token
//! of another account, or a `product_id` other than the device's, gets the
//! same 403 `Permission Denied` as an unknown device. The plain
//! [`LocalCloudOptions::tokens`] and [`LocalCloudOptions::devices`] are the
//! [default account](DEFAULT_ACCOUNT), product 88.
//!
//! Admin surface (loopback peers only, JSON):
//! `POST /admin/tokens {"token","account"?,"expired"?}`,
//! `POST /admin/devices {"device_id"|"device_ids","account"?,"product_id"?}`,
//! `GET /admin/accounts` (names, token counts, devices),
//! `GET /admin/devices[/{id}[/key|/records]]` (each with its `account` and
//! `product_id`), `GET /admin/records`,
//! `GET /admin/stats`, `POST /admin/reset-counters`,
//! `PUT|GET|DELETE /admin/fault` (a [`Fault`] as JSON).

mod accounts;
mod api;
mod connections;
mod device_admin;
mod device_link;
mod fault;
pub mod replies;
mod store;
mod tls;

#[cfg(test)]
mod device_tests;
#[cfg(test)]
mod tests;

use std::future::IntoFuture;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

pub use accounts::{
    read_devices_file, Account, AccountSpecError, SeedError, SeededDevice, DEFAULT_ACCOUNT,
    DEFAULT_PRODUCT_ID,
};
pub use connections::{ConnectionInfo, ConnectionResult, KeySource, Unidentified};
pub use device_link::SERVER_KEY_FILE;
pub use fault::{Fault, FaultBody};
pub use store::{AccountInfo, DeviceInfo, Record, Stats};
pub use tls::CA_CERT_FILE;

use crate::cloud::{AccessToken, AsyncClock, DeviceId, TokioClock};
use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy};
use api::App;
use connections::Connections;
use device_link::{Endpoint, Link, ServerKey};
use fault::{ConnInfo, FaultListener};
use store::Store;

/// How long [`RunningCloud::stop`] waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the server thread is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopSignal {
    Serve,
    /// Stop accepting; requests in flight get [`SHUTDOWN_GRACE`].
    Graceful,
    /// Stop now: requests in flight (a delay fault's included) are dropped.
    Now,
}

/// The local cloud could not start or keep its state.
#[derive(Debug, thiserror::Error)]
pub enum LocalCloudError {
    #[error("cannot listen on {addr}: {reason}; {}", Remedy::ChooseListenAddress)]
    Bind { addr: SocketAddr, reason: String },
    #[error("local cloud state {}: {reason}", .path.display())]
    State { path: PathBuf, reason: String },
    #[error("cannot start the local cloud: {reason}")]
    Runtime { reason: String },
    #[error(
        "refusing to listen on {addr}: it is not a loopback address, so other hosts could \
         provision through this test cloud; listen on 127.0.0.1 or ::1, or allow it explicitly"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("devices file {}{}: {reason}", .path.display(), line_text(*.line))]
    DevicesFile {
        path: PathBuf,
        /// 1-based; 0 when the file as a whole failed.
        line: usize,
        reason: String,
    },
}

impl ErrorInfo for LocalCloudError {
    fn code(&self) -> ErrorCode {
        match self {
            LocalCloudError::Bind { .. } => ErrorCode::InvalidArgument,
            LocalCloudError::State { .. } => ErrorCode::CorruptState,
            LocalCloudError::Runtime { .. } => ErrorCode::Internal,
            LocalCloudError::NotLoopback { .. } | LocalCloudError::DevicesFile { .. } => {
                ErrorCode::InvalidArgument
            }
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            LocalCloudError::State { path, .. } | LocalCloudError::DevicesFile { path, .. } => {
                ErrorFacts {
                    path: Some(path.clone()),
                    ..ErrorFacts::default()
                }
            }
            _ => ErrorFacts::default(),
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            LocalCloudError::Bind { .. } => vec![Remedy::ChooseListenAddress],
            _ => vec![],
        }
    }
}

fn line_text(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(", line {line}")
    }
}

/// What to start with: where to listen, the accounts with their tokens, the
/// seeded devices with their owners and products, and the first fault.
///
/// The fields are public; the builder methods say the same shortly:
///
/// ```
/// use duo_provisioning::cloud::{AccessToken, DeviceId};
/// use duo_provisioning::sim::cloud::{Account, LocalCloudOptions, SeededDevice};
///
/// let factory = AccessToken::new("factory-token").unwrap();
/// let other = AccessToken::new("other-token").unwrap();
/// let id = DeviceId::parse("2fff27fffc473530fff23637").unwrap();
/// let options = LocalCloudOptions::default()
///     .account(Account::new("factory").token(factory))
///     .account(Account::new("someone-else").token(other))
///     .device(SeededDevice::new(id).account("factory").product(88));
/// assert_eq!(options.accounts.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct LocalCloudOptions {
    /// Where to listen; the default `127.0.0.1:0` picks a free port. An
    /// address that is not loopback needs [`Self::beyond_loopback`].
    pub addr: SocketAddr,
    /// Allow an `addr` that is not loopback (every interface, a LAN address).
    pub beyond_loopback: bool,
    /// Persist seeded devices and records here (see the `store` docs).
    pub state_dir: Option<PathBuf>,
    /// Tokens of the [default account](DEFAULT_ACCOUNT).
    pub tokens: Vec<AccessToken>,
    /// Devices of the default account, under product 88.
    pub devices: Vec<DeviceId>,
    /// Accounts with their tokens.
    pub accounts: Vec<Account>,
    /// Devices with their owner and product.
    pub seeded: Vec<SeededDevice>,
    /// The fault active from the start ([`Fault::None`]: answer normally).
    pub fault: Fault,
    /// Time for fault delays, shutdown grace and record timestamps.
    pub clock: Arc<dyn AsyncClock>,
    /// Where the device endpoint (REFERENCE §5, TCP) listens; the default
    /// `127.0.0.1:0` picks a free port.
    pub device_addr: SocketAddr,
    /// The server's RSA-2048 key; `None`: the one in `state_dir`
    /// ([`SERVER_KEY_FILE`]), else one generated on first use (and saved there).
    pub server_key: Option<crate::keys::RsaPrivateKey>,
    /// Serve HTTPS only, with a certificate for 127.0.0.1 / ::1 / localhost
    /// from a CA made at start; the CA certificate goes to
    /// `state_dir/`[`CA_CERT_FILE`] (a state directory is required).
    pub tls: bool,
}

impl Default for LocalCloudOptions {
    fn default() -> Self {
        LocalCloudOptions {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            beyond_loopback: false,
            state_dir: None,
            tokens: Vec::new(),
            devices: Vec::new(),
            accounts: Vec::new(),
            seeded: Vec::new(),
            fault: Fault::None,
            clock: Arc::new(TokioClock),
            device_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            server_key: None,
            tls: false,
        }
    }
}

impl LocalCloudOptions {
    /// Add an account (its tokens act for it).
    pub fn account(mut self, account: Account) -> Self {
        self.accounts.push(account);
        self
    }

    /// Seed a device with its owner and product.
    pub fn device(mut self, device: SeededDevice) -> Self {
        self.seeded.push(device);
        self
    }

    /// A token of the default account.
    pub fn token(mut self, token: AccessToken) -> Self {
        self.tokens.push(token);
        self
    }

    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn AsyncClock>) -> Self {
        self.clock = clock;
        self
    }
}

/// Starts local clouds.
#[derive(Debug)]
pub struct LocalCloud;

impl LocalCloud {
    /// Bind, load state, and serve on a background thread with its own
    /// runtime; returns once the socket is listening.
    pub fn start(options: LocalCloudOptions) -> Result<RunningCloud, LocalCloudError> {
        // Both listeners: the API and the device endpoint.
        for addr in [options.addr, options.device_addr] {
            if !addr.ip().is_loopback() && !options.beyond_loopback {
                return Err(LocalCloudError::NotLoopback { addr });
            }
        }
        let mut store = Store::open(options.state_dir.as_deref())?;
        for token in &options.tokens {
            store.add_token(DEFAULT_ACCOUNT, token.expose_secret());
        }
        for account in &options.accounts {
            for token in &account.tokens {
                store.add_token(&account.name, token.expose_secret());
            }
            for token in &account.expired_tokens {
                store.add_expired_token(&account.name, token.expose_secret());
            }
        }
        store.add_devices(
            options
                .devices
                .iter()
                .cloned()
                .map(SeededDevice::new)
                .chain(options.seeded.iter().cloned()),
        )?;
        store.fault.set(options.fault.clone());
        let store = Arc::new(Mutex::new(store));
        let connections = Arc::new(Mutex::new(Connections::default()));
        let server_key = Arc::new(ServerKey::new(
            options.server_key.clone(),
            options.state_dir.as_deref(),
        )?);
        let endpoint = Endpoint::start(
            options.device_addr,
            Link {
                store: store.clone(),
                connections: connections.clone(),
                server_key: server_key.clone(),
                clock: options.clock.clone(),
            },
        )?;

        let bind_error = |e: std::io::Error| LocalCloudError::Bind {
            addr: options.addr,
            reason: e.to_string(),
        };
        let std_listener = std::net::TcpListener::bind(options.addr).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = std_listener.local_addr().map_err(bind_error)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("local-cloud")
            .enable_all()
            .build()
            .map_err(|e| LocalCloudError::Runtime {
                reason: e.to_string(),
            })?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(bind_error)?
        };

        let tls = match (options.tls, options.state_dir.as_deref()) {
            (false, _) => None,
            (true, Some(dir)) => Some(tls::make(dir)?),
            (true, None) => {
                return Err(LocalCloudError::Runtime {
                    reason: "TLS needs a state directory for its CA certificate: give --state DIR"
                        .into(),
                })
            }
        };
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        let app = App {
            store: store.clone(),
            connections: connections.clone(),
            clock: options.clock.clone(),
        };
        let clock = options.clock.clone();
        let accept_clock = options.clock.clone();
        let (stop, stopped) = watch::channel(StopSignal::Serve);
        let thread = std::thread::Builder::new()
            .name("local-cloud".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let service =
                        api::router(app).into_make_service_with_connect_info::<ConnInfo>();
                    let mut graceful = stopped.clone();
                    let mut grace = stopped;
                    let server = axum::serve(
                        FaultListener {
                            listener,
                            clock: accept_clock,
                            tls: acceptor,
                        },
                        service,
                    )
                    .with_graceful_shutdown(async move {
                        let _ = graceful.wait_for(|s| *s != StopSignal::Serve).await;
                    })
                    .into_future();
                    tokio::select! {
                        _ = server => {}
                        _ = async move {
                            let _ = grace.wait_for(|s| *s != StopSignal::Serve).await;
                            tokio::select! {
                                _ = clock.sleep(SHUTDOWN_GRACE) => {}
                                _ = grace.wait_for(|s| *s == StopSignal::Now) => {}
                            }
                        } => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(|e| LocalCloudError::Runtime {
                reason: e.to_string(),
            })?;

        Ok(RunningCloud {
            store,
            connections,
            server_key,
            endpoint: Some(endpoint),
            addr,
            base_url: base_url(addr, tls.is_some()),
            ca_cert: tls.map(|t| t.ca_path),
            stop,
            thread: Some(thread),
        })
    }
}

/// `http://127.0.0.1:PORT` (an unspecified bind address is reached over loopback).
fn base_url(addr: SocketAddr, https: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!(
        "{}://{}",
        if https { "https" } else { "http" },
        SocketAddr::new(ip, addr.port())
    )
}

/// A serving local cloud. [`RunningCloud::stop`] stops it and lets
/// requests in flight finish (bounded by a grace period); dropping it stops
/// it at once, dropping requests in flight (a pending delay fault's too),
/// so a drop never keeps its caller waiting.
#[derive(Debug)]
pub struct RunningCloud {
    store: Arc<Mutex<Store>>,
    connections: Arc<Mutex<Connections>>,
    server_key: Arc<ServerKey>,
    endpoint: Option<Endpoint>,
    addr: SocketAddr,
    base_url: String,
    ca_cert: Option<PathBuf>,
    stop: watch::Sender<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl RunningCloud {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// With TLS: the CA certificate (PEM) clients must trust.
    pub fn ca_cert_path(&self) -> Option<&std::path::Path> {
        self.ca_cert.as_deref()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: give this to the client as its API URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A token of the default account.
    pub fn add_token(&self, token: &AccessToken) {
        self.store()
            .add_token(DEFAULT_ACCOUNT, token.expose_secret());
    }

    /// A token of `account` (created if new).
    pub fn add_account_token(&self, account: &str, token: &AccessToken) {
        self.store().add_token(account, token.expose_secret());
    }

    /// Seed devices in the default account under product 88; returns how
    /// many were new.
    pub fn add_devices(
        &self,
        ids: impl IntoIterator<Item = DeviceId>,
    ) -> Result<usize, LocalCloudError> {
        self.store()
            .add_devices(ids.into_iter().map(SeededDevice::new))
    }

    /// Seed devices with their owners and products (or change a seeded
    /// device's); returns how many were new.
    pub fn add_seeded(
        &self,
        devices: impl IntoIterator<Item = SeededDevice>,
    ) -> Result<usize, LocalCloudError> {
        self.store().add_devices(devices)
    }

    /// Every account, with its token count and devices (never the tokens).
    pub fn accounts(&self) -> Vec<AccountInfo> {
        self.store().accounts()
    }

    pub fn set_fault(&self, fault: Fault) {
        self.store().fault.set(fault);
    }

    pub fn clear_fault(&self) {
        self.store().fault.set(Fault::None);
    }

    pub fn fault(&self) -> Fault {
        self.store().fault.get()
    }

    /// Every accepted provisioning, oldest first.
    pub fn records(&self) -> Vec<Record> {
        self.store().records(None)
    }

    pub fn records_for(&self, id: &DeviceId) -> Vec<Record> {
        self.store().records(Some(id))
    }

    /// The PEM the cloud holds for a device.
    pub fn public_key(&self, id: &DeviceId) -> Option<String> {
        self.store().device(id).and_then(|d| d.public_key)
    }

    pub fn device(&self, id: &DeviceId) -> Option<DeviceInfo> {
        self.store().device(id)
    }

    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.store().devices()
    }

    pub fn stats(&self) -> Stats {
        self.store().stats.clone()
    }

    /// Zero the counters (and restart a rate-limit fault's count).
    pub fn reset_counters(&self) {
        self.store().reset_counters();
    }

    /// Stop accepting, let requests in flight finish (for at most 2 s on
    /// the cloud's clock), and wait for the server thread.
    pub fn stop(mut self) {
        self.stop_and_join(StopSignal::Graceful);
    }

    /// The same as [`RunningCloud::stop`].
    pub fn shutdown(self) {
        self.stop();
    }

    fn stop_and_join(&mut self, how: StopSignal) {
        self.endpoint.take();
        let _ = self.stop.send(how);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningCloud {
    /// Stop at once: the server thread ends without waiting for requests
    /// in flight (its runtime gives its tasks 100 ms), then is joined.
    fn drop(&mut self) {
        self.stop_and_join(StopSignal::Now);
    }
}
