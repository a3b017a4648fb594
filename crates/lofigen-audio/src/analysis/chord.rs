//! Chord symbols: parsing, spelling, pitch content, chroma templates, and labelling chroma with
//! them.

use std::fmt;
use std::str::FromStr;

use crate::error::AnalysisError;

/// A pitch class: semitones above C, always in 0..12 (C = 0, C#/Db = 1, ..., B = 11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PitchClass(u8);

/// Names written for each pitch class: the spellings usual in jazz and lofi lead sheets (flats,
/// except F#), so that `Bb7`, `Ebmaj7` and `F#m7` write back as they were typed.
const NAMES: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

impl PitchClass {
    /// C.
    pub const C: PitchClass = PitchClass(0);
    /// A.
    pub const A: PitchClass = PitchClass(9);

    /// The pitch class `semitones` above C, wrapped into one octave (negative values count down).
    pub fn new(semitones: i32) -> Self {
        PitchClass(semitones.rem_euclid(12) as u8)
    }

    /// Semitones above C, 0..12: an index into a chroma vector.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// This pitch class moved by `semitones` (either direction).
    pub fn transpose(self, semitones: i32) -> Self {
        Self::new(i32::from(self.0) + semitones)
    }

    /// The written name (`C`, `Db`, ..., `F#`, ..., `B`).
    pub fn name(self) -> &'static str {
        NAMES[self.index()]
    }
}

impl fmt::Display for PitchClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the third of a chord is: the part of its quality that [`Chord::same_family`] compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// A major third (major, dominant and augmented chords).
    Major,
    /// A minor third (minor, diminished and half-diminished chords).
    Minor,
    /// No third (sus2, sus4).
    Suspended,
}

/// The quality of a chord. Each has one canonical suffix ([`Quality::suffix`]) that
/// [`Chord`]'s `Display` writes; the parser accepts common synonyms too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quality {
    /// Major triad: `C`.
    Major,
    /// Minor triad: `Cm`.
    Minor,
    /// Diminished triad: `Cdim`.
    Diminished,
    /// Augmented triad: `Caug`.
    Augmented,
    /// Suspended second: `Csus2`.
    Sus2,
    /// Suspended fourth: `Csus4`.
    Sus4,
    /// Major sixth: `C6`.
    Major6,
    /// Minor sixth: `Cm6`.
    Minor6,
    /// Dominant seventh: `C7`.
    Dominant7,
    /// Major seventh: `Cmaj7`.
    Major7,
    /// Minor seventh: `Cm7`.
    Minor7,
    /// Diminished seventh: `Cdim7`.
    Diminished7,
    /// Half-diminished (minor seventh flat five): `Cm7b5`.
    HalfDiminished7,
    /// Major triad with an added ninth: `Cadd9`.
    Add9,
    /// Dominant ninth: `C9`.
    Dominant9,
    /// Major ninth: `Cmaj9`.
    Major9,
    /// Minor ninth: `Cm9`.
    Minor9,
    /// Minor eleventh: `Cm11`.
    Minor11,
    /// Dominant thirteenth: `C13` (voiced without the eleventh, as players do).
    Dominant13,
}

impl Quality {
    /// Every quality, in a fixed order.
    pub const ALL: [Quality; 19] = [
        Quality::Major,
        Quality::Minor,
        Quality::Diminished,
        Quality::Augmented,
        Quality::Sus2,
        Quality::Sus4,
        Quality::Major6,
        Quality::Minor6,
        Quality::Dominant7,
        Quality::Major7,
        Quality::Minor7,
        Quality::Diminished7,
        Quality::HalfDiminished7,
        Quality::Add9,
        Quality::Dominant9,
        Quality::Major9,
        Quality::Minor9,
        Quality::Minor11,
        Quality::Dominant13,
    ];

    /// The qualities [`label_chords`] chooses between. Sixths, ninths and beyond are left out on
    /// purpose: C6 has the pitch classes of Am7 and F6 those of Dm7, and a ninth adds a fifth
    /// pitch class that an 8 kHz mix rarely shows clearly, so offering them would only trade
    /// root errors for extension guesses. Suspended chords are left out too: on real tracks a
    /// bass root with its fifth (its own third harmonic) and a passing melody note read as sus4
    /// far more often than a sus4 is played.
    pub const LABELS: [Quality; 6] = [
        Quality::Major,
        Quality::Minor,
        Quality::Dominant7,
        Quality::Major7,
        Quality::Minor7,
        Quality::Diminished,
    ];

    /// The canonical suffix written after the root (empty for a major triad).
    pub fn suffix(self) -> &'static str {
        match self {
            Quality::Major => "",
            Quality::Minor => "m",
            Quality::Diminished => "dim",
            Quality::Augmented => "aug",
            Quality::Sus2 => "sus2",
            Quality::Sus4 => "sus4",
            Quality::Major6 => "6",
            Quality::Minor6 => "m6",
            Quality::Dominant7 => "7",
            Quality::Major7 => "maj7",
            Quality::Minor7 => "m7",
            Quality::Diminished7 => "dim7",
            Quality::HalfDiminished7 => "m7b5",
            Quality::Add9 => "add9",
            Quality::Dominant9 => "9",
            Quality::Major9 => "maj9",
            Quality::Minor9 => "m9",
            Quality::Minor11 => "m11",
            Quality::Dominant13 => "13",
        }
    }

    /// Intervals above the root, in semitones, root first, then third (if any), fifth, and the
    /// rest in rising order.
    pub fn intervals(self) -> &'static [u8] {
        match self {
            Quality::Major => &[0, 4, 7],
            Quality::Minor => &[0, 3, 7],
            Quality::Diminished => &[0, 3, 6],
            Quality::Augmented => &[0, 4, 8],
            Quality::Sus2 => &[0, 2, 7],
            Quality::Sus4 => &[0, 5, 7],
            Quality::Major6 => &[0, 4, 7, 9],
            Quality::Minor6 => &[0, 3, 7, 9],
            Quality::Dominant7 => &[0, 4, 7, 10],
            Quality::Major7 => &[0, 4, 7, 11],
            Quality::Minor7 => &[0, 3, 7, 10],
            Quality::Diminished7 => &[0, 3, 6, 9],
            Quality::HalfDiminished7 => &[0, 3, 6, 10],
            Quality::Add9 => &[0, 4, 7, 2],
            Quality::Dominant9 => &[0, 4, 7, 10, 2],
            Quality::Major9 => &[0, 4, 7, 11, 2],
            Quality::Minor9 => &[0, 3, 7, 10, 2],
            Quality::Minor11 => &[0, 3, 7, 10, 2, 5],
            Quality::Dominant13 => &[0, 4, 7, 10, 2, 9],
        }
    }

    /// Whether the chord has a major, a minor, or no third.
    pub fn family(self) -> Family {
        match self.intervals()[1] {
            4 => Family::Major,
            3 => Family::Minor,
            _ => Family::Suspended,
        }
    }

    /// The quality written as `suffix` (after the root), accepting common synonyms: `M7`,
    /// `maj7`, `Δ7`; `m`, `min`, `-`; `o`, `°`; `ø`; `+`; `sus` for sus4; `maj` for a major
    /// triad. Case matters where it carries meaning (`M7` is major, `m7` minor).
    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "" | "maj" | "M" => Quality::Major,
            "m" | "min" | "-" => Quality::Minor,
            "dim" | "o" | "°" => Quality::Diminished,
            "aug" | "+" => Quality::Augmented,
            "sus2" => Quality::Sus2,
            "sus4" | "sus" => Quality::Sus4,
            "6" | "maj6" | "M6" => Quality::Major6,
            "m6" | "min6" | "-6" => Quality::Minor6,
            "7" | "dom7" => Quality::Dominant7,
            "maj7" | "M7" | "Δ7" | "Δ" | "ma7" => Quality::Major7,
            "m7" | "min7" | "-7" => Quality::Minor7,
            "dim7" | "o7" | "°7" => Quality::Diminished7,
            "m7b5" | "min7b5" | "-7b5" | "ø" | "ø7" => Quality::HalfDiminished7,
            "add9" | "add2" => Quality::Add9,
            "9" => Quality::Dominant9,
            "maj9" | "M9" | "Δ9" | "ma9" => Quality::Major9,
            "m9" | "min9" | "-9" => Quality::Minor9,
            "m11" | "min11" | "-11" => Quality::Minor11,
            "13" => Quality::Dominant13,
            _ => return None,
        })
    }
}

/// A chord: a root and a quality. Parse one with `"Dm7".parse::<Chord>()`; `Display` writes the
/// canonical symbol back (`CM7` reads as `Cmaj7`, `C#m` as `Dbm`; see [`PitchClass::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chord {
    /// The root.
    pub root: PitchClass,
    /// The quality.
    pub quality: Quality,
}

/// Weight of the root in [`Chord::chroma_template`]: above the other tones because the bass
/// usually plays it, which is what tells Am7 from C6 (same four pitch classes).
pub const TEMPLATE_ROOT_WEIGHT: f32 = 1.0;
/// Weight of the third and fifth in [`Chord::chroma_template`].
pub const TEMPLATE_TRIAD_WEIGHT: f32 = 0.8;
/// Weight of sevenths, sixths and extensions in [`Chord::chroma_template`]: lower, because they
/// colour the chord rather than define it.
pub const TEMPLATE_EXTENSION_WEIGHT: f32 = 0.6;

impl Chord {
    /// A chord from its parts.
    pub fn new(root: PitchClass, quality: Quality) -> Self {
        Self { root, quality }
    }

    /// The pitch classes of the chord, root first, in the order of [`Quality::intervals`].
    pub fn pitch_classes(&self) -> Vec<PitchClass> {
        self.quality
            .intervals()
            .iter()
            .map(|&i| self.root.transpose(i32::from(i)))
            .collect()
    }

    /// A 12-bin chroma vector of the chord (index 0 = C): root [`TEMPLATE_ROOT_WEIGHT`], third
    /// and fifth [`TEMPLATE_TRIAD_WEIGHT`], other tones [`TEMPLATE_EXTENSION_WEIGHT`], other
    /// pitch classes 0. Its largest value is 1, like a frame of [`super::Chromagram`].
    pub fn chroma_template(&self) -> [f32; 12] {
        let mut t = [0.0f32; 12];
        // From the intervals directly: the score renders a template per frame while a stream
        // plays, where nothing may allocate.
        let tones = self.quality.intervals().iter();
        for (n, pc) in tones
            .map(|&i| self.root.transpose(i32::from(i)))
            .enumerate()
        {
            let w = match n {
                0 => TEMPLATE_ROOT_WEIGHT,
                1 | 2 => TEMPLATE_TRIAD_WEIGHT,
                _ => TEMPLATE_EXTENSION_WEIGHT,
            };
            t[pc.index()] = t[pc.index()].max(w);
        }
        t
    }

    /// The same chord `semitones` higher (negative: lower).
    pub fn transpose(&self, semitones: i32) -> Self {
        Self::new(self.root.transpose(semitones), self.quality)
    }

    /// Whether two chords agree on what can be heard reliably in an 8 kHz mix: the same root and
    /// the same kind of third ([`Family`]). `Dm7`, `Dm9`, `Dm` agree; `Dm7` and `D7` do not;
    /// `Cmaj7` and `C6` do; `Am7` and `C6` do not (different roots).
    pub fn same_family(&self, other: &Chord) -> bool {
        self.root == other.root && self.quality.family() == other.quality.family()
    }
}

impl fmt::Display for Chord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.root, self.quality.suffix())
    }
}

impl FromStr for Chord {
    type Err = AnalysisError;

    /// Parses a root (`A`-`G`, then any number of `#`/`♯` or `b`/`♭`) and a quality suffix (see
    /// [`Quality`]). Surrounding whitespace is ignored; slash chords (`C/G`) are not accepted.
    fn from_str(symbol: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| AnalysisError::UnknownChord {
            symbol: symbol.to_string(),
            reason: reason.to_string(),
        };
        let s = symbol.trim();
        let mut chars = s.chars();
        let letter = chars.next().ok_or_else(|| err("empty symbol"))?;
        let natural = match letter {
            'C' => 0,
            'D' => 2,
            'E' => 4,
            'F' => 5,
            'G' => 7,
            'A' => 9,
            'B' => 11,
            _ => return Err(err("a chord starts with a note name A-G")),
        };
        let mut shift = 0i32;
        let mut rest = chars.as_str();
        loop {
            let mut it = rest.chars();
            match it.next() {
                Some('#' | '♯') => shift += 1,
                // `b` after the letter is a flat: no suffix starts with it.
                Some('b' | '♭') => shift -= 1,
                _ => break,
            }
            rest = it.as_str();
        }
        if rest.contains('/') {
            return Err(err(
                "slash chords (a bass note after '/') are not supported",
            ));
        }
        let quality = Quality::from_suffix(rest)
            .ok_or_else(|| err(&format!("unknown chord quality {rest:?}")))?;
        Ok(Chord::new(PitchClass::new(natural + shift), quality))
    }
}

/// Parses a progression of chord symbols separated by whitespace, commas or bar lines (`|`), e.g.
/// `"Dm9 G13 Cmaj9 Am7"` or `"| Dm7 | G7 | Cmaj7 |"`. An empty progression is an error, as is
/// any symbol that [`Chord::from_str`] rejects (the error names it).
pub fn parse_progression(text: &str) -> Result<Vec<Chord>, AnalysisError> {
    let chords = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '|')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Chord>, _>>()?;
    if chords.is_empty() {
        return Err(AnalysisError::EmptyProgression {
            text: text.to_string(),
        });
    }
    Ok(chords)
}

/// Cosine similarity of two 12-bin vectors; 0 when either is all zero.
pub(crate) fn cosine(a: &[f32; 12], b: &[f32; 12]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na <= 0.0 || nb <= 0.0 || !dot.is_finite() {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Every chord [`label_chords`] can answer: 12 roots times [`Quality::LABELS`].
pub fn label_vocabulary() -> Vec<Chord> {
    (0..12)
        .flat_map(|r| {
            Quality::LABELS
                .iter()
                .map(move |&q| Chord::new(PitchClass::new(r), q))
        })
        .collect()
}

/// Similarity a chord must lose by before the labeller switches to a new one between
/// neighbouring segments (cosine units). Small: chords in lofi change every bar, so this only
/// settles near-ties in favour of holding the chord.
pub const CHORD_SWITCH_PENALTY: f32 = 0.03;
/// Below this best cosine similarity a segment is left unlabelled (`None`): too little tonal
/// content (silence, drums alone) to name a chord.
pub const MIN_CHORD_SIMILARITY: f32 = 0.5;

/// Labels a sequence of chroma vectors (one per beat or bar, each the mean chroma over its span)
/// with chords from [`label_vocabulary`]: cosine similarity against every template, then a
/// Viterbi path that pays [`CHORD_SWITCH_PENALTY`] per change, so one ambiguous segment does not
/// flicker. A segment whose best similarity is below [`MIN_CHORD_SIMILARITY`] (or all zero) reads
/// `None`.
pub fn label_chords(segments: &[[f32; 12]]) -> Vec<Option<Chord>> {
    let vocab = label_vocabulary();
    let templates: Vec<[f32; 12]> = vocab.iter().map(Chord::chroma_template).collect();
    let sims: Vec<Vec<f32>> = segments
        .iter()
        .map(|c| {
            // Square roots compress a dominant bass note so the upper tones still count.
            let c = c.map(|x| x.max(0.0).sqrt());
            templates.iter().map(|t| cosine(&c, t)).collect()
        })
        .collect();
    let path = viterbi(&sims, CHORD_SWITCH_PENALTY);
    path.iter()
        .zip(&sims)
        .map(|(&k, s)| (s[k] >= MIN_CHORD_SIMILARITY).then_some(vocab[k]))
        .collect()
}

/// The state sequence maximising the summed scores minus `penalty` per change of state. `scores`
/// is `[segment][state]`, every row the same length (non-empty).
fn viterbi(scores: &[Vec<f32>], penalty: f32) -> Vec<usize> {
    let Some(first) = scores.first() else {
        return Vec::new();
    };
    let states = first.len();
    let mut total = first.clone();
    let mut back: Vec<Vec<usize>> = Vec::with_capacity(scores.len());
    back.push((0..states).collect());
    for row in &scores[1..] {
        // The best predecessor for a change is the same for every state: the overall best.
        let best = argmax(&total);
        let mut next = vec![0.0; states];
        let mut links = vec![0; states];
        for s in 0..states {
            let (stay, switch) = (total[s], total[best] - penalty);
            (next[s], links[s]) = if stay >= switch {
                (stay + row[s], s)
            } else {
                (switch + row[s], best)
            };
        }
        total = next;
        back.push(links);
    }
    let mut path = vec![0; scores.len()];
    let mut s = argmax(&total);
    for (i, links) in back.iter().enumerate().rev() {
        path[i] = s;
        s = links[s];
    }
    path
}

/// Index of the largest value (the first on ties; 0 for an empty slice).
pub(crate) fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Chord {
        s.parse().unwrap()
    }

    #[test]
    fn symbols_parse_to_root_and_quality() {
        let cases = [
            ("C", 0, Quality::Major),
            ("Am", 9, Quality::Minor),
            ("Dm7", 2, Quality::Minor7),
            ("G7", 7, Quality::Dominant7),
            ("Cmaj7", 0, Quality::Major7),
            ("CM7", 0, Quality::Major7),
            ("Fmaj9", 5, Quality::Major9),
            ("Dm9", 2, Quality::Minor9),
            ("G13", 7, Quality::Dominant13),
            ("Bb7", 10, Quality::Dominant7),
            ("F#m7", 6, Quality::Minor7),
            ("Ebmaj7", 3, Quality::Major7),
            ("Cb", 11, Quality::Major),
            ("E#m", 5, Quality::Minor),
            ("Bdim", 11, Quality::Diminished),
            ("Bm7b5", 11, Quality::HalfDiminished7),
            ("Dsus", 2, Quality::Sus4),
            (" C6 ", 0, Quality::Major6),
        ];
        for (s, root, q) in cases {
            assert_eq!(c(s), Chord::new(PitchClass::new(root), q), "{s}");
        }
    }

    #[test]
    fn display_writes_the_symbol_back() {
        for s in [
            "C", "Am", "Dm7", "G7", "Cmaj7", "Fmaj9", "Dm9", "G13", "Bb7", "F#m7",
        ] {
            assert_eq!(c(s).to_string(), s);
        }
        assert_eq!(c("Ebmaj7").to_string(), "Ebmaj7");
        assert_eq!(c("CM7").to_string(), "Cmaj7");
        assert_eq!(c("C#m").to_string(), "Dbm");
        // Every root and quality survives a round trip.
        for chord in (0..12).flat_map(|r| Quality::ALL.map(|q| Chord::new(PitchClass::new(r), q))) {
            assert_eq!(c(&chord.to_string()), chord, "{chord}");
        }
    }

    #[test]
    fn garbage_is_rejected_naming_the_symbol() {
        for bad in ["H7", "", "Xm", "Cx7", "C/G", "c", "Am7!"] {
            let e = bad.parse::<Chord>().unwrap_err();
            assert!(
                e.to_string().contains(&format!("{bad:?}")),
                "{bad}: the error should name the symbol: {e}"
            );
        }
    }

    #[test]
    fn progressions_parse_and_empty_is_an_error() {
        let p = parse_progression("Dm9 G13 Cmaj9 Am7").unwrap();
        assert_eq!(p, vec![c("Dm9"), c("G13"), c("Cmaj9"), c("Am7")]);
        assert_eq!(parse_progression("| Dm7 | G7,Cmaj7 |").unwrap().len(), 3);
        for empty in ["", "   ", " | | "] {
            assert!(matches!(
                parse_progression(empty),
                Err(AnalysisError::EmptyProgression { .. })
            ));
        }
        let e = parse_progression("Dm7 H7 C").unwrap_err();
        assert!(e.to_string().contains("\"H7\""), "{e}");
    }

    #[test]
    fn pitch_classes_templates_and_transposition() {
        let g7 = c("G7");
        assert_eq!(
            g7.pitch_classes(),
            [7, 11, 2, 5].map(PitchClass::new).to_vec()
        );
        let t = g7.chroma_template();
        assert_eq!(t[7], TEMPLATE_ROOT_WEIGHT);
        assert_eq!(t[11], TEMPLATE_TRIAD_WEIGHT);
        assert_eq!(t[5], TEMPLATE_EXTENSION_WEIGHT);
        assert_eq!(t[0], 0.0);
        assert_eq!(c("Dm7").transpose(5), c("Gm7"));
        assert_eq!(c("C").transpose(-1), c("B"));
        assert_eq!(c("G13").pitch_classes().len(), 6);
    }

    #[test]
    fn same_family_compares_root_and_third() {
        assert!(c("Dm7").same_family(&c("Dm9")));
        assert!(c("Dm7").same_family(&c("Dm")));
        assert!(c("Cmaj7").same_family(&c("C6")));
        assert!(c("G7").same_family(&c("G13")));
        assert!(!c("Dm7").same_family(&c("D7")));
        assert!(!c("Am7").same_family(&c("C6")));
        assert!(!c("Csus4").same_family(&c("C")));
    }

    #[test]
    fn templates_label_themselves_and_hold_through_ties() {
        for chord in label_vocabulary() {
            let got = label_chords(&[chord.chroma_template()]);
            assert_eq!(got, vec![Some(chord)]);
        }
        assert_eq!(label_chords(&[[0.0; 12]]), vec![None]);
        assert!(label_chords(&[]).is_empty());
        // A segment halfway between Am7 and C (equal evidence) keeps the chord before it.
        let am7 = c("Am7").chroma_template();
        let cm = c("C").chroma_template();
        let mid: [f32; 12] = std::array::from_fn(|i| 0.5 * (am7[i] + cm[i]));
        let got = label_chords(&[am7, mid, am7]);
        assert_eq!(got, vec![Some(c("Am7")); 3]);
    }
}
