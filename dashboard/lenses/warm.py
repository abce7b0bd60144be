"""Prepare the Lenses page's per-zoo pieces in the background once a zoo is loaded (issue 29: the page answers at
once).

What the page builds once per loaded zoo, whatever the image, is the slow part of its first view on a large zoo:
the relevant-channel lenses (W loaded, a hooked copy of every classifier traced at the input size) and every
classifier's layer list for the inversion pickers (another private copy, traced). On the 224 px benchmark zoo
(ResNet-18 at 224 px, Inception v3 at 299 px) that is about 0.7 s of the 2.2 s first view. :func:`start` runs
them in a daemon thread the first time a page run ends with a zoo selected; both go into the same Streamlit
caches the page reads, whose per-key lock makes a page that arrives first wait for the one computation instead
of repeating it. The image's own lenses are never computed ahead: they depend on what the user picks.

A failure here is only logged: the page builds the same pieces itself and shows any error where it belongs.
"""

from __future__ import annotations

import logging
import threading

import streamlit as st

from dashboard import state

LOG = logging.getLogger(__name__)


def start(ref: state.ZooRef | None) -> None:
    """Start preparing zoo ``ref``'s Lenses pieces in the background, once per zoo (path and ``zoo.json`` mtime)
    and process; nothing for ``None`` or a folder that is not a zoo."""
    if ref is not None and ref.stamp:
        _started(ref.path, ref.stamp)


@st.cache_resource(max_entries=8, show_spinner=False)
def _started(path: str, stamp: float) -> threading.Thread:
    thread = threading.Thread(target=_prepare, args=(state.ZooRef(path, stamp),), name="s2s-lenses-warm-up",
                              daemon=True)
    thread.start()
    return thread


def _prepare(ref: state.ZooRef) -> None:
    from dashboard.lenses import channels, inversion  # the page's own modules, so the same caches

    try:
        channels.prepare(ref)
        inversion.prepare(ref)
    except Exception:  # noqa: BLE001 - the page builds the same pieces and reports their errors itself
        LOG.warning("preparing the Lenses page for %s in the background failed", ref.path, exc_info=True)
