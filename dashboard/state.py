"""Cached access for the pages: which zoo is selected, its models (loaded once per process), its result
tables and the inspections of images. Everything heavy is cached here, so pages stay thin.

* Models: ``st.cache_resource`` (one shared instance per zoo and process, used read-only under
  ``torch.inference_mode()``), keyed on the zoo's path and the mtime of its ``zoo.json``, so a rebuilt zoo
  is reloaded.
* Tables, inspections, thumbnails, figures: ``st.cache_data`` keyed on paths + mtimes or content digests.

Zoo discovery (sidebar picker, :func:`zoo_picker`): ``$S2S_ZOO`` if set (also the default), the demo zoo,
every zoo under the checkpoints folder and every finished job output under the runs folder; the folders come
from :mod:`s2s_core.settings` (the project folder is ``$S2S_HOME`` or the current directory), as for the CLI.
"""

from __future__ import annotations

import gc
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import url_state
from s2s_core import results, settings
from s2s_core.analysis.fca import context_interval, lattice_at
from s2s_core.analysis.figures import lab_lines_figure, view_colours
from s2s_core.analysis.lattice_figure import lattice_figure
from s2s_core.data.gallery import GalleryItem, class_names, count_images
from s2s_core.data.gallery import gallery as test_gallery
from s2s_core.data.images import load_image, resize_center_crop
from s2s_core.errors import S2SError
from s2s_core.imaging import prepare_image
from s2s_core.inspection import Inspection, inspect_image, native_inputs, noisy_input
from s2s_core.provenance import PROVENANCE_FILE, read_provenance
from s2s_core.runtime import configure_threads
from s2s_core.zoo import ZOO_FILE, Zoo, ZooInfo, list_zoos

#: Session-state key of the zoo picker (a widget made in app.py, so it persists across pages).
ZOO_KEY = "zoo"
NO_ZOO_MESSAGE = "no zoo found: build one with `s2s demo`"


@dataclass(frozen=True)
class ZooRef:
    """The selected zoo: its directory and the mtime of its ``zoo.json`` (part of every cache key)."""

    path: str
    stamp: float

    @property
    def info(self) -> ZooInfo:
        return zoo_info(self.path, self.stamp)


# ------------------------------------------------------------------------------------------- server
@st.cache_resource
def configure_server() -> int:
    """Set torch's thread count once per process: ``$S2S_THREADS`` or 1 (small shared machines run faster
    with one thread per request than with oversubscribed ones). Returns the count."""
    count = configure_threads(settings.threads() or 1)
    freeze_long_lived()
    return count


def freeze_long_lived() -> None:
    """Move every object alive now (imported modules, loaded models) into the garbage collector's permanent
    generation (:func:`gc.freeze`).

    Streamlit runs a full ``gc.collect(2)`` after every script run (``runner.postScriptGC``). With the ~0.5 M
    long-lived objects of torch, plotly, pandas and a zoo's models, that collection took most of a rerun's
    time (profiled with py-spy: 156 of 199 samples of the script thread during uploads; 210 ms per collection
    in a bare process): the person waited for the collector, not for the models. Frozen objects are still freed
    by reference counting; only reference cycles among them are no longer looked for, and they live for the
    whole process anyway. Called once per process and after each zoo is loaded."""
    gc.collect()
    gc.freeze()


def runs_dir() -> Path:
    """The runs folder, the same as the CLI's (:func:`s2s_core.settings.runs_dir`)."""
    return settings.runs_dir()


# ----------------------------------------------------------------------------------------- the picker
@st.cache_data(ttl=15, show_spinner=False)
def zoo_candidates(env_zoo: str | None, runs: str, checkpoints: str | None = None) -> list[str]:
    """Zoo directories to offer, in order: ``$S2S_ZOO``, the demo zoo, other zoos under the checkpoints
    folder (default :func:`s2s_core.settings.checkpoints_dir`), zoos under the runs dir. Only directories
    holding ``zoo.json`` (except ``$S2S_ZOO``, which is kept so that a wrong setting is reported rather than
    ignored)."""
    ckpt = Path(checkpoints) if checkpoints else settings.checkpoints_dir()
    found: list[Path] = []
    if env_zoo:
        found.append(Path(env_zoo).expanduser().resolve())
    demo = ckpt / settings.DEMO_ZOO_NAME
    if (demo / ZOO_FILE).is_file():
        found.append(demo.resolve())
    found += [p.resolve() for p in list_zoos(ckpt)]
    found += [p.resolve() for p in list_zoos(runs)]
    return [str(p) for p in dict.fromkeys(found)]


def _candidates() -> list[str]:
    env_zoo = settings.zoo()
    return zoo_candidates(str(env_zoo) if env_zoo else None, str(runs_dir()), str(settings.checkpoints_dir()))


def zoo_label(path: str) -> str:
    """A short name for the picker: the path relative to the project folder when inside it."""
    p = Path(path)
    try:
        return str(p.relative_to(settings.home()))
    except ValueError:
        return str(p)


def zoo_picker() -> str | None:
    """The sidebar's zoo selector (call from app.py, before ``pg.run()``); returns the chosen directory."""
    options = _candidates()
    if not options:
        st.sidebar.info(NO_ZOO_MESSAGE)
        return None
    if ZOO_KEY in st.session_state and st.session_state[ZOO_KEY] not in options:
        st.session_state.pop(ZOO_KEY)  # gone since the last run: back to the default
    with st.sidebar:
        url_state.restore("zoo", ZOO_KEY, url_state.choice(options, zoo_label), options[0],
                          what="a zoo this server knows")
    path = st.sidebar.selectbox("Zoo", options, key=ZOO_KEY, format_func=zoo_label,
                                help="A zoo: A_S, the fine-tuned AEs A_i and their classifiers i. Found under "
                                     "checkpoints/, the runs dir ($S2S_RUNS_DIR) and $S2S_ZOO.")
    url_state.publish("zoo", path, zoo_label)
    return path


def selected_zoo() -> ZooRef | None:
    """The zoo chosen in the sidebar (before the picker has run in this session: the default one), or
    ``None`` when there is no zoo at all."""
    path = st.session_state.get(ZOO_KEY)
    if not path:
        options = _candidates()
        path = options[0] if options else None
    if not path:
        return None
    zfile = Path(path) / ZOO_FILE
    return ZooRef(path, zfile.stat().st_mtime) if zfile.is_file() else ZooRef(path, 0.0)


def require_zoo() -> ZooRef:
    """The selected zoo; otherwise the page says how to build one and stops."""
    ref = selected_zoo()
    if ref is None:
        st.info(NO_ZOO_MESSAGE)
        st.stop()
    if ref.stamp == 0.0:
        st.error(f"{ref.path} has no {ZOO_FILE}, so it is not a zoo; build one with `s2s demo` or set "
                 f"{settings.ZOO_ENV} to a zoo directory")
        st.stop()
    return ref


def stop_on(exc: S2SError) -> None:
    """Show a user-facing error as a plain message and end this page run."""
    st.error(str(exc))
    st.stop()


# -------------------------------------------------------------------------------------------- zoo data
@st.cache_data(show_spinner=False)
def zoo_info(path: str, stamp: float) -> ZooInfo:
    return ZooInfo.read(path)


@st.cache_resource(max_entries=4, show_spinner="Loading the zoo's models…")
def _load_zoo(path: str, stamp: float) -> Zoo:
    configure_server()
    zoo = Zoo.load(path, device="cpu")
    freeze_long_lived()
    return zoo


def load_zoo(ref: ZooRef) -> Zoo:
    """The loaded zoo (shared, read-only); a broken zoo shows its error and stops the page."""
    try:
        return _load_zoo(ref.path, ref.stamp)
    except S2SError as exc:
        stop_on(exc)
        raise  # unreachable: st.stop() ends the run


@st.cache_data(show_spinner=False, max_entries=64)
def _read_result(results_dir: str, key: str, stamp: float) -> pd.DataFrame:
    return results.read(results_dir, key)


def result_path(ref: ZooRef, key: str) -> Path:
    """``ZOO/results/<file>`` of result ``key`` (a key of :data:`s2s_core.results.RESULT_FILES`)."""
    return results.path(ref.info.results_dir, key)


def result_table(ref: ZooRef, key: str) -> pd.DataFrame | None:
    """A result table of the zoo (``accuracy``, ``cross_accuracy``, ``noise``, ``nmi``, ``lab_histograms``)
    read through :mod:`s2s_core.results`, or ``None`` when the zoo has not been evaluated. A file of the wrong
    version or shape shows its one-line error and stops the page."""
    return _cached_result(ref, key, _read_result)


@st.cache_data(show_spinner=False, max_entries=16)
def _provenance(path: str, stamp: float) -> dict | None:
    return read_provenance(path)


def provenance(ref: ZooRef) -> dict | None:
    """``ZOO/provenance.json`` (written by ``s2s reproduce``) or ``None``; an unreadable file shows an error."""
    path = Path(ref.path) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        return _provenance(ref.path, path.stat().st_mtime)
    except (S2SError, OSError) as exc:
        st.warning(f"{path} cannot be read ({exc})")
        return None


@st.cache_data(show_spinner=False, max_entries=8)
def _read_arrays(results_dir: str, key: str, stamp: float) -> dict:
    return results.read_arrays(results_dir, key)


def result_arrays(ref: ZooRef, key: str) -> dict | None:
    """The named tensors of an arrays results file (``ae_pattern_images``), or ``None`` before ``s2s evaluate``;
    a broken file shows its one-line error and stops the page."""
    return _cached_result(ref, key, _read_arrays)


def _cached_result(ref: ZooRef, key: str, reader):
    path = result_path(ref, key)
    if not path.is_file():
        return None
    try:
        return reader(str(ref.info.results_dir), key, path.stat().st_mtime)
    except S2SError as exc:
        stop_on(exc)
        raise


@st.cache_data(show_spinner=False, max_entries=64)
def _data_note(results_dir: str, keys: tuple[str, ...] | None, stamp: float) -> tuple[str, str]:
    mixed = results.mixed_data_message(results_dir, keys)
    if mixed:
        return "warning", mixed
    rec = results.common_source(results_dir, keys)
    if rec is None:
        return "caption", ("The data these tables came from were not recorded (written before s2s recorded "
                           "them); re-run `s2s evaluate` to record it.")
    code = f"s2s {rec.code_version}" + (f", commit {rec.git_commit[:10]}" if rec.git_commit else "")
    used = results.images_used(results_dir, keys if keys is not None else list(results.RESULT_FILES))
    return "caption", f"Computed on {rec.describe(used)} ({code})."


def result_source(ref: ZooRef, key: str) -> results.DataRecord | None:
    """The data result ``key`` was computed on (folder, n, file-list digest), or ``None`` when not recorded."""
    try:
        return results.sources(ref.info.results_dir).get(key)
    except S2SError:
        return None


def data_note(ref: ZooRef, keys: Sequence[str] | None = None) -> None:
    """Say which data the zoo's result tables (``keys``, default all) were computed on: a caption when they
    share their data, a warning naming which table came from which data when they do not."""
    schema = Path(ref.info.results_dir) / results.SCHEMA_FILE
    if not schema.is_file():
        return
    try:
        kind, text = _data_note(str(ref.info.results_dir), tuple(keys) if keys else None, schema.stat().st_mtime)
    except S2SError as exc:
        stop_on(exc)
        raise
    (st.warning if kind == "warning" else st.caption)(text)


def missing_results_note(ref: ZooRef, what: str) -> None:
    """The message for a zoo without result tables."""
    data = ref.info.test_dir
    st.info(f"This zoo has no {what} yet: run `s2s evaluate {zoo_label(ref.path)}"
            + (f" --data {zoo_label(str(data))}`" if data else " --data DIR` (labelled images, DIR/<class>/<image>)"))


# ------------------------------------------------------------------------------------------ inspections
def source_key(source: bytes | str | Path) -> str:
    """A cache key for an image source: the sha256 of bytes, or ``path@mtime`` for a file."""
    if isinstance(source, bytes | bytearray):
        return hashlib.sha256(source).hexdigest()
    path = Path(source)
    return f"{path}@{path.stat().st_mtime if path.exists() else 0}"


@st.cache_data(show_spinner=False, max_entries=32)
def _inspect(zoo_path: str, stamp: float, key: str, noise: float, _source) -> Inspection:
    zoo = _load_zoo(zoo_path, stamp)
    x = prepare_image(_source, zoo.input_size)
    if noise > 0:
        x = noisy_input(x, noise)
    return inspect_image(zoo, x, classes=class_names(zoo), natives=native_inputs(zoo, _source, noise))


def inspect(ref: ZooRef, source: bytes | str | Path, noise: float = 0.0, name: str | None = None) -> Inspection:
    """Every reconstruction and prediction of one image (cached); ``noise = s`` adds U(-s, s) with a fixed
    seed first; ``name`` names uploaded bytes in error messages. Raises
    :class:`~s2s_core.errors.ImageLoadError` for a bad image (the page shows it)."""
    load_zoo(ref)  # a broken zoo is reported here, not as an image error
    data = source
    if name and isinstance(source, bytes | bytearray):
        data = io.BytesIO(source)
        data.name = name
    return _inspect(ref.path, ref.stamp, source_key(source), float(noise), data)


@st.cache_resource(show_spinner=False, max_entries=64)
def _lab_figure(zoo_path: str, stamp: float, key: str, noise: float, _inspection) -> go.Figure:
    return lab_lines_figure(_inspection.histograms, view_colours(_inspection.names))


def lab_figure(ref: ZooRef, source, noise: float, inspection: Inspection) -> go.Figure:
    """Fig. 3's L*a*b* histograms of every view of an inspection (one shared, read-only figure per image and
    noise: zoom changes neither rebuild nor copy it)."""
    return _lab_figure(ref.path, ref.stamp, source_key(source), float(noise), inspection)


@st.cache_resource(show_spinner=False, max_entries=64)
def _lattice_figure(names: tuple[str, ...], ae_names: tuple[str, ...], rrc_bytes: bytes, interval, _rrc, _t) -> go.Figure:
    return lattice_figure(lattice_at(list(names), _rrc, _t, ae_names=list(ae_names)))


def lattice_figure_at(names, rrc: np.ndarray, t: float, ae_names) -> go.Figure:
    """Fig. 7 at threshold ``t`` (shared and read-only: one figure per threshold interval, since every t of an
    interval gives the same lattice)."""
    rrc = np.ascontiguousarray(rrc, dtype=np.float64)
    return _lattice_figure(tuple(names), tuple(ae_names), rrc.tobytes(), context_interval(rrc, t), rrc, float(t))


@st.cache_data(show_spinner=False, max_entries=512)
def thumbnail(path: str, mtime: float, size: int = 96) -> np.ndarray | None:
    """A ``size``×``size`` centre-cropped thumbnail (uint8), or ``None`` for an unreadable file."""
    try:
        return np.asarray(resize_center_crop(load_image(path), size))
    except S2SError:
        return None


@st.cache_data(ttl=30, show_spinner=False)
def gallery(test_dir: Path | None, per_class: int = 4, limit: int = 48) -> list[GalleryItem]:
    """The zoo's test images (``ZooInfo.test_dir``) for the gallery (:func:`s2s_core.data.gallery.gallery`)."""
    return test_gallery(test_dir, per_class=per_class, limit=limit)


def open_requested(test_dir: Path | None, key: str) -> GalleryItem | None:
    """The test image another page asked this one to open (``st.session_state[key]``: a path inside
    ``test_dir``, ``class/file``), taken once; ``None`` when nothing was asked or the file is not there."""
    asked = st.session_state.pop(key, None)
    if not asked or test_dir is None:
        return None
    path = (Path(test_dir) / asked).resolve()
    if not path.is_file() or Path(test_dir).resolve() not in path.parents:
        return None
    label, _, name = Path(asked).as_posix().partition("/")
    return GalleryItem(path, label, name)


def image_ref(item: GalleryItem) -> str:
    """How a test image is named in the URL: ``class/file``."""
    return f"{item.label}/{item.name or item.path.name}"


def pick_image(items: list[GalleryItem], key: str, label: str = "Image", where=None) -> GalleryItem:
    """A selectbox over the zoo's test images whose choice lives in the URL (``?img=class/file``); a stale
    choice (an image gone since) falls back to the first image."""
    titles = [item.title for item in items]
    if key in st.session_state and st.session_state[key] not in titles:
        st.session_state.pop(key)
    url_state.restore("img", key, {image_ref(it): it.title for it in items}.get, titles[0],
                      what="a test image of this zoo")
    title = (where or st).selectbox(label, titles, key=key)
    item = items[titles.index(title)]
    url_state.publish("img", image_ref(item))
    return item


@st.cache_data(ttl=300, show_spinner=False)
def count_test_images(test_dir: Path | None) -> int | None:
    """How many images the zoo's test split (``ZooInfo.test_dir``) holds (``None`` without one)."""
    return None if test_dir is None else count_images(test_dir)


APP_RAN = "_s2s_app_ran"


def mark_app_ran() -> None:
    """Called by app.py on every run, before the page runs."""
    st.session_state[APP_RAN] = True


def require_app(page_file: str) -> None:
    """Pages run inside app.py (``st.navigation``, sidebar, zoo picker). A deep link that reaches a page of
    ``pages/`` before any session ran app.py makes Streamlit serve that file on its own: send it through
    app.py, which then opens the page that was asked for (``pop_pending_page``), with the link's query
    string (the view's state, see ``dashboard.url_state``)."""
    if not st.session_state.get(APP_RAN):
        st.session_state[PENDING_PAGE] = (f"pages/{Path(page_file).name}", st.query_params.to_dict())
        st.switch_page("app.py", query_params=st.query_params.to_dict())


PENDING_PAGE = "_s2s_pending_page"


def pop_pending_page() -> tuple[str, dict[str, str]] | None:
    """The page (and query string) a deep link asked for before app.py had run (see ``require_app``), once."""
    return st.session_state.pop(PENDING_PAGE, None)
