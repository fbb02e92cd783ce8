//! Fault modes of the local cloud: the failures a factory line meets on the
//! way to the real API (a fixed status, an HTML 5xx page from a proxy, slow
//! replies, rate limiting, dropped connections) on demand.
//!
//! A dropped connection needs help below HTTP: [`FaultListener`] wraps every
//! accepted socket so a handler can mark its connection aborted; the reply is
//! then never written and the socket is closed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use super::replies::Reply;
use crate::cloud::AsyncClock;

/// What the `/v1/…` endpoints do instead of (or before) answering normally.
/// Set through [`super::RunningCloud::set_fault`] or `PUT /admin/fault`
/// with this type as JSON, e.g. `{"kind":"status","status":500,"body":"html"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// Answer every request with `status` (and `Retry-After` if given).
    Status {
        status: u16,
        #[serde(default)]
        body: FaultBody,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// Wait `ms` milliseconds, then answer normally.
    Delay { ms: u64 },
    /// Answer the first `after` requests normally, then 429 — without
    /// `Retry-After`, as the real cloud (REFERENCE §4), unless
    /// `retry_after_secs` is given.
    RateLimit {
        after: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// Close the connection without any reply.
    Drop,
    /// One step per request, in order; then answer normally. Steps are
    /// faults themselves (`none` = answer normally), e.g. 429, 429, then 200.
    Sequence { steps: Vec<Fault> },
}

/// The body of a [`Fault::Status`] reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultBody {
    /// `{"ok":false,"error":"<reason phrase>"}` (REFERENCE §4 records no 429
    /// or 5xx body; this is the API's usual error shape).
    #[default]
    Json,
    /// An HTML error page, as a proxy or load balancer answers.
    Html,
    /// Nothing.
    Empty,
}

impl Fault {
    /// A fixed status with a JSON error body.
    pub fn json_status(status: u16) -> Self {
        Fault::Status {
            status,
            body: FaultBody::Json,
            retry_after_secs: None,
        }
    }

    /// A fixed status with an HTML page body.
    pub fn html_status(status: u16) -> Self {
        Fault::Status {
            status,
            body: FaultBody::Html,
            retry_after_secs: None,
        }
    }

    /// 429 without `Retry-After`, as the real cloud answers (REFERENCE §4).
    pub fn rate_limited() -> Self {
        Fault::json_status(429)
    }

    /// 429 with `Retry-After: secs` (which the real cloud does not send; for
    /// clients that must honour it where a proxy does).
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Fault::Status {
            status: 429,
            body: FaultBody::Json,
            retry_after_secs: Some(retry_after_secs),
        }
    }
}

/// What to do with one request.
pub(crate) enum Action {
    Pass,
    Respond(Response),
    Delay(Duration),
    Drop,
}

/// The active fault and how far into it we are.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    fault: Fault,
    /// Requests seen since the fault was set (or counters reset).
    seen: u64,
}

impl FaultState {
    pub(crate) fn set(&mut self, fault: Fault) {
        self.fault = fault;
        self.seen = 0;
    }

    pub(crate) fn get(&self) -> Fault {
        self.fault.clone()
    }

    pub(crate) fn reset_counter(&mut self) {
        self.seen = 0;
    }

    /// Decide the next request's fate (and count it).
    pub(crate) fn next_action(&mut self) -> Action {
        self.seen += 1;
        let n = self.seen;
        match &self.fault {
            Fault::Sequence { steps } => match steps.get((n - 1) as usize) {
                Some(step) => action_for(step, 1),
                None => Action::Pass,
            },
            fault => action_for(fault, n),
        }
    }
}

/// The action of a single (non-sequence) fault for the `n`th request.
fn action_for(fault: &Fault, n: u64) -> Action {
    match fault {
        Fault::None | Fault::Sequence { .. } => Action::Pass,
        Fault::Status {
            status,
            body,
            retry_after_secs,
        } => Action::Respond(status_response(*status, *body, *retry_after_secs)),
        Fault::Delay { ms } => Action::Delay(Duration::from_millis(*ms)),
        Fault::RateLimit {
            after,
            retry_after_secs,
        } => {
            if n > *after {
                Action::Respond(status_response(429, FaultBody::Json, *retry_after_secs))
            } else {
                Action::Pass
            }
        }
        Fault::Drop => Action::Drop,
    }
}

fn status_response(status: u16, body: FaultBody, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = code.canonical_reason().unwrap_or("Error");
    let mut response = match body {
        FaultBody::Json => {
            Reply::json(code, serde_json::json!({ "ok": false, "error": reason })).into_response()
        }
        FaultBody::Html => (
            code,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            format!(
                "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n\
                 <body><h1>{status} {reason}</h1><p>The server encountered an error.</p></body></html>\n"
            ),
        )
            .into_response(),
        FaultBody::Empty => code.into_response(),
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
    }
    response
}

/// Per-connection switch: once set, the connection reads EOF and every write
/// fails, so hyper closes it without sending anything.
#[derive(Debug, Default)]
pub(crate) struct Abort(AtomicBool);

impl Abort {
    pub(crate) fn abort(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A TCP listener whose connections can be aborted by handlers.
pub(crate) struct FaultListener {
    pub(crate) listener: TcpListener,
    /// For the pause after a failed accept.
    pub(crate) clock: Arc<dyn AsyncClock>,
    /// Serve TLS on every connection (`cloud serve --tls`).
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Listener for FaultListener {
    type Io = FaultIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        FaultIo {
                            stream: super::tls::MaybeTls::new(stream, self.tls.as_ref()),
                            abort: Arc::default(),
                        },
                        addr,
                    );
                }
                // Out of file descriptors and the like: pause and keep
                // serving (as axum's own TcpListener does).
                Err(_) => self.clock.sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// An accepted socket plus its abort switch.
pub(crate) struct FaultIo {
    stream: super::tls::MaybeTls,
    abort: Arc<Abort>,
}

impl AsyncRead for FaultIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.abort.is_set() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.abort.is_set() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.abort.is_set() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What handlers learn about their connection: the peer (the admin surface
/// is loopback-only) and the abort switch.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub(crate) remote: SocketAddr,
    pub(crate) abort: Arc<Abort>,
}

impl Connected<IncomingStream<'_, FaultListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        ConnInfo {
            remote: *stream.remote_addr(),
            abort: stream.io().abort.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(action: Action) -> Option<u16> {
        match action {
            Action::Respond(r) => Some(r.status().as_u16()),
            _ => None,
        }
    }

    #[test]
    fn a_sequence_plays_once_then_answers_normally() {
        let mut state = FaultState::default();
        state.set(Fault::Sequence {
            steps: vec![Fault::too_many_requests(1), Fault::too_many_requests(1)],
        });
        assert_eq!(status_of(state.next_action()), Some(429));
        assert_eq!(status_of(state.next_action()), Some(429));
        assert!(matches!(state.next_action(), Action::Pass));
        assert!(matches!(state.next_action(), Action::Pass));
    }

    #[test]
    fn rate_limiting_starts_after_n_requests_with_retry_after() {
        let mut state = FaultState::default();
        state.set(Fault::RateLimit {
            after: 2,
            retry_after_secs: Some(7),
        });
        assert!(matches!(state.next_action(), Action::Pass));
        assert!(matches!(state.next_action(), Action::Pass));
        match state.next_action() {
            Action::Respond(r) => {
                assert_eq!(r.status(), 429);
                assert_eq!(r.headers()[header::RETRY_AFTER], "7");
            }
            _ => panic!("expected 429"),
        }
        state.reset_counter();
        assert!(matches!(state.next_action(), Action::Pass));
        state.set(Fault::RateLimit {
            after: 0,
            retry_after_secs: None,
        });
        match state.next_action() {
            Action::Respond(r) => {
                assert_eq!(r.status(), 429);
                assert!(r.headers().get(header::RETRY_AFTER).is_none());
                assert_eq!(
                    r.headers()[header::CONTENT_TYPE],
                    super::super::replies::JSON_CONTENT_TYPE
                );
            }
            _ => panic!("expected 429"),
        }
    }

    #[test]
    fn faults_round_trip_as_admin_json() {
        let json = r#"{"kind":"sequence","steps":[{"kind":"status","status":429,"retry_after_secs":1},{"kind":"drop"},{"kind":"delay","ms":5},{"kind":"none"}]}"#;
        let fault: Fault = serde_json::from_str(json).unwrap();
        let Fault::Sequence { steps } = &fault else {
            panic!("{fault:?}")
        };
        assert_eq!(steps[0], Fault::too_many_requests(1));
        assert_eq!(steps[1], Fault::Drop);
        let html: Fault =
            serde_json::from_str(r#"{"kind":"status","status":500,"body":"html"}"#).unwrap();
        assert_eq!(html, Fault::html_status(500));
    }
}
