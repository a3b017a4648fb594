//! The model that ships inside lofigen: it loads like a checkpoint, its weights were trained
//! (it predicts lofi it never saw far better than the same network untrained), and what it
//! plays measures neither as silence, nor as a stuck tone, nor as white noise.

use lofigen::bundled::{lofi_model, lofi_prompt};
use lofigen::data::normalize_loudness;
use lofigen::eval::nll_bits_per_sample;
use lofigen::generate::{ControlSource, GenerateOptions, Prompt, generate, prompt_samples};
use lofigen::model::Model;
use lofigen::runtime::{Controls, Groove};
use lofigen_audio::{load_mono_8k, measures::analyse};

mod common;

#[test]
fn the_bundled_model_is_wavenet_small_with_controls_and_its_seed_is_half_a_second_of_music() {
    let (config, model) = lofi_model(&lofigen::cpu_device()).unwrap();
    assert!(matches!(model, Model::WaveNet(_)));
    // wavenet-small's 654,016 parameters and the control network's 170,880.
    assert_eq!(model.param_count(), 824_896);
    assert_eq!(config.model.receptive_field(), 2048);
    assert_eq!(config.model.controls(), Some((23, 64)));
    let style = lofigen::bundled::lofi_style().unwrap().expect("a style");
    assert!(!style.grooves.is_empty(), "no grooves learnt");
    // Chosen by measure over the learnt grooves (docs/experiments/lofi-controls, session 13).
    assert_eq!(style.default_groove.as_deref(), Some("lazy"));
    let seed = lofi_prompt().unwrap();
    assert_eq!(seed.len(), 4096);
    assert!(seed.rms() > 0.05, "the seed clip is near silence");
}

#[test]
fn the_bundled_weights_predict_unseen_lofi_better_than_untrained_ones() {
    let device = lofigen::cpu_device();
    let (config, model) = lofi_model(&device).unwrap();
    // Music it did not train on: "Coherence" by Maxstack (electronic, another composer).
    let path = common::test_audio("maxstack_coherence_20-26s.flac");
    let excerpt = load_mono_8k(&path).unwrap().0;
    let reference = [normalize_loudness(&excerpt)];
    let bits = |m: &Model| {
        nll_bits_per_sample(m, &reference, 8192, 0, None, &device).expect("a WaveNet has an NLL")
    };
    let trained = bits(&model);
    let untrained = bits(&config.model.init_seeded(0, &device));
    eprintln!("bits per sample: bundled {trained:.3}, untrained {untrained:.3}");
    assert!(
        trained < untrained - 1.5,
        "bundled {trained:.3} bits per sample, untrained {untrained:.3}"
    );
}

#[test]
fn the_bundled_model_plays_music_like_audio() {
    let (config, model) = lofi_model(&lofigen::cpu_device()).unwrap();
    let seed = prompt_samples(&config, &Prompt::Clip(lofi_prompt().unwrap())).unwrap();
    // As users play it: a tempo, a groove and chords (with no control at all, a case training
    // saw in under 1 % of windows, it drones).
    let controls = Controls::new(85.0, Groove::named("boom-bap").unwrap())
        .unwrap()
        .with_chords("Dm7 G7 Cmaj7 Am7")
        .unwrap();
    let opts = GenerateOptions {
        seconds: 4.0,
        controls: Some(ControlSource::Play(controls)),
        ..Default::default()
    };
    let m = analyse(&generate(&model, &seed, &opts)).measures;
    eprintln!("{m:?}");
    assert!(m.silence_fraction < 0.5, "mostly silence: {m:?}");
    // White noise measures about 0.94, a stuck tone about 1.
    assert!(
        m.flatness.expect("not all silent") < 0.6,
        "as flat as noise: {m:?}"
    );
    assert!(
        m.tonal_peak.expect("not all silent") < 0.6,
        "one stuck tone: {m:?}"
    );
}
