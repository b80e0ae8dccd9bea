//! The listening socket. A client holds at most one of `max_connections` connections
//! while it is served; one that does not finish its headers within the header timeout is
//! closed (the request body has its own timeout, a layer of the router). A stop ends the
//! accepting at once and gives the requests in flight a few seconds.
//!
//! HTTP/1.1 only: a server that also speaks HTTP/2 first reads to tell the two apart, with
//! no timeout, and an HTTP/2 connection carries many requests on one slot.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What a client may hold of the listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// How long requests in flight (and open event streams) get once a stop is asked.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut full_since: Option<tokio::time::Instant> = None;
    tokio::pin!(stop);
    loop {
        // At the cap, the next client waits in the kernel's backlog, not in our memory.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p,
            _ = &mut stop => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (or a client gone before its accept): log once a
                // second at most, and give the connections being served time to end.
                let now = tokio::time::Instant::now();
                if full_since.is_none_or(|t| now.duration_since(t) > Duration::from_secs(1)) {
                    tracing::warn!("cannot accept a connection: {e}");
                    full_since = Some(now);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("closing the connections still open after {DRAIN:?}");
    }
}
