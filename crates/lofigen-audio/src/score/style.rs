//! What a training set's scores have in common, saved with a model so that it can suggest
//! controls in its own style.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    BANDS, BEATS_PER_BAR, Controls, Groove, MAX_BPM, MAX_SWING, MIN_BPM, MIN_LOUDNESS_DB,
    STEPS_PER_BEAT, SWING_GRID_STEP, Score, ScoreError,
};
use crate::analysis::{Chord, Mode, PitchClass, estimate_key, tempo::PRIOR_BPM};

/// Most grooves a [`Style`] keeps.
pub const MAX_STYLE_GROOVES: usize = 4;
/// A low- or mid-band step counts as a hit, when bars are grouped into grooves by their hits,
/// from this strength on.
pub const GROOVE_HIT: f32 = 0.5;
/// Bars in a suggested progression.
pub const SUGGESTED_BARS: usize = 4;
/// A learnt groove keeps the hats that reach this strength in the mean of its bars.
pub const LEARNT_HAT_FLOOR: f32 = 0.25;

/// A groove learnt from the training set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StyleGroove {
    /// `train-1`, `train-2`, ... (most frequent first).
    pub name: String,
    /// The pattern as [`Groove`] writes it.
    pub pattern: String,
    /// How many training bars had its hits.
    pub bars: u32,
}

/// A training set's style, fitted on its scores ([`Style::fit`]) and saved as JSON beside a
/// model. Chords are kept relative to each piece's key, written as if the key were C major (a
/// minor key counts as its relative major, so A minor's `Am7` is stored as `Am7` and D minor's
/// as `Am7` too), so that moves learnt in one key serve in every key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Style {
    /// Slowest piece's tempo, BPM.
    pub bpm_min: f64,
    /// Median of the pieces' tempos, BPM.
    pub bpm_median: f64,
    /// Fastest piece's tempo, BPM.
    pub bpm_max: f64,
    /// Median of the pieces' swings.
    pub swing: f32,
    /// Median level over all beats, dBFS (`None`: no levels seen).
    pub loudness_db: Option<f32>,
    /// The most frequent one-bar grooves, most frequent first.
    pub grooves: Vec<StyleGroove>,
    /// Major-key tonic (relative major for minor keys) → number of pieces in it.
    pub keys: BTreeMap<String, u32>,
    /// Bar chord (relative to the key, as in C major) → number of bars.
    pub chords: BTreeMap<String, u32>,
    /// Bar chord → next bar's chord → count: a first-order transition model.
    pub transitions: BTreeMap<String, BTreeMap<String, u32>>,
    /// The groove [`Style::suggest`] plays when none is asked, by name (learnt or built-in):
    /// set by hand after measuring which groove the trained model plays best (for the bundled
    /// model, `lazy`: see its report). `None`, as fitted, draws a learnt groove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_groove: Option<String>,
}

/// Bars grouped by their hits: how many, and the sum of their strengths per step.
type GrooveTally = BTreeMap<Vec<bool>, (u32, Vec<[f32; BANDS]>)>;

/// splitmix64: a tiny seeded generator, so suggestions depend on the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A key of `counts` drawn in proportion to its count; `None` when all are 0.
    fn pick<'a>(
        &mut self,
        counts: impl Iterator<Item = (&'a String, &'a u32)> + Clone,
    ) -> Option<&'a str> {
        let total: u64 = counts.clone().map(|(_, &c)| u64::from(c)).sum();
        if total == 0 {
            return None;
        }
        let mut r = self.next() % total;
        for (k, &c) in counts {
            if r < u64::from(c) {
                return Some(k);
            }
            r -= u64::from(c);
        }
        None
    }
}

fn median_f32(mut v: Vec<f32>) -> Option<f32> {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The chord of each whole bar of `score`: the one given on most of its beats (ties: the
/// earliest), `None` for a bar without one.
fn bar_chords(score: &Score) -> Vec<Option<Chord>> {
    (0..score.bar_count())
        .map(|m| {
            let first = score.bar_start(m);
            let heard: Vec<Chord> = (first..first + BEATS_PER_BAR)
                .filter_map(|i| score.chord_at(score.beats()[i]).flatten())
                .collect();
            heard
                .iter()
                .max_by_key(|c| {
                    let votes = heard.iter().filter(|d| d == c).count();
                    let earliest = heard.iter().position(|d| d == *c).unwrap_or(0);
                    (votes, usize::MAX - earliest)
                })
                .copied()
        })
        .collect()
}

impl Style {
    /// Fits the style of `scores`: tempo range and median, swing and level medians, the
    /// [`MAX_STYLE_GROOVES`] most frequent one-bar patterns of low and mid hits (steps at least
    /// [`GROOVE_HIT`]; each groove holds those hits and the hats of at least
    /// [`LEARNT_HAT_FLOOR`], at their mean strengths over its bars), and chord counts and transitions from
    /// bar to bar relative to each piece's key (Krumhansl-Schmuckler on its chords' templates).
    /// With no scores, the tempo is the analysis prior and nothing else is known.
    pub fn fit(scores: &[Score]) -> Style {
        let mut tempos: Vec<f64> = scores.iter().map(Score::bpm).collect();
        tempos.sort_by(f64::total_cmp);
        let mut grooves = GrooveTally::new();
        let mut style = Style {
            bpm_min: tempos.first().copied().unwrap_or(PRIOR_BPM),
            bpm_median: tempos.get(tempos.len() / 2).copied().unwrap_or(PRIOR_BPM),
            bpm_max: tempos.last().copied().unwrap_or(PRIOR_BPM),
            swing: median_f32(scores.iter().map(Score::swing).collect()).unwrap_or(0.0),
            loudness_db: median_f32(
                scores
                    .iter()
                    .flat_map(|s| s.loudness().iter().filter_map(|m| m.value))
                    .collect(),
            ),
            grooves: Vec::new(),
            keys: BTreeMap::new(),
            chords: BTreeMap::new(),
            transitions: BTreeMap::new(),
            default_groove: None,
        };
        let bar_steps = BEATS_PER_BAR * STEPS_PER_BEAT;
        for score in scores {
            for m in 0..score.bar_count() {
                let at = score.bar_start(m) * STEPS_PER_BEAT;
                let steps = &score.steps()[at..at + bar_steps];
                // Kick and snare make a groove; hats vary too much from bar to bar to group by.
                let hits: Vec<bool> = steps
                    .iter()
                    .flat_map(|s| [s[0], s[1]])
                    .map(|v| v >= GROOVE_HIT)
                    .collect();
                if !hits.contains(&true) {
                    continue;
                }
                let entry = grooves
                    .entry(hits)
                    .or_insert_with(|| (0, vec![[0.0; BANDS]; bar_steps]));
                entry.0 += 1;
                for (sum, s) in entry.1.iter_mut().zip(steps) {
                    for b in 0..BANDS {
                        sum[b] += s[b];
                    }
                }
            }

            let chords = bar_chords(score);
            let mut profile = [0.0f32; 12];
            for c in chords.iter().flatten() {
                for (p, t) in profile.iter_mut().zip(c.chroma_template()) {
                    *p += t;
                }
            }
            let Some(key) = estimate_key(&profile) else {
                continue;
            };
            let tonic = match key.mode {
                Mode::Major => key.tonic,
                Mode::Minor => key.tonic.transpose(3),
            };
            *style.keys.entry(tonic.name().to_string()).or_default() += 1;
            let offset = -(tonic.index() as i32);
            let relative: Vec<Option<String>> = chords
                .iter()
                .map(|c| c.map(|c| c.transpose(offset).to_string()))
                .collect();
            for c in relative.iter().flatten() {
                *style.chords.entry(c.clone()).or_default() += 1;
            }
            for w in relative.windows(2) {
                if let [Some(a), Some(b)] = w {
                    *style
                        .transitions
                        .entry(a.clone())
                        .or_default()
                        .entry(b.clone())
                        .or_default() += 1;
                }
            }
        }

        let mut ranked: Vec<_> = grooves.into_iter().collect();
        // Stable: equal counts keep the patterns' (deterministic) order.
        ranked.sort_by_key(|g| std::cmp::Reverse(g.1.0));
        for (n, (hits, (count, sums))) in ranked.into_iter().take(MAX_STYLE_GROOVES).enumerate() {
            let mean = sums.iter().map(|s| s.map(|v| v / count as f32)).collect();
            // A groove is what its bars share: the low and mid hits that grouped them (`hits`
            // holds low, mid per step) and the hats strong on average. The rest of the mean is
            // other instruments' bleed and the odd bar's extra hit, a faint hit on almost every
            // step that blurs the pulse.
            let shared = Groove::new(mean).map(|g| {
                g.keeping(|step, band, v| match band {
                    0 | 1 => hits[2 * step + band],
                    _ => v >= LEARNT_HAT_FLOOR,
                })
            });
            if let Ok(groove) = shared {
                style.grooves.push(StyleGroove {
                    name: format!("train-{}", n + 1),
                    pattern: groove.to_string(),
                    bars: count,
                });
            }
        }
        style
    }

    /// Checks what a hand-edited style file can get wrong: its `default_groove` must name a
    /// groove of this style or a built-in one.
    pub fn validate(&self) -> Result<(), ScoreError> {
        match &self.default_groove {
            Some(name) => self.groove(name).map(|_| ()),
            None => Ok(()),
        }
    }

    /// A groove by name: one of this style's (`train-1`, ...) or a built-in one
    /// ([`Groove::named`]); an unknown name is an error listing both.
    pub fn groove(&self, name: &str) -> Result<Groove, ScoreError> {
        if let Some(g) = self.grooves.iter().find(|g| g.name == name.trim()) {
            return g.pattern.parse();
        }
        Groove::named(name).map_err(|_| {
            let mut known: Vec<&str> = self.grooves.iter().map(|g| g.name.as_str()).collect();
            known.extend(Groove::names());
            ScoreError::UnknownGroove {
                name: name.to_string(),
                known: known.join(", "),
            }
        })
    }

    /// Controls in this style, the same for the same `seed`: a whole-BPM tempo in the fitted
    /// range, the style's `default_groove` or else a learnt groove with a backbeat
    /// ([`Groove::has_backbeat`]; drawn by how often it was heard; `boom-bap` when none was), a
    /// [`SUGGESTED_BARS`]-bar progression walked through the transition model in a key drawn
    /// from the training set's (no chords when none were learnt), the median swing and level.
    pub fn suggest(&self, seed: u64) -> Controls {
        let mut rng = Rng(seed);
        let (lo, hi) = (
            self.bpm_min.clamp(MIN_BPM, MAX_BPM),
            self.bpm_max.clamp(MIN_BPM, MAX_BPM),
        );
        let bpm = (lo + rng.unit() * (hi - lo).max(0.0))
            .round()
            .clamp(lo, hi.max(lo));
        let counts: BTreeMap<String, u32> = self
            .grooves
            .iter()
            .filter(|g| self.groove(&g.name).is_ok_and(|g| g.has_backbeat()))
            .map(|g| (g.name.clone(), g.bars))
            .collect();
        // Drawn even when a default replaces it, so that a seed suggests the same tempo and
        // chords with and without one.
        let drawn = rng
            .pick(counts.iter())
            .and_then(|name| self.groove(name).ok());
        let groove = self
            .default_groove
            .as_deref()
            .and_then(|name| self.groove(name).ok())
            .or(drawn)
            .unwrap_or_else(|| Groove::named("boom-bap").expect("built-in groove"));

        let parse = |s: &str| s.parse::<Chord>().ok();
        let mut chords = Vec::new();
        if let Some(first) = rng.pick(self.chords.iter()).and_then(parse) {
            let tonic = rng
                .pick(self.keys.iter())
                .and_then(parse)
                .map_or(PitchClass::C, |c| c.root);
            chords.push(first);
            while chords.len() < SUGGESTED_BARS {
                let prev = chords[chords.len() - 1].to_string();
                let next = match self.transitions.get(&prev) {
                    Some(t) if !t.is_empty() => rng.pick(t.iter()),
                    _ => rng.pick(self.chords.iter()),
                };
                chords.push(next.and_then(parse).unwrap_or(first));
            }
            let offset = tonic.index() as i32;
            chords.iter_mut().for_each(|c| *c = c.transpose(offset));
        }
        let swing =
            ((self.swing / SWING_GRID_STEP).round() * SWING_GRID_STEP).clamp(0.0, MAX_SWING);
        Controls {
            bpm,
            chords,
            swing,
            groove,
            loudness_db: self.loudness_db.map(|db| db.clamp(MIN_LOUDNESS_DB, 0.0)),
        }
    }
}
