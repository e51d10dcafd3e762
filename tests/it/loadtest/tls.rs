//! https targets: a TLS upstream with a self-signed certificate.

use super::*;

/// A self-signed certificate for localhost and 127.0.0.1 (EC P-256, valid
/// until 2126), made once with `openssl req -x509 -newkey ec ...`; its key.
const TEST_CERT: &str = "\
-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUXzTeaTI3F+bAwhO3zXgm9FMoeNcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjA1MDM1N1oYDzIxMjYxMTA4
MDUwMzU3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASeixRU2obh4RJWUPCsU5Ug0yRf3zCAhNNU5HZK38IYtORkV0W8YZOO
gFpeMRRW6LhO4W80D9GgHoMuDADafWvpo28wbTAdBgNVHQ4EFgQUERybhTbHS3BM
VI8eyiUsk+Dsl0IwHwYDVR0jBBgwFoAUERybhTbHS3BMVI8eyiUsk+Dsl0IwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIgQ9QSAZNoiPs+dqMacRhjgVTxMuV4a3LTCBAYBK6YwJcCIQD0
SAHkXJV3Zy+hVyJmajRN1WG40CwNZIuTdaOHHw/wow==
-----END CERTIFICATE-----
";
const TEST_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/ey1wDC1usQfwbyV
Np4KwunBBoERrnKTW827nSNA+Y+hRANCAASeixRU2obh4RJWUPCsU5Ug0yRf3zCA
hNNU5HZK38IYtORkV0W8YZOOgFpeMRRW6LhO4W80D9GgHoMuDADafWvp
-----END PRIVATE KEY-----
";

/// An HTTPS upstream with [`TEST_CERT`]: keep-alive HTTP/1.1 over
/// tokio-rustls, a fixed JSON answer, every request counted.
fn tls_upstream() -> (String, Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let cert = CertificateDer::from_pem_slice(TEST_CERT.as_bytes()).expect("test cert");
    let key = PrivateKeyDer::from_pem_slice(TEST_KEY.as_bytes()).expect("test key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("TLS upstream runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the TLS upstream");
            tx.send(listener.local_addr().expect("address"))
                .expect("send the address");
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    loop {
                        // One request: the head, then Content-Length bytes.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            let mut chunk = [0u8; 4096];
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.drain(..head_end + len);
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = "{\"choices\":[],\"usage\":{\"completion_tokens\":1}}";
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if tls.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        let _ = tls.flush().await;
                    }
                });
            }
        });
    });
    let addr = rx.recv().expect("TLS upstream address");
    (format!("https://{addr}/v1/chat/completions"), count)
}

#[test]
fn https_targets_are_driven_and_a_self_signed_certificate_needs_insecure() {
    let (url, count) = tls_upstream();
    // Verified against Mozilla's roots, the self-signed certificate is
    // refused: one clear line, exit 1, no request sent.
    let out = Tokctl::new().run(&["loadtest", &url, "-c", "2", "-n", "10"]);
    assert_eq!(out.code, 1, "stderr: {}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("TLS handshake"), "{}", out.stderr);
    assert!(out.stderr.contains("--insecure"), "{}", out.stderr);
    assert_eq!(count.load(Ordering::SeqCst), 0);

    let runs = json_runs(&[&url, "-c", "2", "-n", "57", "--insecure"]);
    assert_eq!(runs[0]["requests"], 57, "{}", runs[0]);
    assert_eq!(runs[0]["successes"], 57, "{}", runs[0]);
    assert_eq!(
        count.load(Ordering::SeqCst),
        57,
        "exactly the measured requests"
    );
}
