"""Pictures: the one place in vidlens that imports matplotlib.

Compute functions elsewhere return arrays; turning them into something to look at is a separate call here:

* :mod:`~vidlens.viz.figures`: matplotlib figures built with the object API (``matplotlib.figure.Figure``,
  rendered by Agg when saved; never pyplot, never ``matplotlib.use``), and :func:`save_figure` to write one
  atomically. Training curves, confusion matrices, t-SNE maps, the reproduction figure and activation
  maximisation's objective curve live here.
* :mod:`~vidlens.viz.tables`: aligned text tables and Markdown tables, as strings.
* :mod:`~vidlens.viz.overlay`: colour maps on float maps in [0, 1] and heat maps blended onto uint8 frames.
* :mod:`~vidlens.viz.animation`: GIF and MP4 writers for uint8 clips, and :func:`tile` to lay several
  clips side by side.
* :mod:`~vidlens.viz.interpretation`: pictures of interpretation results: contact sheets, maps overlaid on
  clips, feature-map and filter grids, filter-norm heat maps, and the ``.gif``/``.mp4``/``.png`` of a result.
* :mod:`~vidlens.viz.units`: dendrograms and redundancy curves of filters, correlation and mutual-information
  heat maps, per-layer histograms of temporal sensitivity and DSI, polar tuning curves, preferred speeds.

matplotlib is imported inside the functions that draw, so importing vidlens neither loads it nor touches
its global backend.

    from vidlens.viz import overlay, tile, write_gif
    write_gif(tile([clip, overlay(clip, cam, alpha=0.4)]), "cam.gif", fps=8)
"""

from vidlens.viz.animation import tile, write_gif, write_mp4
from vidlens.viz.figures import (
    confusion_figure,
    embedding_figure,
    objective_curve_figure,
    pointing_game_figure,
    reproduction_figure,
    save_figure,
    training_curves,
)
from vidlens.viz.interpretation import (
    clips_sheet,
    contact_sheet,
    feature_map_grid,
    filter_grid,
    filter_norms_figure,
    overlay_clip,
    rgb_clip,
    save_animation,
    save_clips,
    save_interpretation,
)
from vidlens.viz.overlay import colorize, overlay
from vidlens.viz.tables import markdown_table, text_table
from vidlens.viz.units import (
    dendrogram_figure,
    dependence_figure,
    dsi_figure,
    layer_histograms_figure,
    preferred_speed_figure,
    redundancy_curve_figure,
    temporal_sensitivity_figure,
    tuning_polar_figure,
)

__all__ = [
    "clips_sheet",
    "colorize",
    "confusion_figure",
    "contact_sheet",
    "dendrogram_figure",
    "dependence_figure",
    "dsi_figure",
    "embedding_figure",
    "feature_map_grid",
    "filter_grid",
    "filter_norms_figure",
    "layer_histograms_figure",
    "markdown_table",
    "objective_curve_figure",
    "overlay",
    "overlay_clip",
    "pointing_game_figure",
    "preferred_speed_figure",
    "redundancy_curve_figure",
    "reproduction_figure",
    "rgb_clip",
    "save_animation",
    "save_clips",
    "save_figure",
    "save_interpretation",
    "temporal_sensitivity_figure",
    "text_table",
    "tile",
    "training_curves",
    "tuning_polar_figure",
    "write_gif",
    "write_mp4",
]
