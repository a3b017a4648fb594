//! Musical analysis on signals synthesised here: click tracks, a drum pattern, chord
//! progressions, tones and noise, each with a known answer.

use lofigen_audio::analysis::{
    self, BEAT_TOLERANCE_S, Chord, MusicAnalysis, TEMPO_TOLERANCE, beat_f_measure, chord_agreement,
    parse_progression, tempo_matches,
};
use lofigen_audio::{Clip, signal};

const SR: u32 = 8000;

/// Adds `sound` into `x` starting at `at` seconds (cut at the end of `x`).
fn mix(x: &mut [f32], rate: u32, at: f64, sound: &[f32]) {
    let start = (at * f64::from(rate)).round() as usize;
    for (d, s) in x.iter_mut().skip(start).zip(sound) {
        *d += s;
    }
}

/// A 10 ms click: a decaying 1 kHz tone with a little noise.
fn click(rate: u32, seed: u64) -> Vec<f32> {
    let n = (rate / 100) as usize;
    let noise = signal::white_noise(n, 0.2, seed);
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            (0.6 * (std::f32::consts::TAU * 1000.0 * t).sin() + noise[i]) * (-t / 0.003).exp()
        })
        .collect()
}

/// Beat times of a steady grid from `offset` to the end of `seconds`.
fn grid(bpm: f64, offset: f64, seconds: f64) -> Vec<f64> {
    (0..)
        .map(|k| offset + f64::from(k) * 60.0 / bpm)
        .take_while(|&t| t < seconds - 0.05)
        .collect()
}

fn click_track(rate: u32, bpm: f64, seconds: f64, offset: f64) -> (Clip, Vec<f64>) {
    let beats = grid(bpm, offset, seconds);
    let mut x = vec![0.0f32; (seconds * f64::from(rate)) as usize];
    for (k, &b) in beats.iter().enumerate() {
        mix(&mut x, rate, b, &click(rate, k as u64));
    }
    (Clip::new(x, rate), beats)
}

fn analyse(clip: &Clip) -> MusicAnalysis {
    analysis::analyze_music(clip).unwrap()
}

#[test]
fn click_tracks_read_their_tempo_and_beats() {
    for bpm in [70.0, 80.0, 100.0, 123.0] {
        let (clip, truth) = click_track(SR, bpm, 30.0, 0.37);
        let a = analyse(&clip);
        let tempo = a.tempo.expect("a click track has a beat");
        assert!(
            (tempo.bpm - bpm).abs() <= 1.0,
            "{bpm} BPM click track read as {} BPM",
            tempo.bpm
        );
        assert!(tempo_matches(tempo.bpm, bpm, TEMPO_TOLERANCE));
        assert!(
            tempo.confidence > 0.3,
            "{bpm} BPM: confidence {}",
            tempo.confidence
        );
        assert!(
            a.beat_strength > 0.5,
            "{bpm} BPM: beat strength {}",
            a.beat_strength
        );
        let f = beat_f_measure(&a.beats, &truth, BEAT_TOLERANCE_S);
        assert!(f >= 0.9, "{bpm} BPM: beat F-measure {f}");
        // Not just within 70 ms: the tracker's beats sit on the clicks.
        let mean_err = a
            .beats
            .iter()
            .map(|b| truth.iter().map(|t| (b - t).abs()).fold(f64::MAX, f64::min))
            .sum::<f64>()
            / a.beats.len() as f64;
        assert!(mean_err < 0.025, "{bpm} BPM: mean beat error {mean_err} s");
    }
}

#[test]
fn tempo_does_not_depend_on_the_sample_rate() {
    for rate in [16_000, 44_100] {
        let (clip, truth) = click_track(rate, 80.0, 20.0, 0.2);
        let a = analyse(&clip);
        let bpm = a.tempo.unwrap().bpm;
        assert!((bpm - 80.0).abs() <= 1.0, "{rate} Hz: {bpm} BPM");
        let f = beat_f_measure(&a.beats, &truth, BEAT_TOLERANCE_S);
        assert!(f >= 0.9, "{rate} Hz: F-measure {f}");
    }
}

/// Kick: a falling sine, 60 Hz to 45 Hz over 150 ms.
fn kick(gain: f32) -> Vec<f32> {
    let n = (0.15 * SR as f32) as usize;
    let mut phase = 0.0f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / SR as f32;
            phase += std::f32::consts::TAU * (45.0 + 60.0 * (-t / 0.03).exp()) / SR as f32;
            gain * phase.sin() * (-t / 0.06).exp()
        })
        .collect()
}

/// Snare: a noise burst over a 190 Hz body.
fn snare(seed: u64) -> Vec<f32> {
    let n = (0.12 * SR as f32) as usize;
    let noise = signal::white_noise(n, 0.35, seed);
    (0..n)
        .map(|i| {
            let t = i as f32 / SR as f32;
            (noise[i] + 0.3 * (std::f32::consts::TAU * 190.0 * t).sin()) * (-t / 0.04).exp()
        })
        .collect()
}

/// Hi-hat: differenced noise (mostly above 2 kHz), 30 ms.
fn hat(seed: u64) -> Vec<f32> {
    let noise = signal::white_noise((0.03 * SR as f32) as usize, 0.15, seed);
    (0..noise.len())
        .map(|i| {
            let d = noise[i] - if i > 0 { noise[i - 1] } else { 0.0 };
            d * (-(i as f32) / (0.008 * SR as f32)).exp()
        })
        .collect()
}

#[test]
fn downbeats_land_on_the_bar_starts_of_a_drum_pattern() {
    let (bpm, offset, seconds) = (90.0, 0.41, 40.0);
    let beat = 60.0 / bpm;
    let mut x = vec![0.0f32; (seconds * f64::from(SR)) as usize];
    let beats = grid(bpm, offset, seconds);
    // The clip starts on beat 3 of a bar, so "every fourth beat from the first" is wrong.
    let pickup = 2;
    for (k, &b) in beats.iter().enumerate() {
        match (k + pickup) % 4 {
            // The bar's accent: a louder kick on the one.
            0 => mix(&mut x, SR, b, &kick(1.0)),
            2 => mix(&mut x, SR, b, &kick(0.55)),
            _ => mix(&mut x, SR, b, &snare(k as u64)),
        }
        mix(&mut x, SR, b, &hat(1000 + k as u64));
        mix(&mut x, SR, b + beat / 2.0, &hat(2000 + k as u64));
    }
    let a = analyse(&Clip::new(x, SR));
    let bpm_read = a.tempo.unwrap().bpm;
    assert!(
        (bpm_read - bpm).abs() <= 1.0,
        "drums read as {bpm_read} BPM"
    );
    assert!(beat_f_measure(&a.beats, &beats, BEAT_TOLERANCE_S) >= 0.9);
    let bar_starts: Vec<f64> = beats.iter().copied().skip(4 - pickup).step_by(4).collect();
    assert!(a.downbeats.len() >= 12, "{} downbeats", a.downbeats.len());
    for d in &a.downbeats {
        let err = bar_starts
            .iter()
            .map(|s| (d - s).abs())
            .fold(f64::MAX, f64::min);
        assert!(
            err < BEAT_TOLERANCE_S,
            "downbeat at {d:.3} s is not a bar start"
        );
    }
    // Bars run from downbeat to downbeat, four beats long.
    for bar in &a.bars {
        assert!(
            (bar.end_s - bar.start_s - 4.0 * beat).abs() < 0.05,
            "{bar:?}"
        );
    }
    assert!(a.bars.len() >= a.downbeats.len() - 1);
}

#[test]
fn noise_and_silence_have_no_beat() {
    let noise = analyse(&Clip::new(
        signal::white_noise(30 * SR as usize, 0.5, 42),
        SR,
    ));
    assert_eq!(noise.tempo, None, "white noise");
    assert!(
        noise.beat_strength < 0.15,
        "noise beat strength {}",
        noise.beat_strength
    );
    assert!(noise.beats.is_empty() && noise.downbeats.is_empty() && noise.bars.is_empty());

    // Short stretches of noise correlate more by chance, and still read as no beat.
    for seed in 0..8 {
        for seconds in [5, 10] {
            let x = signal::white_noise(seconds * SR as usize, 0.5, seed);
            let a = analyse(&Clip::new(x, SR));
            assert_eq!(a.tempo, None, "{seconds} s of noise, seed {seed}: {a:?}");
        }
    }

    let silence = analyse(&Clip::new(vec![0.0; 30 * SR as usize], SR));
    assert_eq!(silence.tempo, None, "silence");
    assert_eq!(silence.beat_strength, 0.0);
    assert_eq!(silence.key, None);
    assert!(
        silence
            .chroma
            .frames
            .iter()
            .all(|f| f.iter().all(|&v| v == 0.0))
    );
}

/// MIDI note to Hz.
fn hz(midi: i32) -> f32 {
    440.0 * 2f32.powf((midi - 69) as f32 / 12.0)
}

/// A note of four harmonic partials (1, 1/2, 1/3, 1/4) with a soft attack and a slow decay.
fn note(midi: i32, seconds: f32, gain: f32) -> Vec<f32> {
    let f = hz(midi);
    let n = (seconds * SR as f32) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / SR as f32;
            let env = (t / 0.01).min(1.0) * (-t / 2.0).exp();
            let tone: f32 = (1..=4)
                .filter(|&h| f * (h as f32) < SR as f32 / 2.0)
                .map(|h| (std::f32::consts::TAU * f * h as f32 * t).sin() / h as f32)
                .sum();
            gain * env * tone
        })
        .collect()
}

/// One chord per bar of four beats at `bpm`, the progression looped `loops` times: the root in
/// the bass (C2..B2), the chord tones between G3 and F#4, a soft kick on every beat, and a little
/// noise.
fn progression_clip(chords: &[Chord], bpm: f64, loops: usize) -> Clip {
    let bar = 4.0 * 60.0 / bpm;
    let seconds = bar * (chords.len() * loops) as f64;
    let mut x = signal::white_noise((seconds * f64::from(SR)) as usize, 0.01, 9);
    for k in 0..chords.len() * loops {
        let chord = chords[k % chords.len()];
        let start = k as f64 * bar;
        let root = chord.root.index() as i32;
        mix(&mut x, SR, start, &note(36 + root, bar as f32, 0.25));
        for pc in chord.pitch_classes() {
            let midi = 55 + (pc.index() as i32 - 7).rem_euclid(12);
            mix(&mut x, SR, start, &note(midi, bar as f32, 0.12));
        }
        for b in 0..4 {
            mix(&mut x, SR, start + b as f64 * 60.0 / bpm, &kick(0.8));
        }
    }
    Clip::new(x, SR)
}

#[test]
fn a_synthesised_progression_reads_back_bar_by_bar() {
    let chords = parse_progression("Dm7 G7 Cmaj7 Am7").unwrap();
    for shift in [0, 5] {
        let chords: Vec<Chord> = chords.iter().map(|c| c.transpose(shift)).collect();
        let a = analyse(&progression_clip(&chords, 90.0, 4));
        let agreement = chord_agreement(&a, &chords, 90.0, 4, 0.0).unwrap();
        assert_eq!(agreement.bars.len(), 16);
        let heard: Vec<String> = agreement
            .bars
            .iter()
            .map(|b| b.detected.map_or("-".into(), |c| c.to_string()))
            .collect();
        assert!(
            agreement.share >= 0.9,
            "+{shift} semitones: agreement {} ({heard:?})",
            agreement.share
        );
        // Asking for another progression scores low.
        let wrong: Vec<Chord> = chords.iter().map(|c| c.transpose(2)).collect();
        let low = chord_agreement(&a, &wrong, 90.0, 4, 0.0).unwrap().share;
        assert!(low <= 0.25, "+{shift}: a wrong progression agrees {low}");
        // Every beat is the same kick: only the chord changes can place the downbeats.
        let bar = 4.0 * 60.0 / 90.0;
        assert!(
            a.downbeats.len() >= 12,
            "+{shift}: {} downbeats",
            a.downbeats.len()
        );
        for d in &a.downbeats {
            let err = (d / bar - (d / bar).round()).abs() * bar;
            assert!(err < BEAT_TOLERANCE_S, "+{shift}: downbeat at {d:.3} s");
        }
        // The analysis's own bars carry the requested chords, and so do most beats.
        let bars_ok = a
            .bars
            .iter()
            .filter(|b| {
                let k = ((b.start_s / bar).round() as usize) % chords.len();
                b.chord.is_some_and(|c| c.same_family(&chords[k]))
            })
            .count();
        assert!(
            bars_ok >= 12,
            "+{shift}: {bars_ok} of {} bars right",
            a.bars.len()
        );
        assert_eq!(a.beat_chords.len(), a.beats.len());
        let beats_ok = a
            .beats
            .iter()
            .zip(&a.beat_chords)
            .filter(|(b, c)| {
                let k = ((**b + 0.1) / bar) as usize % chords.len();
                c.is_some_and(|c| c.same_family(&chords[k]))
            })
            .count();
        assert!(
            beats_ok as f64 >= 0.8 * a.beats.len() as f64,
            "+{shift}: {beats_ok} of {} beats right",
            a.beats.len()
        );
    }
}

#[test]
fn the_key_of_a_c_major_progression_is_c_major() {
    // I-IV-V7-I: unambiguous, so only "C major" passes (not its relative A minor).
    let chords = parse_progression("C F G7 C").unwrap();
    let a = analyse(&progression_clip(&chords, 90.0, 2));
    let key = a.key.unwrap();
    assert_eq!(key.to_string(), "C major", "{key:?}");
    // The same, a fifth up.
    let up: Vec<Chord> = chords.iter().map(|c| c.transpose(7)).collect();
    let a = analyse(&progression_clip(&up, 90.0, 2));
    assert_eq!(a.key.unwrap().to_string(), "G major");
}

#[test]
fn an_a440_sine_is_pitch_class_a() {
    let a = analyse(&Clip::new(signal::sine(440.0, SR, 3.0, 0.5), SR));
    let mean = a.chroma.mean();
    let peak = (0..12)
        .max_by(|&i, &j| mean[i].total_cmp(&mean[j]))
        .unwrap();
    assert_eq!(peak, 9, "{mean:?}");
    // Nearly all of it: the neighbours G# and Bb get little.
    assert!(mean[8] < 0.05 && mean[10] < 0.05, "{mean:?}");
    // A low A (55 Hz), where bins are wide, still lands on A.
    let low = analysis::chromagram(&Clip::new(signal::sine(55.0, SR, 3.0, 0.5), SR)).unwrap();
    let mean = low.mean();
    assert_eq!(
        (0..12).max_by(|&i, &j| mean[i].total_cmp(&mean[j])),
        Some(9)
    );
}

#[test]
fn loudness_follows_a_12_db_drop() {
    let half = 10 * SR as usize;
    let mut x = signal::white_noise(2 * half, 0.5, 5);
    let gain = 10f32.powf(-12.0 / 20.0);
    x[half..].iter_mut().for_each(|v| *v *= gain);
    let a = analyse(&Clip::new(x, SR));
    let fps = a.onsets.frame_rate;
    let mean = |from: f64, to: f64| {
        let v = &a.loudness_db[(from * fps) as usize..(to * fps) as usize];
        v.iter().sum::<f32>() / v.len() as f32
    };
    let drop = mean(1.0, 9.0) - mean(11.0, 19.0);
    assert!((drop - 12.0).abs() < 0.3, "drop {drop} dB");
    // Uniform noise of amplitude 0.5 has RMS 0.5/sqrt(3): -10.8 dBFS.
    assert!((mean(1.0, 9.0) + 10.8).abs() < 0.3);
    assert_eq!(a.loudness_db.len(), a.onsets.all.len());
}

#[test]
fn analysis_is_deterministic() {
    let (clip, _) = click_track(SR, 95.0, 12.0, 0.1);
    assert_eq!(analyse(&clip), analyse(&clip));
}
