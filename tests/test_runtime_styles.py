"""Styles and the per-region edits: swap, interpolate, mean, fill, with fallbacks for missing classes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sean_core.errors import InputError
from sean_runtime.styles import Styles, mean_styles

NAMES = ("background", "hair", "skin", "hat")


def make_styles(batch: int, seed: int, present: list[list[bool]] | None = None) -> Styles:
    """Random codes; absent classes get zero codes, as the encoder gives them."""
    rng = np.random.default_rng(seed)
    flags = np.ones((batch, len(NAMES)), dtype=bool) if present is None else np.array(present, dtype=bool)
    codes = rng.standard_normal((batch, len(NAMES), 5)).astype(np.float32) * flags[..., None]
    return Styles(codes, flags, NAMES)


def test_construction_checks_shapes_names_and_values():
    codes = np.zeros((2, 4, 5), np.float32)
    with pytest.raises(InputError, match=r"\[B, K, S\]"):
        Styles(codes[0], np.ones((2, 4), bool), NAMES)
    with pytest.raises(InputError, match="presence flags"):
        Styles(codes, np.ones((2, 3), bool), NAMES)
    with pytest.raises(InputError, match="3 class names for 4"):
        Styles(codes, np.ones((2, 4), bool), NAMES[:3])
    bad = codes.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        Styles(bad, np.ones((2, 4), bool), NAMES)


def test_styles_are_immutable_and_edits_return_new_objects():
    a, b = make_styles(2, 0), make_styles(1, 1)
    before = a.codes.copy()
    with pytest.raises(ValueError):
        a.codes[0, 0, 0] = 1.0
    edited = a.swap("hair", b)
    assert edited is not a
    np.testing.assert_array_equal(a.codes, before)


def test_swap_takes_the_class_from_a_batch_one_reference_for_every_image():
    target, reference = make_styles(3, 0), make_styles(1, 1)
    out = target.swap("hair", reference)
    hair = NAMES.index("hair")
    for i in range(3):
        np.testing.assert_array_equal(out.codes[i, hair], reference.codes[0, hair])
        others = [k for k in range(4) if k != hair]
        np.testing.assert_array_equal(out.codes[i, others], target.codes[i, others])


def test_swap_per_image_with_a_reference_batch_of_the_same_size():
    target, reference = make_styles(2, 0), make_styles(2, 1)
    out = target.swap(["hair", 3], reference)
    np.testing.assert_array_equal(out.codes[:, [1, 3]], reference.codes[:, [1, 3]])
    np.testing.assert_array_equal(out.codes[:, [0, 2]], target.codes[:, [0, 2]])


def test_swap_fallbacks_when_the_reference_lacks_the_class():
    target = make_styles(2, 0)
    reference = make_styles(1, 1, present=[[True, False, True, True]])  # no hair
    # own: the image keeps its own hair
    kept = target.swap("hair", reference)
    np.testing.assert_array_equal(kept.codes[:, 1], target.codes[:, 1])
    assert kept.present[:, 1].all()
    # error: names the class and the image
    with pytest.raises(InputError, match=r"lacks class\(es\) \['hair'\]"):
        target.swap("hair", reference, fallback="error")
    # mean styles: their hair
    mean = make_styles(1, 7)
    filled = target.swap(["hair", "skin"], reference, fallback=mean)
    np.testing.assert_array_equal(filled.codes[:, 1], np.repeat(mean.codes[:, 1], 2, axis=0))
    np.testing.assert_array_equal(filled.codes[:, 2], np.repeat(reference.codes[:, 2], 2, axis=0))
    # a fallback that lacks the class too: the own code stays
    empty_mean = make_styles(1, 8, present=[[True, False, True, True]])
    np.testing.assert_array_equal(target.swap("hair", reference, fallback=empty_mean).codes, kept.codes)
    with pytest.raises(InputError, match="fallback must be"):
        target.swap("hair", reference, fallback="mean")


def test_interpolate_weights_classes_and_per_image_alpha():
    a, b = make_styles(2, 0), make_styles(2, 1)
    np.testing.assert_allclose(a.interpolate(b, 0.0).codes, a.codes)
    np.testing.assert_allclose(a.interpolate(b, 1.0).codes, b.codes, atol=1e-6)
    quarter = a.interpolate(b, 0.25, classes="skin")
    np.testing.assert_allclose(quarter.codes[:, 2], 0.75 * a.codes[:, 2] + 0.25 * b.codes[:, 2], atol=1e-6)
    np.testing.assert_array_equal(quarter.codes[:, [0, 1, 3]], a.codes[:, [0, 1, 3]])
    per_image = a.interpolate(b, [0.0, 1.0])
    np.testing.assert_allclose(per_image.codes[0], a.codes[0])
    np.testing.assert_allclose(per_image.codes[1], b.codes[1], atol=1e-6)
    with pytest.raises(InputError, match="alpha"):
        a.interpolate(b, [0.1, 0.2, 0.3])


def test_interpolate_leaves_classes_alone_that_either_side_lacks():
    a = make_styles(1, 0, present=[[True, True, False, True]])  # no skin of its own
    b = make_styles(1, 1, present=[[True, False, True, True]])  # reference without hair
    out = a.interpolate(b, 0.5)
    np.testing.assert_array_equal(out.codes[0, 1], a.codes[0, 1])  # hair: fallback own -> unchanged
    np.testing.assert_array_equal(out.codes[0, 2], np.zeros(5, np.float32))  # skin stays absent
    assert not out.present[0, 2]
    np.testing.assert_allclose(out.codes[0, 3], 0.5 * (a.codes[0, 3] + b.codes[0, 3]), atol=1e-6)


def test_mean_styles_average_only_where_present():
    s1 = make_styles(2, 0, present=[[True, True, False, False], [True, False, False, False]])
    s2 = make_styles(1, 1, present=[[True, True, False, False]])
    mean = mean_styles([s1, s2])
    assert mean.batch_size == 1
    np.testing.assert_allclose(mean.codes[0, 0], (s1.codes[0, 0] + s1.codes[1, 0] + s2.codes[0, 0]) / 3, atol=1e-6)
    np.testing.assert_allclose(mean.codes[0, 1], (s1.codes[0, 1] + s2.codes[0, 1]) / 2, atol=1e-6)
    assert mean.present[0].tolist() == [True, True, False, False]
    np.testing.assert_array_equal(mean.codes[0, 2:], 0.0)
    np.testing.assert_allclose(s1.mean().codes, mean_styles(s1).codes)


def test_fill_missing_only_touches_absent_classes():
    own = make_styles(2, 0, present=[[True, False, True, True], [True, True, False, True]])
    mean = make_styles(1, 5)
    out = own.fill_missing(mean)
    assert out.present.all()
    np.testing.assert_array_equal(out.codes[0, 1], mean.codes[0, 1])
    np.testing.assert_array_equal(out.codes[1, 2], mean.codes[0, 2])
    np.testing.assert_array_equal(out.codes[0, [0, 2, 3]], own.codes[0, [0, 2, 3]])
    np.testing.assert_array_equal(out.codes[1, [0, 1, 3]], own.codes[1, [0, 1, 3]])


def test_indexing_concat_and_clear_errors():
    styles = make_styles(3, 0)
    assert styles[1].batch_size == 1
    np.testing.assert_array_equal(styles[1].codes[0], styles.codes[1])
    assert Styles.concat([styles[0], styles[2]]).batch_size == 2
    with pytest.raises(InputError, match="unknown class 'beard'; the classes are: background, hair"):
        styles.swap("beard", styles)
    with pytest.raises(InputError, match=r"outside 0\.\.3"):
        styles.class_id(4)
    with pytest.raises(InputError, match="styles of 2 images into a batch of 3"):
        styles.swap("hair", make_styles(2, 1))
    other_model = Styles(np.zeros((1, 4, 6), np.float32), np.ones((1, 4), bool), NAMES)
    with pytest.raises(InputError, match="different models"):
        styles.swap("hair", other_model)


@pytest.mark.parametrize("classes", [2.0, [2.0], [True], b"hair", {"hair": 1}, object()])
def test_edits_refuse_classes_that_are_not_names_or_ids_in_one_line(classes):
    a, b = make_styles(1, 0), make_styles(1, 1)
    for edit in (lambda: a.swap(classes, b), lambda: a.interpolate(b, 0.5, classes)):
        with pytest.raises(InputError, match="class") as info:
            edit()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("fallback", ["bogus", "", None, 3, ["own"]])
def test_a_bad_fallback_is_refused_up_front_even_when_no_class_is_missing(fallback):
    a, b = make_styles(1, 0), make_styles(1, 1)  # every class present: the fallback would never be used
    with pytest.raises(InputError, match="fallback must be"):
        a.swap("hair", b, fallback=fallback)
    with pytest.raises(InputError, match="fallback must be"):
        a.interpolate(b, 0.5, "hair", fallback=fallback)


def json_styles(value) -> dict:
    return {"codes": [[0.0] * 5 for _ in NAMES[:-1]] + [[value] * 5], "present": [True] * len(NAMES)}


@pytest.mark.parametrize(
    "value", [10**400, -(10**400), 10**39, 1e30, 1e300, 101.0, -101], ids=["1e400", "-1e400", "1e39", "1e30",
                                                                          "1e300", "101.0", "-101"]
)
def test_from_json_refuses_codes_far_outside_the_encoders_range_in_one_line(value):
    with pytest.raises(InputError, match=r"styles.codes hold values up to .* encoder's range \[-1, 1\]") as info:
        Styles.from_json(json_styles(value), NAMES)
    assert "\n" not in str(info.value)


def test_from_json_keeps_codes_within_the_bound_bit_exact():
    styles = Styles.from_json(json_styles(-100), NAMES)
    assert styles.codes.dtype == np.float32 and styles.codes[0, -1].tolist() == [-100.0] * 5
    back = Styles.from_json(make_styles(1, 3).to_json(), NAMES)
    np.testing.assert_array_equal(back.codes, make_styles(1, 3).codes)


def test_from_json_refuses_fields_it_does_not_know_as_every_other_level_of_a_request_does():
    with pytest.raises(InputError, match=r"styles has unknown field\(s\) 'codez', 'zzz'; it takes codes, present"):
        Styles.from_json({**json_styles(0.5), "zzz": 1, "codez": []}, NAMES)
    assert Styles.from_json({**json_styles(0.5), "class_names": list(NAMES)}, NAMES).batch_size == 1


def test_from_json_refuses_class_names_given_as_one_string_rather_than_splitting_it_into_letters():
    with pytest.raises(InputError, match=r"^class_names must be a list of names, got 'background'$"):
        Styles.from_json(json_styles(0.5), "background")


def test_codes_past_float32s_range_are_refused_without_a_numpy_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" would end the test
        with pytest.raises(InputError, match=r"^style codes contain NaN or infinite values$"):
            Styles(np.full((1, len(NAMES), 5), 1e300), np.ones((1, len(NAMES)), bool), NAMES)
