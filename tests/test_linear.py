"""Linear-SVM evaluation of feature stores: labels files, dataset splits, C by train-only CV, PCA, the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from vidlens.cli import build_parser, main
from vidlens.cli.features import cmd_linear
from vidlens.features.linear import (
    LinearResult,
    label_features,
    linear_eval,
    read_labels,
)
from vidlens.features.store import load_features

# --------------------------------------------------------------------------------------------------------
# Helpers: stores and datasets written by hand
# --------------------------------------------------------------------------------------------------------


def write_store(
    folder: Path,
    ids: list[str],
    sources: list[str],
    descriptors: np.ndarray,
    layers: tuple[str, ...] = ("fc6",),
    failed: tuple[str, ...] = (),
) -> Path:
    """An npy feature store as `vidlens extract` writes it (see vidlens.features.store)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for k, (video_id, source) in enumerate(zip(ids, sources, strict=True)):
        files = {}
        for layer in layers:
            prefix = "" if len(layers) == 1 else f"{layer}/"
            (folder / prefix).mkdir(exist_ok=True)
            np.save(folder / f"{prefix}{video_id}.npy", descriptors[k].astype(np.float32))
            np.save(
                folder / f"{prefix}{video_id}.clips.npy", np.stack([descriptors[k]] * 2).astype(np.float32)
            )
            files[layer] = {"descriptor": f"{prefix}{video_id}.npy", "clips": f"{prefix}{video_id}.clips.npy"}
        records.append(
            {"id": video_id, "source": source, "status": "ok", "error": None, "n_clips": 2,
             "layers": list(layers), "files": files}
        )  # fmt: skip
    for video_id in failed:
        records.append({"id": video_id, "source": f"/x/{video_id}.avi", "status": "failed", "error": "boom"})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def clusters(n_classes: int, per_class: int, dim: int = 64, spread: float = 0.1, seed: int = 0):
    """L2-normalised Gaussian clusters around random class centres: (N, dim) descriptors, (N,) labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))  # (C, dim), about sqrt(2 dim) apart
    y = np.repeat(np.arange(n_classes), per_class)
    x = centres[y] + spread * rng.normal(size=(len(y), dim))  # (N, dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y


def labelled_store(
    tmp_path: Path,
    n_classes: int = 4,
    per_class: int = 10,
    n_test: int = 3,
    spread: float = 0.1,
    seed: int = 0,
    shuffle: bool = False,
    third_column: bool = True,
) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A store of clustered descriptors and a labels file: the last n_test videos of each class are test."""
    x, y = clusters(n_classes, per_class, spread=spread, seed=seed)
    if shuffle:
        y = np.random.default_rng(seed + 1).permutation(y)
    ids = [f"video_{k:03d}" for k in range(len(y))]
    store = write_store(tmp_path / "store", ids, [f"/data/{i}.mp4" for i in ids], x)
    lines = []
    for k, video_id in enumerate(ids):
        subset = "test" if k % per_class >= per_class - n_test else "train"
        lines.append(f"{video_id} class{y[k]}" + (f" {subset}" if third_column else ""))
    labels = tmp_path / "labels.txt"
    labels.write_text("# id label subset\n" + "\n".join(lines) + "\n")
    return store, labels, x, y


def ucf_root(tmp_path: Path, classes=("Jump", "Run", "Swim"), per_class: int = 6, n_test: int = 2) -> Path:
    """A hand-made UCF101-layout dataset (empty video files): classInd, trainlist01, testlist01."""
    root = tmp_path / "UCF"
    (root / "splits").mkdir(parents=True)
    train, test = [], []
    for c, name in enumerate(classes):
        (root / name).mkdir()
        for g in range(per_class):
            rel = f"{name}/v_{name}_g{g:02d}_c01.avi"
            (root / rel).touch()
            (test if g >= per_class - n_test else train).append((rel, c + 1))
    (root / "splits" / "classInd.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(classes)))
    (root / "splits" / "trainlist01.txt").write_text("".join(f"{r} {c}\n" for r, c in train))
    (root / "splits" / "testlist01.txt").write_text("".join(f"{r}\n" for r, _ in test))
    return root


# --------------------------------------------------------------------------------------------------------
# Accuracy, PCA, choice of C
# --------------------------------------------------------------------------------------------------------


def test_separable_clusters_are_classified_perfectly(tmp_path):
    store, labels, _, _ = labelled_store(tmp_path)
    result = linear_eval(store, labels=labels, seed=0)
    assert isinstance(result, LinearResult)
    assert result.accuracy == 1.0 and result.mean_class_accuracy == 1.0
    assert (result.n_train, result.n_test, result.dim, result.input_dim) == (28, 12, 64, 64)
    assert result.classes == ["class0", "class1", "class2", "class3"]
    assert np.array_equal(result.confusion, 3 * np.eye(4, dtype=int))
    assert result.c in result.cv_scores and result.cv_score == max(result.cv_scores.values())
    assert result.folds == 5 and result.layer == "fc6" and result.ignored == 0
    assert len(result.test_ids) == 12 and result.predictions.shape == (12,)


def test_shuffled_labels_are_near_chance(tmp_path):
    store, labels, _, _ = labelled_store(tmp_path, per_class=20, n_test=8, shuffle=True)
    result = linear_eval(store, labels=labels)
    assert result.n_test == 32
    assert result.accuracy < 0.55  # chance is 0.25; separable clusters give 1.0


def test_pca_compresses_to_k_dimensions_fitted_in_the_pipeline(tmp_path):
    store, labels, _, _ = labelled_store(tmp_path)
    result = linear_eval(store, labels=labels, pca=3)
    assert result.pca == 3 and result.input_dim == 3 and result.dim == 64
    assert result.model.named_steps["pca"].n_components_ == 3
    assert result.model.named_steps["svm"].coef_.shape == (4, 3)
    assert "64->3" in result.table()
    assert result.accuracy == 1.0  # 4 well-separated clusters survive 3 dimensions


def test_pca_larger_than_possible_is_a_clear_error(tmp_path):
    store, labels, _, _ = labelled_store(tmp_path)
    # 28 training videos, 5 folds: the smallest fold trains on 22 videos.
    with pytest.raises(ValueError, match=r"pca=23 is larger than possible.*pca <= 22"):
        linear_eval(store, labels=labels, pca=23)
    with pytest.raises(ValueError, match=r"pca <= 28"):
        linear_eval(store, labels=labels, pca=29, cs=[1.0])  # no CV: the whole training set
    with pytest.raises(ValueError, match="positive number"):
        linear_eval(store, labels=labels, pca=0)


def test_c_is_chosen_on_the_training_split_only(tmp_path):
    # Overlapping clusters so that the CV accuracy depends on C.
    store, labels, x, _ = labelled_store(tmp_path / "a", per_class=12, n_test=4, spread=3.0, seed=3)
    first = linear_eval(store, labels=labels, cs=[0.001, 0.01, 0.1, 1, 10, 100])
    assert len(set(first.cv_scores.values())) > 1  # C matters here

    # The same training descriptors with the test descriptors replaced by noise.
    records = load_features(store)
    test = np.isin(records.ids, first.test_ids)
    changed = x.copy()
    changed[test] = np.random.default_rng(7).normal(size=(test.sum(), x.shape[1]))
    other = write_store(tmp_path / "b" / "store", records.ids, records.sources, changed)
    second = linear_eval(other, labels=labels, cs=[0.001, 0.01, 0.1, 1, 10, 100])
    assert second.accuracy != first.accuracy  # the test descriptors were used for the test...
    assert second.c == first.c  # ...and for nothing else
    assert second.cv_scores == first.cv_scores and second.cv_score == first.cv_score


def test_folds_shrink_to_the_smallest_class_and_single_c_skips_cv(tmp_path):
    store, labels, _, _ = labelled_store(tmp_path, per_class=6, n_test=3)  # 3 training videos per class
    with pytest.warns(RuntimeWarning, match="3 folds instead of 5"):
        result = linear_eval(store, labels=labels)
    assert result.folds == 3 and any("3 folds" in n for n in result.notes)

    store, labels, _, _ = labelled_store(tmp_path / "one", per_class=3, n_test=2)  # 1 training video
    with pytest.raises(ValueError, match="only 1 training video.*single C"):
        linear_eval(store, labels=labels)
    result = linear_eval(store, labels=labels, cs=[1.0])
    assert result.folds == 0 and result.cv_score is None and result.c == 1.0 and result.n_train == 4
    with pytest.raises(ValueError, match="folds must be >= 2"):
        linear_eval(store, labels=labels, cs=[0.1, 1.0], folds=1)


def test_metrics_json_is_written_when_asked(tmp_path):
    store, labels, _, _ = labelled_store(tmp_path)
    out = tmp_path / "reports" / "linear.json"
    result = linear_eval(store, labels=labels, out=out, pca=4)
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(result.to_dict()))
    assert saved["accuracy"] == 1.0 and saved["pca"] == 4 and saved["input_dim"] == 4
    assert saved["confusion"] == result.confusion.tolist()
    assert [e["c"] for e in saved["cv_scores"]] == [0.01, 0.1, 1.0, 10.0, 100.0]
    assert not list(out.parent.glob(".*tmp"))  # atomic: no temporary file left


# --------------------------------------------------------------------------------------------------------
# Labels files
# --------------------------------------------------------------------------------------------------------


def test_labels_file_keys_may_be_ids_paths_or_path_tails(tmp_path):
    videos = tmp_path / "videos"
    sources = [
        str(videos / "Jump" / "a b.mp4"),
        str(videos / "Jump" / "c.mp4"),
        str(videos / "Run" / "d.mp4"),
    ]
    ids = ["Jump__a_b", "Jump__c", "Run__d"]
    store = write_store(tmp_path / "store", ids, sources, np.eye(3, dtype=np.float32))
    labels = tmp_path / "labels.txt"
    labels.write_text(
        "videos/Jump/a b.mp4\tjump\ttrain\n"  # a path relative to the labels file, tab-separated
        "Jump/c  jump  test\n"  # a trailing part of the source, without extension
        "Run__d run\n"  # a store id, no subset
        "\n# a comment\n"
    )
    entries = read_labels(labels)
    assert [(e.key, e.label, e.subset) for e in entries] == [
        ("videos/Jump/a b.mp4", "jump", "train"),
        ("Jump/c", "jump", "test"),
        ("Run__d", "run", None),
    ]
    vl = label_features(load_features(store), labels=labels)
    assert vl.classes == ["jump", "run"]
    assert vl.labels.tolist() == [0, 0, 1]
    assert vl.subsets == ["train", "test", None]
    assert vl.has_split and vl.n_missing == 0


def test_bad_labels_files_are_clear_errors(tmp_path):
    store, _, _, _ = labelled_store(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("video_000 class0 validation\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: the third column must be 'train' or 'test'"):
        linear_eval(store, labels=bad)
    bad.write_text("video_000\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: expected 'ID_OR_PATH LABEL"):
        linear_eval(store, labels=bad)
    with pytest.raises(FileNotFoundError, match="labels file .* not found"):
        linear_eval(store, labels=tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="either as data= .* or as labels="):
        linear_eval(store)
    conflicting = tmp_path / "twice.txt"
    conflicting.write_text("video_000 class0 train\n/data/video_000.mp4 class1 train\n")
    with pytest.raises(ValueError, match="video_000 is named by two entries"):
        linear_eval(store, labels=conflicting)


def test_labels_naming_no_store_video_leave_classes_without_training_videos(tmp_path):
    store, labels, _, _ = labelled_store(tmp_path)
    text = labels.read_text().replace("video_000 class", "ghost_000 class")
    text = text.replace("video_001 class", "ghost_001 class")
    text += "".join(f"elsewhere_{k} class9 train\nelsewhere_{k}b class9 test\n" for k in range(3))
    labels.write_text(text)
    with (
        pytest.warns(RuntimeWarning, match="entries of labels file .* are not in the store"),
        pytest.raises(ValueError, match=r"1 classes have no training video in the store: class9"),
    ):
        linear_eval(store, labels=labels)


def test_without_a_subset_column_a_stratified_split_is_made(tmp_path):
    store, labels, _, _ = labelled_store(tmp_path, third_column=False)
    with pytest.warns(RuntimeWarning, match="gives no train/test split; holding out 30% of each class"):
        result = linear_eval(store, labels=labels, seed=1)
    assert (result.n_train, result.n_test) == (28, 12)  # 3 of each class's 10 videos
    assert np.bincount(result.y_test).tolist() == [3, 3, 3, 3]
    assert result.accuracy == 1.0
    with pytest.warns(RuntimeWarning, match="no train/test split"):
        again = linear_eval(store, labels=labels, seed=1)
    assert again.test_ids == result.test_ids  # the seed fixes the split


def test_unknown_layer_and_missing_store_are_clear_errors(tmp_path):
    x, y = clusters(2, 4)
    ids = [f"v{k}" for k in range(8)]
    store = write_store(tmp_path / "store", ids, [f"/d/{i}.avi" for i in ids], x, layers=("fc6", "fc7"))
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"v{k} c{y[k]} {'test' if k % 4 == 3 else 'train'}\n" for k in range(8)))
    with pytest.raises(KeyError, match="layer 'pool5' was not extracted"):
        linear_eval(store, labels=labels, layer="pool5")
    with pytest.raises(ValueError, match="several layers"):
        linear_eval(store, labels=labels)
    assert linear_eval(store, labels=labels, layer="fc7", cs=[1.0]).layer == "fc7"
    with pytest.raises(FileNotFoundError, match="no feature store"):
        linear_eval(tmp_path / "nothing", labels=labels)
    with pytest.raises(ValueError, match="holds layer 'fc6', not 'fc7'"):
        linear_eval(load_features(store, "fc6"), layer="fc7", labels=labels)


# --------------------------------------------------------------------------------------------------------
# Dataset splits
# --------------------------------------------------------------------------------------------------------


def test_ucf101_split_matches_by_path_relative_id_and_store_id(tmp_path):
    root = ucf_root(tmp_path)
    classes = ["Jump", "Run", "Swim"]
    x, y = clusters(3, 6)
    ids, sources, keep = [], [], []
    for k in range(18):
        name, g = classes[y[k]], k % 6
        rel = f"{name}/v_{name}_g{g:02d}_c01"
        if (name, g) == ("Swim", 5):
            continue  # a test video that was never extracted
        if g % 3 == 0:
            source = str(root / f"{rel}.avi")  # the very file
        elif g % 3 == 1:
            source = f"/mnt/elsewhere/UCF-101/{rel}.avi"  # extracted on another machine
        else:
            source = f"relative/{k}.avi"  # only the store id tells which video it is
        ids.append(rel.replace("/", "__"))
        sources.append(source)
        keep.append(k)
    # A video of the store that is in no split.
    ids.append("Extra__v_extra")
    sources.append("/mnt/elsewhere/UCF-101/Extra/v_extra.avi")
    descriptors = np.concatenate([x[keep], x[:1]])
    store = write_store(tmp_path / "store", ids, sources, descriptors)

    vl = label_features(load_features(store), data=root)
    assert vl.has_split and vl.classes == classes
    assert vl.missing == {"test": ["Swim/v_Swim_g05_c01"]}
    assert vl.labels.tolist() == [*y[keep].tolist(), -1]

    with pytest.warns(RuntimeWarning, match=r"1 test entries of ucf101 split 1 .* not in the store"):
        result = linear_eval(store, data=root, folds=2)
    assert (result.n_train, result.n_test, result.ignored) == (12, 5, 1)
    assert result.missing == {"test": ["Swim/v_Swim_g05_c01"]}
    assert result.accuracy == 1.0
    assert result.split.startswith("ucf101 split 1")


def test_a_class_without_extracted_training_videos_is_an_error(tmp_path):
    root = ucf_root(tmp_path)
    x, y = clusters(3, 6)
    ids, sources, keep = [], [], []
    for k in range(18):
        name, g = ["Jump", "Run", "Swim"][y[k]], k % 6
        if name == "Swim" and g < 4:
            continue  # Swim's training videos are missing
        ids.append(f"{name}__v_{name}_g{g:02d}_c01")
        sources.append(str(root / name / f"v_{name}_g{g:02d}_c01.avi"))
        keep.append(k)
    store = write_store(tmp_path / "store", ids, sources, x[keep])
    with (
        pytest.warns(RuntimeWarning, match="4 train entries"),
        pytest.raises(ValueError, match="no training video in the store: Swim"),
    ):
        linear_eval(store, data=root)


def test_class_folders_get_a_seeded_stratified_split(tmp_path):
    root = tmp_path / "folders"
    x, y = clusters(2, 5)
    sources = []
    for k in range(10):
        path = root / f"c{y[k]}" / f"v{k}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        sources.append(str(path))
    store = write_store(tmp_path / "store", [f"v{k}" for k in range(10)], sources, x)
    with pytest.warns(RuntimeWarning) as caught:
        result = linear_eval(store, data=root)
    messages = [str(w.message) for w in caught]
    assert any("no official split" in m for m in messages)
    assert any("3 folds instead of 5" in m for m in messages)  # 3 training videos per class
    assert (result.n_train, result.n_test) == (6, 4) and result.classes == ["c0", "c1"]
    assert result.accuracy == 1.0


# --------------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_cli_prints_the_table_and_writes_metrics(tmp_path, capsys):
    store, labels, _, _ = labelled_store(tmp_path)
    out = tmp_path / "m.json"
    args = _parse(["linear", str(store), "--labels", str(labels), "--pca", "4", "--c", "0.1,1,10"])
    assert args.func is cmd_linear and args.c == [0.1, 1.0, 10.0] and args.folds == 5
    args = _parse(
        ["linear", str(store), "--labels", str(labels), "--c", "1,10", "--folds", "3", "--out", str(out)]
    )
    assert cmd_linear(args) == 0
    printed = capsys.readouterr().out
    header, rule, row = printed.splitlines()[:3]
    assert header.split()[:4] == ["Features", "Dim", "C", "CV"]
    assert set(rule) <= {"-", " "}
    assert row.split()[-4:] == ["100.0", "100.0", "28", "12"]
    assert "3-fold CV accuracy" in printed and f"metrics written to {out}" in printed
    assert json.loads(out.read_text())["folds"] == 3


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    store, labels, _, _ = labelled_store(tmp_path)
    for argv, expected in [
        (["--labels", str(tmp_path / "missing.txt")], "labels file"),
        (["--labels", str(labels), "--layer", "fc7"], "layer 'fc7' was not extracted"),
        (["--labels", str(labels), "--pca", "100"], "pca=100 is larger than possible"),
        ([], "either as data="),
    ]:
        assert main(["linear", str(store), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("vidlens linear: error: ") and expected in err
        assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        _parse(["linear", str(store), "--c", "0,1"])
    assert "C values must be positive" in capsys.readouterr().err
