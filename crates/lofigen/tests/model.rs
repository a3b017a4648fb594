//! The seed models: parameter counts, causality, receptive field.

use burn::prelude::*;
use lofigen::RunConfig;
use lofigen::generate::oracle::full_forward;
use lofigen::model::{Model, PaperNet};

fn seed_model(config: &RunConfig, device: &Device) -> PaperNet {
    let Model::Paper(m) = config.model.init_seeded(3, device) else {
        panic!("a seed preset builds a seed model")
    };
    m
}

#[test]
fn presets_have_the_papers_parameter_counts() {
    let device = lofigen::cpu_device();
    for (name, params, rf) in [
        ("seed6", 4_591_905, 1147),
        ("seed6-code", 4_722_977, 1275),
        ("seed4", 528_481, 765),
    ] {
        let config = RunConfig::preset(name).unwrap();
        let model = config.model.init(&device);
        assert_eq!(model.param_count(), params, "{name} parameters");
        assert_eq!(config.model.receptive_field(), rf, "{name} receptive field");
    }
}

/// A small stack (with a dilated layer) that runs fast enough for property tests.
fn small() -> RunConfig {
    RunConfig::from_toml_str(
        r#"
        [model]
        family = "seed"
        layers = [
          { channels = 8, kernel = 16 },
          { channels = 8, kernel = 8, dilation = 3 },
          { channels = 1, kernel = 16 },
        ]
        [data]
        window_samples = 256
        "#,
        "small.toml".as_ref(),
    )
    .unwrap()
}

/// Exact (bitwise) causality is a property of the direct convolution; the FFT path mixes a
/// block's samples at rounding level, and tests/fftconv.rs checks it to a tolerance.
fn direct(mut config: RunConfig) -> RunConfig {
    let lofigen::model::ModelConfig::Paper(s) = &mut config.model else {
        panic!("a seed config")
    };
    s.conv_algorithm = lofigen::model::ConvAlgorithm::Direct;
    config
}

#[test]
fn outputs_before_t_ignore_inputs_at_and_after_t() {
    let device = lofigen::cpu_device();
    let clip = common::demo_clip();
    for config in [small(), RunConfig::preset("seed4").unwrap()].map(direct) {
        let model = seed_model(&config, &device);
        let x: Vec<f32> = clip.samples[8000..8000 + 2048].to_vec();
        let base = full_forward(&model, &x, &device);
        for t in [1usize, 100, 777, 2000] {
            let mut y = x.clone();
            for (i, v) in y.iter_mut().enumerate().skip(t) {
                *v = ((i * 7919) % 13) as f32 / 13.0 - 0.5; // anything but the original
            }
            let out = full_forward(&model, &y, &device);
            assert_eq!(&out[..t], &base[..t], "outputs before {t} moved");
            assert_ne!(
                &out[t..],
                &base[t..],
                "outputs from {t} on should see the change"
            );
        }
    }
}

#[test]
fn receptive_field_measured_with_an_impulse_matches_the_formula() {
    let device = lofigen::cpu_device();
    for config in [small(), RunConfig::preset("seed4").unwrap()].map(direct) {
        let model = seed_model(&config, &device);
        let rf = config.model.receptive_field();
        let n = 3 * rf;
        let zeros = vec![0.0; n];
        let mut impulse = zeros.clone();
        let p = rf / 2;
        impulse[p] = 1.0;
        let a = full_forward(&model, &zeros, &device);
        let b = full_forward(&model, &impulse, &device);
        let moved: Vec<usize> = (0..n).filter(|&i| (a[i] - b[i]).abs() > 0.0).collect();
        assert_eq!(
            moved.first(),
            Some(&p),
            "the impulse acts first at its own position"
        );
        assert_eq!(
            moved.last(),
            Some(&(p + rf - 1)),
            "and last {} samples later",
            rf - 1
        );
    }
}

#[test]
fn config_errors_name_the_key() {
    let cases = [
        (
            "[model]\nfamily = \"seed\"\nlayers = [{ channels = 1, kernel = 4 }]\nbogus = 1\n",
            "bogus",
        ),
        (
            "[model]\nfamily = \"seed\"\nlayers = [{ channels = 0, kernel = 4 }, { channels = 1, kernel = 4 }]\n",
            "model.layers[0].channels",
        ),
        (
            "[model]\nfamily = \"seed\"\nlayers = [{ channels = 1, kernel = 4000 }, { channels = 1, kernel = 5000 }]\n",
            "data.window_samples",
        ),
        (
            "[model]\nfamily = \"seed\"\nlayers = [{ channels = 1, kernel = 4 }]\n[train]\nlearning_rate = -0.1\n",
            "train.learning_rate",
        ),
        (
            "[model]\nfamily = \"seed\"\nlayers = [{ channels = 2, kernel = 4 }]\n",
            "model.layers[0].channels",
        ),
        ("[model]\nfamily = \"wavenot\"\nlayers = []\n", "wavenot"),
    ];
    for (text, key) in cases {
        let err = RunConfig::from_toml_str(text, "c.toml".as_ref())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.toml") && err.contains(key),
            "error `{err}` should name c.toml and `{key}`"
        );
    }
}

#[test]
fn presets_round_trip_through_toml() {
    for (name, _) in lofigen::config::PRESETS {
        let c = RunConfig::preset(name).unwrap();
        let back = RunConfig::from_toml_str(&c.to_toml(), "x.toml".as_ref()).unwrap();
        assert_eq!(c, back, "{name}");
    }
}

mod common;
