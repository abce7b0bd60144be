"""The Streamlit side of s2s: cached access to zoos (``state``), the shared reconstruction panel (``panels``)
and download buttons (``downloads``). The pages in ``pages/`` use these and :mod:`s2s_core`; the library
itself never imports streamlit."""
