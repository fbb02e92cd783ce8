//! The HTTP surface of the local cloud: the provisioning API as the real one
//! behaves (REFERENCE §4), behind the fault layer, and a loopback-only admin
//! surface for tests and other processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::accounts::{SeededDevice, DEFAULT_ACCOUNT};
use super::fault::{Action, ConnInfo, Fault};
use super::replies::Reply;
use super::store::{Record, Store, TokenState};
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
        .route("/admin/accounts", get(admin_accounts))
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
            Reply::json(
                StatusCode::NOT_FOUND,
                json!({"ok": false, "error": "Not Found"}),
            )
        })
        .with_state(app)
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

/// A request body: form or JSON, flattened to text fields, and whether it
/// was a form (only a form body can carry a token, §4).
struct Body {
    fields: HashMap<String, String>,
    form: bool,
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Body, Reply> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Reply::bad_request(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Reply::bad_request("the JSON body must be an object"));
        };
        let fields = map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect();
        Ok(Body {
            fields,
            form: false,
        })
    } else {
        Ok(Body {
            fields: url::form_urlencoded::parse(body).into_owned().collect(),
            form: true,
        })
    }
}

/// The OAuth layer (§4): exactly one of `Authorization: Bearer`, an
/// `access_token` query parameter, or an `access_token` field of a form body.
/// No token: 400; more than one way: 400; a token it does not know or that
/// has expired: 401. Returns the account the token acts for.
fn authorize(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    body: Option<&Body>,
) -> Result<String, Reply> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
    let query = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    });
    let field = body
        .filter(|b| b.form)
        .and_then(|b| b.fields.get("access_token").cloned());
    let mut given = [bearer, query, field].into_iter().flatten();
    let token = match (given.next(), given.next()) {
        (None, _) => return Err(Reply::no_token()),
        (Some(_), Some(_)) => return Err(Reply::two_tokens()),
        (Some(token), None) => token,
    };
    match app.store().token(&token) {
        Some(TokenState::Valid(account)) => Ok(account.clone()),
        Some(TokenState::Expired(_)) => Err(Reply::expired_token()),
        None => Err(Reply::invalid_token()),
    }
}

/// `POST /v1/provisioning/{id}`.
async fn provision(
    State(app): State<App>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, Reply> {
    let body = parse_body(&headers, &body)?;
    let account = authorize(&app, &headers, &uri, Some(&body))?;
    app.store().stats.provisioning_requests += 1;
    let outcome = check_provisioning(&app, &account, &id, &body.fields);
    let mut store = app.store();
    let accepted = outcome.and_then(|record| {
        store.accept(record).map_err(|e| {
            Reply::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"ok": false, "error": e.to_string()}),
            )
        })
    });
    match accepted {
        Ok(()) => {
            store.stats.accepted += 1;
            Ok(Reply::success())
        }
        Err(rejection) => {
            store.stats.rejected += 1;
            Err(rejection)
        }
    }
}

/// The checks of the real endpoint, in its order: the id, key, algorithm,
/// product id, then whether the device had its initial provisioning and
/// belongs to the token's account (and to the product named, if any) —
/// 403 `Permission Denied` otherwise, the reply of the real cloud to an
/// account without rights to a device (REFERENCE §4).
///
/// The device is the body's `deviceID`, as the real cloud reads it (§4: a
/// recorded post to `/v1/provisioning/x` succeeded); the path's id is used
/// only when the body has none, as other servers do.
fn check_provisioning(
    app: &App,
    account: &str,
    path_id: &str,
    fields: &HashMap<String, String>,
) -> Result<Record, Reply> {
    let id = fields.get("deviceID").map_or(path_id, String::as_str);
    let device_id = DeviceId::parse(id).map_err(|e| Reply::bad_request(e.to_string()))?;
    let pem = fields
        .get("publicKey")
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| Reply::bad_request("publicKey is required (PEM)"))?;
    if !pem.contains("-----BEGIN") {
        return Err(Reply::bad_request("publicKey must be a PEM public key"));
    }
    if pem.contains("PRIVATE KEY") {
        return Err(Reply::bad_request(
            "publicKey holds a private key; send only the public half",
        ));
    }
    let public = keys::parse_public_key(pem.as_bytes())
        .map_err(|e| Reply::bad_request(format!("publicKey is not a valid RSA public key: {e}")))?;
    let public_key = keys::public_key_to_pem(&public)
        .map_err(|e| Reply::bad_request(format!("publicKey cannot be re-encoded: {e}")))?;
    let algorithm = fields
        .get("algorithm")
        .cloned()
        .unwrap_or_else(|| "rsa".into());
    if algorithm != "rsa" {
        return Err(Reply::bad_request(format!(
            "algorithm {algorithm:?} is not supported here; use \"rsa\""
        )));
    }
    let product_id = match fields.get("product_id") {
        None => None,
        Some(p) => Some(
            p.trim()
                .parse::<u16>()
                .map_err(|_| Reply::bad_request(format!("product_id {p:?} is not a number")))?,
        ),
    };
    if !may_use(app, account, &device_id, product_id) {
        return Err(Reply::permission_denied());
    }
    Ok(Record {
        device_id,
        account: account.to_string(),
        public_key,
        product_id,
        order: fields.get("order").cloned(),
        filename: fields.get("filename").cloned(),
        algorithm,
        time: app.clock.epoch_millis(),
    })
}

/// Whether `account` has rights to the device (seeded and owned by it) and
/// the device is in `product_id`, when one is named.
fn may_use(app: &App, account: &str, id: &DeviceId, product_id: Option<u16>) -> bool {
    app.store().owner(id).is_some_and(|(owner, product)| {
        owner == account && product_id.map_or(true, |p| p == product)
    })
}

/// `GET /v1/devices/{id}`: what the cloud knows of a device of the token's
/// account; 403 `Permission Denied` for any other (§4: the real cloud never says 404 for
/// a device it does not know).
async fn device(
    State(app): State<App>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Reply, Reply> {
    let account = authorize(&app, &headers, &uri, None)?;
    let device_id = DeviceId::parse(&id).map_err(|e| Reply::bad_request(e.to_string()))?;
    let info = app
        .store()
        .device(&device_id)
        .filter(|d| d.account == account)
        .ok_or_else(Reply::permission_denied)?;
    let product_id = info.product_id;
    Ok(Reply::json(
        StatusCode::OK,
        json!({
            "id": info.device_id,
            "name": null,
            "connected": false,
            "online": false,
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
        Reply::json(
            StatusCode::FORBIDDEN,
            json!({"ok": false, "error": "the admin surface answers loopback clients only"}),
        )
        .into_response()
    }
}

fn ok() -> Reply {
    Reply::json(StatusCode::OK, json!({"ok": true}))
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    expired: bool,
}

async fn admin_add_token(
    State(app): State<App>,
    Json(body): Json<TokenBody>,
) -> Result<Reply, Reply> {
    if body.token.is_empty() {
        return Err(Reply::bad_request("token must not be empty"));
    }
    let account = body.account.as_deref().unwrap_or(DEFAULT_ACCOUNT);
    if account.is_empty() {
        return Err(Reply::bad_request("account must not be empty"));
    }
    if body.expired {
        app.store().add_expired_token(account, &body.token);
    } else {
        app.store().add_token(account, &body.token);
    }
    Ok(ok())
}

#[derive(Deserialize)]
struct DevicesBody {
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    device_ids: Vec<String>,
    /// Owner of the devices (default: the default account).
    #[serde(default)]
    account: Option<String>,
    /// Their product (default 88).
    #[serde(default)]
    product_id: Option<u16>,
}

async fn admin_add_devices(
    State(app): State<App>,
    Json(body): Json<DevicesBody>,
) -> Result<Reply, Reply> {
    let ids = body
        .device_id
        .iter()
        .chain(body.device_ids.iter())
        .map(|text| {
            let id = DeviceId::parse(text).map_err(|e| Reply::bad_request(e.to_string()))?;
            let mut seed = SeededDevice::new(id);
            if let Some(account) = &body.account {
                seed = seed.account(account.clone());
            }
            if let Some(product) = body.product_id {
                seed = seed.product(product);
            }
            Ok(seed)
        })
        .collect::<Result<Vec<_>, Reply>>()?;
    if body.account.as_deref() == Some("") {
        return Err(Reply::bad_request("account must not be empty"));
    }
    let added = app.store().add_devices(ids).map_err(|e| {
        Reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"ok": false, "error": e.to_string()}),
        )
    })?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"ok": true, "added": added}),
    ))
}

async fn admin_accounts(State(app): State<App>) -> Reply {
    Reply::json(StatusCode::OK, json!(app.store().accounts()))
}

async fn admin_devices(State(app): State<App>) -> Reply {
    Reply::json(StatusCode::OK, json!(app.store().devices()))
}

fn parse_admin_id(id: &str) -> Result<DeviceId, Reply> {
    DeviceId::parse(id).map_err(|e| Reply::bad_request(e.to_string()))
}

fn unknown_device(id: &DeviceId) -> Reply {
    Reply::json(
        StatusCode::NOT_FOUND,
        json!({"ok": false, "error": format!("device {id} is not seeded")}),
    )
}

async fn admin_device(State(app): State<App>, Path(id): Path<String>) -> Result<Reply, Reply> {
    let id = parse_admin_id(&id)?;
    let info = app.store().device(&id).ok_or_else(|| unknown_device(&id))?;
    Ok(Reply::json(StatusCode::OK, json!(info)))
}

/// The PEM the cloud holds for the device, as text.
async fn admin_device_key(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, Reply> {
    let id = parse_admin_id(&id)?;
    let info = app.store().device(&id).ok_or_else(|| unknown_device(&id))?;
    let pem = info.public_key.ok_or_else(|| {
        Reply::json(
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
    Ok(Reply::json(
        StatusCode::OK,
        json!(app.store().records(Some(&id))),
    ))
}

async fn admin_records(State(app): State<App>) -> Reply {
    Reply::json(StatusCode::OK, json!(app.store().records(None)))
}

async fn admin_stats(State(app): State<App>) -> Reply {
    Reply::json(StatusCode::OK, json!(app.store().stats))
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
    Reply::json(StatusCode::OK, json!(app.store().fault.get()))
}

async fn admin_clear_fault(State(app): State<App>) -> Reply {
    app.store().fault.set(Fault::None);
    ok()
}
