"""t-SNE maps of feature stores: the figure, the coordinates file, labels and the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from test_linear import clusters, labelled_store, ucf_root, write_store
from vidlens.cli import build_parser, main
from vidlens.cli.features import cmd_embed
from vidlens.features.embed import Embedding, embed

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_map_is_a_png_with_one_coordinate_row_per_video(tmp_path):
    store, labels, _, y = labelled_store(tmp_path, n_classes=3, per_class=8)
    # One video the labels file does not name: drawn as unlabelled.
    labels.write_text("\n".join(line for line in labels.read_text().splitlines() if "video_005" not in line))
    out = tmp_path / "maps" / "tsne.png"
    result = embed(store, labels=labels, out=out, seed=0)
    assert isinstance(result, Embedding)
    assert result.png == out and out.read_bytes()[:8] == PNG_MAGIC
    assert result.coords.shape == (24, 2) and np.isfinite(result.coords).all()
    assert result.perplexity == pytest.approx(23 / 3)  # 30 clamped for 24 videos
    assert result.coords_file == tmp_path / "maps" / "tsne.csv"
    rows = _rows(result.coords_file)
    assert len(rows) == 24 and list(rows[0]) == ["id", "source", "label", "x", "y"]
    assert [r["id"] for r in rows] == [f"video_{k:03d}" for k in range(24)]
    assert rows[5]["label"] == "" and result.labels[5] is None
    assert [r["label"] for r in rows if r["id"] != "video_005"] == [
        f"class{c}" for k, c in enumerate(y) if k != 5
    ]
    assert np.allclose([[float(r["x"]), float(r["y"])] for r in rows], result.coords, rtol=1e-5, atol=1e-4)
    # t-SNE keeps the well-separated clusters apart: each video's nearest neighbour is of its class.
    d = np.linalg.norm(result.coords[:, None] - result.coords[None], axis=-1) + np.eye(24) * 1e9
    assert (y[d.argmin(axis=1)] == y).mean() > 0.9
    assert not list(out.parent.glob(".*tmp"))


def test_without_labels_everything_is_grey_and_dataset_labels_work(tmp_path):
    x, _ = clusters(2, 5, dim=80)
    ids = [f"v{k}" for k in range(10)]
    store = write_store(tmp_path / "store", ids, [f"/d/{i}.avi" for i in ids], x)
    result = embed(store, out=tmp_path / "grey.png", pca_first=None)
    assert result.labels == [None] * 10 and result.classes == []
    assert (tmp_path / "grey.png").read_bytes()[:8] == PNG_MAGIC
    assert len(_rows(tmp_path / "grey.csv")) == 10

    root = ucf_root(tmp_path, per_class=4, n_test=1)
    xs, ys = clusters(3, 4, dim=80)
    names = ["Jump", "Run", "Swim"]
    sources = [f"/old/UCF/{names[c]}/v_{names[c]}_g{k % 4:02d}_c01.avi" for k, c in enumerate(ys)]
    store = write_store(tmp_path / "ucf_store", [f"u{k}" for k in range(12)], sources, xs)
    result = embed(store, data=root, out=tmp_path / "ucf.png", perplexity=2)
    assert result.labels == [names[c] for c in ys]  # train and test videos alike
    assert result.perplexity == 2.0


def test_bad_inputs_are_clear_errors(tmp_path):
    store, _, _, _ = labelled_store(tmp_path)
    with pytest.raises(ValueError, match=r"out must be a \.png"):
        embed(store, out=tmp_path / "map.jpg")
    with pytest.raises(KeyError, match="layer 'fc7' was not extracted"):
        embed(store, layer="fc7", out=tmp_path / "m.png")
    tiny = write_store(tmp_path / "tiny", ["a", "b"], ["/a.avi", "/b.avi"], np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match="at least 3 videos"):
        embed(tiny, out=tmp_path / "m.png")


def _parse(argv):
    return build_parser().parse_args(argv)


def test_cli_reports_where_the_map_went(tmp_path, capsys):
    store, labels, _, _ = labelled_store(tmp_path)
    out = tmp_path / "cli.png"
    args = _parse(["embed", str(store), "--labels", str(labels), "--out", str(out), "--perplexity", "5"])
    assert args.func is cmd_embed
    assert cmd_embed(args) == 0
    printed = capsys.readouterr().out
    assert f"-> {out}" in printed and "40 labelled, 4 classes, perplexity 5" in printed
    assert str(tmp_path / "cli.csv") in printed
    assert out.read_bytes()[:8] == PNG_MAGIC

    assert main(["embed", str(store), "--labels", str(tmp_path / "nope.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vidlens embed: error: labels file") and len(err.strip().splitlines()) == 1
