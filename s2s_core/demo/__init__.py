"""The embedded demo zoo: built offline on the CPU from images that ship with scikit-image and scikit-learn.

``s2s demo`` pre-trains a small SegNet A_S on random photo crops, trains five small classifiers (one per
family of the paper: LeNet, AlexNet, VGG-BN, ResNet, Inception) on procedurally drawn shapes, fine-tunes one
decoder per classifier (Sec. 3.3) and evaluates everything (Sec. 3.3-3.5). See ``recipe.py`` for the numbers.
"""
