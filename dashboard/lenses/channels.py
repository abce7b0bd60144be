"""The relevant-channels lens of the Lenses page (Oramas et al., seed 004) for one image.

One column per chosen classifier i: where W is fitted, the combined heatmap of i's top-k relevant channels (the
paper's interpolating DeconvNet, and guided backpropagation) and the table of those channels (layer, channel,
weight in W, response), each channel's own heatmaps in an expander; all from the lens's display-ready view
(:class:`s2s_core.lenses.channels.relevant.RelevantChannels`). :func:`zeroing_section` draws the zeroing check
of ``channel_zeroing.csv`` (the page's test-set tab). The channel lenses (W loaded) are cached per zoo and W's mtimes.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import downloads, state
from dashboard.lenses import generic
from dashboard.lenses.base import PageContext
from s2s_core.analysis.accounts import zeroing_account
from s2s_core.analysis.figures import zeroing_figure
from s2s_core.errors import S2SError
from s2s_core.lenses.base import Lens, LensView
from s2s_core.lenses.channels.lens import ChannelLens
from s2s_core.lenses.channels.store import CHANNELS_DIR, has_channel_weights, load_channel_weights
from s2s_core.lenses.tiles import shown_factor

KS = (1, 2, 3, 4, 5)


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
def _view(path: str, stamp: float, w_stamp: float, key: str, names: tuple[str, ...], k: int, outline: bool,
          _zoo, _lenses, _x01, _mask, _classes, _lens) -> LensView:
    return _lens.view(_zoo, _x01, list(names), classes=_classes, mask=_mask, factor=shown_factor(_zoo.input_size),
                      options={"k": k, "channel_lenses": _lenses, "classes": _classes})


def prepare(ref: state.ZooRef) -> None:
    """Build the zoo's relevant-channel lenses (W loaded, hooked copies of the classifiers) into the cache that
    :func:`view` reads: what :mod:`dashboard.lenses.warm` does ahead of the page."""
    _lenses(ref.path, ref.stamp, _weights_stamp(ref.path), state.load_zoo(ref))


def view(ctx: PageContext, lens: Lens, k: int) -> LensView:
    """The cached view of the chosen image and classifiers with the top ``k`` channels."""
    zoo = state.load_zoo(ctx.ref)
    w_stamp = _weights_stamp(ctx.ref.path)
    lenses = _lenses(ctx.ref.path, ctx.ref.stamp, w_stamp, zoo)
    return _view(ctx.ref.path, ctx.ref.stamp, w_stamp, ctx.source_key, tuple(ctx.names), k,
                 ctx.drawn_mask is not None, zoo, lenses, ctx.x01, ctx.drawn_mask, list(ctx.classes), lens)


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


def render(ctx: PageContext, lens: Lens, key: str = "lens") -> None:
    """Draw the lens for ``ctx`` (see the module docstring)."""
    k = st.select_slider("relevant channels per classifier (k)", KS, value=3, key=f"{key}_k",
                         help="The k channels whose response times their weight for the predicted class is largest.")
    v = view(ctx, lens, k)
    st.caption("Each heatmap is scaled to its own maximum (dark: nothing, bright: the most). DeconvNet: the paper's "
               "interpolate-then-stride-1 deconvolution; guided: guided backpropagation; both project the top-k "
               "channels' activations to the input, weighted by their share of the response.")
    generic.draw(ctx, lens, v, key)
    fitted = [c for c in v.columns if c.table is not None]
    if fitted:
        cols = st.columns(len(fitted))
        for col, column in zip(cols, fitted, strict=True):
            with col:
                st.markdown(_table_html(column.table), unsafe_allow_html=True)
                # a toggle, not an expander: an expander's images are sent (and encoded) even when it is closed
                if st.toggle(f"each channel of {column.classifier}", key=f"{key}_each_{column.classifier}"):
                    for tile in column.details:
                        st.image(tile.image, caption=tile.caption, width="stretch")
        table = pd.concat([c.table for c in fitted])
        downloads.csv_button(table, f"{ctx.file_stem}_relevant_channels.csv", key=f"{key}_csv", index=False,
                             label="CSV of the relevant channels")


def zeroing_caption(zero: pd.DataFrame) -> str:
    """What the zeroing table shows, then what it says (:func:`~s2s_core.analysis.accounts.zeroing_account`)."""
    return ("Per test image, the drop of the predicted class's probability and whether the prediction flips, with "
            "the image's top-k relevant channels zeroed and with k random channels of the same layers zeroed "
            f"(mean over {int(zero['draws'].max())} draws); relevant − random with its paired bootstrap 95 % "
            f"interval over {int(zero['n'].max())} images (`channel_zeroing.csv`). " + " ".join(zeroing_account(zero)))


def zeroing_shown(zero: pd.DataFrame) -> pd.DataFrame:
    """The zeroing table as the page shows it: top-1, the drops and flips with their intervals, the verdict."""
    def interval(what: str, digits: int) -> list[str]:
        return [f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]" for d, lo, hi in
                zip(zero[f"{what}_diff"], zero[f"{what}_ci_low"], zero[f"{what}_ci_high"], strict=True)]

    return pd.DataFrame({
        "classifier": zero["classifier"], "k": zero["k"].astype(int), "top-1": zero["top1"],
        "top-1, relevant zeroed": zero["top1_relevant_zeroed"], "top-1, random zeroed": zero["top1_random_zeroed"],
        "drop, relevant": zero["drop_relevant"], "drop, random": zero["drop_random"],
        "drop: relevant − random [95 % CI]": interval("drop", 4), "flips, relevant": zero["flip_relevant"],
        "flips, random": zero["flip_random"], "flips: relevant − random [95 % CI]": interval("flip", 3),
        "verdict": zero["verdict"]})


def zeroing_section(ref: state.ZooRef, key: str = "lens") -> None:
    """The zeroing check across the test set (``channel_zeroing.csv``): account, figure, table; or how to get it."""
    zero = state.result_table(ref, "channel_zeroing")
    if zero is None:
        st.info("No zeroing table yet: fit W (`s2s channels fit`) and run `s2s evaluate ... --only channel_zeroing`.")
        return
    st.markdown(zeroing_caption(zero))
    fig = zeroing_figure(zero)
    st.plotly_chart(fig, key=f"{key}_zero_fig", config={"displayModeBar": False})
    st.dataframe(zeroing_shown(zero), hide_index=True, width="stretch")
    row = downloads.button_row()
    downloads.figure_buttons(fig, f"{ref.info.name}_channel_zeroing", key=f"{key}_zero_fig_dl", where=row)
    downloads.csv_button(zero, f"{ref.info.name}_channel_zeroing.csv", key=f"{key}_zero_csv", index=False, where=row)
