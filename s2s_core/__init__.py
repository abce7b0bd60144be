"""s2s: which part of its input does an image classifier use?

Implements Palacio et al., *What do Deep Networks Like to See?* (CVPR 2018): a SegNet autoencoder
pre-trained on many images (A_S), its decoder fine-tuned through each frozen classifier i (A_i), and the
analyses of Sec. 3.3-3.5 (accuracy tables, cross accuracy, RRC, formal-concept lattices, nMI, noise
curves, L*a*b* histograms). This package never imports streamlit; the dashboard lives in ``app.py``
and ``pages/``.
"""

__version__ = "0.1.0"
