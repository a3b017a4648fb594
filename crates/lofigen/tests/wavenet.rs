//! WaveNets on real audio with tiny configs: the engine equals the full forward pass through
//! dilated stacks, the loss falls and is reported in bits, sampling is reproducible, and bad
//! genres or windows are clear errors.

use burn::prelude::*;
use lofigen::RunConfig;
use lofigen::corpus::Track;
use lofigen::data::split_tracks;
use lofigen::eval::nll_bits_per_sample;
use lofigen::generate::oracle::{full_logits, full_logits_controlled, full_logits_guided};
use lofigen::generate::{
    AudioStream, Engine, GenerateOptions, KernelPath, Precision, Prompt, Sampler, Sampling,
    WaveNetEngine, generate, genre_index, prompt_samples, wavenet_generate,
};
use lofigen::loss::nats_to_bits;
use lofigen::model::wavenet::Conditioning;
use lofigen::model::{Model, WaveNet};
use lofigen::run::RunDir;
use lofigen::train::{TrainOptions, resolve_genres, train};
use lofigen_audio::mulaw;
use lofigen_audio::score::{CONTROL_DIMS, Group, Guidance, drop_group};

mod common;

/// The shared tiny WaveNet (see [`common::tiny_wavenet_toml`]) with `genres`.
fn tiny_toml(genres: &str) -> String {
    common::tiny_wavenet_toml(&format!("genres = {genres}"))
}

fn tiny(genres: &str) -> RunConfig {
    RunConfig::from_toml_str(&tiny_toml(genres), "tiny.toml".as_ref()).unwrap()
}

fn build(config: &RunConfig, seed: u64, device: &Device) -> WaveNet {
    match config.model.init_seeded(seed, device) {
        Model::WaveNet(m) => m,
        Model::Paper(_) => panic!("a wavenet config builds a wavenet"),
    }
}

fn classes_of(samples: &[f32]) -> Vec<usize> {
    samples
        .iter()
        .map(|&x| mulaw::encode(x * 4.0, 256))
        .collect()
}

/// Feed real audio's classes through the engine (teacher forcing) and compare every step's
/// logits with one full forward pass over the same classes, for every kernel path this CPU
/// can run.
fn check_engine(config: &RunConfig, streams: usize, steps: usize) {
    let device = lofigen::cpu_device();
    let m = build(config, 17, &device);
    let clip = common::demo_clip();
    let inputs: Vec<Vec<usize>> = (0..streams)
        .map(|s| classes_of(&clip.samples[9000 + s * 2777..9000 + s * 2777 + steps]))
        .collect();
    let genres = config.model.genres().len().max(1);
    let want: Vec<Vec<f32>> = (0..streams)
        .map(|s| full_logits(&m, &inputs[s], s % genres, &device))
        .collect();
    for w in &want {
        assert!(w.iter().any(|v| v.abs() > 1e-2), "vacuous: logits ~ 0");
    }
    let q = 256;
    for path in KernelPath::available() {
        let mut engine = WaveNetEngine::new(&m, streams, Precision::F32).with_kernel(path);
        for s in 0..streams {
            engine.set_genre(s, s % genres);
        }
        let mut got = vec![Vec::with_capacity(steps * q); streams];
        let mut step_in = vec![0; streams];
        for t in 0..steps {
            for (x, input) in step_in.iter_mut().zip(&inputs) {
                *x = input[t];
            }
            let logits = engine.step(&step_in);
            for s in 0..streams {
                got[s].extend_from_slice(&logits[s * q..(s + 1) * q]);
            }
        }
        for s in 0..streams {
            assert_eq!(want[s].len(), got[s].len());
            let scale = want[s].iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1.0);
            let worst = want[s]
                .iter()
                .zip(&got[s])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= 1e-4 * scale,
                "{path:?} stream {s}/{streams}: max diff {worst} (scale {scale})"
            );
        }
    }
}

#[test]
fn engine_equals_full_forward_through_dilations_to_512() {
    check_engine(&tiny("[]"), 1, 2000);
    check_engine(&tiny("[]"), 3, 1200);
}

#[test]
fn conditioned_engine_equals_full_forward_per_genre() {
    check_engine(&tiny(r#"["lofi", "piano"]"#), 2, 1200);
}

/// Local conditioning: the engine, given each frame's control window as the input crosses
/// into it, equals the full forward pass over the same control frames, per stream.
#[test]
fn engine_with_controls_equals_full_forward_frame_by_frame() {
    check_controlled_engine(7, Guidance::default());
}

/// Guided, the engine (its per-frame mix of hidden channels) equals the full forward pass that
/// `lofigen eval --control-gap` scores the model as it plays with.
#[test]
fn guided_engine_equals_guided_full_forward() {
    let guidance = Guidance::default()
        .with(Group::Rhythm, 2.0)
        .with(Group::Harmony, 3.0)
        .with(Group::Loudness, 0.5);
    check_controlled_engine(CONTROL_DIMS, guidance);
}

/// [`engine_with_controls_equals_full_forward_frame_by_frame`] for a model of `dims` controls
/// followed with `guidance`.
fn check_controlled_engine(dims: usize, guidance: Guidance) {
    let toml = tiny_toml(r#"["lofi", "piano"]"#).replace(
        "[data]",
        &format!("controls = {dims}\ncontrol_channels = 5\ncontrol_hop = 64\n[data]"),
    );
    let config = RunConfig::from_toml_str(&toml, "c.toml".as_ref()).unwrap();
    let device = lofigen::cpu_device();
    let m = build(&config, 23, &device);
    let (hop, steps, streams): (usize, usize, usize) = (64, 1500, 2);
    let frames = steps.div_ceil(hop);
    let clip = common::demo_clip();
    // Controls that change every frame, different per stream.
    let controls: Vec<Vec<f32>> = (0..streams)
        .map(|s| {
            (0..frames * dims)
                .map(|i| ((i * 7 + s * 3) % 11) as f32 / 5.0 - 1.0)
                .collect()
        })
        .collect();
    let inputs: Vec<Vec<usize>> = (0..streams)
        .map(|s| classes_of(&clip.samples[7000 + s * 3000..7000 + s * 3000 + steps]))
        .collect();
    let want: Vec<Vec<f32>> = (0..streams)
        .map(|s| full_logits_guided(&m, &inputs[s], s, &controls[s], guidance, &device))
        .collect();
    let zeroed = full_logits_controlled(&m, &inputs[0], 0, &[], &device);
    let unguided = full_logits_controlled(&m, &inputs[0], 0, &controls[0], &device);
    let differs = |other: &[f32]| want[0].iter().zip(other).any(|(a, b)| (a - b).abs() > 1e-3);
    assert!(differs(&zeroed), "vacuous: the controls change nothing");
    if guidance != Guidance::default() {
        assert!(differs(&unguided), "vacuous: the guidance changes nothing");
        // With no controls given there is nothing to guide (control_gaps scores "none" once).
        let guided_zeros = full_logits_guided(&m, &inputs[0], 0, &[], guidance, &device);
        assert_eq!(
            guided_zeros, zeroed,
            "guidance changed a model given no controls"
        );
    }
    let mut engine = WaveNetEngine::new(&m, streams, Precision::F32);
    engine.set_guidance(&guidance);
    assert_eq!((engine.control_dims(), engine.control_hop()), (dims, hop));
    let q = 256;
    let mut window = vec![0.0f32; 3 * dims];
    let mut step_in = vec![0; streams];
    for t in 0..steps {
        for s in 0..streams {
            engine.set_genre(s, s);
            if t.is_multiple_of(hop) {
                // The previous, current and next frame (zeros beyond the ends).
                let f = t / hop;
                for k in 0..3 {
                    let part = &mut window[k * dims..(k + 1) * dims];
                    match (f + k).checked_sub(1).filter(|&g| g < frames) {
                        Some(g) => part.copy_from_slice(&controls[s][g * dims..(g + 1) * dims]),
                        None => part.fill(0.0),
                    }
                }
                engine.set_controls(s, &window);
            }
            step_in[s] = inputs[s][t];
        }
        let logits = engine.step(&step_in);
        for s in 0..streams {
            let got = &logits[s * q..(s + 1) * q];
            let want = &want[s][t * q..(t + 1) * q];
            let worst = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-3, "stream {s} step {t}: max diff {worst}");
        }
    }
}

/// Guidance scales each group's pull on the gate bias: at strength 0 a group is as good as not
/// given, and any other strength changes what the model predicts.
#[test]
fn guidance_at_zero_drops_a_group_and_above_one_pushes_it() {
    let dims = CONTROL_DIMS;
    let toml = tiny_toml("[]").replace(
        "[data]",
        &format!("controls = {dims}\ncontrol_channels = 6\ncontrol_hop = 64\n[data]"),
    );
    let config = RunConfig::from_toml_str(&toml, "c.toml".as_ref()).unwrap();
    let m = build(&config, 5, &lofigen::cpu_device());
    let window: Vec<f32> = (0..3 * dims)
        .map(|i| ((i * 5) % 13) as f32 / 6.0 - 1.0)
        .collect();
    let inputs = classes_of(&common::demo_clip().samples[9000..9300]);
    let run = |guidance: Guidance, window: &[f32]| {
        let mut engine = WaveNetEngine::new(&m, 1, Precision::F32);
        engine.set_guidance(&guidance);
        engine.set_controls(0, window);
        inputs
            .iter()
            .flat_map(|&c| engine.step(&[c]).to_vec())
            .collect::<Vec<f32>>()
    };
    let as_given = run(Guidance::default(), &window);
    for group in Group::ALL {
        let mut dropped = window.clone();
        for frame in dropped.chunks_exact_mut(dims) {
            drop_group(frame, group);
        }
        let without = run(Guidance::default(), &dropped);
        let zero = run(Guidance::default().with(group, 0.0), &window);
        let worst = rel_err(&zero, &without);
        assert!(worst < 1e-4, "{group:?} at 0: {worst}");
        let pushed = run(Guidance::default().with(group, 3.0), &window);
        assert!(
            rel_err(&pushed, &as_given) > 1e-4,
            "{group:?} at 3 changes nothing"
        );
    }
}

#[test]
fn sampling_with_a_fixed_seed_is_reproducible() {
    let device = lofigen::cpu_device();
    let config = tiny("[]");
    let model = config.model.init_seeded(8, &device);
    let clip = common::demo_clip();
    let seed = &clip.samples[4000..5000];
    let opts = |seed: u64| GenerateOptions {
        seconds: 0.1,
        sampling: Sampling {
            seed,
            top_k: Some(50),
            ..Default::default()
        },
        ..Default::default()
    };
    let a = generate(&model, seed, &opts(1));
    let b = generate(&model, seed, &opts(1));
    let c = generate(&model, seed, &opts(2));
    assert_eq!(a.samples.len(), 800);
    assert_eq!(a.samples, b.samples, "same seed, same audio");
    assert_ne!(a.samples, c.samples, "another seed, other audio");
}

#[test]
fn a_stream_read_in_chunks_equals_generate_and_the_batch_generator() {
    let device = lofigen::cpu_device();
    let config = tiny("[]");
    let model = config.model.init_seeded(8, &device);
    let Model::WaveNet(m) = &model else {
        unreachable!()
    };
    let seed = &common::demo_clip().samples[4000..5000];
    let opts = GenerateOptions {
        seconds: 0.2,
        sampling: Sampling {
            seed: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let whole = generate(&model, seed, &opts).samples;
    assert_eq!(whole.len(), 1600);
    // The stream in uneven chunks, down to one sample.
    let mut stream = AudioStream::new(&model, seed, &opts);
    let mut chunked = Vec::new();
    for n in [1, 7, 333, 1, 1258] {
        let mut chunk = vec![f32::NAN; n];
        stream.fill(&mut chunk);
        chunked.extend(chunk);
    }
    assert_eq!(whole, chunked);
    // The multi-stream generator the benches use, one stream of it.
    let mut engine = WaveNetEngine::new(m, 1, Precision::F32);
    let mut sampler = [Sampler::new(opts.sampling.clone(), 256)];
    let seed_classes: Vec<usize> = seed.iter().map(|&x| mulaw::encode(x, 256)).collect();
    let batch: Vec<f32> = wavenet_generate(&mut engine, &mut sampler, &[&seed_classes], 1600)[0]
        .iter()
        .map(|&c| mulaw::decode(c, 256))
        .collect();
    assert_eq!(whole, batch);
}

#[test]
fn a_seed_clip_is_brought_to_the_level_the_model_trained_at() {
    let clip = common::demo_clip();
    let quiet = lofigen_audio::Clip::new(
        clip.samples[4000..12000].iter().map(|x| x * 0.01).collect(),
        8000,
    );
    let mut config = tiny("[]");
    assert!(config.data.normalize_loudness);
    let seed = prompt_samples(&config, &Prompt::Clip(quiet.clone())).unwrap();
    let rms = lofigen_audio::Clip::new(seed, 8000).rms();
    assert!(
        (rms - lofigen::data::NORMALIZED_RMS).abs() < 1e-3,
        "seed RMS {rms}"
    );
    config.data.normalize_loudness = false;
    let raw = prompt_samples(&config, &Prompt::Clip(quiet.clone())).unwrap();
    assert_eq!(raw, quiet.samples);
}

/// Records the loss of every step.
struct Losses(Vec<f64>);
impl lofigen::train::TrainObserver for Losses {
    fn batch_done(&mut self, _batch: usize, loss: f64) {
        self.0.push(loss);
    }
}

#[test]
fn loss_falls_on_real_audio_and_nll_is_reported_in_bits() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny("[]");
    config.train.epochs = 3;
    config.train.max_windows_per_epoch = Some(24);
    config.train.learning_rate = 1e-2;
    let tracks = vec![common::demo_track(2.0, 10.0)];
    let mut losses = Losses(Vec::new());
    let opts = TrainOptions::new(dir.path().join("run"), lofigen::cpu_device());
    let state = train(&config, &tracks, &opts, &mut losses).unwrap();
    let l = &losses.0;
    assert_eq!(l.len(), 36, "3 epochs of 12 batches");
    let first = l[..4].iter().sum::<f64>() / 4.0;
    let last = l[l.len() - 4..].iter().sum::<f64>() / 4.0;
    // A uniform guess over 256 classes is ln 256 = 5.55 nats.
    assert!(first > 4.5, "starts near a uniform guess: {first}");
    assert!(last < first - 0.3, "the loss falls: {first} -> {last}");
    for m in &state.history {
        let bits = m
            .valid_bits_per_sample
            .expect("bits reported for a wavenet");
        assert!((bits - m.valid_loss / std::f64::consts::LN_2).abs() < 1e-9);
        assert!(bits < 8.0, "better than a uniform guess: {bits}");
    }
    // The trained run loads back and generates.
    let device = lofigen::cpu_device();
    let (run_config, model) = RunDir::new(dir.path().join("run"))
        .load_trained(&device)
        .unwrap();
    // `eval`'s NLL of the test split is the test loss in bits: same windows, same model.
    let splits = split_tracks(&tracks, &run_config.data).unwrap();
    let nll = nll_bits_per_sample(
        &model,
        &splits.test,
        run_config.data.window_samples,
        0,
        None,
        &device,
    )
    .expect("a wavenet has a likelihood");
    let test_bits = nats_to_bits(state.test_loss.unwrap());
    assert!((nll - test_bits).abs() < 1e-3, "{nll} vs {test_bits}");
    // A regressing model has none.
    let seed = RunConfig::preset("seed4").unwrap().model.init(&device);
    assert!(nll_bits_per_sample(&seed, &splits.test, 8192, 0, None, &device).is_none());
    let clip = generate(
        &model,
        &tracks[0].clip.samples[..3000],
        &GenerateOptions {
            seconds: 0.05,
            ..Default::default()
        },
    );
    assert_eq!(clip.samples.len(), 400);
    assert!(clip.samples.iter().all(|x| x.abs() <= 1.0));
}

fn labelled(label: &str, start_s: f64) -> Track {
    let mut t = common::demo_track(start_s, 3.0);
    t.label = label.into();
    t
}

#[test]
fn auto_genres_resolve_to_the_corpus_labels_and_unknown_ones_are_named() {
    let tracks = vec![labelled("piano", 0.0), labelled("lofi", 5.0)];
    let (config, ids) = resolve_genres(&tiny(r#"["auto"]"#), &tracks).unwrap();
    assert_eq!(config.model.genres(), ["lofi", "piano"]);
    assert_eq!(ids, vec![1, 0]);

    let err = resolve_genres(&tiny(r#"["lofi"]"#), &tracks)
        .unwrap_err()
        .to_string();
    assert!(err.contains("piano") && err.contains("not one of"), "{err}");
}

#[test]
fn bad_genre_name_is_a_clear_error() {
    let config = tiny(r#"["lofi", "piano"]"#);
    assert_eq!(genre_index(&config.model, Some("piano")).unwrap(), 1);
    assert_eq!(genre_index(&config.model, None).unwrap(), 0);
    let err = genre_index(&config.model, Some("rap"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`rap`") && err.contains("lofi, piano"),
        "{err}"
    );
    let err = genre_index(&tiny("[]").model, Some("lofi"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("without genre conditioning"), "{err}");
}

#[test]
fn dilations_that_do_not_fit_the_window_are_a_clear_error() {
    let text = tiny_toml("[]").replace("window_samples = 2048", "window_samples = 1000");
    let err = RunConfig::from_toml_str(&text, "w.toml".as_ref())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.window_samples") && err.contains("1025"),
        "{err}"
    );
}

#[test]
fn wavenet_small_has_about_0_7_m_parameters_and_a_2048_sample_field() {
    let config = RunConfig::preset("wavenet-small").unwrap();
    assert_eq!(config.model.receptive_field(), 2048);
    let n = config
        .model
        .init_seeded(1, &lofigen::cpu_device())
        .param_count();
    assert!((600_000..800_000).contains(&n), "{n} parameters");
    let lofigen::model::ModelConfig::WaveNet(w) = &config.model else {
        panic!("wavenet-small is a wavenet")
    };
    assert_eq!(
        w.parameters(),
        Some(n),
        "the config's count matches the model's"
    );
}

/// wavenet-small's real sizes (64/128 channels: several output blocks per product, tiles of
/// up to 4 blocks, products large enough to be split across threads): every kernel path and
/// thread count equals the full forward pass, the split changes no bit, and f16 weights stay
/// within 1e-2 of f32.
#[test]
fn wavenet_small_engine_equals_full_forward_on_every_path_threaded_and_f16() {
    let device = lofigen::cpu_device();
    let config = RunConfig::preset("wavenet-small").unwrap();
    let m = build(&config, 21, &device);
    let clip = common::demo_clip();
    let (streams, steps) = (3, 400);
    let inputs: Vec<Vec<usize>> = (0..streams)
        .map(|s| classes_of(&clip.samples[7000 + s * 3333..7000 + s * 3333 + steps]))
        .collect();
    let want: Vec<Vec<f32>> = inputs
        .iter()
        .map(|x| full_logits(&m, x, 0, &device))
        .collect();
    let scale = want.iter().flatten().fold(1.0f32, |a, v| a.max(v.abs()));
    assert!(scale > 1e-2, "vacuous: logits ~ 0");
    for path in KernelPath::available() {
        let got = common::teacher_forced(
            &mut WaveNetEngine::new(&m, streams, Precision::F32).with_kernel(path),
            &inputs,
        );
        let d = common::max_diff(&want, &got);
        assert!(d <= 1e-4 * scale, "{path:?}: max diff {d} (scale {scale})");
    }
    common::check_engine_invariants(|p| WaveNetEngine::new(&m, streams, p), &inputs);
    // One stream, where every product is a single-stream tile.
    let one_stream = {
        let mut e = WaveNetEngine::new(&m, 1, Precision::F32).with_threads(2);
        (0..steps)
            .flat_map(|t| e.step(&[inputs[0][t]]).to_vec())
            .collect::<Vec<f32>>()
    };
    let d = common::max_diff(&want[..1], &[one_stream]);
    assert!(d <= 1e-4 * scale, "one stream: max diff {d}");
}

#[test]
fn a_wavenet_too_large_to_allocate_is_a_config_error() {
    let text = tiny_toml("[]").replace("residual_channels = 8", "residual_channels = 4000000");
    let err = RunConfig::from_toml_str(&text, "big.toml".as_ref())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.residual_channels") && err.contains("parameters"),
        "{err}"
    );
}

/// The gradient of `t`; zeros where nothing flowed back (the last layer's residual branch
/// feeds nothing, and the reference's graph then has no gradient for it at all).
fn grad_of<const D: usize>(t: Tensor<D>, grads: &burn::tensor::Gradients) -> Vec<f32> {
    match t.grad(grads) {
        Some(g) => g.into_data().try_to_vec::<f32>().unwrap(),
        None => vec![0.0; t.shape().num_elements()],
    }
}

/// Every parameter's gradient, by name, from one backward pass.
fn param_grads(m: &WaveNet, grads: &burn::tensor::Gradients) -> Vec<(String, Vec<f32>)> {
    use lofigen::model::CausalConv1d;
    let mut convs: Vec<(String, &CausalConv1d)> = vec![("input".into(), &m.input)];
    for (i, l) in m.layers.iter().enumerate() {
        convs.push((format!("layer{i}.dilated"), &l.dilated));
        convs.push((format!("layer{i}.residual"), &l.residual));
        convs.push((format!("layer{i}.skip"), &l.skip));
    }
    convs.push(("head_hidden".into(), &m.head_hidden));
    convs.push(("head_out".into(), &m.head_out));
    let mut out = Vec::new();
    for (name, c) in convs {
        out.push((
            format!("{name}.weight"),
            grad_of(c.conv.weight.val(), grads),
        ));
        let bias = c.conv.bias.as_ref().expect("convolutions have biases");
        out.push((format!("{name}.bias"), grad_of(bias.val(), grads)));
    }
    out.push(("embedding".into(), grad_of(m.embedding.weight.val(), grads)));
    for (i, l) in m.layers.iter().enumerate() {
        if let Some(t) = &l.genre {
            out.push((format!("layer{i}.genre"), grad_of(t.weight.val(), grads)));
        }
    }
    if let Some(net) = &m.controls {
        out.push((
            "controls.conv".into(),
            grad_of(net.conv.weight.val(), grads),
        ));
        out.push((
            "controls.proj".into(),
            grad_of(net.proj.weight.val(), grads),
        ));
        let bias = net.proj.bias.as_ref().expect("the projection has a bias");
        out.push(("controls.proj_bias".into(), grad_of(bias.val(), grads)));
    }
    out
}

fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1e-12);
    let worst = got
        .iter()
        .zip(want)
        .fold(0.0f32, |a, (x, y)| a.max((x - y).abs()));
    worst / scale
}

/// Logits and every gradient of `sum(logits * probe)` through one forward path.
fn forward_and_grads(
    m: &WaveNet,
    path: &str,
    input: &Tensor<2, Int>,
    genre: &Tensor<1, Int>,
    controls: &Option<Tensor<3>>,
    probe: &Tensor<3>,
) -> (Vec<f32>, Vec<(String, Vec<f32>)>) {
    let cond = Conditioning {
        genre: m.conditioned().then(|| genre.clone()),
        controls: controls.clone(),
        ..Conditioning::default()
    };
    let logits = match path {
        "reference" => m.forward_reference(input.clone(), cond),
        "fused" => m
            .forward_channels_last_with(input.clone(), cond, true)
            .swap_dims(1, 2),
        _ => m
            .forward_channels_last_with(input.clone(), cond, false)
            .swap_dims(1, 2),
    }; // [batch, classes, time]
    let grads = (logits.clone() * probe.clone()).sum().backward();
    let values = logits.into_data().try_to_vec::<f32>().unwrap();
    (values, param_grads(m, &grads))
}

#[test]
fn fused_and_composed_stacks_equal_the_reference_forward_and_gradients() {
    for (genres, controls, time, batch) in [
        ("[]", 0, 300usize, 2),
        ("[\"a\", \"b\"]", 0, 531, 3),
        ("[]", 0, 5, 1),
        ("[]", 5, 300, 2),
        ("[\"a\", \"b\"]", 3, 531, 3),
    ] {
        let toml = format!(
            r#"
            [model]
            family = "wavenet"
            classes = 16
            residual_channels = 4
            skip_channels = 6
            layers_per_stack = 4
            stacks = 2
            genres = {genres}
            controls = {controls}
            control_channels = 3
            control_hop = 16
            [data]
            window_samples = 64
            "#
        );
        let config = RunConfig::from_toml_str(&toml, "t.toml".as_ref()).unwrap();
        let device = lofigen::cpu_device().autodiff();
        let m = build(&config, 3, &device);
        let controls = (controls > 0).then(|| {
            Tensor::<3>::random(
                [batch, time.div_ceil(16) + 2, controls],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            )
        });
        device.seed(11);
        let input = Tensor::<2, Int>::random(
            [batch, time],
            burn::tensor::Distribution::Uniform(0.0, 16.0),
            &device,
        );
        let genre = Tensor::<1, Int>::from_data(
            TensorData::new((0..batch as i64).map(|b| b % 2).collect(), [batch]),
            &device,
        );
        let probe = Tensor::<3>::random(
            [batch, 16, time],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let (want, want_grads) =
            forward_and_grads(&m, "reference", &input, &genre, &controls, &probe);
        // Only the last layer's residual branch (weight and bias) has no gradient.
        let zero = want_grads
            .iter()
            .filter(|(_, g)| g.iter().all(|v| *v == 0.0))
            .count();
        assert_eq!(zero, 2, "vacuous: {zero} gradients are all zeros");
        for path in ["fused", "composed"] {
            let (got, got_grads) = forward_and_grads(&m, path, &input, &genre, &controls, &probe);
            let e = rel_err(&got, &want);
            assert!(e <= 1e-4, "{path} {genres} t={time}: logits rel err {e}");
            assert_eq!(got_grads.len(), want_grads.len());
            for ((name, g), (_, w)) in got_grads.iter().zip(&want_grads) {
                let e = rel_err(g, w);
                assert!(
                    e <= 1e-4,
                    "{path} {genres} t={time}: grad of {name} rel err {e}"
                );
            }
        }
    }
}

/// The fused stack shifts the dilated taps by row offsets rather than through `delay`; changing
/// the input at `>= t` must still leave every logit before `t` alone.
#[test]
fn fused_forward_is_causal() {
    let config = tiny("[]");
    let device = lofigen::cpu_device();
    let m = build(&config, 8, &device);
    let clip = common::demo_clip();
    let base = classes_of(&clip.samples[5000..5000 + 1500]);
    let logits = |classes: &[usize]| full_logits(&m, classes, 0, &device); // [time][classes]
    let want = logits(&base);
    for t in [1, 300, 513, 1499] {
        let mut changed = base.clone();
        for (i, c) in changed[t..].iter_mut().enumerate() {
            *c = (*c + 37 + i) % 256;
        }
        let got = logits(&changed);
        assert_eq!(got[..t * 256], want[..t * 256], "logits before {t} moved");
        assert_ne!(
            got[t * 256..],
            want[t * 256..],
            "vacuous: nothing after {t} moved"
        );
    }
}

/// The fused head and loss (the training path) against burn's composition of the reference
/// forward and cross-entropy: same loss, same gradient for every parameter.
#[test]
fn fused_loss_equals_the_reference_loss_and_gradients() {
    for (genres, controls, classes, time, batch) in [
        ("[]", 0, 16, 300usize, 2),
        ("[\"a\", \"b\"]", 0, 256, 531, 3),
        ("[]", 0, 40, 5, 1),
        ("[\"a\", \"b\"]", 4, 40, 300, 2),
    ] {
        let toml = format!(
            r#"
            [model]
            family = "wavenet"
            classes = {classes}
            residual_channels = 4
            skip_channels = 6
            layers_per_stack = 4
            stacks = 2
            genres = {genres}
            controls = {controls}
            control_channels = 3
            control_hop = 16
            [data]
            window_samples = 64
            "#
        );
        let config = RunConfig::from_toml_str(&toml, "t.toml".as_ref()).unwrap();
        let device = lofigen::cpu_device().autodiff();
        let m = build(&config, 4, &device);
        device.seed(12);
        let classes_f = classes as f64;
        let input = Tensor::<2, Int>::random(
            [batch, time],
            burn::tensor::Distribution::Uniform(0.0, classes_f),
            &device,
        );
        let target = Tensor::<2, Int>::random(
            [batch, time],
            burn::tensor::Distribution::Uniform(0.0, classes_f),
            &device,
        );
        let genre = m.conditioned().then(|| {
            Tensor::<1, Int>::from_data(
                TensorData::new((0..batch as i64).map(|b| b % 2).collect(), [batch]),
                &device,
            )
        });
        let controls = (controls > 0).then(|| {
            Tensor::<3>::random(
                [batch, time.div_ceil(16), controls],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            )
        });
        let cond = Conditioning {
            genre,
            controls,
            ..Conditioning::default()
        };
        let want = lofigen::model::wavenet::cross_entropy(
            m.forward_reference(input.clone(), cond.clone()),
            target.clone(),
        );
        let got = m.loss_channels_last(input.clone(), cond, target.clone(), true);
        let (want_grads, got_grads) = (
            param_grads(&m, &want.clone().backward()),
            param_grads(&m, &got.clone().backward()),
        );
        let (want, got): (f32, f32) = (want.into_scalar(), got.into_scalar());
        assert!(
            (got - want).abs() <= 1e-4 * want.abs(),
            "{genres} q={classes} t={time}: loss {got} vs {want}"
        );
        let zero = want_grads
            .iter()
            .filter(|(_, g)| g.iter().all(|v| *v == 0.0))
            .count();
        assert_eq!(zero, 2, "vacuous: {zero} gradients are all zeros");
        for ((name, g), (_, w)) in got_grads.iter().zip(&want_grads) {
            let e = rel_err(g, w);
            assert!(
                e <= 1e-4,
                "{genres} q={classes} t={time}: grad of {name} rel err {e}"
            );
        }
    }
}
