//! `lofigen prepare`: audio files to an 8 kHz mono corpus.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use lofigen::corpus::prepare;

use crate::progress;

#[derive(Args, Debug)]
pub(crate) struct PrepareArgs {
    /// Audio files or folders (walked recursively; a file's label is its folder's name).
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// Corpus folder to write.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Fail if any file could not be decoded (by default bad files are listed and skipped).
    #[arg(long)]
    pub(crate) strict: bool,
}

pub(crate) fn run(a: PrepareArgs) -> Result<()> {
    let mut bar = progress::PrepareBar::new();
    let report = prepare(&a.inputs, &a.out, &mut bar).context("preparing the corpus failed")?;
    bar.finish();
    let m = &report.manifest;
    for e in m
        .entries
        .iter()
        .filter(|e| e.truncated || e.skipped_packets > 0)
    {
        eprintln!(
            "warning: {} is damaged: decoded {:.1} s{}{}",
            e.source.display(),
            e.duration_secs,
            if e.truncated {
                ", the rest is cut off"
            } else {
                ""
            },
            if e.skipped_packets > 0 {
                format!(", {} bad packet(s) skipped", e.skipped_packets)
            } else {
                String::new()
            }
        );
    }
    if !report.failures.is_empty() {
        eprintln!("{} file(s) could not be prepared:", report.failures.len());
        for f in &report.failures {
            eprintln!("  {}", f.error);
        }
        if a.strict {
            // A strict corpus is all or nothing: take back what this run wrote, so that no
            // partial corpus is left looking complete.
            for e in &m.entries {
                let _ = std::fs::remove_file(a.out.join(&e.file));
            }
            let _ = std::fs::remove_file(a.out.join(lofigen::corpus::MANIFEST));
            bail!(
                "{} bad file(s) (--strict); nothing was kept in {}",
                report.failures.len(),
                a.out.display()
            );
        }
    }
    if m.entries.is_empty() {
        bail!("no audio could be prepared from the given inputs");
    }
    let minutes: f64 = m.entries.iter().map(|e| e.duration_secs).sum::<f64>() / 60.0;
    println!(
        "prepared {} file(s), {minutes:.1} min of 8 kHz mono audio, into {}",
        m.entries.len(),
        a.out.display()
    );
    Ok(())
}
