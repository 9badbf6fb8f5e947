"""Turn the bytes people send into the model's input: one module for the server, evaluation and tests.

decode -> ink map (white ink on black, lighting removed) -> digit mask (threshold, specks dropped)
-> MNIST normalisation (crop, stroke width, fit 20 px, centre of mass in 28x28).
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import struct
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageChops, ImageFile, ImageOps, ImageSequence, UnidentifiedImageError

from digits import contract

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
WORK_SIDE = 640  # analysis resolution: enough for a 20 px digit, cheap on a 12 MP photo
ORIGINAL_SIZE = "digits.original_size"  # decode()'s note of the file's upright size, in Image.info
# Peak bytes per pixel measured while decoding, where it is far above the usual 4-5: libwebp's lossless
# decoder (613 MB for 40 MP) and Pillow's LAB TIFF conversion (341 MB). Such files get fewer pixels,
# so that one decode stays within DECODE_BUDGET_BYTES on top of a worker's ~110 MB (the bound: 350 MB).
DECODER_BYTES_PER_PIXEL = {"WEBP": 16, ("TIFF", "LAB"): 9}
DECODE_BUDGET_BYTES = 200 * 1024 * 1024
REDUCE_STRIP = 32  # output rows reduced at a time, to bound memory on big images (a strip of a 40 MP float is ~17 MB)
DIGIT_BOX = 20  # MNIST fits the digit's longer side into 20 px ...
CANVAS = contract.IMAGE_SIZE  # ... and centres its mass in 28x28
MNIST_STROKE_PX = 2.6  # typical MNIST stroke width at that scale
STROKE_RANGE = 1.6  # widths within this factor of it are left alone: MNIST itself varies that much
MIN_CONTRAST = 0.2  # weakest ink we read; paper noise and JPEG blocks stay below it
MIN_DIGIT_FRACTION = 0.03  # a digit spans at least 3% of the image's longer side
BACKGROUND_GRID = 32  # cells per side of the coarse grid the background is estimated on
BACKGROUND_WINDOW = 9  # cells
FLAT_BACKGROUND = 0.03  # below this spread of levels, the background is one level
STAGE_BOX = 3 * DIGIT_BOX  # stroke width is evened out at 3x the final scale: fine steps, small arrays
OPENING = np.ones((BACKGROUND_WINDOW, BACKGROUND_WINDOW), np.uint8)  # the background's structuring element
SPECK_FRACTION = 0.04  # components under 4% of the largest one's ink are specks
BOX_FILL = 1 / 16  # ink this near every edge (a pixel of a 16 px box) and about as wide as tall (SQUARE) ...
SQUARE = 0.8  # ... is a digit stretched to fill its box, as some forms keep digits: its true width is lost
SQUEEZES = (0.55, 0.3)  # so it is also read at these shares of its width (chosen on validation's stretched digits)

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is invalid, not half an image


class PreprocessError(ValueError):
    """Input that cannot become a digit; `code` is the API's machine-readable error code, `fields` its details."""

    code = "invalid_image"

    def __init__(self, message: str, **fields: int | float) -> None:
        super().__init__(message)
        self.fields = fields  # e.g. the limit that was hit, for the API's error body


class InvalidImage(PreprocessError):
    """The bytes do not decode as a supported image."""

    code = "invalid_image"


class TooLarge(PreprocessError):
    """Over the byte or pixel limit."""

    code = "too_large"


class NoDigit(PreprocessError):
    """The image is blank: nothing stands out from the background."""

    code = "no_digit"


class TooComplex(PreprocessError):
    """Too many marks, or too much work, to read as a number: a texture, a grid, a page."""

    code = "too_complex"


@dataclass(frozen=True)
class Limits:
    """Input limits; the server takes them from its configuration."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


DEFAULT_LIMITS = Limits()


# --- Decoding ---------------------------------------------------------------------------------


def decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Image.Image:
    """Decode the first frame, upright per EXIF; refuse bombs before their pixels are allocated."""
    if len(data) > limits.max_bytes:
        raise TooLarge(
            f"the image is {len(data):,} bytes; the limit is {limits.max_bytes:,}", limit_bytes=limits.max_bytes
        )
    if not data:
        raise InvalidImage("the body is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size  # read from the header; no pixels decoded yet
            most = pixel_limit(image, limits)
            if width * height > most:
                message = f"the image is {width}x{height} pixels; the limit is {most:,} pixels"
                if most < limits.max_pixels:
                    message += f" for a {image.format} {image.mode} image"
                raise TooLarge(message, limit_pixels=most)
            if width < 1 or height < 1:
                raise InvalidImage("the image has no pixels")
            image = next(ImageSequence.Iterator(image))  # first frame of an animation
            if image.format == "JPEG":
                decode_small(image)
            image.load()
            decoded = image.size
            # A truncated or malformed EXIF block: the pixels are fine, so they are read as stored.
            with contextlib.suppress(struct.error, ValueError, KeyError, TypeError, IndexError, OSError, SyntaxError):
                ImageOps.exif_transpose(image, in_place=True)  # a copy would double the peak memory
            image.info[ORIGINAL_SIZE] = (width, height) if image.size == decoded else (height, width)
            return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge("the image has too many pixels to decode safely", limit_pixels=limits.max_pixels) from exc
    except PreprocessError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise InvalidImage("the bytes are not a readable PNG, JPEG, WebP, GIF, BMP or TIFF image") from exc


def pixel_limit(image: Image.Image, limits: Limits) -> int:
    """The most pixels this kind of file may have: decoders that need far more memory per pixel get less."""
    per_pixel = DECODER_BYTES_PER_PIXEL.get((image.format, image.mode), DECODER_BYTES_PER_PIXEL.get(image.format))
    return min(limits.max_pixels, DECODE_BUDGET_BYTES // per_pixel) if per_pixel else limits.max_pixels


def original_size(image: Image.Image) -> tuple[int, int]:
    """The decoded image's width and height in the file's own pixels, upright (before any decoding scale)."""
    return image.info.get(ORIGINAL_SIZE, image.size)


def decode_small(jpeg: Image.Image) -> None:
    """Have libjpeg scale a big photo by 1/4 or 1/8 while decoding, keeping its longer side >= WORK_SIDE.

    Everything is analysed at WORK_SIDE anyway; a 12-megapixel photo decoded in full is most of its cost.
    Under 4 x WORK_SIDE (every evaluation render, the largest 1,640 px) a JPEG decodes exactly as before.
    """
    scale = WORK_SIDE / max(jpeg.size)
    if scale <= 0.25:
        jpeg.draft(jpeg.mode, (math.ceil(jpeg.width * scale), math.ceil(jpeg.height * scale)))


def _grey_pixels(image: Image.Image) -> tuple[np.ndarray, bool]:
    """Ink-agnostic grey [H,W] at working resolution, and whether the background is light.

    uint8 levels, or float in [0,1] for 16-bit and float files.
    """
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # 16-bit files (MNIST's sample PNGs among them) must not be clipped to 8 bits; their own
        # range is the scale, since 12-bit or x255 data never reaches 65535.
        top = max(_peak(image), 1.0)
        grey = np.clip(_shrink(image, WORK_SIDE) / top, 0.0, 1.0).astype(np.float32)
        return grey, _border_median(grey) >= 0.5
    if image.mode == "La":
        image = image.convert("LA")  # premultiplied grey + alpha: Pillow converts it to nothing else
    image = _reduce(image)
    if image.mode in ("LA", "PA", "RGBA", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema()[0] == 255:
            return _opaque_grey(rgba)
        colours = np.asarray(rgba).view("<u4")[..., 0] << 8  # each pixel's R, G and B packed, its alpha shifted out
        if colours.min() == colours.max():
            return _one_colour_grey(np.asarray(alpha), rgba.getpixel((0, 0))[:3])
        return _opaque_grey(_flatten_alpha(rgba))
    if image.mode not in ("L", "RGB"):
        image = image.convert("L" if image.mode == "1" else "RGB")  # CMYK, P, YCbCr, ...
    return _opaque_grey(image)


def _opaque_grey(image: Image.Image) -> tuple[np.ndarray, bool]:
    """_grey_pixels of an L, RGB or opaque RGBA image."""
    grey = image if image.mode == "L" else image.convert("L")
    light = _border_median(np.asarray(grey)) >= 128
    if image.mode != "L":
        # Coloured ink is dark in at least one channel on white, bright in one on black.
        r, g, b = image.split()[:3]
        pick = ImageChops.darker if light else ImageChops.lighter
        grey = pick(pick(r, g), b)
    return np.asarray(grey), light


def _one_colour_grey(alpha: np.ndarray, colour: tuple[int, int, int]) -> tuple[np.ndarray, bool]:
    """_opaque_grey(_flatten_alpha(rgba)) of an RGBA image in one colour, its ink drawn by `alpha` alone.

    Each pixel's flattened grey then depends on its alpha only: Pillow flattens the 256 alphas once and
    a table maps the image's (a canvas export of black ink on transparency is such an image).
    """
    levels, darkest, lightest = _flattened_alphas(colour, bool(alpha.any()))
    light = _median(levels[_edges(alpha)]) >= 128
    return cv2.LUT(alpha, darkest if light else lightest), light


@functools.lru_cache(maxsize=64)
def _flattened_alphas(colour: tuple[int, int, int], inked: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each alpha, `colour` flattened as _flatten_alpha does: its grey level, darkest and lightest channel."""
    ramp = np.empty((1, 256, 4), dtype=np.uint8)
    ramp[..., :3], ramp[..., 3] = colour, np.arange(256)
    ramp = Image.fromarray(ramp, "RGBA")
    ink_level = ramp.convert("L").getpixel((0, 0)) if inked else 0  # every pixel's level: their weighted mean
    flat = _flatten_alpha(ramp, ink_level)
    r, g, b = flat.split()[:3]
    darkest, lightest = ImageChops.darker(ImageChops.darker(r, g), b), ImageChops.lighter(ImageChops.lighter(r, g), b)
    tables = np.asarray(flat.convert("L"))[0], np.asarray(darkest), np.asarray(lightest)
    for table in tables:
        table.setflags(write=False)  # shared by every image of this colour
    return tables


def _reduce(image: Image.Image) -> Image.Image:
    """Box-reduce (anti-aliased, in C) so the longer side is at most WORK_SIDE."""
    factor = -(-max(image.size) // WORK_SIDE)
    if factor <= 1:
        return image
    if image.mode not in ("1", "L", "LA", "RGB", "RGBA", "P", "PA", "CMYK"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    if image.mode in ("1", "P", "PA"):
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "L")
    # In strips: Pillow copies a whole RGBA image to premultiply it before reducing (160 MB at 40 MP).
    step = factor * REDUCE_STRIP
    out = Image.new(image.mode, (-(-image.width // factor), -(-image.height // factor)))
    for top in range(0, image.height, step):
        out.paste(image.crop((0, top, image.width, min(top + step, image.height))).reduce(factor), (0, top // factor))
    return out


def _flatten_alpha(rgba: Image.Image, ink_level: float | None = None) -> Image.Image:
    """Flatten onto a background the ink contrasts with (a canvas export is dark ink on transparency): opaque RGBA.

    The ink's level is the grey level's mean weighted by alpha, unless given.
    """
    if ink_level is None:
        weights = np.asarray(rgba.getchannel("A"), dtype=np.float32).ravel()
        levels = np.asarray(rgba.convert("L"), dtype=np.float32).ravel()
        total = float(weights.sum())
        ink_level = float(np.dot(levels, weights)) / total if total else 0.0
    background = (255, 255, 255, 255) if ink_level < 128 else (0, 0, 0, 255)
    return Image.alpha_composite(Image.new("RGBA", rgba.size, background), rgba)


def _border_median(grey: np.ndarray) -> float:
    return _median(_edges(grey))


def _edges(pixels: np.ndarray) -> np.ndarray:
    """The pixels along the four edges (the corners twice), as one row."""
    return np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])


def _median(values: np.ndarray) -> float:
    """np.median of a 1-D array, by a partial sort (a fraction of its overhead)."""
    middle = values.size // 2
    if values.size % 2:
        return float(np.partition(values, middle)[middle])
    return float(np.mean(np.partition(values, (middle - 1, middle))[middle - 1 : middle + 1]))


def _rows(pixels: np.ndarray | Image.Image, top: int, bottom: int) -> np.ndarray:
    """Rows top..bottom as an array; of a Pillow image only those rows are copied."""
    if isinstance(pixels, Image.Image):
        rows = np.asarray(pixels.crop((0, top, pixels.width, bottom)))
        if _unsigned_32_bit(pixels):
            rows = rows.view(np.uint32)
        # A float TIFF may hold NaN or infinity: no ink there, rather than NaN everywhere after averaging.
        return np.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0) if rows.dtype.kind == "f" else rows
    return pixels[top:bottom]


def _unsigned_32_bit(image: Image.Image) -> bool:
    """An unsigned 32-bit TIFF: Pillow stores it as signed "I", so values from 2**31 up read below zero."""
    tags = getattr(image, "tag_v2", None)
    return image.mode == "I" and tags is not None and tags.get(258, (0,))[0] == 32 and tags.get(339, (1,))[0] == 1


def _peak(image: Image.Image) -> float:
    """The largest value of a 16-bit or float image, strip by strip: getextrema() refuses I;16B and I;16L."""
    rows = range(0, image.height, REDUCE_STRIP)
    return max(float(_rows(image, top, min(top + REDUCE_STRIP, image.height)).max()) for top in rows)


def _shrink(pixels: np.ndarray | Image.Image, side: int) -> np.ndarray:
    """Area-average down so the longer side is at most `side` (anti-aliased)."""
    height, width = pixels.shape[:2] if isinstance(pixels, np.ndarray) else (pixels.height, pixels.width)
    down, across = _blocks(height, width, side)
    if max(down, across) <= 1:
        return _rows(pixels, 0, height)
    h, w = height // down * down, width // across * across
    # In strips, so a 40 MP image never has a whole copy: 40 MP of 16-bit is 80 MB, of float64 320 MB.
    # Means in float64: float32 sums of huge values overflow to infinity, and inf - inf is NaN.
    step = down * REDUCE_STRIP
    blocks = (-1, down, w // across, across)
    strips = [
        _rows(pixels, top, min(top + step, h))[:, :w].reshape(blocks).mean(axis=(1, 3), dtype=np.float64)
        for top in range(0, h, step)
    ]
    return np.concatenate(strips)


def _blocks(height: int, width: int, side: int) -> tuple[int, int]:
    """The rows and columns _shrink averages into one pixel, so the longer side is at most `side`."""
    factor = -(-max(height, width) // side)
    return min(factor, height), min(factor, width)  # a 1 px strip stays 1 px high, and is still shrunk


def _block_means(pixels: np.ndarray, side: int) -> np.ndarray:
    """_shrink of a float32 array in memory, by OpenCV (its float sums: equal to ~1e-7)."""
    height, width = pixels.shape
    down, across = _blocks(height, width, side)
    rows, cols = height // down, width // across
    return cv2.resize(pixels[: rows * down, : cols * across], (cols, rows), interpolation=cv2.INTER_AREA)


# --- Ink --------------------------------------------------------------------------------------


def ink_map(image: Image.Image) -> np.ndarray:
    """White-on-black float [H,W] in [0,1]: how much each pixel differs from the local background."""
    grey, light_background = _grey_pixels(image)
    if grey.dtype == np.uint8:
        ink = cv2.LUT(grey, INK_LEVELS[light_background])
    else:
        ink = 1.0 - grey if light_background else grey
    ink -= _background(ink)
    return np.clip(ink, 0.0, 1.0, out=ink)


# The ink of each 8-bit grey level on a dark and on a light background, as float32 arithmetic gives it.
INK_LEVELS = {
    False: (np.arange(256, dtype=np.float32) / np.float32(255))[None],
    True: (np.float32(1) - np.arange(256, dtype=np.float32) / np.float32(255))[None],
}


def _background(ink: np.ndarray) -> np.ndarray | np.float32:
    """Slowly varying background level (uneven light), estimated on a coarse grid without the strokes."""
    height, width = ink.shape
    coarse = _block_means(ink, BACKGROUND_GRID)
    # Opening removes strokes narrower than the window (a quarter of the image); light varies slower.
    # OpenCV's erosion then dilation, edges repeated: scipy's grey_opening(mode="nearest"), the same values.
    window, edge = OPENING, cv2.BORDER_REPLICATE
    coarse = cv2.dilate(cv2.erode(coarse, window, borderType=edge), window, borderType=edge)
    coarse = cv2.blur(coarse, (3, 3), borderType=edge)  # scipy's uniform_filter(mode="nearest"), to ~1e-7
    if float(coarse.max() - coarse.min()) < FLAT_BACKGROUND:
        return np.float32(_median(coarse.ravel()))  # a canvas or an evenly lit scan: one level will do
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR))


def _otsu(values: np.ndarray, zeros: int = 0) -> float:
    """Otsu's threshold of values in [0,1], as if `zeros` more values of 0 were among them."""
    bins = 128
    # np.histogram's bins over [0, 1], counted on uint8 by OpenCV: several times faster on a whole image.
    levels = np.clip(values * bins, 0, bins - 1).astype(np.uint8)
    hist = cv2.calcHist([levels], [0], None, [bins], [0, bins]).ravel().astype(np.int64)
    hist[0] += zeros
    centres = (np.arange(bins) + 0.5) / bins
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(hist * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])


def ink_components(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label image of the thresholded ink and the labels that are not specks; NoDigit if the image is blank."""
    labels, kept, _ = _components(ink)
    return labels, kept


def digit_mask(ink: np.ndarray) -> np.ndarray:
    """Boolean mask of the ink that forms the digit: thresholded, specks dropped; NoDigit if none."""
    return _components(ink)[2]


def _components(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ink_components' labels and kept labels, and the mask of the kept ones."""
    rows, cols = _ink_window(ink)
    window = ink[rows, cols]
    smooth = _mean3x3(window)  # pixel noise averages out, strokes do not
    peak = float(smooth.max())
    if peak < MIN_CONTRAST:
        raise NoDigit("no digit found: the image is blank")
    threshold = float(np.clip(_otsu(smooth, ink.size - window.size), 0.25 * peak, 0.6 * peak))
    # OpenCV's 4-connected labels are scipy's ndimage.label, numbered alike (raster order), several times faster.
    count, found = cv2.connectedComponents((smooth > threshold).view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    count -= 1  # OpenCV counts the background
    if count > 1:
        ink_per_label = np.bincount(found.ravel(), weights=window.ravel(), minlength=count + 1)[1:]
        kept = np.flatnonzero(ink_per_label >= SPECK_FRACTION * ink_per_label.max()) + 1
    else:
        kept = np.arange(1, count + 1)
    labels, mask = np.zeros(ink.shape, np.int32), np.zeros(ink.shape, bool)
    labels[rows, cols] = found
    mask[rows, cols] = found > 0 if kept.size == count else select_labels(found, kept)
    top, bottom, left, right = bounding_box(mask[rows, cols])
    if max(bottom - top, right - left) < MIN_DIGIT_FRACTION * max(ink.shape):
        raise NoDigit("no digit found: only specks stand out from the background")
    return labels, kept, mask


def _ink_window(ink: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns around every non-zero pixel, 2 px more: outside them the ink and its 3x3 mean are 0."""
    inked = ink > 0
    if not inked.any():
        raise NoDigit("no digit found: the image is blank")
    return _around(bounding_box(inked))


def _around(box: tuple[int, int, int, int], margin: int = 2) -> tuple[slice, slice]:
    """Rows and columns of a bounding box and `margin` px around it (cut short at the image's top and left)."""
    top, bottom, left, right = box
    return slice(max(top - margin, 0), bottom + margin), slice(max(left - margin, 0), right + margin)


def _mean3x3(pixels: np.ndarray) -> np.ndarray:
    """3x3 box mean, edges mirrored (scipy's uniform_filter to ~1e-7, by OpenCV)."""
    return cv2.blur(pixels, (3, 3), borderType=cv2.BORDER_REFLECT)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """top, bottom, left, right (bottom and right exclusive) of the mask's True pixels; NoDigit if none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not rows.size:
        raise NoDigit("no digit found: nothing is left of the ink")
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask[top:bottom].any(axis=0))  # only the rows with ink: a fraction of the work
    return top, bottom, int(cols[0]), int(cols[-1]) + 1


def select_labels(labels: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels whose label is one of `kept` (a lookup table: faster than np.isin)."""
    table = np.zeros(int(labels.max()) + 1, dtype=bool)
    table[kept] = True
    return table[labels]


# --- MNIST normalisation ----------------------------------------------------------------------


def _stroke_width(strokes: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the distance from a stroke's centre line to its edge."""
    # OpenCV's exact Euclidean distances; float32, which differ by ~1e-6 from run to run (scipy's: float64).
    distance = cv2.distanceTransform(_pad(strokes, 1).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    around = cv2.dilate(distance, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REFLECT)  # scipy's maximum_filter
    ridge = distance[(distance >= around) & (distance > 0)]
    return float(2 * ridge.mean() - 1) if ridge.size else 1.0


def _scaled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """The (height, width) _resize gives an array of `shape`."""
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def _resize(pixels: np.ndarray, scale: float) -> np.ndarray:
    """Anti-aliased float resize (area average down, bilinear up)."""
    height, width = _scaled_shape(pixels.shape, scale)
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(pixels.astype(np.float32, copy=False)).resize((width, height), resample))


def normalize_digit(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """MNIST-style 28x28 float image of the masked digit: crop, even out stroke width, fit, centre."""
    box = bounding_box(mask)
    top, bottom, left, right = box
    return _fit_and_centre(_even_strokes(ink, mask, box, STAGE_BOX / max(bottom - top, right - left)))


def normalize_pieces(ink: np.ndarray, blob: np.ndarray, pieces: list[np.ndarray]) -> list[np.ndarray | None]:
    """28x28 images of pieces of one blob (None where nothing is left), its strokes evened once for them all."""
    # One pen wrote the blob: its stroke width is measured and evened once, at the scale of the blob's
    # height (a digit's), and each piece is cut from that: evening each piece took half of /read's time.
    box = bounding_box(blob)
    scale = STAGE_BOX / (box[1] - box[0])  # bottom - top
    evened = _even_strokes(ink, blob, box, scale)
    window = _around(box)  # _even_strokes' window, resized to `size`, then padded by `margin`
    height, width = blob[window].shape
    size = _scaled_shape((height, width), scale)
    margin = (evened.shape[0] - size[0]) // 2
    # The stage pixel each ink pixel falls in: a piece's region there is where any of its pixels fall.
    row_at = margin + np.minimum(np.arange(height) * size[0] // height, size[0] - 1)
    col_at = margin + np.minimum(np.arange(width) * size[1] // width, size[1] - 1)
    images = []
    for piece in pieces:
        rows, cols = np.nonzero(piece[window])
        region = np.zeros(evened.shape, dtype=bool)
        region[row_at[rows], col_at[cols]] = True
        try:
            images.append(_fit_and_centre(np.where(_dilate(region, CROSS), evened, np.float32(0))))
        except NoDigit:
            images.append(None)
    return images


def normalize_line(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The masked ink as a line for the number reader: float [28, W], ink 20 px high, W a multiple of LINE_STRIDE."""
    box = bounding_box(mask)
    line = _even_strokes(ink, mask, box, STAGE_BOX / (box[1] - box[0]))
    rows, cols = np.nonzero(line > 0.05)
    if not rows.size:
        raise NoDigit("no digit found: the image is blank")
    line = line[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    small = np.clip(_resize(line, DIGIT_BOX / line.shape[0]), 0.0, 1.0)
    margin = (CANVAS - DIGIT_BOX) // 2
    width = -(-(small.shape[1] + 2 * margin) // contract.LINE_STRIDE) * contract.LINE_STRIDE
    out = np.zeros((CANVAS, width), dtype=np.float32)
    out[margin : margin + small.shape[0], margin : margin + small.shape[1]] = small
    return out


def _even_strokes(ink: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int], scale: float) -> np.ndarray:
    """The masked ink in its bounding box, scaled by `scale`, its strokes evened out to MNIST's width at 3x."""
    window = _around(box)
    strokes = mask[window]
    region = _dilate(strokes, CROSS, iterations=2)  # keep anti-aliased edges, not specks
    digit = _resize(np.where(region, ink[window], 0.0), scale)
    coverage = _resize(strokes, scale)
    strokes = coverage >= min(0.5, 0.5 * float(coverage.max()))  # a hairline covers under half a pixel

    # A fat marker is thinned and a hairline thickened into MNIST's own range of stroke widths.
    target = MNIST_STROKE_PX * STAGE_BOX / DIGIT_BOX
    width = _stroke_width(strokes)
    radius = 0
    if width > STROKE_RANGE * target:
        radius = round((width - STROKE_RANGE * target) / 2)
    elif width < target / STROKE_RANGE:
        radius = -round((target - width) / 2)
    digit, strokes = _pad(digit, abs(radius) + 1), _pad(strokes, abs(radius) + 1)
    if radius > 0:
        thinned = disk_filter(digit, radius, np.minimum)
        digit = thinned if thinned.sum() > 0.2 * digit.sum() else digit  # never erase the digit
    elif radius < 0:
        digit = disk_filter(digit, -radius, np.maximum)
        strokes = _dilate(strokes, _disk(-radius))

    # Stretch so the stroke core is full white, as in MNIST.
    core = digit[strokes & (digit > 0)]
    if core.size:
        digit = np.clip(digit / max(_percentile(core, 90), 1e-3), 0.0, 1.0)
    return digit


def _percentile(values: np.ndarray, q: float) -> float:
    """np.percentile's linear interpolation of a 1-D array, by a partial sort (a fraction of its overhead)."""
    at = q / 100 * (values.size - 1)
    low = int(at)
    high = min(low + 1, values.size - 1)
    part = np.partition(values, (low, high))
    return float(part[low]) + (float(part[high]) - float(part[low])) * (at - low)


def _pad(pixels: np.ndarray, width: int) -> np.ndarray:
    """Zeros `width` wide around the array (np.pad's result, at a fraction of its overhead on small arrays)."""
    out = np.zeros((pixels.shape[0] + 2 * width, pixels.shape[1] + 2 * width), dtype=pixels.dtype)
    out[width:-width, width:-width] = pixels
    return out


CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)  # scipy's default structuring element


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius + radius


def _dilate(mask: np.ndarray, structure: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Binary dilation, outside taken as empty (OpenCV's, ~10x scipy's on small masks; the same pixels)."""
    out = cv2.dilate(
        mask.astype(np.uint8), structure.astype(np.uint8), iterations=iterations,
        borderType=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip
    return out.astype(bool)


def disk_filter(pixels: np.ndarray, radius: int, reduce: np.ufunc) -> np.ndarray:
    """Grey erosion (np.minimum) or dilation (np.maximum) by a flat disk, outside taken as 0 (OpenCV's)."""
    morph = cv2.erode if reduce is np.minimum else cv2.dilate
    kernel = _disk(radius).astype(np.uint8)
    return morph(pixels.astype(np.float32), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)


def _fit_and_centre(digit: np.ndarray) -> np.ndarray:
    """Fit the longer side to 20 px (anti-aliased) and put the centre of mass at the 28x28 centre."""
    rows, cols = np.nonzero(digit > 0.05)
    if not rows.size:
        raise NoDigit("no digit found: the image is blank")
    digit = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    small = _resize(digit, DIGIT_BOX / max(digit.shape))
    small = np.clip(small, 0.0, 1.0)
    mass = float(small.sum(dtype=np.float64))  # the centre of mass, as scipy's center_of_mass finds it
    cy = float(small.sum(axis=1, dtype=np.float64) @ np.arange(small.shape[0])) / mass
    cx = float(small.sum(axis=0, dtype=np.float64) @ np.arange(small.shape[1])) / mass
    h, w = small.shape
    top = int(np.clip(round(CANVAS / 2 - cy - 0.5), 0, CANVAS - h))
    left = int(np.clip(round(CANVAS / 2 - cx - 0.5), 0, CANVAS - w))
    out = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    out[top : top + h, left : left + w] = small
    return out


def digit_input(image: Image.Image) -> np.ndarray:
    """A decoded image -> float32 [28,28] white-on-black in [0,1]; raises NoDigit when it is blank."""
    ink = ink_map(image)
    return normalize_digit(ink, digit_mask(ink))


def digit_views(image: Image.Image) -> np.ndarray:
    """digit_input()'s image [1,28,28]; for a digit stretched to fill its box, also at SQUEEZES of its width."""
    ink = ink_map(image)
    mask = digit_mask(ink)
    views = [normalize_digit(ink, mask)]
    if _fills_its_box(mask):
        for share in SQUEEZES:
            size = (max(1, round(ink.shape[1] * share)), ink.shape[0])
            squeezed = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
            with contextlib.suppress(NoDigit):  # a faint hairline squeezed may fade under the contrast read
                views.append(normalize_digit(squeezed, digit_mask(squeezed)))
    return np.stack(views)


def _fills_its_box(mask: np.ndarray) -> bool:
    """The digit reaches every edge of the image and is about as wide as it is tall."""
    top, bottom, left, right = bounding_box(mask)
    height, width = mask.shape
    margin = BOX_FILL * max(height, width)
    reaches = top <= margin and left <= margin and bottom >= height - margin and right >= width - margin
    return reaches and SQUARE <= (right - left) / (bottom - top) <= 1 / SQUARE


def preprocess(data: bytes, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """Image bytes -> float32 [28,28] white-on-black in [0,1]; raises a PreprocessError subclass."""
    return digit_input(decode(data, limits))


def to_png(image28: np.ndarray) -> bytes:
    """The 28x28 model input as an 8-bit greyscale PNG."""
    _, png = cv2.imencode(".png", np.round(image28 * 255).astype(np.uint8))  # ~7x faster than Pillow's encoder
    return png.tobytes()
