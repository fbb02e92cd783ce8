//! The provisioning client: one `POST {api}/v1/provisioning/{id}` per device
//! (REFERENCE §4), judged as §4 says the anchors judge it — success is a 2xx
//! whose JSON body is the string `"Success!"` (what the real cloud sends) or
//! an object without `error`/`ok: false`; the original helper counted any
//! reply without an `error` field (even a 5xx HTML page) as success.
//!
//! Requests carry the token only in `Authorization: Bearer` (never also in
//! the body: the OAuth layer refuses two methods) and the same lowercase
//! device id in the path and in the body's `deviceID` (the real cloud reads
//! the body, other servers the path).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::clock::{AsyncClock, TokioClock};
use super::config::{check_api_url, is_loopback_url, shown_url};
use super::key::ProvisionKey;
use super::retry::{parse_retry_after, RetryPolicy};
use super::{sanitize, AccessToken, CloudError, DeviceId};
use crate::progress::Monitor;

/// The public Particle Cloud API.
pub const DEFAULT_API_URL: &str = "https://api.particle.io";

/// What the `filename` field says: which tool provisioned the key.
const FILENAME: &str = "duoprov";
/// Longest snippet of an unexpected reply shown in an error.
const SNIPPET_CHARS: usize = 120;
/// The most of a reply body the client reads (a provisioning reply is a few
/// hundred bytes).
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Told before each wait between attempts, so a front end can say that it
/// retries and how long it waits (the retries are never silent).
pub type RetryObserver = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

/// One retry about to happen.
#[derive(Debug, Clone, Serialize)]
pub struct RetryNotice {
    pub device_id: DeviceId,
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// How long the client waits before the next attempt.
    #[serde(serialize_with = "secs")]
    pub wait: Duration,
    /// Why the attempt failed (the error's message; never the token).
    pub reason: String,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// How to reach the cloud. `Debug` is safe to print: the token redacts
/// itself, and so does the URL (a token may sit in its path).
#[derive(Clone)]
pub struct CloudConfig {
    /// Base URL; `/v1/…` is appended to its path.
    pub api_url: Url,
    pub token: AccessToken,
    /// Bound on one whole request (connect, send, reply).
    pub timeout: Duration,
    /// Bound on establishing the connection.
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Allow plain `http://` to non-loopback hosts.
    pub insecure_http: bool,
    pub user_agent: String,
    /// Called before every wait between attempts.
    pub on_retry: Option<RetryObserver>,
    /// Extra trusted CA certificates (PEM), in addition to the built-in
    /// roots: e.g. a local cloud's `--tls` CA (`--ca-cert FILE`).
    pub ca_certs: Vec<Vec<u8>>,
}

impl fmt::Debug for CloudConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudConfig")
            .field("api_url", &shown_url(&self.api_url, &self.token))
            .field("token", &self.token)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("insecure_http", &self.insecure_http)
            .field("user_agent", &self.user_agent)
            .field("on_retry", &self.on_retry.is_some())
            .finish()
    }
}

impl CloudConfig {
    /// Defaults: 30 s request timeout, 10 s connect timeout, 4 attempts.
    pub fn new(api_url: Url, token: AccessToken) -> Self {
        CloudConfig {
            api_url,
            token,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            insecure_http: false,
            user_agent: format!("duoprov/{}", env!("CARGO_PKG_VERSION")),
            on_retry: None,
            ca_certs: Vec::new(),
        }
    }
}

/// A confirmed provisioning.
#[derive(Debug, Clone, Serialize)]
pub struct Provisioned {
    pub device_id: DeviceId,
    /// Requests it took, including the successful one.
    pub attempts: u32,
    /// SHA-256 fingerprint of the key the cloud now holds for the device.
    pub fingerprint: String,
    pub product_id: u16,
    /// The `order` field sent (`duoprov_<epoch ms>`).
    pub order: String,
    /// The cloud's JSON reply.
    pub response: Value,
}

/// A result together with the number of requests it took (also for failures,
/// which batch reports count).
#[derive(Debug)]
pub struct Attempted<T> {
    pub attempts: u32,
    pub result: Result<T, CloudError>,
}

/// Which endpoint a request went to (a 404 means different things).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Provisioning,
    Device,
}

/// The outcome of one request: give up, or try again after a delay.
enum AttemptError {
    Fatal(CloudError),
    Retry {
        error: CloudError,
        retry_after: Option<Duration>,
    },
}

/// The client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct CloudClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: CloudConfig,
    clock: Arc<dyn AsyncClock>,
}

impl fmt::Debug for CloudClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl CloudClient {
    /// A client on real time.
    pub fn new(config: CloudConfig) -> Result<Self, CloudError> {
        Self::with_clock(config, Arc::new(TokioClock))
    }

    /// A client whose waits and timestamps go through `clock`.
    pub fn with_clock(config: CloudConfig, clock: Arc<dyn AsyncClock>) -> Result<Self, CloudError> {
        check_api_url(
            &config.api_url,
            config.insecure_http,
            "the client configuration",
        )?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none());
        for (i, pem) in config.ca_certs.iter().enumerate() {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| CloudError::Client {
                detail: format!("CA certificate {} is not a PEM certificate: {e}", i + 1),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        if is_loopback_url(&config.api_url) {
            // A loopback cloud is reached directly, never through a proxy.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| CloudError::Client {
            detail: error_chain(&e, &config.token),
        })?;
        Ok(CloudClient {
            inner: Arc::new(Inner {
                http,
                config,
                clock,
            }),
        })
    }

    pub fn config(&self) -> &CloudConfig {
        &self.inner.config
    }

    pub fn clock(&self) -> &Arc<dyn AsyncClock> {
        &self.inner.clock
    }

    /// Provision `public_key_pem` (any PEM key; a private key's public half is
    /// sent) for `device_id` under `product_id` (88 for the Duo).
    pub async fn provision(
        &self,
        device_id: &DeviceId,
        public_key_pem: &str,
        product_id: u16,
    ) -> Result<Provisioned, CloudError> {
        let key = ProvisionKey::from_pem_text(public_key_pem)?;
        self.provision_key(device_id, &key, product_id).await
    }

    /// [`provision`](Self::provision), cancellable: once `monitor`'s token
    /// is cancelled the request (or the wait before a retry) is dropped and
    /// the error is [`CloudError::Cancelled`] (code `CANCELLED`).
    pub async fn provision_with(
        &self,
        device_id: &DeviceId,
        public_key_pem: &str,
        product_id: u16,
        monitor: &Monitor,
    ) -> Result<Provisioned, CloudError> {
        let key = ProvisionKey::from_pem_text(public_key_pem)?;
        self.provision_key_with(device_id, &key, product_id, monitor)
            .await
    }

    /// [`provision_key`](Self::provision_key), cancellable as
    /// [`provision_with`](Self::provision_with).
    pub async fn provision_key_with(
        &self,
        device_id: &DeviceId,
        key: &ProvisionKey,
        product_id: u16,
        monitor: &Monitor,
    ) -> Result<Provisioned, CloudError> {
        let cancel = monitor.cancel_token();
        if cancel.is_cancelled() {
            return Err(CloudError::Cancelled {
                device_id: device_id.clone(),
            });
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(CloudError::Cancelled { device_id: device_id.clone() }),
            result = self.provision_key(device_id, key, product_id) => result,
        }
    }

    /// [`provision`](Self::provision) with an already parsed key.
    pub async fn provision_key(
        &self,
        device_id: &DeviceId,
        key: &ProvisionKey,
        product_id: u16,
    ) -> Result<Provisioned, CloudError> {
        self.provision_counted(device_id, key, product_id)
            .await
            .result
    }

    /// Provision and report the number of requests made, also on failure.
    pub async fn provision_counted(
        &self,
        device_id: &DeviceId,
        key: &ProvisionKey,
        product_id: u16,
    ) -> Attempted<Provisioned> {
        let url = match self.endpoint(&["v1", "provisioning", device_id.as_str()]) {
            Ok(url) => url,
            Err(e) => {
                return Attempted {
                    attempts: 0,
                    result: Err(e),
                }
            }
        };
        let order = format!("duoprov_{}", self.inner.clock.epoch_millis());
        let product = product_id.to_string();
        let form: [(&str, &str); 6] = [
            ("deviceID", device_id.as_str()),
            ("publicKey", &key.pem),
            ("order", &order),
            ("filename", FILENAME),
            ("product_id", &product),
            ("algorithm", "rsa"),
        ];
        let attempted = self
            .with_retries(device_id, || {
                let request = self
                    .inner
                    .http
                    .post(url.clone())
                    .bearer_auth(self.inner.config.token.expose_secret())
                    .form(&form);
                self.send(request, device_id, Endpoint::Provisioning)
            })
            .await;
        Attempted {
            attempts: attempted.attempts,
            result: attempted.result.map(|response| Provisioned {
                device_id: device_id.clone(),
                attempts: attempted.attempts,
                fingerprint: key.fingerprint.clone(),
                product_id,
                order: order.clone(),
                response,
            }),
        }
    }

    /// `GET {api}/v1/devices/{id}`: what the cloud knows about a device.
    pub async fn device(&self, device_id: &DeviceId) -> Result<Value, CloudError> {
        let url = self.endpoint(&["v1", "devices", device_id.as_str()])?;
        self.with_retries(device_id, || {
            let request = self
                .inner
                .http
                .get(url.clone())
                .bearer_auth(self.inner.config.token.expose_secret());
            self.send(request, device_id, Endpoint::Device)
        })
        .await
        .result
    }

    fn endpoint(&self, segments: &[&str]) -> Result<Url, CloudError> {
        let mut url = self.inner.config.api_url.clone();
        url.path_segments_mut()
            .map_err(|_| CloudError::InvalidUrl {
                value: self.inner.config.api_url.to_string(),
                origin: "the client configuration".into(),
                reason: "it cannot have a path".into(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Run `request` until it succeeds, fails for good, or the policy gives
    /// up; every wait goes through the clock.
    async fn with_retries<F, Fut>(&self, device_id: &DeviceId, mut request: F) -> Attempted<Value>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Value, AttemptError>>,
    {
        let policy = &self.inner.config.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (error, retry_after) = match request().await {
                Ok(value) => {
                    return Attempted {
                        attempts: attempt,
                        result: Ok(value),
                    }
                }
                Err(AttemptError::Fatal(error)) => {
                    return Attempted {
                        attempts: attempt,
                        result: Err(error),
                    }
                }
                Err(AttemptError::Retry { error, retry_after }) => (error, retry_after),
            };
            let delay = policy.delay_after(attempt, retry_after, &mut rand::thread_rng());
            match delay {
                Some(delay) => {
                    if let Some(observer) = &self.inner.config.on_retry {
                        observer(&RetryNotice {
                            device_id: device_id.clone(),
                            attempt,
                            max_attempts: policy.max_attempts,
                            wait: delay,
                            reason: error.to_string(),
                        });
                    }
                    self.inner.clock.sleep(delay).await
                }
                None => {
                    return Attempted {
                        attempts: attempt,
                        result: Err(error),
                    }
                }
            }
        }
    }

    /// One request and the judgement of its reply.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        device_id: &DeviceId,
        endpoint: Endpoint,
    ) -> Result<Value, AttemptError> {
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        if status == 404 && endpoint == Endpoint::Provisioning {
            // §4: the provisioning endpoint never answers 404 (an unknown
            // device gets 403): the URL is not the API's.
            return Err(AttemptError::Fatal(CloudError::EndpointNotFound {
                url: shown_url(response.url(), &self.inner.config.token),
            }));
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = self.read_body(response).await?;
        judge_reply(
            status,
            retry_after,
            &body,
            device_id,
            &self.inner.config.token,
        )
    }

    /// The reply body, at most [`MAX_REPLY_BYTES`]: a provisioning reply is
    /// a few hundred bytes, and a misdirected `--api-url` must not make us
    /// buffer whatever it streams. The excess is dropped; the judgement of a
    /// truncated body is then a bad response, never a success.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, AttemptError> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            let room = MAX_REPLY_BYTES - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_REPLY_BYTES {
                break;
            }
        }
        Ok(body)
    }

    fn transport_error(&self, e: reqwest::Error) -> AttemptError {
        let token = &self.inner.config.token;
        let url = e
            .url()
            .map(|u| token.redact(u.as_str()))
            .unwrap_or_else(|| token.redact(self.inner.config.api_url.as_str()));
        if e.is_timeout() {
            return AttemptError::Fatal(CloudError::Timeout {
                url,
                after: self.inner.config.timeout,
            });
        }
        let detail = error_chain(&e, token);
        if is_certificate_error(&detail) {
            // Never retried, and never retried over plain HTTP.
            return AttemptError::Fatal(CloudError::Tls { url, detail });
        }
        if e.is_builder() {
            return AttemptError::Fatal(CloudError::Client { detail });
        }
        AttemptError::Retry {
            error: CloudError::Network { url, detail },
            retry_after: None,
        }
    }
}

/// A TLS failure about the server's certificate (rustls: "invalid peer
/// certificate: UnknownIssuer", "NotValidForName", …).
fn is_certificate_error(detail: &str) -> bool {
    detail.contains("invalid peer certificate") || detail.contains("certificate")
}

/// The error and its causes on one line, without the URL (shown separately)
/// and without the token.
fn error_chain(e: &reqwest::Error, token: &AccessToken) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    // The same cause is often repeated down the chain.
    parts.dedup();
    let text = parts.join(": ");
    if text.contains("InvalidContentType") || text.contains("corrupt message") {
        // rustls meeting a server that does not speak TLS.
        return "the server did not answer TLS (it may be a plain-HTTP server: then use an \
                http:// URL, which is allowed for loopback hosts)"
            .into();
    }
    sanitize(&text, 300, Some(token))
}

/// The body of a successful provisioning on the real cloud (REFERENCE §4).
const SUCCESS_STRING: &str = "Success!";

/// Decide what a reply means, as REFERENCE §4 says the anchors do: success
/// is a 2xx whose JSON body is the string `"Success!"` (what the real cloud
/// and spark-server send), or a JSON object without `error` and with `ok`
/// absent or `true`. Anything else is a failure: another JSON value, a body
/// that is not JSON, any non-2xx.
fn judge_reply(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    device_id: &DeviceId,
    token: &AccessToken,
) -> Result<Value, AttemptError> {
    use AttemptError::{Fatal, Retry};

    let parsed = serde_json::from_slice::<Value>(body).ok();
    let snippet = || sanitize(&String::from_utf8_lossy(body), SNIPPET_CHARS, Some(token));
    let error_text = parsed.as_ref().and_then(|v| error_message(v, token));
    let json = parsed.filter(|v| v.is_object() || v.as_str() == Some(SUCCESS_STRING));
    let device_id = device_id.clone();
    match status {
        200..=299 => {
            let Some(value) = json else {
                return Err(Fatal(CloudError::BadResponse {
                    status,
                    snippet: snippet(),
                }));
            };
            if value.is_string() {
                return Ok(value);
            }
            if let Some(error) = error_text {
                return Err(Fatal(match error.as_str() {
                    e if e.starts_with("Permission Denied") => {
                        CloudError::PermissionDenied { device_id }
                    }
                    e if e.starts_with("invalid_token") => CloudError::InvalidToken {
                        detail: format!("HTTP {status}: {error}"),
                    },
                    _ => CloudError::Rejected {
                        device_id,
                        status,
                        message: error,
                    },
                }));
            }
            // Only `true` (or no `ok` at all) is success: `"false"`, 0 and
            // other odd values are not a confirmation.
            match value.get("ok") {
                None | Some(Value::Null) | Some(Value::Bool(true)) => {}
                Some(other) => {
                    return Err(Fatal(CloudError::Rejected {
                        device_id,
                        status,
                        message: sanitize(
                            &format!("the reply says \"ok\": {other}"),
                            SNIPPET_CHARS,
                            Some(token),
                        ),
                    }));
                }
            }
            Ok(value)
        }
        401 => Err(Fatal(CloudError::InvalidToken {
            detail: match error_text {
                Some(e) => format!("HTTP 401: {e}"),
                None => "HTTP 401".into(),
            },
        })),
        403 => Err(Fatal(CloudError::PermissionDenied { device_id })),
        404 => Err(Fatal(CloudError::DeviceNotFound { device_id })),
        429 => Err(Retry {
            error: CloudError::RateLimited { retry_after },
            retry_after,
        }),
        502..=504 => Err(Retry {
            error: CloudError::Server {
                status,
                snippet: snippet(),
            },
            retry_after: None,
        }),
        500..=599 => Err(Fatal(CloudError::Server {
            status,
            snippet: snippet(),
        })),
        400..=499 => Err(Fatal(match error_text {
            Some(message) => CloudError::Rejected {
                device_id,
                status,
                message,
            },
            None => CloudError::BadResponse {
                status,
                snippet: snippet(),
            },
        })),
        _ => Err(Fatal(CloudError::BadResponse {
            status,
            snippet: snippet(),
        })),
    }
}

/// What a JSON error reply says, as particle-cli reads it (REFERENCE §4):
/// `error` with its `error_description`, else `errors[]`, else `info`;
/// `None` when the reply carries none of them.
fn error_message(v: &Value, token: &AccessToken) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut message = match (v.get("error"), v.get("errors")) {
        (Some(e), _) if !e.is_null() => text(e),
        (_, Some(Value::Array(errors))) if !errors.is_empty() => {
            errors.iter().map(text).collect::<Vec<_>>().join("; ")
        }
        _ => return None,
    };
    if let Some(Value::String(d)) = v.get("error_description") {
        message = format!("{message}: {d}");
    }
    Some(sanitize(&message, SNIPPET_CHARS, Some(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(status: u16, body: &str) -> Result<Value, AttemptError> {
        let id = DeviceId::parse("2fff27fffc473530fff23637").unwrap();
        let token = AccessToken::new("tok-123").unwrap();
        judge_reply(status, None, body.as_bytes(), &id, &token)
    }

    fn fatal(r: Result<Value, AttemptError>) -> CloudError {
        match r {
            Err(AttemptError::Fatal(e)) => e,
            Err(AttemptError::Retry { error, .. }) => panic!("retryable: {error}"),
            Ok(v) => panic!("success: {v}"),
        }
    }

    #[test]
    fn the_recorded_success_string_counts_as_success_and_other_strings_do_not() {
        assert_eq!(
            judge(200, r#""Success!""#).ok(),
            Some(Value::String("Success!".into()))
        );
        for body in [r#""Failure""#, r#""success!""#, r#""""#, "Success!"] {
            assert!(
                matches!(fatal(judge(200, body)), CloudError::BadResponse { .. }),
                "{body}"
            );
        }
        assert!(matches!(
            fatal(judge(200, r#"{"ok":false,"errors":["key already in use"]}"#)),
            CloudError::Rejected { message, .. } if message == "key already in use"
        ));
    }

    #[test]
    fn only_a_2xx_json_reply_without_error_counts_as_success() {
        assert!(judge(200, r#"{"ok":true,"id":"x"}"#).is_ok());
        assert!(judge(201, r#"{"id":"x"}"#).is_ok());
        assert!(matches!(
            fatal(judge(200, r#"{"ok":false}"#)),
            CloudError::Rejected { .. }
        ));
        assert!(matches!(
            fatal(judge(200, r#"{"error":"Permission Denied"}"#)),
            CloudError::PermissionDenied { .. }
        ));
        assert!(matches!(
            fatal(judge(200, "<html>Success</html>")),
            CloudError::BadResponse { status: 200, .. }
        ));
        assert!(matches!(
            fatal(judge(200, "true")),
            CloudError::BadResponse { .. }
        ));
    }

    #[test]
    fn an_ok_field_that_is_not_true_is_not_success() {
        for body in [
            r#"{"ok":"false"}"#,
            r#"{"ok":0}"#,
            r#"{"ok":"no","id":"x"}"#,
            r#"{"ok":[]}"#,
        ] {
            assert!(
                matches!(fatal(judge(200, body)), CloudError::Rejected { .. }),
                "{body}"
            );
        }
        assert!(judge(200, r#"{"ok":null,"id":"x"}"#).is_ok());
    }

    #[test]
    fn error_statuses_map_to_typed_errors() {
        assert!(matches!(
            fatal(judge(401, r#"{"error":"invalid_token"}"#)),
            CloudError::InvalidToken { .. }
        ));
        assert!(matches!(
            fatal(judge(403, r#"{"error":"Permission Denied"}"#)),
            CloudError::PermissionDenied { .. }
        ));
        assert!(matches!(
            fatal(judge(404, "{}")),
            CloudError::DeviceNotFound { .. }
        ));
        assert!(matches!(
            fatal(judge(500, "<html><h1>boom</h1></html>")),
            CloudError::Server { status: 500, .. }
        ));
        assert!(matches!(
            fatal(judge(400, r#"{"error":"bad key"}"#)),
            CloudError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            fatal(judge(400, "nope")),
            CloudError::BadResponse { status: 400, .. }
        ));
        assert!(matches!(
            fatal(judge(302, "")),
            CloudError::BadResponse { status: 302, .. }
        ));
    }

    #[test]
    fn rate_limits_and_gateway_errors_are_retried_but_other_4xx_are_not() {
        for status in [429, 502, 503, 504] {
            assert!(
                matches!(judge(status, "{}"), Err(AttemptError::Retry { .. })),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 409, 500] {
            assert!(
                matches!(judge(status, "{}"), Err(AttemptError::Fatal(_))),
                "{status}"
            );
        }
    }

    #[test]
    fn a_reply_echoing_the_token_is_redacted_in_the_error() {
        let e = fatal(judge(
            401,
            r#"{"error":"invalid_token","error_description":"tok-123 is bad"}"#,
        ));
        let msg = e.to_string();
        assert!(!msg.contains("tok-123"), "{msg}");
        assert!(msg.contains("[redacted] is bad"), "{msg}");
        let e = fatal(judge(500, "token tok-123"));
        assert!(!e.to_string().contains("tok-123"));
    }
}
