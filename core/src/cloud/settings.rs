//! A client configuration from provisioning options: what a front end
//! gathers (token, API URL, timeout, retries, CA certificates, each as
//! given or absent) becomes one checked [`CloudConfig`] plus a report of
//! what was chosen and where each value came from (REFERENCE §4). The CLI's
//! `provision`, `keys doctor` and the bindings make their clients through
//! this one call, so the discovery order, the timeout bounds and the CA
//! certificate check are the same everywhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::config::{resolve, ArgNames, Origin, Sources};
use super::{CloudConfig, CloudError, RetryPolicy};

/// Longest connect timeout: a longer request timeout does not make the
/// connection attempt wait longer than this.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest request timeout: below a millisecond every request would time out.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Provisioning options as a front end gathers them: `None` means "not
/// given", so discovery (environment, particle-cli's config) or the
/// default applies.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// An explicit access token (never printed).
    pub token: Option<String>,
    /// An explicit API base URL.
    pub api_url: Option<String>,
    /// Allow plain `http://` to a host that is not loopback.
    pub insecure_http: bool,
    /// PEM CA certificate files trusted besides the built-in roots (e.g. a
    /// local cloud's `ca.pem`).
    pub ca_certs: Vec<PathBuf>,
    /// Bound on one request in seconds; `None`: [`CloudConfig::new`]'s 30 s.
    pub timeout_secs: Option<f64>,
    /// Retries after the first attempt; `None`: [`RetryPolicy::default`].
    pub retries: Option<u32>,
    /// What the front end calls each option, for messages and origins.
    pub names: ArgNames,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field(
                "token",
                &self.token.as_ref().map(|_| super::AccessToken::REDACTED),
            )
            .field("api_url", &self.api_url)
            .field("insecure_http", &self.insecure_http)
            .field("ca_certs", &self.ca_certs)
            .field("timeout_secs", &self.timeout_secs)
            .field("retries", &self.retries)
            .finish()
    }
}

/// What a client was configured with: serialisable, token-free.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientReport {
    /// Where the access token came from (the token itself is never shown).
    pub token_origin: Origin,
    /// The API base URL as it may be shown ([`super::config::shown_url`]).
    pub api_url: String,
    pub api_url_origin: Origin,
    pub timeout_secs: f64,
    pub connect_timeout_secs: f64,
    /// Attempts per device, the first included.
    pub max_attempts: u32,
    pub insecure_http: bool,
    /// The CA certificate files read and trusted.
    pub ca_certs: Vec<PathBuf>,
}

/// A checked client configuration and its report. Set
/// [`CloudConfig::on_retry`] on `config` to hear about retries, then build a
/// [`super::CloudClient`] or [`super::blocking::BlockingClient`] from it.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub config: CloudConfig,
    pub report: ClientReport,
}

impl ClientOptions {
    /// Resolve against this process's environment (`PARTICLE_ACCESS_TOKEN`,
    /// `PARTICLE_API_URL`, `HOME`'s particle-cli config).
    pub fn resolve(&self) -> Result<ClientSettings, CloudError> {
        self.resolve_with(Sources::from_env(None, None))
    }

    /// Resolve against the environment values in `env` (its flags are
    /// replaced by this options' token and URL): testable without touching
    /// the process environment. Checked in the order a user fixes them:
    /// token and URL, then the timeout, then each CA certificate file.
    pub fn resolve_with(&self, env: Sources) -> Result<ClientSettings, CloudError> {
        let sources = Sources {
            token_flag: self.token.clone(),
            api_url_flag: self.api_url.clone(),
            names: self.names,
            ..env
        };
        let resolved = resolve(&sources, self.insecure_http)?;
        let api_url = resolved.api_url_shown();
        let mut config = CloudConfig::new(resolved.api_url, resolved.token);
        if let Some(secs) = self.timeout_secs {
            config.timeout = check_timeout(secs, self.names.timeout)?;
            config.connect_timeout = config.timeout.min(MAX_CONNECT_TIMEOUT);
        }
        if let Some(retries) = self.retries {
            config.retry = RetryPolicy::with_retries(retries);
        }
        config.insecure_http = self.insecure_http;
        for path in &self.ca_certs {
            config
                .ca_certs
                .push(read_ca_cert(path, self.names.ca_cert)?);
        }
        let report = ClientReport {
            token_origin: resolved.token_origin,
            api_url,
            api_url_origin: resolved.api_url_origin,
            timeout_secs: config.timeout.as_secs_f64(),
            connect_timeout_secs: config.connect_timeout.as_secs_f64(),
            max_attempts: config.retry.max_attempts,
            insecure_http: config.insecure_http,
            ca_certs: self.ca_certs.clone(),
        };
        Ok(ClientSettings { config, report })
    }
}

/// A request timeout of `secs` seconds: at least [`MIN_TIMEOUT`] and
/// representable as a `Duration` (`Duration::from_secs_f64` would panic on
/// 1e300); NaN and negatives are refused. `name` is the front end's word
/// for the setting.
pub fn check_timeout(secs: f64, name: &str) -> Result<Duration, CloudError> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|t| *t >= MIN_TIMEOUT)
        .ok_or_else(|| CloudError::InvalidTimeout {
            name: name.to_string(),
            value: secs,
        })
}

/// The bytes of a PEM CA certificate file (checked to hold a
/// `-----BEGIN CERTIFICATE-----`, so a key or a DER file is refused here
/// rather than as an obscure TLS failure).
pub fn read_ca_cert(path: &Path, name: &str) -> Result<Vec<u8>, CloudError> {
    let bytes = std::fs::read(path).map_err(|e| CloudError::CaCertUnreadable {
        name: name.to_string(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN CERTIFICATE-----") {
        return Err(CloudError::CaCertNotPem {
            name: name.to_string(),
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, ErrorInfo};

    fn env_with_token() -> Sources {
        Sources {
            env_token: Some("env-token".into()),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_are_the_cloud_configs_and_origins_are_reported() {
        let settings = ClientOptions::default()
            .resolve_with(env_with_token())
            .unwrap();
        assert_eq!(settings.config.timeout, Duration::from_secs(30));
        assert_eq!(settings.config.connect_timeout, MAX_CONNECT_TIMEOUT);
        assert_eq!(settings.config.retry, RetryPolicy::default());
        assert_eq!(
            settings.report.max_attempts,
            RetryPolicy::default().max_attempts
        );
        assert_eq!(settings.report.api_url, "https://api.particle.io/");
        assert_eq!(settings.report.api_url_origin, Origin::Default);
        assert_eq!(
            settings.report.token_origin,
            Origin::Env {
                name: "PARTICLE_ACCESS_TOKEN".into()
            }
        );
        let json = serde_json::to_string(&settings.report).unwrap();
        assert!(!json.contains("env-token"), "{json}");
    }

    #[test]
    fn timeout_sets_the_connect_timeout_up_to_ten_seconds_and_retries_count() {
        let options = ClientOptions {
            timeout_secs: Some(2.5),
            retries: Some(0),
            ..ClientOptions::default()
        };
        let settings = options.resolve_with(env_with_token()).unwrap();
        assert_eq!(settings.config.timeout, Duration::from_millis(2500));
        assert_eq!(settings.config.connect_timeout, Duration::from_millis(2500));
        assert_eq!(settings.config.retry.max_attempts, 1);
        let long = ClientOptions {
            timeout_secs: Some(120.0),
            ..ClientOptions::default()
        };
        let settings = long.resolve_with(env_with_token()).unwrap();
        assert_eq!(settings.config.connect_timeout, MAX_CONNECT_TIMEOUT);
        assert_eq!(settings.report.timeout_secs, 120.0);
    }

    #[test]
    fn unusable_timeouts_are_refused_by_the_front_ends_name() {
        for secs in [1e300, 1e-12, f64::NAN, 0.0, -1.0] {
            let options = ClientOptions {
                timeout_secs: Some(secs),
                names: ArgNames {
                    timeout: "timeoutSecs",
                    ..ArgNames::default()
                },
                ..ClientOptions::default()
            };
            let e = options.resolve_with(env_with_token()).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{secs}");
            assert!(e.to_string().starts_with("timeoutSecs "), "{e}");
        }
        assert_eq!(check_timeout(0.001, "t").unwrap(), MIN_TIMEOUT);
    }

    #[test]
    fn ca_certificates_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let options = ClientOptions {
            ca_certs: vec![pem.clone()],
            ..ClientOptions::default()
        };
        let settings = options.resolve_with(env_with_token()).unwrap();
        assert_eq!(settings.config.ca_certs, vec![std::fs::read(&pem).unwrap()]);
        assert_eq!(settings.report.ca_certs, vec![pem]);

        let key = dir.path().join("key.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let e = read_ca_cert(&key, "caCert").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert_eq!(e.facts().path.as_deref(), Some(key.as_path()));
        let missing = dir.path().join("missing.pem");
        let e = read_ca_cert(&missing, "caCert").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Io);
        assert!(e.to_string().contains("cannot read it"), "{e}");
    }

    #[test]
    fn the_token_and_url_are_checked_before_the_timeout() {
        let options = ClientOptions {
            timeout_secs: Some(0.0),
            ..ClientOptions::default()
        };
        let e = options.resolve_with(Sources::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::NoToken);
    }
}
