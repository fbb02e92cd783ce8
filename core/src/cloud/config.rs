//! Where the access token and the API URL come from (REFERENCE §4):
//!
//! - token: `--token`, else `PARTICLE_ACCESS_TOKEN`, else particle-cli's
//!   config (`~/.particle/profile.json` names the profile `P`, default
//!   `particle`; `~/.particle/P.config.json` holds `access_token`);
//! - URL: `--api-url`, else `PARTICLE_API_URL`, else the config's `apiUrl`,
//!   else `https://api.particle.io`.
//!
//! Plain `http://` is accepted only for loopback hosts (127.0.0.0/8, ::1,
//! `localhost`) unless `insecure_http`. Callers learn where each value came
//! from ([`Origin`]) — never the token itself.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use url::{Host, Url};

use super::client::DEFAULT_API_URL;
use super::{AccessToken, CloudError};

/// Environment variable holding the token (particle-cli's name).
pub const TOKEN_ENV: &str = "PARTICLE_ACCESS_TOKEN";
/// Environment variable holding the API URL (particle-cli's name).
pub const API_URL_ENV: &str = "PARTICLE_API_URL";

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Given explicitly by the caller, under the name its front end uses
    /// ([`ArgNames`]: a CLI flag, a binding's parameter).
    Flag { name: String },
    /// An environment variable.
    Env { name: String },
    /// particle-cli's profile config file.
    ParticleConfig { path: PathBuf },
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag { name } => write!(f, "{name}"),
            Origin::Env { name } => write!(f, "${name}"),
            Origin::ParticleConfig { path } => write!(f, "particle-cli config {}", path.display()),
            Origin::Default => f.write_str("the default"),
        }
    }
}

/// The raw inputs, gathered once so resolution can be tested without
/// touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub token_flag: Option<String>,
    pub api_url_flag: Option<String>,
    pub env_token: Option<String>,
    pub env_api_url: Option<String>,
    /// The home directory holding `.particle/`.
    pub home: Option<PathBuf>,
    /// What the front end calls the explicit token and URL, for messages.
    pub names: ArgNames,
}

/// How a front end names the explicit token and API URL it passes on (the
/// CLI: `--token`, `--api-url`; a binding: its parameter names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgNames {
    pub token: &'static str,
    pub api_url: &'static str,
    /// The request timeout in seconds ([`super::settings::ClientOptions::timeout_secs`]).
    pub timeout: &'static str,
    /// A trusted CA certificate file ([`super::settings::ClientOptions::ca_certs`]).
    pub ca_cert: &'static str,
}

impl Default for ArgNames {
    fn default() -> Self {
        ArgNames {
            token: "the token argument",
            api_url: "the API URL argument",
            timeout: "the timeout argument",
            ca_cert: "the CA certificate argument",
        }
    }
}

impl Sources {
    /// Flags as given, the rest from this process's environment (`HOME`,
    /// `PARTICLE_ACCESS_TOKEN`, `PARTICLE_API_URL`; empty values count as unset).
    pub fn from_env(token_flag: Option<String>, api_url_flag: Option<String>) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Sources {
            token_flag,
            api_url_flag,
            env_token: var(TOKEN_ENV),
            env_api_url: var(API_URL_ENV),
            home: var("HOME").map(PathBuf::from),
            names: ArgNames::default(),
        }
    }
}

/// The settings to build a client from, and where they came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub token: AccessToken,
    pub token_origin: Origin,
    pub api_url: Url,
    pub api_url_origin: Origin,
}

/// particle-cli's active profile config, as far as we use it.
#[derive(Default)]
struct ParticleConfig {
    path: Option<PathBuf>,
    access_token: Option<String>,
    api_url: Option<String>,
}

impl fmt::Debug for ParticleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParticleConfig")
            .field("path", &self.path)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| AccessToken::REDACTED),
            )
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// Resolve token and URL by the precedence above and check the URL.
pub fn resolve(sources: &Sources, insecure_http: bool) -> Result<Resolved, CloudError> {
    let needs_config = sources.token_flag.is_none()
        || (sources.api_url_flag.is_none() && sources.env_api_url.is_none());
    let particle = match (&sources.home, needs_config) {
        (Some(home), true) => read_particle_config(home)?,
        _ => ParticleConfig::default(),
    };
    let config_origin = || Origin::ParticleConfig {
        path: particle.path.clone().unwrap_or_default(),
    };

    let (token, token_origin) = if let Some(t) = &sources.token_flag {
        (
            t.clone(),
            Origin::Flag {
                name: sources.names.token.into(),
            },
        )
    } else if let Some(t) = &sources.env_token {
        (
            t.clone(),
            Origin::Env {
                name: TOKEN_ENV.into(),
            },
        )
    } else if let Some(t) = &particle.access_token {
        (t.clone(), config_origin())
    } else {
        let looked_in = match &sources.home {
            Some(home) => format!(
                "{}, ${TOKEN_ENV}, {}",
                sources.names.token,
                particle_dir(home).join("<profile>.config.json").display()
            ),
            None => format!("{}, ${TOKEN_ENV}; HOME is not set", sources.names.token),
        };
        return Err(CloudError::NoToken { looked_in });
    };
    let token = AccessToken::new(token).map_err(|e| match e {
        CloudError::MalformedToken { reason, .. } => CloudError::MalformedToken {
            origin: token_origin.to_string(),
            reason,
        },
        other => other,
    })?;

    let (url_text, api_url_origin) = if let Some(u) = &sources.api_url_flag {
        (
            u.clone(),
            Origin::Flag {
                name: sources.names.api_url.into(),
            },
        )
    } else if let Some(u) = &sources.env_api_url {
        (
            u.clone(),
            Origin::Env {
                name: API_URL_ENV.into(),
            },
        )
    } else if let Some(u) = &particle.api_url {
        (u.clone(), config_origin())
    } else {
        (DEFAULT_API_URL.to_string(), Origin::Default)
    };
    let api_url = parse_api_url(&url_text, &api_url_origin.to_string(), insecure_http)?;

    Ok(Resolved {
        token,
        token_origin,
        api_url,
        api_url_origin,
    })
}

/// Parse and check an API URL named as coming from `origin`.
pub fn parse_api_url(text: &str, origin: &str, insecure_http: bool) -> Result<Url, CloudError> {
    let url = Url::parse(text.trim()).map_err(|e| CloudError::InvalidUrl {
        value: redact_url_text(text),
        origin: origin.to_string(),
        reason: e.to_string(),
    })?;
    check_api_url(&url, insecure_http, origin)?;
    Ok(url)
}

/// `https://` anywhere; `http://` only to loopback unless `insecure_http`.
pub fn check_api_url(url: &Url, insecure_http: bool, origin: &str) -> Result<(), CloudError> {
    let invalid = |reason: &str| CloudError::InvalidUrl {
        value: redact_url_text(url.as_str()),
        origin: origin.to_string(),
        reason: reason.to_string(),
    };
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid("it needs a host, e.g. https://api.particle.io"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials do not belong in the URL; give the token separately",
        ));
    }
    // A query (`?access_token=…`) would be sent with every request and shown
    // in every network error; the base URL has no use for one.
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "a base URL has no query or fragment; give the token separately",
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if insecure_http || is_loopback_url(url) => Ok(()),
        "http" => Err(CloudError::InsecureUrl {
            url: redact_url_text(url.as_str()),
        }),
        other => Err(invalid(&format!("scheme {other:?} is not http or https"))),
    }
}

/// URL text safe for an error message: userinfo (`user:token@`) and any
/// query or fragment replaced by `[redacted]`, since either may hold a token.
/// Works on text that does not parse as a URL too.
fn redact_url_text(text: &str) -> String {
    let redacted = super::AccessToken::REDACTED;
    let end = text.find(['?', '#']).unwrap_or(text.len());
    let (head, tail) = text.split_at(end);
    let (scheme, rest) = match head.find("://") {
        Some(i) => head.split_at(i + 3),
        None => ("", head),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let mut out = match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{redacted}@{}", &rest[at + 1..]),
        None => head.to_string(),
    };
    if !tail.is_empty() {
        out.push_str(&tail[..1]);
        out.push_str(redacted);
    }
    out
}

/// A URL as it may be shown (in a "using … API" line, an error, a report):
/// credentials, query and fragment replaced by `[redacted]`, and the token
/// removed wherever it appears (e.g. in the path).
pub fn shown_url(url: &Url, token: &AccessToken) -> String {
    token.redact(&redact_url_text(url.as_str()))
}

impl Resolved {
    /// The API URL with [`shown_url`]'s redactions: the only form to print.
    pub fn api_url_shown(&self) -> String {
        shown_url(&self.api_url, &self.token)
    }
}

/// 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            d.eq_ignore_ascii_case("localhost")
        }
        None => false,
    }
}

fn particle_dir(home: &Path) -> PathBuf {
    home.join(".particle")
}

/// Read the active profile's config; a missing file is not an error, an
/// unreadable or malformed one is.
fn read_particle_config(home: &Path) -> Result<ParticleConfig, CloudError> {
    let dir = particle_dir(home);
    let profile_path = dir.join("profile.json");
    let profile = match read_json(&profile_path)? {
        Some(v) => match v.get("name") {
            Some(serde_json::Value::String(name)) => name.clone(),
            None | Some(serde_json::Value::Null) => "particle".to_string(),
            Some(_) => {
                return Err(CloudError::ConfigUnreadable {
                    path: profile_path.display().to_string(),
                    reason: "\"name\" is not a string".into(),
                })
            }
        },
        None => "particle".to_string(),
    };
    if profile.is_empty() || profile.contains(['/', '\\']) || profile.starts_with('.') {
        return Err(CloudError::ConfigUnreadable {
            path: profile_path.display().to_string(),
            reason: format!("profile name {profile:?} is not a plain file name"),
        });
    }
    let path = dir.join(format!("{profile}.config.json"));
    let Some(config) = read_json(&path)? else {
        return Ok(ParticleConfig::default());
    };
    let text = |key: &str| match config.get(key) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(ParticleConfig {
        access_token: text("access_token"),
        api_url: text("apiUrl"),
        path: Some(path),
    })
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, CloudError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CloudError::ConfigUnreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    // serde_json's messages give line/column, never the file's content.
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| CloudError::ConfigUnreadable {
            path: path.display().to_string(),
            reason: format!("not valid JSON ({e})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(profile: Option<&str>, files: &[(&str, &str)]) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".particle");
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(p) = profile {
            std::fs::write(dir.join("profile.json"), format!("{{\"name\":\"{p}\"}}")).unwrap();
        }
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        home
    }

    #[test]
    fn the_flag_wins_over_environment_and_config() {
        let home = home_with(
            None,
            &[("particle.config.json", r#"{"access_token":"cfg"}"#)],
        );
        let s = Sources {
            token_flag: Some("flag".into()),
            env_token: Some("env".into()),
            home: Some(home.path().into()),
            ..Sources::default()
        };
        let r = resolve(&s, false).unwrap();
        assert_eq!(r.token.expose_secret(), "flag");
        assert_eq!(
            r.token_origin,
            Origin::Flag {
                name: "the token argument".into()
            }
        );
        assert_eq!(r.api_url.as_str(), "https://api.particle.io/");
        assert_eq!(r.api_url_origin, Origin::Default);
    }

    #[test]
    fn the_environment_wins_over_the_config() {
        let home = home_with(
            None,
            &[(
                "particle.config.json",
                r#"{"access_token":"cfg","apiUrl":"https://cfg.example"}"#,
            )],
        );
        let s = Sources {
            env_token: Some("env".into()),
            env_api_url: Some("https://env.example".into()),
            home: Some(home.path().into()),
            ..Sources::default()
        };
        let r = resolve(&s, false).unwrap();
        assert_eq!(r.token.expose_secret(), "env");
        assert_eq!(r.api_url.as_str(), "https://env.example/");
        assert_eq!(r.api_url_origin.to_string(), "$PARTICLE_API_URL");
    }

    #[test]
    fn the_active_profile_config_supplies_token_and_url() {
        let home = home_with(
            Some("staging"),
            &[
                (
                    "particle.config.json",
                    r#"{"access_token":"wrong-profile"}"#,
                ),
                (
                    "staging.config.json",
                    r#"{"access_token":"stage-tok","username":"u","apiUrl":"http://127.0.0.1:9"}"#,
                ),
            ],
        );
        let s = Sources {
            home: Some(home.path().into()),
            ..Sources::default()
        };
        let r = resolve(&s, false).unwrap();
        assert_eq!(r.token.expose_secret(), "stage-tok");
        assert_eq!(r.api_url.as_str(), "http://127.0.0.1:9/");
        let expected = home.path().join(".particle/staging.config.json");
        assert_eq!(
            r.token_origin,
            Origin::ParticleConfig {
                path: expected.clone()
            }
        );
        assert_eq!(r.api_url_origin, Origin::ParticleConfig { path: expected });
        assert!(!format!("{r:?}").contains("stage-tok"));
    }

    #[test]
    fn no_token_anywhere_says_where_it_looked() {
        let home = home_with(None, &[]);
        let s = Sources {
            home: Some(home.path().into()),
            ..Sources::default()
        };
        let msg = resolve(&s, false).unwrap_err().to_string();
        assert!(msg.contains("PARTICLE_ACCESS_TOKEN"), "{msg}");
        assert!(msg.contains("particle login"), "{msg}");
    }

    #[test]
    fn a_malformed_config_is_reported_with_its_path_but_not_its_content() {
        let home = home_with(
            None,
            &[("particle.config.json", "{\"access_token\": \"secret-x\"")],
        );
        let s = Sources {
            home: Some(home.path().into()),
            ..Sources::default()
        };
        let msg = resolve(&s, false).unwrap_err().to_string();
        assert!(msg.contains("particle.config.json"), "{msg}");
        assert!(!msg.contains("secret-x"), "{msg}");
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:1234",
            "http://127.9.0.1",
            "http://[::1]:80",
            "http://localhost:8080/",
            "https://api.particle.io",
        ] {
            assert!(parse_api_url(ok, "test", false).is_ok(), "{ok}");
        }
        let err = parse_api_url("http://api.particle.io", "test", false).unwrap_err();
        assert!(matches!(err, CloudError::InsecureUrl { .. }), "{err}");
        assert!(parse_api_url("http://10.0.0.1", "test", false).is_err());
        assert!(parse_api_url("http://api.particle.io", "test", true).is_ok());
        assert!(matches!(
            parse_api_url("ftp://127.0.0.1", "test", false),
            Err(CloudError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_api_url("not a url", "--api-url", false),
            Err(CloudError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn a_url_carrying_credentials_or_a_query_is_refused_without_echoing_them() {
        for (text, secret) in [
            ("https://user:tok-in-url-1@api.particle.io", "tok-in-url-1"),
            ("https://tok-in-url-2@api.particle.io/", "tok-in-url-2"),
            ("http://x:tok-in-url-3@127.0.0.1:99", "tok-in-url-3"),
            (
                "https://api.particle.io/?access_token=tok-in-url-4",
                "tok-in-url-4",
            ),
            ("https://api.particle.io/#tok-in-url-5", "tok-in-url-5"),
            (
                "https://u:tok-in-url-6@api.particle.io:99999",
                "tok-in-url-6",
            ),
            ("u:tok-in-url-7@api.particle.io", "tok-in-url-7"),
        ] {
            let err = parse_api_url(text, "--api-url", false).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(secret), "{text}: {shown}");
        }
    }

    #[test]
    fn a_token_from_the_config_that_cannot_be_a_header_names_its_source() {
        let home = home_with(
            None,
            &[("particle.config.json", r#"{"access_token":"has space"}"#)],
        );
        let s = Sources {
            home: Some(home.path().into()),
            ..Sources::default()
        };
        let msg = resolve(&s, false).unwrap_err().to_string();
        assert!(msg.contains("particle.config.json"), "{msg}");
        assert!(!msg.contains("has space"), "{msg}");
    }
}
