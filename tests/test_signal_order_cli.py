"""``s2s signal-order``: JSON output on the paper's Table 2 and one-line refusals of bad tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2s_core.analysis.crosstable import read_cross_table
from s2s_core.cli import main
from s2s_core.errors import InputTableError

TABLE2 = """,L,A,V,I,R
A_L,0.3484,0.3077,0.0416,0.4352,0.4730
A_A,0.0211,0.5613,0.0097,0.5375,0.0925
A_V,0.2929,0.5362,0.7163,0.7400,0.7300
A_I,0.1829,0.3024,0.4555,0.7671,0.4540
A_R,0.0163,0.4972,0.0710,0.7249,0.7494
"""


def _run(capsys, tmp_path, text: str, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "cross.csv"
    path.write_text(text)
    code = main(["signal-order", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output(capsys, tmp_path):
    code, out, _ = _run(capsys, tmp_path, TABLE2, "--json", "--threshold", "0.9")
    assert code == 0
    data = json.loads(out)
    assert {"rrc", "concepts", "edges", "intervals"} <= set(data)
    assert data["rrc"]["A_R"]["V"] == pytest.approx(0.0710 / 0.7163)
    assert list(data["rrc"]) == ["A_L", "A_A", "A_V", "A_I", "A_R"]
    concepts = data["concepts"]
    assert concepts[0] == {"extent": ["I"], "intent": ["A_L", "A_A", "A_V", "A_I", "A_R"]}  # bottom
    assert concepts[-1] == {"extent": ["L", "A", "V", "I", "R"], "intent": []}  # top
    sizes = [len(c["extent"]) for c in concepts]
    assert sizes == sorted(sizes)
    for lo, hi in data["edges"]:  # from a concept to one that covers it
        assert set(concepts[lo]["extent"]) < set(concepts[hi]["extent"])
    intervals = data["intervals"]
    assert intervals[0][0] is None and intervals[-1][1] is None
    assert [round(v, 4) for v in intervals[6]] == [0.1648, 0.5250]
    assert all(a[1] == b[0] for a, b in zip(intervals, intervals[1:], strict=False))
    assert data["interval"][0] < 0.9 <= data["interval"][1]


def test_readable_output_and_default_threshold(capsys, tmp_path):
    code, out, _ = _run(capsys, tmp_path, TABLE2)
    assert code == 0
    assert "T = 0.5" in out and "(0.1648, 0.5250]" in out and "a chain" in out
    assert "A_R" in out and "1.3576" in out


def test_rows_without_prefix_are_accepted(capsys, tmp_path):
    text = TABLE2.replace("\nA_", "\n")
    code, out, _ = _run(capsys, tmp_path, text, "--json")
    assert code == 0 and list(json.loads(out)["rrc"]) == ["L", "A", "V", "I", "R"]


BAD = {
    "not square": (TABLE2.rsplit("A_R", 1)[0], "not square"),
    "name mismatch": (TABLE2.replace("A_V,", "A_X,"), "'A_X'"),
    "non-numeric": (TABLE2.replace("0.4555", "abc"), "row 'A_I', column 'V') = 'abc'"),
    "nan": (TABLE2.replace("0.0097", "nan"), "row 'A_A', column 'V') = 'nan'"),
    "negative": (TABLE2.replace("0.0163", "-0.0163"), "row 'A_R', column 'L') = '-0.0163'"),
    "zero diagonal": (TABLE2.replace("0.7163", "0"), "row 'A_V', column 'V') = '0'"),
    "above one": (TABLE2.replace("0.4555", "1.7"), "row 'A_I', column 'V') = '1.7' is outside [0, 1]"),
    "percentages": (TABLE2.replace("0.4555", "45.55"), "divide them by 100"),
    "empty": ("", "empty"),
    "duplicate header": (TABLE2.replace(",I,R", ",V,R"), "'V' appears twice"),
    "duplicate rows": (",L,A_L\nA_L,1,1\nA_L,1,1\n", "AE name 'A_L' appears twice"),
    "short row": (TABLE2.replace(",0.4540", ""), "row 'A_I' has 4 values"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_tables_exit_1_with_one_line(capsys, tmp_path, case):
    text, expected = BAD[case]
    code, out, err = _run(capsys, tmp_path, text, "--json")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("s2s signal-order: error:")
    assert expected in err


def test_missing_file_and_nan_threshold(capsys, tmp_path):
    assert main(["signal-order", str(tmp_path / "nope.csv")]) == 1
    assert "no such file" in capsys.readouterr().err
    code, _, err = _run(capsys, tmp_path, TABLE2, "--threshold", "nan")
    assert code == 1 and "nan" in err and "finite" in err


def test_reader_accepts_bytes_text_and_bom(tmp_path):
    from_text = read_cross_table(TABLE2)
    from_bytes = read_cross_table(("\ufeff" + TABLE2.replace("\n", "\r\n")).encode())
    (tmp_path / "t.csv").write_text(TABLE2)
    from_path = read_cross_table(tmp_path / "t.csv")
    for table in (from_bytes, from_path):
        assert table.names == from_text.names == ["L", "A", "V", "I", "R"]
        assert (table.acc == from_text.acc).all()
    assert read_cross_table(from_text.to_csv()).ae_names == from_text.ae_names
    with pytest.raises(InputTableError, match="UTF-8"):
        read_cross_table(b"\xff\xfe\x00")


def test_figure_option_refuses_other_formats_and_reports_export_failures(tmp_path: Path, capsys, monkeypatch) -> None:
    import plotly.graph_objects as go

    csv = tmp_path / "t2.csv"
    csv.write_text(TABLE2)
    assert main(["signal-order", str(csv), "--figure", str(tmp_path / "x.jpg")]) == 1
    assert "must end in .svg, .png, .pdf" in capsys.readouterr().err

    def broken(self, path, **kw):
        Path(path).write_text("half")
        raise RuntimeError("no browser for kaleido")

    monkeypatch.setattr(go.Figure, "write_image", broken)
    assert main(["signal-order", str(csv), "-t", "0.8", "--figure", str(tmp_path / "l.svg")]) == 1
    err = capsys.readouterr().err
    assert "could not write the figure" in err and "no browser for kaleido" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [csv]  # nothing half-written left behind
