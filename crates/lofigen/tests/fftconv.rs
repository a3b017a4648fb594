//! The FFT causal convolution against burn's direct one: outputs, input and weight gradients at
//! the presets' kernel sizes, dilations and lengths (and odd lengths), and a short training run.

use burn::prelude::*;
use lofigen::RunConfig;
use lofigen::model::{CausalConv1d, CausalConv1dConfig, ConvAlgorithm, ModelConfig};
use lofigen::train::{TrainObserver, TrainOptions, train};

mod common;

/// `max |a - b| / max |b|`.
fn rel_err(a: Tensor<3>, b: Tensor<3>) -> f32 {
    let scale: f32 = b.clone().abs().max().into_scalar();
    let diff: f32 = (a - b).abs().max().into_scalar();
    diff / scale.max(1e-30)
}

/// One layer computed both ways from the same weights; returns the relative errors of the
/// output, the input gradient and the weight gradient.
fn compare(
    batch: usize,
    (c_in, c_out): (usize, usize),
    (kernel, dilation): (usize, usize),
    time: usize,
) -> [f32; 3] {
    let device = lofigen::cpu_device().autodiff();
    device.seed(7);
    let base = CausalConv1dConfig::new(c_in, c_out, kernel)
        .with_dilation(dilation)
        .init(&device);
    let x = Tensor::<3>::random(
        [batch, c_in, time],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    // A random output gradient, through a weighted sum.
    let g = Tensor::<3>::random(
        [batch, c_out, time],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let run = |algorithm: ConvAlgorithm| {
        let layer = CausalConv1d {
            algorithm,
            ..base.clone()
        };
        let x = x.clone().detach().require_grad();
        assert_eq!(
            layer.uses_fft(&x),
            algorithm == ConvAlgorithm::Fft,
            "{algorithm:?} path"
        );
        let y = layer.forward(x.clone());
        let grads = (y.clone() * g.clone()).sum().backward();
        let gx = x.grad(&grads).unwrap();
        let gw = layer.conv.weight.grad(&grads).unwrap();
        (y.inner(), gx, gw)
    };
    let (yd, gxd, gwd) = run(ConvAlgorithm::Direct);
    let (yf, gxf, gwf) = run(ConvAlgorithm::Fft);
    [rel_err(yf, yd), rel_err(gxf, gxd), rel_err(gwf, gwd)]
}

fn assert_agree(batch: usize, ch: (usize, usize), k: (usize, usize), time: usize) {
    let e = compare(batch, ch, k, time);
    assert!(
        e.iter().all(|&e| e <= 1e-4),
        "batch {batch}, channels {ch:?}, kernel/dilation {k:?}, time {time}: \
         rel err output {:.1e}, grad input {:.1e}, grad weight {:.1e}",
        e[0],
        e[1],
        e[2]
    );
}

#[test]
fn fft_and_direct_agree_on_every_preset_layer_shape() {
    // Every distinct (kernel, dilation) of seed6, seed6-code and seed4, at the presets' window;
    // channels capped at 16 here (the full widths are checked below on one layer).
    let mut shapes = Vec::new();
    for name in ["seed6", "seed6-code", "seed4"] {
        let config = RunConfig::preset(name).unwrap();
        let ModelConfig::Paper(s) = &config.model else {
            panic!("a seed config")
        };
        let mut c_in = 1;
        for l in &s.layers {
            shapes.push((c_in.min(16), l.channels.min(16), l.kernel, l.dilation));
            c_in = l.channels;
        }
        assert_eq!(config.data.window_samples, 8192);
    }
    shapes.sort_unstable();
    shapes.dedup();
    for (ci, co, k, d) in shapes {
        assert_agree(1, (ci, co), (k, d), 8192);
    }
}

#[test]
fn fft_and_direct_agree_at_full_width_and_batch_8() {
    // seed6's widest layer (64 -> 128, 256 taps), shortened in time to keep the test quick.
    assert_agree(2, (64, 128), (256, 1), 2048);
    assert_agree(8, (16, 16), (128, 1), 1024);
}

#[test]
fn fft_and_direct_agree_at_odd_lengths_and_dilations() {
    for time in [1, 255, 257, 1001, 8191] {
        assert_agree(2, (3, 5), (256, 1), time);
    }
    assert_agree(1, (4, 4), (128, 2), 3001);
    assert_agree(3, (2, 3), (17, 5), 999);
}

#[test]
fn auto_keeps_kernel_2_dilated_layers_direct_and_long_kernels_on_fft() {
    let device = lofigen::cpu_device();
    let x = Tensor::<3>::zeros([1, 4, 100], &device);
    let short = CausalConv1dConfig::new(4, 4, 2)
        .with_dilation(64)
        .init(&device);
    let long = CausalConv1dConfig::new(4, 4, 128).init(&device);
    assert!(!short.uses_fft(&x));
    assert!(long.uses_fft(&x));
    let tracked = Tensor::<3>::zeros([1, 4, 100], &device.clone().autodiff()).require_grad();
    assert!(long.uses_fft(&tracked));
}

#[test]
fn fft_path_is_causal_to_rounding_and_keeps_the_receptive_field() {
    // seed4 on the FFT path: an impulse at p moves outputs p..p + rf - 1 clearly, and earlier
    // or later outputs only at float rounding (overlap-save mixes a block's samples there).
    let device = lofigen::cpu_device();
    let mut config = RunConfig::preset("seed4").unwrap();
    let ModelConfig::Paper(s) = &mut config.model else {
        panic!("a seed config")
    };
    s.conv_algorithm = ConvAlgorithm::Fft;
    let lofigen::model::Model::Paper(model) = config.model.init_seeded(3, &device) else {
        panic!("a seed config")
    };
    let rf = config.model.receptive_field();
    let n = 3 * rf;
    let p = rf / 2;
    let mut impulse = vec![0.0; n];
    impulse[p] = 1.0;
    let a = lofigen::generate::oracle::full_forward(&model, &vec![0.0; n], &device);
    let b = lofigen::generate::oracle::full_forward(&model, &impulse, &device);
    let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).collect();
    let inside = diff[p..p + rf].iter().fold(0.0f32, |m, v| m.max(*v));
    let outside = diff[..p]
        .iter()
        .chain(&diff[p + rf..])
        .fold(0.0f32, |m, v| m.max(*v));
    assert!(
        outside <= 1e-5 * inside,
        "impulse response {inside:.3e}, leakage outside the receptive field {outside:.3e}"
    );
}

/// Records the loss of every step.
struct Losses(Vec<f64>);
impl TrainObserver for Losses {
    fn batch_done(&mut self, _batch: usize, loss: f64) {
        self.0.push(loss);
    }
}

#[test]
fn training_with_either_algorithm_gives_the_same_loss_curve() {
    let curve = |algorithm: &str| {
        let mut config = RunConfig::from_toml_str(
            &format!(
                r#"
                [model]
                family = "seed"
                conv_algorithm = "{algorithm}"
                layers = [ {{ channels = 8, kernel = 32 }}, {{ channels = 1, kernel = 32 }} ]
                [data]
                window_samples = 1024
                [train]
                learning_rate = 3e-3
                batch_size = 4
                seed = 5
                "#
            ),
            "tiny.toml".as_ref(),
        )
        .unwrap();
        config.train.epochs = 1;
        let dir = tempfile::tempdir().unwrap();
        let opts = TrainOptions::new(dir.path().join("run"), lofigen::cpu_device());
        let mut losses = Losses(Vec::new());
        train(&config, &[common::demo_track(2.0, 6.0)], &opts, &mut losses).unwrap();
        losses.0
    };
    let direct = curve("direct");
    let fft = curve("fft");
    assert!(direct.len() >= 5, "{} steps", direct.len());
    assert_eq!(direct.len(), fft.len());
    for (i, (d, f)) in direct.iter().zip(&fft).enumerate() {
        assert!(
            (d - f).abs() <= 1e-3 * d.abs(),
            "step {i}: direct {d}, fft {f}"
        );
    }
}
