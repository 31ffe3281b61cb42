"""Contact sheets: labels that fit and read, failed cells that show, and the plain look unchanged."""

from __future__ import annotations

import numpy as np
from PIL import Image

from adain_cli.sheets.drawing import EMPTY_CELL, GridCanvas, Labels, caption_height, gutter


def pixels(canvas: GridCanvas) -> np.ndarray:
    return np.asarray(canvas.image).astype(int)


def test_a_labelled_grid_is_larger_and_its_bands_carry_text():
    labels = Labels(columns=("ink", "waves"), rows=("cat", "dog", "owl"), corner="alpha 0.50")
    plain, labelled = GridCanvas(3, 2, 64), GridCanvas(3, 2, 64, labels=labels)
    space = gutter(64)
    assert plain.image.size == (3 * 64 + 2 * space, 4 * 64 + 3 * space)
    assert labelled.image.size == (3 * 64 + 2 * space, 4 * (64 + caption_height(64)) + 3 * space)
    band = pixels(labelled)[64 : 64 + caption_height(64), 64 + space : 128 + space]  # under the first column header
    assert band.std() > 10 and band.min() < 100  # dark text on white, not a uniform strip


def test_cells_sit_on_a_grid_with_a_thin_white_gutter_between_them():
    canvas = GridCanvas(2, 2, 32)
    canvas.put(1, 0, Image.new("RGB", (32, 32), (10, 200, 30)))
    canvas.put_row_header(0, Image.new("RGB", (32, 32), (200, 10, 30)))
    image, step = pixels(canvas), 32 + gutter(32)
    assert gutter(32) == 2 and gutter(256) == 4
    assert (image[2 * step : 2 * step + 32, step : step + 32] == (10, 200, 30)).all()
    assert (image[step : step + 32, 0:32] == (200, 10, 30)).all()
    assert (image[step : step + 32, step : step + 32] == EMPTY_CELL).all() and (image[0:32, 0:32] == 255).all()
    assert (image[:, 32:step] == 255).all() and (image[32:step, :] == 255).all()  # the gutters


def test_a_long_name_is_wrapped_and_stays_in_its_cell():
    canvas = GridCanvas(1, 2, 64, headers=False, labels=Labels(cells=("an extremely long style name " * 8, "")))
    band = pixels(canvas)[64:, :]
    assert band[:, :64].min() < 100  # the first cell's caption is drawn
    assert (band[:, 64:] == 255).all()  # and does not spill into the second cell's band


def test_failed_cells_are_marked_unlike_empty_ones():
    canvas = GridCanvas(1, 2, 64)
    canvas.mark_failed(0, 0)
    image, step = pixels(canvas), 64 + gutter(64)
    failed, empty = image[step : step + 64, step : step + 64], image[step : step + 64, 2 * step : 2 * step + 64]
    assert (empty == EMPTY_CELL).all()
    assert not (failed == EMPTY_CELL).all() and not (failed == 255).all()
    assert failed[32, 32, 0] > failed[32, 32, 1] + 50  # red ink on the cross


def test_small_cells_and_other_scripts_still_get_captions():
    labels = Labels(columns=("ünïcødé 画", "α"), rows=("ж",), corner="alpha 1.00")
    canvas = GridCanvas(1, 2, 24, labels=labels)
    assert pixels(canvas)[24 : 24 + caption_height(24), 24:].min() < 150


def test_names_with_control_characters_are_drawn_on_one_line():
    canvas = GridCanvas(1, 1, 64, labels=Labels(columns=("new\nline\tname",), rows=("a\rb",)))
    assert pixels(canvas)[64 : 64 + caption_height(64), 64:].min() < 150
