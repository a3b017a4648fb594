//! `--count N` of `lofigen lofi` and `lofigen generate`: N clips with sampler seeds `--seed`,
//! `--seed + 1`, ..., rendered together on every core (the runtime's `RenderBatch`) and written
//! as numbered files beside `--out`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use lofigen::runtime::{FxPreset, Generator, StreamOptions};

use crate::progress;
use crate::shared::{describe_music, describe_output};

/// `--count`, shared by the commands that write clips.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct CountArg {
    /// Render N clips with sampler seeds --seed, --seed + 1, ..., --seed + N - 1 into
    /// OUT-1.wav .. OUT-N.wav beside --out (numbered to one width: lofi-01.wav .. lofi-12.wav);
    /// each is byte for byte the file a run with its own --seed writes. The clips are generated
    /// together on every core: N clips take about the time of N / cores clips one by one.
    // Negative numbers parse, so that `--count -2` gets a message naming the option.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) count: Option<usize>,
}

impl CountArg {
    /// The count asked for, checked: at least one clip; not with a stream on stdout.
    pub(crate) fn checked(&self, to_stdout: bool) -> Result<Option<usize>> {
        match self.count {
            Some(0) => bail!("--count must be at least 1 clip, not 0"),
            Some(n) if to_stdout => bail!(
                "--count {n} writes one WAV file per clip; --out - streams a single clip: give \
                 --out a file name"
            ),
            other => Ok(other),
        }
    }
}

/// `out` numbered `1..=count`: `lofi.wav` -> `lofi-1.wav`, ..., padded to the width of `count`.
pub(crate) fn numbered(out: &Path, count: usize) -> Vec<PathBuf> {
    let width = count.to_string().len();
    let stem = out
        .file_stem()
        .map_or_else(|| "clip".into(), |s| s.to_string_lossy().into_owned());
    let ext = out
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    (1..=count)
        .map(|i| out.with_file_name(format!("{stem}-{i:0width$}{ext}")))
        .collect()
}

/// `count` clips of `seconds` each of `generator` with `opts`, their sampler seeds counting up
/// from `opts`', written as [`numbered`] files of `out`: one line per clip (file, seed, music),
/// a progress bar on a terminal, and a summary.
pub(crate) fn render(
    generator: &Generator,
    opts: &StreamOptions,
    count: usize,
    seconds: f64,
    out: &Path,
    fx: FxPreset,
) -> Result<()> {
    let first = opts.sampling.seed;
    let Some(last) = first.checked_add(count as u64 - 1) else {
        bail!(
            "--seed {first} with --count {count}: the seeds would pass {}",
            u64::MAX
        );
    };
    let all: Vec<StreamOptions> = (first..=last)
        .map(|seed| {
            let mut o = opts.clone();
            o.sampling.seed = seed;
            o
        })
        .collect();
    let paths = numbered(out, count);
    let threads = rayon::current_num_threads();
    let mut batch = generator.render_batch(&all, threads)?;
    let sound = describe_output(batch.sample_rate(), batch.channels(), fx);
    eprintln!(
        "rendering {count} clips of {seconds} s of {} as {sound}, sampler seeds {first} to {last} \
         (which seed the effects too), on {} threads",
        generator.name(),
        batch.threads()
    );
    for (path, o) in paths.iter().zip(&all) {
        eprintln!("  {}: --seed {}", path.display(), o.sampling.seed);
        // The first line only: the clip's --seed picks the same music again.
        if let Some(music) = describe_music(generator, o)? {
            eprintln!("    {}", music.lines().next().unwrap_or_default());
        }
    }
    if let Some(notice) = generator.attribution() {
        eprintln!("{notice}");
    }
    let frames = batch.frames_for(seconds)?;
    let bar = progress::SamplesBar::new(frames);
    let start = Instant::now();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    batch.write_wavs(&refs, seconds, |n| bar.advance(n))?;
    bar.finish();
    let wall = start.elapsed().as_secs_f64();
    let audio = frames as f64 / f64::from(batch.sample_rate());
    println!(
        "wrote {count} clips of {audio:.1} s ({sound}, 16-bit): {} .. {} ({:.1}x real time in \
         all, {:.2}x per clip)",
        paths[0].display(),
        paths[count - 1].display(),
        count as f64 * audio / wall,
        audio / wall
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_are_numbered_beside_out_with_one_width() {
        let names = |out: &str, n| {
            numbered(Path::new(out), n)
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("lofi.wav", 2), ["lofi-1.wav", "lofi-2.wav"]);
        assert_eq!(names("a/b.wav", 10)[0], "a/b-01.wav");
        assert_eq!(names("a/b.wav", 10)[9], "a/b-10.wav");
        assert_eq!(names("take", 1), ["take-1"]);
    }
}
