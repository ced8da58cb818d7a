"""The portable noise of package format 2 (docs/package-format.md, "Noise"): known answers and properties."""

from __future__ import annotations

import numpy as np
import pytest

from sean_core.errors import InputError
from sean_core.format import LEGACY_SEEDING, PHILOX_SEEDING, seeding_rule
from sean_core.noise import draw_noise, philox_normals, philox_words

# Known answers, also in docs/package-format.md and sean_runtime/cpp/tests. The words of block 0 equal
# Random123's philox4x64_R<10>(counter {0, 0, 0, 0}, key {seed, 0x5345414E4E4F4953}) (librandom123-dev 1.14).
# word index -> 64-bit word, per image seed
KNOWN_WORDS = {
    0: {0: 0x1C4F56BA4F5B4159, 1: 0x491DC329A10E5E2A, 2: 0xBE754A758F5C8A26, 3: 0x5327269986D99C17,
        4: 0x37496C89AEFAEFE4, 1001: 0x77E146C13ED76576},
    1: {0: 0xC3083851EA663F9F, 3: 0x6E432A1565BD531A},
    2**32 + 7: {0: 0x69530F3ECB6D866B, 1: 0x91DE9A85A7B32A73, 4: 0x4896F2F6210891C8, 1001: 0xB6A5FC86081879AA},
    2**64 - 1: {0: 0x535AB0F391DFD1F0},
}
# normal index -> float32 bit pattern, per image seed
KNOWN_NORMALS = {
    0: {0: 0xBF45B965, 1: 0x3FF9C2AD, 2: 0xBF8B867C, 3: 0xBF92F3EE, 2002: 0x3D0F752F, 2003: 0x3F9D9BDB},
    1: {0: 0x3F22E69F, 1: 0xBEBEF649},
    2**32 + 7: {0: 0x3EBCE4DC, 1: 0xBFA3ED75, 2: 0xBF1881F5, 3: 0xBF60A4CB, 2002: 0x3F4E38E5, 2003: 0x3E261802},
}


@pytest.mark.parametrize("seed", sorted(KNOWN_WORDS))
def test_philox_words_are_the_known_answers(seed):
    wanted = KNOWN_WORDS[seed]
    words = philox_words(seed, max(wanted) + 1)
    assert {k: int(words[k]) for k in wanted} == wanted


@pytest.mark.parametrize("seed", sorted(KNOWN_NORMALS))
def test_normals_are_the_known_answers_bit_for_bit(seed):
    wanted = KNOWN_NORMALS[seed]
    normals = philox_normals(seed, max(wanted) + 1)
    assert normals.dtype == np.float32
    assert {k: int(normals[k : k + 1].view(np.uint32)[0]) for k in wanted} == wanted
    # The readable values in the doc: seed 0 starts -0.77236015, 1.9512535.
    if seed == 0:
        np.testing.assert_allclose(normals[:2], [-0.77236015, 1.9512535], rtol=1e-7)


def test_box_muller_of_one_word_follows_the_definition():
    """Word k -> (r cos t, r sin t) with u1 = (hi + 0.5) / 2^32, u2 = lo / 2^32, computed by hand here."""
    import math

    word = int(philox_words(3, 6)[5])
    u1 = ((word >> 32) + 0.5) / 2**32
    u2 = (word & 0xFFFFFFFF) / 2**32
    r = math.sqrt(-2.0 * math.log(u1))
    expected = np.array([r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)], dtype=np.float32)
    np.testing.assert_array_equal(philox_normals(3, 12)[10:12], expected)


def test_odd_lengths_drop_the_last_sine_and_prefixes_agree():
    long = philox_normals(5, 1001)
    assert long.shape == (1001,)
    np.testing.assert_array_equal(philox_normals(5, 7), long[:7])


def test_the_draw_looks_standard_normal():
    values = philox_normals(11, 1_000_000).astype(np.float64)
    assert abs(values.mean()) < 0.005 and abs(values.std() - 1.0) < 0.005
    assert abs((np.abs(values) > 3).mean() - 0.0027) < 0.0005  # two-sided 3-sigma tail of N(0, 1)
    assert np.isfinite(values).all()


def test_image_i_uses_seed_plus_i_and_chunks_draw_the_same_values():
    batch = draw_noise(300, 4, seed=9)
    for i in range(4):
        np.testing.assert_array_equal(batch[i], philox_normals(9 + i, 300))
    np.testing.assert_array_equal(draw_noise(300, 2, seed=9, first_index=2), batch[2:])
    assert not draw_noise(300, 1, seed=9, enabled=False).any()


def test_format_1_packages_keep_the_numpy_default_rng_rule():
    old = draw_noise(50, 2, seed=4, format_version=1)
    np.testing.assert_array_equal(old[1], np.random.default_rng(5).standard_normal(50, dtype=np.float32))
    assert not np.array_equal(old, draw_noise(50, 2, seed=4, format_version=2))
    assert seeding_rule(1) == LEGACY_SEEDING and seeding_rule(2) == PHILOX_SEEDING


def test_seeds_must_fit_in_64_bits():
    draw_noise(4, 1, seed=2**64 - 1)
    with pytest.raises(InputError, match="below 2\\^64"):
        draw_noise(4, 2, seed=2**64 - 1)
