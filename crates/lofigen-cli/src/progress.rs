//! Talking to the user while long work runs: progress bars on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use lofigen::corpus::PrepareProgress;
use lofigen::experiment::{ExperimentObserver, ModelResult};
use lofigen::run::{EpochMetrics, RunInfo};
use lofigen::train::TrainObserver;

fn tty() -> bool {
    std::io::stderr().is_terminal()
}

/// A byte progress bar per file.
pub struct PrepareBar {
    bar: Option<ProgressBar>,
}

impl PrepareBar {
    pub fn new() -> Self {
        Self { bar: None }
    }
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl PrepareProgress for PrepareBar {
    fn file_started(&mut self, path: &Path, index: usize, total: usize) {
        self.finish();
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        if tty() {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(format!("[{}/{}] {name}", index + 1, total));
            self.bar = Some(bar);
        } else {
            eprintln!("[{}/{}] {}", index + 1, total, path.display());
        }
    }
    fn bytes(&mut self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
        }
    }
}

/// A bar over the samples of one generated clip (on a terminal only: it is short work).
pub struct SamplesBar {
    bar: Option<ProgressBar>,
}

impl SamplesBar {
    pub fn new(total: usize) -> Self {
        let bar = tty().then(|| {
            ProgressBar::new(total as u64).with_style(
                ProgressStyle::with_template("generating [{bar:30}] {percent}% {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            )
        });
        Self { bar }
    }
    pub fn advance(&self, samples: usize) {
        if let Some(b) = &self.bar {
            b.inc(samples as u64);
        }
    }
    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// A step bar per epoch and one summary line per epoch.
pub struct TrainProgress {
    bar: Option<ProgressBar>,
}

impl TrainProgress {
    pub fn new() -> Self {
        Self { bar: None }
    }
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl TrainObserver for TrainProgress {
    fn started(&mut self, info: &RunInfo) {
        let [tr, va, te] = info.split_seconds;
        let [wtr, wva, wte] = info.split_windows;
        eprintln!(
            "model: {} ({} parameters, receptive field {} samples) on {}",
            info.family, info.parameters, info.receptive_field, info.device
        );
        eprintln!(
            "audio: train {tr:.1} s ({wtr} windows), validation {va:.1} s ({wva}), test {te:.1} s ({wte})"
        );
        if info.state.epoch > 0 {
            eprintln!(
                "resuming after epoch {} (step {})",
                info.state.epoch, info.state.step
            );
        }
    }
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.finish();
        if tty() {
            let bar = ProgressBar::new(batches as u64).with_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} steps {msg} {elapsed}<{eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{epoch}/{epochs}"));
            self.bar = Some(bar);
        }
    }
    fn batch_done(&mut self, batch: usize, loss: f64) {
        if let Some(b) = &self.bar {
            b.set_position(batch as u64);
            b.set_message(format!("loss {loss:.5}"));
        }
    }
    fn epoch_done(&mut self, m: &EpochMetrics) {
        self.finish();
        let bits = m
            .valid_bits_per_sample
            .map(|b| format!(" = {b:.3} bits/sample"))
            .unwrap_or_default();
        eprintln!(
            "epoch {:>3}: train {:.6}  valid {:.6}{bits}  ({} windows, {:.1} s)",
            m.epoch, m.train_loss, m.valid_loss, m.windows, m.seconds
        );
    }
}

/// Training progress of each model, with a line when a model starts, generates and ends.
pub struct ExperimentProgress {
    train: TrainProgress,
}

impl ExperimentProgress {
    pub fn new() -> Self {
        Self {
            train: TrainProgress::new(),
        }
    }
    pub fn finish(&mut self) {
        self.train.finish();
    }
}

impl TrainObserver for ExperimentProgress {
    fn started(&mut self, info: &RunInfo) {
        self.train.started(info);
    }
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.train.epoch_started(epoch, epochs, batches);
    }
    fn batch_done(&mut self, batch: usize, loss: f64) {
        self.train.batch_done(batch, loss);
    }
    fn epoch_done(&mut self, metrics: &EpochMetrics) {
        self.train.epoch_done(metrics);
    }
}

impl ExperimentObserver for ExperimentProgress {
    fn model_started(&mut self, name: &str, index: usize, total: usize) {
        self.train.finish();
        eprintln!("[{}/{total}] {name}: training", index + 1);
    }
    fn generating(&mut self, name: &str, seconds: f64) {
        self.train.finish();
        eprintln!("{name}: generating {seconds} s");
    }
    fn model_done(&mut self, r: &ModelResult) {
        let spectrum = r
            .eval
            .generated
            .first()
            .and_then(|g| g.spectrum_distance_db)
            .map_or("-".to_string(), |d| format!("{d:.2} dB"));
        eprintln!(
            "{}: done in {:.1} min; its clip's spectrum is {spectrum} from its test split's",
            r.name,
            (r.train_seconds + r.generate_seconds) / 60.0,
        );
    }
}

/// First Ctrl-C: finish the current step, save, stop. Second: exit at once.
pub fn stop_on_ctrl_c(stop: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (Ctrl-C again to quit now)");
    });
}
