//! The replies of the local cloud, byte for byte as REFERENCE §4 records the
//! real api.particle.io: compact JSON as `application/json; charset=utf-8`,
//! success as the JSON *string* `"Success!"`, the OAuth layer's errors with
//! `Cache-Control: no-store` and `Pragma: no-cache`, and 403
//! `Permission Denied` (also for a device the cloud does not know).
//!
//! Every JSON reply of the local cloud goes through [`Reply`], so no handler
//! can answer with another content type by accident.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The content type of every JSON reply of the real API (§4).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// 200 body of an accepted provisioning (§4): a JSON string, 10 bytes.
pub const SUCCESS_BODY: &str = r#""Success!""#;

/// 400 body when no access token came with the request (§4).
pub const NO_TOKEN_BODY: &str =
    r#"{"error":"invalid_request","error_description":"The access token was not found"}"#;

/// 400 body when the token came both in the header and in the body or query
/// (§4: "Only one method may be used to authenticate at a time").
pub const TWO_TOKENS_BODY: &str = r#"{"error":"invalid_request","error_description":"Only one method may be used to authenticate at a time"}"#;

/// 401 body for a token the cloud does not know (§4).
pub const INVALID_TOKEN_BODY: &str =
    r#"{"error":"invalid_token","error_description":"The access token provided is invalid."}"#;

/// 401 body for a token past its lifetime (§4).
pub const EXPIRED_TOKEN_BODY: &str =
    r#"{"error":"invalid_token","error_description":"The access token provided has expired."}"#;

/// 403 body for a device this token may not touch, or that the cloud does not
/// know (§4; the recorded `info` says `access_token=undefined` because the
/// token came in the header).
pub const PERMISSION_DENIED_BODY: &str = r#"{"error":"Permission Denied","info":"I didn't recognize that device name or ID, try opening https://api.particle.io/v1/devices?access_token=undefined"}"#;

/// A JSON reply: status, the exact body text, and whether it is an OAuth
/// error (which adds the no-cache headers).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: StatusCode,
    body: String,
    oauth: bool,
}

impl Reply {
    /// `body` serialised compactly.
    pub(crate) fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            oauth: false,
        }
    }

    /// A recorded body, sent exactly.
    pub(crate) fn recorded(status: StatusCode, body: &'static str) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            oauth: false,
        }
    }

    /// 200 `"Success!"`.
    pub(crate) fn success() -> Reply {
        Reply::recorded(StatusCode::OK, SUCCESS_BODY)
    }

    pub(crate) fn no_token() -> Reply {
        Reply::recorded(StatusCode::BAD_REQUEST, NO_TOKEN_BODY).oauth()
    }

    pub(crate) fn two_tokens() -> Reply {
        Reply::recorded(StatusCode::BAD_REQUEST, TWO_TOKENS_BODY).oauth()
    }

    pub(crate) fn invalid_token() -> Reply {
        Reply::recorded(StatusCode::UNAUTHORIZED, INVALID_TOKEN_BODY).oauth()
    }

    pub(crate) fn expired_token() -> Reply {
        Reply::recorded(StatusCode::UNAUTHORIZED, EXPIRED_TOKEN_BODY).oauth()
    }

    pub(crate) fn permission_denied() -> Reply {
        Reply::recorded(StatusCode::FORBIDDEN, PERMISSION_DENIED_BODY)
    }

    /// `{"ok":false,"error":…}` for the cases §4 has no recording of
    /// (malformed ids and keys).
    pub(crate) fn bad_request(error: impl Into<String>) -> Reply {
        Reply::json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "ok": false, "error": error.into() }),
        )
    }

    /// An OAuth-layer error: adds `Cache-Control: no-store`, `Pragma: no-cache`.
    fn oauth(mut self) -> Reply {
        self.oauth = true;
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        if self.oauth {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_success_body_is_the_ten_byte_json_string() {
        assert_eq!(SUCCESS_BODY.len(), 10);
        assert_eq!(
            serde_json::from_str::<Value>(SUCCESS_BODY).unwrap(),
            Value::String("Success!".into())
        );
    }

    #[test]
    fn oauth_errors_carry_the_no_cache_headers_and_others_do_not() {
        let r = Reply::invalid_token().into_response();
        assert_eq!(r.headers()[header::CONTENT_TYPE], JSON_CONTENT_TYPE);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[header::PRAGMA], "no-cache");
        let r = Reply::permission_denied().into_response();
        assert_eq!(r.status(), 403);
        assert!(r.headers().get(header::CACHE_CONTROL).is_none());
        assert_eq!(r.headers()[header::CONTENT_TYPE], JSON_CONTENT_TYPE);
    }
}
