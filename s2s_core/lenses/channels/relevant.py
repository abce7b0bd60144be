"""Relevant channels as a lens (Oramas, Wang & Tuytelaars, "Visual Explanation by Interpretation", ICLR 2019;
seed 004): the top-k channels whose response times their weight in W weighs most for the class, projected back
to the pixels under the paper's interpolating DeconvNet and under guided backpropagation. Needs W, fitted per
classifier with ``s2s channels fit`` (:mod:`s2s_core.lenses.channels.store`); a classifier without it gets no map.

Settings read from the context's options: ``k`` (channels per image, default :data:`DEFAULT_K`) and, on a page,
``channel_lenses`` (classifier -> a ready :class:`ChannelLens`, or why there is none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from torch import Tensor

from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.lenses.base import BatchContext, Column, Heatmap, Lens
from s2s_core.lenses.channels.lens import DEFAULT_K, ChannelLens, Relevant, combine
from s2s_core.lenses.channels.store import has_channel_weights, load_channel_weights
from s2s_core.lenses.predictions import class_label
from s2s_core.lenses.tiles import Tile, heat_array, heat_tile

RULES = {"channels_deconvnet": "deconvnet", "channels_guided": "guided"}


class RelevantChannels(Lens):
    key = "channels"
    title = "Relevant channels"
    summary = ("the few channels whose response weighs most for i's predicted class, projected back to the "
               "pixels")
    paper = "Oramas, Wang & Tuytelaars, Visual Explanation by Interpretation, ICLR 2019"
    class_conditional = True
    heatmaps = (Heatmap("channels_deconvnet", "relevant channels, DeconvNet (interpolating)"),
                Heatmap("channels_guided", "relevant channels, guided backprop"))

    def channel_lens(self, ctx: BatchContext, classifier: str) -> ChannelLens | None:
        """Classifier ``classifier``'s lens (W loaded once per context), or ``None`` (why: ``ctx.skipped``)."""
        lenses = ctx.state(self.key, lambda: dict(ctx.options.get("channel_lenses") or {}))
        if classifier not in lenses:
            path = getattr(ctx.zoo, "path", None)
            if path is None or not has_channel_weights(Path(path), classifier):
                lenses[classifier] = f"no W: run `s2s channels fit --zoo {path} --classifier {classifier}`"
            else:
                try:
                    lenses[classifier] = ChannelLens(ctx.zoo.classifiers[classifier],
                                                     load_channel_weights(Path(path), classifier), input_size=ctx.size)
                except (CheckpointError, ConfigError) as exc:
                    lenses[classifier] = str(exc)
        lens = lenses[classifier]
        if isinstance(lens, str):
            ctx.skipped[(self.key, classifier)] = lens
            return None
        return lens

    def relevant(self, ctx: BatchContext, classifier: str, lens: ChannelLens,
                 target: Tensor | None = None) -> Relevant:
        """The batch's top-k channels of ``classifier`` (once per batch, classifier and target)."""
        key = ("relevant", classifier, None if target is None else tuple(int(t) for t in target))
        return ctx.cached(key, lambda: lens.relevant(ctx.x, int(ctx.options.get("k", DEFAULT_K)), target))

    def heatmap(self, ctx: BatchContext, classifier: str, variant: str,
                target: Tensor | None = None) -> Tensor | None:
        lens = self.channel_lens(ctx, classifier)
        if lens is None:
            return None
        relevant = self.relevant(ctx, classifier, lens, target)
        return lens.heatmap(ctx.x, relevant.k, RULES[variant], relevant=relevant)

    def column(self, ctx: BatchContext, classifier: str, *, mask: np.ndarray | None = None,
               factor: int = 1) -> tuple[Column, dict[str, np.ndarray]]:
        """The combined DeconvNet and guided maps; the table of the channels (layer, channel, weight in W,
        response, with the classifier and its predicted class); each channel's own two maps as ``details``."""
        lens = self.channel_lens(ctx, classifier)
        if lens is None:
            return Column(classifier, classifier, note=ctx.skipped[(self.key, classifier)]), {}
        # rank and project under both rules with one forward pass fewer; the ranking is kept for the batch
        rel, projected = lens.rank_and_project(ctx.x, int(ctx.options.get("k", DEFAULT_K)), ("deconvnet", "guided"))
        ctx.cached(("relevant", classifier, None), lambda: rel)
        deconv, guided = projected["deconvnet"], projected["guided"]
        maps = {"channels_deconvnet": combine(deconv, rel)[0].cpu().numpy(),
                "channels_guided": combine(guided, rel)[0].cpu().numpy()}
        predicted = class_label(list(ctx.options.get("classes", ())), int(rel.predicted[0]))
        table = pd.DataFrame({"rank": range(1, rel.k + 1), "layer": [lay for lay, _ in rel.names[0]],
                              "channel": [c for _, c in rel.names[0]], "weight": rel.weights[0].tolist(),
                              "response": rel.responses[0].tolist(), "classifier": classifier,
                              "predicted": predicted})
        column = Column(classifier, f"{classifier} predicts {predicted}", table=table, tiles=[
            heat_tile(maps["channels_deconvnet"], f"top-{rel.k} channels, DeconvNet", mask, factor),
            heat_tile(maps["channels_guided"], f"top-{rel.k} channels, guided", mask, factor)])
        d, g = deconv[0].cpu().numpy(), guided[0].cpu().numpy()
        column.details = [Tile(np.concatenate([heat_array(d[r], mask, factor), heat_array(g[r], mask, factor)], axis=1),
                               f"#{row['rank']} {row['layer']} ch {row['channel']} (w = {row['weight']:.3f}): "
                               "DeconvNet | guided") for r, row in table.iterrows()]
        return column, maps
