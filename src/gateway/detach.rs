//! A request's work, run inside the handler's own task until either the
//! work ends or the handler is done with it; what is left then (a stream
//! still relaying, an answer a gone client no longer waits for) carries on
//! as a task of its own.
//!
//! Why not always spawn: a task per request cost a spawn, a run-queue
//! round and a wake-up of the handler through the reply channel, on every
//! request, for the sake of the few whose client leaves early. A whole
//! answer now finishes inside the handler's poll; a spawn happens only
//! when something is actually left over.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio::sync::oneshot;

type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Owns the work until it ends; dropping it with work left spawns the rest.
struct Detached(Option<Work>);

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(rest) = self.0.take() {
            // Without a runtime (it is shutting down) there is nothing to
            // run the rest on; the worker runtimes outlive the requests, so
            // this is the last moments of a process being torn down.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(rest);
            }
        }
    }
}

/// Polls `work` in place and returns what it sends on `reply`'s other
/// end: `None` when it ended without sending. Work left once the answer is
/// there, or when this future is dropped, continues detached.
pub async fn run<T>(
    work: impl Future<Output = ()> + Send + 'static,
    reply: &mut oneshot::Receiver<T>,
) -> Option<T> {
    let mut work = Detached(Some(Box::pin(work)));
    std::future::poll_fn(|cx| {
        if let Some(w) = work.0.as_mut()
            && w.as_mut().poll(cx).is_ready()
        {
            work.0 = None;
        }
        match Pin::new(&mut *reply).poll(cx) {
            Poll::Ready(r) => Poll::Ready(r.ok()),
            Poll::Pending if work.0.is_none() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
