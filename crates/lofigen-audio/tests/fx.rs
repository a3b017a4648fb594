//! The lofi effects chain, checked physically: each test would fail if its stage were broken.

mod common;

use common::{db, rms};
use lofigen_audio::fx::{FxChain, FxError, FxPreset, FxSettings};
use lofigen_audio::signal::{sine, white_noise};
use lofigen_audio::spectrum::peak_frequency;
use lofigen_audio::{StreamResampler, write_wav16_interleaved};

const IN: u32 = 8000;
const OUT: u32 = 44_100;

/// The whole stream through a fresh chain, pushed in blocks of `block` samples.
fn run_blocks(
    settings: FxSettings,
    input: &[f32],
    out_rate: u32,
    seed: u64,
    block: usize,
) -> Vec<f32> {
    let mut chain = FxChain::new(settings, IN, out_rate, seed).unwrap();
    let mut out = Vec::new();
    for piece in input.chunks(block.max(1)) {
        chain.process(piece, &mut out);
    }
    chain.flush(&mut out);
    out
}

fn run(settings: FxSettings, input: &[f32]) -> Vec<f32> {
    run_blocks(settings, input, OUT, 1, 1000)
}

fn channel(stereo: &[f32], c: usize) -> Vec<f32> {
    stereo.iter().skip(c).step_by(2).copied().collect()
}

/// The second half of a signal: filters and followers have settled by then.
fn settled(x: &[f32]) -> &[f32] {
    &x[x.len() / 2..]
}

fn with(f: impl FnOnce(&mut FxSettings)) -> FxSettings {
    let mut s = FxSettings::OFF;
    f(&mut s);
    s
}

#[test]
fn low_pass_attenuates_above_its_corner() {
    let lp = with(|s| s.lowpass_hz = Some(1000.0));
    let level = |settings, hz| {
        rms(settled(&channel(
            &run(settings, &sine(hz, IN, 2.0, 0.5)),
            0,
        )))
    };
    let (below, above) = (level(lp, 250.0), level(lp, 3000.0));
    // 2nd order: ~0 dB an octave and more below, -19 dB at three times the corner.
    assert!(db(below, 0.5 / 2f32.sqrt()).abs() < 0.5, "250 Hz: {below}");
    assert!(
        db(above, below) < -16.0,
        "3 kHz only {} dB down",
        db(above, below)
    );
    // Without the filter the 3 kHz tone is there: the attenuation is the filter's.
    let open = level(FxSettings::OFF, 3000.0);
    assert!(
        db(open, 0.5 / 2f32.sqrt()).abs() < 0.5,
        "3 kHz unfiltered: {open}"
    );
}

#[test]
fn high_pass_removes_dc_and_rumble() {
    let hp = with(|s| s.highpass_hz = Some(80.0));
    let dc = channel(&run(hp, &vec![0.3; 16_000]), 0);
    let mean = settled(&dc).iter().sum::<f32>() / settled(&dc).len() as f32;
    assert!(mean.abs() < 1e-3, "DC left: {mean}");
    let level = |hz| rms(settled(&channel(&run(hp, &sine(hz, IN, 2.0, 0.5)), 0)));
    let (rumble, tone) = (level(20.0), level(500.0));
    assert!(
        db(rumble, tone) < -20.0,
        "20 Hz only {} dB down",
        db(rumble, tone)
    );
    assert!(db(tone, 0.5 / 2f32.sqrt()).abs() < 0.3, "500 Hz: {tone}");
}

#[test]
fn limiter_never_exceeds_its_ceiling_and_leaves_quiet_input_alone() {
    let lim = with(|s| s.ceiling_dbfs = Some(-1.0));
    let ceiling = 10f32.powf(-1.0 / 20.0);
    // +12 dB over full scale, with noise bursts for sudden peaks.
    let mut loud = sine(440.0, IN, 2.0, 4.0);
    for (x, n) in loud
        .iter_mut()
        .zip(white_noise(16_000, 4.0, 9))
        .skip(4000)
        .step_by(7)
    {
        *x += n;
    }
    let out = run(lim, &loud);
    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak <= ceiling, "peak {peak} over the ceiling {ceiling}");
    assert!(
        peak > 0.8 * ceiling,
        "the limiter squashed too hard: {peak}"
    );
    // A quiet signal comes out as it went in, sample for sample (the look-ahead is undone).
    let quiet = sine(440.0, IN, 1.0, 0.1);
    let (a, b) = (run(lim, &quiet), run(FxSettings::OFF, &quiet));
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst < 1e-5, "quiet input changed by {worst}");
}

#[test]
fn none_is_the_resampler_on_both_channels_bit_for_bit() {
    let input: Vec<f32> = sine(440.0, IN, 1.5, 0.4)
        .iter()
        .zip(white_noise(12_000, 0.2, 4))
        .map(|(a, b)| a + b)
        .collect();
    let out = run_blocks(FxPreset::None.into(), &input, OUT, 3, 777);
    let mut want = Vec::new();
    let mut rs = StreamResampler::new(IN, OUT);
    rs.push(&input, &mut want);
    rs.finish(&mut want);
    assert_eq!(channel(&out, 0), want);
    assert_eq!(channel(&out, 1), want);
}

#[test]
fn width_keeps_the_mono_sum_and_decorrelates_the_sides() {
    let input = white_noise(16_000, 0.5, 11);
    let mono = channel(&run(FxSettings::OFF, &input), 0);
    let wide = run(with(|s| s.width = 1.0), &input);
    let (l, r) = (channel(&wide, 0), channel(&wide, 1));
    let worst = l
        .iter()
        .zip(&r)
        .zip(&mono)
        .fold(0.0f32, |m, ((l, r), m0)| m.max(((l + r) / 2.0 - m0).abs()));
    assert!(worst < 1e-6, "mono sum differs from the mid by {worst}");
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>();
    let corr = dot(&l, &r) / (dot(&l, &l) * dot(&r, &r)).sqrt();
    assert!(corr > 0.0 && corr < 0.99, "L/R correlation {corr}");
}

#[test]
fn output_has_the_output_rate_length_and_pitch() {
    for out_rate in [44_100, 48_000] {
        let tone = sine(440.0, IN, 1.0, 0.5);
        let mut chain = FxChain::new(FxPreset::Clean, IN, out_rate, 5).unwrap();
        assert_eq!((chain.out_rate(), chain.channels()), (out_rate, 2));
        let mut out = Vec::new();
        chain.process(&tone, &mut out);
        let early = out.len() / 2;
        assert!(
            early + chain.latency_frames() >= out_rate as usize,
            "{early} frames"
        );
        chain.flush(&mut out);
        assert_eq!(out.len(), 2 * out_rate as usize);
        let f = peak_frequency(&channel(&out, 0), out_rate);
        assert!((f - 440.0).abs() < 1.0, "{out_rate} Hz: peak at {f} Hz");
    }
    // Through the full lofi preset (wow included) the tone stays at 440 Hz on average.
    let out = run(FxPreset::Lofi.into(), &sine(440.0, IN, 2.0, 0.5));
    let f = peak_frequency(&channel(&out, 0), OUT);
    assert!((f - 440.0).abs() < 2.0, "lofi: peak at {f} Hz");
}

#[test]
fn crackle_and_hiss_add_energy_to_silence_only_when_on() {
    let silence = vec![0.0; 16_000];
    assert!(run(FxSettings::OFF, &silence).iter().all(|&x| x == 0.0));
    let everything_but_noise = FxSettings {
        crackle_per_s: 0.0,
        hiss_dbfs: None,
        ..FxPreset::Lofi.settings()
    };
    assert!(
        run(everything_but_noise, &silence)
            .iter()
            .all(|&x| x == 0.0)
    );
    let crackle = channel(&run(with(|s| s.crackle_per_s = 20.0), &silence), 0);
    let peak = crackle.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.01, "no audible clicks: peak {peak}");
    // Sparse: clicks, not a noise floor.
    let busy = crackle.iter().filter(|x| x.abs() > 0.1 * peak).count();
    assert!(
        busy < crackle.len() / 50,
        "{busy} busy samples of {}",
        crackle.len()
    );
    let hiss = channel(&run(with(|s| s.hiss_dbfs = Some(-60.0)), &silence), 0);
    let level = 20.0 * rms(&hiss).log10();
    assert!((level + 60.0).abs() < 2.0, "hiss at {level} dBFS");
}

#[test]
fn saturation_lowers_the_crest_factor_of_a_loud_sine_and_spares_quiet_ones() {
    let drive = with(|s| s.drive_db = 12.0);
    let crest = |x: &[f32]| x.iter().fold(0.0f32, |m, v| m.max(v.abs())) / rms(x);
    let loud = sine(200.0, IN, 1.0, 0.9);
    let clean = channel(&run(FxSettings::OFF, &loud), 0);
    let driven = channel(&run(drive, &loud), 0);
    assert!(crest(settled(&clean)) > 1.38, "{}", crest(settled(&clean)));
    assert!(
        crest(settled(&driven)) < 1.2,
        "crest {}",
        crest(settled(&driven))
    );
    let quiet = sine(200.0, IN, 1.0, 0.01);
    let (a, b) = (run(FxSettings::OFF, &quiet), run(drive, &quiet));
    assert!(db(rms(&b), rms(&a)).abs() < 0.1, "quiet level moved");
}

#[test]
fn wow_bends_pitch_only_when_on() {
    let tone = sine(1000.0, IN, 4.0, 0.5);
    let spread = |settings| {
        let left = channel(&run(settings, &tone), 0);
        let pitches: Vec<f32> = left[OUT as usize / 4..left.len() - OUT as usize / 4]
            .chunks_exact(OUT as usize / 4)
            .map(|w| peak_frequency(w, OUT))
            .collect();
        let lo = pitches.iter().fold(f32::MAX, |m, &p| m.min(p));
        let hi = pitches.iter().fold(f32::MIN, |m, &p| m.max(p));
        (lo, hi)
    };
    let (lo, hi) = spread(FxSettings::OFF);
    assert!(
        hi - lo < 0.5 && (lo - 1000.0).abs() < 0.5,
        "steady tone moved: {lo}..{hi}"
    );
    // 1 % wow: +-10 Hz at 1 kHz, a little less averaged over quarter seconds.
    let (lo, hi) = spread(with(|s| s.wow_percent = 1.0));
    assert!(
        hi - lo > 8.0 && hi - lo < 25.0,
        "wow pitch range {lo}..{hi}"
    );
    assert!(lo < 1000.0 && hi > 1000.0, "wow is not centred: {lo}..{hi}");
    // Its mean delay is taken back out: a barely moving tape is the dry signal, in time.
    let (a, b) = (
        run(with(|s| s.wow_percent = 1e-5), &tone),
        run(FxSettings::OFF, &tone),
    );
    let worst = a
        .iter()
        .zip(&b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst < 1e-3, "wow shifted the signal: {worst}");
}

#[test]
fn same_seed_same_output_whatever_the_block_size() {
    let input: Vec<f32> = sine(330.0, IN, 3.0, 0.6)
        .iter()
        .zip(white_noise(24_000, 0.3, 2))
        .map(|(a, b)| a + b)
        .collect();
    let lofi = FxPreset::Lofi.settings();
    let whole = run_blocks(lofi, &input, OUT, 42, input.len());
    for block in [1, 1000, 4096] {
        assert!(
            run_blocks(lofi, &input, OUT, 42, block) == whole,
            "block {block}"
        );
    }
    assert!(
        run_blocks(lofi, &input, OUT, 43, 1000) != whole,
        "the seed is ignored"
    );
    // A flushed chain starts over: a second stream equals the first.
    let mut chain = FxChain::new(lofi, IN, OUT, 42).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for out in [&mut a, &mut b] {
        chain.process(&input, out);
        chain.flush(out);
    }
    assert!(a == whole, "a fresh chain differs");
    assert!(b == whole, "the chain does not start over after flush");
}

#[test]
fn non_finite_input_does_not_poison_the_chain() {
    let mut input = vec![f32::NAN; 500];
    input.extend([f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30]);
    input.extend(sine(440.0, IN, 1.0, 0.5));
    let out = run(FxPreset::Lofi.into(), &input);
    assert!(out.iter().all(|x| x.is_finite()));
    let tail = channel(&out, 0);
    assert!(rms(settled(&tail)) > 0.1, "silent after the NaNs");
}

#[test]
fn presets_parse_by_name_and_bad_names_or_knobs_are_named_in_the_error() {
    for p in FxPreset::ALL {
        assert_eq!(p.name().parse::<FxPreset>(), Ok(p));
        p.settings().validate(OUT).unwrap();
    }
    assert_eq!(" LoFi ".parse::<FxPreset>(), Ok(FxPreset::Lofi));
    assert_eq!(FxPreset::default(), FxPreset::Lofi);
    assert_eq!(FxSettings::default(), FxPreset::Lofi.settings());
    let e = "lofy".parse::<FxPreset>().unwrap_err().to_string();
    assert!(
        e.contains("\"lofy\"") && e.contains("none, clean, tape, vinyl, lofi"),
        "{e}"
    );
    let cases: [(FxSettings, &str, &str); 4] = [
        (with(|s| s.width = 1.5), "width", "1.5"),
        (
            with(|s| s.lowpass_hz = Some(30_000.0)),
            "lowpass_hz",
            "30000",
        ),
        (with(|s| s.wow_percent = f32::NAN), "wow_percent", "NaN"),
        (with(|s| s.hiss_dbfs = Some(-10.0)), "hiss_dbfs", "-10"),
    ];
    for (settings, knob, value) in cases {
        let e = FxChain::new(settings, IN, OUT, 0).err().unwrap();
        assert!(matches!(e, FxError::OutOfRange { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(knob) && msg.contains(value), "{msg}");
    }
    let e = FxChain::new(FxPreset::Lofi, 0, OUT, 0).err().unwrap();
    assert!(e.to_string().contains("0 Hz"), "{e}");
    // The low-pass must stay below the output's Nyquist band.
    let lp = with(|s| s.lowpass_hz = Some(10_000.0));
    assert!(FxChain::new(lp, IN, 16_000, 0).is_err());
    assert!(FxChain::new(lp, IN, OUT, 0).is_ok());
}

#[test]
fn chain_output_writes_as_a_stereo_wav() {
    let out = run(FxPreset::Vinyl.into(), &sine(440.0, IN, 0.5, 0.5));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("radio.wav");
    write_wav16_interleaved(&path, &out, 2, OUT).unwrap();
    let r = hound::WavReader::open(&path).unwrap();
    assert_eq!((r.spec().channels, r.spec().sample_rate), (2, OUT));
    assert_eq!(r.duration() as usize, out.len() / 2);
}
