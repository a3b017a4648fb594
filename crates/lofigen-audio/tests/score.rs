//! The control score on signals synthesised here (drums and chords with a known grid) and on
//! controls with a known answer: what the frames must show, the conductor against the full
//! render, the transforms, the errors, grooves and the style.

use lofigen_audio::analysis::{Chord, parse_progression};
use lofigen_audio::score::{
    BAR_PHASE_DIMS, BEAT_PHASE_DIMS, CHROMA_DIMS, CONTROL_DIMS, Conductor, Controls, FRAME_HOP_8K,
    Groove, Group, Guidance, HARMONY_FLAG, LEARNT_HAT_FLOOR, LOUDNESS_DIM, LOUDNESS_FLAG,
    RHYTHM_FLAG, Score, ScoreError, Style, StyleGroove, drop_group,
};
use lofigen_audio::{Clip, signal};

const SR: u32 = 8000;
const HOP: usize = FRAME_HOP_8K;
const FPS: f64 = SR as f64 / HOP as f64;

fn mix(x: &mut [f32], at: f64, sound: &[f32]) {
    let start = (at * f64::from(SR)).round() as usize;
    for (d, s) in x.iter_mut().skip(start).zip(sound) {
        *d += s;
    }
}

/// Kick: a falling sine, 105 Hz to 45 Hz over 150 ms.
fn kick() -> Vec<f32> {
    let mut phase = 0.0f32;
    (0..1200)
        .map(|i| {
            let t = i as f32 / SR as f32;
            phase += std::f32::consts::TAU * (45.0 + 60.0 * (-t / 0.03).exp()) / SR as f32;
            0.9 * phase.sin() * (-t / 0.06).exp()
        })
        .collect()
}

/// Snare: a burst of white noise.
fn snare(seed: u64) -> Vec<f32> {
    let noise = signal::white_noise(960, 0.35, seed);
    (0..960)
        .map(|i| noise[i] * (-(i as f32) / 320.0).exp())
        .collect()
}

/// Hat: differenced noise (mostly above 2 kHz), 30 ms.
fn hat(seed: u64) -> Vec<f32> {
    let noise = signal::white_noise(240, 0.2, seed);
    (0..240)
        .map(|i| {
            let d = noise[i] - if i > 0 { noise[i - 1] } else { 0.0 };
            d * (-(i as f32) / 64.0).exp()
        })
        .collect()
}

/// A chord as summed sines: the root low, the chord tones between G3 and F#4.
fn chord_tone(chord: Chord, seconds: f64) -> Vec<f32> {
    let n = (seconds * f64::from(SR)) as usize;
    let hz = |midi: i32| 440.0 * 2f64.powf(f64::from(midi - 69) / 12.0);
    let mut notes = vec![(hz(36 + chord.root.index() as i32), 0.25)];
    for pc in chord.pitch_classes() {
        notes.push((hz(55 + (pc.index() as i32 - 7).rem_euclid(12)), 0.12));
    }
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(SR);
            let env = (t / 0.01).min(1.0) * (-t / 2.0).exp();
            let s: f64 = notes
                .iter()
                .map(|&(f, g)| g * (std::f64::consts::TAU * f * t).sin())
                .sum();
            (env * s) as f32
        })
        .collect()
}

/// `bars` bars at `bpm` from `offset` s: kick on beats 1 and 3, snare on 2 and 4, hats on the
/// 16ths listed in `hat_steps` (delayed by `swing` of a 16th on the off 16ths), and the chords of
/// `progression` one per bar. Returns the clip and its bar starts.
fn groove_clip(
    bpm: f64,
    bars: usize,
    offset: f64,
    hat_steps: &[usize],
    swing: f64,
    progression: &[Chord],
) -> (Clip, Vec<f64>) {
    let beat = 60.0 / bpm;
    let seconds = offset + (bars as f64 + 0.5) * 4.0 * beat;
    let mut x = signal::white_noise((seconds * f64::from(SR)) as usize, 0.005, 3);
    let mut starts = Vec::new();
    for bar in 0..bars {
        let start = offset + bar as f64 * 4.0 * beat;
        starts.push(start);
        if !progression.is_empty() {
            mix(
                &mut x,
                start,
                &chord_tone(progression[bar % progression.len()], 4.0 * beat),
            );
        }
        for b in 0..4 {
            let t = start + b as f64 * beat;
            if b % 2 == 0 {
                mix(&mut x, t, &kick());
            } else {
                mix(&mut x, t, &snare((bar * 4 + b) as u64));
            }
            for &s in hat_steps {
                let late = if s % 2 == 1 { swing } else { 0.0 };
                mix(
                    &mut x,
                    t + (s as f64 + late) * beat / 4.0,
                    &hat((bar * 16 + b * 4 + s) as u64),
                );
            }
        }
    }
    (Clip::new(x, SR), starts)
}

fn render(score: &Score) -> Vec<f32> {
    let mut out = Vec::new();
    score.render(SR, HOP, &mut out);
    assert_eq!(out.len(), score.frame_count(SR, HOP) * CONTROL_DIMS);
    out
}

/// Frame `k`'s row.
fn row(frames: &[f32], k: usize) -> &[f32] {
    &frames[k * CONTROL_DIMS..(k + 1) * CONTROL_DIMS]
}

fn frame_at(t: f64) -> usize {
    (t * FPS).floor() as usize
}

/// Largest value of dim `d` over frames whose centres lie within `w` s of `t`.
fn max_near(frames: &[f32], d: usize, t: f64, w: f64) -> f32 {
    let lo = frame_at((t - w).max(0.0));
    let hi = frame_at(t + w).min(frames.len() / CONTROL_DIMS - 1);
    (lo..=hi).map(|k| row(frames, k)[d]).fold(0.0, f32::max)
}

/// Centre time of the frame with the largest value of dim `d` within `[a, b)` seconds.
fn peak_time(frames: &[f32], d: usize, a: f64, b: f64) -> f64 {
    let k = (frame_at(a)..frame_at(b))
        .max_by(|&i, &j| row(frames, i)[d].total_cmp(&row(frames, j)[d]))
        .unwrap();
    (k as f64 + 0.5) / FPS
}

fn chroma(frames: &[f32], k: usize) -> [f32; 12] {
    row(frames, k)[CHROMA_DIMS..CHROMA_DIMS + 12]
        .try_into()
        .unwrap()
}

#[test]
fn drums_and_chords_at_80_bpm_give_a_score_that_renders_them() {
    let progression = parse_progression("Dm7 G7 Cmaj7 Am7").unwrap();
    let bpm = 80.0;
    let beat = 60.0 / bpm;
    let (clip, bar_starts) = groove_clip(bpm, 12, 0.3, &[0, 2], 0.0, &progression);
    let score = Score::from_clip(&clip).unwrap();
    assert!((score.bpm() - bpm).abs() < 1.0, "{} BPM", score.bpm());
    assert_eq!(score.swing(), 0.0, "straight 8th hats read as swung");
    let frames = render(&score);

    // The low band peaks on beats 1 and 3 (kicks), not on 2 and 4 (snares).
    let (mut kicks, mut snares) = (0.0, 0.0);
    for &s in &bar_starts[1..bar_starts.len() - 1] {
        for b in 0..4 {
            let v = max_near(&frames, 0, s + b as f64 * beat, 0.03);
            if b % 2 == 0 { kicks += v } else { snares += v }
        }
    }
    assert!(
        kicks > 3.0 * snares,
        "low band: {kicks} on kicks, {snares} on snares"
    );
    // Between the 8th notes the high band has died away.
    let mid = bar_starts[4] + beat / 4.0;
    assert!(
        row(&frames, frame_at(mid + 0.04))[2] < 0.3 * max_near(&frames, 2, bar_starts[4], 0.03)
    );

    // The chroma dims are the template of the bar's chord in at least 80% of the bars.
    let good = bar_starts
        .iter()
        .enumerate()
        .filter(|&(m, &s)| {
            let want = progression[m % progression.len()].chroma_template();
            let k = frame_at(s + 2.0 * beat);
            row(&frames, k)[HARMONY_FLAG] == 1.0 && chroma(&frames, k) == want
        })
        .count();
    assert!(
        good * 10 >= bar_starts.len() * 8,
        "{good} of {} bars",
        bar_starts.len()
    );
    let k = frame_at(bar_starts[3]);
    assert_eq!(
        (row(&frames, k)[RHYTHM_FLAG], row(&frames, k)[LOUDNESS_FLAG]),
        (1.0, 1.0)
    );
    assert!((-4.0..=2.0).contains(&row(&frames, k)[LOUDNESS_DIM]));
}

#[test]
fn swung_16th_hats_read_as_their_swing() {
    let all16: Vec<usize> = (0..4).collect();
    let (clip, _) = groove_clip(80.0, 10, 0.2, &all16, 0.3, &[]);
    let score = Score::from_clip(&clip).unwrap();
    assert!(
        (score.swing() - 0.3).abs() <= 0.051,
        "swing {}",
        score.swing()
    );
    let (clip, _) = groove_clip(80.0, 10, 0.2, &all16, 0.0, &[]);
    assert_eq!(Score::from_clip(&clip).unwrap().swing(), 0.0);
}

#[test]
fn controls_at_90_bpm_render_their_phase_groove_and_swing() {
    let boom_bap = Groove::named("boom-bap").unwrap();
    let controls = Controls::new(90.0, boom_bap.clone()).unwrap();
    let frames = render(&Score::from_controls(&controls, 20.0).unwrap());
    let beat = 60.0 / 90.0;
    // Beat and bar phase are the time in beats (and bars) from 0 s.
    for k in (0..frames.len() / CONTROL_DIMS).step_by(7) {
        let t = (k as f64 + 0.5) / FPS;
        let r = row(&frames, k);
        for (d, period) in [(BEAT_PHASE_DIMS, beat), (BAR_PHASE_DIMS, 4.0 * beat)] {
            let phase = std::f64::consts::TAU * t / period;
            assert!((f64::from(r[d]) - phase.sin()).abs() < 1e-4, "t {t}");
            assert!((f64::from(r[d + 1]) - phase.cos()).abs() < 1e-4, "t {t}");
        }
    }
    // The low band peaks where the groove's low band has x's, and only there.
    let bar = 4.0 * beat;
    for step in 0..16 {
        let t = bar * 3.0 + step as f64 * beat / 4.0;
        let v = max_near(&frames, 0, t, 0.006);
        if boom_bap.steps()[step][0] == 1.0 {
            assert!(v > 0.9, "step {step}: {v}");
        } else {
            assert!(v < 0.4, "step {step}: {v}");
        }
    }
    // Swing 0.3 moves the off-16th hats 0.3 of a 16th later, the on-16ths not at all.
    let hats: Groove = "high: xxxxxxxxxxxxxxxx".parse().unwrap();
    let straight = Controls::new(90.0, hats).unwrap();
    let swung = straight.clone().with_swing(0.3).unwrap();
    let a = render(&Score::from_controls(&straight, 10.0).unwrap());
    let b = render(&Score::from_controls(&swung, 10.0).unwrap());
    let sixteenth = beat / 4.0;
    for step in 8..24 {
        let t = step as f64 * sixteenth;
        let (pa, pb) = (
            peak_time(&a, 2, t - 0.02, t + 0.5 * sixteenth),
            peak_time(&b, 2, t - 0.02, t + 0.7 * sixteenth),
        );
        let want = if step % 2 == 1 { 0.3 * sixteenth } else { 0.0 };
        assert!(
            (pb - pa - want).abs() <= 1.0 / FPS,
            "step {step}: {pa} -> {pb}"
        );
    }
}

fn busy_controls() -> Controls {
    Controls::new(85.0, Groove::named("lazy").unwrap())
        .and_then(|c| c.with_chords("Dm7 G7 Cmaj7"))
        .and_then(|c| c.with_swing(0.2))
        .and_then(|c| c.with_loudness(-18.0))
        .unwrap()
}

#[test]
fn the_conductor_renders_what_the_score_renders() {
    let controls = busy_controls();
    let full = render(&Score::from_controls(&controls, 40.0).unwrap());
    let mut conductor = Conductor::new(controls, SR, HOP).unwrap();
    let mut streamed = Vec::new();
    let total = full.len() / CONTROL_DIMS;
    for n in [1, 7, 100, 333, 64, 1, 2000].into_iter().cycle() {
        let n = n.min(total - conductor.frame_index());
        conductor.next_frames(n, &mut streamed);
        if conductor.frame_index() == total {
            break;
        }
    }
    assert_eq!(streamed.len(), full.len());
    for k in 0..total {
        assert_eq!(row(&streamed, k), row(&full, k), "frame {k}");
    }
    assert_eq!(conductor.bar(), (40.0 / (4.0 * 60.0 / 85.0)) as u64);
}

#[test]
fn a_change_takes_effect_at_the_next_bar_line_and_the_phase_runs_on() {
    let controls = busy_controls();
    let bar = 4.0 * 60.0 / 85.0;
    let mut conductor = Conductor::new(controls.clone(), SR, HOP).unwrap();
    let mut out = Vec::new();
    // Into the middle of bar 2 (Cmaj7), then ask for Am7 at 100 BPM.
    let mid = frame_at(2.5 * bar);
    conductor.next_frames(mid, &mut out);
    assert_eq!(conductor.bar(), 2);
    assert_eq!(conductor.chord(), Some("Cmaj7".parse().unwrap()));
    let mut faster = controls.with_chords("Am7").unwrap();
    faster.bpm = 100.0;
    conductor.set(faster).unwrap();
    conductor.next_frames(frame_at(3.0 * bar + 2.0 * 2.4) + 10 - mid, &mut out);
    let cmaj7 = "Cmaj7".parse::<Chord>().unwrap().chroma_template();
    let am7 = "Am7".parse::<Chord>().unwrap().chroma_template();
    let line = 3.0 * bar;
    for k in 0..out.len() / CONTROL_DIMS {
        let t = (k as f64 + 0.5) / FPS;
        if t > 2.0 * bar && t < line {
            assert_eq!(chroma(&out, k), cmaj7, "t {t}");
        } else if t >= line {
            assert_eq!(chroma(&out, k), am7, "t {t}");
        }
    }
    // The bar phase has no jump, and the new bar lasts 4 beats of 100 BPM (2.4 s).
    let bar_phase = |k: usize| {
        let r = row(&out, k);
        f64::from(r[BAR_PHASE_DIMS]).atan2(f64::from(r[BAR_PHASE_DIMS + 1]))
    };
    for k in 1..out.len() / CONTROL_DIMS {
        let d = (bar_phase(k) - bar_phase(k - 1)).rem_euclid(std::f64::consts::TAU);
        assert!(d > 0.0 && d < 0.03, "frame {k}: phase step {d}");
    }
    let wrap = |from: f64| {
        (frame_at(from)..out.len() / CONTROL_DIMS)
            .find(|&k| {
                bar_phase(k) < 0.0
                    && bar_phase(k - 1) >= 0.0
                    && row(&out, k)[BAR_PHASE_DIMS + 1] < 0.0
            })
            .map(|k| k as f64 / FPS)
    };
    // Half-way through the bar (phase π) comes 1.2 s after the bar line.
    let half = wrap(line).unwrap();
    assert!(
        (half - line - 1.2).abs() < 2.0 / FPS,
        "half-bar at {half}, line {line}"
    );
}

#[test]
fn shifted_moves_the_rhythm_and_transposed_rotates_the_chroma() {
    let controls = Controls::new(90.0, Groove::named("four-floor").unwrap())
        .and_then(|c| c.with_chords("Dm7 G7"))
        .unwrap();
    let score = Score::from_controls(&controls, 12.0).unwrap();
    let (a, b) = (render(&score), render(&score.shifted(0.5)));
    let beat = 60.0 / 90.0;
    for n in 2..14 {
        let t = n as f64 * beat;
        let pa = peak_time(&a, 0, t - beat / 4.0, t + beat / 4.0);
        let pb = peak_time(&b, 0, t + beat / 4.0, t + 0.75 * beat);
        assert!(
            (pb - pa - beat / 2.0).abs() <= 1.0 / FPS,
            "beat {n}: {pa} -> {pb}"
        );
    }
    // The beat phase moved by half a beat; the chords did not move.
    let k = frame_at(3.0 * beat) + 3;
    assert!((row(&a, k)[BEAT_PHASE_DIMS] + row(&b, k)[BEAT_PHASE_DIMS]).abs() < 1e-3);
    assert_eq!(chroma(&a, k), chroma(&b, k));

    let up = render(&score.transposed(5));
    for k in 0..a.len() / CONTROL_DIMS {
        let (x, y) = (chroma(&a, k), chroma(&up, k));
        for i in 0..12 {
            assert_eq!(y[(i + 5) % 12], x[i], "frame {k}");
        }
        assert_eq!(row(&a, k)[..CHROMA_DIMS], row(&up, k)[..CHROMA_DIMS]);
    }

    // Twice as fast: twice the tempo, half the length, the same frames at half the times.
    let fast = score.time_scaled(0.5);
    assert!((fast.bpm() - 180.0).abs() < 1e-9);
    let f = render(&fast);
    assert_eq!(f.len() / CONTROL_DIMS, a.len() / CONTROL_DIMS / 2);
    assert_eq!(chroma(&f, 200), chroma(&a, 400));
}

#[test]
fn groups_cover_the_frame_and_dropping_one_zeros_it() {
    let mut covered = [0; CONTROL_DIMS];
    for g in Group::ALL {
        for d in g.range() {
            covered[d] += 1;
        }
    }
    assert!(covered.iter().all(|&c| c == 1));
    let frames = render(&Score::from_controls(&busy_controls(), 2.0).unwrap());
    let mut r = row(&frames, 40).to_vec();
    drop_group(&mut r, Group::Harmony);
    assert!(r[Group::Harmony.range()].iter().all(|&v| v == 0.0));
    assert_eq!(r[..CHROMA_DIMS], row(&frames, 40)[..CHROMA_DIMS]);
    assert_eq!(r[LOUDNESS_FLAG], 1.0);
    // Controls without chords or level leave those groups out, flags included.
    let plain = Controls::new(90.0, Groove::named("sparse").unwrap()).unwrap();
    let frames = render(&Score::from_controls(&plain, 2.0).unwrap());
    assert!(row(&frames, 40)[CHROMA_DIMS..].iter().all(|&v| v == 0.0));
}

#[test]
fn bad_inputs_are_errors_that_name_the_value() {
    let groove = || Groove::named("boom-bap").unwrap();
    let msg = |e: ScoreError| e.to_string();
    let e = msg(Controls::new(20.0, groove()).unwrap_err());
    assert_eq!(e, "tempo 20 BPM is outside 30-300 BPM");
    assert!(msg(Controls::new(301.0, groove()).unwrap_err()).contains("301"));
    assert!(msg(Controls::new(f64::NAN, groove()).unwrap_err()).contains("NaN"));
    let ok = Controls::new(90.0, groove()).unwrap();
    assert!(msg(ok.clone().with_swing(0.7).unwrap_err()).contains("swing 0.7"));
    assert!(msg(ok.clone().with_loudness(6.0).unwrap_err()).contains("loudness 6"));
    let e = msg(ok.clone().with_chords("Dm7 Hm7 G7").unwrap_err());
    assert!(e.contains("unknown chord symbol \"Hm7\""), "{e}");
    let e = msg(ok.clone().with_chords(" | ").unwrap_err());
    assert!(
        e.contains("holds no chords") && e.contains("\" | \""),
        "{e}"
    );
    for (text, names) in [
        ("low: x..q............", "'q'"),
        ("low: x...", "4 steps"),
        ("kick: x...............", "\"kick\""),
        ("low x...............", "band: pattern"),
        ("", "no band"),
    ] {
        let e = msg(text.parse::<Groove>().unwrap_err());
        assert!(
            e.contains(names) && e.starts_with("malformed groove"),
            "{text}: {e}"
        );
    }
    let e = msg(Groove::named("trap").unwrap_err());
    assert!(e.contains("\"trap\"") && e.contains("boom-bap"), "{e}");
    let e = msg(Conductor::new(ok.clone(), 0, 64).unwrap_err());
    assert!(e.contains("0 Hz"), "{e}");
    let mut conductor = Conductor::new(ok.clone(), SR, HOP).unwrap();
    let mut bad = ok;
    bad.bpm = 500.0;
    assert!(msg(conductor.set(bad).unwrap_err()).contains("500 BPM"));

    for clip in [
        Clip::new(vec![0.0; 20 * SR as usize], SR),
        Clip::new(signal::white_noise(20 * SR as usize, 0.5, 7), SR),
    ] {
        let e = Score::from_clip(&clip).unwrap_err();
        assert!(matches!(e, ScoreError::NoBeat { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("no beat found in the 20.0 s clip"),
            "{e}"
        );
    }
}

#[test]
fn grooves_round_trip_through_their_text() {
    let boom_bap = Groove::named("boom-bap").unwrap();
    assert_eq!(
        boom_bap.to_string(),
        "low: x......x..x..... ; mid: ....x.......x... ; high: x.x.x.x.x.x.x.x."
    );
    for name in Groove::names() {
        let g = Groove::named(name).unwrap();
        assert_eq!(g.to_string().parse::<Groove>().unwrap(), g, "{name}");
    }
    // `sixteenths` is the built-in groove for --swing: hats on every off 16th, which swing moves.
    let sixteenths = Groove::named("sixteenths").unwrap();
    assert!(
        sixteenths
            .steps()
            .iter()
            .skip(1)
            .step_by(2)
            .all(|s| s[2] > 0.0),
        "{sixteenths}"
    );
    let g: Groove =
        "high: x.o.1.5.9.0.....|x...x...x...x... ; low: o...............|x..............."
            .parse()
            .unwrap();
    assert_eq!(g.bars(), 2);
    assert_eq!(g.steps()[4][2], 1.0 / 9.0);
    assert_eq!(g.steps()[8][2], 1.0);
    assert!(g.steps().iter().all(|s| s[1] == 0.0));
    assert_eq!(g.to_string().parse::<Groove>().unwrap(), g);
    assert!(g.to_string().starts_with("low: o"));
}

#[test]
fn a_style_fitted_on_two_scores_suggests_controls_in_their_range() {
    let a = Controls::new(80.0, Groove::named("boom-bap").unwrap())
        .and_then(|c| c.with_chords("Dm7 G7 Cmaj7 Am7"))
        .and_then(|c| c.with_loudness(-16.0))
        .unwrap();
    // The same progression a tone higher, at another tempo and groove.
    let b = Controls::new(96.0, Groove::named("half-time").unwrap())
        .and_then(|c| c.with_chords("Em7 A7 Dmaj7 Bm7"))
        .and_then(|c| c.with_swing(0.2))
        .and_then(|c| c.with_loudness(-20.0))
        .unwrap();
    let scores = [
        Score::from_controls(&a, 60.0).unwrap(),
        Score::from_controls(&b, 60.0).unwrap(),
    ];
    let style = Style::fit(&scores);
    assert!((style.bpm_min - 80.0).abs() < 1e-9 && (style.bpm_max - 96.0).abs() < 1e-9);
    assert_eq!(style.grooves.len(), 2);
    let learnt: Vec<Groove> = style
        .grooves
        .iter()
        .map(|g| style.groove(&g.name).unwrap())
        .collect();
    assert!(learnt.contains(&a.groove) && learnt.contains(&b.groove));
    let e = style.groove("train-9").unwrap_err().to_string();
    assert!(e.contains("train-1, train-2, boom-bap"), "{e}");

    let json = serde_json::to_string(&style).unwrap();
    assert_eq!(serde_json::from_str::<Style>(&json).unwrap(), style);

    // The moves of the training set, as (quality, quality, root interval): any key.
    let shape = |a: &Chord, b: &Chord| {
        (
            a.quality,
            b.quality,
            (b.root.index() + 12 - a.root.index()) % 12,
        )
    };
    let prog = parse_progression("Dm7 G7 Cmaj7 Am7").unwrap();
    let moves: Vec<_> = (0..4)
        .map(|i| shape(&prog[i], &prog[(i + 1) % 4]))
        .collect();
    for (from, next) in &style.transitions {
        for to in next.keys() {
            let m = shape(&from.parse().unwrap(), &to.parse().unwrap());
            assert!(moves.contains(&m), "learnt {from} -> {to}");
        }
    }
    assert!(
        style.transitions["Dm7"]["G7"] >= 8,
        "{:?}",
        style.transitions
    );
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let c = style.suggest(seed);
        assert_eq!(c, style.suggest(seed), "seed {seed}");
        c.validate().unwrap();
        assert!((80.0..=96.0).contains(&c.bpm), "{}", c.bpm);
        assert_eq!(c.chords.len(), 4);
        for w in c.chords.windows(2) {
            assert!(moves.contains(&shape(&w[0], &w[1])), "seed {seed}: {c}");
        }
        seen.insert(c.to_string());
    }
    assert!(seen.len() > 3, "{seen:?}");
}

#[test]
fn a_style_fits_analysed_audio() {
    let progression = parse_progression("Dm7 G7 Cmaj7 Am7").unwrap();
    let (clip, _) = groove_clip(80.0, 12, 0.3, &[0, 2], 0.0, &progression);
    let style = Style::fit(&[Score::from_clip(&clip).unwrap()]);
    assert!((style.bpm_median - 80.0).abs() < 1.0);
    let groove = style.groove("train-1").unwrap();
    // Kicks on 1 and 3 stand out in the learnt low band.
    let low: Vec<f32> = groove.steps().iter().map(|s| s[0]).collect();
    assert!(
        low[0] > 0.5 && low[8] > 0.5 && low[4] < 0.5 && low[12] < 0.5,
        "{groove}"
    );
    let c = style.suggest(1);
    assert_eq!(c.chords.len(), 4);
}

/// A learnt groove is what its bars share: a faint low and mid hit in every bar (another
/// instrument's bleed into the band) and hats too weak to count are left out; the hits that
/// grouped the bars and the hats that count keep their strengths.
#[test]
fn a_learnt_groove_keeps_the_hits_its_bars_share() {
    let played: Groove = "low: x.3...x...2..... ; mid: ....x..3....x... ; high: x.2.o.2.x.2.o.2."
        .parse()
        .unwrap();
    let controls = Controls::new(85.0, played).unwrap();
    let style = Style::fit(&[Score::from_controls(&controls, 60.0).unwrap()]);
    let learnt = style.groove("train-1").unwrap();
    let shared: Groove = "low: x.....x......... ; mid: ....x.......x... ; high: x...o...x...o..."
        .parse()
        .unwrap();
    assert_eq!(learnt, shared, "learnt {learnt}");
    // The played hats of 2/9 lie under the floor, those of 0.5 over it.
    const { assert!(LEARNT_HAT_FLOOR > 2.0 / 9.0 && LEARNT_HAT_FLOOR <= 0.5) };
}

/// A drummer who plays every other kick 24 ms late: the score of the audio draws each late kick
/// where it is heard (within a frame), not on the grid, so that training frames point at the
/// hits themselves.
#[test]
fn training_frames_put_each_hit_where_it_is_heard() {
    let (bpm, seconds) = (90.0, 24.0);
    let beat = 60.0 / bpm;
    let mut x = vec![0.0f32; (seconds * f64::from(SR)) as usize];
    let late = 0.024;
    let mut hits = Vec::new();
    for b in 0..((seconds - 1.0) / beat) as usize {
        let t = 0.5 + b as f64 * beat + if b % 2 == 1 { late } else { 0.0 };
        mix(&mut x, t, &kick());
        hits.push((t, b % 2 == 1));
    }
    let score = Score::from_clip(&Clip::new(x, SR)).unwrap();
    let frames = render(&score);
    let low = 0; // the low band's envelope
    let (mut on_hit, mut counted) = (0, 0);
    for &(t, is_late) in hits.iter().skip(2).take(hits.len() - 4) {
        if !is_late {
            continue;
        }
        counted += 1;
        let peak = peak_time(&frames, low, t - 0.06, t + 0.06);
        if (peak - t).abs() <= 1.0 / FPS {
            on_hit += 1;
        }
    }
    assert!(counted >= 8, "vacuous: {counted} late kicks");
    assert!(
        on_hit * 10 >= counted * 8,
        "only {on_hit} of {counted} late kicks peak within a frame of where they are heard"
    );
}

/// A style suggests only grooves with a kick and a snare: the bundled model, given its most
/// frequent learnt bar (a kick and no snare), played no beat at all.
#[test]
fn a_style_suggests_only_grooves_with_a_backbeat() {
    let groove = |name: &str, pattern: &str, bars| StyleGroove {
        name: name.into(),
        pattern: pattern.into(),
        bars,
    };
    let mut style = Style::fit(&[]);
    style.grooves = vec![
        groove(
            "train-1",
            "low: 87811..x..x.13.. ; mid: 2221211211212211",
            30,
        ),
        groove(
            "train-2",
            "low: 8..8.1x.8..8..x. ; mid: 8223x333x3338233",
            1,
        ),
    ];
    assert!(!style.groove("train-1").unwrap().has_backbeat());
    assert!(style.groove("train-2").unwrap().has_backbeat());
    let train_2 = style.groove("train-2").unwrap();
    for seed in 0..20 {
        assert_eq!(style.suggest(seed).groove, train_2, "seed {seed}");
    }
    // With none that has one, the built-in boom-bap.
    style.grooves.truncate(1);
    assert_eq!(style.suggest(3).groove, Groove::named("boom-bap").unwrap());
}

/// An empty style with one learnt groove, `train-1` (kicks 3 + 3 + 2, a backbeat).
fn style_with_one_learnt_groove() -> Style {
    let mut style = Style::fit(&[]);
    style.grooves = vec![StyleGroove {
        name: "train-1".into(),
        pattern: "low: 8..8.1x.8..8..x. ; mid: 8223x333x3338233".into(),
        bars: 3,
    }];
    style
}

/// A style's hand-set `default_groove` replaces the drawn groove and nothing else: the same
/// seed suggests the same tempo and chords. A name the style does not know fails validation by
/// name, and a style file without the field reads as before.
#[test]
fn a_style_plays_its_default_groove_and_keeps_the_rest_of_its_suggestion() {
    let mut style = style_with_one_learnt_groove();
    style.keys.insert("C".into(), 1);
    style.chords.insert("Am7".into(), 2);
    style.chords.insert("Fmaj7".into(), 1);
    let drawn: Vec<Controls> = (0..8).map(|seed| style.suggest(seed)).collect();
    assert!(
        drawn
            .iter()
            .all(|c| c.groove == style.groove("train-1").unwrap())
    );
    for default in ["boom-bap", "half-time"] {
        style.default_groove = Some(default.into());
        style.validate().unwrap();
        for (seed, before) in (0..8).zip(&drawn) {
            let c = style.suggest(seed);
            assert_eq!(c.groove, Groove::named(default).unwrap(), "seed {seed}");
            assert_eq!(
                (c.bpm, &c.chords),
                (before.bpm, &before.chords),
                "seed {seed}"
            );
        }
    }
    style.default_groove = Some("train-9".into());
    let e = style.validate().unwrap_err().to_string();
    assert!(e.contains("train-9") && e.contains("boom-bap"), "{e}");

    style.default_groove = None;
    let json = serde_json::to_string(&style).unwrap();
    assert!(!json.contains("default_groove"), "{json}");
    assert_eq!(serde_json::from_str::<Style>(&json).unwrap(), style);
}

/// The inverse of `Groove::lookup`: a built-in or learnt groove is named, a pattern of its own
/// is not.
#[test]
fn a_groove_is_named_as_it_is_looked_up() {
    let style = style_with_one_learnt_groove();
    for name in ["lazy", "boom-bap", "sixteenths", "train-1"] {
        let groove = Groove::lookup(name, Some(&style)).unwrap();
        assert_eq!(groove.name_in(Some(&style)).as_deref(), Some(name));
    }
    let learnt = style.groove("train-1").unwrap();
    assert_eq!(
        learnt.name_in(None),
        None,
        "a learnt groove needs its style"
    );
    let own: Groove = "low: x.......x.x..... ; mid: ....x.......x..."
        .parse()
        .unwrap();
    assert_eq!(own.name_in(Some(&style)), None);
}

#[test]
fn guidance_reads_one_strength_or_one_per_group_and_names_bad_values() {
    let all: Guidance = "2".parse().unwrap();
    assert!(Group::ALL.iter().all(|&g| all.strength(g) == 2.0));
    let some: Guidance = "rhythm=3, harmony=0.5".parse().unwrap();
    assert_eq!(
        (
            some.strength(Group::Rhythm),
            some.strength(Group::Harmony),
            some.strength(Group::Loudness)
        ),
        (3.0, 0.5, 1.0)
    );
    assert_eq!(some.to_string().parse::<Guidance>().unwrap(), some);
    assert_eq!(
        some.guided().collect::<Vec<_>>(),
        [(Group::Rhythm, 3.0), (Group::Harmony, 0.5)]
    );
    assert_eq!(Guidance::default().guided().count(), 0);
    // A model whose frames end before the harmony group's flag is guided on rhythm only.
    assert_eq!(
        some.guided_within(Group::Harmony.range().end - 1)
            .collect::<Vec<_>>(),
        [(Group::Rhythm, 3.0)]
    );
    for (text, needle) in [
        ("9", "0-8"),
        ("rhythm=-1", "0-8"),
        ("bass=2", "\"bass\""),
        ("loud", "\"loud\" is not a number"),
        ("harmony=x", "\"x\" is not a number"),
        ("NaN", "0-8"),
    ] {
        let err = text.parse::<Guidance>().unwrap_err().to_string();
        assert!(err.contains(needle) && err.contains(text), "{text}: {err}");
    }
}
