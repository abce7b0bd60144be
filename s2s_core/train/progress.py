"""Progress of a training run: a tqdm bar on a terminal and JSON-lines events for the jobs page.

``RUN/progress.jsonl`` holds one JSON object per line::

    {"event": "step" | "eval" | "checkpoint" | "done" | "error" | "warning",
     "step": int, "images": int, "loss": float | null, "lr": float | null,
     "images_per_s": float | null, "eta_s": float | null, "time": float (unix seconds), ...extra}

Extra fields: ``eval`` adds ``heldout_loss`` / ``psnr`` (pre-training); ``checkpoint`` adds ``path``;
``done`` adds ``status`` (``"completed"`` or ``"stopped"``) and ``message`` (for a stop on SIGTERM/SIGINT:
``"stopped at step N; resume with --resume"``); ``error`` and ``warning`` add ``message`` (a warning is
also printed on stderr: something that trains on but is likely wrong). Only rank 0 writes.
Each line is flushed as it is written, so a reader may tail the file while the run goes on.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any


class Progress:
    """Writes events (rank 0 only) and drives an optional tqdm bar.

    ``total_steps`` sets the bar length and the ETA; ``start_step`` / ``start_images`` are where a resumed
    run picks up (the speed is measured from there).
    """

    def __init__(self, path: Path | None, *, total_steps: int, start_step: int = 0, start_images: int = 0,
                 enabled: bool = True, bar: bool | None = None, desc: str = "train") -> None:
        self.path = path
        self.enabled = enabled
        self.total_steps = total_steps
        self._t0 = time.monotonic()
        self._step0 = start_step
        self._images0 = start_images
        self._file = None
        if enabled and path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        self._bar = None
        use_bar = sys.stderr.isatty() if bar is None else bar
        if enabled and use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, desc=desc, unit="step", dynamic_ncols=True)

    def rates(self, step: int, images: int) -> tuple[float | None, float | None]:
        """(images per second, seconds to ``total_steps``) since this object was made."""
        dt = time.monotonic() - self._t0
        if dt <= 0 or step <= self._step0:
            return None, None
        ips = (images - self._images0) / dt
        sps = (step - self._step0) / dt
        return ips, max(0.0, (self.total_steps - step) / sps)

    def event(self, event: str, *, step: int, images: int, loss: float | None = None,
              lr: float | None = None, **extra: Any) -> dict[str, Any]:
        ips, eta = self.rates(step, images)
        record: dict[str, Any] = {
            "event": event, "step": step, "images": images,
            "loss": _num(loss), "lr": _num(lr), "images_per_s": _num(ips), "eta_s": _num(eta),
            "time": time.time(), **extra,
        }
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        if self._bar is not None:
            if event == "step":
                self._bar.n = step
                self._bar.set_postfix(loss=f"{loss:.4g}" if loss is not None else "-", lr=f"{lr:.2g}" if lr else "-")
                self._bar.refresh()
            elif event in ("eval", "checkpoint", "done", "error", "warning"):
                self._bar.write(f"[{event}] step {step}: " + ", ".join(f"{k}={v}" for k, v in extra.items()))
        return record

    def warn(self, message: str, *, step: int, images: int, loss: float | None = None,
             lr: float | None = None) -> None:
        """A ``warning`` event, and the message on stderr (above the bar when there is one)."""
        if not self.enabled:
            return
        self.event("warning", step=step, images=images, loss=loss, lr=lr, message=message)
        if self._bar is None:
            print(f"warning: {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _num(x: float | None) -> float | None:
    """JSON has no NaN/inf: those become null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def read_events(path: Path) -> list[dict[str, Any]]:
    """All complete events of a progress file (a partly written last line is ignored)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
