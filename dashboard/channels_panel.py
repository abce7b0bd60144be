"""The relevant-channels panel of the Lenses page (Oramas et al., seed 004), beside S2S, for one image.

One column per classifier: S2S's A_i(x) and |A_i(x) − A_S(x)|, the combined heatmap of its top-k relevant
channels (the paper's interpolating DeconvNet, and guided backpropagation), the plain gradient, and the table
of those channels (layer, channel, weight in W, response); each channel's own heatmaps in an expander. Where the
image has a ground-truth mask its outline is drawn on every image, and every heatmap is scored against it.
Models and views are cached here (keys: zoo path + mtime, the channel weights' mtimes, the image digest, k).
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import downloads, state
from dashboard.lens_image import ImageChoice
from s2s_core.channels.lens import ChannelLens
from s2s_core.channels.store import CHANNELS_DIR, has_channel_weights, load_channel_weights
from s2s_core.channels.view import ChannelsView, channels_view, with_outline
from s2s_core.data.gallery import class_names
from s2s_core.errors import S2SError
from s2s_core.imaging import colour_lut, colourise, prepare_image, upscale

KS = (1, 2, 3, 4, 5)
SHOWN = 160  # pixels: small images are enlarged (nearest neighbour) to at least this


def _weights_stamp(path: str) -> float:
    """The newest mtime of the zoo's channel-weight manifests (0 without any): part of every cache key."""
    files = list((Path(path) / CHANNELS_DIR).glob("*/manifest.json"))
    return max((f.stat().st_mtime for f in files), default=0.0)


@st.cache_resource(max_entries=4, show_spinner="Preparing the relevant-channel lenses…")
def _lenses(path: str, stamp: float, w_stamp: float, _zoo) -> dict[str, ChannelLens | str]:
    out: dict[str, ChannelLens | str] = {}
    for name, clf in _zoo.classifiers.items():
        if not has_channel_weights(path, name):
            out[name] = f"no relevant-channel weights yet: `s2s channels fit --zoo {state.zoo_label(path)} --data DIR`"
            continue
        try:
            out[name] = ChannelLens(clf, load_channel_weights(path, name), input_size=_zoo.input_size)
        except S2SError as exc:
            out[name] = str(exc)
    return out


@st.cache_data(max_entries=32, show_spinner="Ranking the channels and projecting them to the image…")
def _view(path: str, stamp: float, w_stamp: float, key: str, k: int, _zoo, _lenses, _source) -> ChannelsView:
    x = prepare_image(_source, _zoo.input_size)
    return channels_view(_zoo, _lenses, x, class_names(_zoo), k)


def view(ref: state.ZooRef, choice: ImageChoice, k: int) -> ChannelsView:
    """The cached :class:`ChannelsView` of the chosen image (an unreadable image shows its error and stops)."""
    zoo = state.load_zoo(ref)
    w_stamp = _weights_stamp(ref.path)
    lenses = _lenses(ref.path, ref.stamp, w_stamp, zoo)
    source = choice.source
    if choice.upload_name and isinstance(source, bytes):
        source = io.BytesIO(source)
        source.name = choice.upload_name
    try:
        return _view(ref.path, ref.stamp, w_stamp, state.source_key(choice.source), k, zoo, lenses, source)
    except S2SError as exc:
        state.stop_on(exc)
        raise


def _heat(values: np.ndarray, factor: int, mask: np.ndarray | None, lut: np.ndarray) -> np.ndarray:
    vmax = float(np.max(values)) if np.size(values) else 0.0
    return with_outline(upscale(colourise(values, vmax, lut), factor), mask, factor)


def _table_html(table: pd.DataFrame) -> str:
    """The top-k channels as a compact table (rank, layer, channel, weight in W, response)."""
    head = "".join(f"<th style='padding:0 4px;text-align:left'>{h}</th>" for h in ("#", "layer", "ch", "w", "resp."))
    body = "".join(
        f"<tr><td style='padding:0 4px'>{r['rank']}</td><td style='padding:0 4px;word-break:break-all'>"
        f"{html.escape(str(r['layer']))}</td><td style='padding:0 4px'>{r['channel']}</td>"
        f"<td style='padding:0 4px'>{r['weight']:.3f}</td><td style='padding:0 4px'>{r['response']:.4f}</td></tr>"
        for _, r in table.iterrows())
    return (f"<div style='font-size:0.72em'><div style='color:#666'>top relevant channels (layer, channel, weight "
            f"w in W, response x⊙w)</div><table style='border-collapse:collapse;width:100%'><tr>{head}</tr>{body}"
            "</table></div>")


def draw(ref: state.ZooRef, choice: ImageChoice) -> None:
    """Draw the panel for ``choice`` (see the module docstring)."""
    c1, c2 = st.columns([2, 3])
    k = c1.select_slider("relevant channels per classifier (k)", KS, value=3, key="lens_k",
                         help="The k channels whose response times their weight for the predicted class is largest.")
    mask = choice.mask if (choice.mask is not None and c2.toggle(
        "outline the ground-truth shape (cyan)", value=True, key="lens_outline")) else None
    v = view(ref, choice, k)
    for name, why in v.missing.items():
        st.info(f"{name}: {why}")
    if not v.per:
        return
    lut = colour_lut()
    factor = max(1, SHOWN // v.image.shape[0])
    st.caption("Each heatmap is scaled to its own maximum (dark: nothing, bright: the most). DeconvNet: the paper's "
               "interpolate-then-stride-1 deconvolution; guided: guided backpropagation; both project the top-k "
               "channels' activations to the input, weighted by their share of the response.")
    cols = st.columns(len(v.per))
    tiles = []
    for col, (name, c) in zip(cols, v.per.items(), strict=True):
        with col:
            st.markdown(f"**{html.escape(name)}** predicts **{html.escape(c.predicted)}**")
            rows = []
            if c.reconstruction is not None:
                rows.append((with_outline(upscale(c.reconstruction, factor), mask, factor), f"S2S: A_{name}(x)"))
                rows.append((_heat(c.change, factor, mask, lut), f"|A_{name}(x) − A_S(x)|"))
                rows.append((_heat(c.residual, factor, mask, lut), f"|x − A_{name}(x)|"))
            rows += [(_heat(c.heatmap, factor, mask, lut), f"top-{v.k} channels, DeconvNet"),
                     (_heat(c.guided_heatmap, factor, mask, lut), f"top-{v.k} channels, guided"),
                     (_heat(c.gradient, factor, mask, lut), "gradient of the class score")]
            for image, caption in rows:
                st.image(image, caption=caption, width="stretch")
            tiles.append(np.concatenate([with_outline(upscale(v.image, factor), mask, factor),
                                         *[img for img, _ in rows]], axis=0))
            st.markdown(_table_html(c.table), unsafe_allow_html=True)
            with st.expander("each channel"):
                for r, row in c.table.iterrows():
                    st.image(np.concatenate([_heat(c.deconvnet[r], factor, mask, lut),
                                             _heat(c.guided[r], factor, mask, lut)], axis=1),
                             caption=f"#{row['rank']} {row['layer']} ch {row['channel']} (w = {row['weight']:.3f}): "
                                     "DeconvNet | guided", width="stretch")
    if choice.mask is not None:
        scores = v.scores(choice.mask)
        wide = scores.pivot(index="label", columns="classifier", values="AUC")
        wide = wide.reindex(list(dict.fromkeys(scores["label"])))[list(v.per)].round(3)
        wide.index.name = "lens"
        st.markdown("**This image against its ground-truth shape**: pixel AUC of each heatmap (chance 0.5; the "
                    "Ground truth table below scores the whole test split)")
        st.dataframe(wide, width="stretch")
    row = downloads.button_row()
    gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
    downloads.png_button(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1),
                         f"{choice.stem}_channels.png", key="lens_png", label="PNG of every column", where=row)
    table = pd.concat([c.table.assign(classifier=n, predicted=c.predicted) for n, c in v.per.items()])
    downloads.csv_button(table, f"{choice.stem}_relevant_channels.csv", key="lens_csv", index=False,
                         label="CSV of the relevant channels", where=row)
