"""The numbers that define the demo zoo (saved beside it as ``recipe.json``).

The paper's setting (ImageNet classifiers, SegNet at 256 px pre-trained on 92 million images) does not fit
a 2-core CPU in 20 minutes, so the demo keeps the method and shrinks everything else: 64 px inputs, a
narrow SegNet (same five stages, pooling indices and mirrored decoder), five small classifiers, and
images that ship with scikit-image and scikit-learn. Deviations from the paper are named here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from s2s_core.errors import ConfigError

#: Short names (the paper's letters) -> demo classifier registry names.
DEMO_CLASSIFIERS: dict[str, str] = {
    "L": "lenet5_demo",
    "A": "alexnet_demo",
    "V": "vgg_demo",
    "R": "resnet_demo",
    "I": "inception_demo",
}


@dataclass(frozen=True)
class DemoRecipe:
    """Every setting of ``s2s demo``; the defaults build the shipped zoo in about 15-20 minutes on 2 cores."""

    seed: int = 0
    size: int = 64
    # A_S (Sec. 3.1-3.2): a narrow SegNet, MSE on random augmented photo crops.
    widths: tuple[int, ...] = (16, 32, 64, 128, 128)
    depths: tuple[int, ...] = (2, 2, 2, 2, 2)
    ae_steps: int = 2400
    ae_batch: int = 16
    #: Adam instead of the paper's SGD(0.01, momentum 0.9): SGD does not get close to the identity within the
    #: CPU budget. The plateau rule of Sec. 3.2 (x0.2 after two checks without improvement) is kept.
    ae_optimizer: str = "adam"
    ae_lr: float = 2e-3
    ae_eval_every_images: int = 3200
    ae_heldout: int = 256
    # Classifiers: trained from scratch on fresh procedural shape images every step.
    classifiers: dict[str, str] = field(default_factory=lambda: dict(DEMO_CLASSIFIERS))
    clf_steps: int = 1000
    clf_batch: int = 64
    #: Peak one-cycle learning rate per classifier (AlexNet-style, without BatchNorm, needs a lower one).
    clf_lr: dict[str, float] = field(default_factory=lambda: {"L": 3e-3, "A": 1e-3, "V": 3e-3, "R": 3e-3, "I": 3e-3})
    #: ``s2s train-classifier``'s loop with Adam (decoupled weight decay) and a one-cycle lr schedule (warm-up over
    #: the first 20 % of the steps): a useful accuracy within about a CPU minute per network.
    clf_optimizer: str = "adamw"
    clf_weight_decay: float = 5e-4
    clf_schedule: str = "onecycle"
    # Decoder fine-tuning (Sec. 3.3): cross-entropy only (no reconstruction term), decoder only.
    ft_steps: int = 300
    ft_batch: int = 32
    ft_optimizer: str = "adam"
    ft_lr: float = 2e-4
    ft_recon_weight: float = 0.0
    # Data splits (fixed, seeded): validation for the classifiers, test for `s2s evaluate` and the dashboard.
    val_images: int = 500
    test_images: int = 500
    eval_batch: int = 50
    #: Parallel training processes (one torch thread each: on small machines two processes of one thread
    #: beat one process of two threads).
    workers: int = 2

    def validate(self) -> DemoRecipe:
        for name in ("ae_steps", "ae_batch", "clf_steps", "clf_batch", "ft_steps", "ft_batch", "val_images",
                     "test_images", "eval_batch", "workers", "ae_heldout", "ae_eval_every_images"):
            if getattr(self, name) < 1:
                raise ConfigError(f"demo recipe: {name} must be positive, got {getattr(self, name)}")
        if self.size % 32:
            raise ConfigError(f"demo recipe: size must be a multiple of 32, got {self.size}")
        for name in ("ae_lr", "ft_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"demo recipe: {name} must be positive, got {getattr(self, name)}")
        from s2s_core.train.config import CLASSIFIER_OPTIMIZERS, SCHEDULES

        if self.clf_optimizer not in CLASSIFIER_OPTIMIZERS or self.clf_schedule not in SCHEDULES:
            raise ConfigError(f"demo recipe: clf_optimizer must be one of {CLASSIFIER_OPTIMIZERS} and clf_schedule one of "
                              f"{SCHEDULES}, got {self.clf_optimizer!r} / {self.clf_schedule!r}")
        missing = sorted(set(self.classifiers) - set(self.clf_lr))
        if missing or any(not v > 0 for v in self.clf_lr.values()):
            raise ConfigError(f"demo recipe: clf_lr needs a positive learning rate for every classifier {sorted(self.classifiers)}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DemoRecipe:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"demo recipe: unknown keys {unknown}; valid keys: {sorted(known)}")
        kw = dict(data)
        for key in ("widths", "depths"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw).validate()


def quick_recipe(seed: int = 0) -> DemoRecipe:
    """A smoke-test build (tiny step counts; about a minute): valid zoo, meaningless numbers."""
    return DemoRecipe(
        seed=seed,
        widths=(8, 16, 16, 32, 32),
        depths=(1, 1, 1, 1, 1),
        ae_steps=20,
        ae_batch=8,
        ae_eval_every_images=80,
        ae_heldout=16,
        clf_steps=15,
        clf_batch=16,
        ft_steps=5,
        ft_batch=8,
        val_images=40,
        test_images=40,
        eval_batch=20,
        workers=1,
    ).validate()
