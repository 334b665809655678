"""benchmarks/output_layers.py: both output layers compute the same loss and gradients on the same inputs."""

import numpy as np
import pytest

from tests.peer_scripts import load_benchmark_script

_layers = load_benchmark_script("output_layers")
LAYERS, output_layer_step = _layers.LAYERS, _layers.output_layer_step
output_layer_targets_per_second = _layers.output_layer_targets_per_second


def test_plain_and_fused_layers_agree_on_the_same_inputs():
    plain = output_layer_step(items=30, dim=8, targets=50, layer="plain")()
    fused = output_layer_step(items=30, dim=8, targets=50, layer="tfseqrec")()
    assert [t.shape.as_list() for t in fused] == [[], [50, 8], [30, 8]]
    for a, b in zip(plain, fused):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)


def test_timing_counts_targets_and_rejects_unknown_layers():
    assert LAYERS == ("plain", "tfseqrec")
    assert output_layer_targets_per_second(items=30, dim=8, targets=16, min_seconds=0.01, layer="tfseqrec") > 0
    with pytest.raises(ValueError, match="layer='fast'"):
        output_layer_step(items=30, dim=8, targets=16, layer="fast")
