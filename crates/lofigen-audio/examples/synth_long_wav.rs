//! Writes a long 16-bit WAV of a chord plus noise, streamed (for the memory benchmark):
//! `synth_long_wav OUT.wav SECONDS RATE CHANNELS`.

use std::f32::consts::TAU;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: synth_long_wav OUT.wav SECONDS RATE CHANNELS".into());
    }
    let (seconds, rate, channels): (f64, u32, u16) =
        (args[2].parse()?, args[3].parse()?, args[4].parse()?);
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&args[1], spec)?;
    let frames = (seconds * f64::from(rate)) as u64;
    let mut noise = 0x2545_F491_4F6C_DD1Du64;
    for n in 0..frames {
        // Phases wrap per second so f32 keeps its precision over hours.
        let t = (n % u64::from(rate)) as f32 / rate as f32;
        let tone = 0.2 * (TAU * 220.0 * t).sin() + 0.15 * (TAU * 330.0 * t).sin();
        for _ in 0..channels {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let v = tone + 0.05 * ((noise >> 40) as f32 / (1u64 << 24) as f32 - 0.5);
            w.write_sample((v * 32767.0) as i16)?;
        }
    }
    w.finalize()?;
    Ok(())
}
