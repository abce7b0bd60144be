"""The gradient lens (Simonyan et al., 2014): the plain input gradient of i's class score, the baseline lens."""
