"""``s2s demo``: build the embedded demo zoo from nothing, offline, on the CPU.

Stages (each deterministic from the recipe's seed, whatever the number of worker processes):

1. data: the fixed test split is written as PNGs in ImageFolder layout (``ZOO/data/test/<class>/``), so
   ``s2s evaluate`` and the dashboard's gallery can read it, then its two-shape composites
   (``ZOO/data/test_pairs/``, :mod:`s2s_core.demo.pairs`);
2. in parallel: A_S pre-trained with MSE on random photo crops (Sec. 3.2) | the five classifiers trained on
   freshly generated shape images;
3. in parallel: one decoder per classifier fine-tuned through it with cross-entropy (Sec. 3.3);
4. ``evaluate``: the relevant-channel weights W of every classifier on the validation split (``s2s channels
   fit``, into ``ZOO/channels``), then Tables 1-2, noise curves, nMI, L*a*b* histograms (Sec. 3.3-3.5), every
   lens against the test images' shape masks, the channel-zeroing check and the lenses' class sensitivity on
   the composites (opt-in elsewhere: about 70 s more on 2 cores) into ``ZOO/results``.

The zoo is assembled in ``OUT.partial/`` and moved to ``OUT`` at the end; a build that was interrupted
continues from the stages already finished in ``OUT.partial/``. Progress goes to a terminal bar and to
JSON lines (``--progress``) for the jobs page.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from s2s_core import __version__
from s2s_core.demo.recipe import DemoRecipe
from s2s_core.errors import ConfigError

BASE_DIR = "base"
#: What ``s2s demo --extras`` adds to the build (issue 26; opt-in because the plain build takes 27 of its 30 minutes,
#: issue 27): the S2S controls (about 4.5 min on 2 cores), the two-shape composites (4 s), and these analyses
#: (class sensitivity about 1 min, model randomisation about 1 min). The shipped zoo carries them.
EXTRA_ANALYSES = ("class_sensitivity", "randomisation")
#: Where the S2S controls live inside the zoo, and the seed offset of their random classifiers (issue 26).
CONTROLS_DIR, CONTROL_SEED = "controls", 2_700_000
#: A_S's training run between its two phases (checkpoint + progress); removed once ``base`` is written.
AE_RUN_DIR = "ae_run"
ZOO_NAME = "demo"


def _read_recipe(path: Path) -> DemoRecipe | None:
    try:
        return DemoRecipe.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, ConfigError):
        return None


def stage_settings(recipe: DemoRecipe, stage: str, short: str | None = None) -> dict[str, Any]:
    """The recipe fields one stage's output depends on (``data``, ``pretrain``, ``classifier``, ``finetune``)."""
    d = recipe.to_dict()
    common = {k: d[k] for k in ("seed", "size", "procedural")}
    if stage == "data":
        return {**common, "test_images": d["test_images"]}
    if stage == "pretrain":
        return {**common, **{k: v for k, v in d.items() if k.startswith("ae_") or k in ("widths", "depths")}}
    if stage == "classifier":
        return {**common, "name": d["classifiers"].get(short), "val_images": d["val_images"],
                **{k: (v.get(short) if isinstance(v, dict) else v) for k, v in d.items() if k.startswith("clf_")}}
    if stage == "finetune":
        return {"pretrain": stage_settings(recipe, "pretrain"), "classifier": stage_settings(recipe, "classifier", short),
                **{k: (v.get(short) if isinstance(v, dict) else v) for k, v in d.items() if k.startswith("ft_")}}
    raise ValueError(f"unknown demo stage {stage!r}")


def _drop_stale_stages(partial: Path, old: DemoRecipe, new: DemoRecipe) -> None:
    """Delete the outputs of ``partial`` that ``new`` would build differently from ``old`` (and the results);
    the other stages are kept, so changing, say, one fine-tuning rate re-runs only that fine-tuning."""
    def stale(stage: str, short: str | None = None) -> bool:
        return stage_settings(old, stage, short) != stage_settings(new, stage, short)

    doomed = [partial / "results"]
    if stale("data"):
        doomed.append(partial / "data")
    if stale("pretrain"):
        doomed += [partial / BASE_DIR, partial / AE_RUN_DIR]
    for short in set(old.classifiers) | set(new.classifiers):
        if short not in new.classifiers or stale("classifier", short):
            doomed.append(partial / "classifiers" / short)
        if short not in new.classifiers or stale("finetune", short):
            doomed += [partial / "aes" / short, partial / "controls" / short]  # a control follows A_i's recipe
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)


def _unit_done(path: Path) -> bool:
    return (path / "manifest.json").is_file()


def _stage_seed(recipe: DemoRecipe, offset: int) -> int:
    return recipe.seed * 1000 + offset


# --------------------------------------------------------------------------- stages (run in workers)
def _worker_setup() -> None:
    """One torch thread per worker; on Linux, the worker is terminated when the build process dies (a
    cancelled or killed ``s2s demo`` must not leave training processes behind)."""
    import torch

    torch.set_num_threads(1)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def stage_pretrain(out: str, recipe_dict: dict, phase: int = 2) -> dict[str, Any]:
    """Pre-train A_S with MSE on unlabelled demo images (:class:`PretrainMix`).

    Phase 1 runs the first ``ae_steps_beside_classifiers`` steps (in a one-thread worker beside the
    classifiers) and leaves a checkpoint in ``OUT/ae_run``; phase 2 resumes it with ``ae_threads_after``
    threads, finishes the schedule and writes ``OUT/base``. Returns its metrics (phase 2) or progress (phase 1).
    """
    import torch

    from s2s_core.checkpoints import save_ae
    from s2s_core.data.demo_data import PretrainMix
    from s2s_core.models.segnet import SegNet
    from s2s_core.runtime import RuntimeFlags
    from s2s_core.train.pretrain import pretrain_ae

    recipe = DemoRecipe.from_dict(recipe_dict)
    if phase == 1:
        _worker_setup()
    else:
        torch.set_num_threads(recipe.ae_threads_after)
    seed = _stage_seed(recipe, 1)
    torch.manual_seed(seed)
    ae = SegNet(recipe.widths, recipe.depths)
    images = PretrainMix(size=recipe.size, seed=seed, shapes=recipe.ae_shapes, procedural=recipe.procedural)
    heldout = (images.heldout(recipe.ae_heldout) * 255).round().to(torch.uint8)
    batches = images.batches(recipe.ae_batch, seed=seed + 1)
    run_dir = Path(out) / AE_RUN_DIR
    start = time.perf_counter()
    result, opt, sched = pretrain_ae(
        ae, batches, heldout, steps=recipe.ae_steps, optimizer=recipe.ae_optimizer, lr=recipe.ae_lr,
        eval_every_images=recipe.ae_eval_every_images, eval_batch_size=64, run_dir=run_dir,
        log_every=50, bar=False, schedule=recipe.ae_schedule, warmup_steps=recipe.ae_warmup,
        channels_last=True, resume=phase == 2, flags=RuntimeFlags.cpu(bf16=recipe.ae_bf16),
        stop_at=recipe.ae_steps_beside_classifiers if phase == 1 else None)
    seconds = time.perf_counter() - start
    if phase == 1 and result.step < recipe.ae_steps:
        return {"stage": "pretrain part 1", "steps": result.step, "seconds": seconds,
                "psnr_heldout": result.metrics.get("psnr")}
    ae.eval()
    meta = {
        "data": f"unlabelled: {recipe.ae_shapes:.0%} shapes over photo crops or ({recipe.procedural:.0%} of them) "
                "procedural textures, the rest augmented photo crops (training photos shipped with scikit-image and "
                "scikit-learn; never a test photo)", "bf16_autocast": RuntimeFlags.cpu(bf16=recipe.ae_bf16).autocast_bf16,
        "steps": result.step, "images_seen": result.images, "seed": seed, "size": recipe.size,
        "batch_size": recipe.ae_batch, "optimizer": recipe.ae_optimizer, "lr": recipe.ae_lr,
        "schedule": recipe.ae_schedule, "warmup_steps": recipe.ae_warmup, "shapes_share": recipe.ae_shapes,
        "lr_final": opt.param_groups[0]["lr"], "final_train_loss": result.loss,
        "final_heldout_loss": result.metrics.get("heldout_loss"), "final_psnr": result.metrics.get("psnr"),
        "steps_beside_classifiers": min(recipe.ae_steps_beside_classifiers, recipe.ae_steps),
        "threads_after": recipe.ae_threads_after, "seconds": seconds,
    }
    save_ae(Path(out) / BASE_DIR, ae, meta)
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"stage": "pretrain", **meta}


def train_demo_classifier(name: str, shapes, *, steps: int, batch_size: int, lr: float, seed: int, val, optimizer: str,
                          weight_decay: float, schedule: str):
    """Train registry classifier ``name`` from scratch on fresh shape batches with the shared classifier trainer
    (:func:`s2s_core.train.classify.train_classifier_net`): a new batch every step, so nothing can be memorised.
    Returns ``(classifier in eval mode, loop result, top-1 on the fixed validation images)``."""
    import tempfile

    import torch

    from s2s_core.data.demo_data import CLASS_NAMES
    from s2s_core.models.classifiers import Classifier
    from s2s_core.train.classify import accuracy, train_classifier_net

    torch.manual_seed(seed)
    clf = Classifier.from_name(name, num_classes=len(CLASS_NAMES))
    with tempfile.TemporaryDirectory(prefix="s2s-demo-clf-") as tmp:
        result = train_classifier_net(clf, shapes.batches(batch_size, seed=seed + 1), steps=steps, optimizer=optimizer,
                                      lr=lr, weight_decay=weight_decay, schedule=schedule, run_dir=tmp, log_every=50)
    clf.eval()
    return clf, result, accuracy(clf, *val)


def stage_classifier(out: str, recipe_dict: dict, short: str) -> dict[str, Any]:
    """Train one classifier from scratch on fresh shape images; writes ``OUT/classifiers/<short>``."""
    from s2s_core.checkpoints import save_classifier
    from s2s_core.data.demo_data import CLASS_NAMES, ShapeGenerator, fixed_split

    _worker_setup()
    recipe = DemoRecipe.from_dict(recipe_dict)
    name = recipe.classifiers[short]
    seed = _stage_seed(recipe, 100 + sorted(recipe.classifiers).index(short))
    shapes = ShapeGenerator(size=recipe.size, seed=recipe.seed, procedural=recipe.procedural)
    val = fixed_split("val", recipe.val_images, seed=recipe.seed, size=recipe.size)
    start = time.perf_counter()
    clf, result, val_top1 = train_demo_classifier(
        name, shapes, steps=recipe.clf_steps[short], batch_size=recipe.clf_batch, lr=recipe.clf_lr[short], seed=seed, val=val,
        optimizer=recipe.clf_optimizer, weight_decay=recipe.clf_weight_decay, schedule=recipe.clf_schedule)
    meta = {"short_name": short, "data": _SHAPE_DATA.format(recipe.procedural),
            "steps": result.step, "batch_size": recipe.clf_batch, "optimizer": recipe.clf_optimizer,
            "schedule": recipe.clf_schedule, "lr": recipe.clf_lr[short], "weight_decay": recipe.clf_weight_decay,
            "seed": seed, "final_train_loss": result.loss, "val_top1": val_top1,
            "seconds": time.perf_counter() - start, "params": sum(p.numel() for p in clf.parameters())}
    save_classifier(Path(out) / "classifiers" / short, clf, meta, classes=CLASS_NAMES, origin="trained")
    return {"stage": f"classifier {short}", "name": name, **meta}


def _tune_decoder(out: str, recipe: DemoRecipe, short: str, through, seed: int):
    """A_S's decoder fine-tuned through the classifier ``through`` with A_``short``'s recipe (steps, batch,
    optimizer, learning rate, reconstruction weight) on the shape stream seeded ``seed + 1``; returns
    ``(ae, result, seconds)``."""
    import tempfile

    from s2s_core.checkpoints import load_ae
    from s2s_core.data.demo_data import ShapeGenerator
    from s2s_core.train.finetune import finetune_ae

    ae = load_ae(Path(out) / BASE_DIR)
    batches = ShapeGenerator(size=recipe.size, seed=recipe.seed, procedural=recipe.procedural).batches(
        recipe.ft_batch, seed=seed + 1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s2s-demo-ft-") as tmp:
        result = finetune_ae(ae, through, batches, steps=recipe.ft_steps, train="decoder",
                             optimizer=recipe.ft_optimizer, lr=recipe.ft_lr[short], recon_weight=recipe.ft_recon_weight,
                             run_dir=tmp, log_every=25, bar=False)
    return ae.eval(), result, time.perf_counter() - start


_SHAPE_DATA = ("procedural shapes over photo crops or, for {:.0%} of the images, procedural textures "
               "(s2s_core.data.demo_data, s2s_core.data.backgrounds)")


def _recipe_meta(recipe: DemoRecipe, short: str, seed: int, result) -> dict[str, Any]:
    return {"data": _SHAPE_DATA.format(recipe.procedural), "steps": result.step,
            "batch_size": recipe.ft_batch, "optimizer": recipe.ft_optimizer, "lr": recipe.ft_lr[short],
            "recon_weight": recipe.ft_recon_weight, "seed": seed, "final_loss": result.loss}


def stage_finetune(out: str, recipe_dict: dict, short: str) -> dict[str, Any]:
    """Fine-tune A_S's decoder through classifier ``short`` (Sec. 3.3); writes ``OUT/aes/<short>``."""
    import torch

    from s2s_core.checkpoints import load_ae, load_classifier, save_finetuned
    from s2s_core.data.demo_data import fixed_split
    from s2s_core.train.classify import accuracy

    _worker_setup()
    recipe = DemoRecipe.from_dict(recipe_dict)
    seed = _stage_seed(recipe, 200 + sorted(recipe.classifiers).index(short))
    torch.manual_seed(seed)
    clf = load_classifier(Path(out) / "classifiers" / short)
    val_x, val_y = fixed_split("val", recipe.val_images, seed=recipe.seed, size=recipe.size)
    with torch.no_grad():
        before = accuracy(clf, load_ae(Path(out) / BASE_DIR)(val_x), val_y)
    ae, result, seconds = _tune_decoder(out, recipe, short, clf, seed)
    with torch.no_grad():
        after = accuracy(clf, ae(val_x), val_y)
    meta = {**_recipe_meta(recipe, short, seed, result), "val_top1_through_A_S": before,
            "val_top1_through_A_i": after, "seconds": seconds}
    save_finetuned(Path(out) / "aes" / short, ae, Path(out) / BASE_DIR, classifier=short, trained="decoder", meta=meta)
    return {"stage": f"finetune {short}", **meta}


def stage_control(out: str, recipe_dict: dict, short: str) -> dict[str, Any]:
    """The S2S control of A_``short`` (:mod:`s2s_core.demo.controls`): A_S's decoder fine-tuned with exactly
    A_i's recipe and seed, through a randomly initialised copy of classifier ``short``; writes
    ``OUT/controls/<short>``."""
    import torch

    from s2s_core.checkpoints import load_classifier, save_finetuned
    from s2s_core.data.demo_data import fixed_split
    from s2s_core.models.randomise import fully_randomised
    from s2s_core.train.classify import accuracy

    _worker_setup()
    recipe = DemoRecipe.from_dict(recipe_dict)
    index = sorted(recipe.classifiers).index(short)
    seed = _stage_seed(recipe, 200 + index)  # A_i's own seed: the same data stream, the same start
    torch.manual_seed(seed)
    trained = load_classifier(Path(out) / "classifiers" / short)
    ae, result, seconds = _tune_decoder(out, recipe, short, fully_randomised(trained, CONTROL_SEED + index), seed)
    val_x, val_y = fixed_split("val", recipe.val_images, seed=recipe.seed, size=recipe.size)
    with torch.no_grad():
        read_by_i = accuracy(trained, ae(val_x), val_y)
    meta = {**_recipe_meta(recipe, short, seed, result),
            "control": f"decoder tuned through a randomly initialised copy of {short}'s architecture",
            "random_seed": CONTROL_SEED + index, "val_top1_of_i_through_control": read_by_i, "seconds": seconds}
    save_finetuned(Path(out) / CONTROLS_DIR / short, ae, Path(out) / BASE_DIR, classifier=short, trained="decoder",
                   meta=meta)
    return {"stage": f"control {short}", **meta}


# --------------------------------------------------------------------------- orchestration
#: Rough relative cost of each kind of stage on 2 cores (for the ETA only).
_STAGE_WEIGHTS = {"data": 0.05, "pretrain": 3.0, "classifier": 1.0, "finetune": 0.6, "control": 0.6, "evaluate": 1.0}


def _stage_weight(stage: str) -> float:
    return _STAGE_WEIGHTS.get(stage.split(" ")[0], 1.0)


class _Reporter:
    """Terminal progress bar over stages plus JSON-lines events (``event``, ``step``, ``total``, ``stage``...)."""

    def __init__(self, total: int, progress_file: Path | None, show_bar: bool) -> None:
        from tqdm.auto import tqdm

        self.total, self.done, self.start = total, 0, time.monotonic()
        self.weight_total, self.weight_done = 0.0, 0.0
        self.file = progress_file
        if self.file is not None:
            self.file.parent.mkdir(parents=True, exist_ok=True)
        self.bar = tqdm(total=total, unit="stage", desc="s2s demo", disable=not show_bar)

    def event(self, event: str, **fields: Any) -> None:
        if self.file is None:
            return
        elapsed = time.monotonic() - self.start
        # stages differ in cost (see _STAGE_WEIGHTS): the ETA extrapolates the finished share of the work
        eta = elapsed / self.weight_done * (self.weight_total - self.weight_done) if self.weight_done else None
        record = {"event": event, "step": self.done, "total_steps": self.total, "time": time.time(),
                  "elapsed_s": elapsed, "eta_s": eta, **fields}
        with self.file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")

    def stage_done(self, info: dict[str, Any]) -> None:
        self.done += 1
        stage = str(info.get("stage", ""))
        if stage.endswith("(already built)"):  # no work done now, and none left for it
            self.weight_total -= _stage_weight(stage)
        else:
            self.weight_done += _stage_weight(stage)
        self.bar.update(1)
        summary = {k: v for k, v in info.items() if k in ("stage", "val_top1", "final_psnr", "val_top1_through_A_i", "seconds")}
        self.bar.write("  " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
        self.event("step", stage=info.get("stage"), metrics=info)

    def close(self) -> None:
        self.bar.close()


def _run_parallel(tasks: list[tuple[Callable, tuple]], workers: int, reporter: _Reporter) -> list[dict]:
    """Run ``fn(*args)`` for each task, in ``workers`` spawned processes (or inline for one worker)."""
    results = []
    if workers <= 1 or len(tasks) <= 1:
        for fn, args in tasks:
            info = fn(*args)
            reporter.stage_done(info)
            results.append(info)
        return results
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("spawn"),
                             initializer=_worker_setup) as pool:
        futures = [pool.submit(fn, *args) for fn, args in tasks]
        for fut in as_completed(futures):
            info = fut.result()
            reporter.stage_done(info)
            results.append(info)
    return results


def build_demo(out: str | Path, recipe: DemoRecipe, *, force: bool = False, progress_file: Path | None = None,
               show_bar: bool = True, evaluate: bool = True, eval_threads: int | None = None,
               extras: bool = False) -> Path:
    """Build the demo zoo into ``out`` (see the module docstring). Returns ``out``."""
    import torch

    from s2s_core.analysis.dataset import registry
    from s2s_core.analysis.evaluate import run_evaluation
    from s2s_core.data.composite import pairs_folder, pairs_index
    from s2s_core.data.demo_data import CLASS_NAMES, write_split_to_folder
    from s2s_core.demo.masks import write_outlines
    from s2s_core.demo.pairs import DEFAULT_PAIRS, PAIRS_OFFSET, write_pairs
    from s2s_core.lenses.channels.fit import fit_zoo as fit_channels
    from s2s_core.zoo import write_zoo_manifest

    recipe.validate()
    out = Path(out)
    if (out / "zoo.json").exists() and not force:
        raise ConfigError(f"{out} already holds a zoo; pass --force to rebuild it, or choose another --out")
    partial = out.with_name(out.name + ".partial")
    recipe_file = partial / "recipe.json"
    previous_log: dict = {}
    if recipe_file.exists():
        old = _read_recipe(recipe_file)
        if old is None:
            shutil.rmtree(partial)  # unreadable: start afresh
        elif old != recipe:
            _drop_stale_stages(partial, old, recipe)  # keep every stage whose settings did not change
        log_file = partial / "build_log.json"
        if log_file.is_file():
            with contextlib.suppress(OSError, ValueError):
                previous_log = json.loads(log_file.read_text())
    partial.mkdir(parents=True, exist_ok=True)
    recipe_file.write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
    shorts = list(recipe.classifiers)
    controlled = shorts if extras else []  # the S2S controls: opt-in (EXTRAS), about 4.5 min for five
    reporter = _Reporter(total=3 + 2 * len(shorts) + len(controlled) + int(evaluate), progress_file=progress_file,
                         show_bar=show_bar)
    stages = ["data", "pretrain", "pretrain", *(f"classifier {s}" for s in shorts), *(f"finetune {s}" for s in shorts),
              *(f"control {s}" for s in controlled)]
    reporter.weight_total = sum(_stage_weight(s) for s in stages + (["evaluate"] if evaluate else []))
    reporter.event("start", recipe=recipe.to_dict(), out=str(out))
    started = time.monotonic()
    log: list[dict] = []

    test_dir = partial / "data" / "test"
    if not (test_dir / ".complete").exists():
        write_split_to_folder(test_dir, "test", recipe.test_images, seed=recipe.seed, size=recipe.size,
                              masks=True)
        write_outlines(test_dir)
        (test_dir / ".complete").write_text("")
    if extras and not pairs_index(pairs_folder(test_dir)).is_file():  # two-shape composites (class sensitivity)
        write_pairs(test_dir, DEFAULT_PAIRS, seed=recipe.seed * 7 + PAIRS_OFFSET)
    reporter.stage_done({"stage": "data"})

    # Stage 2: A_S and the classifiers are independent: run them side by side, the costliest first.
    order = ["I", "V", "R", "A", "L"]
    clf_order = [s for s in order if s in shorts] + [s for s in shorts if s not in order]
    tasks: list[tuple[Callable, tuple]] = []
    ae_ckpt = partial / AE_RUN_DIR / "ckpt" / "latest.json"
    base_built = _unit_done(partial / BASE_DIR)
    if not base_built and not ae_ckpt.is_file():
        tasks.append((stage_pretrain, (str(partial), recipe.to_dict(), 1)))
    else:
        reporter.stage_done({"stage": "pretrain part 1 (already built)"})
    for short in clf_order:
        if not _unit_done(partial / "classifiers" / short):
            tasks.append((stage_classifier, (str(partial), recipe.to_dict(), short)))
        else:
            reporter.stage_done({"stage": f"classifier {short} (already built)"})
    log += _run_parallel(tasks, recipe.workers, reporter)
    # Stage 2b: A_S finishes alone on the whole machine (resuming phase 1's checkpoint).
    if not _unit_done(partial / BASE_DIR):
        info = stage_pretrain(str(partial), recipe.to_dict(), 2)
        torch.set_num_threads(1)
        reporter.stage_done(info)
        log.append(info)
    else:
        reporter.stage_done({"stage": "pretrain (already built)" if base_built else "pretrain (done in part 1)"})

    # Stage 3: one decoder per classifier, and its S2S control (the same recipe through a random copy of it).
    tasks = []
    for short in clf_order:
        units = [(partial / "aes" / short, stage_finetune)]
        if short in controlled:
            units.append((partial / CONTROLS_DIR / short, stage_control))
        for unit, stage in units:
            if not _unit_done(unit):
                tasks.append((stage, (str(partial), recipe.to_dict(), short)))
            else:
                reporter.stage_done({"stage": f"{unit.parent.name} {short} (already built)"})
    log += _run_parallel(tasks, recipe.workers, reporter)

    write_zoo_manifest(
        partial, name=ZOO_NAME, input_size=recipe.size, num_classes=len(CLASS_NAMES), base=BASE_DIR,
        classifiers={s: f"classifiers/{s}" for s in shorts}, aes={s: f"aes/{s}" for s in shorts},
        controls={s: f"{CONTROLS_DIR}/{s}" for s in controlled}, seed=recipe.seed, classes=list(CLASS_NAMES),
        data={"dir": "data", "test": "data/test", "description": "procedural shapes over photo crops; "
              "the class is the shape's outline (see s2s_core.data.demo_data)"},
        recipe={**recipe.to_dict(), "code_version": __version__, "command": "s2s demo"})

    if evaluate:
        torch.set_num_threads(eval_threads or max(1, min(recipe.workers, os.cpu_count() or 1)))
        fit_channels(partial, demo_split="val")  # W of every classifier, so the lens analyses have it
        only = [cls.name for cls in registry.select()] + (list(EXTRA_ANALYSES) if extras else [])
        result, _ = run_evaluation(partial, test_dir, batch_size=recipe.eval_batch, device="cpu",
                                   show_progress=False, only=only)
        reporter.stage_done({"stage": "evaluate", "images": result.images})
    built = {str(info.get("stage")) for info in log}
    reused = [info for info in previous_log.get("stages", []) + previous_log.get("reused_stages", [])
              if str(info.get("stage")) not in built and info.get("stage") not in ("data", "evaluate")]
    build = {"seconds": time.monotonic() - started, "stages": log, "code_version": __version__,
             **({"reused_stages": reused, "previous_build_seconds": previous_log.get("full_build_seconds",
                                                                                      previous_log.get("seconds"))}
                if reused else {"full_build_seconds": time.monotonic() - started}),
             "torch": torch.__version__}
    (partial / "build_log.json").write_text(json.dumps(build, indent=2, default=str) + "\n")

    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    reporter.event("done", status="completed", out=str(out), seconds=build["seconds"])
    reporter.close()
    return out
