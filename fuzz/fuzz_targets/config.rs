//! Any bytes through the TOML config loader and validator: an error is fine, a panic is not.
//! A config that is accepted must also survive the trip through the run directory
//! (`to_toml`, then parsed again) unchanged, since `generate` and `--resume` reload it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lofigen::config::RunConfig;

fuzz_target!(|data: &[u8]| {
    // Lossy, so that inputs with a stray invalid byte still reach the TOML parser.
    let text = String::from_utf8_lossy(data);
    let path = Path::new("fuzz.toml");
    if let Ok(config) = RunConfig::from_toml_str(&text, path) {
        let _ = config.model.receptive_field();
        let again = RunConfig::from_toml_str(&config.to_toml(), path)
            .expect("a validated config reloads from its own TOML");
        assert_eq!(again, config, "the config changed on its trip through TOML");
    }
});
