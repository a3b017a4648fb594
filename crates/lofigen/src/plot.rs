//! Plots as PNG (plotters): loss curves (one run's train and validation curves, or several runs
//! overlaid), spectrograms of generated and reference audio side by side, and the musical
//! analysis of a clip (onsets and beats over its chromagram, with a chord per bar).

use std::path::Path;

use lofigen_audio::analysis::{MusicAnalysis, PitchClass};
use lofigen_audio::measures::Spectrogram;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// One curve.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(epoch, loss)` points.
    pub points: Vec<(f64, f64)>,
    /// Dashed line (validation curves).
    pub dashed: bool,
    /// Index into the palette; train and validation of one run share it.
    pub color: usize,
}

impl Series {
    /// Train and validation series of one run drawn in palette colour `color`.
    pub fn pair(
        name: &str,
        train: Vec<(f64, f64)>,
        valid: Vec<(f64, f64)>,
        color: usize,
    ) -> Vec<Series> {
        let sep = if name.is_empty() { "" } else { " " };
        vec![
            Series {
                label: format!("{name}{sep}train"),
                points: train,
                dashed: false,
                color,
            },
            Series {
                label: format!("{name}{sep}validation"),
                points: valid,
                dashed: true,
                color,
            },
        ]
    }
}

/// Draw `series` into a PNG at `path` (written through [`lofigen_audio::atomic`]).
pub fn loss_curves(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    write_png(path, |tmp| draw(tmp, title, series))
}

/// Draws a PNG with `draw` at a temporary path and moves it into place; a drawing problem is
/// [`Error::Plot`], a writing one [`Error::Io`], both naming `path`.
fn write_png(
    path: &Path,
    draw: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    let mut problem = None;
    let written = lofigen_audio::write_atomic_with(path, |tmp| {
        draw(tmp).map_err(|p| {
            problem = Some(p);
            std::io::Error::other("drawing failed")
        })
    });
    match (problem, written) {
        (Some(problem), _) => Err(Error::Plot {
            path: path.to_path_buf(),
            problem,
        }),
        (None, written) => written.map_err(|e| Error::io("write", path, e)),
    }
}

/// The y range of a log axis around the data `[y_min, y_max]` (both > 0), with some room.
///
/// plotters labels a log axis from the first power of ten inside the range (and between powers):
/// a range within one decade, such as cross-entropies of 2.9 to 4.4 nats, would get no label at
/// all. Such a range reaches down to the power of ten below it.
fn log_axis_range(y_min: f64, y_max: f64) -> (f64, f64) {
    let (lo, hi) = (y_min / 1.25, y_max * 1.25);
    let decade = 10f64.powf(lo.log10().floor());
    if decade * 10.0 > hi {
        (decade, hi)
    } else {
        (lo, hi)
    }
}

fn draw(path: &Path, title: &str, series: &[Series]) -> std::result::Result<(), String> {
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1.is_finite() && p.1 > 0.0);
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if y_min > y_max {
        (y_min, y_max) = (1e-4, 1.0);
    }
    let (y_lo, y_hi) = log_axis_range(y_min, y_max);

    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(0.5f64..x_max + 0.5, (y_lo..y_hi).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss (log scale)")
        // Epochs are whole numbers: on a short run plotters puts ticks at halves too, which
        // would print every epoch twice.
        .x_labels((x_max as usize).clamp(2, 12))
        .x_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{v:.2e}"))
        .draw()
        .map_err(|e| e.to_string())?;
    for s in series {
        let color = palette[s.color % palette.len()];
        let style = ShapeStyle {
            color: color.to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.1.is_finite() && p.1 > 0.0)
            .collect();
        let anno = if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
                .map_err(|e| e.to_string())?
        } else {
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(|e| e.to_string())?
        };
        // The legend sample is dashed too, so train and validation can be told apart.
        let gap = if s.dashed { (8, 13) } else { (20, 0) };
        anno.label(s.label.clone()).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (gap.0, 0)], style)
                + PathElement::new(vec![(gap.1, 0), (20, 0)], style)
        });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Draw spectrograms side by side in one PNG at `path` (written atomically), each panel
/// titled by its label, on one shared dB colour scale (the top 80 dB below the loudest cell of
/// all panels), so that panels of loudness-normalised clips compare directly.
pub fn spectrograms(path: &Path, title: &str, panels: &[(&str, &Spectrogram)]) -> Result<()> {
    write_png(path, |tmp| draw_spectrograms(tmp, title, panels))
}

/// Dynamic range shown by [`spectrograms`], dB.
const SPECTROGRAM_RANGE_DB: f32 = 80.0;
/// At most this many frequency rows are drawn per panel (neighbouring bins are averaged), so that a
/// panel stays a few hundred thousand rectangles at most.
const SPECTROGRAM_MAX_ROWS: usize = 256;

fn draw_spectrograms(
    path: &Path,
    title: &str,
    panels: &[(&str, &Spectrogram)],
) -> std::result::Result<(), String> {
    let top = panels
        .iter()
        .map(|(_, s)| s.max_db())
        .fold(-200.0f32, f32::max);
    let bottom = top - SPECTROGRAM_RANGE_DB;
    let width = 560 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (width, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, (label, sg)) in areas.iter().zip(panels) {
        let nyquist = f64::from(sg.sample_rate) / 2.0;
        let seconds = sg.seconds().max(1e-3);
        let mut chart = ChartBuilder::on(area)
            .caption(*label, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..seconds, 0f64..nyquist)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("time (s)")
            .y_desc("frequency (Hz)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        let step = sg.bins.div_ceil(SPECTROGRAM_MAX_ROWS).max(1);
        let bin_hz = nyquist / (sg.bins.max(2) - 1) as f64;
        let cells = (0..sg.columns).flat_map(|c| {
            let column = &sg.db[c * sg.bins..(c + 1) * sg.bins];
            column.chunks(step).enumerate().map(move |(r, chunk)| {
                let db = chunk.iter().sum::<f32>() / chunk.len() as f32;
                let colour = ViridisRGB.get_color_normalized(db.clamp(bottom, top), bottom, top);
                let (t0, t1) = (
                    c as f64 * sg.seconds_per_column,
                    (c + 1) as f64 * sg.seconds_per_column,
                );
                let f0 = ((r * step) as f64 - 0.5).max(0.0) * bin_hz;
                let f1 = (((r + 1) * step) as f64 - 0.5).min(nyquist / bin_hz) * bin_hz;
                Rectangle::new([(t0, f0), (t1, f1)], colour.filled())
            })
        });
        chart.draw_series(cells).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Draw the musical analysis of one clip into a PNG at `path` (written atomically): on top the
/// onset envelope with a tick at every beat and a stronger one at every downbeat; below it the
/// chromagram (12 rows, C at the bottom) with a line at each downbeat and each bar's chord
/// written above it. The width grows with the clip (40 px a second, 1,000 to 4,000 px) so that
/// bar labels stay readable.
pub fn music_analysis(path: &Path, title: &str, analysis: &MusicAnalysis) -> Result<()> {
    write_png(path, |tmp| draw_music(tmp, title, analysis))
}

/// Pixels per second of [`music_analysis`], and its width limits.
const MUSIC_PX_PER_SECOND: f64 = 40.0;
const MUSIC_MIN_WIDTH: u32 = 1000;
const MUSIC_MAX_WIDTH: u32 = 4000;

/// Beats and their colours in [`music_analysis`].
const BEAT_COLOUR: RGBColor = RGBColor(120, 120, 200);
const DOWNBEAT_COLOUR: RGBColor = RGBColor(214, 39, 40);

fn draw_music(path: &Path, title: &str, a: &MusicAnalysis) -> std::result::Result<(), String> {
    let seconds = a.duration_s.max(1e-3);
    let width = ((seconds * MUSIC_PX_PER_SECOND) as u32).clamp(MUSIC_MIN_WIDTH, MUSIC_MAX_WIDTH);
    let root = BitMapBackend::new(path, (width, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(260);

    // Onset envelope: at most two points per pixel column, each the largest of its frames, so
    // that no spike vanishes between columns.
    let fps = a.onsets.frame_rate;
    let env = &a.onsets.all;
    let bucket = env.len().div_ceil(2 * width as usize).max(1);
    let points: Vec<(f64, f64)> = env
        .chunks(bucket)
        .enumerate()
        .map(|(i, c)| {
            let peak = c
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0f32, f32::max);
            ((i * bucket) as f64 / fps, f64::from(peak))
        })
        .filter(|p| p.0.is_finite())
        .collect();
    let y_max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "onset strength (ticks: beats; red: downbeats)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..seconds, 0f64..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()
        .map_err(|e| e.to_string())?;
    let tick = |t: f64, top: f64, colour: RGBColor, stroke: u32| {
        PathElement::new(
            vec![(t, 0.0), (t, top)],
            ShapeStyle {
                color: colour.to_rgba(),
                filled: false,
                stroke_width: stroke,
            },
        )
    };
    chart
        .draw_series(a.beats.iter().map(|&t| tick(t, y_max, BEAT_COLOUR, 1)))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            a.downbeats
                .iter()
                .map(|&t| tick(t, y_max, DOWNBEAT_COLOUR, 3)),
        )
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(points, BLACK.stroke_width(1)))
        .map_err(|e| e.to_string())?;

    // Chromagram: rows 0..11 (C..B), the band above row 11 holds the chord labels.
    let label_top = 13.5;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("chromagram and chord per bar", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..seconds, -0.5f64..label_top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("time (s)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        // Ask for ticks every half row and name the whole ones: plotters picks "nice" steps.
        .y_labels(30)
        .y_label_formatter(&|v| {
            let r = v.round();
            if (v - r).abs() < 1e-6 && (0.0..12.0).contains(&r) {
                PitchClass::new(r as i32).name().to_string()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    let cfps = a.chroma.frame_rate;
    if cfps.is_finite() && cfps > 0.0 {
        let half = 0.5 / cfps;
        let cells = a.chroma.frames.iter().enumerate().flat_map(|(i, f)| {
            let t = i as f64 / cfps;
            f.iter().enumerate().map(move |(r, &v)| {
                let v = if v.is_finite() {
                    v.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let colour = ViridisRGB.get_color_normalized(v, 0.0, 1.0);
                let (t0, t1) = ((t - half).max(0.0), (t + half).min(seconds));
                Rectangle::new(
                    [(t0, r as f64 - 0.5), (t1, r as f64 + 0.5)],
                    colour.filled(),
                )
            })
        });
        chart.draw_series(cells).map_err(|e| e.to_string())?;
    }
    chart
        .draw_series(
            a.downbeats
                .iter()
                .map(|&t| tick(t, 11.5, DOWNBEAT_COLOUR, 2)),
        )
        .map_err(|e| e.to_string())?;
    // Labels alternate between two lines so that neighbouring short bars do not overlap.
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    let labels = a.bars.iter().enumerate().filter_map(|(i, bar)| {
        let chord = bar.chord?;
        let y = if i % 2 == 0 { label_top - 0.1 } else { 12.5 };
        Some(Text::new(
            chord.to_string(),
            (bar.start_s + 0.05, y),
            font.clone(),
        ))
    });
    chart.draw_series(labels).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// The control gap folded over the beat (`eval::ControlGap::by_beat`) into a PNG at
/// `path` (written atomically): above, the NLL with the true controls through the beat; below,
/// how much worse the shifted rhythm and the moved chords predict there. One line per
/// `(label, bins)`, e.g. the model as trained and as it plays.
pub fn control_gap_by_beat(
    path: &Path,
    title: &str,
    gaps: &[(&str, &[BeatStretch])],
) -> Result<()> {
    write_png(path, |tmp| draw_gap_by_beat(tmp, title, gaps))
}

/// One stretch of the beat in [`control_gap_by_beat`], nats per sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BeatStretch {
    /// Where it starts, as a fraction of the beat (0 = on the beat).
    pub phase: f64,
    /// The NLL with the true controls.
    pub true_nats: f64,
    /// Rhythm shifted half a beat minus true.
    pub rhythm_gap: f64,
    /// Chords moved minus true.
    pub chord_gap: f64,
    /// No controls minus true.
    pub none_gap: f64,
}

fn draw_gap_by_beat(
    path: &Path,
    title: &str,
    gaps: &[(&str, &[BeatStretch])],
) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, (900, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 24))
        .map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(300);
    // Each bin drawn at its middle: x is the position in the beat, 0 = on the beat.
    let mid = |b: &BeatStretch, bins: usize| b.phase + 0.5 / bins as f64;
    let range = |f: &dyn Fn(&BeatStretch) -> f64| {
        let v = gaps.iter().flat_map(|(_, g)| g.iter().map(f));
        let (lo, hi) = v.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if lo > hi {
            (0.0, 1.0)
        } else {
            let pad = ((hi - lo) * 0.1).max(1e-3);
            (lo - pad, hi + pad)
        }
    };
    let colors = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];

    let (lo, hi) = range(&|b| b.true_nats);
    let mut chart = beat_panel(&top, lo..hi, "NLL, true controls", 2)?;
    for (i, (label, bins)) in gaps.iter().enumerate() {
        let color = colors[i % colors.len()];
        let points = bins.iter().map(|b| (mid(b, bins.len()), b.true_nats));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    draw_legend(&mut chart)?;

    let (glo, ghi) = range(&|b| b.rhythm_gap.min(b.chord_gap).min(b.none_gap).min(0.0));
    let (_, ghi2) = range(&|b| b.rhythm_gap.max(b.chord_gap).max(b.none_gap));
    let y = glo..ghi.max(ghi2);
    let mut chart = beat_panel(&bottom, y, "wrong minus true, nats per sample", 3)?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 0.0)], BLACK.mix(0.4)))
        .map_err(|e| err(&e))?;
    for (i, (label, bins)) in gaps.iter().enumerate() {
        let color = colors[i % colors.len()];
        // Solid: rhythm; long dashes: chords; short dashes: no controls.
        // Name, dashes (on, off pixels; none: solid), and the gap drawn.
        type Line = (&'static str, Option<(u32, u32)>, fn(&BeatStretch) -> f64);
        let lines: [Line; 3] = [
            ("rhythm shifted", None, |b| b.rhythm_gap),
            ("chords moved", Some((8, 5)), |b| b.chord_gap),
            ("no controls", Some((3, 4)), |b| b.none_gap),
        ];
        for (what, dashes, pick) in lines {
            let points: Vec<(f64, f64)> =
                bins.iter().map(|b| (mid(b, bins.len()), pick(b))).collect();
            let style = color.stroke_width(2);
            let series = match dashes {
                Some((on, off)) => chart.draw_series(DashedLineSeries::new(points, on, off, style)),
                None => chart.draw_series(LineSeries::new(points, style)),
            };
            // The legend sample is dashed too, as in the loss curves.
            series
                .map_err(|e| err(&e))?
                .label(format!("{what}, {label}"))
                .legend(move |(x, y)| {
                    // Up to three dashes in a 20-pixel sample.
                    let (on, off) = dashes.map_or((20, 0), |(on, off)| (on as i32, off as i32));
                    let dash = |k: i32| {
                        let from = (k * (on + off)).min(20);
                        PathElement::new(vec![(from, 0), ((from + on).min(20), 0)], style)
                    };
                    EmptyElement::at((x, y)) + dash(0) + dash(1) + dash(2)
                });
        }
    }
    draw_legend(&mut chart)?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// A panel of [`control_gap_by_beat`]: the beat along x, NLLs up.
type BeatChart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A [`BeatChart`] on `area` with its mesh drawn: `y` up, labelled `y_desc` with `decimals`.
fn beat_panel<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    y: std::ops::Range<f64>,
    y_desc: &str,
    decimals: usize,
) -> std::result::Result<BeatChart<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..1f64, y)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("position in the beat (0 = on the beat)")
        .y_desc(y_desc)
        .y_label_formatter(&|v| format!("{v:.decimals$}"))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// The legend of a [`BeatChart`], boxed on a light background.
fn draw_legend<'a, 'b: 'a>(chart: &mut BeatChart<'a, 'b>) -> std::result::Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::log_axis_range;

    #[test]
    fn a_log_axis_always_holds_a_power_of_ten_to_label() {
        for (y_min, y_max) in [(2.87, 4.4), (3.0e-3, 4.3e-3), (0.011, 0.095), (1e-3, 1.0)] {
            let (lo, hi) = log_axis_range(y_min, y_max);
            assert!(lo <= y_min && hi >= y_max, "{y_min}..{y_max} -> {lo}..{hi}");
            let first = 10f64.powf(lo.log10().ceil());
            assert!(
                first <= hi,
                "{y_min}..{y_max} -> {lo}..{hi}: no power of ten"
            );
        }
        // A range over decades keeps its tight margins.
        assert_eq!(log_axis_range(1e-3, 1.0), (1e-3 / 1.25, 1.25));
    }
}
