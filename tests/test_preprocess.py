"""Preprocessing: every format and mode people send ends up as the same MNIST-style digit."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from digits import preprocess
from digits.classifier import Classifier
from tests.conftest import encode, png_bytes, png_claiming


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.fixture(scope="module")
def seven(mnist_test) -> np.ndarray:
    """A clearly written 7 from the MNIST test set, as uint8 28x28 white-on-black."""
    images, labels = mnist_test
    return images[0] if labels[0] == 7 else images[np.flatnonzero(labels == 7)[0]]


def big_dark_on_light(digit28: np.ndarray, side: int = 280) -> np.ndarray:
    """The digit enlarged, dark ink on white: how a scan or a paint program looks."""
    return 255 - np.asarray(Image.fromarray(digit28).resize((side, side), Image.Resampling.BICUBIC))


def reads_as(data: bytes, classifier: Classifier) -> int:
    image28 = preprocess.preprocess(data)
    assert image28.shape == (28, 28) and image28.dtype == np.float32
    assert image28.min() >= 0.0 and image28.max() <= 1.0
    return int(classifier.predict(image28[None])[0].argmax())


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_format_decodes_and_reads(fmt: str, seven: np.ndarray, classifier: Classifier) -> None:
    data = encode(Image.fromarray(big_dark_on_light(seven)).convert("RGB"), fmt)
    assert reads_as(data, classifier) == 7


def test_canvas_export_black_ink_on_transparent(seven: np.ndarray, classifier: Classifier) -> None:
    """The classic failure: dropping alpha turns this into a black square."""
    rgba = np.zeros((300, 300, 4), dtype=np.uint8)
    rgba[..., 3] = np.asarray(Image.fromarray(seven).resize((300, 300), Image.Resampling.BICUBIC))
    image28 = preprocess.preprocess(png_bytes(rgba))
    assert 0.05 < image28.mean() < 0.35, "ink must be a minority of the image, white on black"
    assert reads_as(png_bytes(rgba), classifier) == 7


def test_white_ink_on_transparent(seven: np.ndarray, classifier: Classifier) -> None:
    rgba = np.full((200, 200, 4), 255, dtype=np.uint8)
    rgba[..., 3] = np.asarray(Image.fromarray(seven).resize((200, 200), Image.Resampling.BICUBIC))
    assert reads_as(png_bytes(rgba), classifier) == 7


def test_la_mode_grey_with_alpha(seven: np.ndarray, classifier: Classifier) -> None:
    alpha = Image.fromarray(seven).resize((200, 200), Image.Resampling.BICUBIC)
    image = Image.merge("LA", [Image.new("L", (200, 200), 0), alpha])
    assert reads_as(encode(image, "PNG"), classifier) == 7


def test_16_bit_mnist_sample_is_not_clipped(seven: np.ndarray, classifier: Classifier) -> None:
    """MNIST's sample PNGs are 16-bit with values x255; convert('L') clips them to black and white."""
    data = png_bytes(Image.fromarray(seven.astype(np.uint16) * 255))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    image28 = preprocess.preprocess(data)
    # Anti-aliased edges survive: many grey levels, not just 0 and 1.
    assert len(np.unique(np.round(image28 * 255))) > 20
    assert reads_as(data, classifier) == 7


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_16_bit_tiff_either_byte_order(seven: np.ndarray, classifier: Classifier, byte_order: str) -> None:
    big = np.asarray(Image.fromarray(seven).resize((112, 112), Image.Resampling.BICUBIC)).astype(np.uint16) * 257
    mode = {"<": "I;16", ">": "I;16B"}[byte_order]
    data = encode(Image.frombytes(mode, (112, 112), big.astype(byte_order + "u2").tobytes()), "TIFF")
    assert Image.open(io.BytesIO(data)).mode == mode  # a big-endian TIFF opens as I;16B, not I;16
    assert reads_as(data, classifier) == 7


def test_unsigned_32_bit_tiff_is_not_read_as_negative(seven: np.ndarray) -> None:
    """Pillow opens an unsigned 32-bit TIFF as signed "I": values from 2**31 up would wrap below zero."""
    big = np.asarray(Image.fromarray(seven).resize((112, 112), Image.Resampling.BICUBIC)).astype(np.float64) / 255
    unsigned = np.round(big * 4_000_000_000).astype("<u4")
    tiff = encode(Image.frombytes("I", (112, 112), unsigned.tobytes(), "raw", "I;32"), "TIFF")
    signed_format, unsigned_format = (b"\x53\x01\x03\x00\x01\x00\x00\x00" + bytes([n, 0]) for n in (2, 1))
    assert tiff.count(signed_format) == 1  # Pillow writes "I" as signed; the file says unsigned once patched
    data = tiff.replace(signed_format, unsigned_format)
    assert Image.open(io.BytesIO(data)).tag_v2[339] == (1,)
    as_float = encode(Image.fromarray(big.astype(np.float32), mode="F"), "TIFF")
    np.testing.assert_allclose(preprocess.preprocess(data), preprocess.preprocess(as_float), atol=1e-3)


def test_palette_and_one_bit(seven: np.ndarray, classifier: Classifier) -> None:
    light = Image.fromarray(big_dark_on_light(seven))
    assert reads_as(encode(light.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), classifier) == 7
    assert reads_as(encode(light.convert("1"), "PNG"), classifier) == 7


def test_palette_with_transparency(seven: np.ndarray, classifier: Classifier) -> None:
    mask = np.asarray(Image.fromarray(seven).resize((140, 140))) > 128
    indices = np.where(mask, 1, 0).astype(np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)
    image.info["transparency"] = 0  # index 0 transparent, index 1 black ink
    assert reads_as(encode(image, "PNG", transparency=0), classifier) == 7


def test_cmyk_jpeg(seven: np.ndarray, classifier: Classifier) -> None:
    cmyk = Image.fromarray(big_dark_on_light(seven)).convert("RGB").convert("CMYK")
    assert reads_as(encode(cmyk, "JPEG"), classifier) == 7


def test_coloured_ink_on_white(seven: np.ndarray, classifier: Classifier) -> None:
    coverage = 1 - big_dark_on_light(seven)[..., None] / 255.0
    for colour in ([200, 30, 30], [30, 60, 200], [230, 200, 0]):  # yellow is light, but one channel is dark
        rgb = 255 * (1 - coverage) + np.array(colour) * coverage
        assert reads_as(png_bytes(rgb.astype(np.uint8)), classifier) == 7, colour


def test_exif_orientation_is_honoured(seven: np.ndarray, classifier: Classifier) -> None:
    # Stored rotated 90 degrees clockwise; EXIF orientation 6 says "rotate 90 CW to display".
    stored = Image.fromarray(big_dark_on_light(seven)).convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stored, "JPEG", exif=exif)
    assert reads_as(data, classifier) == 7
    # Without the tag the same pixels lie on their side and must not read as the same upright image.
    upright = preprocess.preprocess(data)
    sideways = preprocess.preprocess(encode(stored, "JPEG"))
    assert np.abs(upright - sideways).mean() > 0.05


def test_big_jpegs_decode_small_and_keep_their_own_size(seven: np.ndarray, classifier: Classifier) -> None:
    """A phone photo is decoded at a libjpeg scale (>= WORK_SIDE); /read's boxes still use the file's pixels."""
    upright = Image.new("RGB", (4000, 3000), "white")
    upright.paste(Image.fromarray(big_dark_on_light(seven, side=2400)).convert("RGB"), (800, 300))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side (3000x4000 in the file), turned upright by the viewer
    data = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=90)
    image = preprocess.decode(data)
    assert preprocess.WORK_SIDE <= max(image.size) < 2 * preprocess.WORK_SIDE and image.size == (1000, 750)
    assert preprocess.original_size(image) == (4000, 3000)
    assert reads_as(data, classifier) == 7
    full = png_bytes(np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data)))))  # decoded whole, lossless
    assert np.abs(preprocess.preprocess(data) - preprocess.preprocess(full)).mean() < 0.02
    smaller = encode(upright.resize((2400, 1800)), "JPEG")  # under 4 x WORK_SIDE: decoded whole, as before
    assert preprocess.decode(smaller).size == (2400, 1800) == preprocess.original_size(preprocess.decode(smaller))


def test_animated_gif_uses_first_frame(seven: np.ndarray, mnist_test, classifier: Classifier) -> None:
    images, labels = mnist_test
    two = images[np.flatnonzero(labels == 2)[0]]
    frames = [Image.fromarray(big_dark_on_light(d)).convert("P") for d in (seven, two)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert reads_as(data, classifier) == 7


def test_animated_webp_uses_first_frame(seven: np.ndarray, mnist_test, classifier: Classifier) -> None:
    images, labels = mnist_test
    two = images[np.flatnonzero(labels == 2)[0]]
    frames = [Image.fromarray(big_dark_on_light(d)).convert("RGB") for d in (seven, two)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert reads_as(data, classifier) == 7


def test_digit_off_centre_is_not_cropped_away(seven: np.ndarray, classifier: Classifier) -> None:
    canvas = np.full((600, 900), 255, dtype=np.uint8)
    canvas[20:140, 760:880] = 255 - np.asarray(Image.fromarray(seven).resize((120, 120)))
    assert reads_as(png_bytes(canvas), classifier) == 7


def test_output_follows_mnist_normalisation(seven: np.ndarray) -> None:
    image28 = preprocess.preprocess(png_bytes(big_dark_on_light(seven, side=500)))
    rows, cols = np.nonzero(image28 > 0.1)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 in (19, 20, 21)  # longer side ~20 px
    cy, cx = np.average(np.indices(image28.shape), axis=(1, 2), weights=image28)
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0  # centre of mass in the middle
    assert image28.max() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("pen_px", [2, 40])
def test_stroke_width_is_normalised(pen_px: int) -> None:
    """A hairline and a fat marker both come out with MNIST-like strokes."""
    image = Image.new("L", (400, 400), 255)
    from PIL import ImageDraw

    ImageDraw.Draw(image).line([(120, 60), (280, 60), (170, 340)], fill=0, width=pen_px)
    image28 = preprocess.preprocess(encode(image, "PNG"))
    ink = image28.sum() / 20  # mean ink per row of the 20 px box ~ stroke width in px
    assert 1.5 < ink < 5.0, f"pen {pen_px}px came out with {ink:.1f} px of ink per row"


@pytest.mark.parametrize("radius", [1, 2, 3, 5])
def test_disk_filter_is_scipys_grey_erosion_and_dilation(radius: int) -> None:
    from scipy import ndimage

    rng = np.random.default_rng(radius)
    pixels = np.pad(rng.random((40, 31), dtype=np.float32), radius + 1)  # as normalisation pads a digit
    disk = preprocess._disk(radius)
    eroded = preprocess.disk_filter(pixels, radius, np.minimum)
    dilated = preprocess.disk_filter(pixels, radius, np.maximum)
    assert np.array_equal(eroded, ndimage.grey_erosion(pixels, footprint=disk))
    assert np.array_equal(dilated, ndimage.grey_dilation(pixels, footprint=disk))
    assert not np.array_equal(eroded, pixels) and not np.array_equal(dilated, pixels)
    mask = pixels > 0.9
    assert np.array_equal(preprocess._dilate(mask, disk), ndimage.binary_dilation(mask, structure=disk))
    twice = ndimage.binary_dilation(mask, iterations=2)
    assert np.array_equal(preprocess._dilate(mask, preprocess.CROSS, iterations=2), twice)


def test_one_colour_on_transparency_flattens_as_any_image() -> None:
    """The table for ink drawn by alpha alone gives what flattening the whole image gives, pixel for pixel."""
    rng = np.random.default_rng(5)
    for k in range(60):
        height, width = rng.integers(2, 60, 2)
        pixels = np.zeros((height, width, 4), dtype=np.uint8)
        pixels[..., :3] = rng.integers(0, 256, 3) if k % 2 else rng.integers(0, 256)  # a colour, or a grey
        pixels[..., 3] = rng.integers(0, 256, (height, width)) * (rng.random((height, width)) < rng.random())
        pixels[0, 0, 3] = 0  # not opaque, even by chance
        if k % 5 == 0:
            pixels[-1, -1, :3] = 255 - pixels[-1, -1, :3]  # a second colour: flattened the general way
        image = Image.fromarray(pixels, "RGBA")
        grey, light = preprocess._grey_pixels(image)
        expected, expected_light = preprocess._opaque_grey(preprocess._flatten_alpha(image))
        assert light == expected_light and np.array_equal(grey, expected)


def test_medians_and_percentiles_are_numpys() -> None:
    rng = np.random.default_rng(6)
    for dtype in (np.uint8, np.float32):
        for size in (1, 2, 3, 10, 101, 1120):
            values = (rng.random(size) * 255).astype(dtype)
            assert preprocess._median(values) == float(np.median(values))
            assert preprocess._percentile(values, 90) == pytest.approx(float(np.percentile(values, 90)), rel=1e-6)


@pytest.mark.parametrize("medium", ["canvas", "photo", "scanned"])
def test_components_in_the_ink_window_are_the_whole_images(medium: str, mnist_test) -> None:
    """Labels found in the window around the ink are those of the whole image, threshold and numbering alike."""
    from scipy import ndimage

    from datasets import renders

    images, _ = mnist_test
    rng = np.random.default_rng(11)
    make = {"canvas": renders.canvas, "photo": renders.photo, "scanned": renders.scanned}[medium]
    for digit28 in images[:12]:
        ink = preprocess.ink_map(preprocess.decode(make(rng, digit28)))
        labels, kept = preprocess.ink_components(ink)
        smooth = ndimage.uniform_filter(ink, size=3, mode="reflect")  # the whole image, the reference way
        threshold = np.clip(preprocess._otsu(smooth), 0.25 * smooth.max(), 0.6 * smooth.max())
        reference, count = ndimage.label(smooth > threshold)
        assert np.array_equal(labels, reference)
        ink_per_label = ndimage.sum(ink, reference, np.arange(1, count + 1))
        not_specks = ink_per_label >= preprocess.SPECK_FRACTION * ink_per_label.max()
        assert np.array_equal(kept, np.flatnonzero(not_specks) + 1)
        mask = preprocess.digit_mask(ink)
        assert np.array_equal(mask, np.isin(reference, kept))


@pytest.mark.parametrize(
    "make",
    [
        lambda: png_bytes(np.zeros((300, 300, 4), dtype=np.uint8)),  # empty canvas export
        lambda: png_bytes(np.full((300, 300), 255, dtype=np.uint8)),  # white
        lambda: png_bytes(np.zeros((300, 300), dtype=np.uint8)),  # black
        lambda: png_bytes(np.full((50, 80, 3), (30, 120, 200), dtype=np.uint8)),  # one colour
        lambda: png_bytes(np.zeros((28, 28), dtype=np.uint16)),  # 16-bit blank
        lambda: png_bytes(np.full((1, 1), 255, dtype=np.uint8)),  # a single pixel
    ],
)
def test_blank_images_have_no_digit(make) -> None:
    with pytest.raises(preprocess.NoDigit):
        preprocess.preprocess(make())


def test_blank_paper_photo_has_no_digit() -> None:
    rng = np.random.default_rng(0)
    xx = np.mgrid[0:480, 0:640][1]
    paper = 230 * (1 - 0.35 * xx / 640)[..., None] * np.ones(3) + rng.normal(0, 6, (480, 640, 3))
    data = encode(Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)), "JPEG", quality=70)
    with pytest.raises(preprocess.NoDigit):
        preprocess.preprocess(data)


def test_a_speck_alone_is_no_digit() -> None:
    canvas = np.full((400, 400), 255, dtype=np.uint8)
    canvas[200:203, 100:103] = 0
    with pytest.raises(preprocess.NoDigit):
        preprocess.preprocess(png_bytes(canvas))


def test_specks_do_not_move_the_digit(seven: np.ndarray, classifier: Classifier) -> None:
    canvas = big_dark_on_light(seven, side=300).copy()
    rng = np.random.default_rng(1)
    for y, x in rng.integers(0, 297, size=(12, 2)):
        canvas[y : y + 2, x : x + 2] = 0
    assert reads_as(png_bytes(canvas), classifier) == 7


def test_decompression_bomb_is_refused_before_allocation() -> None:
    data = png_claiming(60000, 60000)  # 3.6 gigapixels: 3.6 GB if decoded
    started = time.perf_counter()
    with pytest.raises(preprocess.TooLarge, match="pixels"):
        preprocess.preprocess(data)
    assert time.perf_counter() - started < 1.0  # refused from the header, nothing decoded


def test_limits_are_configurable(seven: np.ndarray) -> None:
    data = png_bytes(big_dark_on_light(seven))
    with pytest.raises(preprocess.TooLarge, match="bytes"):
        preprocess.preprocess(data, preprocess.Limits(max_bytes=len(data) - 1))
    with pytest.raises(preprocess.TooLarge, match="pixels"):
        preprocess.preprocess(data, preprocess.Limits(max_pixels=280 * 280 - 1))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 100,
        bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8)),
        b"<svg xmlns='http://www.w3.org/2000/svg'><circle r='5'/></svg>",
        b"<html><body>7</body></html>",
        b'{"image": "7"}',
    ],
    ids=["empty", "zeros", "random", "svg", "html", "json"],
)
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(preprocess.InvalidImage):
        preprocess.preprocess(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_truncated_files_are_invalid(fmt: str, seven: np.ndarray) -> None:
    data = encode(Image.fromarray(big_dark_on_light(seven)).convert("RGB"), fmt)
    with pytest.raises(preprocess.InvalidImage):
        preprocess.preprocess(data[: len(data) // 2])


def test_unsupported_container_is_invalid(seven: np.ndarray) -> None:
    data = encode(Image.fromarray(big_dark_on_light(seven)), "PPM")  # Pillow reads it, the API does not take it
    with pytest.raises(preprocess.InvalidImage):
        preprocess.preprocess(data)


def test_only_a_digit_stretched_to_fill_its_box_is_read_at_narrower_widths() -> None:
    """A binarised 1 stretched to its 16 px box, enlarged: three views; the same 1 with a margin, or narrow: one."""
    box = np.full((16, 16), 255, np.uint8)
    for row in range(16):  # a slanted 1 stretched across the whole box
        box[row, max(0, 13 - row) : 16 - row] = 0
    stretched = Image.fromarray(box).resize((160, 160), Image.Resampling.NEAREST)
    views = preprocess.digit_views(stretched)
    assert views.shape == (3, 28, 28) and np.array_equal(views[0], preprocess.digit_input(stretched))
    assert (views[2] > 0.5).any(axis=0).sum() < (views[0] > 0.5).any(axis=0).sum()  # narrower
    framed = ImageOps.expand(stretched, border=40, fill=255)
    narrow = Image.fromarray(box[:, 10:]).resize((60, 160), Image.Resampling.NEAREST)  # a tight crop, 0.4 wide
    for image in (framed, narrow):
        assert preprocess.digit_views(image).shape == (1, 28, 28)


def test_a_faint_hairline_filling_its_box_reads_as_before() -> None:
    """Squeezed, a faint 1 px stroke may fall under the contrast read: that view is dropped, not the digit."""
    pixels = np.full((400, 400), 255, np.uint8)
    for row in range(400):
        pixels[row, 399 - row] = 140  # a faint diagonal hairline from corner to corner
    image = Image.fromarray(pixels)
    views = preprocess.digit_views(image)
    assert 1 <= len(views) < 3 and np.array_equal(views[0], preprocess.digit_input(image))
