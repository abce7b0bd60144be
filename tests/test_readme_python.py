"""The README's "From Python" example runs as written (issue 12, item 6)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_from_python_example_runs(capsys, monkeypatch) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md (From Python)", "exec"), {})  # noqa: S102 - the project's own README
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["L", "A", "V", "R", "I"]
    assert all("'original': " in line and "'A_S': " in line and "'A_V': " in line for line in lines)
    assert "'original': 'star'" in lines[2]  # the demo V recognises the star on the original image
    assert os.getcwd() == str(ROOT)
