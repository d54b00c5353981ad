"""Reading images for image fields: local paths, in-memory PIL images, and (only when enabled) URLs.

Every failure is an `InputFileError` naming the file, so a caller can turn it into a per-record error instead
of losing the batch. Remote URLs are never fetched unless `allow_remote=True`.
"""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from gcl_search.errors import InputFileError

if TYPE_CHECKING:
    from PIL import Image

    from gcl_search.encoders.base import ImageInput

REMOTE_SCHEMES = ("http://", "https://")
MAX_REMOTE_BYTES = 50 * 1024 * 1024


def is_remote(source: object) -> bool:
    """True for an http(s) URL."""
    return isinstance(source, str) and source.lower().startswith(REMOTE_SCHEMES)


def describe(source: object) -> str:
    """How an image source is named in messages (a path, a URL, or `<in-memory image>`)."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return "<in-memory image>"


def load_image(
    source: ImageInput, *, allow_remote: bool = False, root: str | Path | None = None, timeout_s: float = 10.0
) -> Image.Image:
    """Open one image as RGB, fully decoded (so truncated files fail here, not inside a batch).

    Args:
        source: a local path (relative ones resolve against `root`), a PIL image, or an http(s) URL.
        allow_remote: fetch URLs; otherwise a URL is an error that says how to enable fetching.
        root: directory for relative paths (None: the current directory).
        timeout_s: URL fetch timeout.

    Returns:
        An RGB `PIL.Image.Image`.

    Raises:
        InputFileError: missing, unreadable, corrupt or not an image; a URL while remote images are off.
    """
    from PIL import Image

    if isinstance(source, Image.Image):
        return _decoded(source, source)
    if is_remote(source):
        return _decoded(Image.open(io.BytesIO(_fetch(str(source), allow_remote, timeout_s))), source)
    path = Path(str(source)[len("file://") :] if str(source).startswith("file://") else source).expanduser()
    if root is not None and not path.is_absolute():
        path = Path(root) / path
    if not path.is_file():
        raise InputFileError(
            path,
            None,
            "image file not found; check the path (relative paths resolve "
            f"against {root or 'the current directory'}; set [images] root to change that)",
        )
    try:
        return _decoded(Image.open(path), path)
    except OSError as err:
        raise InputFileError(path, None, f"cannot read the image ({err.strerror or err})") from err


def _decoded(image: Image.Image, source: object) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        image.load()
        return image if image.mode == "RGB" else image.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
        raise InputFileError(describe(source), None, f"corrupt or unsupported image ({err})") from err


def _fetch(url: str, allow_remote: bool, timeout_s: float) -> bytes:
    if not allow_remote:
        raise InputFileError(
            url,
            None,
            "remote image not fetched: remote images are off; download the "
            "images and use local paths, or set [images] allow_remote = true "
            "(allow_remote_images=True)",
        )
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - http(s) only
            data = response.read(MAX_REMOTE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise InputFileError(url, None, f"cannot fetch the image ({err})") from err
    if len(data) > MAX_REMOTE_BYTES:
        raise InputFileError(url, None, f"image larger than {MAX_REMOTE_BYTES} bytes; download it first")
    return data


def open_images(
    sources: Sequence[ImageInput],
    *,
    allow_remote: bool = False,
    root: str | Path | None = None,
    timeout_s: float = 10.0,
    workers: int = 4,
) -> list[Image.Image | InputFileError]:
    """Open many images in parallel threads; each slot holds the image or the error for that source.

    Decoding releases the GIL, so threads keep the encoder fed; errors are returned, not raised, so one bad
    file never costs the others.
    """

    def one(source: ImageInput) -> Image.Image | InputFileError:
        try:
            return load_image(source, allow_remote=allow_remote, root=root, timeout_s=timeout_s)
        except InputFileError as err:
            return err

    if workers <= 1 or len(sources) <= 1:
        return [one(s) for s in sources]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, sources))
