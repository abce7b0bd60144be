"""The URL is the state: what a person chose (zoo, test image, noise strength, threshold, classifiers, zoom)
lives in ``st.query_params`` as well as in the widgets, so a copied link restores the same view. The page
itself is the URL's path (Streamlit's ``st.navigation``).

Every widget that belongs in the URL goes through two calls around its creation:

* :func:`restore` (before the widget): on the first run of the widget in this session, its value comes from
  the URL when the parameter is there and valid; an invalid or stale one (an unknown zoo, an image that no
  longer exists, a threshold out of range) is dropped with a one-line warning and the default is used. After
  that the widget owns its value. The value is put into session state, so the widget is made without
  ``value=`` (Streamlit warns when both are given).
* :func:`publish` (after the widget): writes the widget's current value back into the URL.

Streamlit clears the query string when the user switches pages, so every page publishes its parameters on
every run. Parameter names are short and fixed (:data:`PARAMS`); no value from the URL reaches anything but
these parsers and the widgets' own option lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

#: Query parameters and what they hold.
PARAMS = {
    "zoo": "the zoo (its path as the picker shows it)",
    "img": "the test image (class/file)",
    "s": "noise strength",
    "src": "the signal-order table (zoo or paper)",
    "t": "RRC threshold",
    "i": "first classifier of a comparison",
    "j": "second classifier of a comparison",
    "zx": "zoom centre x (%)",
    "zy": "zoom centre y (%)",
    "zf": "zoom factor",
    "ds": "difference scale",
}


def restore(param: str, key: str, parse: Callable[[str], Any], default: Any, *, what: str) -> None:
    """Before making the widget ``key``: set its value from ``?param=`` on its first run in this session
    (``parse`` returns the value, or ``None`` when the text is not acceptable), else ``default``."""
    if key in st.session_state:
        return
    raw = st.query_params.get(param)
    value = None if raw is None else parse(raw)
    if raw is not None and value is None:
        st.warning(f"The link's {param}={raw[:80]!r} is not {what}; showing the default instead.",
                   icon=":material/link_off:")
        del st.query_params[param]
    st.session_state[key] = default if value is None else value


def publish(param: str, value: Any, fmt: Callable[[Any], str] = str) -> None:
    """Write a widget's value into the URL (only when it changed, to keep the messages few)."""
    text = fmt(value)
    if st.query_params.get(param) != text:
        st.query_params[param] = text


# ---------------------------------------------------------------------------------------------- parsers
def choice(options: Sequence[Any], by: Callable[[Any], str] = str) -> Callable[[str], Any]:
    """A parser accepting one of ``options`` (compared as ``by(option)``)."""
    table = {by(o): o for o in options}
    return table.get


def number(lo: float, hi: float, step: float | None = None) -> Callable[[str], float | None]:
    """A parser accepting a finite number in ``[lo, hi]`` (on the ``step`` grid from ``lo``, if given)."""
    def parse(text: str) -> float | None:
        try:
            v = float(text)
        except ValueError:
            return None
        if not math.isfinite(v) or not lo - 1e-9 <= v <= hi + 1e-9:
            return None
        if step:
            k = round((v - lo) / step)
            if abs(lo + k * step - v) > 1e-6:
                return None
            v = round(lo + k * step, 10)
        return v
    return parse


def integer(lo: int, hi: int) -> Callable[[str], int | None]:
    """A parser accepting an integer in ``[lo, hi]``."""
    def parse(text: str) -> int | None:
        try:
            v = int(text)
        except ValueError:
            return None
        return v if lo <= v <= hi else None
    return parse


def fmt_number(v: float) -> str:
    """A number as short text (``0.2``, not ``0.20000000000000001``)."""
    return f"{float(v):g}"
