//! The Icecast source client: the station's MP3 blocks, the same ones its own listeners get,
//! sent on to an Icecast server, whose relays and mounts carry more listeners than one process.
//!
//! Icecast 2.4's source protocol is an HTTP `PUT` to the mount with Basic auth, the stream's
//! type and `Ice-*` headers, and a body without a length that runs until the connection ends.
//! It is written here on the socket rather than through hyper: hyper sends a body of unknown
//! length chunked, and Icecast 2.4.4 does not decode chunked source bodies (the chunk sizes
//! would end up in its listeners' MP3). Icecast answers as soon as it has the head, so the
//! body waits for that answer: a refusal (401, 403) is read whole, not lost to a write on a
//! closed socket.
//!
//! The link is an outlet beside the HTTP listeners: it reads the air like one of them, and when
//! Icecast is down or drops it, it retries with backoff while the listeners play on.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{broadcast, oneshot, watch};

use crate::RadioError;
use crate::station::{Chunk, Station, stopped};

/// The environment variable front ends read the source password from when the URL has none,
/// so that it does not show in `ps`.
pub const PASSWORD_ENV: &str = "LOFIGEN_ICECAST_PASSWORD";

/// How long a connection attempt or Icecast's answer to the request head may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before reconnecting, doubled after each failure up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between attempts: a restarted Icecast is found within this.
const LAST_RETRY: Duration = Duration::from_secs(16);
/// A connection that lasted this long was a good one: the next failure starts the backoff anew.
const STABLE: Duration = Duration::from_secs(30);

/// Where to send the stream: an Icecast mount and the source credentials for it.
#[derive(Clone)]
pub struct IcecastTarget {
    /// Host as written in the URL (an IPv6 address keeps its brackets).
    host: String,
    port: u16,
    /// The mount's path, from `/`.
    mount: String,
    user: String,
    password: String,
}

impl IcecastTarget {
    /// Reads `http://USER:PASSWORD@HOST:PORT/MOUNT` (the user is Icecast's `source` when the
    /// URL names none; the port is 80 when it names none, as in any URL). `password` is used
    /// when the URL has none (front ends read it from [`PASSWORD_ENV`]). A bad URL is an error
    /// that names it, with any password replaced by `***`.
    pub fn parse(url: &str, password: Option<&str>) -> Result<IcecastTarget, RadioError> {
        let shown = redact(url.trim());
        let bad = |problem: &str| RadioError::Setting {
            name: "icecast",
            problem: format!("{shown:?}: {problem}"),
        };
        let uri: http::Uri = url
            .trim()
            .parse()
            .map_err(|e| bad(&format!("not a URL ({e}); expected {FORM}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported: a source talks plain HTTP to Icecast (tunnel it \
                     through TLS outside lofigen if the path is not trusted)",
                ));
            }
            _ => return Err(bad(&format!("expected {FORM}"))),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| bad(&format!("no host; expected {FORM}")))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad(&format!("no host; expected {FORM}")));
        }
        let (user, url_password) = match authority.as_str().rsplit_once('@') {
            Some((info, _)) => match info.split_once(':') {
                Some((u, p)) => (percent_decode(u), Some(percent_decode(p))),
                None => (percent_decode(info), None),
            },
            None => (Some(String::new()), None),
        };
        let user = user.ok_or_else(|| bad("the user is not valid percent-encoded UTF-8"))?;
        let url_password = match url_password {
            Some(p) => {
                Some(p.ok_or_else(|| bad("the password is not valid percent-encoded UTF-8"))?)
            }
            None => None,
        };
        let password = url_password
            .filter(|p| !p.is_empty())
            .or_else(|| password.filter(|p| !p.is_empty()).map(String::from))
            .ok_or_else(|| {
                bad(&format!(
                    "no source password: put it in the URL ({FORM}) or in {PASSWORD_ENV}"
                ))
            })?;
        let mount = uri.path();
        if mount.len() < 2 {
            return Err(bad(
                "no mount: the URL's path names it, as in http://source:PASSWORD@HOST:8000/lofi.mp3",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("a mount has no query (the part after '?')"));
        }
        Ok(IcecastTarget {
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(80),
            mount: mount.to_string(),
            user: if user.is_empty() {
                "source".into()
            } else {
                user
            },
            password,
        })
    }

    /// The mount's address, where Icecast's listeners tune in.
    pub fn listen_url(&self) -> String {
        format!("http://{}:{}{}", self.host, self.port, self.mount)
    }
}

/// The shape the URL takes, for messages.
const FORM: &str = "http://source:PASSWORD@HOST:PORT/MOUNT";

/// The URL without the password: what every message shows.
impl fmt::Display for IcecastTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "http://{}@{}:{}{}",
            self.user, self.host, self.port, self.mount
        )
    }
}

/// As [`fmt::Display`]: a password never reaches a log through `{:?}` either.
impl fmt::Debug for IcecastTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IcecastTarget({self})")
    }
}

/// `url` with whatever lies between the user's `:` and the `@` replaced by `***`, for messages
/// about a URL that could not be read.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[start..];
    // The last '@' ends the user information even if the password holds an unencoded '/'.
    let Some(at) = rest.rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

/// Decodes `%XX` escapes; `None` if one is broken or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Base64 (standard alphabet, padded), for the Basic credentials.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for group in input.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Where the link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Phase {
    /// Connecting, or waiting for Icecast's answer.
    Connecting,
    /// Icecast took the stream: its mount is on the air.
    Connected,
    /// The last attempt failed or the connection was lost; waiting to try again.
    Retrying,
    /// The radio stopped, or Icecast refused the stream at the start.
    Stopped,
}

/// The link's state, as `/status` and `/metrics` report it.
pub(crate) struct Link {
    pub(crate) target: IcecastTarget,
    state: Mutex<LinkState>,
    /// MP3 bytes handed to the connection, all connections together.
    pub(crate) sent_bytes: AtomicU64,
    /// Connections Icecast took.
    pub(crate) connections: AtomicU64,
    /// Attempts that failed and connections that were lost.
    pub(crate) failures: AtomicU64,
}

struct LinkState {
    phase: Phase,
    since: Instant,
    last_error: Option<String>,
}

impl Link {
    pub(crate) fn new(target: IcecastTarget) -> Link {
        Link {
            target,
            state: Mutex::new(LinkState {
                phase: Phase::Connecting,
                since: Instant::now(),
                last_error: None,
            }),
            sent_bytes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    fn set(&self, phase: Phase, error: Option<String>) {
        let mut s = self.state.lock().expect("the link lock is never poisoned");
        if s.phase != phase {
            s.since = Instant::now();
        }
        s.phase = phase;
        if error.is_some() {
            s.last_error = error;
        }
    }

    /// Whether Icecast has the stream now.
    pub(crate) fn connected(&self) -> bool {
        self.state.lock().expect("never poisoned").phase == Phase::Connected
    }

    /// The link for `/status`.
    pub(crate) fn status(&self) -> serde_json::Value {
        let s = self.state.lock().expect("never poisoned");
        serde_json::json!({
            "url": self.target.to_string(),
            "listen_url": self.target.listen_url(),
            "state": s.phase,
            "state_s": s.since.elapsed().as_secs_f64(),
            "sent_bytes": self.sent_bytes.load(Ordering::Relaxed),
            "connections": self.connections.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
            "last_error": s.last_error,
        })
    }
}

/// How a session ended after Icecast took the stream.
enum Ended {
    /// The radio is going off the air.
    Stopped,
    /// The connection was lost, and why.
    Lost(String),
}

/// Why Icecast did not take the stream.
enum Failed {
    /// No connection, or no answer.
    Unreachable(String),
    /// Icecast answered with an error: the status and what it means.
    Refused(StatusCode, String),
}

/// Keeps the link up until `stop`: connects, streams, and after a failure waits (1 s, doubling
/// to 16 s) and connects again. A refusal before Icecast ever took the stream (a wrong
/// password, a mount in use) is a mistake in the set-up, not an outage: it goes to `fatal`,
/// and the link gives up. Later refusals (Icecast restarting with another config) are retried.
pub(crate) async fn run(
    link: Arc<Link>,
    station: Arc<Station>,
    mut stop: watch::Receiver<bool>,
    fatal: oneshot::Sender<RadioError>,
) {
    let mut fatal = Some(fatal);
    let mut backoff = FIRST_RETRY;
    // Whether a failure was reported since the last connection: the next one says it is back.
    let mut after_failure = false;
    let url = &link.target;
    loop {
        link.set(Phase::Connecting, None);
        let started = Instant::now();
        // Stopping cuts a session short wherever it is (connecting, waiting for the answer).
        let outcome = tokio::select! {
            outcome = session(&link, &station, after_failure) => outcome,
            _ = stopped(&mut stop) => break,
        };
        let mut refused = false;
        let why = match outcome {
            Ok(Ended::Stopped) => break,
            Ok(Ended::Lost(why)) => {
                fatal = None;
                if started.elapsed() >= STABLE {
                    backoff = FIRST_RETRY;
                }
                format!("the connection was lost: {why}")
            }
            Err(Failed::Refused(status, why)) => {
                if let Some(fatal) = fatal.take() {
                    link.failures.fetch_add(1, Ordering::Relaxed);
                    link.set(Phase::Stopped, Some(why.clone()));
                    let _ = fatal.send(RadioError::IcecastRefused {
                        url: url.to_string(),
                        status: status.as_u16(),
                        problem: why,
                    });
                    return;
                }
                refused = true;
                format!("Icecast refused the stream: {why}")
            }
            Err(Failed::Unreachable(why)) => why,
        };
        after_failure = true;
        link.failures.fetch_add(1, Ordering::Relaxed);
        link.set(Phase::Retrying, Some(why.clone()));
        let retry = backoff.as_secs();
        if refused {
            // Not an outage that passes by itself: Icecast's config changed under the radio.
            tracing::error!("Icecast {url}: {why}; retrying in {retry} s");
        } else {
            tracing::warn!(
                "Icecast {url}: {why}; retrying in {retry} s (the radio's own listeners play on)"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => break,
        }
        backoff = (backoff * 2).min(LAST_RETRY);
    }
    link.set(Phase::Stopped, None);
}

/// One connection: the request head, Icecast's answer, then the air until the connection is
/// lost or the air ends.
async fn session(link: &Link, station: &Station, after_failure: bool) -> Result<Ended, Failed> {
    let t = &link.target;
    // An IPv6 host keeps its brackets in the URL and the Host header, not in the address.
    let host = t.host.trim_start_matches('[').trim_end_matches(']');
    let tcp = match tokio::time::timeout(ANSWER_TIMEOUT, TcpStream::connect((host, t.port))).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(Failed::Unreachable(format!("cannot connect: {e}"))),
        Err(_) => {
            return Err(Failed::Unreachable(format!(
                "no connection within {} s",
                ANSWER_TIMEOUT.as_secs()
            )));
        }
    };
    let _ = tcp.set_nodelay(true);
    let (mut rd, mut wr) = tcp.into_split();
    let head = request_head(t, station);
    let asked = async {
        wr.write_all(head.as_bytes()).await?;
        read_answer(&mut rd).await
    };
    let (status, early) = match tokio::time::timeout(ANSWER_TIMEOUT, asked).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Err(Failed::Unreachable(format!("no answer: {e}"))),
        Err(_) => {
            return Err(Failed::Unreachable(format!(
                "no answer within {} s (is it an Icecast server?)",
                ANSWER_TIMEOUT.as_secs()
            )));
        }
    };
    if !status.is_success() {
        let text = reason(&mut rd, early).await;
        return Err(Failed::Refused(status, refusal(status, &text)));
    }
    let Some(tuned) = station.tune_in() else {
        return Ok(Ended::Stopped);
    };
    link.connections.fetch_add(1, Ordering::Relaxed);
    link.set(Phase::Connected, None);
    if after_failure {
        // At warn, as the warnings about the outage were: whoever reads those sees it end.
        let again = if link.connections.load(Ordering::Relaxed) > 1 {
            " again"
        } else {
            ""
        };
        tracing::warn!("Icecast {t}: connected{again}, the mount is on the air");
    }

    // The burst first (Icecast's listeners start sooner), then the air block by block.
    let mut burst: VecDeque<Arc<Chunk>> = tuned.burst.into();
    let mut rx = tuned.rx;
    let mut scratch = [0u8; 256];
    let stall = station.config.backlog;
    loop {
        let chunk = match burst.pop_front() {
            Some(c) => c,
            None => tokio::select! {
                next = rx.recv() => match next {
                    Ok(c) => c,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Ok(Ended::Lost("the link fell too far behind the air".into()));
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(Ended::Stopped),
                },
                // Icecast says nothing once it has answered: a read returns only when it hangs
                // up, which is noticed here rather than at the next write.
                read = rd.read(&mut scratch) => match read {
                    Ok(0) => return Ok(Ended::Lost("Icecast closed it".into())),
                    Ok(_) => continue,
                    Err(e) => return Ok(Ended::Lost(e.to_string())),
                },
            },
        };
        // LAME holds its first frames back: a block may have none.
        if chunk.mp3.is_empty() {
            continue;
        }
        match tokio::time::timeout(stall, wr.write_all(&chunk.mp3)).await {
            Ok(Ok(())) => {
                link.sent_bytes
                    .fetch_add(chunk.mp3.len() as u64, Ordering::Relaxed);
            }
            Ok(Err(e)) => return Ok(Ended::Lost(e.to_string())),
            Err(_) => {
                return Ok(Ended::Lost(format!(
                    "Icecast took no audio for {} s",
                    stall.as_secs()
                )));
            }
        }
    }
}

/// The source request's head: `PUT` to the mount, with the credentials and what Icecast shows
/// of the stream (`Ice-Public: 0`: no listing in public directories). No `Content-Length` and
/// no `Transfer-Encoding`: the body is the stream, to the end of the connection, as Icecast's
/// own clients (libshout) send it.
fn request_head(t: &IcecastTarget, station: &Station) -> String {
    let credentials = base64(format!("{}:{}", t.user, t.password).as_bytes());
    // Header values are visible ASCII: a model's name is cut to that.
    let description: String = format!(
        "lofi generated live from raw waveforms by {}",
        station.model
    )
    .chars()
    .filter(|c| matches!(c, ' '..='~'))
    .collect();
    let kbps = station.config.bitrate_kbps;
    format!(
        "PUT {mount} HTTP/1.1\r\n\
         Host: {host}:{port}\r\n\
         Authorization: Basic {credentials}\r\n\
         User-Agent: lofigen/{version}\r\n\
         Content-Type: audio/mpeg\r\n\
         Ice-Public: 0\r\n\
         Ice-Name: lofigen radio\r\n\
         Ice-Description: {description}\r\n\
         Ice-Genre: lofi\r\n\
         Ice-Bitrate: {kbps}\r\n\
         Ice-Audio-Info: ice-samplerate={rate};ice-bitrate={kbps};ice-channels={channels}\r\n\
         \r\n",
        mount = t.mount,
        host = t.host,
        port = t.port,
        version = env!("CARGO_PKG_VERSION"),
        rate = station.sample_rate,
        channels = station.channels,
    )
}

/// Reads the answer's head (at most 8 KiB): its status, and any bytes of the body that came
/// with it.
async fn read_answer(rd: &mut OwnedReadHalf) -> std::io::Result<(StatusCode, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut part = [0u8; 1024];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > 8 * 1024 {
            return Err(std::io::Error::other("an answer head longer than 8 KiB"));
        }
        let n = rd.read(&mut part).await?;
        if n == 0 {
            return Err(std::io::Error::other("the server closed the connection"));
        }
        buf.extend_from_slice(&part[..n]);
    };
    // "HTTP/1.0 401 Authentication Required"
    let line = String::from_utf8_lossy(&buf[..end]);
    let line = line.lines().next().unwrap_or("");
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| {
            let shown: String = line.chars().take(60).collect();
            std::io::Error::other(format!("not an HTTP answer: {shown:?}"))
        })?;
    Ok((status, buf.split_off(end + 4)))
}

/// The first line of a refusal's body (Icecast says "Mountpoint in use" and the like), read
/// for at most two seconds and a kilobyte, from `early` (what came with the head) on.
async fn reason(rd: &mut OwnedReadHalf, mut early: Vec<u8>) -> String {
    let read = async {
        let mut part = [0u8; 256];
        while early.len() < 1024 && !early.contains(&b'\n') {
            match rd.read(&mut part).await {
                Ok(0) | Err(_) => break,
                Ok(n) => early.extend_from_slice(&part[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
    String::from_utf8_lossy(&early)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(200)
        .collect()
}

/// What a refusal means, in words, with what Icecast said (`text`).
fn refusal(status: StatusCode, text: &str) -> String {
    let code = status.as_u16();
    let name = status.canonical_reason().unwrap_or("");
    let said = if text.is_empty() {
        String::new()
    } else {
        format!(" ({text:?})")
    };
    match code {
        401 => format!(
            "{code} {name}{said}: wrong source user or password (Icecast's is its \
             <source-password>)"
        ),
        403 => format!(
            "{code} {name}{said}: another source is on this mount, or Icecast takes no more \
             sources"
        ),
        _ => format!("{code} {name}{said}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("source:pw", "c291cmNlOnB3"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn a_url_gives_host_port_mount_and_credentials() {
        let t = IcecastTarget::parse("http://source:p%40ss@127.0.0.1:8000/lofi.mp3", None).unwrap();
        assert_eq!(t.password, "p@ss");
        assert_eq!(t.to_string(), "http://source@127.0.0.1:8000/lofi.mp3");
        assert_eq!(
            format!("{t:?}"),
            "IcecastTarget(http://source@127.0.0.1:8000/lofi.mp3)"
        );
        assert_eq!(t.listen_url(), "http://127.0.0.1:8000/lofi.mp3");
        // The password from elsewhere when the URL has none; the URL's wins otherwise.
        let t = IcecastTarget::parse("http://radio.example:8000/a", Some("env")).unwrap();
        assert_eq!((t.user.as_str(), t.password.as_str()), ("source", "env"));
        let t = IcecastTarget::parse("http://u:url@[::1]/a", Some("env")).unwrap();
        assert_eq!((t.user.as_str(), t.password.as_str()), ("u", "url"));
        assert_eq!((t.host.as_str(), t.port), ("[::1]", 80));
    }

    #[test]
    fn a_bad_url_is_named_without_its_password() {
        for (url, says) in [
            ("ftp://source:secret@host:8000/a", "expected http://"),
            (
                "https://source:secret@host:8000/a",
                "https is not supported",
            ),
            ("http://source:secret@host:8000/", "no mount"),
            ("http://source:secret@host:8000", "no mount"),
            ("http://source:secret@host:8000/a?x=1", "no query"),
            ("http://host:8000/a", "no source password"),
            ("http://source:sec ret@host:8000/a", "not a URL"),
            ("http://source:%zz@host:8000/a", "percent-encoded"),
            ("lofi.mp3", "expected http://"),
        ] {
            let e = IcecastTarget::parse(url, None).unwrap_err().to_string();
            assert!(e.starts_with("--icecast"), "{e}");
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("secret") && !e.contains("sec ret"), "{e}");
            assert!(
                e.contains("host") || e.contains("lofi.mp3"),
                "names the value: {e}"
            );
        }
    }
}
