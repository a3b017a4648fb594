"""load_audio, analyze and eval: numpy round trips, a click track's tempo, the measures."""

import math
import wave

import numpy as np
import pytest

import lofigen


def write_wav(path, samples, rate):
    """16-bit mono WAV of float samples in [-1, 1], with the standard library only."""
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return pcm


def click_track(bpm=80.0, seconds=20.0, rate=8000):
    """A short burst every beat, like analysis's own doctest."""
    x = np.zeros(int(seconds * rate), dtype=np.float32)
    period = 60.0 / bpm * rate
    at = 0.5 * rate
    while at + 40 < len(x):
        i = int(at)
        x[i : i + 40] = np.where(np.arange(40) % 2 == 0, 0.8, -0.8)
        at += period
    return x


def swung_16ths(swing, bpm=85.0, seconds=20.0, rate=8000):
    """Decaying noise bursts on every 16th, loud on the beat, the off 16ths late by ``swing``
    of a 16th."""
    x = np.zeros(int(seconds * rate), dtype=np.float32)
    rng = np.random.default_rng(5)
    sixteenth = 60.0 / bpm / 4.0
    burst = rng.standard_normal(240).astype(np.float32) * np.exp(-np.arange(240) / 48.0)
    k = 0
    while True:
        i = int((0.25 + (k + (swing if k % 2 else 0.0)) * sixteenth) * rate)
        if i + 240 > len(x):
            return x
        x[i : i + 240] += (0.8 if k % 4 == 0 else 0.3) * burst
        k += 1


def test_analyze_reads_the_swing_of_swung_16ths():
    assert lofigen.analyze(swung_16ths(0.3))["swing"] == pytest.approx(0.3, abs=0.051)
    assert lofigen.analyze(swung_16ths(0.0))["swing"] == 0.0
    assert lofigen.analyze(np.zeros(80_000, dtype=np.float32))["swing"] is None


def test_load_demo_flac_is_240000_samples_at_8k(demo_flac):
    audio = lofigen.load_audio(demo_flac)
    assert audio.shape == (240_000,)
    assert audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    assert 0.05 < np.abs(audio).max() <= 1.0


def test_load_stdlib_wav_round_trip(tmp_path):
    t = np.arange(4000) / 8000
    pcm = write_wav(tmp_path / "sine.wav", 0.5 * np.sin(2 * math.pi * 440 * t), 8000)
    audio = lofigen.load_audio(tmp_path / "sine.wav")
    assert audio.shape == (4000,) and audio.dtype == np.float32
    np.testing.assert_allclose(audio, pcm / 32768.0, atol=1e-4)
    # At twice the rate: twice the samples.
    assert lofigen.load_audio(str(tmp_path / "sine.wav"), rate=16000).shape == (8000,)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(lofigen.AudioError, match="missing.flac") as err:
        lofigen.load_audio(tmp_path / "missing.flac")
    assert isinstance(err.value, lofigen.LofigenError)
    (tmp_path / "junk.mp3").write_bytes(b"not audio at all" * 64)
    with pytest.raises(lofigen.AudioError, match="junk.mp3"):
        lofigen.load_audio(tmp_path / "junk.mp3")
    with pytest.raises(ValueError, match="target sample rate 0 Hz is invalid"):
        lofigen.load_audio(tmp_path / "junk.mp3", rate=0)


def test_analyze_click_track_at_80_bpm(tmp_path):
    clicks = click_track()
    result = lofigen.analyze(clicks)
    assert result["tempo"] == pytest.approx(80.0, abs=1.0)
    assert result["beat_strength"] > 0.8
    assert len(result["beats"]) >= 20
    assert set(result) >= {"tempo", "beat_strength", "beats", "downbeats", "key", "chords"}
    for bar in result["chords"]:
        assert bar["start"] < bar["end"]
        assert set(bar) >= {"start", "end", "chord"}
    # The same clicks from a file.
    write_wav(tmp_path / "clicks.wav", clicks, 8000)
    assert lofigen.analyze(tmp_path / "clicks.wav")["tempo"] == pytest.approx(80.0, abs=1.0)


def test_analyze_silence_has_no_tempo():
    assert lofigen.analyze(np.zeros(40_000, dtype=np.float32))["tempo"] is None


def test_analyze_rejects_a_bad_rate():
    with pytest.raises(ValueError, match="cannot analyse a clip at 0 Hz"):
        lofigen.analyze(np.zeros(100, dtype=np.float32), rate=0)


MEASURES = {
    "spectrum_distance_db",
    "mfcc_frechet",
    "flatness",
    "tonal_peak",
    "dynamics_db",
    "band_contrast_db",
    "silence_fraction",
    "clipping_fraction",
    "rms_dbfs",
}


def test_eval_returns_the_measures(generator, demo_flac, tmp_path):
    audio = generator.generate(2.0)[0]
    report = lofigen.eval(audio, [demo_flac])
    assert set(report) >= MEASURES | {"reference", "reference_files", "settings"}
    assert set(report["reference"]) >= MEASURES
    assert report["seconds"] == pytest.approx(2.0)
    assert report["spectrum_distance_db"] > 0
    # From files, the reference as a folder.
    write_wav(tmp_path / "gen.wav", audio, 8000)
    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / "demo.flac").write_bytes(demo_flac.read_bytes())
    from_files = lofigen.eval(tmp_path / "gen.wav", refs)
    assert from_files["reference_files"] == [str(refs / "demo.flac")]


def test_eval_without_reference_audio_is_a_lofigen_error(tmp_path):
    with pytest.raises(lofigen.LofigenError, match="no audio files"):
        lofigen.eval(np.zeros(8000, dtype=np.float32), tmp_path)
