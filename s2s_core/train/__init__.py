"""Training of the SegNet autoencoders: pre-training A_S (Sec. 3.2) and fine-tuning A_i through a frozen
classifier (Sec. 3.3), sharing one loop (checkpoint/resume, progress events, SIGTERM, NaN guard, DDP).

Submodules: ``config`` (settings), ``loop`` (the loop and run-dir layout), ``pretrain``, ``finetune``,
``progress``, ``distributed``, ``commands`` (the CLI). Entry points:
``s2s_core.train.pretrain.pretrain(cfg)``, ``s2s_core.train.finetune.finetune(cfg)`` and, for any iterable
of ``(x, y)`` batches, ``s2s_core.train.finetune.finetune_ae(ae, classifier, batches, ...)`` (also
importable from here, lazily, so that ``import s2s_core.train`` stays cheap).
"""

from __future__ import annotations

from typing import Any

__all__ = ["finetune_ae", "PretrainConfig", "FinetuneConfig", "TrainingDivergedError"]


def __getattr__(name: str) -> Any:
    if name == "finetune_ae":
        from s2s_core.train.finetune import finetune_ae

        return finetune_ae
    if name in ("PretrainConfig", "FinetuneConfig"):
        from s2s_core.train import config

        return getattr(config, name)
    if name == "TrainingDivergedError":
        from s2s_core.train.loop import TrainingDivergedError

        return TrainingDivergedError
    raise AttributeError(name)
