//! `lofigen plot`: the loss curves of runs, overlaid.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use lofigen::plot::{Series, loss_curves};
use lofigen::run::RunDir;

#[derive(Args, Debug)]
pub(crate) struct PlotArgs {
    /// Run directories.
    #[arg(required = true)]
    pub(crate) runs: Vec<PathBuf>,
    /// PNG to write.
    #[arg(long, default_value = "loss.png")]
    pub(crate) out: PathBuf,
}

pub(crate) fn run(a: PlotArgs) -> Result<()> {
    let mut series = Vec::new();
    let mut families = Vec::new();
    for (i, run) in a.runs.iter().enumerate() {
        let run_dir = RunDir::new(run);
        let rows = run_dir.metrics()?;
        families.push(run_dir.config()?.model.family());
        let pick = |split: &str| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| r.1 == split)
                .map(|r| (r.0 as f64, r.2))
                .collect()
        };
        let name = run.file_name().map_or_else(
            || run.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        series.extend(Series::pair(&name, pick("train"), pick("valid"), i));
    }
    // Say which loss, unless the runs mix the two (MSE and cross-entropy share no unit).
    families.dedup();
    let loss = match families[..] {
        ["paper"] => "MSE",
        ["wavenet"] => "cross-entropy, nats per sample",
        _ => "each run's own loss",
    };
    loss_curves(
        &a.out,
        &format!("Loss per epoch ({loss}; dashed: validation)"),
        &series,
    )?;
    println!("wrote {}", a.out.display());
    Ok(())
}
