//! `lofigen radio`: the built binary serves on a free loopback port, and real HTTP clients (and
//! a real browser, when Chromium is installed) listen; with `--icecast`, a real Icecast server
//! (Debian's icecast2, which `scripts/setup.sh` installs) relays it. Every loop is bounded in
//! count and time.
//!
//! The tests take turns (one lock): each starts its own radio, and real-time rates are only
//! meaningful when the two cores are not shared with another radio.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lofigen_radio::mp3_frame_len;

static TURN: Mutex<()> = Mutex::new(());

/// MP3 at the default 128 kbit/s, bytes per second.
const MP3_BYTES_PER_S: f64 = 16_000.0;
/// 44.1 kHz stereo 16-bit, bytes per second.
const WAV_BYTES_PER_S: f64 = 176_400.0;

/// A `lofigen radio` child on a free port, killed when dropped.
struct Radio {
    child: Child,
    addr: SocketAddr,
    /// What it wrote on stderr so far (also echoed to the test's output).
    stderr: Arc<Mutex<String>>,
}

impl Radio {
    fn start(extra: &[&str]) -> Radio {
        Radio::start_with_env(extra, &[])
    }

    fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Radio {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lofigen"))
            .args(["radio", "--port", "0"])
            .args(extra)
            .env_remove("LOFIGEN_ICECAST_PASSWORD")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the lofigen binary runs");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        std::thread::spawn({
            let stderr = stderr.clone();
            move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    let mut s = stderr.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("lofigen radio prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("not an address line: {line:?}"))
            .parse()
            .unwrap();
        Radio {
            child,
            addr,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (at most `within`) until stderr has a line containing `needle`.
    fn wait_for_stderr(&self, needle: &str, within: Duration) {
        let start = Instant::now();
        while !self.stderr().contains(needle) {
            assert!(
                start.elapsed() < within,
                "no {needle:?} on stderr after {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most `within`) for the process to exit; its exit code.
    fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // The stderr reader drains what is left.
                std::thread::sleep(Duration::from_millis(200));
                return s.code();
            }
            assert!(
                start.elapsed() < within,
                "still running after {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        client().get(self.url(path)).send().unwrap()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").text().unwrap()).unwrap()
    }

    fn threads(&self) -> usize {
        proc_field(self.child.id(), "Threads:")
    }

    fn rss_kib(&self) -> usize {
        proc_field(self.child.id(), "VmRSS:")
    }
}

impl Drop for Radio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_field(pid: u32, key: &str) -> usize {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(None)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// What one listener read: the bytes, and the longest wait between two reads.
struct Heard {
    bytes: Vec<u8>,
    /// Bytes received after the first second (past the start burst), and over how long.
    steady_bytes: usize,
    steady_s: f64,
    longest_gap: Duration,
}

impl Heard {
    fn steady_rate(&self) -> f64 {
        self.steady_bytes as f64 / self.steady_s
    }
}

/// Reads `path` for `seconds`.
fn listen(radio_url: &str, seconds: f64) -> Heard {
    let mut r = client().get(radio_url).send().unwrap();
    assert!(r.status().is_success(), "{radio_url}: {}", r.status());
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut last = Instant::now();
    let mut longest_gap = Duration::ZERO;
    let mut at_1s = None;
    while start.elapsed().as_secs_f64() < seconds {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "{radio_url} ended after {} bytes", bytes.len());
        let now = Instant::now();
        longest_gap = longest_gap.max(now - last);
        last = now;
        bytes.extend_from_slice(&buf[..n]);
        if at_1s.is_none() && start.elapsed() >= Duration::from_secs(1) {
            at_1s = Some((bytes.len(), Instant::now()));
        }
    }
    let (b1, t1) = at_1s.unwrap();
    Heard {
        steady_bytes: bytes.len() - b1,
        steady_s: t1.elapsed().as_secs_f64(),
        bytes,
        longest_gap,
    }
}

/// The length of the MP3 frame whose header starts `h` (the crate's own reading of headers).
fn frame_len(h: &[u8]) -> Option<usize> {
    mp3_frame_len(h.get(..4)?.try_into().ok()?)
}

/// The number of whole frames `bytes` chains through from its first byte; panics where the
/// chain breaks.
fn count_frames(bytes: &[u8]) -> usize {
    let (mut at, mut n) = (0, 0);
    while at + 4 <= bytes.len() {
        let len = frame_len(&bytes[at..])
            .unwrap_or_else(|| panic!("no MP3 frame header at byte {at} of {}", bytes.len()));
        at += len;
        n += 1;
    }
    n
}

#[test]
fn the_mp3_and_wav_streams_flow_at_real_time_and_listeners_share_one_stream() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let radio = Radio::start(&[]);
    let mp3 = radio.url("/stream.mp3");
    let r = radio.get("/stream.mp3");
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    assert!(
        r.headers().get("content-length").is_none(),
        "an endless stream"
    );
    drop(r);

    // Two listeners, the second joining two seconds later.
    let first = std::thread::spawn({
        let mp3 = mp3.clone();
        move || listen(&mp3, 6.0)
    });
    std::thread::sleep(Duration::from_secs(2));
    let second = listen(&mp3, 3.0);
    let first = first.join().unwrap();
    for heard in [&first, &second] {
        // Frames from the very first byte, back to back (the sync word 0xFFE and more).
        assert!(count_frames(&heard.bytes) > 50);
        assert!(
            heard.steady_rate() >= 0.9 * MP3_BYTES_PER_S,
            "{:.0} bytes/s, below real time",
            heard.steady_rate()
        );
    }
    // The second listener's stream is the first's, from a common point on.
    let probe = &second.bytes[..4096];
    let at = first
        .bytes
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the second listener hears the first one's stream");
    let common = (first.bytes.len() - at).min(second.bytes.len());
    assert!(common > 30_000, "only {common} bytes in common");
    assert_eq!(first.bytes[at..at + common], second.bytes[..common]);

    // The WAV stream: a PCM header of unknown length, then stereo 16-bit at 44.1 kHz.
    let wav = listen(&radio.url("/stream.wav"), 3.0);
    let h = &wav.bytes[..44];
    assert_eq!(&h[0..4], b"RIFF");
    assert_eq!(&h[8..16], b"WAVEfmt ");
    assert_eq!(u16::from_le_bytes([h[20], h[21]]), 1, "PCM");
    assert_eq!(u16::from_le_bytes([h[22], h[23]]), 2, "stereo");
    assert_eq!(u32::from_le_bytes([h[24], h[25], h[26], h[27]]), 44_100);
    assert_eq!(u16::from_le_bytes([h[34], h[35]]), 16);
    assert_eq!(&h[36..40], b"data");
    assert!(
        wav.steady_rate() >= 0.9 * WAV_BYTES_PER_S,
        "{:.0} B/s",
        wav.steady_rate()
    );
    let pcm: Vec<i16> = wav.bytes[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let rms = (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
    assert!(rms > 100.0, "the WAV stream is near silence (rms {rms:.0})");
}

#[test]
fn status_metrics_and_the_page_say_what_plays() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let radio = Radio::start(&[]);
    std::thread::sleep(Duration::from_secs(2));
    let s = radio.status();
    for key in [
        "listeners",
        "uptime_s",
        "seconds_generated",
        "realtime_factor",
        "buffer_fill",
        "controls",
        "model",
    ] {
        assert!(s.get(key).is_some(), "/status lacks {key}: {s}");
    }
    assert_eq!(s["controls"]["fx"], "lofi");
    assert!(s["seconds_generated"].as_f64().unwrap() > 1.0, "{s}");
    assert!(s["realtime_factor"].as_f64().unwrap() > 1.0, "{s}");
    assert!(s["attribution"].as_str().unwrap().contains("K-Pone"), "{s}");
    assert!(s["model"].as_str().unwrap().contains("bundled"), "{s}");
    assert!(s["icecast"].is_null(), "no --icecast, no link: {s}");

    let m = radio.get("/metrics");
    assert!(
        m.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = m.text().unwrap();
    for line in [
        "# TYPE lofigen_radio_listeners gauge",
        "lofigen_radio_listeners 0",
        "# TYPE lofigen_radio_generated_seconds_total counter",
        "lofigen_radio_realtime_factor ",
        "lofigen_radio_sent_bytes_total{format=\"mp3\"} ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "/metrics lacks {line:?}:\n{text}"
        );
    }
    assert!(!text.contains("icecast"), "no --icecast, no link metrics");

    let page = radio.get("/").text().unwrap();
    for element in [
        "id=\"play\"",
        "id=\"volume\"",
        "id=\"fx\"",
        "id=\"bpm\"",
        "id=\"chords\"",
        "id=\"swing\"",
        "id=\"now-playing\"",
        "id=\"attribution\"",
        "<canvas id=\"spectrogram\"",
        "<audio id=\"player\"",
        "src=\"/radio.js\"",
    ] {
        assert!(page.contains(element), "the page lacks {element}");
    }
    let js = radio.get("/radio.js").text().unwrap();
    assert!(
        js.contains("createAnalyser"),
        "the spectrogram reads the audio"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from a CDN"
    );
}

#[test]
fn bad_controls_and_huge_bodies_get_4xx_with_a_message_and_the_stream_flows_on() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let radio = Radio::start(&[]);
    let listener = std::thread::spawn({
        let url = radio.url("/stream.mp3");
        move || listen(&url, 8.0)
    });
    let c = client();
    let form = |body: &str| {
        c.post(radio.url("/control"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let json = |body: &str| {
        c.post(radio.url("/control"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    for (r, names) in [
        (form("bpm=abc"), "abc"),
        (form("fx=disco"), "disco"),
        (json(r#"{"fx": "disco"}"#), "disco"),
        (json(r#"{"swing": [1, 2]}"#), "swing"),
        (json("{not json"), "JSON"),
        (form("volume=11"), "volume"),
        (form(""), "nothing to change"),
        // Musical controls are checked by the runtime, which names the bad value.
        (form("chords=H%23m7%20zz"), "H#m7"),
        (form("bpm=900"), "900"),
        (json(r#"{"groove": "polka-stomp"}"#), "polka-stomp"),
        (form("guidance=rhythm%3D11"), "rhythm=11"),
        (form("guidance=bass%3D2"), "bass"),
    ] {
        let status = r.status();
        let text = r.text().unwrap();
        assert!(status.is_client_error(), "{status} for {names}: {text}");
        assert!(
            text.contains(names),
            "the message does not name {names:?}: {text}"
        );
    }
    // Raw HTTP, so that the answer is read whatever the timing: a client still writing when
    // the server answers and closes could meet a broken pipe, as HTTP allows. Each request
    // sends no byte the server does not read, so the close is clean.
    let post_raw = |head: &str, body: &[u8]| {
        let mut raw = TcpStream::connect(radio.addr).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            raw,
            "POST /control HTTP/1.1\r\nHost: radio\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n{head}\r\n"
        )
        .unwrap();
        raw.write_all(body).unwrap();
        let mut answer = String::new();
        raw.read_to_string(&mut answer).expect("an answer");
        answer
    };
    // Ten megabytes announced: refused from the header, before any of it is sent.
    let answer = post_raw(&format!("Content-Length: {}\r\n", 10 << 20), b"");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("limited to 16 KiB"), "{answer}");
    // A body of unknown length is cut at the limit as it streams in: one chunk a byte over.
    let mut over = b"4001\r\n".to_vec();
    over.extend(vec![b'a'; 16 * 1024 + 1]);
    let answer = post_raw("Transfer-Encoding: chunked\r\n", &over);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A good change is taken, and says what now plays.
    let r = form("fx=tape");
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(radio.status()["controls"]["fx"], "tape");
    let r = json(r#"{"fx": "vinyl"}"#);
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(radio.status()["controls"]["fx"], "vinyl");
    // Tempo and chords (the bundled model has controls): taken at the next bar, and a later
    // change of one keeps the other.
    let r = form("bpm=92&chords=Dm7%20G7%20Cmaj7");
    assert!(
        r.status().is_success(),
        "{}: {}",
        r.status(),
        r.text().unwrap()
    );
    let r = form("swing=0.2");
    assert!(r.status().is_success(), "{}", r.status());
    let controls = &radio.status()["controls"];
    assert_eq!(controls["bpm"], 92.0, "{controls}");
    assert_eq!(controls["chords"], "Dm7 G7 Cmaj7", "{controls}");
    assert!(controls["music_controls"].as_bool().unwrap(), "{controls}");
    assert_eq!(
        controls["guidance"], "rhythm=3,harmony=5,loudness=1",
        "the default, reported: {controls}"
    );
    let r = json(r#"{"guidance": 1.5}"#);
    assert!(r.status().is_success(), "{}", r.status());
    let controls = &radio.status()["controls"];
    assert_eq!(controls["guidance"], "rhythm=1.5,harmony=1.5,loudness=1.5");
    assert_eq!(
        controls["bpm"], 92.0,
        "guidance keeps the tempo: {controls}"
    );

    let heard = listener.join().unwrap();
    assert!(count_frames(&heard.bytes) > 200);
    assert!(
        heard.steady_rate() >= 0.9 * MP3_BYTES_PER_S,
        "{:.0} B/s",
        heard.steady_rate()
    );
    assert!(
        heard.longest_gap < Duration::from_millis(1500),
        "{:?}",
        heard.longest_gap
    );
}

#[test]
fn a_listener_that_stops_reading_is_dropped_and_never_stalls_another() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let radio = Radio::start(&[]);
    // A listener that asks for the WAV stream (176 kB/s) and never reads a byte.
    let mut stalled = TcpStream::connect(radio.addr).unwrap();
    write!(stalled, "GET /stream.wav HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(radio.status()["listeners"], 1);
    let heard = listen(&radio.url("/stream.wav"), 16.0);
    assert!(
        heard.steady_rate() >= 0.9 * WAV_BYTES_PER_S,
        "{:.0} B/s",
        heard.steady_rate()
    );
    assert!(
        heard.longest_gap < Duration::from_millis(1500),
        "{:?}",
        heard.longest_gap
    );
    // By now the stalled one is far more than the backlog (8 s) behind, and was let go (and the
    // reader above has hung up: the server notices at its next block).
    std::thread::sleep(Duration::from_secs(1));
    let s = radio.status();
    assert_eq!(s["listeners"], 0, "{s}");
    assert!(s["dropped_slow_listeners"].as_u64().unwrap() >= 1, "{s}");
}

#[test]
fn connect_disconnect_cycles_leak_no_threads_and_many_listeners_keep_real_time() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let radio = Radio::start(&[]);
    let cycle = |n: usize| {
        for _ in 0..n {
            let mut r = client().get(radio.url("/stream.mp3")).send().unwrap();
            let mut buf = [0u8; 1024];
            r.read_exact(&mut buf).unwrap();
        }
    };
    cycle(5);
    std::thread::sleep(Duration::from_secs(1));
    let (threads, rss) = (radio.threads(), radio.rss_kib());
    let start = Instant::now();
    cycle(100);
    assert!(start.elapsed() < Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        radio.threads(),
        threads,
        "threads after 100 listeners came and went"
    );
    assert!(
        radio.rss_kib() < rss + 20 * 1024,
        "RSS grew from {rss} to {} KiB",
        radio.rss_kib()
    );
    assert_eq!(radio.status()["listeners"], 0);

    // Twenty listeners for ten seconds, each at real time without a gap.
    let url = radio.url("/stream.mp3");
    let all: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || listen(&url, 10.0))
        })
        .collect();
    for (i, h) in all.into_iter().enumerate() {
        let heard = h.join().unwrap();
        assert!(
            heard.steady_rate() >= 0.9 * MP3_BYTES_PER_S,
            "listener {i}: {:.0} B/s",
            heard.steady_rate()
        );
        assert!(
            heard.longest_gap < Duration::from_millis(1500),
            "listener {i}: {:?}",
            heard.longest_gap
        );
    }
    assert_eq!(radio.threads(), threads);
}

#[test]
fn sigterm_drains_and_exits_zero_and_a_port_in_use_is_a_clear_error() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let mut radio = Radio::start(&[]);
    // A second radio on the same port fails at once, naming the address.
    let out = Command::new(env!("CARGO_BIN_EXE_lofigen"))
        .args(["radio", "--port", &radio.addr.port().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&radio.addr.to_string()), "{err}");
    assert!(err.contains("cannot listen on"), "{err}");

    // A listener is connected when SIGTERM comes: its stream ends, the radio exits 0.
    let mut r = client().get(radio.url("/stream.mp3")).send().unwrap();
    let mut buf = [0u8; 4096];
    r.read_exact(&mut buf).unwrap();
    let kill = Command::new("kill")
        .args(["-TERM", &radio.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let start = Instant::now();
    let code = loop {
        if let Some(s) = radio.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code.code(), Some(0), "exit status after SIGTERM");
    // The stream ended cleanly (the chunked body's end), rather than hanging.
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert!(TcpStream::connect_timeout(&radio.addr, Duration::from_secs(1)).is_err());
}

/// Where a stream of MP3 frames starts in `bytes` (a relay may start a listener mid-frame),
/// and how many whole frames follow back to back from there; panics where the chain breaks.
fn sync_frames(bytes: &[u8]) -> (usize, usize) {
    let chains = |from: usize| {
        let mut at = from;
        for _ in 0..3 {
            match bytes.get(at..).and_then(frame_len) {
                Some(len) => at += len,
                None => return false,
            }
        }
        true
    };
    let start = (0..bytes.len().min(4096))
        .find(|&i| chains(i))
        .expect("three MP3 frames in a row within the first 4 KiB");
    (start, count_frames(&bytes[start..]))
}

/// Debian's Icecast server, run as this user on a loopback port from a config in a temporary
/// folder; killed when dropped.
struct Icecast {
    child: Child,
    port: u16,
    /// Its config and logs, removed when dropped.
    _dir: tempfile::TempDir,
}

/// The source password the tests' Icecast servers take.
const ICECAST_PASSWORD: &str = "hush-4711";

impl Icecast {
    fn start(port: u16) -> Icecast {
        let binary = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join("icecast2"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "icecast2 is not installed: run scripts/setup.sh (it installs Debian's \
                     icecast2, which the --icecast tests relay the radio through)"
                )
            });
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("log");
        std::fs::create_dir(&logs).unwrap();
        // Icecast refuses to run as root unless told to drop to another user, who must then
        // be able to write its logs (containers and CI often run tests as root).
        let root = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self").unwrap().uid() == 0
        };
        let change_owner = if root {
            use std::os::unix::fs::PermissionsExt;
            let open = |p: &std::path::Path, mode| {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
            };
            open(dir.path(), 0o755);
            open(&logs, 0o777);
            "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
        } else {
            ""
        };
        let config = dir.path().join("icecast.xml");
        std::fs::write(
            &config,
            format!(
                "<icecast>\n\
                 <location>loopback</location><admin>test@localhost</admin>\n\
                 <hostname>127.0.0.1</hostname>\n\
                 <limits><sources>4</sources></limits>\n\
                 <authentication><source-password>{ICECAST_PASSWORD}</source-password>\
                 <admin-user>admin</admin-user><admin-password>{ICECAST_PASSWORD}</admin-password>\
                 </authentication>\n\
                 <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address>\
                 </listen-socket>\n\
                 <paths><logdir>{}</logdir></paths>\n\
                 <logging><errorlog>error.log</errorlog><accesslog>access.log</accesslog>\
                 <loglevel>3</loglevel></logging>\n\
                 <security><chroot>0</chroot>{change_owner}</security>\n\
                 </icecast>\n",
                logs.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", binary.display()));
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let said = || {
                let read =
                    |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
                format!("{}{}", read("stderr.txt"), read("log/error.log"))
            };
            if let Some(code) = child.try_wait().unwrap() {
                panic!("icecast2 exited ({code}) at start:\n{}", said());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "icecast2 does not listen on {port} after 20 s:\n{}",
                said()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Icecast {
            child,
            port,
            _dir: dir,
        }
    }

    /// The `--icecast` URL for `mount`, with `password` in it (or none).
    fn source_url(&self, password: Option<&str>, mount: &str) -> String {
        match password {
            Some(p) => format!("http://source:{p}@127.0.0.1:{}{mount}", self.port),
            None => format!("http://source@127.0.0.1:{}{mount}", self.port),
        }
    }

    fn url(&self, mount: &str) -> String {
        format!("http://127.0.0.1:{}{mount}", self.port)
    }
}

impl Drop for Icecast {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Polls `/status` until its `icecast` object satisfies `ok` (at most `within`); that object.
fn wait_for_link(
    radio: &Radio,
    within: Duration,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let link = radio.status()["icecast"].clone();
        if ok(&link) {
            return link;
        }
        assert!(
            start.elapsed() < within,
            "the Icecast link is not {what} after {within:?}: {link}\n{}",
            radio.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_icecast_mount_relays_the_stations_mp3_at_real_time_and_a_second_source_is_refused() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let ice = Icecast::start(free_port());
    let radio = Radio::start(&[
        "--icecast",
        &ice.source_url(Some(ICECAST_PASSWORD), "/lofi.mp3"),
    ]);
    let link = wait_for_link(&radio, Duration::from_secs(20), "connected", |l| {
        l["state"] == "connected"
    });
    assert_eq!(link["url"], ice.source_url(None, "/lofi.mp3"), "{link}");
    assert_eq!(link["connections"], 1, "{link}");

    // A listener of the radio itself and one of the Icecast mount, at the same time.
    let local = std::thread::spawn({
        let url = radio.url("/stream.mp3");
        move || listen(&url, 8.0)
    });
    std::thread::sleep(Duration::from_millis(500));
    let mount = ice.url("/lofi.mp3");
    let r = client().get(&mount).send().unwrap();
    assert!(r.status().is_success(), "{mount}: {}", r.status());
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    // Icecast hands the source's Ice-Name on as icy-name.
    assert_eq!(r.headers()["icy-name"], "lofigen radio");
    drop(r);
    let sent_before = (Instant::now(), link_sent(&radio));
    let relayed = listen(&mount, 6.0);
    let sent_rate =
        (link_sent(&radio) - sent_before.1) as f64 / sent_before.0.elapsed().as_secs_f64();
    let local = local.join().unwrap();

    // Whole MP3 frames back to back (no chunk framing or other bytes between them), at real
    // time past Icecast's start burst.
    let (offset, frames) = sync_frames(&relayed.bytes);
    assert!(offset < 1500, "the first frame starts at byte {offset}");
    assert!(frames > 150, "{frames} frames in 6 s");
    let rate = relayed.steady_rate();
    assert!(
        (0.9 * MP3_BYTES_PER_S..1.3 * MP3_BYTES_PER_S).contains(&rate),
        "Icecast's listener got {rate:.0} B/s"
    );
    assert!(
        relayed.longest_gap < Duration::from_millis(1500),
        "{:?}",
        relayed.longest_gap
    );
    assert!(
        (0.8 * MP3_BYTES_PER_S..1.25 * MP3_BYTES_PER_S).contains(&sent_rate),
        "/status counts {sent_rate:.0} B/s sent to Icecast"
    );
    // The very bytes the radio's own listener got: one encoding, two outlets.
    let n = relayed.bytes.len();
    let probe = &relayed.bytes[n - 24_000..n - 20_000];
    assert!(
        local.bytes.windows(probe.len()).any(|w| w == probe),
        "Icecast's listener hears a stream the radio's own listener does not"
    );

    let metrics = radio.get("/metrics").text().unwrap();
    for line in [
        "lofigen_radio_icecast_connected 1",
        "lofigen_radio_icecast_connections_total 1",
        "lofigen_radio_icecast_failures_total 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?}:\n{metrics}"
        );
    }

    // A second radio on the mount that is in use is turned away, and says why.
    let mut second = Radio::start(&[
        "--icecast",
        &ice.source_url(Some(ICECAST_PASSWORD), "/lofi.mp3"),
    ]);
    assert_eq!(second.exit_code(Duration::from_secs(30)), Some(1));
    let err = second.stderr();
    assert!(err.contains("403 Forbidden"), "{err}");
    assert!(err.contains("Mountpoint in use"), "{err}");
    assert!(err.contains(&ice.source_url(None, "/lofi.mp3")), "{err}");
    assert!(!err.contains(ICECAST_PASSWORD), "the password shows: {err}");
    // And the first one plays on.
    assert_eq!(radio.status()["icecast"]["state"], "connected");
}

/// MP3 bytes `/status` says went to Icecast.
fn link_sent(radio: &Radio) -> u64 {
    radio.status()["icecast"]["sent_bytes"].as_u64().unwrap()
}

#[test]
fn a_wrong_icecast_password_or_url_is_a_clear_error_that_hides_the_password() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // Bad URLs are refused before anything loads, naming the value (its password masked).
    for (url, says) in [
        (
            "ftp://source:sesame@127.0.0.1:8000/lofi.mp3",
            "expected http://",
        ),
        ("http://source:sesame@127.0.0.1:8000/", "no mount"),
        ("http://127.0.0.1:8000/lofi.mp3", "LOFIGEN_ICECAST_PASSWORD"),
        ("http://source:ses ame@127.0.0.1:8000/lofi.mp3", "not a URL"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lofigen"))
            .args(["radio", "--port", "0", "--icecast", url])
            .env_remove("LOFIGEN_ICECAST_PASSWORD")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {err}");
        assert!(out.stdout.is_empty(), "{url}: it started");
        assert!(err.contains("--icecast"), "{url}: {err}");
        assert!(err.contains(says), "{url}: {err}");
        assert!(err.contains("127.0.0.1:8000"), "{url}: not named: {err}");
        assert!(!err.contains("sesame") && !err.contains("ses ame"), "{err}");
    }

    // A password Icecast does not take: the radio says so, naming the mount, and exits 1.
    let ice = Icecast::start(free_port());
    let mut radio = Radio::start(&[
        "--icecast",
        &ice.source_url(Some("wrong-9931"), "/lofi.mp3"),
    ]);
    assert_eq!(radio.exit_code(Duration::from_secs(30)), Some(1));
    let err = radio.stderr();
    assert!(err.contains("401 Unauthorized"), "{err}");
    assert!(err.contains("wrong source user or password"), "{err}");
    assert!(err.contains(&ice.source_url(None, "/lofi.mp3")), "{err}");
    assert!(!err.contains("wrong-9931"), "the password shows: {err}");
    // The same through the environment.
    let mut radio = Radio::start_with_env(
        &["--icecast", &ice.source_url(None, "/lofi.mp3")],
        &[("LOFIGEN_ICECAST_PASSWORD", "wrong-9931")],
    );
    assert_eq!(radio.exit_code(Duration::from_secs(30)), Some(1));
    assert!(
        radio.stderr().contains("401 Unauthorized"),
        "{}",
        radio.stderr()
    );
}

#[test]
fn icecast_down_and_back_is_retried_while_the_radios_own_listeners_play_on() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let source_url = format!("http://source@127.0.0.1:{port}/lofi.mp3");
    // The password from the environment, as --help suggests (it stays out of `ps`).
    let radio = Radio::start_with_env(
        &["--icecast", &source_url],
        &[("LOFIGEN_ICECAST_PASSWORD", ICECAST_PASSWORD)],
    );
    let local = std::thread::spawn({
        let url = radio.url("/stream.mp3");
        move || listen(&url, 16.0)
    });
    // No Icecast yet: the link retries.
    let link = wait_for_link(&radio, Duration::from_secs(10), "retrying", |l| {
        l["state"] == "retrying"
    });
    assert!(
        link["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{link}"
    );
    assert_eq!(
        radio
            .get("/metrics")
            .text()
            .unwrap()
            .lines()
            .find(|l| l.starts_with("lofigen_radio_icecast_connected ")),
        Some("lofigen_radio_icecast_connected 0")
    );

    // Icecast comes up: the link finds it within the backoff.
    let ice = Icecast::start(port);
    wait_for_link(&radio, Duration::from_secs(20), "connected", |l| {
        l["state"] == "connected"
    });
    std::thread::sleep(Duration::from_secs(2));
    let sent = link_sent(&radio);
    assert!(sent > 16_000, "{sent} bytes sent in 2 s connected");

    // Icecast dies: the link notices, says so, and retries.
    drop(ice);
    wait_for_link(&radio, Duration::from_secs(5), "retrying", |l| {
        l["state"] == "retrying"
    });
    // The state is set before the line is written: the line may come a moment later.
    radio.wait_for_stderr(
        &format!("Icecast {source_url}: the connection was lost"),
        Duration::from_secs(5),
    );
    let err = radio.stderr();
    assert!(!err.contains(ICECAST_PASSWORD), "the password shows: {err}");

    // It comes back: the link reconnects, and Icecast's listeners hear the station again.
    std::thread::sleep(Duration::from_secs(1));
    let ice = Icecast::start(port);
    let link = wait_for_link(&radio, Duration::from_secs(25), "connected again", |l| {
        l["state"] == "connected"
    });
    assert_eq!(link["connections"], 2, "{link}");
    assert!(link["failures"].as_u64().unwrap() >= 2, "{link}");
    radio.wait_for_stderr("connected again", Duration::from_secs(5));
    let relayed = listen(&ice.url("/lofi.mp3"), 3.0);
    let (_, frames) = sync_frames(&relayed.bytes);
    assert!(frames > 50, "{frames} frames in 3 s");

    // The radio's own listener heard real time without a gap through it all.
    let local = local.join().unwrap();
    assert!(
        local.steady_rate() >= 0.9 * MP3_BYTES_PER_S,
        "{:.0} B/s",
        local.steady_rate()
    );
    assert!(
        local.longest_gap < Duration::from_millis(1500),
        "{:?}",
        local.longest_gap
    );
    count_frames(&local.bytes);
}

/// One WebDriver command (the W3C wire protocol: JSON over HTTP to chromedriver).
fn webdriver(
    c: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let mut req = c.request(method.clone(), url);
    if method == reqwest::Method::POST {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let text = req.send().unwrap().text().unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["value"].get("error").is_none(), "WebDriver {url}: {text}");
    v["value"].clone()
}

#[test]
fn a_browser_plays_the_page_and_its_analyser_hears_sound() {
    let (chromium, driver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
    if !std::path::Path::new(chromium).exists() || !std::path::Path::new(driver).exists() {
        eprintln!(
            "skipped: {chromium} or {driver} is not installed (scripts/setup.sh installs them)"
        );
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let radio = Radio::start(&[]);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut chromedriver = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _driver = Kill(&mut chromedriver);
    let wd = format!("http://127.0.0.1:{port}");
    let c = client();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let session = webdriver(
        &c,
        reqwest::Method::POST,
        &format!("{wd}/session"),
        serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--window-size=860,1000", "--autoplay-policy=no-user-gesture-required"]
            }
        }}}),
    );
    let id = session["sessionId"].as_str().unwrap().to_string();
    let s = format!("{wd}/session/{id}");
    let post = |path: &str, body: serde_json::Value| {
        webdriver(&c, reqwest::Method::POST, &format!("{s}{path}"), body)
    };
    let run = |script: &str| {
        post(
            "/execute/sync",
            serde_json::json!({"script": script, "args": []}),
        )
    };
    post("/url", serde_json::json!({"url": radio.url("/")}));
    let play = post(
        "/element",
        serde_json::json!({"using": "css selector", "value": "#play"}),
    );
    let element = play
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    post(&format!("/element/{element}/click"), serde_json::json!({}));
    // The audio clock advances and the analyser sees sound.
    let start = Instant::now();
    let (mut time, mut level) = (0.0, 0.0);
    while start.elapsed() < Duration::from_secs(30) {
        let v = run("return [document.getElementById('player').currentTime, window.radioLevel()];");
        time = v[0].as_f64().unwrap();
        level = v[1].as_f64().unwrap();
        if time > 3.0 && level > 0.01 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let now_playing = run("return document.getElementById('now-playing').textContent;");
    let listeners = radio.status()["listeners"].clone();
    if let Ok(path) = std::env::var("LOFIGEN_RADIO_SCREENSHOT") {
        // A canvas full of spectrogram for the README's picture.
        std::thread::sleep(Duration::from_secs(6));
        use base64_png::decode;
        let png = webdriver(
            &c,
            reqwest::Method::GET,
            &format!("{s}/screenshot"),
            serde_json::json!({}),
        );
        std::fs::write(path, decode(png.as_str().unwrap())).unwrap();
    }
    let _ = c.delete(&s).send();
    assert!(time > 3.0, "the audio clock stood at {time} s");
    assert!(level > 0.01, "the analyser heard silence (peak {level})");
    assert!(
        now_playing.as_str().unwrap().contains("lofi effects"),
        "{now_playing}"
    );
    assert_eq!(listeners, 1, "the page is one listener");
}

/// Base64 decoding for the screenshot, without another dependency.
mod base64_png {
    pub fn decode(s: &str) -> Vec<u8> {
        let value = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'+' => 62,
                b'/' => 63,
                _ => 0,
            }
        };
        let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        let mut out = Vec::with_capacity(clean.len() * 3 / 4);
        for quad in clean.chunks(4) {
            let pad = quad.iter().filter(|&&c| c == b'=').count();
            let n = quad.iter().fold(0u32, |acc, &c| {
                (acc << 6) | if c == b'=' { 0 } else { value(c) }
            });
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..3 - pad]);
        }
        out
    }
}
