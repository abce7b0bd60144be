"""A zoo's result tables: the one module that names every results file and its columns, writes and reads them.

The evaluation (:mod:`s2s_core.analysis.evaluate`) writes, and the CLI, the dashboard, the demo report and the
tests read, only through here. Values are fractions in [0, 1] unless a column says otherwise.

| key | file | columns (paper) |
|---|---|---|
| ``accuracy`` | ``accuracy.csv`` | ``classifier,input,top1,top5``; ``input`` in ``original``, ``A_S``, ``A_<name>`` (Table 1) |
| ``cross_accuracy`` | ``cross_accuracy.csv`` | index ``ae`` (``A_<name>``), one column per classifier j: ``acc(j∘A_i)`` (Table 2) |
| ``noise`` | ``noise.csv`` | ``classifier,input,s,top1`` (Fig. 4) |
| ``nmi`` | ``nmi.csv`` | ``ae,kind,estimator,levels,mean,std,se,ci_low,ci_high,n,chance_*,above_chance*``; ``kind`` in ``intra``, ``inter``; the primary estimator's rows first; chance = inter of ``original`` (Fig. 8-9) |
| ``lab_histograms`` | ``lab_histograms.csv`` | ``ae,channel,bin_lo,bin_hi,density``; ``channel`` in ``L``, ``a``, ``b`` (Fig. 3) |
| ``recon_quality`` | ``recon_quality.csv`` | ``ae,psnr_input,...,checkerboard,n``: one row per AE and the input (issue 11) |
| ``nmi_pairs`` | ``nmi_pairs.csv`` | ``pair,first,second,first_id,second_id,first_label,second_label[,first_file,second_file]`` then the inter nMI of every view (Sec. 3.5) |
| ``nmi_differences`` | ``nmi_differences.csv`` | ``kind,first,second,estimator,mean,std,se,ci_low,ci_high,n``: paired differences first − second (Sec. 3.5) |
| ``per_class`` | ``per_class.csv`` | ``classifier,input,label,class,n,top1_correct,top5_correct,top1,top5`` (Tables 1-2 per class) |
| ``preprocessing`` | ``preprocessing.csv`` | ``model,role,resize_size,crop_size,interpolation,source,weights,published_top1,published_top5`` (Table 1's protocol) |
| ``ae_patterns`` | ``ae_patterns.csv`` | ``ae,n,cast_r,cast_g,cast_b,mean_abs,std_mean,peak_period,peak_ratio,peak_share,peak4_ratio`` (Sec. 3.3.1) |
| ``ae_pattern_images`` | ``ae_patterns.safetensors`` | arrays ``<ae>/mean``, ``<ae>/std`` (3, S, S) and ``<ae>/spectrum`` (S, S) (Sec. 3.3.1) |
| ``ground_truth`` | ``ground_truth.csv`` | ``lens,heatmap,label,classifier,model_free,mask,metric,mean,std,ci_low,ci_high,n``: every heatmap and model-free map against the masks (issue 25) |
| ``ground_truth_baselines`` | ``ground_truth_baselines.csv`` | ``lens,heatmap,label,classifier,mask,metric,baseline,baseline_label,score,baseline_score,diff,ci_low,ci_high,n,verdict``: every lens against the best model-free map on the same images (issue 25) |
| ``channel_zeroing`` | ``channel_zeroing.csv`` | ``classifier,k,top1,top1_relevant_zeroed,top1_random_zeroed,drop_relevant,drop_random,drop_diff,drop_ci_low,drop_ci_high,flip_relevant,flip_random,flip_diff,flip_ci_low,flip_ci_high,verdict,draws,n``: per-image drop of the predicted class's probability and flip rate, top-k relevant vs k random zeroed, paired bootstrap 95 % intervals of relevant − random; ``verdict`` from the drop's interval (issues 18, 25) |
| ``inversion`` | ``inversion.csv`` | ``classifier,layer,kind,depth,n,error_mean,error_std,ae_error_mean,pair_distance,error_norm,error_norm_ci_low,error_norm_ci_high,ae_error_norm,ae_error_norm_ci_low,ae_error_norm_ci_high,norm_diff,norm_diff_ci_low,norm_diff_ci_high,top1_inversion,top1_ae,top1_original,fitted_to_logits,chance,steps``: errors also divided by the mean distance between two different test images at the layer (1: as far as another image), ``norm_diff`` = x* − A_i(x) paired; ``fitted_to_logits`` (bool) marks the logits layer, where top-1 on x* is near-tautological (feature inversion, seed 003; issue 25) |
| ``s2s_control`` | ``s2s_control.csv`` | ``classifier,measure,label,a_i,control,a_s,diff,ci_low,ci_high,n,verdict``: A_i against A_S's decoder tuned through a random copy of i, paired intervals (issue 26) |
| ``per_image`` | ``per_image.csv`` | ``item,file,label,classifier,measure,heatmap,value``: one row per image, classifier and measure (correct, disagreement, nmi; auc and mass per lens heatmap with masks) (issue 26) |
| ``randomisation`` | ``randomisation.csv`` | ``lens,heatmap,label,classifier,step,layer,fraction,metric,mean,ci_low,ci_high,n,verdict``: every lens's maps under top-down randomised classifiers vs. its original maps, Spearman and SSIM (Adebayo et al. 2018; issue 26) |
| ``class_sensitivity`` | ``class_sensitivity.csv`` | ``lens,heatmap,label,classifier,model_free,subset,measure,mean,ci_low,ci_high,reference,reference_mean,diff,diff_ci_low,diff_ci_high,n,verdict,note``: per class-conditional lens heatmap, classifier and ``subset`` (``all`` composites, or ``top2``: both classes in i's top-2), each ``measure`` (``sensitivity`` ½[(m_a(A) − m_a(B)) + (m_b(B) − m_b(A))], ``mass_diff`` m_a(A) − m_a(B), ``pointing`` on a, ``pointing_other`` on b) with the bootstrap 95 % interval of its mean and the paired difference from its ``reference`` (``zero``, or the best model-free map, the anchor rows with ``model_free`` true); ``both_top2`` rows: the share of composites with a and b in i's top-2 (Wilson interval); rows with only a ``note``: lenses that are not class-conditional or gave no map (issue 26) |
| ``adversarial`` | ``adversarial.csv`` | ``classifier,attack,eps,threat,view,top1,ci_low,ci_high,n``: top-1 of i under ``attack`` (``fgsm``, ``pgd``; L∞ radius ``eps`` in 1/255) crafted on i (``threat`` ``gray``) or on i∘A_i (``white``), read by ``view`` (``original``: i, ``A_S``: i∘A_S, ``A_<i>``: i∘A_i), Wilson 95 % interval (``s2s attack``; issue 28) |
| ``adversarial_transfer`` | ``adversarial_transfer.csv`` | ``source,target,view,attack,eps,top1,n``: top-1 of j (``view`` ``original``) and of j∘A_j (``A_<j>``) on the gray-box examples crafted on i (``s2s attack``; issue 28) |
| ``gradient_structure`` | ``gradient_structure.csv`` | ``classifier,view,mean,ci_low,ci_high,n``: share of the gradient mass (∇x CE, absolute) on the image's strongest edges for i (``original``), i∘A_i (``A_<i>``) and a random map (``random``, chance), t-interval of the mean over images (``s2s attack``; issue 28) |

Beside the tables, ``schema.json`` records the schema version that wrote them
(``{"format": "s2s-results", "version": 1, "files": {...}, "sources": {...}}``). A results folder without it
predates the versioning and is read as version 1. ``sources`` maps each file to the data it was computed on and
the code that wrote it (:class:`DataRecord`: folder, number of images, sha256 of the list of image files;
code version and git commit), so that tables from different data are never shown side by side silently
(:func:`data_groups`, :func:`mixed_data_message`). Files written before it was recorded have no source. Every file is written atomically (a temporary file, then a rename).
Reading a file of another version, without its columns, with non-numeric values or without rows raises
:class:`~s2s_core.errors.InputTableError` with one line that says to re-run ``s2s evaluate``.

A new analysis adds its file with :func:`register` (a :class:`ResultFile`) in its own module, or here when the
dashboard reads it (a reader must find the file's record without importing the analysis). Files of
``kind="arrays"`` hold named float tensors as safetensors (:func:`read_arrays`), never pickles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from pandas.api.types import is_numeric_dtype
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from s2s_core.errors import ConfigError, InputTableError

SCHEMA_VERSION = 1
SCHEMA_FILE = "schema.json"
SCHEMA_FORMAT = "s2s-results"
#: How floats are written (6 decimals: the tables hold fractions, densities and nMI).
FLOAT_FORMAT = "%.6f"


@dataclass(frozen=True)
class ResultFile:
    """One results table: its key, file name, required columns and which of them are numbers.

    ``index``: the name of the index column (written as the first column) for a matrix-shaped table whose
    other columns are not fixed (Table 2: one column per classifier, all numeric); ``None`` for long tables.
    ``needs``: what else the table needs beyond a zoo and labelled images (empty: ``s2s evaluate`` always
    writes it).
    """

    key: str
    filename: str
    columns: tuple[str, ...]
    numeric: tuple[str, ...]
    description: str
    index: str | None = None
    kind: str = "table"  #: "table" (CSV, a DataFrame) or "arrays" (safetensors, a mapping name -> tensor)
    needs: str = ""
    #: True for a table computed on a sample of its split, whose ``n`` column counts the images used: its data
    #: note says "100 of the 500 images" (:func:`images_used`), the source record naming the whole split
    sampled: bool = False


RESULT_FILES: dict[str, ResultFile] = {}

SUMMARY_COLUMNS = ("mean", "std", "se", "ci_low", "ci_high", "n")
NMI_PAIR_COLUMNS = ("pair", "first", "second", "first_id", "second_id", "first_label", "second_label")
NMI_DIFF_COLUMNS = ("kind", "first", "second", "estimator", *SUMMARY_COLUMNS)
PER_CLASS_COLUMNS = ("classifier", "input", "label", "class", "n", "top1_correct", "top5_correct", "top1", "top5")
PROTOCOL_COLUMNS = ("model", "role", "resize_size", "crop_size", "interpolation", "source", "weights",
                    "published_top1", "published_top5")
#: Zeroing: top-1 as before; the drop of the predicted class's probability and the flip rate, top-k relevant vs
#: k random channels zeroed, each with the paired bootstrap of relevant − random (issue 25).
ZEROING_COLUMNS = ("classifier", "k", "top1", "top1_relevant_zeroed", "top1_random_zeroed",
                   "drop_relevant", "drop_random", "drop_diff", "drop_ci_low", "drop_ci_high",
                   "flip_relevant", "flip_random", "flip_diff", "flip_ci_low", "flip_ci_high", "verdict", "draws", "n")
#: Inversion: the error of x* and of A_i(x) as before, and divided by ``pair_distance`` (the same measure between two
#: different test images) with 95 % intervals; ``fitted_to_logits`` marks the logits layer (issue 25).
#: Class sensitivity: one row per lens heatmap, classifier, subset and measure (issue 26).
CLASS_SENSITIVITY_COLUMNS = ("lens", "heatmap", "label", "classifier", "model_free", "subset", "measure", "mean",
                             "ci_low", "ci_high", "reference", "reference_mean", "diff", "diff_ci_low", "diff_ci_high",
                             "n", "verdict", "note")
INVERSION_COLUMNS = ("classifier", "layer", "kind", "depth", "n", "error_mean", "error_std", "ae_error_mean",
                     "pair_distance", "error_norm", "error_norm_ci_low", "error_norm_ci_high", "ae_error_norm",
                     "ae_error_norm_ci_low", "ae_error_norm_ci_high", "norm_diff", "norm_diff_ci_low",
                     "norm_diff_ci_high", "top1_inversion", "top1_ae", "top1_original", "fitted_to_logits", "chance",
                     "steps")
PATTERN_COLUMNS = ("ae", "n", "cast_r", "cast_g", "cast_b", "mean_abs", "std_mean", "peak_period", "peak_ratio",
                   "peak_share", "peak4_ratio")


@dataclass(frozen=True)
class DataRecord:
    """The data a results table was computed on: ``folder`` (relative to the zoo when inside it), ``n`` images
    evaluated, ``files_sha256`` (sha256 of their sorted relative paths, one per line: :func:`files_digest`),
    and the code that wrote it (``code_version``, ``git_commit`` or ``None``). Two tables come from the same
    data when folder, n and digest agree (:attr:`data_id`)."""

    folder: str
    n: int
    files_sha256: str
    code_version: str = ""
    git_commit: str | None = None

    @property
    def data_id(self) -> tuple[str, int, str]:
        return (self.folder, int(self.n), self.files_sha256)

    def describe(self, used: int | None = None) -> str:
        """E.g. ``"500 images of data/test (files 3fa2c1d0)"``; with ``used`` (fewer than :attr:`n`: a table made
        on a sample of the split, as the attacks and the randomisation check are) ``"100 of the 500 images of
        data/test (files 3fa2c1d0)"``."""
        some = f"{used} of the " if used is not None and 0 <= used < self.n else ""
        return f"{some}{self.n} images of {self.folder} (files {self.files_sha256[:8]})"

    @classmethod
    def from_dict(cls, raw: Mapping) -> DataRecord:
        try:
            return cls(folder=str(raw["folder"]), n=int(raw["n"]), files_sha256=str(raw["files_sha256"]),
                       code_version=str(raw.get("code_version", "")), git_commit=raw.get("git_commit"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputTableError(f"a results source record is malformed ({exc!r}); re-run `s2s evaluate`") from exc


def files_digest(relative_paths: Iterable[str]) -> str:
    """sha256 of the sorted relative paths (POSIX form), one per line: which images a table was computed on."""
    text = "\n".join(sorted(str(p).replace("\\", "/") for p in relative_paths))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def register(spec: ResultFile) -> ResultFile:
    """Add a results table (an analysis module calls this once); a key or file name already taken -> ConfigError."""
    for other in RESULT_FILES.values():
        if other.key != spec.key and other.filename == spec.filename:
            raise ConfigError(f"results file {spec.filename} already belongs to {other.key!r}")
    if spec.key in RESULT_FILES and RESULT_FILES[spec.key] != spec:
        raise ConfigError(f"results table {spec.key!r} is already registered")
    RESULT_FILES[spec.key] = spec
    return spec


for _spec in (
    ResultFile("accuracy", "accuracy.csv", ("classifier", "input", "top1", "top5"), ("top1", "top5"),
               "top-1/top-5 of every classifier on every input (Table 1)"),
    ResultFile("cross_accuracy", "cross_accuracy.csv", (), (), "acc(j∘A_i): rows A_i, columns j (Table 2)",
               index="ae"),
    ResultFile("noise", "noise.csv", ("classifier", "input", "s", "top1"), ("s", "top1"),
               "top-1 under additive uniform noise U(-s, s) (Fig. 4)"),
    ResultFile("nmi", "nmi.csv", ("ae", "kind", "estimator", "levels", "mean", "std", "se", "ci_low", "ci_high", "n",
                                  "chance_mean", "chance_std", "chance_se", "chance_n", "above_chance",
                                  "above_chance_low", "above_chance_high"),
               ("levels", "mean", "n", "chance_mean", "chance_n"),
               "intra- and inter-class nMI per AE beside the chance level of unrelated originals (Fig. 8-9)"),
    ResultFile("lab_histograms", "lab_histograms.csv", ("ae", "channel", "bin_lo", "bin_hi", "density"),
               ("bin_lo", "bin_hi", "density"), "global L*a*b* histograms per view (Fig. 3)"),
    ResultFile("recon_quality", "recon_quality.csv",
               ("ae", "psnr_input", "psnr_input_std", "ssim_input", "ssim_input_std", "psnr_base", "ssim_base",
                "mad_base", "hf_energy", "checkerboard", "n"),
               ("psnr_input", "psnr_input_std", "ssim_input", "ssim_input_std", "psnr_base", "ssim_base",
                "mad_base", "hf_energy", "checkerboard", "n"),
               "reconstruction quality per AE: PSNR/SSIM vs. x and A_S(x), |A_i - A_S|, high frequencies"),
    ResultFile("nmi_pairs", "nmi_pairs.csv", NMI_PAIR_COLUMNS, NMI_PAIR_COLUMNS,
               "the random inter-class pairs and the inter nMI of every view on them (Sec. 3.5)"),
    ResultFile("nmi_differences", "nmi_differences.csv", NMI_DIFF_COLUMNS, SUMMARY_COLUMNS,
               "paired nMI differences between AEs with 95 % intervals (Sec. 3.5)"),
    ResultFile("per_class", "per_class.csv", PER_CLASS_COLUMNS,
               ("label", "n", "top1_correct", "top5_correct", "top1", "top5"),
               "top-1/top-5 of every classifier on every input, per class, with counts (Tables 1-2 per class)"),
    ResultFile("preprocessing", "preprocessing.csv", PROTOCOL_COLUMNS, ("resize_size", "crop_size"),
               "the centre-crop protocol each model read the originals with, and published accuracies (Table 1)"),
    ResultFile("ae_patterns", "ae_patterns.csv", PATTERN_COLUMNS, PATTERN_COLUMNS[1:],
               "the image-independent part of each AE: colour cast, un-pooling peak, spread (Sec. 3.3.1)"),
    ResultFile("ae_pattern_images", "ae_patterns.safetensors", (), (),
               "mean and std of A(x) - x and the mean's power spectrum per AE (Sec. 3.3.1)", kind="arrays"),
    ResultFile("ground_truth", "ground_truth.csv",
               ("lens", "heatmap", "label", "classifier", "model_free", "mask", "metric", "mean", "std", "ci_low",
                "ci_high", "n"),
               ("mean", "n"),
               "standard localisation metrics of every lens's heatmap and of maps that read no classifier against "
               "the filled masks and their outline bands, with 95 % intervals (issue 25)",
               needs="masks beside the test images (<split>_masks/)"),
    ResultFile("ground_truth_baselines", "ground_truth_baselines.csv",
               ("lens", "heatmap", "label", "classifier", "mask", "metric", "baseline", "baseline_label", "score",
                "baseline_score", "diff", "ci_low", "ci_high", "n", "verdict"),
               ("score", "baseline_score", "diff", "n"),
               "every lens against the best model-free map on the same images: paired bootstrap 95 % interval of "
               "the per-image difference and its verdict (issue 25)",
               needs="masks beside the test images (<split>_masks/)"),
    ResultFile("channel_zeroing", "channel_zeroing.csv", ZEROING_COLUMNS,
               tuple(c for c in ZEROING_COLUMNS if c not in ("classifier", "verdict")),
               "the predicted class's probability drop and flip rate with each image's top-k relevant channels "
               "zeroed vs k random same-layer channels, paired 95 % intervals, top-1 beside (issues 18, 25)",
               needs="relevant-channel weights in the zoo (s2s channels fit)"),
    ResultFile("inversion", "inversion.csv", INVERSION_COLUMNS,
               tuple(c for c in INVERSION_COLUMNS if c not in ("classifier", "layer", "kind", "fitted_to_logits")),
               "feature inversion per classifier and layer: normalised error, also on the paper's scale (1: as far "
               "as another image) with intervals, and top-1 on the inversions vs. A_i(x) (Mahendran & Vedaldi)",
               sampled=True),
    ResultFile("s2s_control", "s2s_control.csv",
               ("classifier", "measure", "label", "a_i", "control", "a_s", "diff", "ci_low", "ci_high", "n", "verdict"),
               ("a_i", "control", "a_s", "diff", "ci_low", "ci_high", "n"),
               "A_i against its S2S control (A_S's decoder tuned with A_i's recipe through a randomly initialised "
               "copy of i): change from A_S, i's top-1, PSNR and the |x - A(x)| map's AUC, paired 95 % intervals "
               "(issue 26)", needs="controls in the zoo (s2s demo-controls)"),
    ResultFile("per_image", "per_image.csv", ("item", "file", "label", "classifier", "measure", "heatmap", "value"),
               ("item", "value"),
               "per test image and classifier: i right or wrong, A_i's disagreement with i, nMI(x, A_i(x)), and "
               "every lens's pixel AUC and relevance mass on the filled mask (issue 26)"),
    ResultFile("randomisation", "randomisation.csv",
               ("lens", "heatmap", "label", "classifier", "step", "layer", "fraction", "metric", "mean", "ci_low",
                "ci_high", "n", "verdict"),
               ("step", "fraction", "mean", "n"),
               "every lens's maps under cascading randomised classifiers (top layer down) vs. its maps under the "
               "trained ones: Spearman rank correlation and SSIM per step with 95 % intervals, and a verdict from "
               "the fully random step (Adebayo et al., NeurIPS 2018; issue 26)", sampled=True),
    ResultFile("class_sensitivity", "class_sensitivity.csv", CLASS_SENSITIVITY_COLUMNS,
               ("mean", "ci_low", "ci_high", "reference_mean", "diff", "diff_ci_low", "diff_ci_high", "n"),
               "class (target) sensitivity on two-shape images: each class-conditional lens's maps for both classes, "
               "mass and pointing on each shape, paired 95 % intervals against 0 and the model-free anchors, and "
               "how often both classes are in i's top-2 (issue 26)",
               needs="a two-shape composite set (s2s demo-pairs ZOO)"),
    ResultFile("adversarial", "adversarial.csv", ("classifier", "attack", "eps", "threat", "view", "top1", "ci_low",
               "ci_high", "n"), ("eps", "top1", "ci_low", "ci_high", "n"),
               "top-1 of i, i∘A_S and i∘A_i under FGSM/PGD crafted on i (gray-box) or on i∘A_i (white-box) (issue 28)",
               needs="a run of s2s attack ZOO", sampled=True),
    ResultFile("adversarial_transfer", "adversarial_transfer.csv",
               ("source", "target", "view", "attack", "eps", "top1", "n"), ("eps", "top1", "n"),
               "top-1 of every j and j∘A_j on the adversarial examples crafted on i (issue 28)",
               needs="a run of s2s attack ZOO with --threat transfer", sampled=True),
    ResultFile("gradient_structure", "gradient_structure.csv", ("classifier", "view", "mean", "ci_low", "ci_high", "n"),
               ("mean", "ci_low", "ci_high", "n"),
               "share of |∇x loss| on the image's strongest edges, for i, i∘A_i and a random map (issue 28)",
               needs="a run of s2s attack ZOO", sampled=True),
):
    register(_spec)


def spec(key: str) -> ResultFile:
    """The :class:`ResultFile` of ``key``; an unknown key -> ConfigError naming the known ones."""
    try:
        return RESULT_FILES[key]
    except KeyError:
        raise ConfigError(f"unknown results table {key!r}; known: {', '.join(RESULT_FILES)}") from None


def path(results_dir: str | Path, key: str) -> Path:
    """``results_dir/<file of key>``."""
    return Path(results_dir) / spec(key).filename


def _atomic_write(target: Path, write) -> None:
    tmp = target.with_name(target.name + ".tmp")
    write(tmp)
    tmp.replace(target)


def _schema(results_dir: Path) -> dict:
    file = results_dir / SCHEMA_FILE
    if not file.is_file():
        return {"format": SCHEMA_FORMAT, "version": SCHEMA_VERSION, "files": {}}
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputTableError(f"{file} is not readable JSON ({exc}); re-run `s2s evaluate`") from exc
    if not isinstance(data, dict) or data.get("format") != SCHEMA_FORMAT:
        raise InputTableError(f"{file} is not an s2s results schema (format {SCHEMA_FORMAT!r}); re-run `s2s evaluate`")
    return data


def write(results_dir: str | Path, tables: Mapping[str, pd.DataFrame],
          source: DataRecord | None = None) -> dict[str, Path]:
    """Write ``{key: frame}`` into ``results_dir`` (created), each file atomically, and record them in
    ``schema.json`` with ``source`` (the data they were computed on; ``None``: not known, any older record of
    those files is dropped); other tables already there are kept. Returns ``{key: path}``."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    schema = _schema(results_dir)
    if schema.get("version") != SCHEMA_VERSION:  # tables of another version must not be mixed with ours
        schema = {"format": SCHEMA_FORMAT, "version": SCHEMA_VERSION, "files": {}}
    paths = {}
    for key, frame in tables.items():
        s = spec(key)
        target = results_dir / s.filename
        if s.kind == "arrays":
            arrays = _check_arrays(frame, key)
            _atomic_write(target, lambda tmp, a=arrays: tmp.write_bytes(save(a)))  # bytes: the usual file mode
        else:
            _check(frame, s, f"the {key} table")
            _atomic_write(target, lambda tmp, f=frame, s=s: f.to_csv(tmp, index=s.index is not None,
                                                                     float_format=FLOAT_FORMAT))
        schema["files"][s.filename] = key
        sources = schema.setdefault("sources", {})
        if source is None:
            sources.pop(s.filename, None)
        else:
            sources[s.filename] = asdict(source)
        paths[key] = target
    _atomic_write(results_dir / SCHEMA_FILE,
                  lambda tmp: tmp.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n"))
    return paths


def sources(results_dir: str | Path) -> dict[str, DataRecord | None]:
    """``{key: DataRecord or None}`` for every registered file that exists in ``results_dir``; ``None`` where
    the file's data were not recorded (written before s2s recorded them, or by a writer that did not say)."""
    results_dir = Path(results_dir)
    raw = _schema(results_dir).get("sources") or {}
    out: dict[str, DataRecord | None] = {}
    for key, s in RESULT_FILES.items():
        if (results_dir / s.filename).is_file():
            rec = raw.get(s.filename)
            out[key] = DataRecord.from_dict(rec) if isinstance(rec, Mapping) else None
    return out


def data_groups(results_dir: str | Path, keys: Sequence[str] | None = None) -> list[tuple[DataRecord | None, list[str]]]:
    """The tables of ``results_dir`` (only ``keys`` when given) grouped by the data they came from:
    ``[(record or None, [keys])]``, the largest group first; ``None`` gathers tables whose data are unknown."""
    groups: dict[object, tuple[DataRecord | None, list[str]]] = {}
    for key, rec in sources(results_dir).items():
        if keys is not None and key not in keys:
            continue
        ident = rec.data_id if rec is not None else None
        groups.setdefault(ident, (rec, []))[1].append(key)
    return sorted(groups.values(), key=lambda g: (-len(g[1]), g[0] is None))


def mixed_data_message(results_dir: str | Path, keys: Sequence[str] | None = None) -> str | None:
    """One plain sentence when the tables (``keys``, default all) come from different data, naming which table
    came from which; ``None`` when they share their data (or none of them recorded it)."""
    groups = data_groups(results_dir, keys)
    if len(groups) < 2:
        return None
    parts = [f"{', '.join(RESULT_FILES[k].filename for k in ks)} from "
             f"{rec.describe() if rec is not None else 'unrecorded data (written before s2s recorded it)'}"
             for rec, ks in groups]
    return ("These result tables come from different data, so they must not be compared with each other: "
            + "; ".join(parts) + ". Re-run `s2s evaluate` on one data set to make them agree.")


def common_source(results_dir: str | Path, keys: Sequence[str] | None = None) -> DataRecord | None:
    """The one data record every table (``keys``, default all) shares, or ``None`` (mixed or not recorded)."""
    groups = data_groups(results_dir, keys)
    return groups[0][0] if len(groups) == 1 else None


def images_used(results_dir: str | Path, keys: Sequence[str]) -> int | None:
    """How many images of their split the tables ``keys`` were computed on, when every one of them that exists
    was computed on a sample (:attr:`ResultFile.sampled`: the most in any row of their ``n`` columns); ``None``
    when one used the whole split (its source record's count then holds) or none exists."""
    counts = []
    for key in keys:
        s = RESULT_FILES.get(key)
        if s is None or not exists(results_dir, key):
            continue
        if not s.sampled:
            return None
        try:
            counts.append(int(read(results_dir, key)["n"].max()))
        except (InputTableError, ValueError):
            return None
    return max(counts) if counts else None


def exists(results_dir: str | Path, key: str) -> bool:
    """Whether the table ``key`` has been written into ``results_dir``."""
    return path(results_dir, key).is_file()


def _check_arrays(arrays, key: str) -> dict[str, torch.Tensor]:
    if not isinstance(arrays, Mapping) or not arrays:
        raise ConfigError(f"the {key} arrays must be a non-empty mapping of names to tensors")
    out = {}
    for name, t in arrays.items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise ConfigError(f"the {key} array {name!r} is not a floating-point tensor")
        out[str(name)] = t.detach().to("cpu", torch.float32).contiguous()
    return out


def _readable(results_dir: str | Path, key: str, kind: str) -> tuple[Path, ResultFile]:
    """The file of ``key`` when it is of ``kind``, exists and was written with this schema version."""
    results_dir = Path(results_dir)
    s = spec(key)
    file = results_dir / s.filename
    if s.kind != kind:
        raise ConfigError(f"{key!r} holds {s.kind}: read it with results.{'read' if s.kind == 'table' else 'read_arrays'}")
    if not file.is_file():
        raise InputTableError(f"{file} does not exist: run `s2s evaluate` on the zoo first")
    version = _schema(results_dir).get("version")
    if version != SCHEMA_VERSION:
        raise InputTableError(f"{file} was written with results schema version {version}, but this s2s reads "
                              f"version {SCHEMA_VERSION}: re-run `s2s evaluate` on the zoo")
    return file, s


def read_arrays(results_dir: str | Path, key: str) -> dict[str, torch.Tensor]:
    """Read the arrays file ``key`` (safetensors; nothing is unpickled) as ``{name: float32 tensor}``.

    Raises:
        InputTableError: missing, of another schema version, or not a readable safetensors file.
    """
    file, _ = _readable(results_dir, key, "arrays")
    try:
        arrays = load_file(str(file))
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise InputTableError(f"{file} is not a readable safetensors file ({exc}); re-run `s2s evaluate`") from exc
    if not arrays:
        raise InputTableError(f"{file} holds no arrays; re-run `s2s evaluate`")
    return arrays


def read(results_dir: str | Path, key: str) -> pd.DataFrame:
    """Read table ``key`` from ``results_dir``, checked against its schema.

    Raises:
        InputTableError: the file is missing, of another schema version, unreadable, lacks columns or rows,
            or holds non-numbers where numbers belong (one line, with what to do).
    """
    file, s = _readable(results_dir, key, "table")
    try:
        frame = pd.read_csv(file, index_col=0 if s.index else None)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputTableError(f"{file} cannot be read as a CSV table ({exc}); re-run `s2s evaluate`") from exc
    return _check(frame, s, str(file))


def _check(frame: pd.DataFrame, s: ResultFile, what: str) -> pd.DataFrame:
    hint = "; re-run `s2s evaluate`"
    if s.index is not None:
        numeric: Iterable[str] = list(frame.columns)
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise InputTableError(f"{what} has no rows or no columns{hint}")
    else:
        missing = [c for c in s.columns if c not in frame.columns]
        if missing:
            raise InputTableError(f"{what} lacks column(s) {', '.join(missing)}; expected columns "
                                  f"{','.join(s.columns)}{hint}")
        if frame.empty:
            raise InputTableError(f"{what} has no rows{hint}")
        numeric = s.numeric
    bad = [c for c in numeric if not is_numeric_dtype(frame[c])]
    if bad:
        raise InputTableError(f"{what}: column(s) {', '.join(map(str, bad))} hold values that are not numbers{hint}")
    return frame


def read_all(results_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Every registered table that exists in ``results_dir``, read and checked."""
    return {key: read(results_dir, key) for key, s in RESULT_FILES.items() if s.kind == "table" and exists(results_dir, key)}
