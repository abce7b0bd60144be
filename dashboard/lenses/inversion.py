"""The feature-inversion lens (Mahendran & Vedaldi, CVPR 2015) on the Lenses page.

Per classifier i: x, A_i(x) and the inversion x* from a layer the user picks, each with i's top-5 on it and the
normalised feature error at that layer, and the error map |x − x*| (with its AUC against the ground-truth mask
where the image has one; masks are outlined on every image); then the depth sweep (one classifier's inversions from its first to its
last layer, the paper's Fig. 6 layout); :func:`dataset_section` draws the test-set table (the page's second tab). Inversions run with a progress bar and are kept in a process-wide cache
keyed by (zoo, image, classifier, layer, settings), so coming back to an image is instant.
"""

from __future__ import annotations

import copy
import html
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import pandas as pd
import streamlit as st
import torch

from dashboard import downloads, state
from dashboard.lenses.base import PageContext
from s2s_core.analysis.accounts import inversion_account
from s2s_core.analysis.figures import inversion_depth_figure
from s2s_core.errors import S2SError
from s2s_core.imaging import to_uint8, upscale
from s2s_core.lenses.inversion.invert import STEPS, InversionSettings
from s2s_core.lenses.inversion.priors import tv_weight
from s2s_core.lenses.inversion.view import (
    AE,
    INVERSION,
    X,
    depth_sweep,
    inversion_view,
    sweep_frame,
    sweep_montage,
)
from s2s_core.lenses.predictions import Prediction
from s2s_core.lenses.scores import pixel_auc
from s2s_core.lenses.tiles import heat_array, with_outline
from s2s_core.models.layers import LayerInfo, candidate_layers, default_layer, default_layers, list_layers

TV_CHOICES = ("by depth (paper)", 0.05, 0.5, 5.0, 50.0, 500.0)
TITLES = {X: "x", AE: "A_i(x) (S2S)", INVERSION: "inversion"}
SWEEP_PER_ROW = 10  # the paper's Fig. 6: two rows of ten


# --------------------------------------------------------------------------------------------- caches
class _Store:
    """A small LRU of finished inversions shared by every session of this server (thread-safe)."""

    def __init__(self, size: int = 96) -> None:
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: Hashable):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: Hashable, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@st.cache_resource
def _store() -> _Store:
    return _Store()


@st.cache_resource(max_entries=16)
def _private_classifier(path: str, stamp: float, name: str):
    """A private copy of classifier ``name`` and a lock: inversions hook its modules, which must not fire in
    the shared model while another page runs it."""
    zoo = state.load_zoo(state.ZooRef(path, stamp))
    return copy.deepcopy(zoo.classifiers[name]).eval(), threading.Lock()


@st.cache_data(show_spinner=False, max_entries=64)
def _layers(path: str, stamp: float, name: str, size: int) -> list[LayerInfo]:
    clf, lock = _private_classifier(path, stamp, name)
    with lock:
        return list_layers(clf, size)


def prepare(ref: state.ZooRef) -> None:
    """List every classifier's layers (on its private copy) into the cache the layer pickers read: what
    :mod:`dashboard.lenses.warm` does ahead of the page."""
    zoo = state.load_zoo(ref)
    for name in zoo.classifiers:
        _layers(ref.path, ref.stamp, name, zoo.input_size)


def _progress(text: str):
    """A progress bar and a callback ``(done, total)`` that moves it about 50 times."""
    bar = st.progress(0.0, text=text)

    def update(done: int, total: int) -> None:
        if done == total or done % max(1, total // 50) == 0:
            bar.progress(done / total, text=f"{text} {done}/{total} steps")
    return bar, update


def _view_key(ctx: PageContext, name: str, layer: str, settings: InversionSettings) -> tuple:
    return ("view", ctx.ref.path, ctx.ref.stamp, ctx.source_key, name, layer, settings)


def _view(ctx: PageContext, name: str, layer: str, settings: InversionSettings):
    key = _view_key(ctx, name, layer, settings)
    found = _store().get(key)
    if found is None:
        clf, lock = _private_classifier(ctx.ref.path, ctx.ref.stamp, name)
        bar, update = _progress(f"Inverting {name} at {layer}…")
        with lock:  # another session may have finished the same inversion while this one waited
            found = _store().get(key) or inversion_view(state.load_zoo(ctx.ref), ctx.x01, name, layer, settings,
                                                        classes=ctx.classes, progress=update, classifier=clf)
        bar.empty()
        _store().put(key, found)
    return found


# ---------------------------------------------------------------------------------------------- drawing
def _topk_html(prediction: Prediction, title: str) -> str:
    rows = "".join(f"<tr><td style='padding:0 4px'>{r + 1}</td><td style='padding:0 4px'>{html.escape(lab)}</td>"
                   f"<td style='padding:0 4px;text-align:right'>{p:.0%}</td></tr>"
                   for r, (lab, p) in enumerate(zip(prediction.labels, prediction.probs, strict=True)))
    return (f"<div style='font-size:0.72em'><div style='color:#666'>{html.escape(title)}</div>"
            f"<table style='border-collapse:collapse'>{rows}</table></div>")


def _error_map(ctx: PageContext, heat: np.ndarray, mask: np.ndarray | None) -> None:
    """|x − x*| as a heatmap (the map the ground-truth table scores), with this image's AUC against its mask."""
    factor = max(1, 256 // heat.shape[0])
    st.image(heat_array(heat, mask, factor), width="stretch", caption="|x − x*| (where the inversion differs)")
    if ctx.mask is not None:
        auc = float(pixel_auc(torch.from_numpy(heat)[None], torch.from_numpy(ctx.mask)[None])[0])
        st.markdown(f"<div style='font-size:0.78em'>pixel AUC against the mask: <b>{auc:.3f}</b> (chance 0.5; "
                    "above: it errs more inside the mask)</div>", unsafe_allow_html=True)


def _layer_label(info: LayerInfo) -> str:
    return f"{info.name} · {info.kind} · {'×'.join(map(str, info.shape))} · depth {info.depth:.2f}"


def _settings(key: str) -> InversionSettings:
    with st.expander("Inversion settings (the paper's defaults)", expanded=False):
        c = st.columns(4)
        steps = c[0].select_slider("steps", [25, 50, 100, 200, 400, 800], value=STEPS, key=f"{key}_steps",
                                   help="Gradient steps with momentum 0.9; the step size falls 10× after a quarter "
                                        "and again after three quarters of them.")
        seed = c[1].number_input("seed", 0, 10_000, 0, key=f"{key}_seed", help="Seed of the random start.")
        jitter = c[2].select_slider("jitter (px)", [0, 1, 2, 4], value=0, key=f"{key}_jitter",
                                    help="Shift the image by up to this many pixels at random every step.")
        tv = c[3].selectbox("λ_TV", TV_CHOICES, key=f"{key}_tv",
                            help="Weight of the TV^β prior (β = 2). By depth: 0.5 up to depth 0.3, 5 up to 0.6, "
                                 "50 deeper, as in the paper's table for AlexNet's 20 layers.")
        st.caption("Objective: ‖Φ(x) − Φ(x₀)‖² / ‖Φ(x₀)‖² + λ_α R_α(u) + λ_TV R_TV^β(u) on the normalised image "
                   "u = (x − mean) / σ, σ the average norm of natural images; λ_α = σ^α / (H W B^α), α = 6. The error "
                   "under each image is ‖Φ(image) − Φ(x)‖ / ‖Φ(x)‖ at the chosen layer.")
    return InversionSettings(steps=int(steps), seed=int(seed), jitter=int(jitter),
                             lambda_tv=None if isinstance(tv, str) else float(tv))


def _row(ctx: PageContext, name: str, settings: InversionSettings, key: str, run: bool) -> pd.DataFrame | None:
    """Classifier ``name``'s row: its layer picker, then x, A_i(x), the inversion and the error map; computed
    only when ``run`` (asked for) or already in the cache."""
    network = getattr(state.load_zoo(ctx.ref).classifiers[name].spec, "name", name)
    infos = _layers(ctx.ref.path, ctx.ref.stamp, name, int(ctx.x01.shape[-1]))
    clf, _ = _private_classifier(ctx.ref.path, ctx.ref.stamp, name)
    default = default_layer(clf, infos)
    options = sorted({*candidate_layers(infos), default}, key=infos.index)
    head = st.columns([1, 2], vertical_alignment="bottom")
    head[0].markdown(f"#### {html.escape(name)} <span style='font-size:0.6em;color:#666'>{html.escape(network)}"
                     "</span>", unsafe_allow_html=True)
    chosen = head[1].selectbox(f"layer of {name}", options, index=options.index(default),
                               format_func=_layer_label, key=f"{key}_layer_{name}")
    if not run and _store().get(_view_key(ctx, name, chosen.name, settings)) is None:
        return None
    try:
        view = _view(ctx, name, chosen.name, settings)
    except S2SError as exc:
        st.error(str(exc))
        return None
    lam = view.settings.lambda_tv
    cols = st.columns(len(view.images) + 2)
    mask = ctx.drawn_mask
    for col, im in zip(cols, view.images, strict=False):
        with col:
            factor = max(1, 256 // im.image.shape[0])
            st.image(with_outline(upscale(im.image, factor), mask, factor), width="stretch",
                     caption=TITLES.get(im.name, im.name).replace("_i", f"_{name}"))
            error = "target" if im.name == X else f"{im.error:.3f}"
            st.markdown(f"<div style='font-size:0.78em'>feature error at {html.escape(chosen.name)}: "
                        f"<b>{error}</b></div>", unsafe_allow_html=True)
            st.markdown(_topk_html(im.prediction, f"top-5 of {name}"), unsafe_allow_html=True)
    with cols[-2]:
        _error_map(ctx, view.error_map, mask)
    with cols[-1]:
        st.caption(f"λ_TV {lam:g} (default at depth {chosen.depth:.2f}: {tv_weight(chosen.depth):g}), "
                   f"{view.settings.steps} steps, seed {view.settings.seed}; objective "
                   f"{view.objective[0]:.3g} → {view.objective[-1]:.3g}; {view.seconds:.1f} s.")
        st.line_chart(pd.DataFrame({"log₁₀ objective": np.log10(np.maximum(view.objective, 1e-12))}), height=120,
                      x_label="step", y_label="")
        row = np.concatenate([np.pad(im.image, ((0, 0), (0, 2), (0, 0)), constant_values=255) for im in view.images],
                             axis=1)
        downloads.png_button(upscale(row, 4), f"{ctx.file_stem}_{name}_{chosen.name}_inversion.png",
                             key=f"{key}_png_{name}", label="PNG (x | A_i(x) | inversion)")
    frame = view.frame()
    frame.insert(2, "lambda_tv", lam)
    frame.insert(3, "steps", view.settings.steps)
    frame.insert(4, "seed", view.settings.seed)
    return frame


def _sweep(ctx: PageContext, settings: InversionSettings, key: str) -> None:
    st.markdown("#### Depth sweep")
    st.caption("One classifier's inversions at its block outputs (where none are known: from its first to its "
               "last layer), in order (the paper's Fig. 6), each with λ_TV for its own depth. Under each: layer, normalised error, top-1.")
    c = st.columns([1, 1, 2], vertical_alignment="bottom")
    name = c[0].selectbox("classifier", ctx.names, key=f"{key}_sweep_clf")
    count = c[1].select_slider("layers", [4, 6, 8, 10, 12, 16], value=8, key=f"{key}_sweep_n")
    infos = _layers(ctx.ref.path, ctx.ref.stamp, name, int(ctx.x01.shape[-1]))
    layers = default_layers(_private_classifier(ctx.ref.path, ctx.ref.stamp, name)[0], infos, count)
    sweep_settings = InversionSettings(**{**settings.as_dict(), "lambda_tv": None})
    skey = ("sweep", ctx.ref.path, ctx.ref.stamp, ctx.source_key, name, tuple(i.name for i in layers), sweep_settings)
    items = _store().get(skey)
    if items is None:
        slot = c[2].empty()
        if not slot.button(f"Run the depth sweep ({len(layers)} inversions of {settings.steps} steps)",
                           key=f"{key}_sweep_run", type="primary"):
            return
        slot.empty()
        clf, lock = _private_classifier(ctx.ref.path, ctx.ref.stamp, name)
        bar, update = _progress(f"Depth sweep of {name}…")
        with lock:
            items = depth_sweep(clf, ctx.x01, layers, sweep_settings, classes=ctx.classes, progress=update)
        bar.empty()
        _store().put(skey, items)
    x = to_uint8(ctx.x01[0])
    tiles = [(x, "x (target)", "")]
    tiles += [(it.image, f"{it.layer.name} ({it.layer.kind})", f"err {it.error:.3f} · {it.prediction.text(1)}")
              for it in items]
    per_row = len(tiles) if len(tiles) <= SWEEP_PER_ROW else math.ceil(len(tiles) / 2)  # one row, or two
    for start in range(0, len(tiles), per_row):
        for col, (image, title, note) in zip(st.columns(per_row), tiles[start: start + per_row], strict=False):
            col.image(upscale(image, 2), width="stretch", caption=title)
            if note:
                col.markdown(f"<div style='font-size:0.7em;text-align:center'>{html.escape(note)}</div>",
                             unsafe_allow_html=True)
    frame = sweep_frame(name, items)
    st.dataframe(frame, hide_index=True, width="stretch")
    row = downloads.button_row()
    downloads.png_button(upscale(sweep_montage(x, items, per_row=per_row), 3),
                         f"{ctx.file_stem}_{name}_depth_sweep.png", key=f"{key}_sweep_png",
                         label="PNG (depth sweep)", where=row)
    downloads.csv_button(frame, f"{ctx.file_stem}_{name}_depth_sweep.csv", key=f"{key}_sweep_csv", index=False,
                         label="CSV (depth sweep)", where=row)


def dataset_section(ref: state.ZooRef, classes: list[str], key: str = "inv") -> None:
    """Feature inversion across the test set (``inversion.csv``): the account, the error by depth against S2S's
    A_i(x), the table; or how to compute it. ``classes``: the zoo's class names (for "per class")."""
    table = state.result_table(ref, "inversion")
    if table is None:
        data = ref.info.test_dir or "DIR"
        st.info("No feature-inversion results for this zoo yet: run `s2s evaluate "
                f"{state.zoo_label(ref.path)} --data {state.zoo_label(str(data))} --only inversion` "
                "(2 images per class, 4 layers per classifier by default; --per-class, --inversion-layers).")
        return
    st.caption(f"From {state.zoo_label(str(state.result_path(ref, 'inversion')))}: "
               f"{int(table['n'].iloc[0])} images ({table['n'].iloc[0] / max(len(classes), 1):.0f} per class), "
               f"{int(table['steps'].iloc[0])} steps per inversion. Chance is {table['chance'].iloc[0]:.0%}. "
               "The errors are divided by the mean distance between two different test images at the layer "
               "(`pair_distance`): 1 means as far from x as another image. The dashed error is S2S's A_i(x) "
               "measured at the same layer; bars are 95 % intervals.")
    st.markdown(" ".join(inversion_account(table)))
    fig = inversion_depth_figure(table)
    st.plotly_chart(fig, key=f"{key}_data_fig", config={"displayModeBar": False})
    st.dataframe(table.drop(columns=["steps"]), hide_index=True, width="stretch")
    row = downloads.button_row()
    downloads.csv_button(table, "inversion.csv", key=f"{key}_data_csv", index=False, label="CSV", where=row)
    downloads.figure_buttons(fig, "inversion_by_depth", key=f"{key}_data_dl", where=row)


def render(ctx: PageContext, lens=None, key: str = "inv") -> None:
    """Draw the lens for ``ctx``: one row per chosen classifier, then the depth sweep (``lens``: the registry's
    feature-inversion lens; its section draws its own way). The data-set table is :func:`dataset_section`."""
    settings = _settings(key)
    # An inversion is an optimisation per classifier (seconds each): the page shows the other lenses first and
    # inverts on request, or at once when the user asks for that; finished inversions come from the cache.
    c = st.columns([2, 1], vertical_alignment="center")
    auto = c[1].toggle("invert every image at once", key=f"{key}_auto",
                       help="Off: the page shows the other lenses first and inverts when you ask. On: every image "
                            "you pick is inverted straight away.")
    asked = c[0].empty()
    run = auto or st.session_state.get(f"{key}_asked") == (ctx.source_key, settings)
    if not run and asked.button(f"Invert this image for {len(ctx.names)} classifier(s) ({settings.steps} steps "
                                "each, a few seconds per classifier on a CPU)", key=f"{key}_run", type="primary"):
        st.session_state[f"{key}_asked"] = (ctx.source_key, settings)
        run = True
    if run:
        asked.empty()
    frames = [f for f in (_row(ctx, name, settings, key, run) for name in ctx.names) if f is not None]
    if frames:
        downloads.csv_button(pd.concat(frames, ignore_index=True), f"{ctx.file_stem}_inversions.csv",
                             key=f"{key}_csv", index=False, label="CSV (errors and top-5 of every image)")
    st.divider()
    _sweep(ctx, settings, key)
