//! Local conditioning end to end on a synthetic click-and-chord signal: the controls are
//! analysed from the training audio, a tiny WaveNet trains on them, and on held-out audio it
//! predicts better with the true controls than with the rhythm shifted by half a beat or with
//! none: it uses them. Then a stream plays the user's controls, and bad controls are errors
//! that name the value.

use std::f32::consts::TAU;

use lofigen::RunConfig;
use lofigen::corpus::Track;
use lofigen::eval::control_gaps;
use lofigen::run::{RunDir, files};
use lofigen::runtime::{
    DEFAULT_GUIDANCE, Generator, Guidance, MusicRequest, PromptSource, StreamOptions,
};
use lofigen::train::{Silent, TrainOptions, train};
use lofigen_audio::Clip;
use lofigen_audio::analysis::Chord;
use lofigen_audio::score::Group;

/// `seconds` of a drum machine at `bpm` (kick on 1 and 3, snare on 2 and 4, hats on the 8ths)
/// over a pad playing `chords`, one per bar; deterministic noise from `seed`.
fn click_and_chords(bpm: f64, seconds: f64, chords: &[&str], seed: u64) -> Clip {
    let rate = 8000usize;
    let n = (seconds * rate as f64) as usize;
    let beat = 60.0 / bpm;
    let mut x = vec![0.0f32; n];
    let mut s = seed | 1;
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let eighths = (seconds / beat * 2.0) as usize;
    for e in 0..eighths {
        let at = (e as f64 * beat / 2.0 * rate as f64) as usize;
        let beat_no = e / 2;
        for i in 0..800.min(n.saturating_sub(at)) {
            let t = i as f32 / rate as f32;
            let mut v = 0.0;
            if e % 2 == 0 && beat_no % 2 == 0 {
                v += 0.6 * (TAU * 55.0 * t).sin() * (-t / 0.08).exp(); // kick
            }
            if e % 2 == 0 && beat_no % 2 == 1 {
                v += 0.35 * noise() * (-t / 0.05).exp(); // snare
            }
            v += 0.12 * noise() * (-t / 0.012).exp(); // hat
            x[at + i] += v;
        }
    }
    let bar = 4.0 * beat;
    for (i, v) in x.iter_mut().enumerate() {
        let t = i as f64 / rate as f64;
        let chord: Chord = chords[(t / bar) as usize % chords.len()].parse().unwrap();
        for pc in chord.pitch_classes() {
            let f = 220.0 * 2f64.powf((pc.index() as f64 - 9.0) / 12.0);
            *v += 0.06 * (std::f64::consts::TAU * f * t).sin() as f32;
        }
    }
    Clip::new(x, rate as u32)
}

fn tracks() -> Vec<Track> {
    [
        (96.0, ["Dm7", "G7", "Cmaj7", "Am7"], 1),
        (84.0, ["Em7", "A7", "Dmaj7", "Bm7"], 2),
    ]
    .into_iter()
    .map(|(bpm, chords, seed)| Track {
        path: format!("synthetic-{bpm}.wav").into(),
        label: "lofi".into(),
        clip: click_and_chords(bpm, 48.0, &chords, seed),
    })
    .collect()
}

fn tiny_controls() -> RunConfig {
    let toml = r#"
        [model]
        family = "wavenet"
        classes = 64
        residual_channels = 12
        skip_channels = 24
        layers_per_stack = 8
        stacks = 1
        controls = 23
        control_channels = 16
        control_hop = 64
        [data]
        window_samples = 2048
        stride_samples = 512
        split = [0.8, 0.1, 0.1]
        normalize_loudness = true
        control_dropout = 0.1
        [train]
        learning_rate = 3e-3
        batch_size = 4
        epochs = 3
        seed = 7
        max_windows_per_epoch = 400
        max_valid_windows = 8
    "#;
    RunConfig::from_toml_str(toml, "controls.toml".as_ref()).unwrap()
}

/// Train `config` on `tracks` into the run directory `run` (continuing it with `resume`), on
/// the CPU.
fn train_into(run: &std::path::Path, config: &RunConfig, tracks: &[Track], resume: bool) {
    let mut opts = TrainOptions::new(run, lofigen::cpu_device());
    opts.resume = resume;
    train(config, tracks, &opts, &mut Silent).unwrap();
}

#[test]
fn a_tiny_model_learns_to_use_its_controls() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = tiny_controls();
    let tracks = tracks();
    train_into(&run, &config, &tracks, false);
    assert!(run.join(files::STYLE).is_file(), "no style.json");
    let device = lofigen::cpu_device();
    let (config, model) = RunDir::new(&run).load_trained(&device).unwrap();
    let gaps = control_gaps(
        &model,
        &config,
        &tracks,
        None,
        &[Guidance::default(), DEFAULT_GUIDANCE],
        &device,
    )
    .unwrap()
    .expect("a model with controls");
    let [gap, guided] = &gaps[..] else {
        panic!("one gap per guidance: {gaps:?}")
    };
    eprintln!("{gap:?}\n{guided:?}");
    assert!(gap.windows >= 8, "{gap:?}");
    assert!(
        gap.rhythm_gap() > 0.02,
        "half-beat-shifted rhythm predicts as well as the true one: {gap:?}"
    );
    assert!(
        gap.none_nats - gap.true_nats > 0.02,
        "no controls predict as well as the true ones: {gap:?}"
    );
    // Each group alone tells the model something (the clicks' timing most; the chords and the
    // level about 0.02 nats each here): dropping it must cost, or the drop missed the group.
    for (group, dropped, at_least) in [
        ("rhythm", gap.rhythm_dropped_nats, 0.01),
        ("chords", gap.harmony_dropped_nats, 0.005),
        ("level", gap.loudness_dropped_nats, 0.005),
    ] {
        assert!(
            dropped - gap.true_nats > at_least,
            "dropping the {group} changes nothing: {gap:?}"
        );
    }
    // The hits of the measured audio: a kick or a snare on every beat at 84 and 96 BPM, 1.4 and
    // 1.6 a second (the hats, a third of the snare's level, stay under the hit threshold); a
    // count of every 8th or 16th step would be two or four times as many.
    let seconds = gap.samples as f64 / 8000.0;
    assert_eq!(gap.samples, gap.windows * config.data.window_samples);
    let rate = gap.hits as f64 / seconds;
    assert!(
        (1.2..=1.8).contains(&rate),
        "{rate:.2} hits a second: {gap:?}"
    );
    let per_hit = gap.per_hit(gap.rhythm_gap()).unwrap();
    assert!((per_hit - gap.rhythm_gap() * gap.samples as f64 / gap.hits as f64).abs() < 1e-9);
    // As it plays (guided), the model is another distribution, scored on the same windows.
    assert_eq!(guided.guidance, DEFAULT_GUIDANCE.to_string());
    assert_eq!(guided.windows, gap.windows);
    assert_eq!((guided.hits, guided.samples), (gap.hits, gap.samples));
    assert!(
        (guided.true_nats - gap.true_nats).abs() > 1e-4,
        "guidance changes nothing: {guided:?}"
    );

    // The trained run plays the user's controls, and its style fills in what is left out.
    let generator = Generator::from_run(&run).unwrap();
    assert!(generator.has_controls());
    let style = generator.style().expect("the run's style");
    let suggested = style.suggest(3).bpm;
    assert!(
        (80.0..=100.0).contains(&suggested),
        "the style suggests {suggested} BPM; the tracks play at 84 and 96"
    );
    let mut opts = StreamOptions {
        prompt: PromptSource::Clip(Clip::new(tracks[0].clip.samples[..4000].to_vec(), 8000)),
        ..StreamOptions::default()
    };
    opts.music = MusicRequest {
        bpm: Some(90.0),
        chords: Some("Dm7 G7".into()),
        ..MusicRequest::default()
    };
    let clip = generator.generate(1.0, &opts).unwrap();
    assert_eq!(clip.len(), 8000);
    assert!(clip.samples.iter().all(|v| v.is_finite()));
    // Guidance reaches the engine: the default is not "as trained", and other strengths play
    // other audio from the same seed.
    let with = |guidance: Option<Guidance>| {
        let mut o = opts.clone();
        o.music.guidance = guidance;
        generator.generate(0.5, &o).unwrap().samples
    };
    let as_trained = with(Some(Guidance::uniform(1.0)));
    assert_eq!(with(None), with(Some(DEFAULT_GUIDANCE)));
    assert_ne!(with(None), as_trained);
    assert_ne!(
        with(Some(Guidance::default().with(Group::Harmony, 3.0))),
        as_trained
    );

    // Bad controls are errors that name the value.
    for (request, needle) in [
        (
            MusicRequest {
                chords: Some("Dm7 Hm7".into()),
                ..MusicRequest::default()
            },
            "Hm7",
        ),
        (
            MusicRequest {
                bpm: Some(400.0),
                ..MusicRequest::default()
            },
            "400",
        ),
        (
            MusicRequest {
                chords: Some("  ".into()),
                ..MusicRequest::default()
            },
            "chords",
        ),
        (
            MusicRequest {
                groove: Some("no-such-groove".into()),
                ..MusicRequest::default()
            },
            "no-such-groove",
        ),
        (
            MusicRequest {
                guidance: Some(Guidance::uniform(9.0)),
                ..MusicRequest::default()
            },
            "guidance",
        ),
    ] {
        opts.music = request;
        let err = generator.stream(&opts).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }

    // A default groove set by hand in style.json is checked when the run opens, and played
    // when no groove is asked.
    let path = run.join(files::STYLE);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["default_groove"] = "no-such-groove".into();
    std::fs::write(&path, json.to_string()).unwrap();
    let err = Generator::from_run(&run)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("style.json") && err.contains("no-such-groove"),
        "{err}"
    );
    json["default_groove"] = "half-time".into();
    std::fs::write(&path, json.to_string()).unwrap();
    let generator = Generator::from_run(&run).unwrap();
    assert_eq!(
        generator.style().unwrap().suggest(3).groove,
        lofigen::controls::Groove::named("half-time").unwrap()
    );
}

#[test]
fn a_model_without_controls_refuses_them_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("plain");
    let mut config = tiny_controls();
    if let lofigen::model::ModelConfig::WaveNet(w) = &mut config.model {
        w.controls = 0;
    }
    config.train.epochs = 1;
    config.train.max_windows_per_epoch = Some(4);
    let tracks = tracks();
    train_into(&run, &config, &tracks, false);
    assert!(
        !run.join(files::STYLE).exists(),
        "a style for a model without controls"
    );
    let generator = Generator::from_run(&run).unwrap();
    assert!(!generator.has_controls());
    let opts = StreamOptions {
        prompt: PromptSource::Clip(Clip::new(tracks[0].clip.samples[..4000].to_vec(), 8000)),
        music: MusicRequest {
            bpm: Some(90.0),
            ..MusicRequest::default()
        },
        ..StreamOptions::default()
    };
    let err = generator.stream(&opts).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("without musical controls"), "{err}");
    let device = lofigen::cpu_device();
    let (config, model) = RunDir::new(&run).load_trained(&device).unwrap();
    assert!(
        control_gaps(
            &model,
            &config,
            &tracks,
            None,
            &[Guidance::default()],
            &device
        )
        .unwrap()
        .is_none()
    );
}

/// A model with controls resumes where it stopped: its Adam moments (keyed by the parameters of
/// the control network and the stack alike) come back, so one epoch, a stop and a second epoch
/// give the bytes of two epochs straight through. That the moments matter is checked too: the
/// same resume from other moments gives other weights.
#[test]
fn a_model_with_controls_resumes_as_if_never_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let tracks = tracks();
    let mut config = tiny_controls();
    config.train.max_windows_per_epoch = Some(16);
    let run = |name: &str, epochs: usize, resume: bool| {
        let mut c = config.clone();
        c.train.epochs = epochs;
        train_into(&dir.path().join(name), &c, &tracks, resume);
    };
    let checkpoint = |name: &str, epoch: &str| {
        let ck = dir.path().join(name).join(files::CHECKPOINTS).join(epoch);
        assert!(ck.is_dir(), "{}", ck.display());
        ck
    };
    let weights =
        |name: &str| std::fs::read(checkpoint(name, "epoch-0002").join(files::MODEL)).unwrap();
    run("straight", 2, false);
    run("split", 1, false);
    run("split", 2, true);
    assert!(
        weights("straight") == weights("split"),
        "resume did not continue the same run"
    );

    // The same first epoch, resumed with the moments of two epochs instead of one.
    run("other-moments", 1, false);
    std::fs::copy(
        checkpoint("straight", "epoch-0002").join(files::OPTIMIZER),
        checkpoint("other-moments", "epoch-0001").join(files::OPTIMIZER),
    )
    .unwrap();
    run("other-moments", 2, true);
    assert!(
        weights("other-moments") != weights("straight"),
        "the optimizer state does not change the second epoch, so the check above proves nothing"
    );
}

/// `data.transposed_share` reaches training: an epoch over the tracks and one pitch-shifted
/// copy takes every window of both with no share, only the tracks' own with share 0, and with
/// share 0.25 as many as keep the copies at a quarter (the tracks run out first). Each call
/// stops after its first step; the epoch's length is what `epoch_started` announces.
#[test]
fn training_draws_the_transposed_share_of_each_epoch() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The training windows and the first epoch's steps, then a stop.
    struct Counts {
        stop: Arc<AtomicBool>,
        windows: usize,
        steps: usize,
    }
    impl lofigen::train::TrainObserver for Counts {
        fn started(&mut self, info: &lofigen::run::RunInfo) {
            self.windows = info.split_windows[0];
        }
        fn epoch_started(&mut self, _epoch: usize, _epochs: usize, batches: usize) {
            self.steps = batches;
        }
        fn batch_done(&mut self, _batch: usize, _loss: f64) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let tracks = tracks();
    let count = |name: &str, shifts: &[i32], share: Option<f32>| {
        let mut config = tiny_controls();
        config.data.stride_samples = Some(2048);
        config.data.transpose_semitones = shifts.to_vec();
        config.data.transposed_share = share;
        config.train.batch_size = 1;
        config.train.epochs = 1;
        config.train.max_windows_per_epoch = None;
        let opts = TrainOptions::new(dir.path().join(name), lofigen::cpu_device());
        let mut counts = Counts {
            stop: opts.stop.clone(),
            windows: 0,
            steps: 0,
        };
        train(&config, &tracks, &opts, &mut counts).unwrap();
        (counts.windows, counts.steps)
    };
    let (own, own_steps) = count("own", &[], None);
    assert_eq!(own_steps, own, "one window a step with batch 1");
    let (all, all_steps) = count("all", &[5], None);
    let copies = all - own;
    assert!(copies > own / 2, "{own} own windows, {copies} of the copy");
    assert_eq!(all_steps, all, "no share: every window, copies included");
    assert_eq!(count("none", &[5], Some(0.0)).1, own, "share 0: no copies");
    let quarter = count("quarter", &[5], Some(0.25)).1;
    assert_eq!(
        quarter,
        (own as f64 / 0.75).floor() as usize,
        "{own} own, {copies} copies"
    );
}
