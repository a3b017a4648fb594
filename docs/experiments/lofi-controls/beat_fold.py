"""How strongly a clip pulses at its requested beat, against periods of 3 and 5 sixteenths.

The onset envelope (log-spectral flux, 512-sample Hann frames, hop 32, 8 kHz WAVs) is folded at
a period into 24 phase bins; the fold's peak over its mean is high when the onsets repeat at
that period. A clip named like `Gm7-70-seed1.wav` (eval-controls.sh's names) is folded at the
beat of its tempo (70 BPM), at 3/4 and 5/4 of it (3 and 5 sixteenths: the periods the misses
read at), at the eighth, and at 0.9 and 1.1 beats (off the grid: the floor).

    python beat_fold.py OUT/*.wav        # needs numpy
"""

import sys
import wave

import numpy as np

PERIODS = [("beat", 1.0), ("3/16", 0.75), ("5/16", 1.25), ("8th", 0.5), ("0.9", 0.9), ("1.1", 1.1)]


def load(path):
    with wave.open(path) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16) / 32768.0
        return x, w.getframerate()


def folds(path, bins=24, n=512, hop=32):
    bpm = float(path.rsplit("/", 1)[-1].split("-")[1])
    x, rate = load(path)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)
    spectrum = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(0, np.diff(spectrum, axis=0)).sum(1)
    frame_rate = rate / hop
    out = {}
    for name, beats in PERIODS:
        period = 60 / bpm * beats * frame_rate
        phase = (np.arange(len(flux)) % period) / period
        profile = np.array(
            [flux[(phase >= b / bins) & (phase < (b + 1) / bins)].mean() for b in range(bins)]
        )
        out[name] = profile.max() / profile.mean()
    return out


if __name__ == "__main__":
    for path in sys.argv[1:]:
        f = folds(path)
        print(path.rsplit("/", 1)[-1], " ".join(f"{k}:{v:.2f}" for k, v in f.items()))
