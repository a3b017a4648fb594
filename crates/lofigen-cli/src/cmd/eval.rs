//! `lofigen eval`: generated audio measured against real audio.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lofigen::corpus::find_audio_files;
use lofigen::eval::evaluate_with;
use lofigen::generate::genre_index;
use lofigen::music::MusicTarget;
use lofigen::plot::spectrograms;
use lofigen::run::RunDir;
use lofigen::runtime::{DEFAULT_GUIDANCE, Guidance};
use lofigen_audio::analysis::parse_progression;
use lofigen_audio::analysis::tempo::{MAX_BPM, MIN_BPM};
use lofigen_audio::measures::spectrogram;
use lofigen_audio::{Clip, load_mono_8k};

use lofigen::table::{Table, opt};

use crate::shared::{parse_guidance, short_name};

pub(crate) const EVAL_ABOUT: &str = "\
Measure generated audio against real reference audio.

Every file is decoded to 8 kHz mono and loudness-normalised, so level does not decide the spectral
measures. Per generated file (and for the reference set, for scale):
  spectrum dB   RMS difference (dB) between long-term average spectra; lower is closer
  MFCC FD       Frechet distance between Gaussians fitted to per-frame MFCCs; lower is closer
  flatness      spectral flatness: white noise ~0.94, a pure tone ~0
  tonal         share of energy in the strongest narrow band: a stuck tone ~1
  dyn dB        spread (standard deviation) of frame levels, dB
  contrast dB   spread of each mel band's level, averaged over bands: notes and hits that come
                and go; a steady wash of sound (or noise, ~1.5) stays low
  silence       fraction of frames below -60 dBFS
  clipped       fraction of samples at full scale
  NLL bits      with --run of a WaveNet: the reference's negative log-likelihood under it,
                bits per sample (8 = a uniform guess over 256 classes)
  tempo         the file's tempo, BPM (- when no beat is found)
  beat str      how clearly the file has a beat, 0..1
  beat F        with --bpm N: beat F-measure (+-70 ms) of the file's beats against an ideal grid
                at N BPM; a generated file's grid phase is unknown, so the grid is slid to the
                phase that fits best. 1 = every beat on the grid, none missing
  tempo ok      with --bpm N: yes when the tempo is within 4 % of N, 2N or N/2
  chords %      with --bpm and --chords: share of bars (4 beats at N BPM, from the grid phase
                above, the progression looped from the file's start) whose chord has the
                requested root and kind of third
The reference row's distances compare each reference file with the others; its musical
columns are means over the reference files.

Writes <out>/eval.json and, per generated file, <out>/spectrogram-<N>-<name>.png (generated and
first reference side by side).";

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// Generated audio files (or folders of them) to measure.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Real audio to compare with: folders (walked recursively) or files. It takes every value
    /// up to the next option, so give it after the generated files, or repeat it.
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) reference: Vec<PathBuf>,
    /// Folder for eval.json and the spectrogram PNGs.
    #[arg(long, default_value = "eval")]
    pub(crate) out: PathBuf,
    /// Where to write the JSON report (default: <out>/eval.json).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// The run that generated the files: for a WaveNet, the reference's negative
    /// log-likelihood under it (bits per sample) fills the NLL column.
    #[arg(long)]
    pub(crate) run: Option<PathBuf>,
    /// Requested tempo, 30-300 BPM: fills the beat F and tempo ok columns.
    #[arg(long, value_parser = parse_bpm)]
    pub(crate) bpm: Option<f64>,
    /// Requested chords, one per bar of 4 beats at --bpm, looped (e.g. "Dm7 G7 Cmaj7 Am7"):
    /// fills the chords % column. Needs --bpm.
    #[arg(long)]
    pub(crate) chords: Option<String>,
    /// With --run of a model with controls: whether it uses them. The reference files are
    /// split as the run's config splits its training audio, and on each file's test part (held
    /// out, when the reference is the training set) the NLL with the controls analysed from
    /// the audio is compared with the NLL when the rhythm is shifted by half a beat, the chords
    /// are moved 5 semitones, or nothing is given: once for the model as trained, and once as
    /// it plays, following its controls with --guidance. The gaps are also folded over the
    /// beat (a table and control-gap-by-beat.png), to show where in the beat they live, and the
    /// rhythm's are read per hit of the true rhythm (the rhythm says where hits fall, so its
    /// gap is paid hit by hit, and per sample it thins out where hits are sparse).
    #[arg(long, requires = "run")]
    pub(crate) control_gap: bool,
    /// With --control-gap: the guidance of the model as it plays (one strength, or per group
    /// as "rhythm=2,harmony=3"; 1 measures the model as trained only) [default: what `lofigen
    /// lofi` plays, rhythm=3,harmony=5]
    #[arg(long, requires = "control_gap", value_parser = parse_guidance)]
    pub(crate) guidance: Option<Guidance>,
}

/// A `--bpm` value: a number of beats per minute the analysis can find.
fn parse_bpm(text: &str) -> std::result::Result<f64, String> {
    let bpm: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of beats per minute"))?;
    if !(MIN_BPM..=MAX_BPM).contains(&bpm) {
        return Err(format!(
            "{text} BPM is outside {MIN_BPM}-{MAX_BPM} BPM, the tempi the analysis can find"
        ));
    }
    Ok(bpm)
}

/// The musical target of `--bpm` and `--chords`, checked before any audio is decoded.
fn music_target(a: &EvalArgs) -> Result<MusicTarget> {
    let chords = match &a.chords {
        None => Vec::new(),
        Some(text) => {
            let chords =
                parse_progression(text).with_context(|| format!("bad --chords {text:?}"))?;
            if a.bpm.is_none() {
                bail!(
                    "--chords {text:?} needs --bpm: the chords are laid one per bar of 4 beats at that tempo"
                );
            }
            chords
        }
    };
    Ok(MusicTarget { bpm: a.bpm, chords })
}

/// Decode every audio file under `inputs` (see `find_audio_files`), named as found; `what` says
/// which side failed in the error.
fn load_named(inputs: &[PathBuf], what: &str) -> Result<Vec<(String, Clip)>> {
    let files = find_audio_files(inputs)?;
    if files.is_empty() {
        let list: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "no audio files (mp3, wav, flac, ogg) found in {}",
            list.join(", ")
        );
    }
    files
        .into_iter()
        .map(|path| {
            let (clip, _) = load_mono_8k(&path)
                .with_context(|| format!("cannot read {what} audio {}", path.display()))?;
            Ok((path.display().to_string(), clip))
        })
        .collect()
}

pub(crate) fn run(a: EvalArgs) -> Result<()> {
    let target = music_target(&a)?;
    let generated = load_named(&a.files, "generated")?;
    let reference = load_named(&a.reference, "reference")?;
    let mut report = evaluate_with(&generated, &reference, &target).context("evaluation failed")?;
    if let Some(run) = &a.run {
        let device = lofigen::cpu_device();
        let (config, model) = RunDir::new(run).load_trained(&device)?;
        // The model is scored on the audio as it was trained: normalised if its run was.
        let clips: Vec<Clip> = reference
            .iter()
            .map(|(_, c)| {
                if config.data.normalize_loudness {
                    lofigen::data::normalize_loudness(c)
                } else {
                    c.clone()
                }
            })
            .collect();
        report.set_model_nll(lofigen::eval::nll_bits_per_sample(
            &model,
            &clips,
            config.data.window_samples,
            genre_index(&config.model, None)?,
            config.train.max_valid_windows,
            &device,
        ));
        if a.control_gap {
            let tracks = lofigen::corpus::load_tracks(&a.reference)?;
            let mut guidances = vec![Guidance::default()];
            guidances.extend(
                Some(a.guidance.unwrap_or(DEFAULT_GUIDANCE)).filter(|&g| g != Guidance::default()),
            );
            let gaps =
                lofigen::eval::control_gaps(&model, &config, &tracks, None, &guidances, &device)?;
            let Some(gaps) = gaps else {
                bail!("--control-gap: {} has no controls", run.display());
            };
            let mut gaps = gaps.into_iter();
            report.control_gap = gaps.next();
            report.control_gap_guided = gaps.next();
        }
    }

    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create folder {}", a.out.display()))?;
    let json_path = a.json.clone().unwrap_or_else(|| a.out.join("eval.json"));
    let json = serde_json::to_string_pretty(&report)?;
    lofigen::error::write_file(&json_path, (json + "\n").as_bytes())?;

    // One PNG per generated file: it and the first reference file, side by side.
    let (ref_name, ref_clip) = &reference[0];
    let ref_sg = spectrogram(ref_clip, lofigen::eval::SPECTROGRAM_COLUMNS);
    let mut pngs = Vec::new();
    for (i, (name, clip)) in generated.iter().enumerate() {
        let stem = Path::new(name)
            .file_stem()
            .map_or_else(|| "audio".into(), |s| s.to_string_lossy().into_owned());
        let png = a.out.join(format!("spectrogram-{}-{stem}.png", i + 1));
        let sg = spectrogram(clip, lofigen::eval::SPECTROGRAM_COLUMNS);
        spectrograms(
            &png,
            "Spectrograms (loudness-normalised, shared dB scale)",
            &[
                (&format!("generated: {}", short_name(name)), &sg),
                (&format!("reference: {}", short_name(ref_name)), &ref_sg),
            ],
        )?;
        pngs.push(png);
    }

    print!("{}", eval_table(&report));
    for (g, how) in [
        (&report.control_gap, "as trained"),
        (&report.control_gap_guided, "as played"),
    ] {
        let Some(g) = g else { continue };
        let mut t = Table::new(&["controls", "NLL nats/sample", "minus true"]);
        for (name, v) in [
            ("true (analysed)", g.true_nats),
            ("rhythm shifted half a beat", g.shifted_nats),
            ("chords moved 5 semitones", g.rotated_nats),
            ("rhythm dropped", g.rhythm_dropped_nats),
            ("chords dropped", g.harmony_dropped_nats),
            ("level dropped", g.loudness_dropped_nats),
            ("none", g.none_nats),
        ] {
            t.row([
                name.to_string(),
                format!("{v:.4}"),
                format!("{:+.4}", v - g.true_nats),
            ]);
        }
        println!(
            "\ncontrol gap {how} (guidance {}) over {} held-out windows:\n{}",
            g.guidance,
            g.windows,
            t.text()
        );
        if let Some((shifted, dropped)) = g.rhythm_per_hit() {
            println!(
                "per hit of the true rhythm ({} hits, one every {:.0} samples): rhythm shifted \
                 {shifted:+.1} nats, rhythm dropped {dropped:+.1} nats",
                g.hits,
                g.samples as f64 / g.hits as f64
            );
        }
    }
    if let Some(png) = gap_by_beat(&report, &a.out)? {
        pngs.push(png);
    }
    println!("wrote {}", json_path.display());
    for p in &pngs {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// Where in the beat the control gaps live: a table (as trained, and as played when measured)
/// and `control-gap-by-beat.png` in `out`, whose path it returns; nothing without a gap.
fn gap_by_beat(r: &lofigen::eval::EvalReport, out: &Path) -> Result<Option<PathBuf>> {
    let gaps: Vec<(&str, &lofigen::eval::ControlGap)> = [
        ("as trained", &r.control_gap),
        ("as played", &r.control_gap_guided),
    ]
    .into_iter()
    .filter_map(|(how, g)| {
        g.as_ref()
            .filter(|g| !g.by_beat.is_empty())
            .map(|g| (how, g))
    })
    .collect();
    let Some((_, first)) = gaps.first() else {
        return Ok(None);
    };
    let mut head = vec!["beat position", "samples %", "true NLL"];
    for (how, _) in &gaps {
        if *how == "as trained" {
            head.extend(["rhythm gap", "chord gap", "none gap"]);
        } else {
            head.extend(["rhythm (played)", "chords (played)", "none (played)"]);
        }
    }
    let mut t = Table::new(&head);
    for (i, bin) in first.by_beat.iter().enumerate() {
        let mut row = vec![
            format!("{:.3}", bin.phase),
            format!("{:.1}", 100.0 * bin.share),
            format!("{:.3}", bin.true_nats),
        ];
        for (_, g) in &gaps {
            let bin = &g.by_beat[i];
            for gap in [bin.rhythm_gap, bin.chord_gap, bin.none_gap] {
                row.push(format!("{gap:+.4}"));
            }
        }
        t.row(row);
    }
    println!(
        "\ncontrol gap through the beat (nats per sample; beat position 0 = on the beat, from the true score):\n{}",
        t.text()
    );
    let png = out.join("control-gap-by-beat.png");
    let stretches: Vec<Vec<lofigen::plot::BeatStretch>> = gaps
        .iter()
        .map(|(_, g)| g.by_beat.iter().map(Into::into).collect())
        .collect();
    let curves: Vec<(&str, &[lofigen::plot::BeatStretch])> = gaps
        .iter()
        .zip(&stretches)
        .map(|((how, _), s)| (*how, s.as_slice()))
        .collect();
    lofigen::plot::control_gap_by_beat(
        &png,
        "Control gap through the beat (held-out audio)",
        &curves,
    )?;
    Ok(Some(png))
}

/// The report as an aligned table: one line per generated file, then the reference set.
fn eval_table(r: &lofigen::eval::EvalReport) -> String {
    let mut t = Table::new(&[
        "file",
        "seconds",
        "spectrum dB",
        "MFCC FD",
        "flatness",
        "tonal",
        "dyn dB",
        "contrast dB",
        "silence",
        "clipped",
        "NLL bits",
        "tempo",
        "beat str",
        "swing",
        "beat F",
        "tempo ok",
        "chords %",
    ]);
    for row in r.generated.iter().chain(std::iter::once(&r.reference)) {
        let name = if std::ptr::eq(row, &r.reference) {
            format!("reference ({} file(s))", r.reference_files.len())
        } else {
            short_name(&row.name)
        };
        t.row([
            name,
            format!("{:.1}", row.seconds),
            opt(row.spectrum_distance_db, 2),
            opt(row.mfcc_frechet, 1),
            opt(row.flatness, 3),
            opt(row.tonal_peak, 3),
            opt(row.dynamics_db, 2),
            opt(row.band_contrast_db, 2),
            format!("{:.3}", row.silence_fraction),
            format!("{:.4}", row.clipping_fraction),
            opt(row.nll_bits_per_sample, 3),
            opt(row.tempo_bpm, 1),
            opt(row.beat_strength, 2),
            opt(row.swing, 2),
            opt(row.beat_f, 2),
            row.tempo_ok
                .map_or("-", |ok| if ok { "yes" } else { "no" })
                .to_string(),
            opt(row.chord_agreement.map(|s| 100.0 * s), 0),
        ]);
    }
    t.text()
}
