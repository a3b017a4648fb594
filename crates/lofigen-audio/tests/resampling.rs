//! The resampler keeps length, timing, pitch and level, and filters what cannot be represented.

mod common;

use common::{db, rms};
use lofigen_audio::signal::{sine, white_noise};
use lofigen_audio::spectrum::peak_frequency;
use lofigen_audio::{Clip, StreamResampler, resample};

fn expected(n: usize, from: u32, to: u32) -> i64 {
    (n as f64 * f64::from(to) / f64::from(from)).round() as i64
}

#[test]
fn output_length_is_input_times_ratio() {
    for &(from, to) in &[
        (44100u32, 8000u32),
        (48000, 8000),
        (96000, 8000),
        (22050, 8000),
        (16000, 8000),
        (8000, 44100),
        (44100, 48000),
        (7919, 8000), // coprime rates: the FFT block is a whole second
    ] {
        for &n in &[1usize, 100, 4321, 44100, 123_457] {
            let y = resample(&Clip::new(vec![0.1; n], from), to);
            assert_eq!(y.sample_rate, to);
            let d = y.len() as i64 - expected(n, from, to);
            assert!(d.abs() <= 2, "{from}->{to}, n={n}: {} samples", y.len());
        }
    }
}

/// Index of the largest absolute value.
fn argmax_abs(x: &[f32]) -> usize {
    (0..x.len())
        .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
        .unwrap()
}

#[test]
fn impulse_is_not_shifted() {
    for &(from, to) in &[
        (44100u32, 8000u32),
        (48000, 8000),
        (8000, 16000),
        (22050, 8000),
    ] {
        // Impulses at instants that fall on an output sample.
        for &t in &[0.25f64, 0.5, 1.75] {
            let pos_in = (t * f64::from(from)).round() as usize;
            let mut x = vec![0.0f32; 2 * from as usize];
            x[pos_in] = 1.0;
            let y = resample(&Clip::new(x, from), to);
            let want = (t * f64::from(to)).round() as i64;
            let got = argmax_abs(&y.samples) as i64;
            assert!(
                (got - want).abs() <= 1,
                "{from}->{to}: impulse at {want} came out at {got}"
            );
        }
    }
}

#[test]
fn chirp_lines_up_with_the_same_chirp_made_at_the_target_rate() {
    // A 100 -> 3000 Hz chirp (all below 4 kHz) resampled from 44.1 kHz must match the chirp
    // synthesised directly at 8 kHz: cross-correlation peaks at lag 0 and the residual is small.
    let chirp = |rate: u32| -> Vec<f32> {
        let n = (1.5 * f64::from(rate)) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let (f0, k) = (100.0, (3000.0 - 100.0) / 1.5);
                (0.5 * (std::f64::consts::TAU * (f0 * t + 0.5 * k * t * t)).sin()) as f32
            })
            .collect()
    };
    let y = resample(&Clip::new(chirp(44100), 44100), 8000);
    let r = chirp(8000);
    assert!((y.len() as i64 - r.len() as i64).abs() <= 1);
    let n = y.len().min(r.len());
    let (a, b) = (&y.samples[400..n - 400], &r[400..n - 400]);
    let corr = |lag: i64| -> f64 {
        a.iter()
            .enumerate()
            .filter_map(|(i, &v)| {
                let j = i as i64 + lag;
                (0..b.len() as i64)
                    .contains(&j)
                    .then(|| f64::from(v) * f64::from(b[j as usize]))
            })
            .sum()
    };
    let best = (-20..=20)
        .max_by(|&p, &q| corr(p).total_cmp(&corr(q)))
        .unwrap();
    assert!(best.abs() <= 1, "chirp shifted by {best} samples");
    let err: Vec<f32> = a.iter().zip(b).map(|(p, q)| p - q).collect();
    let snr = db(rms(b), rms(&err));
    // A shift of even a tenth of an output sample would limit this to about 20 dB.
    assert!(snr > 60.0, "resampled chirp only {snr} dB above the error");
}

#[test]
fn no_fractional_shift_for_any_rate_pair() {
    // A 3 kHz tone resampled must equal the tone synthesised at the target rate, sample for
    // sample: any sub-sample delay shows up as a phase error (0.1 sample at 3 kHz is -14 dB).
    for &(from, to) in &[
        (44100u32, 8000u32),
        (48000, 8000),
        (22050, 8000),
        (11025, 8000),
        (7919, 8000),
        (8000, 44100),
        (8000, 16000),
        (44100, 48000),
    ] {
        let x = sine(3000.0, from, 1.0, 0.5);
        let y = resample(&Clip::new(x, from), to);
        let r = sine(3000.0, to, 1.0, 0.5);
        let n = y.len().min(r.len());
        let (a, b) = (&y.samples[n / 4..n * 3 / 4], &r[n / 4..n * 3 / 4]);
        let err: Vec<f32> = a.iter().zip(b).map(|(p, q)| p - q).collect();
        let snr = db(rms(b), rms(&err));
        assert!(snr > 60.0, "{from}->{to}: only {snr} dB above the error");
    }
}

#[test]
fn passband_tone_keeps_pitch_and_level() {
    for &from in &[44100u32, 48000, 32000, 11025] {
        let x = sine(440.0, from, 2.0, 0.7);
        let y = resample(&Clip::new(x.clone(), from), 8000);
        let f = peak_frequency(&y.samples, 8000);
        assert!((f - 440.0).abs() < 2.0, "{from}: peak at {f}");
        let mid = &y.samples[y.len() / 8..y.len() * 7 / 8];
        let d = db(rms(mid), rms(&x));
        assert!(d.abs() < 0.5, "{from}: level changed by {d} dB");
    }
}

#[test]
fn stopband_tones_are_attenuated_by_40_db() {
    for &f in &[4500.0f32, 5000.0, 7000.0, 12000.0, 20000.0] {
        let x = sine(f, 44100, 1.0, 0.5);
        let y = resample(&Clip::new(x.clone(), 44100), 8000);
        let mid = &y.samples[y.len() / 8..y.len() * 7 / 8];
        let att = db(rms(mid), rms(&x));
        assert!(att < -40.0, "{f} Hz only attenuated by {att} dB");
    }
}

#[test]
fn white_noise_keeps_the_passband_share_of_its_power() {
    // Band-limiting 44.1 kHz white noise to 4 kHz keeps about 4000/22050 of its power.
    let x = white_noise(44100 * 2, 0.5, 11);
    let y = resample(&Clip::new(x.clone(), 44100), 8000);
    let d = db(rms(&y.samples[800..y.len() - 800]), rms(&x));
    let want = 10.0 * (4000.0f32 / 22050.0).log10();
    assert!(
        (d - want).abs() < 0.6,
        "noise level {d} dB, want about {want} dB"
    );
}

#[test]
fn streaming_in_any_chunking_gives_the_same_output() {
    let x = white_noise(50_000, 0.5, 2);
    let whole = resample(&Clip::new(x.clone(), 48000), 8000);
    for chunk in [1usize, 37, 576, 1152, 4096, 50_000] {
        let mut out = Vec::new();
        let mut rs = StreamResampler::new(48000, 8000);
        for piece in x.chunks(chunk) {
            rs.push(piece, &mut out);
        }
        rs.finish(&mut out);
        assert_eq!(out, whole.samples, "chunk size {chunk}");
    }
}

#[test]
fn empty_input_gives_empty_output() {
    let y = resample(&Clip::new(Vec::new(), 44100), 8000);
    assert!(y.is_empty());
    assert_eq!(y.sample_rate, 8000);
}
