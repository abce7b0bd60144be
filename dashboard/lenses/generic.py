"""Any lens of the registry on the Lenses page, drawn from its display-ready view (:meth:`s2s_core.lenses.base.
Lens.view`): one column per classifier with its tiles, notes and tables, this image's scores against its mask,
and a PNG of every column. A lens without a section of its own (:data:`dashboard.lenses.SECTIONS`) is drawn
here, so a new lens needs nothing in the dashboard."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from dashboard import downloads, state
from dashboard.lenses.base import PageContext
from s2s_core.lenses.base import ImageBatch, Lens, LensView
from s2s_core.lenses.registry import get
from s2s_core.lenses.tiles import image_tile, shown_factor, side_by_side, stack


@st.cache_resource(max_entries=8, show_spinner=False)
def _batch(path: str, stamp: float, source: str, names: tuple[str, ...], _zoo, _x01) -> ImageBatch:
    """The chosen image's views (A_S and every chosen A_i) from one encoder pass, shared (read-only) by every
    lens that reads reconstructions (S2S, the S2S control), so the image is encoded once per page view."""
    return ImageBatch.of(_zoo, _x01, [n for n in names if n in _zoo.decoders])


@st.cache_data(max_entries=32, show_spinner="Computing the lens…")
def _view(lens_key: str, path: str, stamp: float, source: str, names: tuple[str, ...], outline: bool,
          _zoo, _x01, _mask, _classes, _batch) -> LensView:
    factor = shown_factor(_zoo.input_size)
    return get(lens_key).view(_zoo, _x01, list(names), classes=_classes, mask=_mask, factor=factor,
                              options={"classes": _classes}, batch=_batch() if _batch else None)


def view(ctx: PageContext, lens: Lens) -> LensView:
    """The cached view of ``lens`` on the chosen image and classifiers."""
    names = tuple(ctx.names) if lens.needs_model else tuple(ctx.names[:1])  # one column: it reads no classifier
    zoo = state.load_zoo(ctx.ref)
    shared = (lambda: _batch(ctx.ref.path, ctx.ref.stamp, ctx.source_key, tuple(ctx.names), zoo, ctx.x01)) \
        if lens.reads_reconstructions else None  # made only when the view is not cached already
    return _view(lens.key, ctx.ref.path, ctx.ref.stamp, ctx.source_key, names, ctx.drawn_mask is not None,
                 zoo, ctx.x01, ctx.drawn_mask, list(ctx.classes), shared)


def draw(ctx: PageContext, lens: Lens, v: LensView, key: str) -> None:
    """Draw a computed view: columns, this image's scores against its mask, the PNG of every column."""
    factor = shown_factor(v.image.shape[0])
    if lens.needs_model:
        for col, column in zip(st.columns(max(1, len(v.columns))), v.columns, strict=False):
            with col:
                st.markdown(f"**{html.escape(column.title)}**")
                if column.tiles:  # one picture per column, its tiles stacked: a few images to send, not dozens
                    st.image(stack(column.tiles), width="stretch",
                             caption=" · ".join(t.caption for t in column.tiles) + " (top to bottom)")
                if column.note:
                    st.info(f"{column.classifier}: {column.note}")
    else:  # maps that read no classifier: drawn once, side by side, each as wide as a classifier's column
        st.markdown("**reads no classifier** (the same for every classifier)")
        tiles = [t for column in v.columns for t in column.tiles]
        for col, tile in zip(st.columns(max(len(ctx.names), len(tiles), 1)), tiles, strict=False):
            col.image(tile.image, caption=tile.caption, width="stretch")
        for column in v.columns:
            if column.note:
                st.info(column.note)
    strips = [np.concatenate([image_tile(v.image, "x", ctx.drawn_mask, factor).image,
                              *[t.image for t in column.tiles]], axis=0) for column in v.columns if column.tiles]
    if ctx.mask is not None and v.heatmaps:
        scores = v.scores(ctx.mask, lens.labels())
        wide = scores.pivot(index="label", columns="classifier", values="AUC")
        wide = wide.reindex(list(dict.fromkeys(scores["label"])))[list(v.heatmaps)].round(3)
        wide.index.name = "heatmap"
        if not lens.needs_model:
            wide.columns = ["reads no classifier"]
        st.markdown(f"**This image against its ground-truth mask** ({lens.title}): pixel AUC of each heatmap "
                    "(chance 0.5; the Ground truth table below scores the whole test split)")
        st.dataframe(wide, width="stretch")
    if strips:
        downloads.png_button(side_by_side(strips), f"{ctx.file_stem}_{lens.key}.png", key=f"{key}_png",
                             label="PNG of every column")


def render(ctx: PageContext, lens: Lens) -> None:
    """Draw ``lens`` for ``ctx`` with the generic layout."""
    st.caption(f"{lens.summary[0].upper()}{lens.summary[1:]} ({lens.paper}). Each heatmap is scaled to its own "
               "maximum (dark: nothing, bright: the most).")
    draw(ctx, lens, view(ctx, lens), f"lens_{lens.key}")
