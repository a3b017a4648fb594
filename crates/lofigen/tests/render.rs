//! The finished stream (`runtime::Render`): the bundled model through the effects chain. Its
//! output must not depend on how it is read, and with no effects at the model's rate it must be
//! the raw stream, sample for sample.

use lofigen::runtime::{FxPreset, FxSettings, Generator, StreamOptions};

fn opts(fx: FxPreset, rate: u32, seed: u64) -> StreamOptions {
    let mut o = StreamOptions {
        fx: fx.settings(),
        rate,
        ..StreamOptions::default()
    };
    o.sampling.seed = seed;
    o
}

/// `samples` interleaved samples of a fresh render, read `block` at a time.
fn read(generator: &Generator, o: &StreamOptions, samples: usize, block: usize) -> Vec<f32> {
    let mut render = generator.render(o).unwrap();
    let mut out = vec![0.0; samples];
    for part in out.chunks_mut(block) {
        render.fill(part);
    }
    out
}

#[test]
fn a_render_does_not_depend_on_how_it_is_read() {
    let g = Generator::bundled().unwrap();
    let o = opts(FxPreset::Lofi, 44_100, 3);
    // Half a second of stereo: several model blocks, past the chain's latency.
    let n = 44_100;
    let whole = read(&g, &o, n, n);
    assert!(
        whole.iter().any(|&x| x.abs() > 0.01),
        "the render is silent"
    );
    // Odd sizes too: a single sample, half frames, blocks that straddle every boundary.
    for block in [1, 7, 400, 2205, 4411] {
        let parts = read(&g, &o, n, block);
        let first = whole.iter().zip(&parts).position(|(a, b)| a != b);
        assert_eq!(first, None, "blocks of {block}: first difference at sample");
    }
}

#[test]
fn no_effects_at_the_model_rate_is_the_raw_stream_bit_for_bit() {
    let g = Generator::bundled().unwrap();
    let o = opts(FxPreset::None, 8000, 42);
    assert!(o.is_raw());
    let mut render = g.render(&o).unwrap();
    assert!(render.is_raw());
    assert_eq!((render.sample_rate(), render.channels()), (8000, 1));
    let mut rendered = vec![0.0; 4000];
    for part in rendered.chunks_mut(333) {
        render.fill(part);
    }
    let mut raw = vec![0.0; 4000];
    g.stream(&o).unwrap().fill(&mut raw);
    assert_eq!(
        rendered.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        raw.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // Resampling alone is no longer raw: stereo at 44.1 kHz.
    let resampled = g.render(&opts(FxPreset::None, 44_100, 42)).unwrap();
    assert_eq!((resampled.sample_rate(), resampled.channels()), (44_100, 2));
}

#[test]
fn the_seed_reaches_the_effects_too() {
    let g = Generator::bundled().unwrap();
    let a = read(&g, &opts(FxPreset::Lofi, 48_000, 5), 9600, 9600);
    assert_eq!(a, read(&g, &opts(FxPreset::Lofi, 48_000, 5), 9600, 960));
    assert_ne!(a, read(&g, &opts(FxPreset::Lofi, 48_000, 6), 9600, 9600));
}

#[test]
fn a_written_render_has_the_rate_channels_and_length_asked_for() {
    let g = Generator::bundled().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.wav");
    let mut render = g.render(&opts(FxPreset::Lofi, 44_100, 1)).unwrap();
    let mut heard = 0;
    render.write_wav(&path, 0.25, |n| heard += n).unwrap();
    let r = hound::WavReader::open(&path).unwrap();
    assert_eq!((r.spec().channels, r.spec().sample_rate), (2, 44_100));
    assert_eq!(r.duration() as usize, 11_025);
    assert_eq!(heard, 11_025, "progress hears frames");
    // The file holds what reading the render gives, quantised.
    let expected = read(&g, &opts(FxPreset::Lofi, 44_100, 1), 2 * 11_025, 4096);
    let got: Vec<i16> = r.into_samples::<i16>().map(|s| s.unwrap()).collect();
    let q: Vec<i16> = expected
        .iter()
        .map(|&x| {
            (f64::from(x.clamp(-1.0, 1.0)) * 32768.0)
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    assert_eq!(got, q);
    assert!(render.write_wav(&path, -1.0, |_| {}).is_err());
}

#[test]
fn impossible_effects_are_errors_that_say_why() {
    let g = Generator::bundled().unwrap();
    let e = g.render(&opts(FxPreset::Lofi, 1000, 1)).err().unwrap();
    assert!(e.to_string().contains("8000..=192000"), "{e}");
    // The tape preset's 5 kHz low-pass does not fit under 8 kHz's Nyquist limit.
    let e = g.render(&opts(FxPreset::Tape, 8000, 1)).err().unwrap();
    assert!(e.to_string().contains("lowpass_hz"), "{e}");
    let bad = StreamOptions {
        fx: FxSettings {
            width: 2.0,
            ..FxSettings::OFF
        },
        ..StreamOptions::default()
    };
    let e = g.render(&bad).err().unwrap();
    assert!(e.to_string().contains("width"), "{e}");
}

/// Pearson correlation of two equally long series.
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
        b.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
    );
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

#[test]
fn switching_effects_mid_stream_keeps_the_stream_in_time() {
    let g = Generator::bundled().unwrap();
    let o = opts(FxPreset::None, 44_100, 5);
    // Half a second, a switch (to the same plain chain), half a second more: after the new
    // chain settles, it is the unswitched render, in time (a frame's shift would show).
    let n = 44_100;
    let whole = read(&g, &o, 2 * n, n);
    let mut render = g.render(&o).unwrap();
    let mut switched = vec![0.0; 2 * n];
    render.fill(&mut switched[..n]);
    render.set_fx(FxPreset::None.settings()).unwrap();
    render.fill(&mut switched[n..]);
    let settled = n + 4410..2 * n;
    let r = correlation(&whole[settled.clone()], &switched[settled]);
    assert!(r > 0.999, "correlation after the switch {r}");

    // To `none` from `lofi`: the width is gone (left equals right) once the new chain plays.
    let mut render = g.render(&opts(FxPreset::Lofi, 44_100, 5)).unwrap();
    let mut before = vec![0.0; n];
    render.fill(&mut before);
    assert!(
        before.chunks_exact(2).any(|f| f[0] != f[1]),
        "lofi is stereo"
    );
    render.set_fx(FxPreset::None.settings()).unwrap();
    let mut after = vec![0.0; n];
    render.fill(&mut after);
    // First come the old chain's unread frames (less than one model block's worth) and its
    // flushed tail (at most its latency); after them, only the new chain plays.
    let lofi = lofigen_audio::fx::FxChain::new(FxPreset::Lofi.settings(), 8000, 44_100, 5).unwrap();
    let bound = 400 * 44_100 / 8000 + lofi.latency_frames() + 1;
    let last_wide = after.chunks_exact(2).rposition(|f| f[0] != f[1]);
    assert!(
        last_wide.is_some_and(|frame| frame < bound),
        "none is mono in stereo, yet frame {last_wide:?} is wide (bound {bound})"
    );

    // The raw stream has no chain to switch.
    let mut raw = g.render(&opts(FxPreset::None, 8000, 5)).unwrap();
    let e = raw
        .set_fx(FxPreset::Lofi.settings())
        .unwrap_err()
        .to_string();
    assert!(e.contains("raw"), "{e}");
}

/// A batch (streams with seeds 5, 6, 7, and one with other effects, over two threads) read in
/// uneven blocks: each stream equals its own render, sample for sample; at 8 kHz without
/// effects, the raw streams.
#[test]
fn a_render_batch_is_each_streams_own_render() {
    let g = Generator::bundled().unwrap();
    let mut all: Vec<StreamOptions> = (5..8).map(|s| opts(FxPreset::Lofi, 44_100, s)).collect();
    all.push(opts(FxPreset::Vinyl, 44_100, 5));
    let mut batch = g.render_batch(&all, 2).unwrap();
    assert_eq!((batch.streams(), batch.threads()), (4, 2));
    assert_eq!((batch.sample_rate(), batch.channels()), (44_100, 2));
    // Past a batch block (half a second of model samples) and the chains' latency.
    let n = 2 * 30_000;
    let mut got = vec![Vec::new(); all.len()];
    let mut bufs = vec![vec![0.0f32; 2 * 12_345]; all.len()];
    let mut at = 0;
    for frames in [1, 12_345, 2, 5000].into_iter().cycle() {
        let len = (2 * frames).min(n - at);
        let mut parts: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..len]).collect();
        batch.fill(&mut parts);
        for (g, p) in got.iter_mut().zip(&parts) {
            g.extend_from_slice(p);
        }
        at += len;
        if at == n {
            break;
        }
    }
    for (i, o) in all.iter().enumerate() {
        let alone = read(&g, o, n, 4410);
        let first = alone.iter().zip(&got[i]).position(|(a, b)| a != b);
        assert_eq!(first, None, "stream {i}: first difference at sample");
    }
    assert_ne!(got[0], got[1], "other seeds, same sound");
    assert_ne!(got[0], got[3], "other effects, same sound");
    let raw: Vec<StreamOptions> = (0..2).map(|s| opts(FxPreset::None, 8000, s)).collect();
    let mut batch = g.render_batch(&raw, 3).unwrap();
    assert_eq!(
        (batch.sample_rate(), batch.channels(), batch.threads()),
        (8000, 1, 2)
    );
    let mut bufs = vec![vec![0.0f32; 6000]; 2];
    let mut parts: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
    batch.fill(&mut parts);
    for (o, got) in raw.iter().zip(&bufs) {
        let mut alone = vec![0.0; 6000];
        g.stream(o).unwrap().fill(&mut alone);
        assert_eq!(&alone, got);
    }
}

#[test]
fn a_batch_refuses_what_its_streams_cannot_share_and_names_the_stream() {
    let g = Generator::bundled().unwrap();
    let o = opts(FxPreset::Lofi, 44_100, 1);
    let err = |r: lofigen::Result<lofigen::runtime::RenderBatch>| match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let e = err(g.render_batch(&[], 2));
    assert!(e.contains("at least one stream"), "{e}");
    let e = err(g.render_batch(std::slice::from_ref(&o), 0));
    assert!(e.contains("at least one thread"), "{e}");
    let mut other = o.clone();
    other.rate = 48_000;
    let e = err(g.render_batch(&[o.clone(), o.clone(), other], 2));
    assert!(e.contains("stream 2") && e.contains("rate"), "{e}");
    let mut other = o.clone();
    // The default is f16.
    other.precision = lofigen::runtime::Precision::F32;
    let e = err(g.render_batch(&[o.clone(), other], 2));
    assert!(e.contains("stream 1") && e.contains("precision"), "{e}");
    let mut other = o.clone();
    other.sampling.temperature = -1.0;
    let e = err(g.render_batch(&[o, other], 2));
    assert!(e.contains("temperature"), "{e}");
}

/// A switch of effects is not heard as a click or a gap: where the new chain takes over, the
/// waveform steps no more than the unswitched render does around there, and no 2-ms window of
/// the next 50 ms falls below 70 % of the unswitched render's level.
#[test]
fn switching_effects_leaves_no_step_and_no_gap() {
    let g = Generator::bundled().unwrap();
    let n = 44_100;
    // Both between presets and to a fresh copy of the same one (its wow and reverb restart).
    for (from, to, seed) in [
        (FxPreset::Lofi, FxPreset::Clean, 7),
        (FxPreset::Tape, FxPreset::Tape, 8),
    ] {
        let unswitched = read(&g, &opts(from, 44_100, seed), 4 * n, 2 * n);
        let mut render = g.render(&opts(from, 44_100, seed)).unwrap();
        let mut y = vec![0.0; 4 * n];
        render.fill(&mut y[..2 * n]);
        render.set_fx(to.settings()).unwrap();
        render.fill(&mut y[2 * n..]);
        // The first frame that differs: where the old chain's tail ends.
        let b = (0..y.len())
            .find(|&i| y[i] != unswitched[i])
            .expect("the switch changes the sound")
            / 2;
        assert!(
            b >= n,
            "{from} -> {to}: frame {b} changed before the switch"
        );
        let step = |v: &[f32], f: usize| {
            (0..2)
                .map(|c| (v[2 * f + c] - v[2 * f - 2 + c]).abs())
                .fold(0.0f32, f32::max)
        };
        let around = (b - 220..b + 220)
            .map(|f| step(&unswitched, f))
            .fold(0.0f32, f32::max);
        let after = (b..b + 220).map(|f| step(&y, f)).fold(0.0f32, f32::max);
        assert!(
            after <= 1.5 * around,
            "{from} -> {to}: a step of {after} at frame {b}; the music steps {around} there"
        );
        let level = |v: &[f32], f: usize| {
            (v[2 * f..2 * (f + 88)].iter().map(|x| x * x).sum::<f32>() / 176.0).sqrt()
        };
        for f in (b..b + 2205).step_by(44) {
            let ratio = level(&y, f) / level(&unswitched, f).max(1e-6);
            assert!(
                ratio >= 0.7,
                "{from} -> {to}: the level falls to {ratio:.2} of the unswitched at frame {f}"
            );
        }
    }
}
