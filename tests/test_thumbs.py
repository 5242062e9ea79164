"""The one thumbnail / contact-sheet helper that `eval --sheet`, `review` and `review --sheet` share."""

import base64
import io

import numpy as np
from PIL import Image

from vidcolor.io.thumbs import contact_sheet, data_uri, thumbnail


def test_thumbnail_keeps_the_aspect_and_never_upscales_unless_asked():
    img = np.zeros((90, 160), np.uint8)
    assert thumbnail(img, 80).shape == (45, 80, 3)
    assert thumbnail(img, 80, 30).shape == (30, 53, 3)  # fits inside both
    assert thumbnail(img, 320).shape == (90, 160, 3)
    assert thumbnail(img, 320, upscale=True).shape == (180, 320, 3)


def test_contact_sheet_places_tiles_under_their_columns():
    red, blue = np.zeros((40, 100, 3), np.uint8), np.zeros((20, 50, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    sheet = contact_sheet({"a": [("one", red), ("two", red)], "b": [("", blue), ("", blue)]}, tile_w=50)
    assert sheet.shape == (24 + 20 + 20, 100, 3)
    assert tuple(sheet[24 + 30, 25 + 10]) == (200, 0, 0)  # column a, row two (below its label)
    assert tuple(sheet[24 + 5, 75]) == (0, 0, 200)  # column b, row one


def test_data_uri_is_a_jpeg_of_the_image():
    img = np.full((12, 16, 3), (10, 200, 30), np.uint8)
    uri = data_uri(img)
    assert uri.startswith("data:image/jpeg;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert back.shape == (12, 16, 3) and np.abs(back.astype(int) - img).max() < 8
