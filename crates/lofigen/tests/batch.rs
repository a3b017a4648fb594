//! Several streams generated together ([`StreamBatch`]: one shard per thread, each a
//! single-threaded engine over its share of the streams) are, stream by stream, the same bits
//! as each stream generated alone ([`AudioStream`]): same prompt, sampler seed, genre and
//! controls, with and without controls, over more threads than streams, a single stream,
//! prompts of different lengths, and either model family.

use lofigen::RunConfig;
use lofigen::generate::{
    AudioStream, ControlSource, GenerateOptions, Precision, Sampling, StreamBatch,
};
use lofigen::model::Model;
use lofigen::runtime::{Controls, DEFAULT_GUIDANCE, Groove};
use lofigen_audio::score::CONTROL_DIMS;

mod common;

/// The shared tiny WaveNet (see [`common::tiny_wavenet_toml`]); `extra` goes into `[model]`.
fn tiny_wavenet(extra: &str, seed: u64) -> Model {
    let toml = common::tiny_wavenet_toml(extra);
    let config = RunConfig::from_toml_str(&toml, "tiny.toml".as_ref()).unwrap();
    config.model.init_seeded(seed, &lofigen::cpu_device())
}

/// Options of stream `s`: its own sampler seed, `genre`, and `controls`.
fn opts(s: usize, genre: usize, controls: Option<ControlSource>) -> GenerateOptions {
    GenerateOptions {
        sampling: Sampling {
            seed: 100 + s as u64,
            top_k: Some(64),
            ..Default::default()
        },
        genre,
        controls,
        guidance: DEFAULT_GUIDANCE,
        ..Default::default()
    }
}

/// `n` samples of one stream generated alone, read in uneven chunks.
fn alone(model: &Model, prompt: &[f32], o: &GenerateOptions, n: usize) -> Vec<f32> {
    let mut stream = AudioStream::new(model, prompt, o);
    let mut out = vec![f32::NAN; n];
    let mut at = 0;
    for len in [1, 333, 17].into_iter().cycle() {
        let len = len.min(n - at);
        stream.fill(&mut out[at..at + len]);
        at += len;
        if at == n {
            return out;
        }
    }
    unreachable!()
}

/// `n` samples of every stream of a batch on `threads` threads, read in blocks of `blocks`
/// (cycled), stream by stream.
fn batched(
    model: &Model,
    prompts: &[&[f32]],
    o: &[GenerateOptions],
    threads: usize,
    n: usize,
    blocks: &[usize],
) -> Vec<Vec<f32>> {
    let mut batch = StreamBatch::new(model, prompts, o, threads);
    assert_eq!(batch.threads(), threads.min(prompts.len()));
    let mut got = vec![Vec::with_capacity(n); prompts.len()];
    let mut at = 0;
    for &len in blocks.iter().cycle() {
        let len = len.min(n - at);
        let mut out = vec![f32::NAN; len * prompts.len()];
        batch.fill(&mut out);
        for (g, part) in got.iter_mut().zip(out.chunks_exact(len)) {
            g.extend_from_slice(part);
        }
        at += len;
        if at == n {
            return got;
        }
    }
    unreachable!()
}

/// Each stream of the batch equals the stream alone, bit for bit, and the streams differ (else
/// the comparison proves little).
#[track_caller]
fn assert_each_alone(
    model: &Model,
    prompts: &[&[f32]],
    o: &[GenerateOptions],
    threads: usize,
    n: usize,
) {
    let got = batched(model, prompts, o, threads, n, &[1, 700, 64]);
    for (s, g) in got.iter().enumerate() {
        let want = alone(model, prompts[s], &o[s], n);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        if bits(g) != bits(&want) {
            let first = g.iter().zip(&want).position(|(a, b)| a != b);
            panic!(
                "stream {s} of {} on {threads} threads differs from itself alone, first at \
                 sample {first:?}",
                prompts.len()
            );
        }
        assert!(
            g.iter().any(|&x| x != g[0]),
            "stream {s} is constant: the test would be vacuous"
        );
    }
    if got.len() > 1 {
        assert_ne!(got[0], got[1], "two streams gave the same audio");
    }
}

/// Prompts from the bundled demo clip, `len` samples each, from different places.
fn prompts(count: usize, len: usize) -> Vec<Vec<f32>> {
    let clip = common::demo_clip();
    (0..count)
        .map(|s| clip.samples[5000 + s * 1700..5000 + s * 1700 + len].to_vec())
        .collect()
}

fn refs(p: &[Vec<f32>]) -> Vec<&[f32]> {
    p.iter().map(|x| &x[..]).collect()
}

#[test]
fn five_streams_over_two_threads_each_equal_the_stream_alone() {
    let model = tiny_wavenet(r#"genres = ["lofi", "piano"]"#, 3);
    let p = prompts(5, 1500);
    let o: Vec<GenerateOptions> = (0..5).map(|s| opts(s, s % 2, None)).collect();
    assert_each_alone(&model, &refs(&p), &o, 2, 1800);
}

#[test]
fn streams_with_controls_each_equal_the_stream_alone() {
    let extra = format!("controls = {CONTROL_DIMS}\ncontrol_channels = 6\ncontrol_hop = 64");
    let model = tiny_wavenet(&extra, 4);
    let play = |bpm: f64, chords: &str| {
        let c = Controls::new(bpm, Groove::named("boom-bap").unwrap())
            .unwrap()
            .with_chords(chords)
            .unwrap();
        Some(ControlSource::Play(c))
    };
    // Other tempi and chords per stream, and one with no control at all.
    let o = vec![
        opts(0, 0, play(70.0, "Dm7 G7 Cmaj7 Am7")),
        opts(1, 0, play(92.0, "Fmaj7 Em7")),
        opts(2, 0, None),
        opts(3, 0, play(120.0, "Am")),
    ];
    let p = prompts(4, 1200);
    assert_each_alone(&model, &refs(&p), &o, 2, 1500);
    // Same seed, other controls: other audio (the controls reach the samples).
    let same_seed = vec![opts(0, 0, play(70.0, "Dm7 G7 Cmaj7 Am7")), opts(0, 0, None)];
    let got = batched(&model, &[&p[0], &p[0]], &same_seed, 2, 1500, &[1500]);
    assert_ne!(got[0], got[1], "the controls change nothing");
}

/// Controls for one stream and guidance for all, changed between two reads.
#[test]
fn new_controls_and_guidance_mid_stream_land_as_they_do_alone() {
    let extra = format!("controls = {CONTROL_DIMS}\ncontrol_channels = 6\ncontrol_hop = 64");
    let model = tiny_wavenet(&extra, 4);
    let c = |bpm| Controls::new(bpm, Groove::named("boom-bap").unwrap()).unwrap();
    let o: Vec<GenerateOptions> = (0..3)
        .map(|s| opts(s, 0, Some(ControlSource::Play(c(80.0)))))
        .collect();
    let p = prompts(3, 900);
    let mut batch = StreamBatch::new(&model, &refs(&p), &o, 2);
    let mut out = vec![0.0; 3 * 700];
    batch.fill(&mut out);
    batch.set_controls(1, c(140.0)).unwrap();
    let pushed = DEFAULT_GUIDANCE.with(lofigen::runtime::Group::Rhythm, 4.0);
    batch.set_guidance(&pushed).unwrap();
    let mut bad = c(80.0);
    bad.bpm = 1000.0;
    let err = batch.set_controls(2, bad).unwrap_err().to_string();
    assert!(err.contains("1000"), "{err}");
    let mut more = vec![0.0; 3 * 3000];
    batch.fill(&mut more);
    let mut stream = AudioStream::new(&model, &p[1], &o[1]);
    let mut first = vec![0.0; 700];
    stream.fill(&mut first);
    stream.set_controls(c(140.0)).unwrap();
    stream.set_guidance(&pushed).unwrap();
    let mut then = vec![0.0; 3000];
    stream.fill(&mut then);
    assert_eq!(first, out[700..1400]);
    assert_eq!(then, more[3000..6000]);
}

#[test]
fn more_threads_than_streams_and_a_single_stream() {
    let model = tiny_wavenet("", 6);
    let p = prompts(3, 1100);
    let o: Vec<GenerateOptions> = (0..3).map(|s| opts(s, 0, None)).collect();
    // Eight threads for three streams: three shards of one.
    assert_each_alone(&model, &refs(&p), &o, 8, 900);
    // One stream on two threads: one shard.
    assert_each_alone(&model, &refs(&p[..1]), &o[..1], 2, 900);
    // One thread for all: one shard of three.
    assert_each_alone(&model, &refs(&p), &o, 1, 900);
}

/// Prompts shorter and longer than the receptive field (1,025 samples) and of one sample: a
/// shorter prompt joins its shard's priming later, from its stream's reset state.
#[test]
fn prompts_of_different_lengths_each_equal_the_stream_alone() {
    let model = tiny_wavenet("", 7);
    let clip = common::demo_clip();
    let p: Vec<&[f32]> = vec![
        &clip.samples[9000..9001],
        &clip.samples[9000..9300],
        &clip.samples[12_000..15_000],
        &clip.samples[20_000..21_024],
    ];
    let o: Vec<GenerateOptions> = (0..4).map(|s| opts(s, 0, None)).collect();
    assert_each_alone(&model, &p, &o, 2, 1000);
    assert_each_alone(&model, &p, &o, 1, 1000);
}

/// The paper's regressing models batch too (they have no sampler: streams differ by prompt),
/// here with f16 weights.
#[test]
fn a_paper_model_batch_equals_each_stream_alone() {
    let config = RunConfig::preset("seed4").unwrap();
    let model = config.model.init_seeded(11, &lofigen::cpu_device());
    let p = prompts(3, 2500);
    let o = vec![
        GenerateOptions {
            precision: Precision::F16,
            ..Default::default()
        };
        3
    ];
    let short = &p[2][..40];
    let prompts: Vec<&[f32]> = vec![&p[0], &p[1], short];
    assert_each_alone(&model, &prompts, &o, 2, 1200);
}

/// Below the samples: every stream of a several-stream engine gives the logits of an engine of
/// its own, bit for bit (a sampler would hide a difference in the last bits until, once in a
/// long while, it drew another class; a regressing model feeds it back at once).
#[test]
fn each_stream_of_an_engine_gives_the_bits_of_an_engine_of_its_own() {
    use lofigen::generate::{Engine, KernelPath, PaperEngine, WaveNetEngine};
    let clip = common::demo_clip();
    let signal = |s: usize, n: usize| clip.samples[3000 + s * 2500..3000 + s * 2500 + n].to_vec();
    let classes = |x: Vec<f32>| -> Vec<usize> {
        x.iter()
            .map(|&v| lofigen_audio::mulaw::encode(v, 256))
            .collect()
    };
    let small = RunConfig::preset("wavenet-small").unwrap();
    let wavenets = [
        (tiny_wavenet(r#"genres = ["lofi", "piano"]"#, 8), 700),
        (small.model.init_seeded(2, &lofigen::cpu_device()), 150),
    ];
    for (model, steps) in &wavenets {
        let Model::WaveNet(m) = model else {
            unreachable!()
        };
        let inputs: Vec<Vec<usize>> = (0..5).map(|s| classes(signal(s, *steps))).collect();
        for path in KernelPath::available() {
            for precision in [Precision::F32, Precision::F16] {
                let make = |k| {
                    let mut e = WaveNetEngine::new(m, k, precision)
                        .with_kernel(path)
                        .with_threads(1);
                    for s in 0..k {
                        e.set_genre(s, s % 2);
                    }
                    e
                };
                let together = common::teacher_forced(&mut make(5), &inputs);
                for (s, got) in together.iter().enumerate() {
                    let mut one = make(1);
                    one.set_genre(0, s % 2);
                    let alone = common::teacher_forced(&mut one, &inputs[s..s + 1]);
                    assert!(
                        got == &alone[0],
                        "{path:?} {precision:?} stream {s}: logits differ from its own engine's"
                    );
                }
            }
        }
    }
    let config = RunConfig::preset("seed6-code").unwrap();
    let Model::Paper(m) = config.model.init_seeded(11, &lofigen::cpu_device()) else {
        unreachable!()
    };
    let inputs: Vec<Vec<f32>> = (0..3).map(|s| signal(s, 400)).collect();
    for path in KernelPath::available() {
        let make = |k| PaperEngine::new(&m, k, Precision::F32).with_kernel(path);
        let together = common::teacher_forced(&mut make(3), &inputs);
        for (s, got) in together.iter().enumerate() {
            let alone = common::teacher_forced(&mut make(1), &inputs[s..s + 1]);
            assert!(got == &alone[0], "{path:?} paper stream {s}");
        }
    }
}
