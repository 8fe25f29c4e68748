"""The demo (``make demo``, ``vidlens demo``): one page that tells the seeds' story on built-in data.

A 3D ConvNet learns motion that a single-frame net cannot (Karpathy et al. 2014; Tran et al. 2015), its
features make a good video descriptor (Tran et al. 2015), and here is what it learned, seen from every angle
(Zeiler and Fergus 2014; Selvaraju et al. 2017; Feichtenhofer et al. 2018; Ayinde et al. 2019). Each step
below runs vidlens' own commands, in this process, into the report's folder, and writes its section of the
page (:mod:`vidlens.report`): the figures those commands drew, with what they show, why they matter and the
exact command that reproduces them, given from the report's folder.

Steps (each resumable, see :func:`vidlens.report.run_steps`):

1. ``data``: a synthetic motion dataset (:mod:`vidlens.data.synthetic`), or the user's ``--data ROOT``.
2. ``train``: c3d_depth3 and single_frame trained with the same recipe and budget, then evaluated; or the
   user's ``--run RUN``, evaluated.
3. ``features``: fc6 descriptors of every video, a linear SVM with and without PCA to 10 dimensions, t-SNE.
4. ``inside``: first-layer feature maps and filters, a deconvolution of the strongest deep unit.
5. ``attribution``: Grad-CAM, Grad-CAM++, time-resolved Grad-CAM and saliency on one test video.
6. ``actmax``: the clip each class logit likes best, and one class at several temporal weights (chi).
7. ``units``: filter redundancy, correlation against mutual information, which units see motion.

Nothing here needs a download. At size ``small`` the whole demo takes about 6-7 minutes on 2 CPU cores.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidlens.report import Figure, Section, Step, StepResult, Table

__all__ = ["DEMO_MODELS", "SIZES", "DemoSize", "demo_steps", "run_demo"]

# The two nets of the seeds' claim: (registry name, label), the 3D net first.
DEMO_MODELS = (("c3d_depth3", "3D ConvNet (3x3x3)"), ("single_frame", "single-frame net"))
# What the recipe adds to every model (benchmarks/RESULTS.md, "Why the nets did not learn").
_RECIPE = "scratch"
# The frame cache the nets train and are evaluated from (vidlens.data.cache), inside the report's folder.
_FRAMES = "frames"


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is: "small" fits ten minutes on 2 CPU cores with room to spare, "tiny" is for tests
    (seconds; nothing is learnt)."""

    videos_per_class: int  # synthetic videos per class (4 classes; 30% held out for test)
    frames: int  # frames per synthetic video (two 16-frame clips at 32)
    width_3d: int  # c3d_depth3's width (filters of its first conv)
    width_2d: int  # single_frame's width
    epochs: int  # epochs of both nets: the same budget
    eval_clips: int  # clips per test video when evaluating
    stride: int  # frames between the clips of a video when extracting descriptors
    actmax_steps: int  # gradient steps of activation maximisation
    chi_sweep: tuple[float, ...]  # temporal weights of the sweep, slow to fast
    natural_clips: int  # real clips that scale actmax and feed dependence / units
    speeds: tuple[float, ...]  # drifting-stimulus speeds of the direction tuning, pixels per frame
    held_frames: int  # frames held still, one at a time, for temporal sensitivity
    directions: int  # directions of the drifting stimuli
    phases: int  # phases of the moving dot fields averaged per stimulus
    seed: int = 0


SIZES: dict[str, DemoSize] = {
    "small": DemoSize(
        videos_per_class=96,
        frames=32,
        width_3d=4,
        width_2d=8,
        epochs=8,
        eval_clips=2,
        stride=16,
        actmax_steps=128,
        chi_sweep=(10000.0, 1000.0, 100.0, 0.0),
        natural_clips=16,
        speeds=(1.0, 2.0, 4.0),
        held_frames=4,
        directions=8,
        phases=2,
    ),
    "tiny": DemoSize(
        videos_per_class=8,  # enough for 3-fold cross-validation of a PCA to 10 dimensions
        frames=16,
        width_3d=2,
        width_2d=2,
        epochs=1,
        eval_clips=1,
        stride=16,
        actmax_steps=2,
        chi_sweep=(100.0, 0.0),
        natural_clips=4,
        speeds=(2.0,),
        held_frames=2,
        directions=4,
        phases=1,
    ),
}


def demo_size(size: str | DemoSize) -> DemoSize:
    """A :class:`DemoSize` from a name of :data:`SIZES` (or itself)."""
    if isinstance(size, DemoSize):
        return size
    if size not in SIZES:
        raise KeyError(f"unknown demo size {size!r}; choose from {', '.join(SIZES)}")
    return SIZES[size]


# ------------------------------------------------------------------------------------------ running commands


@dataclass
class _Demo:
    """What every step shares: the report's folder, the size, the user's data and run, and a log."""

    out: Path
    size: DemoSize
    data: Path | None = None  # --data ROOT: the user's dataset instead of the synthetic one
    run: Path | None = None  # --run RUN: the user's trained model instead of training the demo's nets
    workers: int = 2
    log: Callable[[str], None] = print

    def shown(self, path: Path) -> str:
        """``path`` as a command on the page gives it: relative to the report's folder when inside it."""
        return self.rel(path) if self.inside(path) else str(path.resolve())

    def inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.out.resolve())

    def vidlens(self, step: str, *args: str | Path | float, echo: bool = False) -> str:
        """Run ``vidlens ARGS`` in this process (its printed output goes to ``steps/<step>.log``, or also to
        the terminal with ``echo``) and return the command as the page shows it (from the report's folder).

        Raises RuntimeError, naming the command and the log, when the command fails."""
        from vidlens.cli import build_parser

        argv = [str(a) for a in args]
        shown = "vidlens " + shlex.join(self.shown(a) if isinstance(a, Path) else str(a) for a in args)
        self.log(f"  $ {shown}")
        log_path = self.out / "steps" / f"{step}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        parsed = build_parser().parse_args(argv)
        with open(log_path, "a") as log_file:
            log_file.write(f"$ {shown}\n")
            log_file.flush()
            sink = _Tee(log_file, sys.stdout) if echo else log_file
            with contextlib.redirect_stdout(sink):  # type: ignore[type-var]
                try:
                    status = parsed.func(parsed)
                except Exception as err:
                    raise RuntimeError(f"`{shown}` failed: {err} (its output: {log_path})") from err
        if status:
            raise RuntimeError(f"`{shown}` exited with status {status}; its output is in {log_path}")
        return shown

    def rel(self, path: Path) -> str:
        """A file under the report's folder as a figure path (relative, forward slashes)."""
        return path.resolve().relative_to(self.out.resolve()).as_posix()


class _Tee:
    """A text stream that writes to several."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


def _one(folder: Path, pattern: str) -> Path:
    """The one file of ``folder`` that matches ``pattern`` (a command wrote it there)."""
    found = sorted(folder.glob(pattern))
    if not found:
        raise FileNotFoundError(f"no {pattern} in {folder}: the command that writes it did not")
    return found[0]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _num(text: str | float | None, digits: int = 2) -> str:
    """A number for a table cell (a dash when there is none)."""
    if text is None or text == "":
        return "-"
    value = float(text)
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


# ------------------------------------------------------------------------------------------------ the steps


def _data_step(demo: _Demo) -> Callable:
    from vidlens.data.datasets import load_videos
    from vidlens.video import read_video
    from vidlens.viz import save_clips

    size = demo.size

    def run(out: Path, done: Mapping[str, dict]) -> StepResult:
        if demo.data is not None:
            root, command = demo.data, ""
            intro = f"Your dataset, {demo.shown(root)}."
        else:
            root = out / "data"
            command = demo.vidlens(
                "data", "synth", root, "--videos-per-class", size.videos_per_class, "--frames", size.frames,
                "--seed", size.seed, "--quiet",
            )  # fmt: skip
            intro = (
                "Every video shows textured shapes moving in one direction (its class) among static "
                "look-alikes: no single frame tells the class, only motion does. It is the seeds' claim made "
                "testable: a net that sees one frame at a time must fail here, a 3D net must not."
            )
        train = load_videos(root, subset="train")
        test = load_videos(root, subset="test")
        classes = list(train.classes)
        examples = {}  # class -> its first test video
        for record in test.records:
            examples.setdefault(classes[record.label], record.path)
        shown = [c for c in classes if c in examples][:8]
        clips = [read_video(examples[c], size=(112, 112), max_frames=16) for c in shown]
        n = min(len(c) for c in clips)
        files = save_clips(
            out / "figures" / "data",
            "examples",
            [c[:n] for c in clips],
            shown,
            fps=8,
            title="one test video per class",
        )
        focus_class = classes[len(classes) // 2] if classes[len(classes) // 2] in examples else shown[0]
        section = Section(
            "The data: motion that no single frame shows",
            intro,
            tables=[
                Table(
                    ["class", "train videos", "test videos"],
                    [
                        [c, sum(r.label == i for r in train.records), sum(r.label == i for r in test.records)]
                        for i, c in enumerate(classes)
                    ],
                    caption=f"{len(train) + len(test)} videos, {train.layout} layout (split 1)",
                )
            ],
            figures=[
                Figure(
                    demo.rel(files["gif"]),
                    "One test video of each class, 16 frames at 112x112.",
                    "Pause it on any frame: the shapes give nothing away; only where they go next does "
                    "(Karpathy et al. 2014: motion is what a single-frame net misses).",
                    command,
                )
            ],
        )
        return StepResult(
            section,
            {
                "root": str(root.resolve()),
                "classes": classes,
                "focus": str(examples[focus_class].resolve()),
                "focus_label": classes.index(focus_class),
            },
        )

    return run


def _train_args(demo: _Demo, root: Path, name: str, run_dir: Path) -> list[str | Path | float]:
    """``vidlens train`` with the scratch recipe at the demo's size (the same budget for every net)."""
    from vidlens.reproduce import RECIPES

    size, recipe = demo.size, RECIPES[_RECIPE]
    budget = recipe.budget(size.epochs)
    width = size.width_3d if name != "single_frame" else size.width_2d
    args: list[str | Path | float] = ["train", root, "--out", run_dir, "--model", name]
    for key, value in ({"width": width} | recipe.model_kwargs).items():
        args += ["--model-arg", f"{key}={value}"]
    args += [
        "--epochs",
        budget["epochs"],
        "--batch-size",
        budget["batch_size"],
        "--optimizer",
        budget["optimizer"],
    ]
    args += ["--lr", budget["lr"], "--weight-decay", budget["weight_decay"], "--schedule", budget["schedule"]]
    if "warmup_epochs" in budget:
        args += ["--warmup-epochs", budget["warmup_epochs"]]
    if demo.data is None:  # the synthetic frames are 112x112 already; never mirror (left would become right)
        args += ["--size", "112x112", "--crop", "112", "--flip-p", "0"]
        # Decode each video once for both nets' training and evaluation (1.2 MB a video): the single-frame
        # net's training is decode-bound. A user's dataset may not fit on disk twice: it is read as it is.
        args += ["--frame-cache", demo.out / _FRAMES]
    args += ["--eval-clips", size.eval_clips, "--workers", demo.workers, "--seed", size.seed, "--quiet"]
    if (run_dir / "config.json").is_file():
        args.append("--resume")
    return args


def _train_step(demo: _Demo) -> Callable:
    from vidlens.evaluate import CONFUSION
    from vidlens.models import count_macs, count_parameters, load_model, model_spec
    from vidlens.runs import METRICS, load_config
    from vidlens.train import CURVES

    def run(out: Path, done: Mapping[str, dict]) -> StepResult:
        root = Path(done["data"]["root"])
        rows, figures, runs, hits = [], [], {}, []
        nets = [(demo.run, None)] if demo.run is not None else [(out / "runs" / n, n) for n, _ in DEMO_MODELS]
        for run_dir, name in nets:
            if name is not None:
                train_cmd = demo.vidlens("train", *_train_args(demo, root, name, run_dir), echo=True)
                eval_cmd = demo.vidlens("train", "evaluate", run_dir, "--workers", demo.workers, "--quiet")
            elif (run_dir / METRICS).is_file():
                train_cmd, eval_cmd = "", f"vidlens evaluate {demo.shown(run_dir)}"
            else:
                train_cmd, eval_cmd = "", demo.vidlens("train", "evaluate", run_dir, "--quiet")
            config, _ = load_config(run_dir)
            label = dict(DEMO_MODELS).get(config.model, config.model)
            metrics = json.loads((run_dir / METRICS).read_text())
            model = load_model(run=run_dir).eval()
            spec = model_spec(model)
            shape = (1, *(spec.input_shape if spec is not None else (3, 16, 112, 112)))
            minutes = _train_minutes(run_dir)
            hits.append(f"{label} {100 * metrics['video_hit1']:.0f}%")
            rows.append([
                label, f"{count_parameters(model) / 1e6:.2f} M", f"{count_macs(model, shape) / 1e9:.2f} G",
                "-" if minutes is None else f"{minutes:.1f}", _num(100 * metrics["clip_hit1"], 1),
                _num(100 * metrics["video_hit1"], 1), _num(100 * metrics["video_hit5"], 1),
            ])  # fmt: skip
            how = " && ".join(c for c in (train_cmd, eval_cmd) if c)
            if not demo.inside(run_dir):  # a user's run: its pictures are copied next to the page
                copies = out / "figures" / "train" / config.model
                copies.mkdir(parents=True, exist_ok=True)
                for picture in (CURVES, CONFUSION):
                    if (run_dir / picture).is_file():
                        shutil.copy2(run_dir / picture, copies / picture)
                run_dir_figures = copies
            else:
                run_dir_figures = run_dir
            if (run_dir_figures / CURVES).is_file():
                figures.append(
                    Figure(
                        demo.rel(run_dir_figures / CURVES),
                        f"{label}: training loss and clip accuracy, epoch by epoch.",
                        "Both nets get the same data, recipe and number of steps, so their curves compare "
                        "fairly.",
                        train_cmd,
                    )
                )
            if (run_dir_figures / CONFUSION).is_file():
                figures.append(
                    Figure(
                        demo.rel(run_dir_figures / CONFUSION),
                        f"{label}: confusion matrix of the test videos (rows: true class).",
                        "A net that cannot see motion guesses; one that can fills the diagonal (Karpathy et "
                        "al. 2014; Tran et al. 2015).",
                        how,
                    )
                )
            runs[config.model] = str(run_dir.resolve())
        chance = 100 / len(done["data"]["classes"])
        intro = (
            f"Both nets trained from scratch for {demo.size.epochs} epochs with the same recipe (BatchNorm, "
            "AdamW, warm-up and cosine decay: `vidlens reproduce --recipe scratch`) and evaluated on the held-out "
            f"videos, {demo.size.eval_clips} clip(s) each. Chance is {chance:.0f}%."
            if demo.run is None
            else f"Your model ({demo.shown(demo.run)}), evaluated on its test split."
        )
        section = Section(
            "A 3D ConvNet against a single-frame net" if demo.run is None else "Your model",
            intro,
            tables=[
                Table(
                    [
                        "model",
                        "parameters",
                        "multiply-adds per clip",
                        "training (min)",
                        "clip hit@1 %",
                        "video hit@1 %",
                        "video hit@5 %",
                    ],
                    rows,
                    caption="Test split; video hit@k averages the class probabilities of a video's clips",
                )
            ],
            figures=figures,
        )
        section.highlights.append(
            f"Video hit@1 on held-out videos: {', '.join(hits)} (chance {chance:.0f}%)."
        )
        return StepResult(section, {"runs": runs})

    return run


def _remove_runs(out: Path) -> None:
    """Remove the demo's trained runs, so that they are trained afresh (not resumed), and the frames
    decoded for them (the data they were decoded from may have changed)."""
    for name, _ in DEMO_MODELS:
        shutil.rmtree(out / "runs" / name, ignore_errors=True)
    shutil.rmtree(out / _FRAMES, ignore_errors=True)


def _remove_features(out: Path) -> None:
    """Remove the descriptors of the nets as they were: ``vidlens extract`` refuses to add another model's
    descriptors to a folder (its journal records the weights), and retrained nets are other models."""
    shutil.rmtree(out / "features", ignore_errors=True)


def _train_minutes(run_dir: Path) -> float | None:
    """Minutes of training a run's log records (its epochs' seconds), or None without a log."""
    log = run_dir / "log.jsonl"
    if not log.is_file():
        return None
    seconds = [json.loads(line).get("seconds", 0.0) for line in log.read_text().splitlines() if line.strip()]
    return sum(seconds) / 60


def _nets(done: Mapping[str, dict]) -> list[tuple[str, str, Path]]:
    """(registry name, label, run) of the trained nets, the 3D net first."""
    labels = dict(DEMO_MODELS)
    return [(name, labels.get(name, name), Path(run)) for name, run in done["train"]["runs"].items()]


def _layers(run: Path) -> tuple[str, str, str]:
    """A run's first layer, its deepest convolutional map and its classifier, by the names of its taps."""
    from vidlens.models import load_model, model_spec

    spec = model_spec(load_model(run=run))
    taps = list(spec.feature_layers) if spec is not None else []
    if not taps:
        raise ValueError(
            f"the model of {run} names no layers (ModelSpec.feature_layers): nothing to look into"
        )
    classifier = spec.classifier or taps[-1]
    maps = [t for t in taps if not t.startswith(("pool", "fc")) and t != classifier]
    return taps[0], (maps or taps)[-1], classifier


def _features_step(demo: _Demo) -> Callable:
    def run(out: Path, done: Mapping[str, dict]) -> StepResult:
        root = Path(done["data"]["root"])
        rows, figures, found = [], [], []
        for name, label, run_dir in _nets(done):
            store = out / "features" / name
            extract = demo.vidlens(
                "features", "extract", root, "--run", run_dir, "--out", store, "--layer", "fc6",
                "--stride", demo.size.stride, "--workers", demo.workers, "--quiet",
            )  # fmt: skip
            results = []
            for pca in (None, 10):
                target = store / ("linear.json" if pca is None else f"linear_pca{pca}.json")
                more = [] if pca is None else ["--pca", pca]
                linear = demo.vidlens("features", "linear", store, "--data", root, *more, "--out", target)
                results.append(json.loads(target.read_text()))
            rows.append([
                label, "fc6", results[0]["dim"], _num(100 * results[0]["accuracy"], 1),
                _num(100 * results[1]["accuracy"], 1), results[0]["n_train"], results[0]["n_test"],
            ])  # fmt: skip
            found.append(
                f"{label} {100 * results[0]['accuracy']:.0f}% ({100 * results[1]['accuracy']:.0f}% after PCA to 10)"
            )
            png = out / "figures" / "features" / f"tsne_{name}.png"
            embed = demo.vidlens("features", "embed", store, "--data", root, "--out", png)
            figures.append(
                Figure(
                    demo.rel(png),
                    f"{label}: t-SNE map of the video descriptors (fc6 averaged over clips, L2-normalised), "
                    "coloured by class.",
                    "Tran et al. 2015 show C3D's descriptors cluster by action even for classes it never "
                    "trained on; here the 3D net's should separate the directions, the single-frame net's "
                    "cannot.",
                    f"{extract} && {embed}",
                )
            )
        section = Section(
            "Features: fc6 as a video descriptor",
            "C3D's recipe (Tran et al. 2015): fc6 activations of 16-frame clips, averaged over a video and "
            f"L2-normalised (clips every {demo.size.stride} frames here), then a linear SVM whose C is chosen "
            "by 5-fold cross-validation on the training split, also after PCA to 10 dimensions.",
            tables=[
                Table(
                    ["net", "layer", "dims", "linear SVM %", "PCA-10 + SVM %", "train videos", "test videos"],
                    rows,
                    caption=f"Test accuracy of the descriptors: {linear}",
                )
            ],
            figures=figures,
            highlights=[f"fc6 descriptors with a linear SVM: {', '.join(found)}."],
        )
        return StepResult(section)

    return run


def _video_args(done: Mapping[str, dict]) -> tuple[Path, int, str]:
    """The test video every per-clip figure explains, its label and class name."""
    data = done["data"]
    return Path(data["focus"]), data["focus_label"], data["classes"][data["focus_label"]]


def _inside_step(demo: _Demo) -> Callable:
    def run(out: Path, done: Mapping[str, dict]) -> StepResult:
        video, _, cls = _video_args(done)
        figures = []
        for i, (name, label, run_dir) in enumerate(_nets(done)):
            first, deep, _ = _layers(run_dir)
            where = out / "figures" / "inside" / name
            cmd = demo.vidlens(
                "inside", "featuremaps", video, "--run", run_dir, "--layer", first, "--out", where / "maps"
            )
            figures.append(
                Figure(
                    demo.rel(_one(where / "maps", "featuremaps_*_grid_*.gif")),
                    f"{label}: every channel of {first} on a {cls} test video (left: the frames).",
                    "Tran et al. 2015 (fig. 4) show C3D's first layers respond to moving edges and change "
                    "over time; a single-frame net's maps just follow each frame's appearance."
                    if i == 0
                    else "The single-frame net sees each frame alone: its maps are frame-by-frame copies "
                    "of appearance, with no notion of where things go.",
                    cmd,
                )
            )
            cmd = demo.vidlens(
                "inside", "filters", "--run", run_dir, "--layer", first, "--out", where / "filters"
            )
            figures.append(
                Figure(
                    demo.rel(_one(where / "filters", "filters_*.gif")),
                    f"{label}: the learned kernels of {first}, each shown over its time slices.",
                    "A 3x3x3 kernel has three time slices: when they differ, the filter responds to change "
                    "(Tran et al. 2015, section 3.2); a 2D kernel has one."
                    if i == 0
                    else "A single-frame net's kernels are 2D: one slice, no time.",
                    cmd,
                )
            )
            if i == 0:
                cmd = demo.vidlens(
                    "inside", "deconv", video, "--run", run_dir, "--layer", deep, "--out", where / "deconv"
                )
                figures.append(
                    Figure(
                        demo.rel(_one(where / "deconv", "deconv_*_f*_rgb.gif")),
                        f"{label}: the strongest activation of {deep} projected back to the pixels "
                        "(deconvolution), signed colours.",
                        "Zeiler and Fergus 2014 project one strong unit back through the net; C3D's paper "
                        "(fig. 4) does so for video and finds units that follow the moving object.",
                        cmd,
                    )
                )
        section = Section(
            "Inside: feature maps, filters and a deconvolution",
            "What the nets' layers compute on one test video, and what their first filters are.",
            figures=figures,
        )
        return StepResult(section)

    return run


def _attribution_step(demo: _Demo) -> Callable:
    def run(out: Path, done: Mapping[str, dict]) -> StepResult:
        video, target, cls = _video_args(done)
        figures = []
        for i, (name, label, run_dir) in enumerate(_nets(done)):
            _, deep, _ = _layers(run_dir)
            where = out / "figures" / "attribution" / name
            methods = (
                [
                    (
                        "gradcam",
                        "Grad-CAM",
                        "Selvaraju et al. 2017: where the class evidence lies, from the "
                        "gradients of the class logit at the deepest convolution, frame by frame.",
                    ),
                    (
                        "gradcam++",
                        "Grad-CAM++",
                        "Chattopadhyay et al. 2018 weigh positive gradients per "
                        "location, which separates several instances of a class better than Grad-CAM.",
                    ),
                    (
                        "time",
                        "time-resolved Grad-CAM",
                        "One channel weighting per time step instead of one "
                        "for the clip: when in the clip the evidence lies, not only where.",
                    ),
                ]
                if i == 0
                else []
            )
            for method, title, why in methods:
                cmd = demo.vidlens(
                    "attribution", "cam", video, "--run", run_dir, "--layer", deep, "--method", method,
                    "--target", target, "--out", where / method,
                )  # fmt: skip
                figures.append(
                    Figure(
                        demo.rel(_one(where / method, "*.gif")),
                        f"{label}: {title} of class {cls} at {deep} on a {cls} test video.",
                        why,
                        cmd,
                    )
                )
            cmd = demo.vidlens(
                "attribution",
                "saliency",
                video,
                "--run",
                run_dir,
                "--target",
                target,
                "--out",
                where / "saliency",
            )
            figures.append(
                Figure(
                    demo.rel(_one(where / "saliency", "*.gif")),
                    f"{label}: saliency, |d logit / d pixel| for class {cls}.",
                    "Simonyan et al. 2014: the pixels whose change would move the class score most. The 3D "
                    "net's should sit on the moving shapes' edges across frames."
                    if i == 0
                    else "The single-frame net's gradients: whatever it looks at, it cannot be motion.",
                    cmd,
                )
            )
        section = Section(
            "Where the nets look: Grad-CAM and saliency",
            f"Attribution maps for the true class ({cls}) of one test video, blended over its frames.",
            figures=figures,
        )
        return StepResult(section)

    return run


def _actmax_step(demo: _Demo) -> Callable:
    from vidlens.data.synthetic import DIRECTIONS

    size = demo.size

    def run(out: Path, done: Mapping[str, dict]) -> StepResult:
        _, target, cls = _video_args(done)
        classes = done["data"]["classes"]
        channels = ",".join(str(i) for i in range(min(len(classes), 8)))
        figures, rows, moving = [], [], []
        common = ["--steps", size.actmax_steps, "--natural-clips", size.natural_clips, "--quiet"]
        for i, (name, label, run_dir) in enumerate(_nets(done)):
            _, _, logits = _layers(run_dir)
            where = out / "figures" / "actmax" / name
            cmd = demo.vidlens(
                "actmax",
                "actmax",
                "--run",
                run_dir,
                "--layer",
                logits,
                "--channel",
                channels,
                "--out",
                where,
                *common,
            )
            summary = json.loads(_one(where, "actmax_*.json").read_text())
            agree = 0
            for clip, cls_name in zip(summary["clips"], classes, strict=False):
                motion = clip.get("motion") or {}
                expected = DIRECTIONS.get(cls_name)
                agree += _moves_towards(motion, expected)
                rows.append([
                    label, cls_name, _num(clip["value"], 1), _num(clip["natural_best"], 1),
                    _num(motion.get("speed"), 2), _num(motion.get("direction"), 0),
                    "-" if expected is None else f"{expected:.0f}",
                ])  # fmt: skip
            speeds = [c["motion"]["speed"] for c in summary["clips"] if c.get("motion")]
            if speeds:
                their_way = (
                    f", {agree} of {len(speeds)} their class's way"
                    if all(c in DIRECTIONS for c in classes)
                    else ""
                )
                moving.append(f"{label}'s at {float(np.median(speeds)):.2f} px/frame (median){their_way}")
            figures.append(
                Figure(
                    demo.rel(_one(where, "actmax_*.gif")),
                    f"{label}: for each class, the clip that maximises its logit ({', '.join(classes)}).",
                    "Feichtenhofer et al. 2018 show what two-stream nets' units 'want' to see. A 3D net's "
                    "clips move (see the speed column); whether they move their class's way depends on how "
                    "well it learned: the table measures it."
                    if i == 0
                    else "The single-frame net can only want a picture: its clips hold still.",
                    cmd,
                )
            )
            if i == 0:
                sweep = ",".join(f"{c:g}" for c in size.chi_sweep)
                cmd = demo.vidlens(
                    "actmax", "actmax", "--run", run_dir, "--layer", logits, "--channel", target,
                    "--chi-sweep", sweep, "--out", where / "sweep", *common,
                )  # fmt: skip
                figures.append(
                    Figure(
                        demo.rel(_one(where / "sweep", "actmax_*.gif")),
                        f"{label}: the {cls} logit at temporal weights chi = {sweep} (left: slow; right: fast).",
                        "Feichtenhofer et al. 2018's chi penalises change over time: raising it reveals the "
                        "slowest pattern a unit still likes, lowering it the fastest.",
                        cmd,
                    )
                )
        section = Section(
            "What each class looks like to the nets: activation maximisation",
            "Clips optimised from noise to maximise a class logit (Feichtenhofer et al. 2018: a 3-D Fourier "
            "parameterisation, kappa for spatial and chi for temporal smoothness, jitter), scaled by the "
            f"logit's mean over {size.natural_clips} real clips. The motion column is the clip's dominant "
            "displacement (phase correlation, vidlens.metrics.dominant_motion); direction 0 is right, 90 up. "
            "A net trained for minutes does not always render a class as motion its own way; better trained "
            "nets do in 10 of 12 classes (benchmarks/actmax_directions.py, benchmarks/RESULTS.md).",
            tables=[
                Table(
                    [
                        "net",
                        "class",
                        "logit",
                        "best real clip",
                        "speed (px/frame)",
                        "direction",
                        "class direction",
                    ],
                    rows,
                )
            ],
            figures=figures,
            highlights=[
                "Clips that maximise a class logit move: "
                + "; ".join(moving)
                + f" (their way: within 45 degrees, at least {_MIN_SPEED} px/frame)."
            ]
            if moving
            else [],
        )
        return StepResult(section)

    return run


# The least speed (pixels per frame) at which an optimised clip counts as moving.
_MIN_SPEED = 0.3


def _moves_towards(motion: Mapping[str, float], direction: float | None) -> bool:
    """Whether a clip's dominant motion (see :func:`vidlens.metrics.dominant_motion`) goes ``direction``."""
    if direction is None or not motion or motion["speed"] < _MIN_SPEED:
        return False
    from vidlens.metrics import angle_difference

    return abs(angle_difference(motion["direction"], direction)) <= 45


def _units_step(demo: _Demo) -> Callable:
    size = demo.size

    def run(out: Path, done: Mapping[str, dict]) -> StepResult:
        figures, tables = [], []
        nets = _nets(done)
        name, label, run_dir = nets[0]
        where = out / "figures" / "units" / name
        cmd = demo.vidlens("units", "redundancy", "--run", run_dir, "--out", where / "redundancy", "--quiet")
        figures.append(
            Figure(
                demo.rel(where / "redundancy" / "redundancy_curve.png"),
                f"{label}: redundant filters per layer as the cosine threshold tau varies.",
                "Ayinde et al. 2019 find many filters of deep nets repeat each other (cosine similarity above "
                "tau); small trained nets have little to spare.",
                cmd,
            )
        )
        red = _read_csv(where / "redundancy" / "redundancy.csv")
        tables.append(
            Table(
                ["layer", "filters", "clusters", "redundant %"],
                [
                    [r["layer"], r["filters"], r["clusters"], _num(100 * float(r["redundant_fraction"]), 0)]
                    for r in red
                ],
                caption=f"{label}: filter redundancy at tau = {red[0]['tau'] if red else '-'}",
            )
        )
        _, deep, _ = _layers(run_dir)
        cmd = demo.vidlens(
            "units", "dependence", "--run", run_dir, "--natural-clips", 2 * size.natural_clips, "--out",
            where / "dependence", "--quiet",
        )  # fmt: skip
        figures.append(
            Figure(
                demo.rel(where / "dependence" / f"dependence_{deep}.png"),
                f"{label}: correlation against mutual information between the units of {deep} over real clips.",
                "Correlation sees only linear dependence; mutual information sees any. Pairs with high MI and "
                "low correlation depend on each other in ways a correlation matrix hides.",
                cmd,
            )
        )
        rows, deepest = [], []
        for i, (name, label, run_dir) in enumerate(nets):
            where = out / "figures" / "units" / name / "units"
            cmd = demo.vidlens(
                "units", "units", "--run", run_dir, "--natural-clips", size.natural_clips, "--held-frames",
                size.held_frames, "--speeds", ",".join(f"{s:g}" for s in size.speeds), "--directions",
                size.directions, "--phases", size.phases, "--out", where, "--quiet",
            )  # fmt: skip
            layers = _read_csv(where / "units_layers.csv")
            if layers:
                top = max(layers, key=lambda r: float(r["temporal_sensitivity"] or 0))
                deepest.append(f"{label} {float(top['temporal_sensitivity']):.2f} ({top['layer']})")
            for r in layers:
                rows.append([
                    label, r["layer"], r["units"], _num(r["temporal_sensitivity"]),
                    _num(100 * float(r["time_sensitive_fraction"]), 0), _num(r["dsi_median"]),
                    _num(100 * float(r["direction_selective_fraction"]), 0),
                ])  # fmt: skip
            figures.append(
                Figure(
                    demo.rel(where / "temporal_sensitivity.png"),
                    f"{label}: how much each unit's response changes when its clip's frames are shuffled "
                    "or held still (0: time does not matter).",
                    "The test of which units see motion: a single-frame net's units are blind to frame order "
                    "by construction, a 3D net's need not be."
                    if i == 0
                    else "The single-frame net's units, for contrast: frame order cannot matter to them.",
                    cmd,
                )
            )
            if i == 0:
                figures.append(
                    Figure(
                        demo.rel(where / "dsi.png"),
                        f"{label}: direction selectivity (DSI) of every unit, per layer, on drifting gratings "
                        "and moving dots.",
                        "A direction-selective unit answers one direction of motion and not the opposite, "
                        "like the motion cells of visual cortex; only a net that sees time can have them.",
                        cmd,
                    )
                )
        tables.append(
            Table(
                [
                    "net",
                    "layer",
                    "units",
                    "temporal sensitivity",
                    "time-sensitive %",
                    "median DSI",
                    "direction-selective %",
                ],
                rows,
                caption="Which units see motion, per layer",
            )
        )
        section = Section(
            "Units: redundancy, dependence and motion",
            "Three ways of counting what a layer's units do: whether its filters repeat each other, how its "
            "units depend on each other, and which of them respond to motion at all.",
            tables=tables,
            figures=figures,
            highlights=[f"Highest temporal sensitivity of a layer (0: blind to time): {', '.join(deepest)}."],
        )
        return StepResult(section)

    return run


def demo_steps(
    size: str | DemoSize = "small",
    *,
    out: str | os.PathLike = "build/demo",
    data: str | os.PathLike | None = None,
    run: str | os.PathLike | None = None,
    workers: int = 2,
    log: Callable[[str], None] = print,
) -> list[Step]:
    """The demo's steps (:class:`vidlens.report.Step`) in order, at ``size`` (a name of :data:`SIZES` or a
    :class:`DemoSize`), writing into ``out``; ``data`` and ``run`` replace the synthetic data and the two
    trained nets with a user's own."""
    size = demo_size(size)
    if run is not None and data is None:  # the run's own data
        from vidlens.runs import load_config

        data = load_config(run)[0].data
    demo = _Demo(
        Path(out),
        size,
        None if data is None else Path(data),
        None if run is None else Path(run),
        workers,
        log,
    )
    settings = {"size": asdict(size), "data": None if data is None else str(Path(data).resolve())}
    trained = settings | {"run": None if run is None else str(Path(run).resolve())}
    return [
        Step("data", _data_step(demo), settings=settings),
        Step("train", _train_step(demo), settings=trained, needs=("data",), clean=_remove_runs),
        Step(
            "features",
            _features_step(demo),
            settings=trained,
            needs=("data", "train"),
            clean=_remove_features,
        ),
        Step("inside", _inside_step(demo), settings=trained, needs=("data", "train")),
        Step("attribution", _attribution_step(demo), settings=trained, needs=("data", "train")),
        Step("actmax", _actmax_step(demo), settings=trained, needs=("data", "train")),
        Step("units", _units_step(demo), settings=trained, needs=("data", "train")),
    ]


TITLE = "vidlens: what a 3D ConvNet learns from motion"
INTRO = (
    "Built by `vidlens demo`. Each section is one step; each figure says what it shows, why it matters (and "
    "which paper it comes from) and the command that reproduces it, given from this report's folder. "
    "`vidlens report DIR` rebuilds this page from the finished steps; `vidlens demo --redo STEP` reruns one."
)


def run_demo(
    out: str | os.PathLike = "build/demo",
    size: str | DemoSize = "small",
    *,
    data: str | os.PathLike | None = None,
    run: str | os.PathLike | None = None,
    redo: Sequence[str] = (),
    only: Sequence[str] | None = None,
    workers: int = 2,
    log: Callable[[str], None] = print,
) -> Path:
    """Run (or resume) the demo into ``out`` and write ``out/index.html``; return its path.

    A finished step is reused unless its settings changed (another size, dataset or run), ``redo`` names it,
    or a step it needs was run again."""
    from vidlens.report import collect_report, render_html, run_steps, save_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = demo_steps(size, out=out, data=data, run=run, workers=workers, log=log)
    run_steps(out, steps, redo=redo, only=only, log=log)
    report = collect_report(out, title=TITLE, intro=INTRO, steps=[s.name for s in steps])
    save_report(report, out)
    return render_html(report, out)
