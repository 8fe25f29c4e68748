"""The shared classification metrics, on hand-made scores whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidlens.data.synthetic import DIRECTIONS, MotionConfig, render_motion_video
from vidlens.metrics import (
    accuracy,
    angle_difference,
    confusion_matrix,
    dominant_motion,
    hit_at_k,
    mask_share,
    mask_share_per_frame,
    mean_class_accuracy,
    motion_direction,
    per_class_accuracy,
    pointing_energy,
    pointing_energy_per_frame,
    video_scores,
)


def test_hit_at_k_known_answers():
    scores = torch.tensor(
        [
            [0.1, 0.7, 0.2],  # ranking 1, 2, 0
            [0.5, 0.3, 0.2],  # ranking 0, 1, 2
            [0.2, 0.3, 0.5],  # ranking 2, 1, 0
            [0.0, 0.9, 0.1],  # ranking 1, 2, 0
        ]
    )
    labels = torch.tensor([1, 1, 0, 2])
    assert hit_at_k(scores, labels, 1) == 0.25  # only row 0
    assert hit_at_k(scores, labels, 2) == 0.75  # rows 0, 1, 3
    assert hit_at_k(scores, labels, 3) == 1.0
    assert hit_at_k(scores.numpy(), [1, 1, 0, 2], 2) == 0.75  # numpy and lists work too
    assert hit_at_k(scores.log_softmax(1), labels, 2) == 0.75  # only the order of the scores matters


def test_hit_at_k_ties_are_broken_by_class_index():
    tied = torch.tensor([[1.0, 1.0, 1.0, 0.0]] * 4)
    # A tie ranks the lower class index first, as argmax and a stable descending sort do.
    assert [hit_at_k(tied[:1], [y], 1) for y in range(4)] == [1.0, 0.0, 0.0, 0.0]
    assert [hit_at_k(tied[:1], [y], 2) for y in range(4)] == [1.0, 1.0, 0.0, 0.0]
    assert [hit_at_k(tied[:1], [y], 3) for y in range(4)] == [1.0, 1.0, 1.0, 0.0]
    assert hit_at_k(tied, [0, 1, 2, 3], 2) == 0.5
    assert int(tied[0].argmax()) == 0  # the k = 1 rule is argmax's, so the confusion matrix agrees


def test_hit_at_k_clips_k_and_rejects_bad_input():
    scores = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert hit_at_k(scores, [0, 1], 1) == 0.0
    assert hit_at_k(scores, [0, 1], 5) == 1.0  # k > C is clipped to C
    assert math.isnan(hit_at_k(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 1))
    with pytest.raises(ValueError, match="k must be a positive int"):
        hit_at_k(scores, [0, 1], 0)
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        hit_at_k(scores, [0, 2], 1)
    with pytest.raises(ValueError, match=r"shaped \(2,\)"):
        hit_at_k(scores, [0], 1)
    with pytest.raises(TypeError, match="integer class indices"):
        hit_at_k(scores, [0.0, 1.0], 1)
    with pytest.raises(ValueError, match="contain NaN"):
        hit_at_k(torch.tensor([[0.0, float("nan")]]), [0], 1)


def test_video_scores_average_probabilities_or_logits():
    clip_scores = torch.tensor([[10.0, 0.0], [0.0, 3.0], [0.0, 3.0], [1.0, 2.0]])
    video_index = torch.tensor([0, 0, 0, 1])
    probs = video_scores(clip_scores, video_index, 2)  # default: mean_prob
    expected = clip_scores.double().softmax(1)
    assert torch.allclose(probs[0].double(), expected[:3].mean(0)) and torch.allclose(
        probs[1].double(), expected[3]
    )
    assert torch.allclose(probs.sum(1), torch.ones(2))
    logits = video_scores(clip_scores, video_index, 2, reduce="mean_logit")
    assert torch.allclose(logits, torch.tensor([[10 / 3, 2.0], [1.0, 2.0]]))
    # One confident clip outvotes two milder ones under mean_logit but not under mean_prob.
    assert int(probs[0].argmax()) == 1 and int(logits[0].argmax()) == 0
    with pytest.raises(ValueError, match="reduce must be"):
        video_scores(clip_scores, video_index, 2, reduce="max")
    with pytest.raises(ValueError, match=r"video_index must be class indices in \[0, 1\)"):
        video_scores(clip_scores, video_index, 1)


def test_video_scores_reports_videos_without_clips():
    scores = video_scores(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 2]), 3)
    assert scores.shape == (3, 2)
    assert torch.isnan(scores[1]).all() and not torch.isnan(scores[[0, 2]]).any()
    with pytest.raises(ValueError, match="NaN"):
        hit_at_k(scores, [0, 0, 1], 1)  # a video without clips cannot be silently scored
    assert hit_at_k(scores[[0, 2]], [0, 1], 1) == 1.0


def test_clip_hit_differs_from_video_hit():
    # Video 0 (class 0): clips predict 0, 0, 1. Video 1 (class 1): clips predict 1, 1, 0.
    onehot = torch.eye(2) * 5.0
    clip_scores = onehot[[0, 0, 1, 1, 1, 0]]
    clip_labels = torch.tensor([0, 0, 0, 1, 1, 1])
    videos = video_scores(clip_scores, torch.tensor([0, 0, 0, 1, 1, 1]), 2)
    assert hit_at_k(clip_scores, clip_labels, 1) == pytest.approx(4 / 6)
    assert hit_at_k(videos, [0, 1], 1) == 1.0  # the majority of each video's clips is right


def test_confusion_matrix_rows_are_true_classes():
    labels = [0, 0, 1, 2, 2, 2]
    pred = [0, 1, 1, 2, 0, 2]
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    cm = confusion_matrix(torch.tensor(pred), np.array(labels), 3)
    assert cm.dtype == np.int64 and (cm == expected).all()
    assert cm.sum() == 6 and (cm.sum(axis=1) == [2, 1, 3]).all()
    assert (confusion_matrix([], [], 2) == 0).all()
    with pytest.raises(ValueError, match=r"pred must be class indices in \[0, 3\)"):
        confusion_matrix([3], [0], 3)
    with pytest.raises(ValueError, match=r"pred must be shaped \(2,\)"):
        confusion_matrix([0], [0, 1], 3)


def test_hit_at_1_agrees_with_argmax_and_the_confusion_matrix_on_ties():
    # A constant model (every class tied) predicts class 0: it scores exactly the share of class 0.
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 1, 0])
    constant = torch.zeros(len(labels), 3)
    assert hit_at_k(constant, labels, 1) == pytest.approx(3 / 8)
    # With ties and without, hit@1 is the confusion matrix's trace fraction and accuracy of argmax.
    scores = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [0.5, 0.1, 0.5], [0.0, 0.0, 3.0]] * 2)
    labels = torch.tensor([1, 1, 2, 2, 0, 2, 0, 2])
    cm = confusion_matrix(scores.argmax(dim=1), labels, 3)
    assert hit_at_k(scores, labels, 1) == np.trace(cm) / cm.sum() == accuracy(scores.argmax(dim=1), labels)
    per_class = per_class_accuracy(cm, ["a", "b", "c"])
    for c, name in enumerate("abc"):
        rows = labels == c
        assert per_class[name] == hit_at_k(scores[rows], labels[rows], 1)


def test_accuracy_and_per_class_accuracy():
    labels = [0, 0, 1, 2, 2, 2]
    pred = np.array([0, 1, 1, 2, 0, 2])
    assert accuracy(pred, labels) == pytest.approx(4 / 6)
    assert math.isnan(accuracy([], []))
    with pytest.raises(ValueError, match=r"pred must be shaped \(6,\)"):
        accuracy(pred[:2], labels)
    with pytest.raises(TypeError, match="integer class indices"):
        accuracy([0.5], [0])
    cm = confusion_matrix(pred, labels, 4)  # class 3 has no item
    per_class = per_class_accuracy(cm, ["a", "b", "c", "d"])
    assert per_class == {"a": 0.5, "b": 1.0, "c": pytest.approx(2 / 3), "d": None}
    assert mean_class_accuracy(cm) == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)  # classes with items only
    assert math.isnan(mean_class_accuracy(np.zeros((2, 2), np.int64)))
    with pytest.raises(ValueError, match=r"confusion must be shaped \(3, 3\)"):
        per_class_accuracy(cm, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"confusion must be shaped \(C, C\)"):
        mean_class_accuracy(np.zeros((2, 3)))


# --------------------------------------------------------------------------------------------------------
# The energy-based pointing game
# --------------------------------------------------------------------------------------------------------

# One clip of two 2x2 frames. Frame 0: energy 1 + 3 = 4, of which 1 on the object; frame 1: 2 + 2 = 4, of
# which 2. The clip: 3 of 8. The object covers one pixel of four in each frame.
CLIP_MAP = np.array([[[1.0, 0.0], [0.0, 3.0]], [[2.0, 2.0], [0.0, 0.0]]])  # (T=2, H=2, W=2)
CLIP_MASK = np.array([[[True, False], [False, False]], [[False, True], [False, False]]])
# A second clip: a flat map, the object filling frame 0 and absent from frame 1.
FLAT_MAP = np.ones((2, 2, 2))
HALF_MASK = np.array([np.ones((2, 2), bool), np.zeros((2, 2), bool)])


def test_pointing_energy_of_one_clip_by_hand():
    assert pointing_energy(CLIP_MAP, CLIP_MASK) == pytest.approx(3 / 8)
    np.testing.assert_allclose(pointing_energy_per_frame(CLIP_MAP, CLIP_MASK), [1 / 4, 2 / 4])
    assert mask_share(CLIP_MASK) == pytest.approx(2 / 8)
    np.testing.assert_allclose(mask_share_per_frame(CLIP_MASK), [1 / 4, 1 / 4])
    # Scaling the map changes nothing; all energy inside scores 1, all outside 0.
    assert pointing_energy(7.5 * CLIP_MAP, CLIP_MASK) == pytest.approx(3 / 8)
    assert pointing_energy(CLIP_MASK.astype(float), CLIP_MASK) == 1.0
    assert pointing_energy((~CLIP_MASK).astype(float), CLIP_MASK) == 0.0


def test_pointing_energy_of_a_batch_averages_the_clips():
    maps = np.stack([CLIP_MAP, FLAT_MAP])  # (N=2, T, H, W)
    masks = np.stack([CLIP_MASK, HALF_MASK])
    assert pointing_energy(maps, masks) == pytest.approx((3 / 8 + 4 / 8) / 2)
    assert mask_share(masks) == pytest.approx((2 / 8 + 4 / 8) / 2)
    np.testing.assert_allclose(pointing_energy_per_frame(maps, masks), [[1 / 4, 2 / 4], [1.0, 0.0]])
    np.testing.assert_allclose(mask_share_per_frame(masks), [[1 / 4, 1 / 4], [1.0, 0.0]])
    # Torch in, the same numbers out: a map that requires grad, a bool mask, half precision.
    saliency = torch.tensor(maps, requires_grad=True)
    assert pointing_energy(saliency, torch.from_numpy(masks)) == pytest.approx(7 / 16)
    assert pointing_energy(saliency.detach().bfloat16(), masks.astype(np.uint8)) == pytest.approx(7 / 16)


def test_a_flat_map_scores_exactly_chance():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 4, 6, 5)) < rng.random((3, 1, 1, 1))  # clips of different object areas
    flat = np.broadcast_to(rng.uniform(0.1, 2.0, (3, 1, 1, 1)), masks.shape)  # a constant per clip
    assert pointing_energy(flat, masks) == pytest.approx(mask_share(masks))
    np.testing.assert_allclose(pointing_energy_per_frame(flat, masks), mask_share_per_frame(masks))


def test_pointing_energy_without_energy_is_nan():
    dark = CLIP_MAP.copy()
    dark[1] = 0.0  # frame 1 carries no energy: its share is undefined, the clip's is 1 / 4
    shares = pointing_energy_per_frame(dark, CLIP_MASK)
    assert shares[0] == pytest.approx(0.25) and math.isnan(shares[1])
    assert pointing_energy(dark, CLIP_MASK) == pytest.approx(0.25)
    assert math.isnan(pointing_energy(np.zeros((2, 2, 2)), CLIP_MASK))


def test_pointing_energy_errors_say_how_to_fix():
    with pytest.raises(ValueError, match=r"same shape: reduce the colour channels first"):
        pointing_energy(np.ones((1, 3, 2, 2, 2)), CLIP_MASK[None])  # (N, 3, T, H, W) saliency
    with pytest.raises(ValueError, match=r"same shape: resize the map"):
        pointing_energy(np.ones((1, 1, 1)), CLIP_MASK)  # a coarse Grad-CAM map
    with pytest.raises(ValueError, match=r"non-negative.*minimum of -1.*abs\(\)"):
        pointing_energy(CLIP_MAP - 1.0, CLIP_MASK)
    with pytest.raises(ValueError, match="NaN or infinite"):
        pointing_energy(np.full((2, 2, 2), np.nan), CLIP_MASK)
    with pytest.raises(ValueError, match=r"mask must be boolean \(or 0 and 1\)"):
        mask_share(np.full((2, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"mask must be shaped \(T, H, W\) or \(N, T, H, W\)"):
        mask_share(np.ones((2, 2), bool))


# --- the motion of a clip -----------------------------------------------------------------------------------


def _drifting_texture(velocity: tuple[float, float], frames: int = 8, size: int = 64) -> np.ndarray:
    """A smooth random texture translated by ``velocity`` (dy, dx) pixels per frame, sampled bilinearly."""
    from scipy.ndimage import gaussian_filter, shift

    texture = gaussian_filter(np.random.default_rng(0).random((3 * size, 3 * size)), 1.5)
    clip = [shift(texture, (velocity[0] * t, velocity[1] * t), order=1, mode="wrap") for t in range(frames)]
    return np.stack(clip)[:, size : 2 * size, size : 2 * size]  # (T, size, size)


@pytest.mark.parametrize("velocity", [(0.0, 2.0), (-1.0, 2.0), (1.5, -0.5), (-3.0, 0.0)])
def test_dominant_motion_finds_a_translation_to_a_quarter_of_a_pixel(velocity):
    np.testing.assert_allclose(dominant_motion(_drifting_texture(velocity)), velocity, atol=0.25)


def test_dominant_motion_ignores_a_still_background_and_reads_rgb_and_torch():
    still = _drifting_texture((0.0, 0.0))
    moving = _drifting_texture((1.0, -2.0))
    clip = still.copy()
    clip[:, 16:48, 16:48] = moving[:, 16:48, 16:48]  # a moving window over a still, stronger background
    rgb = np.repeat((255 * clip / clip.max()).astype(np.uint8)[..., None], 3, axis=-1)  # (T, H, W, 3)
    np.testing.assert_allclose(dominant_motion(torch.from_numpy(rgb)), (1.0, -2.0), atol=0.3)
    np.testing.assert_array_equal(dominant_motion(np.repeat(still[:1], 5, axis=0)), (0.0, 0.0))


def test_dominant_motion_recovers_the_synthetic_classes_directions():
    config = MotionConfig(frames=16, height=112, width=112)
    for label, name in enumerate(config.class_names):
        for seed in range(4):
            dy, dx = dominant_motion(render_motion_video(label, seed, config))
            error = (math.degrees(math.atan2(-dy, dx)) - DIRECTIONS[name] + 180) % 360 - 180
            assert abs(error) < 30 and math.hypot(dy, dx) > 0.5, (name, seed, dy, dx)


def test_dominant_motion_refuses_what_is_not_a_clip():
    with pytest.raises(ValueError, match="at least 3 frames"):
        dominant_motion(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        dominant_motion(np.full((4, 8, 8), np.nan))


def test_motion_direction_and_angle_difference():
    """Rows grow downwards: a displacement up the image (dy < 0) points at 90 degrees."""
    assert motion_direction(0.0, 2.0) == (2.0, 0.0)
    assert motion_direction(-1.0, 0.0) == (1.0, 90.0)
    assert abs(motion_direction(0.0, -1.0)[1]) == 180.0  # left: +-180 (atan2 of -0.0 gives -180)
    assert motion_direction(1.0, 0.0)[1] == -90.0
    assert motion_direction(3.0, 4.0)[0] == 5.0
    assert angle_difference(350.0, 10.0) == -20.0 and angle_difference(10.0, 350.0) == 20.0
    assert angle_difference(-90.0, 270.0) == 0.0 and angle_difference(180.0, 0.0) == -180.0
