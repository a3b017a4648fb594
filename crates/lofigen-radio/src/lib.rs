//! lofigen's radio: one generator renders the finished sound ([`lofigen::runtime::Render`]),
//! which is encoded once (MP3 through LAME, and 16-bit PCM) and streamed over HTTP to any
//! number of listeners, with a page to listen in a browser.
//!
//! It stands beside the `lofigen` binary on the runtime API ([`Generator`], [`StreamOptions`])
//! and never reaches under it. Routes: `/` (the page), `/stream.mp3`, `/stream.wav`,
//! `POST /control`, `/status` (JSON), `/metrics` (Prometheus text).
//!
//! Past one process: [`Radio::icecast`] also sends the MP3 stream to an Icecast server as its
//! source, whose relays and mounts carry the listeners.
//!
//! MP3 because every browser plays it while it streams (an `<audio>` element pointed at an
//! endless HTTP response), and it is the internet-radio convention (Icecast, SHOUTcast):
//! any player or relay takes it. Ogg/Opus sounds better per bit, but Safari's `<audio>` does
//! not play it as an endless stream.

mod encode;
mod http;
mod icecast;
mod station;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lofigen::runtime::{FxPreset, Generator, StreamOptions};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

pub use encode::{BITRATES_KBPS, Mp3Encoder, mp3_frame_len, to_pcm16, wav_stream_header};
pub use icecast::{IcecastTarget, PASSWORD_ENV};
pub use station::{ControlRequest, NowPlaying, Refusal, Station, StationConfig};

/// What can stop a radio from starting.
#[derive(Debug, thiserror::Error)]
pub enum RadioError {
    /// The address cannot be listened on (in use, not this machine's, a privileged port).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// Some other system call failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A setting the radio cannot use.
    #[error("--{name}: {problem}")]
    Setting {
        /// The setting (as its command-line flag, without dashes).
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// LAME refused a setting or a block.
    #[error("the MP3 encoder (LAME) refused {what}: {problem}")]
    Encoder {
        /// What it was given.
        what: String,
        /// LAME's answer.
        problem: String,
    },
    /// Icecast refused the stream when the radio first connected: a wrong password, a mount in
    /// use. (Later refusals are retried: the server may be restarting.)
    #[error("Icecast at {url} refused the stream: {problem}")]
    IcecastRefused {
        /// The mount's URL, without the password.
        url: String,
        /// The HTTP status Icecast answered.
        status: u16,
        /// The status and what it means.
        problem: String,
    },
    /// The model could not be primed or rendered.
    #[error(transparent)]
    Runtime(#[from] lofigen::Error),
}

/// A radio bound to its address, not yet on the air.
pub struct Radio {
    listener: TcpListener,
    addr: SocketAddr,
    icecast: Option<IcecastTarget>,
}

impl Radio {
    /// Listens on `addr` (port 0: any free port): done before the model is primed, so that a
    /// port in use is reported at once.
    pub async fn bind(addr: SocketAddr) -> Result<Radio, RadioError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| RadioError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| RadioError::Bind { addr, source })?;
        Ok(Radio {
            listener,
            addr,
            icecast: None,
        })
    }

    /// Also sends the MP3 stream to `target`, an Icecast mount, as its source, from the first
    /// block on. When Icecast is down or drops the stream, the radio retries with backoff and
    /// its own listeners play on; `/status` and `/metrics` say where the link stands.
    pub fn icecast(mut self, target: IcecastTarget) -> Radio {
        self.icecast = Some(target);
        self
    }

    /// The address it listens on (with the port chosen when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Puts `generator` on the air (rendering with `opts`, effects `fx`) and serves listeners
    /// until `shutdown` completes; then drains: stops accepting, ends every stream, waits up
    /// to `drain` for the responses to finish, and returns. `on_air` hears the station once the
    /// model is primed and the first block is being rendered.
    ///
    /// With [`Self::icecast`], an error if Icecast refuses the stream at the first connection
    /// (the radio drains and stops then too).
    pub async fn serve(
        self,
        generator: Generator,
        opts: StreamOptions,
        fx: FxPreset,
        config: StationConfig,
        shutdown: impl Future<Output = ()>,
        on_air: impl FnOnce(&Arc<Station>),
    ) -> Result<(), RadioError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (station, thread) = Station::start(generator, opts, fx, config, stop_rx.clone())?;
        on_air(&station);
        let link = self.icecast.map(|t| Arc::new(icecast::Link::new(t)));
        let (refused_tx, refused_rx) = oneshot::channel();
        let source = link.clone().map(|link| {
            tokio::spawn(icecast::run(
                link,
                station.clone(),
                stop_rx.clone(),
                refused_tx,
            ))
        });
        let server = tokio::spawn(http::serve(
            self.listener,
            station.clone(),
            link,
            stop_rx,
            Duration::from_secs(3),
        ));
        let outcome = tokio::select! {
            _ = shutdown => Ok(()),
            // A link that ends without a refusal (or no link) does not stop the radio.
            Ok(refused) = refused_rx => Err(refused),
        };
        let _ = stop_tx.send(true);
        let _ = server.await;
        if let Some(source) = source {
            let _ = source.await;
        }
        // The pacer dropped its queue, so the generator's next send fails and it returns.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        outcome
    }
}

/// The page's address for `addr`, for messages.
pub fn page_url(addr: SocketAddr) -> String {
    http::url(addr)
}
