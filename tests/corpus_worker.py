"""Read one video the ways vidlens reads videos and print what happened as one JSON object (tests/test_corpus.py
runs this in a subprocess per file, so that a decoder that hangs or crashes cannot take pytest down).

    python tests/corpus_worker.py VIDEO

Each step (probe, count_frames, streaming clips, random access) records its result or the VideoError it
raised; any other exception is left to propagate, so it shows as a traceback and a non-zero exit status.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import asdict

import numpy as np

from vidlens import video as V

SIZE = (64, 86)  # small: decoding dominates, and every frame still goes through resize and rotation
CLIP_LEN, STRIDE = 16, 8
MAX_SINGLE_READS = 5  # clips also read one by one (each read_clip opens the file and seeks), single-threaded


def _error(err: V.VideoError) -> dict:
    return {"error": str(err), "type": type(err).__name__, "path": err.path}


def main(path: str) -> dict:
    out: dict = {"file": path}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["probe"] = asdict(V.probe(path))
        except V.VideoError as err:
            out["probe"] = _error(err)
        try:
            out["count_frames"] = V.count_frames(path)
        except V.VideoError as err:
            out["count_frames"] = _error(err)
        try:
            streamed = list(V.iter_clips(path, CLIP_LEN, STRIDE, size=SIZE))
            native = next(V.iter_clips(path, CLIP_LEN, STRIDE, size=None))  # the displayed size, unresized
            out["stream"] = {
                "starts": [c.start for c in streamed],
                "padded": [c.padded for c in streamed],
                "missing": [len(c.missing) for c in streamed],
                "shape": list(streamed[0].frames.shape),
                "native_shape": list(native.frames.shape),
            }
        except V.VideoError as err:
            out["stream"] = _error(err)
            streamed = []
        starts = [c.start for c in streamed] or [0]
        # Random access: every clip in one read_clips call (reverse order), then a few one by one.
        random: dict = {"mismatched": [], "errors": []}
        try:
            clips = V.read_clips(path, starts[::-1], CLIP_LEN, size=SIZE)
            by_start = {c.start: c for c in clips}
            for c in streamed:
                r = by_start[c.start]
                if not (
                    np.array_equal(c.frames, r.frames) and c.padded == r.padded and c.missing == r.missing
                ):
                    random["mismatched"].append(c.start)
        except V.VideoError as err:
            random["errors"].append(_error(err))
        except ValueError as err:  # a start past the end of the file
            random["errors"].append({"error": str(err), "type": "ValueError", "path": path})
        picks = sorted({starts[int(i)] for i in np.linspace(0, len(starts) - 1, MAX_SINGLE_READS)})
        by_stream = {c.start: c for c in streamed}
        for start in picks[::-1]:  # from the end: each read seeks backwards in a fresh decoder
            try:
                # one decoding thread, as the frame cache decodes: the frames must not depend on threading
                clip = V.read_clip(path, start, CLIP_LEN, size=SIZE, threads=1)
            except V.VideoError as err:
                random["errors"].append(_error(err))
                continue
            s = by_stream.get(start)
            if s is None or not np.array_equal(s.frames, clip.frames):
                random["mismatched"].append(start)
        out["random"] = random
    out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
