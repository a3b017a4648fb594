"""Where an MFCC Frechet distance comes from: c0 (the frame's overall level) or the rest.

`lofigen eval`'s MFCC FD pools 20 coefficients; this splits it. It re-implements that measure
in numpy (crates/lofigen-audio/src/measures.rs: 1024-sample Hann frames, hop 256, 40 HTK mel
bands, orthonormal DCT, clips loudness-normalised; it agrees with `lofigen eval` within a few
per cent, since eval compares each clip alone and this pools the clips of a glob). Needs numpy
(the CI venv has it) and 8 kHz mono WAVs (`lofigen prepare` makes them):

    python scripts/mfcc-parts.py REFERENCE_DIR 'gen/Dm7-*.wav' ['other/*.wav' ...]
"""

import glob
import sys
import wave

import numpy as np

RATE, FRAME, HOP, MELS, COEFFS = 8000, 1024, 256, 40, 20


def read(path):
    with wave.open(path) as w:
        if w.getframerate() != RATE or w.getsampwidth() != 2:
            sys.exit(f"{path}: expected 16-bit WAV at {RATE} Hz (lofigen prepare makes them)")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16) / 32768.0
        return x.reshape(-1, w.getnchannels()).mean(axis=1)


def mel_filterbank():
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    edges = hz(np.linspace(0, mel(RATE / 2), MELS + 2))
    freqs = np.arange(FRAME // 2 + 1) * RATE / FRAME
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)


BANKS = mel_filterbank()
K, N = np.arange(COEFFS)[:, None], np.arange(MELS)[None, :]
DCT = np.cos(np.pi * K * (2 * N + 1) / (2 * MELS)) * np.sqrt(2 / MELS)
DCT[0] /= np.sqrt(2)
WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)


def mfcc(x):
    x = x - x.mean()
    x = x * 0.1 / max(np.sqrt((x**2).mean()), 1e-12)
    frames = np.array([x[s : s + FRAME] for s in range(0, len(x) - FRAME + 1, HOP)])
    power = np.abs(np.fft.rfft(frames * WINDOW, axis=1)) ** 2
    return (10 * np.log10(np.maximum(power @ BANKS.T, 1e-12))) @ DCT.T


def frechet(a, b):
    """(mean term, covariance term) of the Frechet distance between Gaussians fitted to a, b."""
    ca, cb = np.atleast_2d(np.cov(a.T)), np.atleast_2d(np.cov(b.T))
    w, v = np.linalg.eigh(ca)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cb @ root), 0, None)).sum()
    return ((a.mean(0) - b.mean(0)) ** 2).sum(), np.trace(ca) + np.trace(cb) - 2 * cross


def frames_of(pattern):
    files = sorted(glob.glob(pattern))
    if not files:
        sys.exit(f"{pattern}: no files")
    return np.concatenate([mfcc(read(f)) for f in files]), len(files)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ref, n_ref = frames_of(sys.argv[1].rstrip("/") + "/*.wav")
    print(f"reference: {n_ref} files, {len(ref)} frames; c0 sd {ref[:, 0].std():.1f}")
    print("| clips | files | MFCC FD | mean part | cov part | c0 alone | c1-c19 | c0 mean diff | c0 sd |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for pattern in sys.argv[2:]:
        gen, n = frames_of(pattern)
        mean, cov = frechet(gen, ref)
        c0 = sum(frechet(gen[:, :1], ref[:, :1]))
        rest = sum(frechet(gen[:, 1:], ref[:, 1:]))
        shift = gen[:, 0].mean() - ref[:, 0].mean()
        print(
            f"| {pattern} | {n} | {mean + cov:,.0f} | {mean:,.0f} | {cov:,.0f} | {c0:,.0f} "
            f"| {rest:,.0f} | {shift:+.1f} | {gen[:, 0].std():.1f} |"
        )


if __name__ == "__main__":
    main()
