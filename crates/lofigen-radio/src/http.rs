//! The HTTP side: the page, the two streams, `/control`, `/status`, `/metrics` (which report
//! the Icecast link too, when there is one), and the
//! accept loop that serves each connection with hyper, cuts off stalled listeners and drains on
//! shutdown.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, FromRef, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use lofigen::runtime::{FxPreset, Guidance};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, watch};
use tower_service::Service;

use crate::encode::wav_stream_header;
use crate::icecast::Link;
use crate::station::{Chunk, ControlRequest, Station, stopped};

/// The most a `/control` body may hold: a few controls, never megabytes.
const CONTROL_BODY_LIMIT: usize = 16 * 1024;
/// The kernel's send buffer per connection: small, so a listener that stops reading fills it
/// in seconds and is noticed (the backlog is counted in our ring, not in the kernel).
const SEND_BUFFER_BYTES: usize = 64 * 1024;

/// The page, its script and style, inside the binary: no CDN, nothing to install.
const PAGE_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/radio.js");
const PAGE_CSS: &str = include_str!("page/radio.css");

/// One connection's handle: the handlers of its requests may cut it off.
#[derive(Clone)]
struct Connection {
    cut: Arc<Notify>,
}

/// What the handlers share: the station, and the Icecast link if there is one.
#[derive(Clone)]
struct App {
    station: Arc<Station>,
    icecast: Option<Arc<Link>>,
}

/// The handlers that need only the station take it alone.
impl FromRef<App> for Arc<Station> {
    fn from_ref(app: &App) -> Arc<Station> {
        app.station.clone()
    }
}

/// The routes, over the station.
fn router(app: App) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/radio.js", get(script))
        .route("/radio.css", get(style))
        .route("/stream.mp3", get(stream_mp3))
        .route("/stream.wav", get(stream_wav))
        .route("/control", post(control))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// Serves `listener` until `shutdown` turns true, then drains: stops accepting, lets each
/// connection finish its response (the streams end when the station goes off the air), and
/// waits at most `drain` for them.
pub(crate) async fn serve(
    listener: TcpListener,
    station: Arc<Station>,
    icecast: Option<Arc<Link>>,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
) {
    let app = router(App { station, icecast });
    // Each connection holds a receiver; `closed()` below resolves when the last one is gone.
    let (conns_tx, conns_rx) = watch::channel(false);
    loop {
        let (tcp, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(SEND_BUFFER_BYTES);
        let conn = Connection {
            cut: Arc::new(Notify::new()),
        };
        let app = app.clone();
        let mut stop = conns_rx.clone();
        tokio::spawn(async move {
            let cut = conn.cut.clone();
            let service =
                hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(conn.clone());
                    // A Router is always ready (axum documents it), so it is called directly.
                    let mut app = app.clone();
                    async move { app.call(req.map(Body::new)).await }
                });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                // A client that sends no complete request head in 10 s is let go.
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(served);
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = served.as_mut() => break,
                    // Dropping the connection closes the socket: a stalled listener is gone.
                    _ = cut.notified() => break,
                    _ = stopped(&mut stop), if !draining => {
                        served.as_mut().graceful_shutdown();
                        draining = true;
                    }
                }
            }
            drop(stop);
        });
    }
    drop(listener);
    drop(conns_rx);
    let _ = conns_tx.send(true);
    if tokio::time::timeout(drain, conns_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("some listeners did not finish within {drain:?}; closing them");
    }
}

async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE_HTML,
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        PAGE_JS,
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        PAGE_CSS,
    )
}

#[derive(Clone, Copy)]
enum Format {
    Mp3,
    Wav,
}

async fn stream_mp3(
    State(s): State<Arc<Station>>,
    Extension(c): Extension<Connection>,
) -> Response {
    listen(s, c, Format::Mp3)
}

async fn stream_wav(
    State(s): State<Arc<Station>>,
    Extension(c): Extension<Connection>,
) -> Response {
    listen(s, c, Format::Wav)
}

/// Counts a listener while its stream lives.
struct ListenerGuard(Arc<Station>);

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.0.counters.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A listener's stream: the header (WAV), the burst, then the air until it goes off.
struct Listening {
    format: Format,
    head: VecDeque<Bytes>,
    rx: broadcast::Receiver<Arc<Chunk>>,
    /// The sequence number of the last chunk handed to hyper, for the watchdog.
    delivered: Arc<AtomicU64>,
    station: Arc<Station>,
    _guard: ListenerGuard,
}

impl Listening {
    fn bytes(&self, chunk: &Chunk) -> Bytes {
        match self.format {
            Format::Mp3 => chunk.mp3.clone(),
            Format::Wav => chunk.pcm.clone(),
        }
    }

    fn count(&self, n: usize) {
        let sent = match self.format {
            Format::Mp3 => &self.station.counters.sent_mp3,
            Format::Wav => &self.station.counters.sent_wav,
        };
        sent.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn listen(station: Arc<Station>, conn: Connection, format: Format) -> Response {
    let Some(tuned) = station.tune_in() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the radio is going off the air\n",
        )
            .into_response();
    };
    station.counters.listeners.fetch_add(1, Ordering::Relaxed);
    station
        .counters
        .listeners_total
        .fetch_add(1, Ordering::Relaxed);
    let guard = ListenerGuard(station.clone());
    let mut head = VecDeque::new();
    if let Format::Wav = format {
        head.push_back(Bytes::copy_from_slice(&wav_stream_header(
            station.sample_rate,
            station.channels,
        )));
    }
    let start = tuned.burst.first().map_or(station.head(), |c| c.seq);
    let delivered = Arc::new(AtomicU64::new(start));
    let mut state = Listening {
        format,
        head,
        rx: tuned.rx,
        delivered: delivered.clone(),
        station: station.clone(),
        _guard: guard,
    };
    for c in &tuned.burst {
        let b = state.bytes(c);
        state.head.push_back(b);
    }
    if let Some(last) = tuned.burst.last() {
        delivered.store(last.seq, Ordering::Relaxed);
    }
    tokio::spawn(watchdog(Arc::downgrade(&delivered), station.clone(), conn));
    let body = futures_util::stream::unfold(state, |mut s| async move {
        if let Some(b) = s.head.pop_front() {
            s.count(b.len());
            return Some((Ok::<_, std::io::Error>(b), s));
        }
        loop {
            match s.rx.recv().await {
                Ok(chunk) => {
                    s.delivered.store(chunk.seq, Ordering::Relaxed);
                    let b = s.bytes(&chunk);
                    if b.is_empty() {
                        continue;
                    }
                    s.count(b.len());
                    return Some((Ok(b), s));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Fell a whole ring behind while reading slowly: drop it, the others go on.
                    s.station
                        .counters
                        .dropped_slow
                        .fetch_add(1, Ordering::Relaxed);
                    let e = std::io::Error::other("the listener fell too far behind");
                    return Some((Err(e), s));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let content_type = match format {
        Format::Mp3 => "audio/mpeg",
        Format::Wav => "audio/wav",
    };
    let mut r = Body::from_stream(body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Cuts off a listener that stopped reading altogether (hyper no longer asks its stream for
/// more, so the ring's lag is never seen there): checked every second against the air.
async fn watchdog(delivered: Weak<AtomicU64>, station: Arc<Station>, conn: Connection) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(d) = delivered.upgrade() else { return };
        if station.head() > d.load(Ordering::Relaxed) + station.backlog_blocks() {
            station
                .counters
                .dropped_slow
                .fetch_add(1, Ordering::Relaxed);
            conn.cut.notify_one();
            return;
        }
    }
}

/// A 4xx or 5xx answer with a one-line message.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let mut m = message.into();
    m.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        m,
    )
        .into_response()
}

/// The fields of a control body, JSON (`{"fx": "tape", "bpm": 80}`) or form
/// (`fx=tape&bpm=80`), as text.
fn control_fields(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !json {
        return serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map_err(|e| format!("the form cannot be read: {e}"));
    }
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("the body is not a JSON object: {e}"))?;
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            other => Err(format!("{k}: {other} is neither text nor a number")),
        })
        .collect()
}

/// The controls asked for; a bad value is an error that names it.
fn parse_controls(fields: Vec<(String, String)>) -> Result<ControlRequest, String> {
    let mut r = ControlRequest::default();
    if fields.is_empty() {
        return Err("nothing to change: send fx, bpm, chords, swing, groove or guidance".into());
    }
    for (key, value) in fields {
        let value = value.trim().to_string();
        // An empty field (a blank input of the page's form) leaves that control as it is.
        if value.is_empty() {
            continue;
        }
        let number = |what: &str| -> Result<f64, String> {
            value
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{what}: {value:?} is not a number"))
        };
        match key.as_str() {
            "fx" => r.fx = Some(value.parse::<FxPreset>().map_err(|e| format!("fx: {e}"))?),
            "bpm" => r.bpm = Some(number("bpm")?),
            "swing" => r.swing = Some(number("swing")? as f32),
            "chords" => r.chords = Some(value),
            "groove" => r.groove = Some(value),
            "guidance" => {
                r.guidance = Some(
                    value
                        .parse::<Guidance>()
                        .map_err(|e| format!("guidance: {e}"))?,
                );
            }
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(format!(
                    "unknown control {shown:?} (known: fx, bpm, chords, swing, groove, guidance)"
                ));
            }
        }
    }
    Ok(r)
}

async fn control(State(station): State<Arc<Station>>, req: Request) -> Response {
    // A body that says it is over the limit is refused before a byte of it is read: the
    // client then reads the 413, where a server that read up to the limit and closed would
    // leave it a broken pipe under the rest of its upload. Bodies of unknown length are cut
    // at the limit as they stream in.
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "a control body is limited to {} KiB",
                CONTROL_BODY_LIMIT / 1024
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > CONTROL_BODY_LIMIT as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, CONTROL_BODY_LIMIT).await else {
        return too_large();
    };
    let headers = parts.headers;
    let request = match control_fields(&headers, &body).and_then(parse_controls) {
        Ok(r) => r,
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
    };
    if let Some(fx) = request.fx
        && let Err(e) = fx.settings().validate(station.sample_rate)
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("fx {fx} cannot run at {} Hz: {e}", station.sample_rate),
        );
    }
    match station.control(request).await {
        Ok(now) => axum::Json(now).into_response(),
        Err(r) => refuse(
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
            r.message,
        ),
    }
}

/// `/status`: what a dashboard shows.
async fn status(State(app): State<App>) -> Response {
    let s = &app.station;
    let c = &s.counters;
    axum::Json(serde_json::json!({
        "listeners": c.listeners.load(Ordering::Relaxed),
        "listeners_total": c.listeners_total.load(Ordering::Relaxed),
        "dropped_slow_listeners": c.dropped_slow.load(Ordering::Relaxed),
        "uptime_s": s.started.elapsed().as_secs_f64(),
        "seconds_generated": s.seconds_generated(),
        "realtime_factor": s.realtime_factor(),
        "buffer_fill": s.buffer_fill(),
        "buffer_s": s.buffered_seconds(),
        "underruns": c.underruns.load(Ordering::Relaxed),
        "controls": s.now_playing(),
        "model": s.model,
        "attribution": s.attribution,
        "sample_rate": s.sample_rate,
        "channels": s.channels,
        "bitrate_kbps": s.config.bitrate_kbps,
        "icecast": app.icecast.as_ref().map(|l| l.status()),
    }))
    .into_response()
}

/// `/metrics`: Prometheus's text exposition format, written by hand (a dozen lines).
async fn metrics(State(app): State<App>) -> Response {
    let s = &app.station;
    let c = &s.counters;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP lofigen_radio_{name} {help}");
        let _ = writeln!(out, "# TYPE lofigen_radio_{name} {kind}");
        let _ = writeln!(out, "lofigen_radio_{name} {value}");
    };
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
    metric(
        "listeners",
        "gauge",
        "Listeners connected now.",
        c.listeners.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "listeners_total",
        "counter",
        "Listeners that ever connected.",
        load(&c.listeners_total),
    );
    metric(
        "dropped_listeners_total",
        "counter",
        "Listeners cut off for falling too far behind.",
        load(&c.dropped_slow),
    );
    metric(
        "uptime_seconds",
        "gauge",
        "Seconds since the radio started.",
        s.started.elapsed().as_secs_f64().to_string(),
    );
    metric(
        "generated_seconds_total",
        "counter",
        "Seconds of audio generated.",
        s.seconds_generated().to_string(),
    );
    metric(
        "realtime_factor",
        "gauge",
        "Audio seconds generated per second of generation work.",
        s.realtime_factor().to_string(),
    );
    metric(
        "buffer_fill_ratio",
        "gauge",
        "Share of the look-ahead buffer that is filled.",
        s.buffer_fill().to_string(),
    );
    metric(
        "underruns_total",
        "counter",
        "Times the generator fell behind the air.",
        load(&c.underruns),
    );
    let _ = writeln!(
        out,
        "# HELP lofigen_radio_sent_bytes_total Bytes sent to listeners."
    );
    let _ = writeln!(out, "# TYPE lofigen_radio_sent_bytes_total counter");
    let _ = writeln!(
        out,
        "lofigen_radio_sent_bytes_total{{format=\"mp3\"}} {}",
        load(&c.sent_mp3)
    );
    let _ = writeln!(
        out,
        "lofigen_radio_sent_bytes_total{{format=\"wav\"}} {}",
        load(&c.sent_wav)
    );
    if let Some(link) = &app.icecast {
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP lofigen_radio_icecast_{name} {help}");
            let _ = writeln!(out, "# TYPE lofigen_radio_icecast_{name} {kind}");
            let _ = writeln!(out, "lofigen_radio_icecast_{name} {value}");
        };
        metric(
            "connected",
            "gauge",
            "1 while Icecast has the stream, 0 while connecting or retrying.",
            u8::from(link.connected()).to_string(),
        );
        metric(
            "sent_bytes_total",
            "counter",
            "MP3 bytes sent to Icecast.",
            load(&link.sent_bytes),
        );
        metric(
            "connections_total",
            "counter",
            "Connections Icecast took.",
            load(&link.connections),
        );
        metric(
            "failures_total",
            "counter",
            "Attempts to reach Icecast that failed, and connections lost.",
            load(&link.failures),
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// The address a radio listens on, in messages.
pub(crate) fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}
