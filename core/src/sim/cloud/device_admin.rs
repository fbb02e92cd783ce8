//! The device endpoint's side of the admin surface (loopback only, JSON):
//! `GET /admin/connections` (every device: key held, its source, last
//! connection, result, reason, connected now), `GET /admin/connections/{id}`,
//! and `GET /admin/unidentified` (handshakes the cloud could not decrypt);
//! the same from Rust on [`RunningCloud`], with the server key block.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::api::App;
use super::connections::{ConnectionInfo, Unidentified};
use super::{LocalCloudError, RunningCloud};
use crate::cloud::DeviceId;
use crate::keys::RsaPublicKey;
use crate::server_key::{self, ServerAddress};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/admin/connections", get(list))
        .route("/admin/connections/{id}", get(one))
        .route("/admin/unidentified", get(unidentified))
}

fn not_found(error: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"ok": false, "error": error})),
    )
        .into_response()
}

async fn list(State(app): State<App>) -> Response {
    let store = app.store.lock().unwrap_or_else(|p| p.into_inner());
    let log = app.connections.lock().unwrap_or_else(|p| p.into_inner());
    Json(log.list(&store)).into_response()
}

async fn one(State(app): State<App>, Path(id): Path<String>) -> Response {
    let id = match DeviceId::parse(&id) {
        Ok(id) => id,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"ok": false, "error": e.to_string()})),
            )
                .into_response()
        }
    };
    let store = app.store.lock().unwrap_or_else(|p| p.into_inner());
    let log = app.connections.lock().unwrap_or_else(|p| p.into_inner());
    match log.info(&store, &id) {
        Some(info) => Json(info).into_response(),
        None => not_found(format!("device {id} is not seeded and never connected")),
    }
}

async fn unidentified(State(app): State<App>) -> Response {
    let log = app.connections.lock().unwrap_or_else(|p| p.into_inner());
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(log.unidentified_list()),
    )
        .into_response()
}

impl RunningCloud {
    /// The address the device endpoint is bound to, as it is (`0.0.0.0:P`
    /// when it listens on every interface).
    pub fn device_listen_addr(&self) -> SocketAddr {
        self.endpoint.as_ref().map(|e| e.addr).unwrap_or(self.addr)
    }

    /// Where a device connects to the device endpoint (TCP, REFERENCE §5):
    /// its address, with `127.0.0.1` for an endpoint on every interface.
    pub fn device_addr(&self) -> SocketAddr {
        let addr = self.endpoint.as_ref().map(|e| e.addr).unwrap_or(self.addr);
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
            }
            _ => addr,
        }
    }

    /// The server's public key (generating the key pair on first use).
    pub fn server_public_key(&self) -> Result<RsaPublicKey, LocalCloudError> {
        Ok(self.server_key.get()?.to_public_key())
    }

    /// The server key block for DCT 2082 (key, this endpoint's IPv4 address
    /// and port; the `server_key` format), as `--server-key-out` writes it.
    pub fn server_key_block(&self) -> Result<Vec<u8>, LocalCloudError> {
        let addr = self.device_addr();
        let ip = match addr.ip() {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => {
                return Err(LocalCloudError::Runtime {
                    reason: format!(
                        "the device endpoint {addr} is IPv6; the server key block stores IPv4 \
                         or a host name: listen on an IPv4 address such as 127.0.0.1"
                    ),
                })
            }
        };
        let key = self.server_public_key()?;
        server_key::format_server_key(&key, Some(&ServerAddress::Ipv4(ip)), Some(addr.port()))
            .map_err(|e| LocalCloudError::Runtime {
                reason: e.to_string(),
            })
    }

    /// Every device seeded or seen on the device endpoint.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let log = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        log.list(&self.store())
    }

    pub fn connection(&self, id: &DeviceId) -> Option<ConnectionInfo> {
        let log = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        log.info(&self.store(), id)
    }

    /// Handshakes the cloud could not decrypt (so no device id).
    pub fn unidentified(&self) -> Vec<Unidentified> {
        let log = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        log.unidentified_list()
    }
}

impl RunningCloud {
    /// Hold `key` for a device as a provisioning would (without HTTP): for
    /// tests and rigs. The device must be seeded.
    pub fn hold_key(&self, id: &DeviceId, key: &RsaPublicKey) -> Result<(), LocalCloudError> {
        let pem = crate::keys::public_key_to_pem(key).map_err(|e| LocalCloudError::Runtime {
            reason: e.to_string(),
        })?;
        let mut store = self.store();
        let Some((account, _)) = store.owner(id) else {
            return Err(LocalCloudError::Runtime {
                reason: format!("device {id} is not seeded; add it first"),
            });
        };
        let account = account.to_string();
        store.accept(super::Record {
            device_id: id.clone(),
            account,
            public_key: pem,
            product_id: None,
            order: None,
            filename: Some("admin".into()),
            algorithm: "rsa".into(),
            time: 0,
        })
    }
}
