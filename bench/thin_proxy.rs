//! The thinnest pass-through the gateway's stack allows: axum in front, one
//! pooled client behind, no auth, no parsing, no ledger. It is the floor
//! `tokctl serve` is measured against in bench/proxy_floor.sh, once with
//! reqwest and once with hyper-util's client (the issue asked to measure
//! both before choosing).
//!
//! Usage: `thin_proxy --bench LISTEN UPSTREAM_URL reqwest|hyper`; prints
//! nothing, serves until killed. Without `--bench` it exits at once, so
//! `cargo test --all-targets` does not hang on it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

enum Upstream {
    Reqwest(reqwest::Client, reqwest::Url),
    Hyper(Box<Client<HttpConnector, Full<Bytes>>>, axum::http::Uri),
}

const JSON: (&str, &str) = ("content-type", "application/json");

async fn relay(State(up): State<Arc<Upstream>>, req: Request<Body>) -> Response {
    let Ok(body) = axum::body::to_bytes(req.into_body(), 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let answer = match &*up {
        Upstream::Reqwest(c, url) => match c
            .post(url.clone())
            .header(JSON.0, JSON.1)
            .body(body)
            .send()
            .await
        {
            Ok(r) => Some((r.status(), r.bytes().await.unwrap_or_default())),
            Err(_) => None,
        },
        Upstream::Hyper(c, uri) => {
            let mut r = Request::new(Full::new(body));
            *r.method_mut() = axum::http::Method::POST;
            *r.uri_mut() = uri.clone();
            r.headers_mut()
                .insert(JSON.0, axum::http::HeaderValue::from_static(JSON.1));
            match c.request(r).await {
                Ok(r) => {
                    let status = r.status();
                    let b = r.into_body().collect().await.map(|c| c.to_bytes());
                    Some((status, b.unwrap_or_default()))
                }
                Err(_) => None,
            }
        }
    };
    match answer {
        Some((status, b)) => (status, [JSON], b).into_response(),
        None => StatusCode::BAD_GATEWAY.into_response(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if !std::env::args().any(|a| a == "--bench") || args.len() != 4 {
        println!("thin_proxy: a benchmark; run by bench/proxy_floor.sh");
        return Ok(());
    }
    if args[3] == "hyper-local" {
        // One single-threaded runtime per core, each with its own
        // SO_REUSEPORT listener and its own client pool: no task ever
        // crosses threads.
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let args = args.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    rt.block_on(async move {
                        let up = hyper_upstream(&args[2]).map_err(|e| e.to_string())?;
                        let app = axum::Router::new()
                            .route("/v1/chat/completions", post(relay))
                            .with_state(Arc::new(up));
                        let sock = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
                        sock.set_reuseport(true).map_err(|e| e.to_string())?;
                        sock.set_reuseaddr(true).map_err(|e| e.to_string())?;
                        sock.bind(
                            args[1]
                                .parse()
                                .map_err(|e: std::net::AddrParseError| e.to_string())?,
                        )
                        .map_err(|e| e.to_string())?;
                        let listener = sock.listen(1024).map_err(|e| e.to_string())?;
                        axum::serve(listener, app).await.map_err(|e| e.to_string())
                    })
                })
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(args))
}

fn hyper_upstream(url: &str) -> Result<Upstream, Box<dyn std::error::Error>> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    Ok(Upstream::Hyper(
        Box::new(Client::builder(TokioExecutor::new()).build(http)),
        url.parse()?,
    ))
}

async fn serve(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let up = match args[3].as_str() {
        "reqwest" => Upstream::Reqwest(
            reqwest::Client::builder().tcp_nodelay(true).build()?,
            args[2].parse()?,
        ),
        _ => hyper_upstream(&args[2])?,
    };
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(relay))
        .with_state(Arc::new(up));
    let listener = tokio::net::TcpListener::bind(&args[1]).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
