//! HTTPS for the local cloud (`cloud serve --tls`): at start it makes a CA
//! and a server certificate for `127.0.0.1`, `::1` and `localhost` signed by
//! it, writes the CA certificate ([`CA_CERT_FILE`]) into the state
//! directory for clients to trust (`duoprov provision --ca-cert FILE`), and
//! serves the provisioning API over TLS only. Each start makes a new CA.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use super::LocalCloudError;

/// The CA certificate (PEM) in the state directory.
pub const CA_CERT_FILE: &str = "ca.pem";

/// A TLS server identity and where its CA certificate went.
#[derive(Clone)]
pub(crate) struct TlsServer {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) ca_path: PathBuf,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

fn tls_err(reason: impl std::fmt::Display) -> LocalCloudError {
    LocalCloudError::Runtime {
        reason: format!("cannot set up TLS: {reason}"),
    }
}

/// Make the CA and the server certificate; write the CA to `dir`.
pub(crate) fn make(dir: &Path) -> Result<TlsServer, LocalCloudError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().map_err(tls_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "duo-provisioning local cloud CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).map_err(tls_err)?;

    let key = KeyPair::generate().map_err(tls_err)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(tls_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "duo-provisioning local cloud");
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(tls_err)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .map_err(tls_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let ca_pem = ca.pem();
    std::fs::create_dir_all(dir).map_err(|e| LocalCloudError::State {
        path: dir.to_path_buf(),
        reason: format!("cannot create it: {e}"),
    })?;
    let ca_path = dir.join(CA_CERT_FILE);
    crate::keys::write_atomic(&ca_path, ca_pem.as_bytes(), false, true).map_err(|e| {
        LocalCloudError::State {
            path: ca_path.clone(),
            reason: e.to_string(),
        }
    })?;
    Ok(TlsServer {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_path,
    })
}

/// An accepted socket, plain or TLS; the TLS handshake runs on first use,
/// so a slow client never holds up the accept loop.
pub(crate) enum MaybeTls {
    Plain(TcpStream),
    Handshake(Box<tokio_rustls::Accept<TcpStream>>),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Failed,
}

impl MaybeTls {
    pub(crate) fn new(stream: TcpStream, tls: Option<&TlsAcceptor>) -> MaybeTls {
        match tls {
            Some(acceptor) => MaybeTls::Handshake(Box::new(acceptor.accept(stream))),
            None => MaybeTls::Plain(stream),
        }
    }

    /// Finish the handshake; `Ready(Ok)` once the stream can be used.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let MaybeTls::Handshake(accept) = self {
            match Pin::new(accept.as_mut()).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(stream)) => *self = MaybeTls::Tls(Box::new(stream)),
                Poll::Ready(Err(e)) => {
                    *self = MaybeTls::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        match self {
            MaybeTls::Failed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            _ => Poll::Ready(Ok(())),
        }
    }
}

use std::future::Future;

impl AsyncRead for MaybeTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_ready(cx))?;
        match &mut *self {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_ready(cx))?;
        match &mut *self {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_ready(cx))?;
        match &mut *self {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut *self {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            _ => Poll::Ready(Ok(())),
        }
    }
}
