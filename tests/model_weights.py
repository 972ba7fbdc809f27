"""Comparing trained models' weights (model.pt), shared by the resume tests."""

import torch

from medsynth import train


def weights(model_dir):
    return torch.load(model_dir / train.MODEL, weights_only=True)


def assert_same_weights(a, b):
    """Every network's every tensor equal, bit for bit."""
    assert a.keys() == b.keys()
    for net in a:
        assert a[net].keys() == b[net].keys()
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), (net, key)
