"""The account of a zoo (the demo's: docs/DEMO_RESULTS.md, and its summary in the README), generated from its
``results/`` files (never written by hand).

``s2s report ZOO`` prints it as markdown; ``s2s report ZOO --readme docs/DEMO_RESULTS.md`` replaces the block between
``<!-- s2s-report:begin -->`` and ``<!-- s2s-report:end -->`` in that file. Every number and every claim in
the text is computed here from ``accuracy.csv``, ``cross_accuracy.csv``, ``recon_quality.csv``, ``nmi.csv``,
``noise.csv`` and, when the zoo has them, ``ground_truth.csv``, ``channel_zeroing.csv``, ``randomisation.csv`` and the
attack tables of ``s2s attack`` (``adversarial.csv``, ``adversarial_transfer.csv``, ``gradient_structure.csv``) (plus
``build_log.json`` and ``zoo.json``), so a rebuilt zoo gets a new, true account, and a
test keeps docs/DEMO_RESULTS.md and the README's summary (:func:`summary`, ``--summary README.md``) equal to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from s2s_core import results as result_tables
from s2s_core.analysis.accounts import (
    inversion_account,
    nmi_account,
    noise_account,
    pattern_account,
    zeroing_account,
)
from s2s_core.analysis.dataset.randomisation import NOT_READ, THRESHOLD, randomisation_summary
from s2s_core.analysis.dataset.s2s_control import VERDICTS as CONTROL_VERDICTS
from s2s_core.analysis.fca import lattice_at, threshold_intervals
from s2s_core.analysis.lens_checks import scorecard, scorecard_line
from s2s_core.analysis.lens_tables import (
    HEADLINE_METRIC,
    lens_headline,
    metric_label,
    scores_wide,
    standard_metrics,
    verdict_sentences,
    verdicts_wide,
)
from s2s_core.analysis.paper import PAPER_NAMES, PAPER_TABLE2
from s2s_core.analysis.rrc import rrc_matrix
from s2s_core.analysis.stats import format_interval, wilson_interval
from s2s_core.analysis.tables import class_highlights, nmi_summary, table1
from s2s_core.attacks.summary import defence_table, transfer_matrix
from s2s_core.errors import ConfigError
from s2s_core.views import BASE_KEY, ORIGINAL, ae_key
from s2s_core.zoo import ZooInfo

BEGIN, END = "<!-- s2s-report:begin -->", "<!-- s2s-report:end -->"
#: The markers of the short summary (the README's first screen; the whole account lives in docs/DEMO_RESULTS.md).
SUMMARY_BEGIN, SUMMARY_END = "<!-- s2s-summary:begin -->", "<!-- s2s-summary:end -->"

#: Issue 11's targets, the paper's Table 1 behaviour at demo scale (points of top-1).
MAX_LOSS_THROUGH_A_S = 5.0
MAX_SHORTFALL_OF_A_I = 2.0


def _fmt(v: object, digits: int = 2) -> str:
    if isinstance(v, float | np.floating):
        return "" if pd.isna(v) else f"{v:.{digits}f}"
    return str(v)


def _markdown(frame: pd.DataFrame, index: bool = False, digits: dict[str, int] | None = None) -> str:
    digits = digits or {}
    cols = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for key, row in frame.iterrows():
        cells = [str(key)] if index else []
        cells += [_fmt(v, digits.get(str(c), 2)) for c, v in row.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _span(values: pd.Series, digits: int = 1, signed: bool = False) -> str:
    """``"0.4–2.1"`` for a range of values, one number when they are all equal (one model, or a tie)."""
    form = f"{{:{'+' if signed else ''}.{digits}f}}"
    lo, hi = form.format(float(values.min())), form.format(float(values.max()))
    return lo if lo == hi else f"{lo}{' to ' if signed else '–'}{hi}"


def _count(k: int, n: int, what: str) -> str:
    """``"2 of 3 within 5 points"``; with one model ``"within 5 points"`` / ``"not within 5 points"``."""
    if n == 1:
        return what if k == 1 else f"not {what}"
    return f"{k} of {n} {what}"


def _best_readers(cross: pd.DataFrame) -> str:
    """Which classifier j reads each A_i best (Table 2's rows), naming ties as ties."""
    if cross.size > 1 and np.ptp(cross.to_numpy()) == 0:
        return (f"Every cell of Table 2 ties at {float(cross.to_numpy().flat[0]):.4f}: on this data no classifier "
                "reads any AE better than another.")
    own, other, tied = [], [], []
    for ae in cross.index:
        row = cross.loc[ae]
        best = [str(j) for j in row.index if row[j] == row.max()]
        if len(best) > 1:
            tied.append(f"{ae} by {' and '.join(best)} alike ({row.max():.4f})")
        elif ae == ae_key(best[0]):
            own.append(ae)
        else:
            other.append(f"{ae} by {best[0]}")
    parts = []
    if own:
        parts.append(f"Each A_i is read best by its own classifier for {', '.join(own)}")
    if other:
        parts.append(f"best by another classifier: {', '.join(other)}")
    if tied:
        parts.append(f"tied: {', '.join(tied)}")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _read(results: Path, key: str) -> pd.DataFrame:
    return result_tables.read(results, key)


def _ranges(flags: list[tuple[tuple[float | None, float | None], bool]], want: bool) -> list[str]:
    """Merge consecutive threshold intervals ``(lo, hi]`` whose flag equals ``want`` into readable ranges."""
    out: list[list] = []
    for (lo, hi), flag in flags:
        if flag != want:
            continue
        if out and out[-1][1] == lo:
            out[-1][1] = hi
        else:
            out.append([lo, hi])

    def text(lo: float | None, hi: float | None) -> str:
        if lo is None and hi is None:
            return "every t"
        if lo is None:
            return f"t ≤ {hi:.3f}"
        if hi is None:
            return f"t > {lo:.3f}"
        return f"t in ({lo:.3f}, {hi:.3f}]"

    return [text(lo, hi) for lo, hi in out]


def chain_ranges(names: list[str], acc: np.ndarray) -> tuple[list[str], list[str]]:
    """Threshold ranges over which the concept lattice of the RRC context is a chain, and where it branches.

    Only thresholds in (0, 1] matter in the text (RRC > 1 is rare); every interval of
    :func:`threshold_intervals` is tested once (the context is constant on it).
    """
    rrc = rrc_matrix(acc)
    flags = []
    for lo, hi in threshold_intervals(rrc):
        t = hi if hi is not None else (lo + 1.0)
        flags.append(((lo, hi), lattice_at(list(names), rrc, t).is_chain()))
    return _ranges(flags, True), _ranges(flags, False)


def _build_facts(zoo_dir: Path) -> tuple[str, dict]:
    log_path, zoo_json = zoo_dir / "build_log.json", zoo_dir / "zoo.json"
    log = json.loads(log_path.read_text()) if log_path.is_file() else {}
    info = json.loads(zoo_json.read_text()) if zoo_json.is_file() else {}
    recipe = info.get("recipe", {})
    parts = []
    if log.get("reused_stages") and log.get("previous_build_seconds"):
        redone = ", ".join(str(s.get("stage")) for s in log.get("stages", []) if s.get("stage") != "data")
        parts.append(f"The full build took {log['previous_build_seconds'] / 60:.1f} minutes here; after a recipe "
                     f"change, {redone or 'nothing'} and the evaluation were redone in {log['seconds'] / 60:.1f} "
                     "minutes, every other stage reused (`build_log.json`)")
    elif log.get("seconds"):
        parts.append(f"The build took {log['seconds'] / 60:.1f} minutes here (`build_log.json`)")
    stages = log.get("stages", []) + log.get("reused_stages", [])
    pre = next((s for s in stages if s.get("stage") == "pretrain"), None)
    if pre and recipe.get("widths"):
        parts.append(f"A_S is a {len(recipe['widths'])}-stage SegNet (widths {recipe['widths']}, depths "
                     f"{recipe['depths']}) trained for {pre['steps']} steps ({pre['images_seen']} images)")
    return (". ".join(parts) + "." if parts else ""), info


def data_sentence(results: Path, allow_mixed: bool = False) -> str:
    """The data every table of ``results`` was computed on, as one sentence; tables from different data are a
    ConfigError (``allow_mixed``: a plain warning naming which table came from which data instead)."""
    mixed = result_tables.mixed_data_message(results)
    if mixed:
        if not allow_mixed:
            raise ConfigError(f"{mixed} (or pass --allow-mixed to print the report with this warning)")
        return f"**Warning:** {mixed}"
    rec = result_tables.common_source(results)
    if rec is None:
        return ("**Data:** not recorded (these tables were written before s2s recorded which images they came "
                "from; re-run `s2s evaluate` to record it).")
    code = f"s2s {rec.code_version}" + (f" ({rec.git_commit[:10]})" if rec.git_commit else "")
    return f"**Data:** every table below comes from the same {rec.describe()}, written by {code}."


def report(zoo_dir: str | Path, allow_mixed: bool = False) -> str:
    """The whole account of a zoo as markdown (see the module docstring). Tables from different data are a
    ConfigError unless ``allow_mixed`` (then the account opens with a warning)."""
    zoo_dir = Path(zoo_dir)
    results = ZooInfo.read(zoo_dir).results_dir
    data = data_sentence(results, allow_mixed)
    acc = _read(results, "accuracy")
    cross = _read(results, "cross_accuracy")
    nmi = _read(results, "nmi")
    noise = _read(results, "noise")
    quality = _read(results, "recon_quality") if result_tables.exists(results, "recon_quality") else None
    optional = {key: _read(results, key) for key in ("nmi_differences", "per_class", "ae_patterns", "preprocessing")
                if result_tables.exists(results, key)}
    build, info = _build_facts(zoo_dir)
    names = [str(c) for c in cross.columns]
    n_classes = int(info.get("num_classes") or len(info.get("classes") or []) or 0)
    chance1 = 100.0 / n_classes if n_classes else float("nan")
    chance5 = min(100.0, 500.0 / n_classes) if n_classes else float("nan")

    wide = acc.pivot_table(index="classifier", columns="input", values="top1") * 100
    rows = []
    for n in names:
        orig, base, own = wide.loc[n, ORIGINAL], wide.loc[n, BASE_KEY], wide.loc[n, ae_key(n)]
        rows.append({"classifier": n, "i": orig, "i∘A_S": base, "loss through A_S": orig - base,
                     "i∘A_i": own, "i∘A_i − i": own - orig,
                     f"loss ≤ {MAX_LOSS_THROUGH_A_S:g}": "yes" if orig - base <= MAX_LOSS_THROUGH_A_S else "no",
                     f"i∘A_i ≥ i − {MAX_SHORTFALL_OF_A_I:g}": "yes" if own >= orig - MAX_SHORTFALL_OF_A_I else "no",
                     "i∘A_i ≥ i∘A_S": "yes" if own >= base else "no"})
    targets = pd.DataFrame(rows).set_index("classifier")
    losses = targets["loss through A_S"]
    recov = targets["i∘A_i − i"]

    out = []
    if build:
        out.append(build)
    out.append(data)
    top5 = (f"{chance5:.0f} % top-5 for {n_classes} classes" if not 0 < n_classes <= 5 else
            f"top-5 is 100 % by construction with {n_classes} classes, so only top-1 tells anything")
    out.append(f"**Table 1** (top-1 / top-5 in %, differences to the classifier alone in points; chance: "
               f"{chance1:.0f} % top-1, {top5}):")
    out.append(_markdown(table1(acc)))
    out.append("**Table 1 against the paper's behaviour** (top-1 in %; the paper loses 1.2–3.7 points through A_S "
               "and every A_i matches or beats its classifier):")
    out.append(_markdown(targets, index=True))
    sentences = [
        f"Through A_S {'the classifiers lose' if len(names) > 1 else f'{names[0]} loses'} "
        f"{_span(losses)} points of top-1 "
        f"({_count(int((losses <= MAX_LOSS_THROUGH_A_S).sum()), len(names), f'within {MAX_LOSS_THROUGH_A_S:g} points')}).",
        f"Through {'their' if len(names) > 1 else 'its'} own A_i {'they end' if len(names) > 1 else 'it ends'} "
        f"{_span(recov, signed=True)} points from the original "
        f"({_count(int((recov >= -MAX_SHORTFALL_OF_A_I).sum()), len(names), f'within {MAX_SHORTFALL_OF_A_I:g} points')}; "
        f"{_count(int((targets['i∘A_i ≥ i∘A_S'] == 'yes').sum()), len(names), 'at least as accurate as through A_S')}).",
    ]
    beats = [n for n in names if recov[n] > 0]
    if beats:
        sentences.append("A_i beats its classifier on the original images for " + ", ".join(beats) + ".")
    out.append(" ".join(sentences))

    if quality is not None:
        q = quality.set_index("ae")
        table = q[["psnr_input", "ssim_input", "psnr_base", "ssim_base", "mad_base", "hf_energy", "checkerboard"]]
        table.columns = ["PSNR vs x (dB)", "SSIM vs x", "PSNR vs A_S(x)", "SSIM vs A_S(x)", "mean abs. diff. to A_S(x)",
                         "top-octave energy", "checkerboard (× input)"]
        out.append("**How the AEs differ** (`recon_quality.csv`; the input's own row is the baseline for the "
                   "spectral columns):")
        out.append(_markdown(table, index=True, digits={"SSIM vs x": 3, "SSIM vs A_S(x)": 3,
                                                         "mean abs. diff. to A_S(x)": 4, "top-octave energy": 4}))
        aes = [ae_key(n) for n in names if ae_key(n) in q.index]
        if aes and BASE_KEY in q.index:
            far = max(aes, key=lambda a: q.loc[a, "mad_base"])
            near = min(aes, key=lambda a: q.loc[a, "mad_base"])
            board = max(aes, key=lambda a: q.loc[a, "checkerboard"])
            text = (f"A_S reconstructs the test images at {q.loc['A_S', 'psnr_input']:.1f} dB "
                    f"(SSIM {q.loc['A_S', 'ssim_input']:.3f}). ")
            if len(aes) == 1:
                text += (f"Fine-tuning moves {far} from A_S by a mean abs. difference of {q.loc[far, 'mad_base']:.4f} "
                         f"({q.loc[far, 'psnr_base']:.1f} dB against A_S(x)); its period-2 checkerboard is "
                         f"{q.loc[far, 'checkerboard']:.1f}× the input's (A_S {q.loc['A_S', 'checkerboard']:.1f}×).")
            else:
                text += (f"Fine-tuning moves {far} furthest from A_S (mean abs. difference "
                         f"{q.loc[far, 'mad_base']:.4f}, {q.loc[far, 'psnr_base']:.1f} dB against A_S(x)) and "
                         f"{near} least ({q.loc[near, 'mad_base']:.4f}, {q.loc[near, 'psnr_base']:.1f} dB). "
                         f"{board} adds the strongest period-2 checkerboard ({q.loc[board, 'checkerboard']:.1f}× the "
                         f"input's, A_S {q.loc['A_S', 'checkerboard']:.1f}×).")
            out.append(text)

    out.append("**Table 2** (top-1 of classifier j, columns, on reconstructions of A_i, rows):")
    out.append(_markdown(cross, index=True, digits={c: 4 for c in cross.columns}))
    text = _best_readers(cross)
    zoo_chain, zoo_branch = chain_ranges(names, cross.to_numpy())
    paper_chain, paper_branch = chain_ranges(list(PAPER_NAMES), PAPER_TABLE2)
    text += (f" The concept lattice of this zoo's RRC context is a chain for {'; '.join(zoo_chain) or 'no t'}"
             f" and branches for {'; '.join(zoo_branch) or 'no t'}. For the paper's Table 2 it is a chain for "
             f"{'; '.join(paper_chain) or 'no t'} and branches for {'; '.join(paper_branch) or 'no t'} "
             f"(`s2s signal-order`).")
    out.append(text)

    out += _nmi_section(nmi, optional.get("nmi_differences"), [BASE_KEY, *(ae_key(c) for c in names)])
    noise_text = noise_account(noise, 1.0 / n_classes if n_classes else None)
    out.append(f"**Noise (Fig. 4)** (`noise.csv`). {noise_text}")
    if "ae_patterns" in optional:
        out.append(f"**Image-independent patterns** (`ae_patterns.csv`, AE patterns page). "
                   f"{pattern_account(optional['ae_patterns'])}")
    if "per_class" in optional:
        out.append(_class_sentence(optional["per_class"]))
    if "preprocessing" in optional:
        out.append(_protocol_sentence(optional["preprocessing"]))
    card = scorecard(_check_tables(results), names)
    if not card.empty:
        out.append("**Which lens passes which check** (the classifiers for which it passes; from "
                   "`ground_truth_baselines.csv`, `class_sensitivity.csv`, `randomisation.csv`, each with its paired "
                   "95 % intervals below):")
        out.append(_markdown(card, index=True))
    if result_tables.exists(results, "ground_truth"):
        vs = _read(results, "ground_truth_baselines") if result_tables.exists(results, "ground_truth_baselines") \
            else None
        out += ground_truth_section(_read(results, "ground_truth"), vs, names)
    if result_tables.exists(results, "per_image"):
        out.append(per_image_sentence(_read(results, "per_image"), names))
    if result_tables.exists(results, "s2s_control"):
        out += s2s_control_section(_read(results, "s2s_control"), names)
    if result_tables.exists(results, "channel_zeroing"):
        out += zeroing_section(_read(results, "channel_zeroing"))
    if result_tables.exists(results, "inversion"):
        out += inversion_section(_read(results, "inversion"), names)
    if result_tables.exists(results, "randomisation"):
        out += randomisation_section(_read(results, "randomisation"), names)
    if result_tables.exists(results, "class_sensitivity"):
        out += class_sensitivity_section(_read(results, "class_sensitivity"), names)
    if result_tables.exists(results, "adversarial"):
        structure = _read(results, "gradient_structure") if result_tables.exists(results, "gradient_structure") \
            else None
        moved = _read(results, "adversarial_transfer") if result_tables.exists(results, "adversarial_transfer") \
            else None
        out += attack_section(_read(results, "adversarial"), names, structure, moved)
    return "\n\n".join(out) + "\n"


def s2s_control_sentences(table: pd.DataFrame, names: list[str] | None = None) -> list[str]:
    """Generated claims of ``s2s_control.csv``: per classifier, how i reads A_i(x) and its control's
    reconstruction, and how far each moved A_S, with the paired 95 % intervals of A_i − control."""
    t = table.set_index(["classifier", "measure"])
    order = [n for n in (names or []) if n in t.index.get_level_values(0)] or list(dict.fromkeys(table["classifier"]))
    out = []
    reads, moves = [], []
    for name in order:
        if (name, "top1_by_i") in t.index:
            r = t.loc[(name, "top1_by_i")]
            reads.append(f"{name} {100 * r['a_i']:.1f} % vs {100 * r['control']:.1f} % "
                         f"({100 * r['diff']:+.1f} [{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}] points, "
                         f"{r['verdict']}; through A_S {100 * r['a_s']:.1f} %)")
        if (name, "change") in t.index:
            r = t.loc[(name, "change")]
            moves.append(f"{name} {r['a_i']:.4f} vs {r['control']:.4f} ({format_interval(r['diff'], r['ci_low'], r['ci_high'], 4, True)})")
    if reads:
        out.append("i reads its own A_i(x) against the control's reconstruction (top-1; the control is A_S's decoder "
                   "tuned with A_i's recipe through a randomly initialised copy of i): " + "; ".join(reads) + ".")
    if moves:
        out.append("How far fine-tuning moved A_S (mean |A(x) − A_S(x)|), through i against through its random copy: "
                   + "; ".join(moves) + ". Where the control moves A_S as far, the size of S2S's |A_i − A_S| map is "
                   "the recipe's, not i's; its shape is what the Lenses page compares.")
    return out


VERDICT_A_I = CONTROL_VERDICTS["higher"]


def _check_tables(results: Path) -> dict[str, pd.DataFrame]:
    """The tables the lens scorecard reads, those that exist."""
    keys = ("ground_truth_baselines", "class_sensitivity", "randomisation")
    return {k: _read(results, k) for k in keys if result_tables.exists(results, k)}


def control_headline(table: pd.DataFrame, names: list[str] | None = None) -> str:
    """One line: for which classifiers i reads A_i(x) better than its S2S control's reconstruction (paired 95 %
    interval of the top-1 difference), and for which not."""
    top = table[table["measure"] == "top1_by_i"].set_index("classifier")
    order = [n for n in (names or []) if n in top.index] or list(top.index)
    better = [n for n in order if top.loc[n, "verdict"] == VERDICT_A_I]
    rest = [f"{n} ({top.loc[n, 'verdict']}: {100 * top.loc[n, 'a_i']:.1f} % vs {100 * top.loc[n, 'control']:.1f} %)"
            for n in order if n not in better]
    text = (f"i reads its A_i(x) better than the reconstruction of a decoder tuned the same way through a random "
            f"copy of i for {', '.join(better) or 'no classifier'}")
    return text + (f"; not for {', '.join(rest)}: there A_i keeps no more of what i uses than the control does."
                   if rest else ".")


def s2s_control_section(table: pd.DataFrame, names: list[str] | None = None) -> list[str]:
    """The S2S control's account: the sentences of :func:`s2s_control_sentences` and the whole table."""
    shown = table.assign(**{"A_i − control [95 % CI]": [format_interval(d, lo, hi, 4, True) for d, lo, hi in
                                                         zip(table["diff"], table["ci_low"], table["ci_high"],
                                                             strict=True)]})
    shown = shown[["classifier", "label", "a_i", "control", "a_s", "A_i − control [95 % CI]", "verdict", "n"]]
    return ["**The S2S control** (`s2s_control.csv`; issue 26): " + " ".join(s2s_control_sentences(table, names)),
            _markdown(shown.rename(columns={"a_i": "A_i", "a_s": "A_S"}), digits={"A_i": 4, "control": 4, "A_S": 4})]


def _sentence_case(text: str) -> str:
    """The first letter upper case, the rest as written (``"pixel AUC"`` -> ``"Pixel AUC"``)."""
    return text[:1].upper() + text[1:]


def per_image_sentence(per: pd.DataFrame, names: list[str]) -> str:
    """How often A_i changes i's answer, per classifier, with a Wilson 95 % interval (``per_image.csv``)."""
    rows = per[per["measure"] == "disagreement"]
    parts = []
    for name in names:
        v = rows.loc[rows["classifier"] == name, "value"].dropna()
        if v.empty:
            continue
        k, n = int(v.sum()), int(v.size)
        lo, hi = wilson_interval(k, n)
        parts.append(f"{name} {100 * k / n:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]")
    return ("**Per image** (`per_image.csv`, the Per image page sorts the test images by any lens's score, by "
            "nMI(x, A_i(x)) or by this, worst first): A_i changes i's top-1 answer on "
            + ", ".join(parts) + " of the images (Wilson 95 % intervals).")


def _nmi_section(nmi: pd.DataFrame, diffs: pd.DataFrame | None, order: list[str]) -> list[str]:
    """The nMI table (mean ± std, difference to chance with its 95 % interval) and the sentences of
    :func:`~s2s_core.analysis.accounts.nmi_account`."""
    summary = nmi_summary(nmi)
    order = [a for a in order if a in summary.index]

    def cell(kind: str, a: str) -> str:
        r = summary.loc[a]
        return (f"{r[f'{kind} mean']:.3f} ± {r[f'{kind} std']:.3f} ({r[f'{kind} − chance']:+.3f} "
                f"[{r[f'{kind} − chance low']:+.3f}, {r[f'{kind} − chance high']:+.3f}])")

    table = pd.DataFrame({f"{kind} nMI (− chance [95 % CI])": [cell(kind, a) for a in order]
                          for kind in ("intra", "inter")}, index=pd.Index(order, name="ae"))
    return ["**nMI** (mean ± standard deviation over the test images; inter: random pairs of images of different "
            "classes, the same pairs for every AE; in brackets the difference to the chance level with its 95 % "
            "interval; `nmi.csv`, `nmi_pairs.csv`, `nmi_differences.csv`):",
            _markdown(table, index=True), " ".join(nmi_account(nmi, diffs))]


def _class_sentence(per_class: pd.DataFrame) -> str:
    """Where an A_i loses and gains most, per class (``per_class.csv``)."""
    top = class_highlights(per_class, top=1)
    if top.empty:
        return "**Per class** (`per_class.csv`): no class changes its top-1 between i and i∘A_i."
    parts = [f"{r['classifier']} {r['direction']} most on {r['class']} ({r['original']:.0f} % → {r['A_i']:.0f} %, "
             f"n = {r['n']})" for _, r in top.iterrows()]
    return ("**Per class** (`per_class.csv`, Overview page; few images per class, so single classes are noisy): "
            + "; ".join(parts) + ".")


def _protocol_sentence(protocol: pd.DataFrame) -> str:
    """What each model read of the originals (``preprocessing.csv``)."""
    p = protocol.set_index("model")
    ae = p.loc[BASE_KEY] if BASE_KEY in p.index else None
    own = p[(p["role"] == "classifier") & (p["source"].astype(str) != "the AE input")]
    text = "**Preprocessing** (`preprocessing.csv`): "
    if ae is not None:
        text += f"the AE reads resize {ae['resize_size']}, centre crop {ae['crop_size']} ({ae['interpolation']})"
    text += ("; every classifier reads the AE input." if own.empty else "; " + ", ".join(
        f"{m} its own {r['resize_size']} → {r['crop_size']} ({r['source']})" for m, r in own.iterrows()) + ".")
    return text


def _md(label: str) -> str:
    """A lens label as markdown text: ``x*`` must not start emphasis."""
    return label.replace("*", "\\*")


def ground_truth_section(gt: pd.DataFrame, vs: pd.DataFrame | None, names: list[str] | None = None) -> list[str]:
    """Every lens against the masks and against the maps that read no classifier (issue 25): pixel AUC per
    lens, classifier and mask with 95 % intervals, the paired verdicts against the best model-free map, and the
    generated claims (:mod:`s2s_core.analysis.lens_tables`)."""
    def md(frame: pd.DataFrame) -> str:
        frame = frame.copy()
        frame.index = [_md(label).replace("|", "\\|") for label in frame.index]  # a pipe would end the cell
        frame.index.name = "heatmap"
        return _markdown(frame, index=True)

    lens_rows = gt[~gt["model_free"].astype(bool)]
    n = int(gt["n"].max())
    subsets = lens_rows[lens_rows["n"] < n].groupby("label", sort=False)["n"].max()
    fewer = "".join(f"; {_md(label)}: {int(m)} of them (the first of every class in the evaluation's seeded "
                    "order, an optimisation each)" for label, m in subsets.items())
    metrics = ", ".join(metric_label(m) for m in standard_metrics())
    out = [f"**Every lens against ground truth** (`ground_truth.csv`, `ground_truth_baselines.csv`): the masks "
           "beside the test images mark the pixels that make each image's class, so they are where a classifier "
           "should look. Every heatmap is scored against the filled shape and against a band around its outline "
           f"(the demo's class is the outline), by {metrics} and the best-threshold IoU (optimistic: it picks the "
           f"threshold with the mask in hand), over {n} test images{fewer}. The same images are scored by maps "
           "that read no classifier (a random map, a centre prior, an edge map, saliency maps, and for S2S its own "
           "control |x − A_S(x)|): a lens shows what the classifier uses only where it beats the best of them. "
           f"{_sentence_case(metric_label(HEADLINE_METRIC))} (chance 0.5), mean [95 % interval], filled shape:",
           md(scores_wide(gt, HEADLINE_METRIC, "filled", names)),
           f"{_sentence_case(metric_label(HEADLINE_METRIC))} on the outline band:",
           md(scores_wide(gt, HEADLINE_METRIC, "outline", names))]
    if vs is not None and not vs.empty:
        out += ["Each lens against the best model-free map on the same images (pixel AUC, filled shape): mean "
                "per-image difference, paired bootstrap 95 % interval, verdict:",
                md(verdicts_wide(vs, HEADLINE_METRIC, "filled", names)),
                " ".join(verdict_sentences(vs, gt, names))]
    return out


def zeroing_section(z: pd.DataFrame) -> list[str]:
    """The relevant channels' first check (Oramas et al.), re-scored (issue 25): per image, the drop of the predicted
    class's probability and whether the prediction flips, top-k relevant vs k random channels zeroed; the claims
    come from the paired bootstrap intervals of relevant − random (``verdict``: the drop's)."""
    table = pd.DataFrame({
        "classifier": z["classifier"], "k": z["k"].astype(int),
        "top-1 (as is / relevant / random zeroed)": [f"{a:.3f} / {b:.3f} / {c:.3f}" for a, b, c in zip(
            z["top1"], z["top1_relevant_zeroed"], z["top1_random_zeroed"], strict=True)],
        "drop: relevant / random": [f"{a:.4f} / {b:.4f}" for a, b in zip(z["drop_relevant"], z["drop_random"],
                                                                          strict=True)],
        "drop: difference [95 % CI]": [format_interval(*v, 4, True) for v in zip(
            z["drop_diff"], z["drop_ci_low"], z["drop_ci_high"], strict=True)],
        "flips: relevant / random": [f"{a:.3f} / {b:.3f}" for a, b in zip(z["flip_relevant"], z["flip_random"],
                                                                          strict=True)],
        "flips: difference [95 % CI]": [format_interval(*v, 3, True) for v in zip(
            z["flip_diff"], z["flip_ci_low"], z["flip_ci_high"], strict=True)],
        "verdict": z["verdict"]})
    return [f"**Zeroing the relevant channels** (`channel_zeroing.csv`; the paper's first check, re-scored per "
            f"image over {int(z['n'].max())} test images: the drop of the predicted class's probability and the "
            "rate at which the prediction flips, with each image's top-k relevant channels zeroed and with k random "
            f"channels of the same layers zeroed, averaged over {int(z['draws'].max())} draws per image; relevant − "
            "random with its paired bootstrap 95 % interval over images; top-1 against the label beside):",
            _markdown(table.set_index("classifier"), index=True), " ".join(zeroing_account(z))]


def inversion_section(inv: pd.DataFrame, names: list[str] | None = None) -> list[str]:
    """Feature inversion against S2S by depth (``inversion.csv``, Mahendran & Vedaldi): per classifier and inverted
    layer, the feature error of x* and of A_i(x) on the paper's scale (divided by the distance between two
    different test images there) with 95 % intervals, their paired difference, and i's top-1 on x*, A_i(x) and x;
    then :func:`~s2s_core.analysis.accounts.inversion_account`. Top-1 on x* from the logits is marked as fitted
    to them, and no sentence draws a conclusion from it."""
    order = [n for n in (names or []) if n in set(inv["classifier"])] or list(dict.fromkeys(inv["classifier"]))
    rows = inv.assign(_o=inv["classifier"].map({n: k for k, n in enumerate(order)})).sort_values(["_o", "depth"])
    fitted = rows["fitted_to_logits"].astype(bool)
    table = pd.DataFrame({
        "classifier": rows["classifier"], "layer (depth)": [f"{lay} ({d:.2f})" for lay, d in
                                                          zip(rows["layer"], rows["depth"], strict=True)],
        "pair distance": rows["pair_distance"],
        _md("x* [95 % CI]"): [format_interval(*v) for v in zip(
            rows["error_norm"], rows["error_norm_ci_low"], rows["error_norm_ci_high"], strict=True)],
        "A_i(x) [95 % CI]": [format_interval(*v) for v in zip(
            rows["ae_error_norm"], rows["ae_error_norm_ci_low"], rows["ae_error_norm_ci_high"], strict=True)],
        _md("x* − A_i(x) [95 % CI]"): [format_interval(*v, signed=True) for v in zip(
            rows["norm_diff"], rows["norm_diff_ci_low"], rows["norm_diff_ci_high"], strict=True)],
        _md("top-1 on x*"): [f"{t:.2f}" + (" (fitted to the logits)" if f else "")
                             for t, f in zip(rows["top1_inversion"], fitted, strict=True)],
        "top-1 on A_i(x)": rows["top1_ae"], "top-1 on x": rows["top1_original"]})
    n, steps = int(inv["n"].max()), int(inv["steps"].max())
    chance = float(inv["chance"].iloc[0])
    return [f"**Feature inversion vs. S2S by depth** (`inversion.csv`; {n} test images per classifier, "
            f"{steps} steps per inversion, the paper's priors). The error ‖Φ_ℓ(·) − Φ_ℓ(x)‖ / ‖Φ_ℓ(x)‖ at layer ℓ "
            "is given on the paper's scale: divided by the pair distance, the same measure between two different "
            "test images of the sample averaged over their pairs, so 1 means as far from x as another image; mean "
            "with its 95 % interval, and x* − A_i(x) paired per image (bootstrap interval; below 0: x* is nearer). "
            f"Top-1 of i, chance {chance:.2f}:",
            _markdown(table.set_index("classifier"), index=True,
                      digits={"pair distance": 3, "top-1 on A_i(x)": 2, "top-1 on x": 2}),
            " ".join(inversion_account(inv)) + f" The intervals are over the n = {n} images of each classifier."]


def randomisation_sentences(table: pd.DataFrame, names: list[str] | None = None) -> list[str]:
    """The generated claims of ``randomisation.csv``: per lens heatmap, for which classifiers it passes, fails or
    is unclear (Spearman at the fully random step, mean [95 % interval]); the SSIM range there; S2S as reading
    no weights; the model-free maps as left out."""
    last = randomisation_summary(table)
    order = [n for n in (names or []) if n in set(last["classifier"])] or list(dict.fromkeys(last["classifier"]))
    labels = dict(zip(table["heatmap"], table["label"], strict=False))
    read = last[last["verdict"] != NOT_READ]
    sentences = []
    for heatmap, group in read.groupby("heatmap", sort=False):
        parts = []
        for kind in ("passes", "fails", "unclear"):
            rows = group[group["verdict"] == kind].set_index("classifier")
            chosen = [c for c in order if c in rows.index]
            if chosen:
                parts.append(f"{kind} for " + ", ".join(f"{c} ({format_interval(*rows.loc[c, ['mean', 'ci_low', 'ci_high']])})"
                                                    for c in chosen))
        label = _md(labels[heatmap])
        sentences.append(f"{label[:1].upper()}{label[1:]} " + "; ".join(parts) + ".")
    steps = int(table["step"].max())
    ssim = table[(table["metric"] == "ssim") & (table["step"] == steps) & (table["verdict"] != NOT_READ)]
    if not ssim.empty:
        sentences.append(f"SSIM of these maps with the originals at that step (1: unchanged): {_span(ssim['mean'], 2)}.")
    fixed = last[last["verdict"] == NOT_READ]
    if not fixed.empty:
        maps = " and ".join(_md(labels[h]) for h in dict.fromkeys(fixed["heatmap"]))
        sentences.append(f"S2S's maps ({maps}) read A_i, whose decoder was tuned through i before: randomising i "
                         f"leaves them as they were (Spearman {_span(fixed['mean'], 2)}), which is neither a pass "
                         "nor a fail; whether they depend on i's training is the S2S control's question.")
    sentences.append("The maps that read no classifier (the model-free baselines and the control |x − A_S(x)|) "
                     "have no weights to randomise and are left out.")
    return sentences


def randomisation_wide(table: pd.DataFrame, names: list[str] | None = None) -> pd.DataFrame:
    """Heatmap label x classifier: ``"mean [low, high] verdict"`` of Spearman at the fully random step, for the
    lenses that read the classifier's weights."""
    last = randomisation_summary(table)
    last = last[last["verdict"] != NOT_READ]
    order = [n for n in (names or []) if n in set(last["classifier"])] or list(dict.fromkeys(last["classifier"]))
    labels = dict(zip(table["heatmap"], table["label"], strict=False))
    wide = last.assign(cell=[f"{format_interval(r['mean'], r['ci_low'], r['ci_high'])} {r['verdict']}" for _, r in last.iterrows()]).pivot(
        index="heatmap", columns="classifier", values="cell").reindex(columns=order)
    wide = wide.reindex(list(dict.fromkeys(last["heatmap"])))
    wide.index = [labels[h] for h in wide.index]
    wide.index.name = "heatmap"
    return wide


def randomisation_section(table: pd.DataFrame, names: list[str] | None = None) -> list[str]:
    """Model randomisation (``randomisation.csv``, Adebayo et al. 2018): per heatmap and classifier, Spearman's
    mean [95 % interval] between each map and its original once every layer is random, the verdict
    (:func:`randomisation_wide`), and the generated claims (:func:`randomisation_sentences`)."""
    wide = randomisation_wide(table, names)
    wide.index = [_md(label).replace("|", "\\|") for label in wide.index]
    wide.index.name = "heatmap"
    steps = int(table["step"].max())
    n = int(table.loc[table["verdict"] != NOT_READ, "n"].max()) if (table["verdict"] != NOT_READ).any() \
        else int(table["n"].max())
    return [f"**Model randomisation** (`randomisation.csv`; Adebayo et al., Sanity checks for saliency maps, NeurIPS "
            f"2018): each classifier's layers are re-initialised from the top down in {steps} cumulative steps, "
            f"and every lens that reads the classifier is drawn again on {n} test images. A lens whose maps keep "
            "their ranking once every layer is random explains the image, not the classifier. Spearman rank "
            "correlation with the original map once every layer is random, mean [95 % interval]; a lens fails "
            f"where the whole interval lies above {THRESHOLD:g}, passes where it lies below, unclear otherwise:",
            _markdown(wide, index=True), " ".join(randomisation_sentences(table, names))]


def summary(zoo_dir: str | Path, account: str = "docs/DEMO_RESULTS.md") -> str:
    """A few lines with the headline numbers of a zoo (Table 1 per classifier beside chance, A_S's PSNR), each
    from its results file, and a link to the whole ``account`` (where the lenses stand beside their baselines).
    Tables from different data are refused, as by :func:`report`."""
    zoo_dir = Path(zoo_dir)
    results = ZooInfo.read(zoo_dir).results_dir
    data_sentence(results)  # refuses mixed data
    acc = _read(results, "accuracy")
    info = json.loads((zoo_dir / "zoo.json").read_text()) if (zoo_dir / "zoo.json").is_file() else {}
    n_classes = int(info.get("num_classes") or 0)
    rec = result_tables.common_source(results)
    wide = acc.pivot_table(index="classifier", columns="input", values="top1") * 100
    names = [str(c) for c in _read(results, "cross_accuracy").columns]
    cells = ", ".join(f"{n} {wide.loc[n, ORIGINAL]:.1f} / {wide.loc[n, BASE_KEY]:.1f} / {wide.loc[n, ae_key(n)]:.1f}"
                      for n in names)
    lines = [f"- **Table 1**, top-1 in % of i / i∘A_S / i∘A_i{f' on {rec.n} test images' if rec else ''}"
             f"{f' (chance {100 / n_classes:.0f} %)' if n_classes else ''}: {cells}."]
    if result_tables.exists(results, "recon_quality"):
        q = _read(results, "recon_quality").set_index("ae")
        if BASE_KEY in q.index:
            lines.append(f"- **A_S** reconstructs the test images at {q.loc[BASE_KEY, 'psnr_input']:.1f} dB PSNR "
                         f"(SSIM {q.loc[BASE_KEY, 'ssim_input']:.3f}).")
    if result_tables.exists(results, "ground_truth") and result_tables.exists(results, "ground_truth_baselines"):
        gt, vs = _read(results, "ground_truth"), _read(results, "ground_truth_baselines")
        card = scorecard(_check_tables(results), names)
        checks = f" Checks passed (classifiers, of those scored): {scorecard_line(card)}." if not card.empty else ""
        lines.append(f"- **Lenses against maps that read no classifier**: {lens_headline(gt, vs, names)}{checks}")
    if result_tables.exists(results, "s2s_control"):
        lines.append(f"- **S2S control**: {control_headline(_read(results, 's2s_control'), names)}")
    lines.append(f"- Table 2, RRC and lattices, nMI, noise, patterns and every lens against the masks: [{account}]"
                 f"({account}), generated by `s2s report`.")
    return "\n".join(lines) + "\n"


def write_into(readme: str | Path, text: str, markers: tuple[str, str] = (BEGIN, END)) -> bool:
    """Replace the text between the ``markers`` (default :data:`BEGIN`, :data:`END`) in ``readme``; returns
    whether it changed."""
    begin, end = markers
    path = Path(readme)
    content = path.read_text(encoding="utf-8")
    if content.count(begin) != 1 or content.count(end) != 1 or content.index(begin) > content.index(end):
        raise ConfigError(f"{path} needs exactly one {begin} ... {end} block to write the report into")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{begin}\n{text}{end}{tail}"
    if new != content:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def readme_block(readme: str | Path, markers: tuple[str, str] = (BEGIN, END)) -> str:
    """The text currently between the ``markers`` of ``readme`` (for the test that keeps it generated)."""
    begin, end = markers
    content = Path(readme).read_text(encoding="utf-8")
    return content.split(begin, 1)[1].split(end, 1)[0].lstrip("\n")


def _sensitivity_claims(lens_rows: pd.DataFrame, names: list[str]) -> list[str]:
    """Per lens heatmap: the classifiers whose map follows the class, ignores it or follows the other, with the
    sensitivity and its interval (from ``class_sensitivity.csv``'s verdicts, all composites)."""
    out = []
    for label, rows in lens_rows.groupby("label", sort=False):
        rows = rows.set_index("classifier").reindex([n for n in names if n in set(rows["classifier"])])
        parts = []
        for verdict in ("follows the class", "ignores the class", "follows the other class"):
            chosen = rows[rows["verdict"] == verdict]
            if len(chosen):
                each = ", ".join(f"{name} ({format_interval(r['mean'], r['ci_low'], r['ci_high'], 3, True)})"
                                 for name, r in chosen.iterrows())
                parts.append(f"{verdict.replace('the class', 'it') if parts else verdict} for {each}")
        out.append(f"{_md(str(label))}: {'; '.join(parts)}.")
    return out


def class_sensitivity_section(table: pd.DataFrame, names: list[str]) -> list[str]:
    """Class (target) sensitivity on two-shape images (issue 26): a table per lens heatmap and classifier and the
    sentences that state, from the intervals, which lens follows the class it is asked about."""
    t = table.copy()
    t["measure"] = t["measure"].fillna("")
    rows = t[(t["measure"] != "") & ~t["model_free"].astype(bool) & (t["measure"] != "both_top2")]
    lens = rows[rows["subset"] == "all"]
    sens = lens[lens["measure"] == "sensitivity"]
    if sens.empty:
        return []
    pick = {m: lens[lens["measure"] == m].set_index(["label", "classifier"]) for m in ("mass_diff", "pointing",
                                                                                        "pointing_other")}
    top = rows[(rows["subset"] == "top2") & (rows["measure"] == "sensitivity")].set_index(["label", "classifier"])
    shown = []
    for _, r in sens.iterrows():
        key = (r["label"], r["classifier"])
        mass, point = pick["mass_diff"].loc[key], pick["pointing"].loc[key]
        sub = top.loc[key] if key in top.index else None
        shown.append({"lens": r["label"], "classifier": r["classifier"],
                      "sensitivity [95 % CI]": format_interval(r["mean"], r["ci_low"], r["ci_high"], 3, signed=True),
                      "verdict": r["verdict"],
                      "mass on a − on b [CI]": format_interval(mass["mean"], mass["ci_low"], mass["ci_high"], 3, signed=True),
                      "vs best model-free": f"{mass['verdict']} ({mass['reference']})",
                      "pointing on a / on b": f"{point['mean']:.2f} / {pick['pointing_other'].loc[key, 'mean']:.2f}",
                      "sensitivity where both in top-2": "" if sub is None or not sub["n"] else
                      f"{format_interval(sub['mean'], sub['ci_low'], sub['ci_high'], 3, True)} (n = {int(sub['n'])})"})
    top2 = t[t["measure"] == "both_top2"].set_index("classifier")
    rates = ", ".join(f"{n} {format_interval(top2.loc[n, 'mean'], top2.loc[n, 'ci_low'], top2.loc[n, 'ci_high'])}"
                      for n in names if n in top2.index)
    anchors = t[t["model_free"].astype(bool) & (t["measure"] == "sensitivity")]
    notes = t[(t["measure"] == "") & t["note"].astype(str).str.startswith("not class-conditional")]
    return [f"**Class sensitivity** (`class_sensitivity.csv`; FunnyBirds' TS check and Grad-CAM's two-object "
            f"pointing test): on {int(sens['n'].max())} two-shape test images, each class-conditional lens draws its "
            "map for class a and for class b; sensitivity = ½[(m_a(A) − m_a(B)) + (m_b(B) − m_b(A))], m_t(S) the "
            "relevance mass of the map for target t on shape S's mask, is 1 for the target's own mask and exactly 0 "
            "for a map that ignores the target: the model-free maps, computed the same way, score "
            f"{_span(anchors['mean'], 3)} ({len(anchors)} maps). Intervals are paired bootstrap 95 %.",
            _markdown(pd.DataFrame(shown).set_index("lens"), index=True),
            " ".join(_sensitivity_claims(sens, names)),
            f"The composite is a fair question only where i sees both classes: a and b are both in i's top-2 on {rates} "
            "of them (Wilson 95 %); the last column repeats the sensitivity on those images."
            + (f" {', '.join(sorted({_md(str(x)) for x in notes['label']}))}: not class-conditional (one map per "
               "image whatever the class), so they have no row." if len(notes) else "")]


def _eps_list(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) + "/255" if values else "no ε"


def _helps_sentence(d: pd.DataFrame, column: str, names: list[str]) -> str:
    """Per classifier, the ε at which i∘A_i's interval lies above i's, or "at no ε"."""
    parts = []
    for n in names:
        rows = d[d["classifier"] == n]
        if len(rows):
            parts.append(f"{n} at {_eps_list(sorted(rows.loc[rows[column], 'eps']))}")
    return "; ".join(parts)


def _structure_sentence(s: pd.DataFrame, names: list[str]) -> str:
    """Where i∘A_i's gradient lies more on edges than i's, less, or neither (95 % intervals apart or not)."""
    groups: dict[str, list[str]] = {"above": [], "below": [], "overlapping": []}
    for n in names:
        if (n, ORIGINAL) not in s.index or (n, ae_key(n)) not in s.index:
            continue
        mine, own = s.loc[(n, ORIGINAL)], s.loc[(n, ae_key(n))]
        side = "above" if own["ci_low"] > mine["ci_high"] else "below" if own["ci_high"] < mine["ci_low"] \
            else "overlapping"
        groups[side].append(n)
    return (f"i∘A_i's share lies above i's for {', '.join(groups['above']) or 'none'}, below it for "
            f"{', '.join(groups['below']) or 'none'} (intervals apart), and the intervals overlap for "
            f"{', '.join(groups['overlapping']) or 'none'}.")


def _transfer_sentence(transfer: pd.DataFrame, attack: str, eps: float) -> str:
    """Off the diagonal of the transfer matrix at ``eps``: how well j and j∘A_j read the examples crafted on i."""
    plain, through = transfer_matrix(transfer, attack, eps), transfer_matrix(transfer, attack, eps, "A_j")
    off = ~np.eye(len(plain), dtype=bool)
    if not off.any():
        return ""
    gap = (through.values - plain.values)[off]
    return (f"**Transfer** (`adversarial_transfer.csv`, {attack.upper()} at ε = {eps:g}/255): another classifier j "
            f"reads the examples crafted on i at {_span(pd.Series(plain.values[off] * 100), 1)} % top-1, j∘A_j at "
            f"{_span(pd.Series(through.values[off] * 100), 1)} % ({_span(pd.Series(gap * 100), 1, signed=True)} "
            "points against j; on their own examples i reads "
            f"{_span(pd.Series(np.diag(plain.values) * 100), 1)} %). "
            + ("Through its AE j reads them worse in most pairs: A_j does not filter a transferred perturbation out "
               "(every A_j shares A_S's encoder, one possible route)." if np.median(gap) < 0 else
               "Through its AE j reads them as well or better in most pairs."))


def attack_section(table: pd.DataFrame, names: list[str], structure: pd.DataFrame | None = None,
                   transfer: pd.DataFrame | None = None) -> list[str]:
    """Attacks through S2S (``adversarial.csv``, issue 28; Folz, Palacio et al., WACV 2020): for which classifiers
    and ε A_i helps under gray-box attacks (crafted on i) and under white-box ones (crafted on i∘A_i), with Wilson
    95 % intervals, a table at ε = 4/255 (or the nearest ε run), and the share of the input gradient on edges
    (``gradient_structure.csv``) when given."""
    names = [n for n in names if n in set(table["classifier"])]
    attack = "pgd" if "pgd" in set(table["attack"]) else str(table["attack"].iloc[0])
    d = defence_table(table, attack)
    if d.empty:
        return []
    eps_run = sorted(set(d["eps"]))
    shown = min(eps_run, key=lambda e: abs(e - 4))
    steps = "PGD (L∞, 10 steps)" if attack == "pgd" else attack.upper()
    at = d[d["eps"] == shown].set_index("classifier").reindex(names).dropna(how="all")
    cells = pd.DataFrame({
        label: [format_interval(r[key] * 100, r[f"{key}_low"] * 100, r[f"{key}_high"] * 100, 1)
                for _, r in at.iterrows()]
        for label, key in (("i (crafted on i)", "i"), ("i∘A_S (gray)", "i_AS"), ("i∘A_i (gray)", "i_Ai_gray"),
                           ("i∘A_i (white: crafted on i∘A_i)", "i_Ai_white"))}, index=at.index)
    out = [f"**Attacks through S2S** (`adversarial.csv`; Folz, Palacio et al., WACV 2020): {steps} on "
           f"{int(d['n'].max())} test images at ε = {_eps_list(eps_run)}. Gray-box: crafted on i alone, read by i, "
           "i∘A_S and i∘A_i; white-box: crafted on i∘A_i end to end through the AE. Top-1 in % with Wilson 95 % "
           f"intervals at ε = {shown:g}/255:",
           _markdown(cells, index=True),
           f"A_i helps (i∘A_i's interval wholly above i's) in the gray-box setting for "
           f"{_helps_sentence(d, 'gray_helps', names)}; against the white-box attack for "
           f"{_helps_sentence(d, 'white_helps', names)}. Gray-box numbers alone overstate robustness (Athalye et "
           "al. 2018): only the white-box column says what A_i buys against an attacker who knows it is there."]
    if structure is not None and len(structure):
        s = structure.set_index(["classifier", "view"])
        parts = [f"{n}: i {format_interval(*s.loc[(n, ORIGINAL), ['mean', 'ci_low', 'ci_high']], 2)}, i∘A_i "
                 f"{format_interval(*s.loc[(n, ae_key(n)), ['mean', 'ci_low', 'ci_high']], 2)}"
                 for n in names if (n, ORIGINAL) in s.index and (n, ae_key(n)) in s.index]
        chance = structure[structure["view"] == "random"]["mean"]
        out.append("**Gradient structure** (`gradient_structure.csv`): the share of |∇x loss| on each clean image's "
                   f"strongest 10 % edge pixels (Sobel), mean with 95 % interval over images; {'; '.join(parts)}. "
                   f"A random map puts {_span(chance, 2)} there (chance). {_structure_sentence(s, names)}")
    if transfer is not None and len(transfer) and shown in set(transfer["eps"]):
        out.append(_transfer_sentence(transfer, attack, shown))
    return out
