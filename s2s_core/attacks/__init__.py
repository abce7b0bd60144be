"""Adversarial attacks through S2S (Palacio et al., CVPR 2018, Sec. 3.5; Folz, Palacio et al., WACV 2020).

- :mod:`~s2s_core.attacks.methods`: FGSM and L∞ PGD, crafted by foolbox 3.3.4 and by our own small torch code
  (the known-answer comparison of the two).
- :mod:`~s2s_core.attacks.threat`: the models an attack is crafted on and read by (i, i∘A_S, i∘A_i) and the
  gray-box, white-box and transfer tables of ``s2s attack``.
- :mod:`~s2s_core.attacks.gradient_structure`: how much of |∇x loss| lies on the image's edges.
"""
