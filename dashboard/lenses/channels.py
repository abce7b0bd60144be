"""The S2S and relevant-channels lens of the Lenses page (S2S Sec. 3; Oramas et al., seed 004) for one image.

One column per chosen classifier i: S2S's A_i(x), |A_i(x) − A_S(x)| and |x − A_i(x)|; then, where W is fitted,
the combined heatmap of i's top-k relevant channels (the paper's interpolating DeconvNet, and guided
backpropagation), the plain gradient, and the table of those channels (layer, channel, weight in W, response),
each channel's own heatmaps in an expander. Where the image has a ground-truth mask its outline is drawn on every
image, and every heatmap is scored against it; below, the zeroing check of ``channel_zeroing.csv``.
Models and views are cached here (keys: zoo path + mtime, the channel weights' mtimes, the image digest,
the classifiers, k).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import downloads, state
from dashboard.lenses.base import LensContext
from s2s_core.channels.lens import ChannelLens
from s2s_core.channels.store import CHANNELS_DIR, has_channel_weights, load_channel_weights
from s2s_core.channels.view import ChannelsView, channels_view, with_outline
from s2s_core.data.gallery import class_names
from s2s_core.errors import S2SError
from s2s_core.imaging import colour_lut, colourise, upscale

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
def _view(path: str, stamp: float, w_stamp: float, key: str, names: tuple[str, ...], k: int, _zoo, _lenses,
          _x01) -> ChannelsView:
    return channels_view(_zoo, {n: _lenses[n] for n in names if n in _lenses}, _x01, class_names(_zoo), k)


def view(ctx: LensContext, k: int) -> ChannelsView:
    """The cached :class:`ChannelsView` of the chosen image and classifiers."""
    zoo = state.load_zoo(ctx.ref)
    w_stamp = _weights_stamp(ctx.ref.path)
    lenses = _lenses(ctx.ref.path, ctx.ref.stamp, w_stamp, zoo)
    return _view(ctx.ref.path, ctx.ref.stamp, w_stamp, ctx.source_key, tuple(ctx.names), k, zoo, lenses, ctx.x01)


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


def render(ctx: LensContext, key: str = "lens") -> None:
    """Draw the lens for ``ctx`` (see the module docstring)."""
    k = st.select_slider("relevant channels per classifier (k)", KS, value=3, key=f"{key}_k",
                         help="The k channels whose response times their weight for the predicted class is largest.")
    v = view(ctx, k)
    mask = ctx.drawn_mask
    lut = colour_lut()
    factor = max(1, SHOWN // v.image.shape[0])
    st.caption("Each heatmap is scaled to its own maximum (dark: nothing, bright: the most). DeconvNet: the paper's "
               "interpolate-then-stride-1 deconvolution; guided: guided backpropagation; both project the top-k "
               "channels' activations to the input, weighted by their share of the response.")
    shown = [n for n in ctx.names if n in v.s2s or n in v.per or n in v.missing]
    cols = st.columns(max(1, len(shown)))
    tiles = []
    for col, name in zip(cols, shown, strict=False):
        c = v.per.get(name)
        with col:
            st.markdown(f"**{html.escape(name)}**" + (f" predicts **{html.escape(c.predicted)}**" if c else ""))
            rows = []
            if name in v.s2s:
                recon, change, residual = v.s2s[name]
                rows.append((with_outline(upscale(recon, factor), mask, factor), f"S2S: A_{name}(x)"))
                rows.append((_heat(change, factor, mask, lut), f"|A_{name}(x) − A_S(x)|"))
                rows.append((_heat(residual, factor, mask, lut), f"|x − A_{name}(x)|"))
            if c is not None:
                rows += [(_heat(c.heatmap, factor, mask, lut), f"top-{v.k} channels, DeconvNet"),
                         (_heat(c.guided_heatmap, factor, mask, lut), f"top-{v.k} channels, guided"),
                         (_heat(c.gradient, factor, mask, lut), "gradient of the class score")]
            for image, caption in rows:
                st.image(image, caption=caption, width="stretch")
            if rows:
                tiles.append(np.concatenate([with_outline(upscale(v.image, factor), mask, factor),
                                             *[img for img, _ in rows]], axis=0))
            if c is None:
                st.info(f"{name}: {v.missing.get(name, 'no relevant channels')}")
                continue
            st.markdown(_table_html(c.table), unsafe_allow_html=True)
            with st.expander("each channel"):
                for r, row in c.table.iterrows():
                    st.image(np.concatenate([_heat(c.deconvnet[r], factor, mask, lut),
                                             _heat(c.guided[r], factor, mask, lut)], axis=1),
                             caption=f"#{row['rank']} {row['layer']} ch {row['channel']} (w = {row['weight']:.3f}): "
                                     "DeconvNet | guided", width="stretch")
    if ctx.mask is not None and v.per:
        scores = v.scores(ctx.mask)
        wide = scores.pivot(index="label", columns="classifier", values="AUC")
        wide = wide.reindex(list(dict.fromkeys(scores["label"])))[list(v.per)].round(3)
        wide.index.name = "lens"
        st.markdown("**This image against its ground-truth shape**: pixel AUC of each heatmap (chance 0.5; the "
                    "Ground truth table below scores the whole test split)")
        st.dataframe(wide, width="stretch")
    row = downloads.button_row()
    if tiles:
        gap = np.full((max(t.shape[0] for t in tiles), 4, 3), 255, np.uint8)
        tiles = [np.pad(t, ((0, gap.shape[0] - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]
        downloads.png_button(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1),
                             f"{ctx.file_stem}_channels.png", key=f"{key}_png", label="PNG of every column", where=row)
    if v.per:
        table = pd.concat([c.table.assign(classifier=n, predicted=c.predicted) for n, c in v.per.items()])
        downloads.csv_button(table, f"{ctx.file_stem}_relevant_channels.csv", key=f"{key}_csv", index=False,
                             label="CSV of the relevant channels", where=row)
    _zeroing(ctx, key)


def _zeroing(ctx: LensContext, key: str) -> None:
    st.markdown("#### Zeroing the relevant channels (the paper's first check)")
    zero = state.result_table(ctx.ref, "channel_zeroing")
    if zero is None:
        st.info("No zeroing table yet: fit W (`s2s channels fit`) and run `s2s evaluate ... --only channel_zeroing`.")
        return
    st.markdown("Top-1 on the test images as they are, with each image's top-k relevant channels set to zero, and "
                "with k random channels of the same layers set to zero instead (mean ± std, min–max over "
                f"{int(zero['draws'].max())} draws; `channel_zeroing.csv`).")
    shown = zero.assign(random=[f"{m:.3f} ± {s:.3f} ({lo:.3f}–{hi:.3f})" for m, s, lo, hi in zip(
        zero["top1_random_zeroed"], zero["random_std"], zero["random_min"], zero["random_max"], strict=True)])
    st.dataframe(shown[["classifier", "k", "top1", "top1_relevant_zeroed", "random"]].rename(columns={
        "top1": "top-1", "top1_relevant_zeroed": "top-k relevant zeroed", "random": "k random zeroed"}),
        hide_index=True, width="stretch")
    downloads.csv_button(zero, f"{ctx.ref.info.name}_channel_zeroing.csv", key=f"{key}_zero_csv", index=False)
