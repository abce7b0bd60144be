"""``import_pth``: the authors' SegNet ``.pth`` becomes an ``ae`` unit of the zoo format (Sec. 3.1-3.2).

The conversion itself is :mod:`s2s_core.models.authors`; this module reads the file and writes the unit through
:mod:`s2s_core.checkpoints`. The file is read with ``torch.load(weights_only=True)``: a checkpoint that needs
pickle is refused.
"""

from __future__ import annotations

from pathlib import Path

from s2s_core.checkpoints import save_ae, sha256_file
from s2s_core.models.authors import convert_authors_state_dict
from s2s_core.models.segnet import SegNet
from s2s_core.weights import torch_load_safe


def import_pth(path: str | Path, out_dir: str | Path, meta: dict | None = None) -> Path:
    """Convert an authors' ``.pth`` into an ``ae`` unit at ``out_dir`` (written atomically); returns ``out_dir``."""
    path = Path(path)
    state, config = convert_authors_state_dict(torch_load_safe(path))
    model = SegNet(**config)
    model.load_state_dict(state)
    info = {"source": {"file": path.name, "sha256": sha256_file(path), "layout": "authors-segnet"}, **(meta or {})}
    return save_ae(out_dir, model, info)
