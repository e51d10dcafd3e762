//! [`Outcome`]: the facts one request gathers on its way (routing,
//! usage, timings, errors, where the answer goes), turned into its one
//! ledger entry at the end (`record`).

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use tokio::sync::oneshot;

use super::error::ApiError;
use super::relay::{CLIENT_CLOSED, RequestCtx, request_timeout};
use super::routes::Route;
use crate::ledger::{TokenSource, Usage};
use crate::providers::Endpoint;
use crate::translate::Dropped;

/// The facts gathered along the way, turned into one entry at the end.
pub(super) struct Outcome {
    pub(super) model: String,
    /// What the client asked for, when a fallback model served.
    pub(super) requested_model: Option<String>,
    /// The route and deployment of the last attempt (the serving one).
    pub(super) served: Option<(Arc<Route>, usize)>,
    /// Upstream attempts made; 0 when none was (no deployment available,
    /// or the request was refused before routing).
    pub(super) attempts: i32,
    /// Deployment and error label of each failed attempt.
    pub(super) failed: Vec<(String, &'static str)>,
    /// Seconds for `Retry-After` (503 `no_deployment_available`).
    pub(super) retry_after: Option<u64>,
    pub(super) status: u16,
    pub(super) usage: Usage,
    pub(super) source: TokenSource,
    pub(super) streamed: bool,
    /// The request body's length, for an input estimate when no usage comes.
    pub(super) request_bytes: usize,
    pub(super) upstream_latency: Option<Duration>,
    pub(super) ttft: Option<Duration>,
    pub(super) overhead: Option<Duration>,
    pub(super) upstream_request_id: Option<String>,
    /// The API the provider was spoken to in (the client's, unless translated).
    pub(super) upstream_api: Option<Endpoint>,
    /// Fields translation could not carry (`x-tokctl-dropped`).
    pub(super) dropped: Dropped,
    pub(super) error: Option<(&'static str, String)>,
    /// With the spool on: opens once the entry is on disk. A stream's end
    /// waits for it, so every answer a client completes is spooled.
    pub(super) gate: Option<oneshot::Receiver<()>>,
    /// With the spool on: a whole answer, held until its entry is on disk
    /// and then sent in one piece (head and body in one write, where
    /// sending the head first cost a second write per request).
    pub(super) held: Option<(Response, oneshot::Sender<Response>)>,
    /// Where the answer goes; taken by whoever sends it.
    pub(super) reply: Option<oneshot::Sender<Response>>,
}

impl Outcome {
    pub(super) fn new(reply: oneshot::Sender<Response>) -> Self {
        Self {
            reply: Some(reply),
            model: String::new(),
            requested_model: None,
            served: None,
            attempts: 0,
            failed: Vec::new(),
            retry_after: None,
            status: 200,
            usage: Usage::default(),
            source: TokenSource::None,
            streamed: false,
            request_bytes: 0,
            upstream_latency: None,
            ttft: None,
            overhead: None,
            upstream_request_id: None,
            upstream_api: None,
            dropped: Dropped::default(),
            error: None,
            gate: None,
            held: None,
        }
    }

    /// The reply could not be delivered: the client went away (499), or
    /// the handler already answered 504 for the request timeout.
    pub(super) fn client_closed(&mut self, ctx: &RequestCtx, limit: Duration) {
        if ctx.timed_out() {
            self.fail(&request_timeout(limit));
            return;
        }
        self.status = CLIENT_CLOSED;
        self.error = Some((
            "client_closed",
            "the client closed the connection before the answer".into(),
        ));
    }

    pub(super) fn fail(&mut self, e: &ApiError) {
        self.status = e.status.as_u16();
        self.error = Some((e.label, e.message.clone()));
    }
}
