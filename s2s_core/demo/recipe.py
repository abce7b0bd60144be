"""The numbers that define the demo zoo (saved beside it as ``recipe.json``).

The paper's setting (ImageNet classifiers, SegNet at 256 px pre-trained on 92 million images) does not fit
a 2-core CPU in 30 minutes, so the demo keeps the method and shrinks everything else: 64 px inputs, a
narrow SegNet (VGG-style stages, pooling indices, mirrored decoder with index un-pooling, 1x1 output),
five small classifiers, and images that ship with scikit-image and scikit-learn. Deviations from the
paper are named here; the measurements behind each choice are in ``docs/DEMO_ZOO.md``.
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
    """Every setting of ``s2s demo``; the defaults build the shipped zoo in 27 minutes on 2 cores (issue 27)."""

    seed: int = 0
    size: int = 64
    #: Share of training images (A_S's shape images, the classifiers', the fine-tuning's) whose background is a
    #: photo-free texture (:mod:`s2s_core.data.backgrounds`) instead of a training-photo crop: with only the
    #: shipped photos, classifiers and decoders learned their backgrounds and lost accuracy on the test split's
    #: unseen photos (issue 27). The test split keeps its unseen photos.
    procedural: float = 0.5
    # A_S (Sec. 3.1-3.2): a narrow SegNet, MSE on unlabelled images of the demo's kind.
    #: Three stages give an 8x8 bottleneck at 64 px, as the paper's five give at 256 px; one conv per stage
    #: (instead of VGG's 2-3) doubles the training steps the CPU budget buys, which matters more here.
    widths: tuple[int, ...] = (32, 64, 128)
    depths: tuple[int, ...] = (1, 1, 1)
    ae_steps: int = 10500
    #: A_S trains its first steps in one worker beside the classifiers (one thread each), then finishes alone
    #: on the whole machine with ``ae_threads_after`` threads. The switch is at this fixed step, so the build
    #: stays deterministic whatever the timing; pick it so both halves of stage 2 end together.
    ae_steps_beside_classifiers: int = 9000
    #: bf16 autocast for A_S's training steps where the CPU has bf16 instructions (avx512_bf16 / AMX): 1.8x the
    #: steps per second at the same PSNR per step (docs/DEMO_ZOO.md). The held-out check during training runs under
    #: the same autocast; the classifiers, the fine-tuning and ``s2s evaluate`` stay fp32.
    ae_bf16: bool = True
    ae_threads_after: int = 2
    ae_batch: int = 32
    #: Share of shape-over-photo images (labels dropped) in each pre-training batch; the rest are photo crops.
    ae_shapes: float = 0.9
    #: Adam with a cosine schedule instead of the paper's SGD(0.01, momentum 0.9) with the plateau rule:
    #: within the CPU budget, SGD and the plateau rule do not get A_S close to the identity.
    ae_optimizer: str = "adam"
    ae_lr: float = 3e-3
    ae_schedule: str = "cosine"
    ae_warmup: int = 50
    ae_eval_every_images: int = 32000
    ae_heldout: int = 256
    # Classifiers: trained from scratch on fresh procedural shape images every step.
    classifiers: dict[str, str] = field(default_factory=lambda: dict(DEMO_CLASSIFIERS))
    #: Steps per classifier: the small, fast ones (L, A) need more to reach 90 % on the unseen test photos.
    clf_steps: dict[str, int] = field(default_factory=lambda: {"L": 6000, "A": 3000, "V": 1200, "R": 2000, "I": 1200})
    clf_batch: int = 64
    #: Peak one-cycle learning rate per classifier (AlexNet-style, without BatchNorm, needs a lower one).
    clf_lr: dict[str, float] = field(default_factory=lambda: {"L": 3e-3, "A": 1e-3, "V": 3e-3, "R": 3e-3, "I": 3e-3})
    #: ``s2s train-classifier``'s loop with Adam (decoupled weight decay) and a one-cycle lr schedule (warm-up over
    #: the first 20 % of the steps): 2-5 CPU minutes per network (docs/DEMO_ZOO.md).
    clf_optimizer: str = "adamw"
    clf_weight_decay: float = 5e-4
    clf_schedule: str = "onecycle"
    # Decoder fine-tuning (Sec. 3.3): cross-entropy only (no reconstruction term), decoder only.
    ft_steps: int = 400
    ft_batch: int = 32
    ft_optimizer: str = "adam"
    #: Adam lr per classifier, as measured (docs/DEMO_ZOO.md): LeNet-style L and Inception-style I need a larger
    #: step to win back their accuracy within the same 300 steps; A does with 2e-4, and V and R do worse with 1e-3.
    ft_lr: dict[str, float] = field(default_factory=lambda: {"L": 1e-3, "A": 2e-4, "V": 2e-4, "R": 2e-4, "I": 1e-3})
    ft_recon_weight: float = 0.0
    # Data splits (fixed, seeded): validation for the classifiers, test for `s2s evaluate` and the dashboard.
    val_images: int = 500
    test_images: int = 500
    eval_batch: int = 50
    #: Parallel training processes (one torch thread each: on small machines two processes of one thread
    #: beat one process of two threads).
    workers: int = 2

    def validate(self) -> DemoRecipe:
        for name in ("ae_steps", "ae_batch", "clf_batch", "ft_steps", "ft_batch", "val_images",
                     "test_images", "eval_batch", "workers", "ae_heldout", "ae_eval_every_images",
                     "ae_steps_beside_classifiers", "ae_threads_after"):
            if getattr(self, name) < 1:
                raise ConfigError(f"demo recipe: {name} must be positive, got {getattr(self, name)}")
        from s2s_core.models.segnet import check_input_size

        check_input_size(self.size, len(self.widths), what="demo recipe: size")
        if len(self.widths) < 3:
            raise ConfigError("demo recipe: A_S needs at least three stages (a bottleneck no finer than 8x8 at "
                              "64 px); fewer would make it an identity by construction")
        if not 0.0 <= self.procedural <= 1.0:
            raise ConfigError(f"demo recipe: procedural must be a fraction in [0, 1], got {self.procedural}")
        if not 0.0 <= self.ae_shapes <= 1.0:
            raise ConfigError(f"demo recipe: ae_shapes must be a fraction in [0, 1], got {self.ae_shapes}")
        if self.ae_schedule not in ("plateau", "cosine"):
            raise ConfigError(f"demo recipe: ae_schedule must be 'plateau' or 'cosine', got {self.ae_schedule!r}")
        if not self.ae_lr > 0:
            raise ConfigError(f"demo recipe: ae_lr must be positive, got {self.ae_lr}")
        from s2s_core.train.config import CLASSIFIER_OPTIMIZERS, SCHEDULES

        if self.clf_optimizer not in CLASSIFIER_OPTIMIZERS or self.clf_schedule not in SCHEDULES:
            raise ConfigError(f"demo recipe: clf_optimizer must be one of {CLASSIFIER_OPTIMIZERS} and clf_schedule one of "
                              f"{SCHEDULES}, got {self.clf_optimizer!r} / {self.clf_schedule!r}")
        for name, what in (("clf_lr", "learning rate"), ("ft_lr", "learning rate"), ("clf_steps", "step count")):
            values = getattr(self, name)
            if sorted(set(self.classifiers) - set(values)) or any(not v > 0 for v in values.values()):
                raise ConfigError(f"demo recipe: {name} needs a positive {what} for every classifier "
                                  f"{sorted(self.classifiers)}")
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
        widths=(8, 16, 32),
        depths=(1, 1, 1),
        ae_steps=20,
        ae_steps_beside_classifiers=12,
        ae_threads_after=1,
        ae_batch=8,
        ae_eval_every_images=80,
        ae_heldout=16,
        clf_steps=dict.fromkeys(DEMO_CLASSIFIERS, 15),
        clf_batch=16,
        ft_steps=5,
        ft_batch=8,
        val_images=40,
        test_images=40,
        eval_batch=20,
        workers=1,
    ).validate()
