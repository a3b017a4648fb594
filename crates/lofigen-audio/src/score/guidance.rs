//! How strongly a model follows each group of its controls.

use std::fmt;
use std::str::FromStr;

use super::{Group, ScoreError};

/// The strongest guidance accepted: past it the gates saturate and the audio turns to noise.
pub const MAX_GUIDANCE: f32 = 8.0;

/// How strongly a model follows each [`Group`] of its controls, applied to the control
/// network's gate bias: with `b` the bias of the frames as given and `b_g` the bias with group
/// `g` left out, the model plays `b + Σ_g (w_g − 1)(b − b_g)`. 1 is the model as trained, 0
/// ignores the group, above 1 pushes further the way the group pulls (guidance in the sense
/// of classifier-free guidance, on the bias rather than the output, so that it costs one
/// extra control-network pass per guided group and frame, not a second model).
///
/// Written as one strength for every group (`"2"`) or per group (`"rhythm=2,harmony=3"`;
/// groups left out keep 1); `Display` writes the per-group form back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guidance {
    /// Per [`Group::ALL`] entry.
    strengths: [f32; 3],
}

impl Default for Guidance {
    /// The model as trained.
    fn default() -> Self {
        Self::uniform(1.0)
    }
}

impl Guidance {
    /// The same strength for every group.
    pub const fn uniform(strength: f32) -> Guidance {
        Guidance {
            strengths: [strength; 3],
        }
    }

    /// `self` with `group` at `strength`.
    pub const fn with(mut self, group: Group, strength: f32) -> Guidance {
        self.strengths[index(group)] = strength;
        self
    }

    /// The strength of `group`.
    pub fn strength(&self, group: Group) -> f32 {
        self.strengths[index(group)]
    }

    /// The groups guided away from 1, with their strengths.
    pub fn guided(&self) -> impl Iterator<Item = (Group, f32)> + '_ {
        Group::ALL
            .into_iter()
            .zip(self.strengths)
            .filter(|&(_, w)| w != 1.0)
    }

    /// [`Guidance::guided`] for a model whose control frames hold `dims` values: the groups
    /// whose dims all fit (a model with fewer dims than the score's layout, a test's, has
    /// fewer groups).
    pub fn guided_within(&self, dims: usize) -> impl Iterator<Item = (Group, f32)> + '_ {
        self.guided().filter(move |(g, _)| g.range().end <= dims)
    }

    /// Every strength finite and within 0..=[`MAX_GUIDANCE`].
    pub fn validate(&self) -> Result<(), ScoreError> {
        match self
            .strengths
            .iter()
            .position(|w| !(0.0..=MAX_GUIDANCE).contains(w))
        {
            Some(i) => Err(ScoreError::BadGuidance {
                text: format!("{}={}", name(Group::ALL[i]), self.strengths[i]),
                reason: format!("a strength is 0-{MAX_GUIDANCE}"),
            }),
            None => Ok(()),
        }
    }
}

/// `group`'s place in [`Group::ALL`].
const fn index(group: Group) -> usize {
    match group {
        Group::Rhythm => 0,
        Group::Harmony => 1,
        Group::Loudness => 2,
    }
}

fn name(group: Group) -> &'static str {
    match group {
        Group::Rhythm => "rhythm",
        Group::Harmony => "harmony",
        Group::Loudness => "loudness",
    }
}

impl fmt::Display for Guidance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (g, w)) in Group::ALL.into_iter().zip(self.strengths).enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{}={w}", name(g))?;
        }
        Ok(())
    }
}

impl FromStr for Guidance {
    type Err = ScoreError;

    fn from_str(text: &str) -> Result<Guidance, ScoreError> {
        let bad = |reason: String| ScoreError::BadGuidance {
            text: text.to_string(),
            reason,
        };
        let number = |v: &str| {
            v.trim()
                .parse::<f32>()
                .map_err(|_| bad(format!("{:?} is not a number", v.trim())))
        };
        let guidance = if text.contains('=') {
            let mut g = Guidance::default();
            for part in text.split(',').filter(|p| !p.trim().is_empty()) {
                let (key, value) = part
                    .split_once('=')
                    .ok_or_else(|| bad(format!("{:?} is not group=strength", part.trim())))?;
                let group = Group::ALL
                    .into_iter()
                    .find(|&g| name(g) == key.trim())
                    .ok_or_else(|| {
                        bad(format!(
                            "unknown group {:?} (known: rhythm, harmony, loudness)",
                            key.trim()
                        ))
                    })?;
                g = g.with(group, number(value)?);
            }
            g
        } else {
            Guidance::uniform(number(text)?)
        };
        guidance.validate().map_err(|e| match e {
            ScoreError::BadGuidance { reason, .. } => bad(reason),
            e => e,
        })?;
        Ok(guidance)
    }
}
