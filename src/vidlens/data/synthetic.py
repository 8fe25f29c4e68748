"""A synthetic action dataset whose classes are defined by motion alone.

Each class is a direction of motion (``MoveRight``, ``MoveUp``, ...). A video shows a few textured shapes
gliding in that direction over a static textured background, drawn on a torus (what leaves the frame on one
side comes back on the other). Everything except the direction is random per video: background, shapes,
textures, colours, sizes, positions, speeds. A single-frame model must therefore sit at chance accuracy,
while a model that compares frames (a 3D ConvNet, or even two frames' cross-correlation) solves it.

Why a single frame carries no class information. The class enters a video only through the velocity
``v`` of its moving shapes; frame ``t`` shows a shape at ``p0 + v * t`` (mod the frame size). The start
``p0`` is uniform on the torus and independent of everything else, so ``p0 + v * t`` is uniform too,
whatever ``v`` and ``t`` are: the position in any one frame has the same distribution for every class.
Nothing else in a frame depends on ``v``: appearance (shape, orientation, texture, colour, size) is drawn
independently of the class, the background and the static distractor shapes do not move, stacking order
is random, there is no motion blur (each frame is drawn from positions alone), and the wrap-around is the
same in every direction. Hence frame ``t`` alone, and any function of it, is independent of the class.
The encoder keeps this true of the files: by default every frame is coded as a key frame (``intra_only``)
with the same quantiser (``qp``), so a decoded frame is a function of that frame's pixels only, never of
motion-compensated neighbours or a rate control whose artefacts could depend on the direction.

Layout written by :func:`make_motion_dataset` (the UCF101 layout)::

    root/MoveDown/v_MoveDown_g01_c01.mp4
    root/splits/classInd.txt      "1 MoveDown" (1-based, classes sorted by name)
    root/splits/trainlist01.txt   "MoveDown/v_MoveDown_g04_c01.mp4 1" (1-based label)
    root/splits/testlist01.txt    "MoveDown/v_MoveDown_g01_c01.mp4"
    root/synth.json               the config, so that a rerun can recognise and skip the dataset
    root/masks/MoveDown/v_MoveDown_g01_c01.npz   with masks=True only: where the moving shapes are

Frames are uint8 RGB ``(T, H, W, 3)``, like :mod:`vidlens.video` decodes them. Masks (``masks=True``,
``vidlens synth --masks``) are bool ``(T, H, W)``, True on the pixels of each frame where a moving shape is
visible, saved with ``np.savez_compressed`` under the key ``"moving"`` and read back by
:func:`load_motion_masks`. They are the ground truth for pointing games on interpretation maps
(:func:`vidlens.metrics.pointing_energy`): a map that explains the class by motion should put its energy
on the moving shapes, not on the static distractors that look just like them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, overload

import numpy as np
from tqdm.auto import tqdm

from vidlens.video import write_video

__all__ = [
    "DIRECTIONS",
    "MotionConfig",
    "MotionDataset",
    "load_motion_masks",
    "make_motion_dataset",
    "motion_class_names",
    "motion_mask_path",
    "render_motion_video",
]

# Motion directions in the order classes are taken from: num_classes=K uses the first K, so the four
# axis directions come before the diagonals. Angles in degrees, counter-clockwise from +x ("Right"),
# with "Up" towards the top of the image.
DIRECTIONS: dict[str, float] = {
    "MoveRight": 0.0,
    "MoveLeft": 180.0,
    "MoveUp": 90.0,
    "MoveDown": 270.0,
    "MoveUpRight": 45.0,
    "MoveDownLeft": 225.0,
    "MoveUpLeft": 135.0,
    "MoveDownRight": 315.0,
}

# Identifies the renderer in synth.json: bump it whenever a seed would render different frames, so that
# an old dataset on disk is regenerated instead of silently reused. (Masks did not bump it: they changed
# no frame, and synth.json says whether a dataset has them.)
_FORMAT = "vidlens.synthetic.motion/1"

# The key of the moving-shape masks in each masks/<Class>/<video stem>.npz.
_MASK_KEY = "moving"


@dataclass(frozen=True)
class MotionConfig:
    """What :func:`render_motion_video` draws and :func:`make_motion_dataset` writes."""

    # Number of classes (directions), 2 to 8: the first `num_classes` of DIRECTIONS (axes, then diagonals).
    num_classes: int = 4
    # Videos per class; each class is split into train and test by `test_fraction`.
    videos_per_class: int = 10
    # Frames per video; 32 gives two 16-frame C3D clips.
    frames: int = 32
    # Frame height in pixels; 112 is C3D's crop, 128 its resize (use 128x171 to mimic UCF101 after resize).
    height: int = 112
    # Frame width in pixels; an odd width is encoded in yuv444p because yuv420p needs even sizes.
    width: int = 112
    # Frames per second written into the files (the motion per frame does not depend on it).
    fps: int = 25
    # Seed of everything random: the same seed gives the same frames and the same file bytes.
    seed: int = 0
    # Fraction of each class held out for testlist01.txt (at least one video per class on each side).
    test_fraction: float = 0.3
    # (min, max) number of moving shapes per video, inclusive; all move in the class direction.
    moving_objects: tuple[int, int] = (2, 4)
    # Static distractor shapes per video: they look like the moving ones, so only motion tells them apart.
    static_objects: int = 1
    # (min, max) shape size as a fraction of min(height, width); below 0.5 so a shape never covers the torus.
    object_size: tuple[float, float] = (0.2, 0.4)
    # (min, max) speed of each moving shape in pixels per frame: 1-3 px/frame moves 16-48 px over a
    # 16-frame clip, clearly visible; at most min(height, width) / 4 so the direction stays unambiguous
    # on the wrapping canvas.
    speed: tuple[float, float] = (1.0, 3.0)
    # Random deviation (degrees, uniform in +-jitter) of a video's direction from its class direction;
    # below 22.5 so classes 45 degrees apart never overlap.
    direction_jitter: float = 10.0
    # Standard deviation (in 0-255 units) of Gaussian pixel noise drawn afresh for every frame; 0 = none.
    noise: float = 0.0
    # x264 quantiser, the same for every frame (0 = lossless, ~20 = nearly invisible loss): a constant
    # quantiser rather than a rate factor, so that no frame's quality depends on its neighbours' content.
    qp: int = 20
    # Code every frame as a key frame, so that no decoded frame depends on its neighbours (see the module
    # docstring); False gives files about 5x smaller but motion-compensated, as real videos are.
    intra_only: bool = True

    def __post_init__(self) -> None:
        _check_int("num_classes", self.num_classes, 2, len(DIRECTIONS), "there are 8 directions")
        _check_int("videos_per_class", self.videos_per_class, 2, None, "a train and a test video each")
        _check_int("frames", self.frames, 2, None, "motion needs at least two frames")
        _check_int("height", self.height, 16, None, "")
        _check_int("width", self.width, 16, None, "")
        _check_int("fps", self.fps, 1, None, "")
        _check_int("seed", self.seed, 0, None, "numpy seeds are non-negative")
        _check_int("static_objects", self.static_objects, 0, None, "")
        _check_int("qp", self.qp, 0, 51, "x264's range")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}; e.g. 0.3 for 30%")
        _check_range("moving_objects", self.moving_objects, 1, None, int)
        _check_range("object_size", self.object_size, 0.0, 0.5, float)
        _check_range("speed", self.speed, 0.0, min(self.height, self.width) / 4, float)
        for name in ("moving_objects", "object_size", "speed"):  # lists (e.g. from JSON) become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.object_size[0] <= 0 or self.speed[0] <= 0:
            raise ValueError(
                f"object_size and speed must be positive, got object_size={self.object_size}, "
                f"speed={self.speed}; a shape needs a size and motion a speed to carry the class"
            )
        if not 0.0 <= self.direction_jitter < 22.5:
            raise ValueError(
                f"direction_jitter must be in [0, 22.5) degrees, got {self.direction_jitter}; "
                "larger jitter lets neighbouring diagonal classes overlap"
            )
        if not self.noise >= 0.0:
            raise ValueError(f"noise must be >= 0 (0-255 units), got {self.noise}; use 0 for no noise")

    @property
    def class_names(self) -> list[str]:
        """Class names, sorted: label ``i`` is ``class_names[i]`` (``classInd.txt`` lists ``i + 1``)."""
        return motion_class_names(self.num_classes)

    @property
    def num_test_per_class(self) -> int:
        """Videos per class in the test split: ``round(videos_per_class * test_fraction)``, clamped to keep
        at least one video on each side."""
        return min(max(round(self.videos_per_class * self.test_fraction), 1), self.videos_per_class - 1)


def _check_int(name: str, value: object, low: int, high: int | None, why: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bounds}, got {value}" + (f" ({why})" if why else ""))


def _check_range(name: str, pair: object, low: float, high: float | None, kind: type) -> None:
    allowed = (int, np.integer) if kind is int else (int, float, np.integer, np.floating)
    ok = isinstance(pair, tuple | list) and len(pair) == 2
    if not ok or not all(isinstance(v, allowed) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{name} must be a ({kind.__name__} min, {kind.__name__} max) pair, got {pair!r}")
    lo, hi = pair
    if not (low <= lo <= hi and (high is None or hi <= high)):
        bounds = f"{low} <= min <= max" + ("" if high is None else f" <= {high:g}")
        raise ValueError(f"{name} must satisfy {bounds}, got {pair!r}")


def motion_class_names(num_classes: int = 4) -> list[str]:
    """Names of the first ``num_classes`` directions of :data:`DIRECTIONS`, sorted (= label order)."""
    _check_int("num_classes", num_classes, 2, len(DIRECTIONS), "there are 8 directions")
    return sorted(list(DIRECTIONS)[:num_classes])


# ----------------------------------------------------------------------------------------------- rendering


def _smooth_noise(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Isotropic smooth noise in [0, 1], ``(height, width)``, periodic so that it tiles the torus.

    White noise blurred by a Gaussian of ``sigma`` pixels, applied in the Fourier domain (which wraps).
    """
    fy = np.fft.fftfreq(height)[:, None]  # (H, 1) cycles per pixel
    fx = np.fft.rfftfreq(width)[None, :]  # (1, W // 2 + 1)
    gain = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))  # Gaussian blur's transfer function
    field = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((height, width))) * gain, s=(height, width))
    field -= field.min()
    return field / max(float(field.max()), 1e-12)  # (H, W)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 255.0, size=3)  # (3,)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random two-colour texture ``(H, W, 3)`` uint8: smooth noise at a random scale plus finer grain."""
    coarse = _smooth_noise(rng, height, width, sigma=rng.uniform(2.0, 6.0))[..., None]  # (H, W, 1)
    fine = _smooth_noise(rng, height, width, sigma=1.0)[..., None] - 0.5  # (H, W, 1)
    c0, c1 = _colour(rng), _colour(rng)
    image = c0 + (c1 - c0) * coarse + 40.0 * fine  # (H, W, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def _sprite(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A random textured shape in a ``size`` x ``size`` box: colours ``(s, s, 3)`` uint8, mask ``(s, s)``.

    Shape (ellipse, rectangle or diamond), rotation, aspect, texture (stripes, checks or blobs) and colours
    are all drawn here, from ``rng`` alone: nothing about a shape depends on the class.
    """
    r = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size] - r  # (s, s) each, centred
    angle = rng.uniform(0.0, np.pi)
    u = x * np.cos(angle) + y * np.sin(angle)  # (s, s) coordinates along the shape's axes
    v = -x * np.sin(angle) + y * np.cos(angle)
    a = r + 0.5  # half-axes: the long one fills the box, the short one is 50-100% of it
    b = a * rng.uniform(0.5, 1.0)
    kind = rng.integers(3)
    if kind == 0:
        mask = (u / a) ** 2 + (v / b) ** 2 <= 1.0  # ellipse
    elif kind == 1:
        mask = (np.abs(u) <= a / math.sqrt(2)) & (np.abs(v) <= b / math.sqrt(2))  # rectangle, fits the box
    else:
        mask = np.abs(u) / a + np.abs(v) / b <= 1.0  # diamond

    t_angle = rng.uniform(0.0, 2 * np.pi)
    period = rng.uniform(4.0, 12.0)
    tu = x * np.cos(t_angle) + y * np.sin(t_angle)  # (s, s) texture coordinates, own orientation
    tv = -x * np.sin(t_angle) + y * np.cos(t_angle)
    texture_kind = rng.integers(3)
    if texture_kind == 0:
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * tu / period + rng.uniform(0, 2 * np.pi))  # stripes
    elif texture_kind == 1:
        pattern = ((np.floor(tu / period) + np.floor(tv / period)) % 2).astype(np.float64)  # checks
    else:
        pattern = _smooth_noise(rng, size, size, sigma=period / 4)  # blobs
    c0, c1 = _colour(rng), _colour(rng)
    colours = c0 + (c1 - c0) * pattern[..., None]  # (s, s, 3)
    return np.clip(colours, 0, 255).astype(np.uint8), mask


@overload
def render_motion_video(
    label: int,
    rng: np.random.Generator | int | None = ...,
    config: MotionConfig = ...,
    *,
    return_masks: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def render_motion_video(
    label: int,
    rng: np.random.Generator | int | None = ...,
    config: MotionConfig = ...,
    *,
    return_masks: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


def render_motion_video(
    label: int,
    rng: np.random.Generator | int | None = None,
    config: MotionConfig = MotionConfig(),
    *,
    return_masks: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Draw one video of class ``label`` (an index into ``config.class_names``): uint8 ``(T, H, W, 3)``.

    Pure numpy and vectorised over frames. ``rng`` is a numpy Generator or a seed; the same seed gives the
    same frames. ``config`` supplies the size, number of frames and the design knobs (its split and
    encoder fields are not used here).

    ``return_masks=True`` returns ``(frames, masks)``: ``masks`` is bool ``(T, H, W)``, True where a moving
    shape is visible in that frame (a static distractor drawn over it hides it; the static background and
    distractors are never in the mask; pixel noise does not change it). It is the ground truth of "where the
    class is" for pointing games (:func:`vidlens.metrics.pointing_energy`). Asking for it draws nothing more
    from ``rng``: the frames are the same either way.
    """
    names = config.class_names
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or not 0 <= label < len(names):
        raise ValueError(f"label must be an int in [0, {len(names)}) for the classes {names}, got {label!r}")
    rng = np.random.default_rng(rng)
    T, H, W = config.frames, config.height, config.width
    angle = math.radians(DIRECTIONS[names[label]] + rng.uniform(-1.0, 1.0) * config.direction_jitter)
    direction = np.array([-math.sin(angle), math.cos(angle)])  # (dy, dx): image rows grow downwards

    video = np.broadcast_to(_background(rng, H, W), (T, H, W, 3)).copy()  # (T, H, W, 3)
    pixels = video.reshape(T * H * W, 3)  # a view: one row per pixel of the video
    n_moving = int(rng.integers(config.moving_objects[0], config.moving_objects[1] + 1))
    moving = np.arange(n_moving + config.static_objects) < n_moving  # which shapes move
    rng.shuffle(moving)  # random stacking order: moving and static shapes occlude each other alike
    t = np.arange(T)[:, None]  # (T, 1)
    visible = np.zeros(T * H * W, bool) if return_masks else None  # one entry per pixel of the video
    side = min(H, W)
    for is_moving in moving:
        size = max(3, round(side * rng.uniform(*config.object_size)))
        colours, mask = _sprite(rng, size)
        start = rng.uniform(0.0, 1.0, size=2) * (H, W)  # (2,) uniform on the torus: no side is special
        velocity = direction * rng.uniform(*config.speed) if is_moving else np.zeros(2)  # (2,) px/frame
        corner = np.floor(start + velocity * t).astype(np.int64)  # (T, 2) top-left corner per frame
        dy, dx = np.nonzero(mask)  # (m,) each: the shape's pixels within its box
        rows = (corner[:, :1] + dy) % H  # (T, m) wrapped onto the torus
        cols = (corner[:, 1:] + dx) % W  # (T, m)
        index = (t * H + rows) * W + cols  # (T, m) into the video's pixels
        pixels[index] = colours[dy, dx]  # (T, m, 3) <- (m, 3), painted over what is there
        if visible is not None:
            visible[index] = is_moving  # a later shape hides what it covers, moving or not
    if config.noise > 0:
        noisy = video + rng.normal(0.0, config.noise, size=video.shape)  # (T, H, W, 3) float64
        video = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if visible is not None:
        return video, visible.reshape(T, H, W)
    return video


# ------------------------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class MotionDataset:
    """What :func:`make_motion_dataset` wrote (or found): paths are relative to ``root``, labels 0-based."""

    root: Path
    config: MotionConfig
    # Sorted class names; label i is class_names[i], listed as i + 1 in classInd.txt.
    class_names: list[str]
    # (relative path, label) of the training videos, as in trainlist01.txt.
    train: list[tuple[str, int]]
    # (relative path, label) of the held-out test videos, as in testlist01.txt.
    test: list[tuple[str, int]]
    # True when an identical dataset was already on disk and nothing was written.
    reused: bool = False
    # True when the dataset has masks of its moving shapes (root/masks/..., see load_motion_masks).
    masks: bool = False

    @property
    def splits_dir(self) -> Path:
        """Folder of classInd.txt, trainlist01.txt and testlist01.txt."""
        return self.root / "splits"

    @property
    def num_videos(self) -> int:
        return len(self.train) + len(self.test)


def _video_name(name: str, group: int, width: int) -> str:
    return f"{name}/v_{name}_g{group:0{width}d}_c01.mp4"


_Split = list[tuple[str, int]]  # (path relative to root, 0-based label)


def _plan(config: MotionConfig) -> tuple[_Split, _Split, list[tuple[str, int, int]]]:
    """Train list, test list and what to render: (relative path, label, index within the class).

    Like UCF101, where the first groups form the test split, video ``g01..`` of every class are the
    test videos; all videos are independent draws, so this is a random stratified split.
    """
    width = max(2, len(str(config.videos_per_class)))
    n_test = config.num_test_per_class
    train, test, jobs = [], [], []
    for label, name in enumerate(config.class_names):
        for index in range(config.videos_per_class):
            path = _video_name(name, index + 1, width)
            (test if index < n_test else train).append((path, label))
            jobs.append((path, label, index))
    return train, test, jobs


def _video_seed(config: MotionConfig, name: str, index: int) -> np.random.SeedSequence:
    # Keyed by the class name's direction and the video's index, so that adding classes or videos never
    # changes the videos that were already there.
    return np.random.SeedSequence([config.seed, list(DIRECTIONS).index(name), index])


def _config_json(config: MotionConfig) -> dict:
    return json.loads(json.dumps(asdict(config)))  # tuples become lists, as after a round trip to disk


def _read_manifest(root: Path) -> dict | None:
    """synth.json as a dict when it is one of ours, else None."""
    try:
        manifest = json.loads((root / "synth.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == _FORMAT else None


def _remove_previous(root: Path, manifest: dict) -> None:
    """Delete the files a previous synthetic dataset listed (and nothing else), then its empty folders."""
    resolved = root.resolve()
    for rel in manifest.get("files", []):
        path = (root / rel).resolve()
        if path.is_relative_to(resolved) and path.is_file():
            path.unlink()
    folders = {parent for r in manifest.get("files", []) for parent in Path(r).parents} | {Path("splits")}
    for rel in sorted(folders, key=lambda f: len(f.parts), reverse=True):  # masks/MoveUp before masks
        folder = root / rel
        if folder.is_dir() and folder.resolve() != resolved and not any(folder.iterdir()):
            folder.rmdir()


def make_motion_dataset(
    root: str | Path,
    config: MotionConfig = MotionConfig(),
    *,
    masks: bool = False,
    progress: bool = True,
    overwrite: bool = False,
) -> MotionDataset:
    """Render and encode the motion dataset of ``config`` into ``root``, in the UCF101 layout.

    Videos are H.264 ``.mp4`` files (one thread per encoder, so the files are byte-identical for a seed).
    ``masks=True`` also writes, for every video, where its moving shapes are (``root/masks/<Class>/<video
    stem>.npz``, read with :func:`load_motion_masks`); the videos are the same bytes with or without them.
    If ``root`` already holds a complete dataset made from the same config (with masks, when masks are
    asked for), nothing is written and the returned ``reused`` is True; a synthetic dataset made from
    another config, or without the masks now asked for, is replaced (only the files it listed are deleted).
    A non-empty directory that is not a synthetic dataset is refused unless ``overwrite=True``, which writes
    the dataset into it (replacing files of the same names, leaving the others alone).
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} is a file; pass a directory (it is created if missing) as root")
    train, test, jobs = _plan(config)
    names = config.class_names
    previous = _read_manifest(root) if root.is_dir() else None
    wanted = _config_json(config)
    if (
        previous is not None
        and previous.get("complete") is True
        and previous.get("config") == wanted
        and (previous.get("masks") is True or not masks)
        and all((root / rel).is_file() for rel in previous.get("files", []))
    ):
        has_masks = previous.get("masks") is True
        return MotionDataset(root, config, names, train, test, reused=True, masks=has_masks)
    if previous is not None:
        _remove_previous(root, previous)
    elif root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{root} is not empty and holds no synthetic dataset (no vidlens synth.json); choose an empty or "
            "new directory, or pass overwrite=True to write the dataset into it anyway"
        )

    root.mkdir(parents=True, exist_ok=True)
    split_files = ["splits/classInd.txt", "splits/trainlist01.txt", "splits/testlist01.txt"]
    mask_files = [_mask_name(path) for path, _, _ in jobs] if masks else []
    manifest = {
        "format": _FORMAT,
        "complete": False,  # set once every file is written, so an interrupted run is redone, not reused
        "config": wanted,
        "class_names": names,
        "files": [path for path, _, _ in jobs] + mask_files + split_files,
    }
    if masks:  # only then, so that a dataset without masks has the synth.json it always had
        manifest["masks"] = True
    (root / "synth.json").write_text(json.dumps(manifest, indent=1) + "\n")

    pix_fmt = "yuv420p" if config.height % 2 == 0 and config.width % 2 == 0 else "yuv444p"
    # One encoder thread: x264's output then depends on nothing but the frames (with several threads
    # it depends on the machine's core count), so a seed gives the same bytes everywhere.
    options = {"qp": str(config.qp), "preset": "veryfast", "threads": "1"}
    if config.intra_only:
        options["g"] = "1"  # GOP of one frame: every frame is a key frame
    for path, label, index in tqdm(jobs, desc=f"motion dataset {root}", unit="video", disable=not progress):
        rng = np.random.default_rng(_video_seed(config, names[label], index))
        if masks:
            frames, moving = render_motion_video(label, rng, config, return_masks=True)  # moving: (T, H, W)
            _write_mask(root / _mask_name(path), moving)
        else:
            frames = render_motion_video(label, rng, config)  # (T, H, W, 3) uint8
        write_video(root / path, frames, config.fps, codec="libx264", pix_fmt=pix_fmt, options=options)

    splits = root / "splits"
    splits.mkdir(exist_ok=True)
    (splits / "classInd.txt").write_text("".join(f"{i + 1} {name}\n" for i, name in enumerate(names)))
    (splits / "trainlist01.txt").write_text("".join(f"{path} {label + 1}\n" for path, label in train))
    (splits / "testlist01.txt").write_text("".join(f"{path}\n" for path, _ in test))
    manifest["complete"] = True
    (root / "synth.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return MotionDataset(root, config, names, train, test, reused=False, masks=masks)


# ------------------------------------------------------------------------------------------------- masks


def _mask_name(video: str) -> str:
    """``MoveDown/v_MoveDown_g01_c01.mp4`` -> ``masks/MoveDown/v_MoveDown_g01_c01.npz`` (relative to root)."""
    rel = Path(video)
    return (Path("masks") / rel.parent / f"{rel.stem}.npz").as_posix()


def _write_mask(path: Path, moving: np.ndarray) -> None:
    # Not atomic, like the videos: synth.json is marked complete only after every file is written.
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{_MASK_KEY: moving})


def motion_mask_path(root: str | Path, video_path: str | Path) -> Path:
    """Where :func:`make_motion_dataset` writes the masks of ``video_path``: ``root/masks/<Class>/<stem>.npz``.

    ``video_path`` is the video's path relative to ``root`` (as in the split files and
    :attr:`MotionDataset.train`) or any path to it under ``root``.
    """
    root = Path(root)
    video = Path(video_path)
    if video.is_absolute() or video.parts[: len(root.parts)] == root.parts:
        try:
            video = video.resolve().relative_to(root.resolve())
        except ValueError:
            raise ValueError(
                f"{video_path} is not under the dataset root {root}: give the video's path relative to the "
                "root (as in the split files, e.g. MoveDown/v_MoveDown_g01_c01.mp4) or a path inside it"
            ) from None
    return root / _mask_name(video.as_posix())


def load_motion_masks(root: str | Path, video_path: str | Path) -> np.ndarray:
    """The moving-shape masks of one video of a dataset made with ``masks=True``: bool ``(T, H, W)``.

    ``masks[t, y, x]`` is True where a moving shape is visible in frame ``t`` of the video as rendered (see
    :func:`render_motion_video`), at the dataset's frame size: crop or resize them as the frames were when
    comparing with a map computed on clips. ``video_path`` is relative to ``root`` (as in the split files)
    or a path under it. A dataset made without masks raises ``FileNotFoundError`` saying how to add them.
    """
    root = Path(root)
    path = motion_mask_path(root, video_path)
    if not path.is_file():
        manifest = _read_manifest(root)
        if manifest is None:
            why = f"{root} holds no synthetic motion dataset (no vidlens synth.json)"
        elif manifest.get("masks") is not True:
            why = f"the dataset in {root} was made without masks"
        else:
            why = f"{path} is missing (is {video_path} a video of this dataset?)"
        raise FileNotFoundError(
            f"no moving-object masks for {video_path}: {why}; make the dataset with masks: "
            f"make_motion_dataset(root, config, masks=True) or `vidlens synth {root} --masks` (the same seed "
            "and options give the same videos, plus the masks)"
        )
    with np.load(path) as archive:
        if _MASK_KEY not in archive.files:
            raise ValueError(f"{path} holds no {_MASK_KEY!r} array (it has {archive.files}); regenerate it")
        moving = archive[_MASK_KEY]
    if moving.dtype != np.bool_ or moving.ndim != 3:
        raise ValueError(f"{path}: expected bool (T, H, W) masks, got {moving.dtype} {moving.shape}")
    return moving
