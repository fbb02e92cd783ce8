//! Particle Cloud provisioning client (REFERENCE §4).
//!
//! Provisioning tells the cloud which public key to expect from a device, so
//! the device's next handshake (REFERENCE §5) is accepted. The client is
//! written against a base URL: the real cloud and the local cloud
//! ([`crate::sim::cloud`]) are the same code path.
//!
//! - [`CloudClient::provision`]: `POST {api}/v1/provisioning/{id}`, success
//!   only for a 2xx whose JSON body is `"Success!"` (the real cloud's reply)
//!   or an object without `error` and with `ok` absent or true, typed
//!   [`CloudError`]s otherwise, retries for 429 / 502 / 503 / 504 / connection
//!   errors ([`RetryPolicy`]).
//! - [`config`]: where the access token and the API URL come from (flags,
//!   environment, particle-cli's config files).
//! - [`batch`]: provisioning many devices concurrently, with a summary.
//! - [`blocking`]: the same without an async runtime (CLI, bindings).

pub mod batch;
pub mod blocking;
mod client;
pub(crate) mod clock;
pub mod config;
mod key;
pub mod report;
mod retry;
pub mod settings;
mod types;

#[cfg(all(test, feature = "sim"))]
mod blocking_tests;
#[cfg(all(test, feature = "sim"))]
mod local_tests;

use std::time::Duration;

pub use crate::types::DeviceId;
pub use client::{
    Attempted, CloudClient, CloudConfig, Provisioned, RetryNotice, RetryObserver, DEFAULT_API_URL,
};
pub use clock::{AsyncClock, SleepFuture, TokioClock};
pub use key::{KeySource, ProvisionKey};
pub use retry::RetryPolicy;
pub use types::AccessToken;

use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy};

/// Everything that can go wrong between "I want this device provisioned" and
/// a confirmed reply from the cloud. Messages name the device or value and
/// the next step; none ever contains the access token.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// 401: the token is unknown, expired or revoked.
    #[error(
        "the cloud rejected the access token ({detail}): it is invalid or expired; {}",
        Remedy::GiveValidAccessToken
    )]
    InvalidToken { detail: String },

    /// 403 "Permission Denied" (REFERENCE §4).
    #[error(
        "the cloud refused device {device_id}: Permission Denied — the device has not had its \
         initial provisioning, or this account may not provision it; for a RedBear Duo send the \
         device id to RedBear for initial provisioning"
    )]
    PermissionDenied { device_id: DeviceId },

    /// 404 from the devices API (`GET /v1/devices/{id}`; a provisioning
    /// 404 is [`CloudError::EndpointNotFound`]).
    #[error(
        "the cloud does not know device {device_id} (HTTP 404); check the id \
         (read it in listening mode with the serial command `i`)"
    )]
    DeviceNotFound { device_id: DeviceId },

    /// 404 from the provisioning endpoint, which the real cloud never
    /// answers (an unknown device gets 403, REFERENCE §4): the API URL is
    /// not the API's base URL.
    #[error(
        "{url} answered HTTP 404 Not Found: that is not the provisioning endpoint, so the API \
         URL is wrong; {}",
        Remedy::GiveApiBaseUrl
    )]
    EndpointNotFound { url: String },

    /// A batch concurrency the open-file limit cannot carry.
    #[error(
        "{requested} requests in flight need about {} open files, but the open-file limit is \
         {limit}: use a concurrency of at most {max}, or raise the limit (`ulimit -n`)",
        .requested * 2 + 32
    )]
    TooManyInFlight {
        requested: u64,
        max: u64,
        limit: u64,
    },

    /// The caller's cancellation token was triggered before the cloud
    /// answered.
    #[error(
        "provisioning {device_id} was cancelled before the cloud answered: the device may or may not be provisioned"
    )]
    Cancelled { device_id: DeviceId },

    /// 429 after every allowed attempt.
    #[error(
        "the cloud is rate limiting requests (HTTP 429){}; {}",
        retry_after_text(*.retry_after), Remedy::RetryLater { after: *.retry_after }
    )]
    RateLimited { retry_after: Option<Duration> },

    /// A 5xx reply (after retries for 502/503/504).
    #[error(
        "the cloud answered HTTP {status} (server error){}; {}",
        snippet_text(snippet),
        Remedy::TryAgainLater
    )]
    Server { status: u16, snippet: String },

    /// Another 4xx reply that carries a JSON `error`, or a 2xx reply whose
    /// JSON has an `error` field or `"ok": false`.
    #[error("the cloud refused to provision device {device_id} (HTTP {status}): {message}")]
    Rejected {
        device_id: DeviceId,
        status: u16,
        message: String,
    },

    /// A reply that is not what the API sends (HTML, not JSON, a redirect…).
    #[error(
        "unexpected reply from the cloud (HTTP {status}): {snippet:?}; {}",
        Remedy::CheckApiUrl
    )]
    BadResponse { status: u16, snippet: String },

    /// The server's TLS certificate is not trusted (or not for this host).
    #[error(
        "the TLS certificate of {url} was not trusted ({detail}); nothing was sent and plain \
         HTTP is never tried instead. For a local cloud serving TLS, trust its CA \
         certificate (ca.pem in its state directory)"
    )]
    Tls { url: String, detail: String },

    /// Could not connect, or the connection broke before a reply.
    #[error(
        "could not reach the cloud at {url}: {detail}; {}",
        Remedy::CheckNetwork
    )]
    Network { url: String, detail: String },

    /// No complete reply within the configured timeout.
    #[error(
        "no reply from the cloud at {url} within {} s (timed out); {}",
        .after.as_secs_f64(), Remedy::RaiseTimeout
    )]
    Timeout { url: String, after: Duration },

    /// Not 24 hexadecimal digits.
    #[error("invalid device id {value:?}: {reason}; a device id is 24 hexadecimal digits, e.g. 2fff27fffc473530fff23637")]
    InvalidDeviceId { value: String, reason: String },

    /// The public key (or key file) could not be used.
    #[error(
        "cannot provision with the {origin}: {reason}; give a PEM or DER RSA key \
         (a public key, or a private key whose public half is sent)"
    )]
    InvalidKey { origin: String, reason: String },

    /// A plain `http://` URL to a host that is not loopback.
    #[error(
        "refusing plain http:// to {url}: the access token would travel unencrypted; {}",
        Remedy::UseHttps
    )]
    InsecureUrl { url: String },

    /// The API URL does not parse or uses another scheme.
    #[error("invalid API URL {value:?} (from {origin}): {reason}")]
    InvalidUrl {
        value: String,
        origin: String,
        reason: String,
    },

    /// No access token anywhere.
    #[error(
        "no Particle access token: {} (looked in {looked_in})",
        Remedy::GiveAccessToken
    )]
    NoToken { looked_in: String },

    /// A token that cannot be sent in an HTTP header.
    #[error("the access token from {origin} is not usable: {reason}")]
    MalformedToken { origin: String, reason: String },

    /// particle-cli's config exists but cannot be read.
    #[error(
        "cannot read particle-cli config {path}: {reason}; {}",
        Remedy::FixParticleConfig
    )]
    ConfigUnreadable { path: String, reason: String },

    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {detail}")]
    Client { detail: String },

    /// A request timeout that is not a usable number of seconds; `name` is
    /// what the front end calls the setting ([`config::ArgNames`]).
    #[error("{name} {value} is not a number of seconds from 0.001 to about 10^19")]
    InvalidTimeout { name: String, value: f64 },

    /// A CA certificate file that cannot be read.
    #[error("{name} {}: cannot read it: {reason}", .path.display())]
    CaCertUnreadable {
        name: String,
        path: std::path::PathBuf,
        reason: String,
    },

    /// A CA certificate file that is not PEM.
    #[error("{name} {}: not a PEM certificate (-----BEGIN CERTIFICATE-----)", .path.display())]
    CaCertNotPem {
        name: String,
        path: std::path::PathBuf,
    },
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", retry after {} s", d.as_secs()),
        None => String::new(),
    }
}

fn snippet_text(snippet: &str) -> String {
    if snippet.is_empty() {
        String::new()
    } else {
        format!(": {snippet:?}")
    }
}

impl ErrorInfo for CloudError {
    fn code(&self) -> ErrorCode {
        match self {
            CloudError::InvalidToken { .. } | CloudError::MalformedToken { .. } => {
                ErrorCode::InvalidToken
            }
            CloudError::PermissionDenied { .. } => ErrorCode::PermissionDenied,
            CloudError::DeviceNotFound { .. } => ErrorCode::DeviceNotFound,
            CloudError::RateLimited { .. } => ErrorCode::RateLimited,
            CloudError::Server { .. } => ErrorCode::ServerError,
            CloudError::Rejected { .. } => ErrorCode::CloudRejected,
            CloudError::BadResponse { .. } => ErrorCode::BadResponse,
            CloudError::EndpointNotFound { .. } => ErrorCode::InvalidUrl,
            CloudError::Network { .. } => ErrorCode::Network,
            CloudError::Tls { .. } => ErrorCode::TlsUntrusted,
            CloudError::Timeout { .. } => ErrorCode::Timeout,
            CloudError::InvalidDeviceId { .. } => ErrorCode::InvalidDeviceId,
            CloudError::InvalidKey { .. } => ErrorCode::InvalidKey,
            CloudError::InsecureUrl { .. } | CloudError::InvalidUrl { .. } => ErrorCode::InvalidUrl,
            CloudError::NoToken { .. } => ErrorCode::NoToken,
            CloudError::ConfigUnreadable { .. } => ErrorCode::Io,
            CloudError::Client { .. } => ErrorCode::Internal,
            CloudError::Cancelled { .. } => ErrorCode::Cancelled,
            CloudError::TooManyInFlight { .. }
            | CloudError::InvalidTimeout { .. }
            | CloudError::CaCertNotPem { .. } => ErrorCode::InvalidArgument,
            CloudError::CaCertUnreadable { .. } => ErrorCode::Io,
        }
    }

    fn facts(&self) -> ErrorFacts {
        let mut facts = ErrorFacts::default();
        match self {
            CloudError::Cancelled { device_id } => {
                facts.device_id = Some(device_id.to_string());
            }
            CloudError::PermissionDenied { device_id } => {
                facts.device_id = Some(device_id.to_string());
                facts.http_status = Some(403);
            }
            CloudError::DeviceNotFound { device_id } => {
                facts.device_id = Some(device_id.to_string());
                facts.http_status = Some(404);
            }
            CloudError::Rejected {
                device_id, status, ..
            } => {
                facts.device_id = Some(device_id.to_string());
                facts.http_status = Some(*status);
            }
            CloudError::InvalidToken { .. } => facts.http_status = Some(401),
            CloudError::EndpointNotFound { .. } => facts.http_status = Some(404),
            CloudError::RateLimited { retry_after } => {
                facts.http_status = Some(429);
                facts.retry_after = retry_after.map(|d| d.as_secs_f64());
            }
            CloudError::Server { status, .. } | CloudError::BadResponse { status, .. } => {
                facts.http_status = Some(*status)
            }
            CloudError::ConfigUnreadable { path, .. } => facts.path = Some(path.into()),
            CloudError::CaCertUnreadable { path, .. } | CloudError::CaCertNotPem { path, .. } => {
                facts.path = Some(path.clone())
            }
            _ => {}
        }
        facts
    }

    fn remedies(&self) -> Vec<Remedy> {
        let remedy = match self {
            CloudError::InvalidToken { .. } => Remedy::GiveValidAccessToken,
            CloudError::RateLimited { retry_after } => Remedy::RetryLater {
                after: *retry_after,
            },
            CloudError::Server { .. } => Remedy::TryAgainLater,
            CloudError::BadResponse { .. } => Remedy::CheckApiUrl,
            CloudError::EndpointNotFound { .. } => Remedy::GiveApiBaseUrl,
            CloudError::Network { .. } => Remedy::CheckNetwork,
            CloudError::Timeout { .. } => Remedy::RaiseTimeout,
            CloudError::InsecureUrl { .. } => Remedy::UseHttps,
            CloudError::NoToken { .. } => Remedy::GiveAccessToken,
            CloudError::ConfigUnreadable { .. } => Remedy::FixParticleConfig,
            _ => return vec![],
        };
        vec![remedy]
    }
}

impl From<crate::types::InvalidDeviceId> for CloudError {
    fn from(e: crate::types::InvalidDeviceId) -> Self {
        CloudError::InvalidDeviceId {
            value: e.value,
            reason: e.reason,
        }
    }
}

impl CloudError {
    /// A stable machine-readable name for the error, used in `--json` output
    /// and batch reports.
    pub fn kind(&self) -> &'static str {
        match self {
            CloudError::InvalidToken { .. } => "invalid_token",
            CloudError::PermissionDenied { .. } => "permission_denied",
            CloudError::DeviceNotFound { .. } => "device_not_found",
            CloudError::EndpointNotFound { .. } => "endpoint_not_found",
            CloudError::TooManyInFlight { .. } => "too_many_in_flight",
            CloudError::Cancelled { .. } => "cancelled",
            CloudError::RateLimited { .. } => "rate_limited",
            CloudError::Server { .. } => "server",
            CloudError::Rejected { .. } => "rejected",
            CloudError::BadResponse { .. } => "bad_response",
            CloudError::Network { .. } => "network",
            CloudError::Tls { .. } => "tls",
            CloudError::Timeout { .. } => "timeout",
            CloudError::InvalidDeviceId { .. } => "invalid_device_id",
            CloudError::InvalidKey { .. } => "invalid_key",
            CloudError::InsecureUrl { .. } => "insecure_url",
            CloudError::InvalidUrl { .. } => "invalid_url",
            CloudError::NoToken { .. } => "no_token",
            CloudError::MalformedToken { .. } => "malformed_token",
            CloudError::ConfigUnreadable { .. } => "config_unreadable",
            CloudError::Client { .. } => "client",
            CloudError::InvalidTimeout { .. } => "invalid_timeout",
            CloudError::CaCertUnreadable { .. } => "ca_cert_unreadable",
            CloudError::CaCertNotPem { .. } => "ca_cert_not_pem",
        }
    }
}

/// Make text from the network safe to show: no control characters, runs of
/// whitespace collapsed, at most `max` characters, and never the token.
pub(crate) fn sanitize(text: &str, max: usize, token: Option<&AccessToken>) -> String {
    let mut text = text.to_string();
    if let Some(token) = token {
        text = token.redact(&text);
    }
    let mut out = String::new();
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
    }
    let trimmed = out.trim_end();
    if trimmed.chars().count() > max {
        let cut: String = trimmed.chars().take(max).collect();
        format!("{cut}…")
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_snippets_are_short_single_line_and_token_free() {
        let token = AccessToken::new("s3cr3t-token-value").unwrap();
        let body = "<html>\n  <body>oops s3cr3t-token-value\u{7}</body>\n</html>";
        let s = sanitize(body, 200, Some(&token));
        assert_eq!(s, "<html> <body>oops [redacted] </body> </html>");
        let long = "x".repeat(500);
        assert_eq!(sanitize(&long, 10, None), format!("{}…", "x".repeat(10)));
    }

    #[test]
    fn permission_denied_explains_initial_provisioning() {
        let id = DeviceId::parse("2fff27fffc473530fff23637").unwrap();
        let msg = CloudError::PermissionDenied { device_id: id }.to_string();
        assert!(msg.contains("2fff27fffc473530fff23637"), "{msg}");
        assert!(msg.contains("initial provisioning"), "{msg}");
        assert!(msg.contains("RedBear"), "{msg}");
    }

    #[test]
    fn invalid_token_message_names_the_access_token() {
        let msg = CloudError::InvalidToken {
            detail: "HTTP 401 invalid_token".into(),
        }
        .to_string();
        assert!(msg.contains("access token"), "{msg}");
    }
}
