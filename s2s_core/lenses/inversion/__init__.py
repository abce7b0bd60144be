"""Feature inversion (Mahendran & Vedaldi, CVPR 2015), the second lens beside S2S: ``priors`` (R_α, R_TV^β and
their weights), ``invert`` (the optimisation), ``view`` (one image through the lens, the depth sweep) and
``commands`` (``s2s layers``, ``s2s invert``)."""
