"""ADE20K's training augmentation as SPADE's resize_and_crop: resize to 286, a random 256 crop whose offsets,
like the flips, are a pure function of (seed, step). The ADE20K samples themselves: tests/test_ade20k.py."""

from __future__ import annotations

import dataclasses

import pytest

from sean_train.config import ConfigError
from sean_train.data import BatchOrder, load_size, small_crop
from sean_train.train_config import load_run_config


def test_the_ade20k_config_resizes_to_286_and_crops_256():
    config = load_run_config("ade20k")
    assert config.train.load_size == 286 and load_size(config) == (286, 286)
    assert load_run_config("faces").train.load_size is None and load_size(load_run_config("faces")) == (256, 256)
    wide = dataclasses.replace(load_run_config("cityscapes"), train=dataclasses.replace(config.train, load_size=572))
    assert load_size(wide) == (286, 572)  # the height keeps the model's aspect ratio
    small = dataclasses.replace(config, train=dataclasses.replace(config.train, load_size=200))
    with pytest.raises(ConfigError, match="load_size 200 is below the model width 256"):
        load_size(small)


def test_a_crop_that_keeps_a_small_part_of_each_sample_is_a_start_note():
    # a copy of the ADE20K config with a 64x64 model trained on 22% of each image's width, silently
    config = load_run_config("ade20k")
    assert small_crop(config) == []  # SPADE's 256 of 286
    model = dataclasses.replace(config.model, height=64, width=64)
    small = dataclasses.replace(config, model=model)
    [note] = small_crop(small)
    assert note.startswith("train.load_size 286 is 4.5x the model width 64: each training sample is a random "
                           "64x64 crop of a 286-wide resize (22% of its width)")
    assert note.endswith("set `load_size: 72` under train:, or null for no crop")
    assert small_crop(dataclasses.replace(small, train=dataclasses.replace(config.train, load_size=72))) == []


def test_crop_offsets_are_a_pure_function_of_seed_and_step_and_keep_order_and_flips():
    order = BatchOrder(64, 8, seed=3, flip=True, crop_margin=(30, 30))
    again = BatchOrder(64, 8, seed=3, flip=True, crop_margin=(30, 30))
    plain = BatchOrder(64, 8, seed=3, flip=True)
    offsets = [(d.top, d.left) for step in range(16) for d in order.batch(step)]
    assert all(0 <= top <= 30 and 0 <= left <= 30 for top, left in offsets)
    assert len(set(offsets)) > 40  # they vary from sample to sample
    assert again.batch(11) == order.batch(11)
    # Cropping draws after the permutation and the flips, which stay those of an uncropped run.
    assert [(d.index, d.flip) for d in order.batch(5)] == [(d.index, d.flip) for d in plain.batch(5)]
    assert {(d.top, d.left) for d in plain.batch(5)} == {(0, 0)}
