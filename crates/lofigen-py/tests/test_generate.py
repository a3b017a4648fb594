"""Generator: shapes, determinism, streams that join to generate, argument errors."""

import numpy as np
import pytest

import lofigen


def test_bundled_generator_properties(generator):
    assert generator.sample_rate == 8000
    assert "bundled" in generator.name
    assert isinstance(generator.genres, list)
    assert "Generator" in repr(generator)


def test_generate_raw_is_mono_float32_at_8k(generator):
    audio = generator.generate(1.0)
    assert audio.shape == (1, 8000)
    assert audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    assert np.abs(audio).max() <= 1.0
    assert audio.std() > 1e-4, "the model should not be silent"


def test_generate_through_fx_is_stereo_at_rate(generator):
    audio = generator.generate(0.5, fx="lofi", rate=44100)
    assert audio.shape == (2, 22050)
    assert audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    # fx="none" at another rate is resampling and two channels only.
    plain = generator.generate(0.5, fx="none", rate=16000)
    assert plain.shape == (2, 8000)
    np.testing.assert_array_equal(plain[0], plain[1])


def test_same_seed_same_audio_other_seed_other_audio(generator):
    a = generator.generate(0.5, seed=7)
    b = generator.generate(0.5, seed=7)
    c = generator.generate(0.5, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stream_blocks_join_to_generate_raw(generator):
    stream = generator.stream(1000, seed=3)
    assert (stream.block, stream.channels) == (1000, 1)
    blocks = [next(stream) for _ in range(6)]
    assert all(b.shape == (1, 1000) and b.dtype == np.float32 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), generator.generate(0.75, seed=3))


def test_stream_blocks_join_to_generate_through_fx(generator):
    kwargs = dict(seed=5, fx="tape", rate=44100)
    stream = generator.stream(2205, **kwargs)
    blocks = [next(stream) for _ in range(10)]
    assert all(b.shape == (2, 2205) for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), generator.generate(0.5, **kwargs))


def test_stream_is_an_iterator(generator):
    for i, block in enumerate(generator.stream(256)):
        assert block.shape == (1, 256)
        if i == 2:
            break


def test_prompt_from_array_and_file(generator, demo_flac):
    prompt = lofigen.load_audio(demo_flac)[:4000]
    from_array = generator.generate(0.25, prompt=prompt)
    from_file = generator.generate(0.25, prompt=demo_flac)
    assert from_array.shape == from_file.shape == (1, 2000)


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan"), float("inf")])
def test_seconds_must_be_positive(generator, seconds):
    with pytest.raises(ValueError, match="seconds: must be a positive number"):
        generator.generate(seconds)


def test_unknown_fx_names_the_presets(generator):
    with pytest.raises(ValueError, match=r'unknown effects preset "disco" \(valid: none, clean'):
        generator.generate(0.1, fx="disco")


@pytest.mark.parametrize("rate", [0, 4000, 400_000])
def test_bad_rate_is_a_value_error(generator, rate):
    with pytest.raises(ValueError, match="8000..=192000 Hz"):
        generator.generate(0.1, fx="lofi", rate=rate)


def test_bad_sampling_and_genre_are_value_errors(generator):
    with pytest.raises(ValueError, match="temperature"):
        generator.generate(0.1, temperature=0.0)
    with pytest.raises(ValueError, match='genre "polka"'):
        generator.generate(0.1, genre="polka")
    with pytest.raises(ValueError, match="block"):
        generator.stream(0)


def test_tempo_and_chords_steer_the_bundled_model(generator):
    a = generator.generate(0.5, bpm=80.0, chords="Dm7 G7 Cmaj7 Am7", seed=3)
    b = generator.generate(0.5, bpm=80.0, chords=["Dm7", "G7", "Cmaj7", "Am7"], seed=3)
    c = generator.generate(0.5, bpm=100.0, chords="Gm7 C7", groove="half-time", seed=3)
    assert a.shape == (1, 4000)
    np.testing.assert_array_equal(a, b)  # a string and a list of symbols are the same request
    assert not np.array_equal(a, c), "other controls should play other audio"
    blocks = generator.stream(2000, bpm=80.0, chords="Dm7 G7 Cmaj7 Am7", seed=3)
    np.testing.assert_array_equal(np.concatenate([next(blocks), next(blocks)], axis=1), a)
    # The default guidance spelt out plays the same; as trained (1) plays other audio.
    guided = generator.generate(
        0.5, bpm=80.0, chords="Dm7 G7 Cmaj7 Am7", seed=3, guidance="rhythm=3,harmony=5"
    )
    np.testing.assert_array_equal(guided, a)
    as_trained = generator.generate(0.5, bpm=80.0, chords="Dm7 G7 Cmaj7 Am7", seed=3, guidance=1)
    assert not np.array_equal(as_trained, a), "guidance should change the audio"


def test_f16_weights_are_the_default_and_f32_can_be_asked_for(generator):
    default = generator.generate(0.5, seed=5)
    np.testing.assert_array_equal(generator.generate(0.5, seed=5, precision="F16"), default)
    f32 = generator.generate(0.5, seed=5, precision="f32")
    assert f32.shape == default.shape
    # Other weights round differently, so the sampler soon draws other samples.
    assert not np.array_equal(f32, default), "precision should reach the engine"
    blocks = generator.stream(2000, seed=5, precision="f32")
    np.testing.assert_array_equal(np.concatenate([next(blocks), next(blocks)], axis=1), f32)


@pytest.mark.parametrize(
    "control, needle",
    [
        ({"bpm": 400.0}, "400"),
        ({"chords": "Dm7 Hm7"}, "Hm7"),
        ({"swing": 0.9}, "0.9"),
        ({"groove": "polka-stomp"}, "polka-stomp"),
        ({"chords": 7}, "chords"),
        ({"guidance": 9}, "guidance"),
        ({"guidance": "bass=2"}, "bass"),
        ({"guidance": [2]}, "guidance"),
        ({"precision": "bf16"}, "bf16"),
    ],
)
def test_bad_controls_are_value_errors_naming_the_value(generator, control, needle):
    with pytest.raises(ValueError, match=needle):
        generator.generate(0.1, **control)
    with pytest.raises(ValueError, match=needle):
        generator.stream(**control)


def test_from_run_of_a_folder_without_a_run_is_a_lofigen_error(tmp_path):
    with pytest.raises(lofigen.LofigenError, match=str(tmp_path)):
        lofigen.Generator.from_run(tmp_path)


def test_missing_prompt_file_is_an_audio_error(generator, tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(lofigen.AudioError, match="nope.wav"):
        generator.generate(0.1, prompt=missing)
