//! The accept loop: HTTP/1.1 over hyper with bounded time per connection, so a client
//! that opens connections and then trickles (or never sends) its request cannot hold a
//! file descriptor for long. Three limits, each on its own clock:
//! - idle: a connection that is waiting for a request (just opened, or its previous answer
//!   sent) and receives no byte of one for this long is closed;
//! - headers: once the first byte of a request arrives, its headers must be complete
//!   within this time (the slowloris attack);
//! - bodies: the handler reading a body stops after this long (see `extract`).
//!
//! On shutdown no connection is accepted any more, idle ones close and in-flight requests
//! are answered before [`serve`] returns.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

/// How long a connection may take for each stage; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionTimeouts {
    /// Longest wait for the first byte of a request on an open connection.
    pub idle: Duration,
    /// Longest time from a request's first byte to the end of its headers.
    pub headers: Duration,
    /// Longest time to read a request body (applied by the body reader).
    pub body: Duration,
}

impl Default for ConnectionTimeouts {
    fn default() -> Self {
        ConnectionTimeouts {
            idle: Duration::from_secs(60),
            headers: Duration::from_secs(10),
            body: Duration::from_secs(30),
        }
    }
}

/// What the watchdog of one connection knows about it.
#[derive(Debug)]
struct Activity {
    /// Requests handed to the router and not yet answered.
    in_flight: usize,
    /// Since when the connection waits for a request.
    waiting_since: Instant,
    /// When the first byte of the next request arrived, while waiting for one.
    first_byte_at: Option<Instant>,
}

impl Activity {
    /// When the connection is due to be closed, if nothing changes; `None` while a request runs.
    fn deadline(&self, limits: &ConnectionTimeouts) -> Option<Instant> {
        if self.in_flight > 0 {
            return None;
        }
        Some(match self.first_byte_at {
            Some(first) => first + limits.headers,
            None => self.waiting_since + limits.idle,
        })
    }
}

type Shared = Arc<Mutex<Activity>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Activity> {
    // The state is a few counters: a panic elsewhere cannot leave it inconsistent.
    shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The socket, noting when the first byte of a request arrives.
struct Watched {
    stream: TcpStream,
    activity: Shared,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut activity = lock(&self.activity);
            if activity.in_flight == 0 && activity.first_byte_at.is_none() {
                activity.first_byte_at = Some(Instant::now());
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Counts a request as in flight until dropped (answered, or abandoned).
struct InFlight(Shared);

impl InFlight {
    fn start(shared: &Shared) -> InFlight {
        let mut activity = lock(shared);
        activity.in_flight += 1;
        activity.first_byte_at = None;
        drop(activity);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut activity = lock(&self.0);
        activity.in_flight = activity.in_flight.saturating_sub(1);
        activity.waiting_since = Instant::now();
        activity.first_byte_at = None;
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionTimeouts,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(stream, peer, app.clone(), limits, stop_rx.clone()));
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection: served by hyper, closed by its watchdog when a limit passes.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionTimeouts,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let activity: Shared =
        Arc::new(Mutex::new(Activity { in_flight: 0, waiting_since: Instant::now(), first_byte_at: None }));
    let io = TokioIo::new(Watched { stream, activity: activity.clone() });
    let tracked = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        let guard = InFlight::start(&tracked);
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(axum::body::Body::new)).await;
            drop(guard);
            response
        }
    });
    // hyper's own header timer would also run while a kept-alive connection idles; the
    // watchdog below keeps the two limits apart.
    let conn = hyper::server::conn::http1::Builder::new().header_read_timeout(None).serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = lock(&activity).deadline(&limits);
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = expired => {
                // Another request may have begun meanwhile; close only if the deadline still holds.
                if lock(&activity).deadline(&limits).is_some_and(|at| at <= Instant::now()) {
                    return;
                }
            }
            // A request that starts or ends moves the deadline: look again soon.
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
