"""The example configuration files are dumped from the dataclasses, so they cannot drift from the defaults.

``configs/pretrain.yaml`` and ``configs/finetune.yaml`` hold every setting of :class:`PretrainConfig` /
:class:`FinetuneConfig` with its default value and its ``#:`` comment from ``config.py``: running a command
without ``--config`` and with ``--config configs/<command>.yaml`` is the same. The paper-scale runs
(Sec. 3.2-3.3) are ``configs/paper/*.yaml``: short files of overrides only.

Regenerate after changing a default: ``python -m s2s_core.train.config_files`` (a test compares the files
with :func:`render`).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import yaml

from s2s_core.settings import package_root
from s2s_core.train.config import FinetuneConfig, PretrainConfig, _Base

CONFIGS_DIR = package_root() / "configs"
COMMANDS: dict[str, type[_Base]] = {"pretrain": PretrainConfig, "finetune": FinetuneConfig}
_FIELD = re.compile(r"^\s+(\w+):[^=]+(?:=.*?)?(?:#:\s*(.*))?$")
_COMMENT = re.compile(r"^\s+#:\s*(.*)$")


def field_comments(cls: type[_Base]) -> dict[str, str]:
    """The ``#:`` comment of each field (on its line or the lines above), through the class hierarchy."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        pending: list[str] = []
        for line in inspect.getsource(klass).splitlines():
            if m := _COMMENT.match(line):
                pending.append(m.group(1))
                continue
            m = _FIELD.match(line)
            if m and m.group(1) in {f.name for f in dataclasses.fields(klass)}:
                text = " ".join([*pending, m.group(2) or ""]).strip()
                if text or m.group(1) not in out:
                    out[m.group(1)] = text
            pending = []
    return out


def _value(v: object) -> str:
    return yaml.safe_dump(v, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def render(command: str) -> str:
    """The text of ``configs/<command>.yaml``: every setting = its default, with its comment."""
    cls = COMMANDS[command]
    comments = field_comments(cls)
    doc = " ".join((cls.__doc__ or "").split("\n\n")[0].split())
    lines = [f"# s2s {command} --config configs/{command}.yaml [--set key=value ...] [--resume]",
             f"# {doc}",
             "# These are the defaults (dumped from s2s_core/train/config.py by python -m s2s_core.train.config_files);",
             "# the paper-scale settings are configs/paper/" + command + ".yaml. Unknown keys are errors."]
    defaults = cls().to_dict()
    for f in dataclasses.fields(cls):
        entry = f"{f.name}: {_value(defaults[f.name])}"
        comment = comments.get(f.name, "")
        lines.append(f"{entry:<34} # {comment}" if comment else entry)
    return "\n".join(lines) + "\n"


def write_all(directory: Path = CONFIGS_DIR) -> list[Path]:
    paths = []
    for command in COMMANDS:
        path = directory / f"{command}.yaml"
        path.write_text(render(command), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover
    for p in write_all():
        print(f"wrote {p}")
