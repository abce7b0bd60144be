"""Reading weights: the one place that turns a file into a state dict and a state dict into a network.

A leaf module (it imports torch, safetensors and :mod:`s2s_core.errors`, nothing else of s2s), so the zoo
format (:mod:`s2s_core.checkpoints`), the classifier registry (:mod:`s2s_core.models.classifiers`), the
authors' converter (:mod:`s2s_core.models.authors`) and their importer (:mod:`s2s_core.authors_import`) all use it;
the first three never import each other.

* :func:`read_state_dict`: ``.safetensors``, or a legacy ``.pth``/``.pt``/``.bin``/``.ckpt``/``.tar`` through
  ``torch.load(weights_only=True)``; a file that needs pickle is refused with a sentence saying why.
* :func:`unwrap_state_dict`: the state dict inside wrapper dicts (``model_state``, ``state_dict``, ...).
* :func:`load_into`: the single loader: strips prefixes (``module.``, ``_orig_mod.``, ...), checks every key
  and shape against the network and loads strictly; a :class:`CheckpointError` names what does not fit.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from s2s_core.errors import CheckpointError

#: Keys under which checkpoints commonly keep their state dict (the authors' releases use ``model_state``).
WRAPPER_KEYS = ("model_state", "state_dict", "model_state_dict", "model", "net")
#: Prefixes that DataParallel/DDP (``module.``) and ``torch.compile`` (``_orig_mod.``) add to every key.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
LEGACY_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar")


def torch_load_safe(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a file that needs pickle is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such file: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        if "invalid load key" in str(exc) or "could not find MARK" in str(exc):
            raise CheckpointError(f"{path} is not a PyTorch checkpoint ({first})") from exc
        raise CheckpointError(
            f"{path} can only be loaded with pickle, which can run arbitrary code, so it is refused ({first}). "
            "Re-save it as plain tensors, e.g. torch.save(model.state_dict(), 'x.pth') or as .safetensors") from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({exc}); is it truncated?") from exc


def read_safetensors(path: str | Path) -> dict[str, Tensor]:
    """Every tensor of a ``.safetensors`` file, on the CPU."""
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from exc


def unwrap_state_dict(obj: Any, where: str = "checkpoint") -> dict[str, Tensor]:
    """Find the state dict in a loaded checkpoint: the dict itself or under ``model_state``/``state_dict``/..."""
    for _ in range(3):
        if isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
            return {str(k): v for k, v in obj.items()}
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    raise CheckpointError(f"{where} holds no state dict (a mapping of names to tensors, possibly under one of "
                          f"{', '.join(WRAPPER_KEYS)})")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """A state dict from ``.safetensors``, or a legacy ``.pth``/``.pt``/``.bin``/``.ckpt`` via weights_only."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such file: {path}")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix not in LEGACY_SUFFIXES:
        raise CheckpointError(f"{path}: unknown weights file type {path.suffix!r}; use .safetensors or .pth")
    return unwrap_state_dict(torch_load_safe(path), str(path))


def strip_prefixes(state: Mapping[str, Tensor], prefixes: Iterable[str] = WRAPPER_PREFIXES) -> dict[str, Tensor]:
    """Keys without any of ``prefixes`` at their start (each removed once, in order)."""
    prefixes = tuple(prefixes)
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def _listed(items: list[str]) -> str:
    return ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")


def load_into(module: nn.Module, state: Mapping[str, Tensor], where: str, *, prefixes: Iterable[str] = (),
              ignore: tuple[str, ...] = (), hint: str = "") -> nn.Module:
    """Load ``state`` into ``module`` strictly, after checking every key and shape; returns ``module``.

    Args:
        module: the network, built with the declared architecture.
        state: name -> tensor.
        where: what the weights came from, for the error message (a path, "the authors' checkpoint").
        prefixes: key prefixes to remove first (e.g. :data:`WRAPPER_PREFIXES`).
        ignore: prefixes of keys in ``state`` that the module may lack (e.g. auxiliary heads); they are dropped.
        hint: what to check, appended to the error (e.g. "Check arch and num_classes").

    Raises:
        CheckpointError: naming the missing keys, the unexpected keys and every shape that differs.
    """
    sd = strip_prefixes(state, prefixes) if prefixes else dict(state)
    own = module.state_dict()
    if ignore:
        sd = {k: v for k, v in sd.items() if k in own or not k.startswith(ignore)}
    missing = sorted(k for k in own if k not in sd)
    unexpected = sorted(k for k in sd if k not in own)
    shapes = [f"{k!r} has shape {tuple(sd[k].shape)} in the file, the network needs {tuple(own[k].shape)}"
              for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): {_listed(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s): {_listed(unexpected)}")
        if shapes:
            parts.append(f"wrong shapes: {_listed(shapes)}")
        raise CheckpointError(f"{where}: the weights do not fit the network: {'; '.join(parts)}"
                              + (f". {hint}" if hint else ""))
    module.load_state_dict(sd, strict=True)
    return module
