"""Finding images: plain folders, the named shared data sets, and an embedded default.

``image_set(name_or_dir)`` resolves, in this order:

1. ``skimage-train`` / ``skimage-test``: natural photographs bundled inside scikit-image
   (no download, so demos and tests always have data);
2. a shared set name (``Set12``, ``BSD68``, ... see :data:`SHARED_SETS`, case-insensitive),
   looked up under :func:`shared_data_dir`;
3. a folder of image files.

A local folder whose name equals a set name can still be used by passing it as a path
(``./Set12``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasdenoise.data.color import convert_color

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

DATA_ENV_VAR = "KERASDENOISE_DATA"

SHARED_SETS = {
    "CBSD432": "train/CBSD432",
    "Train400": "train/Train400",
    "Set12": "test/Set12",
    "BSD68": "test/BSD68",
    "CBSD68": "test/CBSD68",
    "LIVE1": "test/LIVE1",
    "classic5": "test/classic5",
}

# The embedded default: natural photographs that ship inside the scikit-image wheel (loading
# them needs no pooch download).  The split keeps the two classic test photographs
# (cameraman, coins), one smooth natural scene (moon) and two color photographs (coffee,
# rocket) for testing, and trains on the rest: color photographs (astronaut, Chelsea the cat,
# the Hubble deep field, an immunohistochemistry slide), gray textures (brick, grass, gravel)
# and gray scenes (clock, text).  Left out: synthetic images (checkerboard, colorwheel, logo,
# phantom, blobs), scans and microscopy of little texture (page, cell, microaneurysms), the
# mostly black retina, and images that need a download (brain, eagle, lily, ...).
SKIMAGE_SETS = {
    "skimage-train": (
        "astronaut",
        "chelsea",
        "hubble_deep_field",
        "immunohistochemistry",
        "brick",
        "grass",
        "gravel",
        "clock",
        "text",
    ),
    "skimage-test": ("camera", "coins", "moon", "coffee", "rocket"),
}
SKIMAGE_SOURCE = "scikit-image"


def _is_image_file(path: Path) -> bool:
    return (
        path.is_file()
        and path.suffix.lower() in IMAGE_EXTENSIONS
        and not path.name.startswith(".")  # e.g. macOS "._x.png" resource forks
    )


def find_images(folder) -> list[Path]:
    """Image files directly inside ``folder`` (extensions in :data:`IMAGE_EXTENSIONS`, any
    case; hidden files skipped), sorted by path.

    Raises ``FileNotFoundError`` if the folder does not exist and ``ValueError`` if it holds no
    image files.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    images = sorted(path for path in folder.iterdir() if _is_image_file(path))
    if not images:
        raise ValueError(
            f"no images in folder {folder} (accepted extensions: {' '.join(IMAGE_EXTENSIONS)}, "
            "any case)"
        )
    return images


def _repo_root() -> Path:
    """The folder holding the ``kerasdenoise`` package directory."""
    return Path(__file__).resolve().parents[2]


def shared_data_candidate() -> tuple[Path, str]:
    """Where shared data would be: (path, how it was chosen)."""
    from_env = os.environ.get(DATA_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser(), f"from ${DATA_ENV_VAR}"
    return _repo_root().parent / "shared" / "data", "the default <repo root>/../shared/data"


def shared_data_dir() -> Path | None:
    """The shared data folder: ``$KERASDENOISE_DATA`` if set, else ``<repo root>/../shared/data``;
    ``None`` if that folder does not exist."""
    candidate, _ = shared_data_candidate()
    return candidate if candidate.is_dir() else None


def _skimage_image(name: str) -> np.ndarray:
    """One bundled scikit-image picture as float32 [H, W, C] in [0, 1]."""
    import skimage.data

    pixels = np.asarray(getattr(skimage.data, name)())
    image = pixels.astype(np.float32) / np.float32(np.iinfo(pixels.dtype).max)
    if image.ndim == 2:
        image = image[..., None]
    return image[..., :3]


@dataclass
class ImageSet:
    """A named list of images: file paths (``source`` = their folder) or scikit-image function
    names (``source`` = ``"scikit-image"``)."""

    name: str
    items: list = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.items)

    def names(self) -> list[str]:
        """File stems, or scikit-image names."""
        return [item.stem if isinstance(item, Path) else str(item) for item in self.items]

    def load(self, color: str = "rgb") -> list[np.ndarray]:
        """Decode every image as float32 ``[H, W, C]`` in [0, 1] (``color``: rgb, gray or y)."""
        if self.source == SKIMAGE_SOURCE:
            return [convert_color(_skimage_image(name), color) for name in self.items]
        from kerasdenoise.data.io import read_image

        return [read_image(path, color) for path in self.items]


def _valid_names() -> list[str]:
    return list(SKIMAGE_SETS) + list(SHARED_SETS)


def _union(parts: list[ImageSet], name: str) -> ImageSet:
    if any(part.source == SKIMAGE_SOURCE for part in parts):
        raise ValueError(f"image set {name!r}: the scikit-image sets cannot be joined with '+'")
    return ImageSet(name=name, items=[item for part in parts for item in part.items],
                    source="+".join(part.source for part in parts))


def image_set(name_or_dir) -> ImageSet:
    """Resolve a set name (``skimage-train``, ``skimage-test``, a :data:`SHARED_SETS` name) or a
    folder path to an :class:`ImageSet`; ``A+B`` joins sets (``Train400+CBSD432``).

    A shared set name with no shared data raises ``FileNotFoundError`` saying where it looked
    and how to point ``$KERASDENOISE_DATA`` at the data; anything else that is neither a
    known name nor a folder raises ``ValueError`` listing the valid names.
    """
    text = str(name_or_dir)
    if "+" in text and not Path(text).expanduser().is_dir():
        return _union([image_set(part) for part in text.split("+")], text)
    key = text.lower()
    for skimage_name, functions in SKIMAGE_SETS.items():
        if key == skimage_name:
            return ImageSet(name=skimage_name, items=list(functions), source=SKIMAGE_SOURCE)
    for shared_name, relative in SHARED_SETS.items():
        if key == shared_name.lower():
            root = shared_data_dir()
            if root is None:
                candidate, how = shared_data_candidate()
                raise FileNotFoundError(
                    f"image set {shared_name!r} needs the shared data folder, which was not "
                    f"found at {candidate} ({how}); set the environment variable "
                    f"{DATA_ENV_VAR} to the folder holding train/ and test/"
                )
            folder = root / relative
            return ImageSet(name=shared_name, items=find_images(folder), source=str(folder))
    folder = Path(text).expanduser()
    if folder.is_dir():
        return ImageSet(name=folder.name, items=find_images(folder), source=str(folder))
    raise ValueError(
        f"{text!r} is neither an image folder nor a known image set; valid set names: "
        f"{', '.join(_valid_names())} (or the path of a folder of images)"
    )
