"""Import the authors' SegNet checkpoints (``.pth``) into the zoo format (Sec. 3.1-3.2).

Their state dicts use the names this package also uses (``encoder.conv11.weight``, ``encoder.bn11.*``, ...,
``decoder.conv53d.*``, ..., ``decoder.conv11d.*``, ``decoder.conv_final.*``), possibly wrapped as
``{"model_state": {...}}`` / ``{"state_dict": {...}}``, prefixed ``module.`` (DataParallel) or ``_orig_mod.``
(torch.compile), and possibly without BatchNorm's ``num_batches_tracked`` buffers. Their AE maps RGB images
normalised with torchvision's ImageNet mean/std to the same space, which is what :class:`SegNet` does
inside, so after conversion ``SegNet(x01)`` equals ``their_net(normalise(x01))`` de-normalised.
Writing the converted weights as an ``ae`` unit is :func:`s2s_core.authors_import.import_pth` (a floor above
:mod:`s2s_core.checkpoints`, which this module does not import).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.models.segnet import IMAGENET_MEAN, IMAGENET_STD, SegNet
from s2s_core.weights import load_into, unwrap_state_dict

_PREFIXES = ("module.", "_orig_mod.", "model.", "ae.", "autoencoder.")
_ENCODER_CONV = re.compile(r"^encoder\.conv(\d)(\d)\.weight$")
_FLAT = re.compile(r"^(conv|bn)\d\d(d?)\.")


def _flat_owner(key: str) -> str:
    m = _FLAT.match(key)
    return "decoder" if key.startswith("conv_final.") or (m is not None and m.group(2)) else "encoder"


def _strip_prefixes(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = dict(sd)
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if out and all(k.startswith(prefix) for k in out):
                out = {k[len(prefix):]: v for k, v in out.items()}
                changed = True
    flat = all(_FLAT.match(k) or k.startswith("conv_final.") for k in out)
    if out and flat:  # a flat layout (conv11.*, conv11d.*): the trailing "d" marks the decoder
        out = {f"{_flat_owner(k)}.{k}": v for k, v in out.items()}
    return out


def infer_config(sd: Mapping[str, Tensor]) -> dict:
    """Widths and depths from the encoder's conv weights ``encoder.conv{k}{j}.weight`` (out, in, 3, 3)."""
    stages: dict[int, dict[int, int]] = {}
    for key, value in sd.items():
        m = _ENCODER_CONV.match(key)
        if m:
            stages.setdefault(int(m.group(1)), {})[int(m.group(2))] = int(value.shape[0])
    if not stages:
        raise CheckpointError("no encoder.conv<stage><index>.weight tensors found: this is not a SegNet checkpoint "
                              f"in the authors' layout (first keys: {list(sd)[:3]})")
    widths, depths = [], []
    for k in range(1, len(stages) + 1):
        convs = stages.get(k)
        if not convs or sorted(convs) != list(range(1, len(convs) + 1)):
            raise CheckpointError(f"encoder stage {k} is missing or has gaps in its conv numbering ({sorted(convs or [])})")
        widths.append(convs[1])
        depths.append(len(convs))
    return {"widths": widths, "depths": depths, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def convert_authors_state_dict(sd: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict]:
    """Authors' checkpoint contents -> (our ``SegNet`` state dict, ``SegNet.config``).

    Accepts the raw ``torch.load`` result (wrapper dicts included). Fills missing ``num_batches_tracked``
    with zeros; raises :class:`CheckpointError` naming the first tensor that does not fit.
    """
    state = _strip_prefixes(unwrap_state_dict(sd, "the authors' checkpoint"))
    config = infer_config(state)
    try:
        model = SegNet(**config)
    except ConfigError as exc:
        raise CheckpointError(f"the checkpoint's layout is not a supported SegNet ({exc})") from exc
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    load_into(model, state, "the authors' checkpoint")  # validates names and shapes
    return state, config

