"""Self-supervised pretraining (SimCLR, BYOL) of a backbone on unlabelled images.

The losses are written here rather than taken from lightly: lightly 1.6 requires
pytorch_lightning and hydra-core, a large dependency tree for two losses of a dozen lines each.
"""
