//! TLS for `https://` targets: the rustls client configuration (ring,
//! Mozilla's roots from webpki-roots, ALPN `http/1.1` since the engine speaks
//! HTTP/1.1 only) and, for `--insecure`, a verifier that accepts any
//! certificate. It does not open connections (see `conn.rs`).
//!
//! `--insecure` skips only the certificate's identity: the handshake's
//! signatures are still checked, so the connection is encrypted and intact,
//! just not authenticated — what a benchmark of a self-signed test gateway
//! needs, and nothing a production client should do.

use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// What a connection to an `https://` target needs: the name to verify
/// (and send as SNI) and the shared client configuration.
#[derive(Debug, Clone)]
pub struct Tls {
    pub name: ServerName<'static>,
    pub config: Arc<ClientConfig>,
}

impl Tls {
    /// A configuration for `host` that verifies the server's certificate
    /// against Mozilla's roots, or accepts any with `insecure`.
    pub fn new(host: &str, insecure: bool) -> Result<Tls, String> {
        // An IPv6 literal comes from the URL in brackets.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare.to_string())
            .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("no TLS protocol version available: {e}"))?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            name,
            config: Arc::new(config),
        })
    }
}

/// `--insecure`: any certificate is taken for the server's, while the
/// handshake signatures are verified as usual.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
