//! Controls as a user gives them (tempo, chords, swing, groove, level), the grooves, and the
//! [`Conductor`] that turns controls into frames while a stream plays.

use std::fmt;
use std::str::FromStr;

use super::{
    BANDS, BEATS_PER_BAR, GROOVE_HIT, LOOKAHEAD_S, MAX_BPM, MAX_SWING, MIN_BPM, MIN_LOUDNESS_DB,
    STEPS_PER_BEAT, Score, ScoreError, Style,
};
use crate::analysis::{Chord, parse_progression};

/// Steps in one bar of a groove.
const BAR_STEPS: usize = BEATS_PER_BAR * STEPS_PER_BEAT;
/// Band names as written in groove text, in frame order.
const BAND_NAMES: [&str; BANDS] = ["low", "mid", "high"];

/// The built-in grooves: name and pattern. `sixteenths` has hats on every 16th, so that
/// `--swing` (which delays the off 16ths) has something to move.
const BUILT_IN: [(&str, &str); 6] = [
    (
        "boom-bap",
        "low: x......x..x..... ; mid: ....x.......x... ; high: x.x.x.x.x.x.x.x.",
    ),
    (
        "half-time",
        "low: x.........x..... ; mid: ........x....... ; high: x.x.x.x.x.x.x.x.",
    ),
    (
        "four-floor",
        "low: x...x...x...x... ; mid: ....x.......x... ; high: ..x...x...x...x.",
    ),
    (
        "sparse",
        "low: x.......o....... ; mid: ........o....... ; high: o...o...o...o...",
    ),
    (
        "lazy",
        "low: x.....x...o.....|x.........x..o.. ; mid: ....x.......x...|....x.......x.o. ; \
         high: x.o.x.o.x.o.x.o.|x.o.x.o.x.o.xxo.",
    ),
    (
        "sixteenths",
        "low: x.....x...o..... ; mid: ....x.......x... ; high: xoxoxoxoxoxoxoxo",
    ),
];

/// A one- or two-bar drum pattern: per 16th step, the strength of the low, mid and high band.
/// Written as text like `"low: x...x..... ; mid: ....x... ; high: x.x.x.x."` (16 or 32
/// characters per band; `x` = 1, `o` = 0.5, a digit n = n/9, `.` = 0; `|` and spaces are
/// ignored; a band left out is silent), which `Display` writes back (with `|` between bars).
/// Strengths are kept on those levels, so text and groove round-trip.
#[derive(Clone, Debug, PartialEq)]
pub struct Groove {
    steps: Vec<[f32; BANDS]>,
}

/// `v` on the nearest level a groove can write (0, n/9, or 0.5), within 0..=1.
fn quantise(v: f32) -> f32 {
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if (v - 0.5).abs() < 1.0 / 36.0 {
        0.5
    } else {
        (v * 9.0).round() / 9.0
    }
}

impl Groove {
    /// A groove from per-step strengths (16 or 32 steps), each put on the nearest level of the
    /// text form (see [`Groove`]).
    pub fn new(steps: Vec<[f32; BANDS]>) -> Result<Groove, ScoreError> {
        if steps.len() != BAR_STEPS && steps.len() != 2 * BAR_STEPS {
            return Err(ScoreError::BadGroove {
                text: format!("{} steps", steps.len()),
                reason: "a groove has 16 or 32 steps (one or two bars of 16ths)".into(),
            });
        }
        let steps = steps.into_iter().map(|s| s.map(quantise)).collect();
        Ok(Groove { steps })
    }

    /// The names of the built-in grooves.
    pub fn names() -> Vec<&'static str> {
        BUILT_IN.iter().map(|b| b.0).collect()
    }

    /// A built-in groove by name (see [`Groove::names`]); for a model's own grooves as well, see
    /// [`Style::groove`].
    pub fn named(name: &str) -> Result<Groove, ScoreError> {
        let found = BUILT_IN.iter().find(|b| b.0 == name.trim());
        match found {
            Some((_, pattern)) => pattern.parse(),
            None => Err(ScoreError::UnknownGroove {
                name: name.to_string(),
                known: Groove::names().join(", "),
            }),
        }
    }

    /// A groove from what a user wrote: a pattern when the text holds a `:`, otherwise a name,
    /// looked up in `style` (when given) and among the built-in grooves.
    pub fn lookup(text: &str, style: Option<&Style>) -> Result<Groove, ScoreError> {
        if text.contains(':') {
            text.parse()
        } else if let Some(style) = style {
            style.groove(text)
        } else {
            Groove::named(text)
        }
    }

    /// The name [`Groove::lookup`] finds this groove by, if it has one: a built-in name, else
    /// one of `style`'s learnt grooves.
    pub fn name_in(&self, style: Option<&Style>) -> Option<String> {
        let learnt = style.map_or(&[][..], |s| s.grooves.as_slice());
        Groove::names()
            .into_iter()
            .find(|n| Groove::named(n).is_ok_and(|g| g == *self))
            .map(str::to_string)
            .or_else(|| {
                learnt
                    .iter()
                    .find(|g| g.pattern.parse::<Groove>().is_ok_and(|g| g == *self))
                    .map(|g| g.name.clone())
            })
    }

    /// Strengths per step (low, mid, high), 16 per bar.
    pub fn steps(&self) -> &[[f32; BANDS]] {
        &self.steps
    }

    /// Number of bars: 1 or 2.
    pub fn bars(&self) -> usize {
        self.steps.len() / BAR_STEPS
    }

    /// Whether the groove has a kick and a snare: some step of the low and some step of the mid
    /// band at least [`GROOVE_HIT`]. A model given a groove without them plays no clear beat
    /// (measured on the bundled model: no tempo found in any clip), so a style suggests only
    /// grooves that have them.
    pub fn has_backbeat(&self) -> bool {
        let loudest = |band: usize| self.steps.iter().map(|s| s[band]).fold(0.0f32, f32::max);
        loudest(0) >= GROOVE_HIT && loudest(1) >= GROOVE_HIT
    }

    /// This groove with only the strengths `keep(step, band, strength)` accepts; the others
    /// silent.
    pub fn keeping(mut self, keep: impl Fn(usize, usize, f32) -> bool) -> Groove {
        for (i, step) in self.steps.iter_mut().enumerate() {
            for (band, v) in step.iter_mut().enumerate() {
                if !keep(i, band, *v) {
                    *v = 0.0;
                }
            }
        }
        self
    }

    /// The 16 steps of bar `b` (0-based, less than [`Groove::bars`]).
    pub fn bar(&self, b: usize) -> &[[f32; BANDS]] {
        &self.steps[b * BAR_STEPS..(b + 1) * BAR_STEPS]
    }
}

impl FromStr for Groove {
    type Err = ScoreError;

    fn from_str(text: &str) -> Result<Groove, ScoreError> {
        let err = |reason: String| ScoreError::BadGroove {
            text: text.to_string(),
            reason,
        };
        let mut bands: [Option<Vec<f32>>; BANDS] = [None, None, None];
        for part in text.split(';').filter(|p| !p.trim().is_empty()) {
            let (name, pattern) = part
                .split_once(':')
                .ok_or_else(|| err(format!("{:?} is not \"band: pattern\"", part.trim())))?;
            let name = name.trim();
            let b = BAND_NAMES.iter().position(|&n| n == name).ok_or_else(|| {
                err(format!(
                    "unknown band {name:?} (the bands are low, mid, high)"
                ))
            })?;
            if bands[b].is_some() {
                return Err(err(format!("band {name} is given twice")));
            }
            let values = pattern
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '|')
                .map(|c| match c {
                    'x' | 'X' => Ok(1.0),
                    'o' | 'O' => Ok(0.5),
                    '.' | '-' => Ok(0.0),
                    '0'..='9' => Ok(f32::from(c as u8 - b'0') / 9.0),
                    _ => Err(err(format!(
                        "step {c:?} in band {name} (use x, o, 0-9 or .)"
                    ))),
                })
                .collect::<Result<Vec<f32>, _>>()?;
            if values.len() != BAR_STEPS && values.len() != 2 * BAR_STEPS {
                return Err(err(format!(
                    "band {name} has {} steps; a groove has 16 or 32",
                    values.len()
                )));
            }
            bands[b] = Some(values);
        }
        let len = bands.iter().flatten().map(Vec::len).max();
        let Some(len) = len else {
            return Err(err(
                "no band given (write e.g. \"low: x...x...x...x...\")".into()
            ));
        };
        if bands.iter().flatten().any(|v| v.len() != len) {
            return Err(err("the bands have different lengths".into()));
        }
        let steps = (0..len)
            .map(|i| std::array::from_fn(|b| bands[b].as_ref().map_or(0.0, |v| v[i])))
            .collect();
        Groove::new(steps)
    }
}

impl fmt::Display for Groove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (b, name) in BAND_NAMES.iter().enumerate() {
            if b > 0 {
                f.write_str(" ; ")?;
            }
            write!(f, "{name}: ")?;
            for (i, s) in self.steps.iter().enumerate() {
                if i > 0 && i % BAR_STEPS == 0 {
                    f.write_str("|")?;
                }
                let v = s[b];
                let c = if v == 0.0 {
                    '.'
                } else if v == 1.0 {
                    'x'
                } else if v == 0.5 {
                    'o'
                } else {
                    char::from(b'0' + (v * 9.0).round() as u8)
                };
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// What a user asks the music to be: the controls of generation. Build with [`Controls::new`]
/// and the `with_` methods, which check each value; a struct built by hand is checked by
/// [`Controls::validate`] wherever it is used.
#[derive(Clone, Debug, PartialEq)]
pub struct Controls {
    /// Tempo, BPM ([`MIN_BPM`]..=[`MAX_BPM`]).
    pub bpm: f64,
    /// One chord per bar, looped; empty: no harmony given.
    pub chords: Vec<Chord>,
    /// Delay of the off 16ths, in fractions of a 16th (0..=[`MAX_SWING`]).
    pub swing: f32,
    /// The drum pattern, looped.
    pub groove: Groove,
    /// Level, dBFS ([`MIN_LOUDNESS_DB`]..=0); `None`: not given.
    pub loudness_db: Option<f32>,
}

impl Controls {
    /// `groove` at `bpm`, straight, without chords or level.
    pub fn new(bpm: f64, groove: Groove) -> Result<Controls, ScoreError> {
        let c = Controls {
            bpm,
            chords: Vec::new(),
            swing: 0.0,
            groove,
            loudness_db: None,
        };
        c.validate()?;
        Ok(c)
    }

    /// With the progression written in `text` (see [`parse_progression`]: an empty one or an
    /// unknown symbol is an error naming it).
    pub fn with_chords(mut self, text: &str) -> Result<Controls, ScoreError> {
        self.chords = parse_progression(text)?;
        Ok(self)
    }

    /// With `swing` (0..=0.5 of a 16th).
    pub fn with_swing(mut self, swing: f32) -> Result<Controls, ScoreError> {
        self.swing = swing;
        self.validate()?;
        Ok(self)
    }

    /// With a level of `db` dBFS.
    pub fn with_loudness(mut self, db: f32) -> Result<Controls, ScoreError> {
        self.loudness_db = Some(db);
        self.validate()?;
        Ok(self)
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), ScoreError> {
        if !(MIN_BPM..=MAX_BPM).contains(&self.bpm) {
            return Err(ScoreError::BadTempo { bpm: self.bpm });
        }
        if !(0.0..=MAX_SWING).contains(&self.swing) {
            return Err(ScoreError::BadSwing { swing: self.swing });
        }
        if let Some(db) = self.loudness_db
            && !(MIN_LOUDNESS_DB..=0.0).contains(&db)
        {
            return Err(ScoreError::BadLoudness { db });
        }
        Ok(())
    }
}

/// Writes e.g. `bpm=90 chords="Dm7 G7" swing=0.1 groove="low: ... ; mid: ... ; high: ..."
/// loudness=-18`: everything needed to ask for the same music again.
impl fmt::Display for Controls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chords: Vec<String> = self.chords.iter().map(Chord::to_string).collect();
        write!(
            f,
            "bpm={} chords=\"{}\" swing={} groove=\"{}\"",
            self.bpm,
            chords.join(" "),
            self.swing,
            self.groove
        )?;
        if let Some(db) = self.loudness_db {
            write!(f, " loudness={db}")?;
        }
        Ok(())
    }
}

/// Renders controls to frames while a stream plays, bar by bar: the same bars as
/// [`Score::from_controls`] and the same renderer ([`Score::render_frames`]), so with unchanged
/// controls its frames equal the full render's exactly. [`Conductor::set`] takes effect at the
/// next bar line that no rendered frame has heard yet; tempo, chords, groove, swing and level
/// all change there, and the phase runs on from that bar line without a jump.
#[derive(Clone, Debug)]
pub struct Conductor {
    rate: u32,
    hop: usize,
    controls: Controls,
    /// The bars around the play position; its beat 0 is a downbeat.
    score: Score,
    /// Number (from the stream's start) of the score's first bar.
    first_bar: u64,
    /// Number and start of the next bar to lay out.
    next_bar: u64,
    next_bar_s: f64,
    /// Next frame to render.
    frame: usize,
}

impl Conductor {
    /// A conductor for `controls` at `rate` Hz, `hop` samples per frame, from frame 0.
    pub fn new(controls: Controls, rate: u32, hop: usize) -> Result<Conductor, ScoreError> {
        if rate == 0 || hop == 0 {
            return Err(ScoreError::BadGrid { rate, hop });
        }
        controls.validate()?;
        // The conductor keeps a few bars around the play position (at most 5 at 300 BPM):
        // with room for 16 up front, a playing stream never grows them.
        let mut score = Score::empty(0.0);
        score.reserve_bars(16);
        Ok(Conductor {
            rate,
            hop,
            controls,
            score,
            first_bar: 0,
            next_bar: 0,
            next_bar_s: 0.0,
            frame: 0,
        })
    }

    fn centre(&self, k: usize) -> f64 {
        (k as f64 * self.hop as f64 + self.hop as f64 / 2.0) / f64::from(self.rate)
    }

    /// Appends the next `n` frames to `out` (`n × CONTROL_DIMS` values).
    pub fn next_frames(&mut self, n: usize, out: &mut Vec<f32>) {
        if n == 0 {
            return;
        }
        let until = self.centre(self.frame + n - 1) + LOOKAHEAD_S;
        while self.score.beats.len() < 2 || self.score.beats[self.score.beats.len() - 1] <= until {
            self.next_bar_s = self
                .score
                .append_bar(&self.controls, self.next_bar, self.next_bar_s);
            self.next_bar += 1;
        }
        let frames = self.frame..self.frame + n;
        self.score
            .render_frames(self.rate, self.hop, frames.clone(), out);
        self.frame = frames.end;
        // Forget bars that ended well before anything still to be rendered can hear them.
        let forget_before = self.centre(self.frame) - 1.0 - super::TAIL_DECAYS * super::DECAY_S[0];
        let bars = self.score.beats.len() / BEATS_PER_BAR;
        let old = (1..bars)
            .take_while(|&m| self.score.beats[m * BEATS_PER_BAR] < forget_before)
            .count();
        if old > 0 {
            self.score.drop_front(old);
            self.first_bar += old as u64;
        }
    }

    /// New controls, from the next bar line that no frame rendered so far has heard (a bar
    /// starting more than [`super::ATTACK_S`] after the last frame's centre).
    pub fn set(&mut self, controls: Controls) -> Result<(), ScoreError> {
        controls.validate()?;
        let heard = if self.frame == 0 {
            f64::NEG_INFINITY
        } else {
            self.centre(self.frame - 1) + super::ATTACK_S
        };
        let bars = self.score.beats.len() / BEATS_PER_BAR;
        if let Some(m) = (0..bars).find(|&m| self.score.beats[m * BEATS_PER_BAR] > heard) {
            self.next_bar_s = self.score.beats[m * BEATS_PER_BAR];
            self.next_bar = self.first_bar + m as u64;
            self.score.truncate_bars(m);
        }
        self.controls = controls;
        Ok(())
    }

    /// The controls of the bars being laid out now (those last given).
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// Number of frames rendered so far: the index of the next one.
    pub fn frame_index(&self) -> usize {
        self.frame
    }

    /// The bar (counted from the stream's start) of the last rendered frame.
    pub fn bar(&self) -> u64 {
        if self.score.beats.len() < 2 || self.frame == 0 {
            return 0;
        }
        let (i, _) = self.score.locate(self.centre(self.frame - 1));
        self.first_bar + (i.max(0) as u64) / BEATS_PER_BAR as u64
    }

    /// The chord of the last rendered frame (`None` before any frame, or without chords).
    pub fn chord(&self) -> Option<Chord> {
        if self.frame == 0 {
            return None;
        }
        self.score.chord_at(self.centre(self.frame - 1)).flatten()
    }
}
