//! The HTTP surface of the local cloud: the provisioning API as the real one
//! behaves (REFERENCE §4), behind the fault layer, and a loopback-only admin
//! surface for tests and other processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::fault::{Action, ConnInfo, Fault};
use super::store::{Record, Store};
use crate::cloud::{AsyncClock, DeviceId};
use crate::keys;

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) store: Arc<Mutex<Store>>,
    pub(crate) connections: Arc<Mutex<super::connections::Connections>>,
    pub(crate) clock: Arc<dyn AsyncClock>,
}

impl App {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panicking handler must not take the whole cloud down with it.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn router(app: App) -> Router {
    let v1 = Router::new()
        .route("/v1/provisioning/{id}", post(provision))
        .route("/v1/devices/{id}", get(device))
        .layer(middleware::from_fn_with_state(app.clone(), faults));
    let admin = Router::new()
        .route("/admin/tokens", post(admin_add_token))
        .route("/admin/devices", get(admin_devices).post(admin_add_devices))
        .route("/admin/devices/{id}", get(admin_device))
        .route("/admin/devices/{id}/key", get(admin_device_key))
        .route("/admin/devices/{id}/records", get(admin_device_records))
        .route("/admin/records", get(admin_records))
        .merge(super::device_admin::routes())
        .route("/admin/stats", get(admin_stats))
        .route("/admin/reset-counters", post(admin_reset_counters))
        .route(
            "/admin/fault",
            put(admin_set_fault)
                .get(admin_get_fault)
                .delete(admin_clear_fault),
        )
        .layer(middleware::from_fn(loopback_only));
    v1.merge(admin)
        .fallback(|| async {
            reply(
                StatusCode::NOT_FOUND,
                json!({"ok": false, "error": "Not Found"}),
            )
        })
        .with_state(app)
}

/// A JSON reply; small enough to be the error side of handler results.
pub(crate) struct Reply(StatusCode, Value);

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn reply(status: StatusCode, body: Value) -> Reply {
    Reply(status, body)
}

fn bad_request(error: impl Into<String>) -> Reply {
    reply(
        StatusCode::BAD_REQUEST,
        json!({ "ok": false, "error": error.into() }),
    )
}

/// Every `/v1` request is counted, then the active fault decides its fate.
async fn faults(
    State(app): State<App>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    request: Request,
    next: Next,
) -> Response {
    let action = {
        let mut store = app.store();
        store.stats.requests += 1;
        let action = store.fault.next_action();
        if matches!(action, Action::Respond(_) | Action::Drop) {
            store.stats.faulted += 1;
        }
        action
    };
    match action {
        Action::Pass => next.run(request).await,
        Action::Delay(d) => {
            app.clock.sleep(d).await;
            next.run(request).await
        }
        Action::Respond(response) => response,
        Action::Drop => {
            conn.abort.abort();
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Form or JSON body, flattened to text fields.
fn body_fields(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("the JSON body must be an object".into());
        };
        Ok(map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect())
    } else {
        Ok(url::form_urlencoded::parse(body).into_owned().collect())
    }
}

/// The token from `Authorization: Bearer …`, else an `access_token` field.
fn token_of(headers: &HeaderMap, fields: &HashMap<String, String>) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
    bearer.or_else(|| fields.get("access_token").cloned())
}

/// 401 unless the request carries a token the cloud knows.
fn authorize(
    app: &App,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Result<(), Reply> {
    match token_of(headers, fields) {
        None => Err(reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_request", "error_description": "The access token was not found"}),
        )),
        Some(t) if app.store().knows_token(&t) => Ok(()),
        Some(_) => Err(reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_token", "error_description": "The access token provided is invalid."}),
        )),
    }
}

/// `POST /v1/provisioning/{id}`.
async fn provision(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, Reply> {
    let fields = body_fields(&headers, &body).map_err(bad_request)?;
    authorize(&app, &headers, &fields)?;
    app.store().stats.provisioning_requests += 1;
    let outcome = check_provisioning(&app, &id, &fields);
    let mut store = app.store();
    let accepted = outcome.and_then(|record| {
        let device_id = record.device_id.clone();
        store.accept(record).map(|()| device_id).map_err(|e| {
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"ok": false, "error": e.to_string()}),
            )
        })
    });
    match accepted {
        Ok(device_id) => {
            store.stats.accepted += 1;
            Ok(reply(StatusCode::OK, json!({"ok": true, "id": device_id})))
        }
        Err(rejection) => {
            store.stats.rejected += 1;
            Err(rejection)
        }
    }
}

/// The checks of the real endpoint, in its order: ids, key, algorithm,
/// product id, then whether the device had its initial provisioning.
fn check_provisioning(
    app: &App,
    id: &str,
    fields: &HashMap<String, String>,
) -> Result<Record, Reply> {
    let device_id = DeviceId::parse(id).map_err(|e| bad_request(e.to_string()))?;
    if let Some(body_id) = fields.get("deviceID") {
        let body_id = DeviceId::parse(body_id).map_err(|e| bad_request(e.to_string()))?;
        if body_id != device_id {
            return Err(bad_request(format!(
                "deviceID {body_id} does not match the device {device_id} in the URL"
            )));
        }
    }
    let pem = fields
        .get("publicKey")
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| bad_request("publicKey is required (PEM)"))?;
    if !pem.contains("-----BEGIN") {
        return Err(bad_request("publicKey must be a PEM public key"));
    }
    if pem.contains("PRIVATE KEY") {
        return Err(bad_request(
            "publicKey holds a private key; send only the public half",
        ));
    }
    let public = keys::parse_public_key(pem.as_bytes())
        .map_err(|e| bad_request(format!("publicKey is not a valid RSA public key: {e}")))?;
    let public_key = keys::public_key_to_pem(&public)
        .map_err(|e| bad_request(format!("publicKey cannot be re-encoded: {e}")))?;
    let algorithm = fields
        .get("algorithm")
        .cloned()
        .unwrap_or_else(|| "rsa".into());
    if algorithm != "rsa" {
        return Err(bad_request(format!(
            "algorithm {algorithm:?} is not supported here; use \"rsa\""
        )));
    }
    let product_id = match fields.get("product_id") {
        None => None,
        Some(p) => Some(
            p.trim()
                .parse::<u16>()
                .map_err(|_| bad_request(format!("product_id {p:?} is not a number")))?,
        ),
    };
    if !app.store().is_seeded(&device_id) {
        return Err(reply(
            StatusCode::FORBIDDEN,
            json!({"ok": false, "error": "Permission Denied"}),
        ));
    }
    Ok(Record {
        device_id,
        public_key,
        product_id,
        order: fields.get("order").cloned(),
        filename: fields.get("filename").cloned(),
        algorithm,
        time: app.clock.epoch_millis(),
    })
}

/// `GET /v1/devices/{id}`: what the cloud knows of a seeded device.
async fn device(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Reply, Reply> {
    authorize(&app, &headers, &HashMap::new())?;
    let device_id = DeviceId::parse(&id).map_err(|e| bad_request(e.to_string()))?;
    let store = app.store();
    let info = store.device(&device_id).ok_or_else(|| {
        reply(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": "Device not found."}),
        )
    })?;
    let product_id = store
        .records(Some(&device_id))
        .last()
        .and_then(|r| r.product_id);
    Ok(reply(
        StatusCode::OK,
        json!({
            "id": info.device_id,
            "name": null,
            "connected": false,
            "product_id": product_id,
            "platform_id": product_id,
            "public_key_provisioned": info.public_key.is_some(),
        }),
    ))
}

/// The admin surface answers loopback peers only.
async fn loopback_only(
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    request: Request,
    next: Next,
) -> Response {
    if conn.remote.ip().is_loopback() {
        next.run(request).await
    } else {
        reply(
            StatusCode::FORBIDDEN,
            json!({"ok": false, "error": "the admin surface answers loopback clients only"}),
        )
        .into_response()
    }
}

fn ok() -> Reply {
    reply(StatusCode::OK, json!({"ok": true}))
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn admin_add_token(
    State(app): State<App>,
    Json(body): Json<TokenBody>,
) -> Result<Reply, Reply> {
    if body.token.is_empty() {
        return Err(bad_request("token must not be empty"));
    }
    app.store().add_token(&body.token);
    Ok(ok())
}

#[derive(Deserialize)]
struct DevicesBody {
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    device_ids: Vec<String>,
}

async fn admin_add_devices(
    State(app): State<App>,
    Json(body): Json<DevicesBody>,
) -> Result<Reply, Reply> {
    let ids = body
        .device_id
        .iter()
        .chain(body.device_ids.iter())
        .map(|text| DeviceId::parse(text).map_err(|e| bad_request(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let added = app.store().add_devices(ids).map_err(|e| {
        reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"ok": false, "error": e.to_string()}),
        )
    })?;
    Ok(reply(StatusCode::OK, json!({"ok": true, "added": added})))
}

async fn admin_devices(State(app): State<App>) -> Reply {
    reply(StatusCode::OK, json!(app.store().devices()))
}

fn parse_admin_id(id: &str) -> Result<DeviceId, Reply> {
    DeviceId::parse(id).map_err(|e| bad_request(e.to_string()))
}

fn unknown_device(id: &DeviceId) -> Reply {
    reply(
        StatusCode::NOT_FOUND,
        json!({"ok": false, "error": format!("device {id} is not seeded")}),
    )
}

async fn admin_device(State(app): State<App>, Path(id): Path<String>) -> Result<Reply, Reply> {
    let id = parse_admin_id(&id)?;
    let info = app.store().device(&id).ok_or_else(|| unknown_device(&id))?;
    Ok(reply(StatusCode::OK, json!(info)))
}

/// The PEM the cloud holds for the device, as text.
async fn admin_device_key(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, Reply> {
    let id = parse_admin_id(&id)?;
    let info = app.store().device(&id).ok_or_else(|| unknown_device(&id))?;
    let pem = info.public_key.ok_or_else(|| {
        reply(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": format!("device {id} has no key provisioned yet")}),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

async fn admin_device_records(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Reply, Reply> {
    let id = parse_admin_id(&id)?;
    Ok(reply(StatusCode::OK, json!(app.store().records(Some(&id)))))
}

async fn admin_records(State(app): State<App>) -> Reply {
    reply(StatusCode::OK, json!(app.store().records(None)))
}

async fn admin_stats(State(app): State<App>) -> Reply {
    reply(StatusCode::OK, json!(app.store().stats))
}

async fn admin_reset_counters(State(app): State<App>) -> Reply {
    app.store().reset_counters();
    ok()
}

async fn admin_set_fault(State(app): State<App>, Json(fault): Json<Fault>) -> Reply {
    app.store().fault.set(fault);
    ok()
}

async fn admin_get_fault(State(app): State<App>) -> Reply {
    reply(StatusCode::OK, json!(app.store().fault.get()))
}

async fn admin_clear_fault(State(app): State<App>) -> Reply {
    app.store().fault.set(Fault::None);
    ok()
}
