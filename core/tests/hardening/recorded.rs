//! A tiny loopback HTTP server that answers with exact recorded bytes (the
//! replies of the real api.particle.io that REFERENCE §4 quotes) and keeps
//! every request it received, so the client is tested against what the real
//! cloud says, not only against our own local cloud.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One recorded reply: status line text, extra headers, body.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: &'static str,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: &'static str,
}

pub const JSON_UTF8: &str = "application/json; charset=utf-8";

impl Canned {
    /// A JSON reply as the real cloud sends it.
    pub fn json(status: &'static str, body: &'static str) -> Canned {
        Canned {
            status,
            headers: vec![("Content-Type", JSON_UTF8)],
            body,
        }
    }

    /// An OAuth-layer JSON error (adds the no-cache headers).
    pub fn oauth(status: &'static str, body: &'static str) -> Canned {
        let mut c = Canned::json(status, body);
        c.headers
            .extend([("Cache-Control", "no-store"), ("Pragma", "no-cache")]);
        c
    }

    fn bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {}\r\n", self.status);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut out = head.into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }
}

/// §4's recorded bodies, verbatim.
pub const SUCCESS: &str = r#""Success!""#;
pub const NO_TOKEN: &str =
    r#"{"error":"invalid_request","error_description":"The access token was not found"}"#;
pub const INVALID_TOKEN: &str =
    r#"{"error":"invalid_token","error_description":"The access token provided is invalid."}"#;
pub const EXPIRED_TOKEN: &str =
    r#"{"error":"invalid_token","error_description":"The access token provided has expired."}"#;
pub const PERMISSION_DENIED: &str = r#"{"error":"Permission Denied","info":"I didn't recognize that device name or ID, try opening https://api.particle.io/v1/devices?access_token=undefined"}"#;

/// A request as received: request line, headers (names lowercased), body.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The form body's fields.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Answers the `replies` in order, one per connection, then the last one
/// again for any further request.
pub struct Recorded {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    _thread: JoinHandle<()>,
}

impl Recorded {
    pub fn start(replies: Vec<Canned>) -> Recorded {
        assert!(!replies.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let thread = std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let canned = &replies[i.min(replies.len() - 1)];
                if let Some(request) = serve_one(stream, canned) {
                    log.lock().unwrap().push(request);
                }
            }
        });
        Recorded {
            url,
            received,
            _thread: thread,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve_one(mut stream: TcpStream, canned: &Canned) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    stream.write_all(&canned.bytes()).ok()?;
    let _ = stream.flush();
    Some(Received {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
