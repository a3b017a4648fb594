//! `lofigen analyze`: tempo, beats, downbeats, key and chords of audio files, as text, JSON and
//! one PNG per file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lofigen::corpus::find_audio_files;
use lofigen::music::{AnalysisReport, FileAnalysis, downbeat_phase};
use lofigen::plot::music_analysis;
use lofigen_audio::analysis::{MusicAnalysis, analyze_music};
use lofigen_audio::{Clip, load_mono_8k};

use crate::shared::short_name;

pub(crate) const ANALYZE_ABOUT: &str = "\
Analyse music: tempo, beats, downbeats, key and the chord of every bar.

Every file is decoded to 8 kHz mono (any format and rate lofigen reads). Per file it prints
  tempo        beats per minute, or \"no beat found\" (silence, noise, music in free time)
  beat str     how clearly the file has a beat, 0..1
  swing        how late the off 16ths fall, in 16ths (0 straight, 0.5 the most); a model
               trained on the file is given this feel
  downbeats    which of the first four beats starts a bar, and when the first bar starts
  key          e.g. \"D minor\", with the correlation of the chroma with the key's profile
  chords       the chord of each bar, eight bars a line (\"-\": no clear chord)
Bars are four beats long (4/4).

Writes <out>/analysis.json (beats, downbeats, bars with chords and levels) and, per file,
<out>/analysis-<N>-<name>.png: the onset envelope with beat ticks (downbeats red) above the
chromagram, each bar labelled with its chord.";

/// Bars per line of the printed chord chart.
const BARS_PER_LINE: usize = 8;

#[derive(Args, Debug)]
pub(crate) struct AnalyzeArgs {
    /// Audio files (or folders of them) to analyse.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Folder for analysis.json and the PNGs.
    #[arg(long, default_value = "analysis")]
    pub(crate) out: PathBuf,
    /// Where to write the JSON report (default: <out>/analysis.json).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
}

pub(crate) fn run(a: AnalyzeArgs) -> Result<()> {
    let files = find_audio_files(&a.files)?;
    if files.is_empty() {
        let list: Vec<String> = a.files.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "no audio files (mp3, wav, flac, ogg) found in {}",
            list.join(", ")
        );
    }
    // Every file is decoded before anything is written: a bad one stops the command early.
    let clips: Vec<(String, Clip)> = files
        .iter()
        .map(|path| {
            let (clip, _) = load_mono_8k(path)
                .with_context(|| format!("cannot read audio {}", path.display()))?;
            Ok((path.display().to_string(), clip))
        })
        .collect::<Result<_>>()?;

    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create folder {}", a.out.display()))?;
    let mut reports = Vec::new();
    let mut pngs = Vec::new();
    for (i, (name, clip)) in clips.iter().enumerate() {
        let analysis = analyze_music(clip).with_context(|| format!("cannot analyse {name}"))?;
        let report = FileAnalysis::new(name, &analysis);
        print!("{}", describe(name, &analysis, report.swing));
        let stem = Path::new(name)
            .file_stem()
            .map_or_else(|| "audio".into(), |s| s.to_string_lossy().into_owned());
        let png = a.out.join(format!("analysis-{}-{stem}.png", i + 1));
        music_analysis(
            &png,
            &format!("{}: musical analysis", short_name(name)),
            &analysis,
        )?;
        pngs.push(png);
        reports.push(report);
    }

    let json_path = a
        .json
        .clone()
        .unwrap_or_else(|| a.out.join("analysis.json"));
    let json = serde_json::to_string_pretty(&AnalysisReport::new(reports))?;
    lofigen::error::write_file(&json_path, (json + "\n").as_bytes())?;
    println!("wrote {}", json_path.display());
    for p in &pngs {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// The analysis of one file as a few aligned lines.
fn describe(name: &str, a: &MusicAnalysis, swing: Option<f64>) -> String {
    let mut out = format!("{} ({:.1} s)\n", short_name(name), a.duration_s);
    let tempo = match a.tempo {
        Some(t) => format!("{:.1} BPM (confidence {:.2})", t.bpm, t.confidence),
        None => "no beat found".to_string(),
    };
    out.push_str(&format!("  tempo      {tempo}\n"));
    out.push_str(&format!("  beat str   {:.2}\n", a.beat_strength));
    let swing = swing.map_or_else(
        || "-".to_string(),
        |s| format!("{s:.2} of a 16th (0: straight)"),
    );
    out.push_str(&format!("  swing      {swing}\n"));
    match (downbeat_phase(a), a.downbeats.first()) {
        (Some(p), Some(t)) => out.push_str(&format!(
            "  downbeats  beat {} of 4, first at {t:.2} s, {} bars\n",
            p + 1,
            a.bars.len()
        )),
        _ => out.push_str("  downbeats  -\n"),
    }
    let key = a.key.map_or_else(
        || "-".to_string(),
        |k| format!("{k} (r = {:.2})", k.correlation),
    );
    out.push_str(&format!("  key        {key}\n"));
    if a.bars.is_empty() {
        out.push_str("  chords     -\n");
    }
    let width = a.bars.len().to_string().len();
    let names: Vec<String> = a
        .bars
        .iter()
        .map(|b| b.chord.map_or_else(|| "-".to_string(), |c| c.to_string()))
        .collect();
    // One column width for the whole chart, so bars line up from line to line.
    let column = names.iter().map(String::len).max().unwrap_or(1);
    for (line, chords) in names.chunks(BARS_PER_LINE).enumerate() {
        let first = line * BARS_PER_LINE + 1;
        let last = first + chords.len() - 1;
        let cells: Vec<String> = chords.iter().map(|c| format!("{c:<column$}")).collect();
        let lead = if line == 0 { "chords" } else { "" };
        out.push_str(&format!(
            "  {lead:<9}  {first:>width$}-{last:<width$}  {}\n",
            cells.join(" ").trim_end()
        ));
    }
    out
}
