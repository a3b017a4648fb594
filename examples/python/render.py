"""Render lofi with the bundled model from Python: a WAV file and its spectrogram.

    pip install crates/lofigen-py matplotlib
    python examples/python/render.py                      # 10 s, raw 8 kHz mono
    python examples/python/render.py --fx lofi --rate 44100

Writes render.wav (16-bit, with the standard library's wave module) and render.png (a
spectrogram drawn by matplotlib), or the paths given with --out and --png.
"""

import argparse
import time
import wave

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
import numpy as np

import lofigen


def write_wav(path: str, audio: np.ndarray, rate: int) -> None:
    """Write `audio` (float32, shape (channels, samples), in [-1, 1]) as a 16-bit WAV."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(audio.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.T.tobytes())  # interleaved frames


def plot_spectrogram(path: str, audio: np.ndarray, rate: int, title: str) -> None:
    """Draw the spectrogram of the first channel of `audio` to a PNG."""
    fig, ax = plt.subplots(figsize=(10, 4))
    nfft = 512 if rate <= 16000 else 2048
    ax.specgram(audio[0], NFFT=nfft, Fs=rate, noverlap=nfft * 3 // 4, cmap="magma")
    ax.set(title=title, xlabel="time (s)", ylabel="frequency (Hz)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    """Parse the arguments, render, write the WAV and the PNG."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--fx", default="none", help="none, clean, tape, vinyl or lofi")
    p.add_argument("--rate", type=int, default=8000, help="output sample rate, Hz")
    p.add_argument("--out", default="render.wav")
    p.add_argument("--png", default="render.png")
    a = p.parse_args()

    g = lofigen.Generator.bundled()
    start = time.perf_counter()
    audio = g.generate(a.seconds, seed=a.seed, fx=a.fx, rate=a.rate)
    took = time.perf_counter() - start
    print(f"generated {a.seconds} s {audio.shape} in {took:.2f} s ({a.seconds / took:.1f}x real time)")
    write_wav(a.out, audio, a.rate)
    plot_spectrogram(a.png, audio, a.rate, f"{g.name}, seed {a.seed}, fx {a.fx}")
    print(f"wrote {a.out} and {a.png}")


if __name__ == "__main__":
    main()
