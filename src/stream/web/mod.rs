//! A web page of live captions (cargo feature `http`), served while `listen` runs:
//!
//! - `GET /`: one self-contained page (`page.html`: no CDN, works offline) made to be read at a
//!   glance on a phone: the live caption in large letters, its tags, an alert banner that
//!   flashes and vibrates the phone, a short history, an input level meter and a connection
//!   indicator that reconnects by itself;
//! - `GET /events`: Server-Sent Events, one `data:` line per event or status, the same JSON as
//!   `listen --json`;
//! - `GET /api/recent`: the last events as a JSON array (`?limit=N`, at most [`RECENT`]);
//! - `GET /health`: uptime, the pipeline's counters as of the last heartbeat, when audio and an
//!   event last arrived, and the clients.
//!
//! HTTP/1 (hyper) runs on one thread of its own with a single-threaded tokio runtime. The
//! pipeline only hands each event to a bounded queue per client and never waits: a client
//! whose queue is full (it stopped reading, or reads too slowly) is disconnected and counted.
//! Requests are bounded too: headers beyond [`MAX_HEADER_BYTES`] or slower than
//! [`HEADER_TIMEOUT`] are refused, connections beyond [`MAX_CONNECTIONS`] are closed at once,
//! event streams beyond the configured number of clients get 503. When a token is set, every
//! route wants it, as `?token=` or `Authorization: Bearer`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use super::events::{Event, Heartbeat, Sink, Status};

/// The page, as served.
const PAGE: &str = include_str!("page.html");

/// Events kept for `/api/recent` and for a page that has just opened.
pub const RECENT: usize = 50;

/// Messages waiting for one event-stream client; a client further behind is disconnected.
pub const CLIENT_QUEUE: usize = 64;

/// The most event-stream clients `--http-clients` may allow.
pub const MAX_CLIENTS: usize = 256;

/// Open connections of any kind; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = MAX_CLIENTS + 32;

/// The longest request head (request line and headers) read; longer ones get 431.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// How long a client may take to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the end of listening waits for event streams to deliver what they hold.
pub const GRACE: Duration = Duration::from_secs(1);

/// The kernel's send buffer for each connection: with the client queue, it bounds the memory a
/// client that stopped reading can hold, and how soon it is found out.
const SEND_BUFFER_BYTES: libc::c_int = 16 * 1024;

/// Where to serve, and to whom.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// `HOST:PORT` to listen on (`--http`).
    pub addr: String,
    /// The token every request must carry; required to serve beyond loopback unless `open`.
    pub token: Option<String>,
    /// Serve beyond loopback without a token (`--open`).
    pub open: bool,
    /// Event-stream clients served at once (`--http-clients`).
    pub clients: usize,
}

/// The shortest token accepted: guessing it must be hopeless.
pub const MIN_TOKEN_CHARS: usize = 16;

impl WebConfig {
    /// The address resolved, and the rules on tokens and clients checked.
    fn check(&self) -> Result<SocketAddr, String> {
        let addr = self
            .addr
            .to_socket_addrs()
            .map_err(|e| format!("--http {}: expected HOST:PORT ({e})", self.addr))?
            .next()
            .ok_or_else(|| format!("--http {}: the host has no address", self.addr))?;
        if let Some(token) = &self.token {
            let url_safe = token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
            if token.chars().count() < MIN_TOKEN_CHARS || token.len() > 256 || !url_safe {
                return Err(format!(
                    "the --http token: expected {MIN_TOKEN_CHARS} to 256 letters, digits, '-', \
                     '.', '_' or '~' (it goes in the page's address), got {} characters",
                    token.chars().count()
                ));
            }
        } else if !addr.ip().is_loopback() && !self.open {
            return Err(format!(
                "--http {}: serving beyond this machine needs a token (--http-token FILE, or \
                 EARSIGHT_HTTP_TOKEN) or, on a network you trust, --open",
                self.addr
            ));
        }
        if !(1..=MAX_CLIENTS).contains(&self.clients) {
            return Err(format!(
                "--http-clients {}: expected 1 to {MAX_CLIENTS}",
                self.clients
            ));
        }
        Ok(addr)
    }
}

/// What the server did, for the summary and `/health`.
#[derive(Debug, Default, Serialize)]
pub struct WebCounts {
    pub requests: AtomicU64,
    /// Requests without the right token.
    pub unauthorized: AtomicU64,
    /// Requests for anything but the routes, or with another method than GET.
    pub not_found: AtomicU64,
    /// Event streams opened, and open now.
    pub clients_served: AtomicU64,
    pub clients_now: AtomicU64,
    /// Event-stream clients disconnected because they fell [`CLIENT_QUEUE`] messages behind.
    pub clients_dropped: AtomicU64,
    /// Event streams refused (503) because `clients` were already open.
    pub clients_refused: AtomicU64,
    /// Connections closed at once because [`MAX_CONNECTIONS`] were open.
    pub connections_refused: AtomicU64,
}

/// One event-stream client, as the pipeline sees it.
struct Client {
    queue: mpsc::Sender<Arc<str>>,
    /// Ends the client's connection when it falls behind.
    hang_up: Arc<Notify>,
}

/// What `/health` reports, kept by the sink as events and heartbeats pass.
#[derive(Default)]
struct Vitals {
    beat: Option<(Heartbeat, Instant)>,
    last_event: Option<SystemTime>,
}

struct Shared {
    started: Instant,
    token: Option<String>,
    max_clients: usize,
    recent: Mutex<VecDeque<Arc<str>>>,
    clients: Mutex<Vec<Client>>,
    vitals: Mutex<Vitals>,
    counts: WebCounts,
}

/// The lock, even if a thread panicked while holding it: every value behind these locks is
/// whole between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A sink that serves the page and streams every event and status to its clients.
pub struct WebSink {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebSink {
    /// Binds the address and starts serving on a thread of its own.
    pub fn start(config: &WebConfig) -> Result<WebSink, String> {
        let addr = config.check()?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("--http {}: cannot listen there: {e}", config.addr))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("--http {}: {e}", config.addr))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("--http {}: {e}", config.addr))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("--http: cannot start its runtime: {e}"))?;
        let shared = Arc::new(Shared {
            started: Instant::now(),
            token: config.token.clone(),
            max_clients: config.clients,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            clients: Mutex::new(Vec::new()),
            vitals: Mutex::new(Vitals::default()),
            counts: WebCounts::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("earsight-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, serving, stopped).await,
                        Err(e) => log::error!("--http: {e}"),
                    }
                })
            })
            .map_err(|e| format!("--http: cannot start its thread: {e}"))?;
        Ok(WebSink {
            shared,
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address served (the port chosen by the system when `--http` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counts(&self) -> &WebCounts {
        &self.shared.counts
    }

    /// Stops serving: each event stream ends once its client has what was sent to it (for at
    /// most [`GRACE`]), then every connection is closed.
    pub fn finish(&mut self) {
        lock(&self.shared.clients).clear();
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Hands a message to every client; a client that is too far behind is hung up on.
    fn broadcast(&self, message: Arc<str>) {
        let counts = &self.shared.counts;
        lock(&self.shared.clients).retain(|client| match client.queue.try_send(message.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                counts.clients_dropped.fetch_add(1, Ordering::Relaxed);
                client.hang_up.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }
}

impl Drop for WebSink {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Sink for WebSink {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        let json: Arc<str> = serde_json::to_string(event)
            .expect("events serialise")
            .into();
        {
            let mut recent = lock(&self.shared.recent);
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(json.clone());
        }
        lock(&self.shared.vitals).last_event = Some(SystemTime::now());
        self.broadcast(json);
        Ok(())
    }

    fn status(&mut self, status: &Status) -> std::io::Result<()> {
        if let Status::Heartbeat(beat) = status {
            lock(&self.shared.vitals).beat = Some((beat.clone(), Instant::now()));
        }
        let json = serde_json::to_string(status).expect("statuses serialise");
        self.broadcast(json.into());
        Ok(())
    }
}

/// Accepts connections until told to stop; dropping the runtime then closes them all.
async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(permit) = connections.clone().try_acquire_owned() else {
                        shared.counts.connections_refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        connection(stream, shared).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    log::warn!("--http: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stopped.changed() => break,
        }
    }
    let all = MAX_CONNECTIONS as u32;
    let _ = tokio::time::timeout(GRACE, connections.acquire_many(all)).await;
}

/// Serves one connection until the client leaves, or falls behind on its event stream.
async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    limit_send_buffer(&stream);
    let hang_up = Arc::new(Notify::new());
    let on_request = {
        let hang_up = hang_up.clone();
        service_fn(move |request| {
            let response = respond(&request, &shared, &hang_up);
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let serving = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(stream), on_request);
    tokio::select! {
        _ = serving => {}
        _ = hang_up.notified() => {}
    }
}

fn limit_send_buffer(stream: &tokio::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let size = SEND_BUFFER_BYTES;
    // SAFETY: a valid socket descriptor, and a c_int option of the size given.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result != 0 {
        log::debug!(
            "--http: cannot limit a send buffer: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The response to one request: the route, if the token is right.
fn respond(
    request: &Request<Incoming>,
    shared: &Arc<Shared>,
    hang_up: &Arc<Notify>,
) -> Response<WebBody> {
    let counts = &shared.counts;
    counts.requests.fetch_add(1, Ordering::Relaxed);
    let path = request.uri().path();
    let routed = matches!(path, "/" | "/events" | "/api/recent" | "/health");
    if !routed || request.method() != Method::GET {
        counts.not_found.fetch_add(1, Ordering::Relaxed);
        return match routed {
            true => text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n"),
            false => text(StatusCode::NOT_FOUND, "not found\n"),
        };
    }
    let query = request.uri().query().unwrap_or("");
    if let Some(token) = &shared.token {
        if !authorized(request, query, token) {
            counts.unauthorized.fetch_add(1, Ordering::Relaxed);
            let mut response = text(
                StatusCode::UNAUTHORIZED,
                "a token is needed: open the page as /?token=...\n",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    match path {
        "/" => with_type(
            Response::new(WebBody::Whole(Some(Bytes::from_static(PAGE.as_bytes())))),
            "text/html; charset=utf-8",
        ),
        "/events" => events(shared, hang_up),
        "/api/recent" => {
            let limit = query_value(query, "limit")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(RECENT)
                .min(RECENT);
            let recent = lock(&shared.recent);
            let skip = recent.len().saturating_sub(limit);
            let items: Vec<&str> = recent.iter().skip(skip).map(|e| e.as_ref()).collect();
            json(format!("[{}]", items.join(",")))
        }
        _ => json(health(shared)),
    }
}

/// An event stream: registered with the sink, which fills its queue.
fn events(shared: &Arc<Shared>, hang_up: &Arc<Notify>) -> Response<WebBody> {
    let counts = &shared.counts;
    let (queue, receiver) = mpsc::channel(CLIENT_QUEUE);
    {
        let mut clients = lock(&shared.clients);
        clients.retain(|c| !c.queue.is_closed());
        if clients.len() >= shared.max_clients {
            counts.clients_refused.fetch_add(1, Ordering::Relaxed);
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many clients: try again later\n",
            );
        }
        clients.push(Client {
            queue,
            hang_up: hang_up.clone(),
        });
    }
    counts.clients_served.fetch_add(1, Ordering::Relaxed);
    counts.clients_now.fetch_add(1, Ordering::Relaxed);
    let mut response = with_type(
        Response::new(WebBody::Stream(EventStream {
            // The browser reconnects 2 s after a lost connection.
            opening: Some(Bytes::from_static(b"retry: 2000\n\n")),
            receiver,
            shared: shared.clone(),
        })),
        "text/event-stream",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Serialize)]
struct Health<'a> {
    uptime_s: f64,
    /// The pipeline's counters as of the last heartbeat, and how long ago it was.
    heartbeat: Option<&'a Heartbeat>,
    heartbeat_s_ago: Option<f64>,
    /// When audio last arrived and an event was last reported, in seconds since the Unix epoch.
    last_audio_unix_s: Option<f64>,
    last_event_unix_s: Option<f64>,
    /// The server's own counts.
    server: &'a WebCounts,
}

fn health(shared: &Shared) -> String {
    let vitals = lock(&shared.vitals);
    let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64());
    let beat_ago = vitals.beat.as_ref().map(|(_, at)| at.elapsed());
    let last_audio = vitals
        .beat
        .as_ref()
        .zip(beat_ago)
        .and_then(|((b, _), ago)| {
            let since = ago + Duration::from_secs_f64(b.since_audio_s.max(0.0));
            SystemTime::now().checked_sub(since).and_then(unix)
        });
    let health = Health {
        uptime_s: shared.started.elapsed().as_secs_f64(),
        heartbeat: vitals.beat.as_ref().map(|(b, _)| b),
        heartbeat_s_ago: beat_ago.map(|d| d.as_secs_f64()),
        last_audio_unix_s: last_audio,
        last_event_unix_s: vitals.last_event.and_then(unix),
        server: &shared.counts,
    };
    serde_json::to_string(&health).expect("health serialises")
}

/// The token, from the query (what a page opened from a link carries) or a bearer header, in
/// time that does not depend on where it differs.
fn authorized(request: &Request<Incoming>, query: &str, token: &str) -> bool {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let given = query_value(query, "token").or(bearer).unwrap_or("");
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn with_type(mut response: Response<WebBody>, content_type: &'static str) -> Response<WebBody> {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'",
        ),
    );
    response
}

fn json(body: String) -> Response<WebBody> {
    let mut response = with_type(
        Response::new(WebBody::Whole(Some(Bytes::from(body)))),
        "application/json",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<WebBody> {
    let mut response = with_type(
        Response::new(WebBody::Whole(Some(Bytes::from_static(body.as_bytes())))),
        "text/plain; charset=utf-8",
    );
    *response.status_mut() = status;
    response
}

/// A response body: a whole one, or an event stream.
enum WebBody {
    Whole(Option<Bytes>),
    Stream(EventStream),
}

/// Server-Sent Events from a client's queue, until the sink hangs up on it.
struct EventStream {
    opening: Option<Bytes>,
    receiver: mpsc::Receiver<Arc<str>>,
    shared: Arc<Shared>,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.shared
            .counts
            .clients_now
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Body for WebBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            WebBody::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            WebBody::Stream(stream) => {
                if let Some(opening) = stream.opening.take() {
                    return Poll::Ready(Some(Ok(Frame::data(opening))));
                }
                stream.receiver.poll_recv(cx).map(|message| {
                    message.map(|json| Ok(Frame::data(Bytes::from(format!("data: {json}\n\n")))))
                })
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, WebBody::Whole(None))
    }

    /// A whole body's length, so that it goes with a Content-Length.
    fn size_hint(&self) -> SizeHint {
        match self {
            WebBody::Whole(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len()) as u64)
            }
            WebBody::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(addr: &str, token: Option<&str>, open: bool) -> WebConfig {
        WebConfig {
            addr: addr.into(),
            token: token.map(String::from),
            open,
            clients: 8,
        }
    }

    #[test]
    fn beyond_loopback_a_token_or_open_is_required_and_tokens_are_checked() {
        assert!(config("127.0.0.1:0", None, false).check().is_ok());
        assert!(config("[::1]:0", None, false).check().is_ok());
        let e = config("0.0.0.0:8080", None, false).check().unwrap_err();
        assert!(e.contains("needs a token"), "{e}");
        assert!(config("0.0.0.0:8080", None, true).check().is_ok());
        let good = "abcdefgh-12345678";
        assert!(config("0.0.0.0:8080", Some(good), false).check().is_ok());
        for bad in [
            "short",
            "with space in it, long enough",
            "ünïcödé-ünïcödé-ü",
        ] {
            let e = config("0.0.0.0:8080", Some(bad), false)
                .check()
                .unwrap_err();
            assert!(
                e.contains("the --http token: expected 16 to 256"),
                "{bad}: {e}"
            );
        }
        let e = config("8080", None, false).check().unwrap_err();
        assert!(e.contains("--http 8080: expected HOST:PORT"), "{e}");
        let too_many = WebConfig {
            clients: MAX_CLIENTS + 1,
            ..config("127.0.0.1:0", None, false)
        };
        assert!(too_many.check().unwrap_err().contains("--http-clients 257"));
    }

    #[test]
    fn query_values_are_found_by_key() {
        assert_eq!(query_value("limit=5&token=abc", "token"), Some("abc"));
        assert_eq!(query_value("tokens=abc", "token"), None);
        assert_eq!(query_value("", "limit"), None);
    }
}
