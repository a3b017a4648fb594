//! `lofigen radio`: the bundled model (or a run), finished through the effects chain and
//! streamed over HTTP to a browser page and any number of listeners (`lofigen_radio`), and with
//! `--icecast` to an Icecast server as its source.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use lofigen::runtime::{FxPreset, Generator};
use lofigen_radio::{BITRATES_KBPS, IcecastTarget, PASSWORD_ENV, Radio, StationConfig};

use crate::shared::{PlayPrecision, SamplingArgs, describe_output, parse_fx};

#[derive(Args, Debug)]
pub(crate) struct RadioArgs {
    /// TCP port to listen on (0: any free port; the address is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on: 127.0.0.1 keeps it on this machine, 0.0.0.0 opens it to the
    /// network.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// A trained run to play instead of the bundled model.
    #[arg(long)]
    run: Option<PathBuf>,
    /// Effects chain to start with: lofi, clean, tape, vinyl or none (the page switches it).
    #[arg(long, default_value = "lofi", value_parser = parse_fx)]
    fx: FxPreset,
    /// Output sample rate, Hz: 44100 or 48000.
    #[arg(long, default_value = "44100", value_parser = parse_radio_rate)]
    rate: u32,
    /// MP3 bit rate, kbit/s (constant): 64, 80, 96, 112, 128, 160, 192, 256 or 320.
    #[arg(long, default_value_t = 128, value_parser = parse_bitrate)]
    bitrate: u32,
    #[command(flatten)]
    precision: PlayPrecision,
    /// Also send the stream to an Icecast server as its source:
    /// http://source:PASSWORD@HOST:PORT/MOUNT (the password is Icecast's <source-password>;
    /// percent-encode any @ : / in it). To keep the password out of `ps`, leave it out of the URL
    /// and set LOFIGEN_ICECAST_PASSWORD. If Icecast is down or drops the stream, the radio
    /// retries with backoff and its own listeners play on; a wrong password or a mount in use
    /// at the first connection stops it with the reason.
    #[arg(long, value_name = "URL")]
    icecast: Option<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

fn parse_radio_rate(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(hz @ (44_100 | 48_000)) => Ok(hz),
        _ => Err(format!(
            "{s:?} is not a radio rate (valid: 44100, 48000; MP3 streams stereo at these)"
        )),
    }
}

fn parse_bitrate(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(k) if BITRATES_KBPS.contains(&k) => Ok(k),
        _ => Err(format!(
            "{s:?} is not an MP3 bit rate (valid: {BITRATES_KBPS:?})"
        )),
    }
}

pub(crate) fn run(a: RadioArgs) -> Result<()> {
    // Read before anything loads: a bad URL is reported at once.
    let icecast = match &a.icecast {
        Some(url) => Some(IcecastTarget::parse(
            url,
            std::env::var(PASSWORD_ENV).ok().as_deref(),
        )?),
        None => None,
    };
    let mut opts = a.sampling.stream_options(None, a.precision.get())?;
    opts.fx = a.fx.settings();
    opts.rate = a.rate;
    opts.fx
        .validate(a.rate)
        .with_context(|| format!("--fx {} cannot run at --rate {}", a.fx, a.rate))?;
    let config = StationConfig {
        bitrate_kbps: a.bitrate,
        ..StationConfig::default()
    };
    // Two workers: the streams are I/O; the one generator has its own thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("radio-io")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let addr = SocketAddr::new(a.bind, a.port);
    let result = rt.block_on(async {
        // Bound before the model loads: a port in use is reported at once.
        let mut radio = Radio::bind(addr).await?;
        if let Some(target) = &icecast {
            radio = radio.icecast(target.clone());
        }
        let generator = match &a.run {
            Some(run) => Generator::from_run(run)?,
            None => Generator::bundled()?,
        };
        let bound = radio.local_addr();
        let sound = describe_output(a.rate, 2, a.fx);
        let name = generator.name();
        let attribution = generator.attribution();
        radio
            .serve(generator, opts, a.fx, config, shutdown_signal(), |_| {
                // The first line on stdout is the address: scripts and tests read it.
                println!("listening on {}", lofigen_radio::page_url(bound));
                eprintln!(
                    "playing {name} as {sound}, MP3 {} kbit/s: open the address in a browser, \
                     or stream {}stream.mp3 (or stream.wav); Ctrl-C stops",
                    a.bitrate,
                    lofigen_radio::page_url(bound)
                );
                if let Some(target) = &icecast {
                    eprintln!(
                        "sending it to Icecast at {target} (its listeners tune in to {}); \
                         /status says whether the link is up",
                        target.listen_url()
                    );
                }
                if let Some(notice) = attribution {
                    eprintln!("{notice}");
                }
            })
            .await?;
        eprintln!("stopped: every listener was let go");
        Ok::<(), anyhow::Error>(())
    });
    // Stray tasks (a watchdog's last tick) must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// Ctrl-C or SIGTERM: what asks the radio to drain and stop.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    eprintln!("stopping: ending the streams");
}
