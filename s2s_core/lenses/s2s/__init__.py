"""The S2S lens (Palacio et al., CVPR 2018): what A_i(x) keeps of x and what fine-tuning for i changed."""
