//! Training on real audio with tiny configs: the loss falls, resume continues exactly, the
//! same seed gives the same bytes, validation reads the validation split only.

use std::path::Path;

use lofigen::RunConfig;
use lofigen::corpus::Track;
use lofigen::data::{Split, Windows, split_tracks};
use lofigen::generate::{GenerateOptions, generate};
use lofigen::loss::mean_loss;
use lofigen::run::{RunDir, files};
use lofigen::train::{Silent, TrainOptions, train};

mod common;

fn tiny(epochs: usize) -> RunConfig {
    let mut c = common::tiny_seed();
    c.train.epochs = epochs;
    c
}

fn tracks() -> Vec<Track> {
    common::tiny_tracks()
}

fn run(dir: &Path, config: &RunConfig, resume: bool) -> lofigen::run::TrainState {
    let mut opts = TrainOptions::new(dir, lofigen::cpu_device());
    opts.resume = resume;
    train(config, &tracks(), &opts, &mut Silent).unwrap()
}

/// Records the loss of every step.
struct Losses(Vec<f64>);
impl lofigen::train::TrainObserver for Losses {
    fn batch_done(&mut self, _batch: usize, loss: f64) {
        self.0.push(loss);
    }
}

#[test]
fn loss_falls_by_half_within_a_few_dozen_steps() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(3);
    let mut losses = Losses(Vec::new());
    let opts = TrainOptions::new(dir.path().join("run"), lofigen::cpu_device());
    train(&config, &tracks(), &opts, &mut losses).unwrap();
    let l = &losses.0;
    assert!(l.len() >= 20 && l.len() <= 60, "{} steps", l.len());
    let first: f64 = l[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = l[l.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < first / 2.0, "loss went from {first} to {last}");
}

#[test]
fn validation_loss_is_computed_on_the_validation_split_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(1);
    let state = run(&dir.path().join("run"), &config, false);
    let device = lofigen::cpu_device();
    let (_, model) = RunDir::new(dir.path().join("run"))
        .load_trained(&device)
        .unwrap();
    let splits = split_tracks(&tracks(), &config.data).unwrap();
    let w = |s: Split| Windows::new(splits.get(s), 1024, 1024);
    let valid = mean_loss(&model, &w(Split::Valid), 4, None, &device);
    let test = mean_loss(&model, &w(Split::Test), 4, None, &device);
    let train_split = mean_loss(&model, &w(Split::Train), 4, None, &device);
    assert!(
        (state.history[0].valid_loss - valid).abs() <= 1e-6 * valid.max(1e-9),
        "{} vs {valid}",
        state.history[0].valid_loss
    );
    assert!((state.test_loss.unwrap() - test).abs() <= 1e-6 * test.max(1e-9));
    assert!(
        (valid - train_split).abs() > 1e-9 && (valid - test).abs() > 1e-9,
        "splits should differ"
    );
}

#[test]
fn resume_continues_with_optimizer_state_and_same_seed_gives_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    // Straight through: 2 epochs.
    run(&dir.path().join("straight"), &tiny(2), false);
    // Same again: identical checkpoint bytes (determinism).
    run(&dir.path().join("again"), &tiny(2), false);
    // 1 epoch, then resume for a second one.
    run(&dir.path().join("split"), &tiny(1), false);
    let resumed = run(&dir.path().join("split"), &tiny(2), true);
    assert_eq!(resumed.epoch, 2);
    assert_eq!(resumed.history.len(), 2);

    // Weights compared as numbers here; `same_seed_gives_byte_identical_checkpoint_files`
    // compares the files.
    let weights = |run: &str| -> Vec<f32> {
        let rd = dir.path().join(run);
        assert!(
            RunDir::new(&rd)
                .latest_checkpoint()
                .unwrap()
                .ends_with("epoch-0002")
        );
        let (_, lofigen::model::Model::Paper(m)) = RunDir::new(&rd)
            .load_trained(&lofigen::cpu_device())
            .unwrap()
        else {
            panic!("a seed run loads a seed model")
        };
        m.layers
            .iter()
            .flat_map(|l| {
                let (w, b) = l.export();
                w.into_iter().chain(b)
            })
            .collect()
    };
    let straight = weights("straight");
    assert!(straight == weights("again"), "same seed, different weights");
    assert!(
        straight == weights("split"),
        "resume did not continue the same run"
    );

    // Without the optimizer state the second epoch would differ: check that it matters.
    let ck = RunDir::new(dir.path().join("split"))
        .latest_checkpoint()
        .unwrap();
    std::fs::remove_dir_all(&ck).unwrap();
    let first = RunDir::new(dir.path().join("split"))
        .latest_checkpoint()
        .unwrap();
    std::fs::remove_file(first.join(files::OPTIMIZER)).unwrap();
    let err = lofigen::train::train(
        &tiny(2),
        &tracks(),
        &{
            let mut o = TrainOptions::new(dir.path().join("split"), lofigen::cpu_device());
            o.resume = true;
            o
        },
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("optimizer"), "{err}");
}

#[test]
fn resuming_a_different_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    run(&dir.path().join("run"), &tiny(1), false);
    let mut other = tiny(2);
    let lofigen::model::ModelConfig::Paper(s) = &mut other.model else {
        panic!("tiny() is a seed config")
    };
    s.layers[0].channels = 4;
    let mut opts = TrainOptions::new(dir.path().join("run"), lofigen::cpu_device());
    opts.resume = true;
    let err = train(&other, &tracks(), &opts, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("different model"), "{err}");
}

#[test]
fn generation_writes_the_requested_length_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let rd = dir.path().join("run");
    run(&rd, &tiny(1), false);
    let device = lofigen::cpu_device();
    let (_, model) = RunDir::new(&rd).load_trained(&device).unwrap();
    let seed = &common::demo_clip().samples[..2000];
    let opts = GenerateOptions {
        seconds: 0.75,
        ..Default::default()
    };
    let a = generate(&model, seed, &opts);
    assert_eq!(a.sample_rate, 8000);
    assert_eq!(a.len(), 6000);
    let (pa, pb) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    lofigen_audio::write_wav16(&pa, &a).unwrap();
    let (_, model2) = RunDir::new(&rd).load_trained(&device).unwrap();
    lofigen_audio::write_wav16(&pb, &generate(&model2, seed, &opts)).unwrap();
    assert_eq!(std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
}

#[test]
fn too_short_audio_is_a_clear_error() {
    let config = tiny(1);
    let short = vec![common::demo_track(0.0, 0.5)];
    let err = split_tracks(&short, &config.data).unwrap_err().to_string();
    assert!(
        err.contains("too short") && err.contains("demo_island_dreams_30s.flac"),
        "{err}"
    );
}

#[test]
fn a_diverging_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let rd = dir.path().join("run");
    run(&rd, &tiny(1), false);
    let mut wild = tiny(3);
    wild.train.learning_rate = 1e30; // one Adam step sends the weights to ~1e30: inf loss next
    let mut opts = TrainOptions::new(&rd, lofigen::cpu_device());
    opts.resume = true;
    let err = train(&wild, &tracks(), &opts, &mut Silent).unwrap_err();
    assert!(
        matches!(err, lofigen::Error::Diverged { epoch: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("last good checkpoint is kept"));
    let ck = RunDir::new(&rd).latest_checkpoint().unwrap();
    assert!(ck.ends_with("epoch-0001"), "{}", ck.display());
    let (_, lofigen::model::Model::Paper(m)) = RunDir::new(&rd)
        .load_trained(&lofigen::cpu_device())
        .unwrap()
    else {
        panic!("a seed run loads a seed model")
    };
    assert!(
        m.layers
            .iter()
            .all(|l| l.export().0.iter().all(|w| w.is_finite()))
    );
}

/// `state.json` with its wall-clock fields (`seconds` per epoch) zeroed: they measure the
/// machine, not the training.
fn state_without_timings(checkpoint: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(checkpoint.join(files::STATE)).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&text).unwrap();
    for epoch in state["history"].as_array_mut().unwrap() {
        assert!(epoch["seconds"].is_number(), "{epoch}");
        epoch["seconds"] = 0.into();
    }
    state
}

/// Regression: burn gave parameters random ids, written into `model.bpk` and keying the Adam
/// state in `optimizer.bpk`, and laid the optimizer's tensors out in hash-map order; so two runs
/// with the same seed wrote different checkpoint bytes.
#[test]
fn same_seed_gives_byte_identical_checkpoint_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(2);
    run(&dir.path().join("a"), &config, false);
    run(&dir.path().join("b"), &config, false);
    // And a run stopped after one epoch, then resumed: the same bytes again.
    run(&dir.path().join("c"), &tiny(1), false);
    run(&dir.path().join("c"), &config, true);
    let a = RunDir::new(dir.path().join("a"))
        .latest_checkpoint()
        .unwrap();
    assert!(a.ends_with("epoch-0002"), "{}", a.display());
    for other in ["b", "c"] {
        let o = RunDir::new(dir.path().join(other))
            .latest_checkpoint()
            .unwrap();
        assert!(o.ends_with("epoch-0002"), "{}", o.display());
        for f in [files::MODEL, files::OPTIMIZER] {
            let (x, y) = (
                std::fs::read(a.join(f)).unwrap(),
                std::fs::read(o.join(f)).unwrap(),
            );
            assert!(!x.is_empty());
            assert!(x == y, "run {other}: {f} differs from run a");
        }
        assert_eq!(state_without_timings(&a), state_without_timings(&o));
    }
}

/// Checkpoints written before parameter ids were derived from paths hold random ids, which key
/// their optimizer state: loading must keep the record's ids, not replace them.
#[test]
fn loading_keeps_the_parameter_ids_of_older_checkpoints() {
    use burn::module::{Module, list_param_ids};
    let dir = tempfile::tempdir().unwrap();
    let device = lofigen::cpu_device();
    let config = tiny(1);
    let old = config.model.init(&device); // burn's random ids, as before
    let fresh = config.model.init_seeded(5, &device);
    assert_ne!(list_param_ids(&old), list_param_ids(&fresh));
    assert_eq!(
        list_param_ids(&fresh),
        list_param_ids(&config.model.init_seeded(6, &device)),
        "ids come from the parameter paths"
    );
    old.clone()
        .into_record()
        .save(dir.path().join(files::MODEL))
        .unwrap();
    let loaded = lofigen::run::load_model(&config, dir.path(), &device).unwrap();
    assert_eq!(list_param_ids(&loaded), list_param_ids(&old));
}

/// Windows are indexed clip by clip, so the first clips' windows are a prefix (training mixes
/// the tracks' own windows with their pitch-shifted copies' by it).
#[test]
fn the_first_clips_windows_come_first() {
    let clip = |n: usize| lofigen_audio::Clip::new(vec![0.1; n], 8000);
    let w = Windows::new(&[clip(3000), clip(500), clip(5000)], 1024, 512);
    // 3000: starts 0, 512, 1024, 1536 (last 1975); 500: none; 5000: 0..=3975 by 512, 8.
    assert_eq!(w.windows_of_first(0), 0);
    assert_eq!(w.windows_of_first(1), 4);
    assert_eq!(w.windows_of_first(2), 4);
    assert_eq!(w.windows_of_first(3), w.len());
    assert_eq!(w.len(), 12);
}
