"""Transformer layer initialisation: SASRec's query/key/value as torch's nn.MultiheadAttention, the rest N(0, 0.02)."""
import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.layers import ProjectionInitAttention, TransformerBlock, check_attention_init
from tfseqrec.models.sasrec import SASRec, SASRecConfig


def _kernels(block):
    return {w.name.split("/")[-2]: w.numpy() for w in block.attention.weights if "kernel" in w.name}


def test_xavier_qkv_ranges():
    dim = 64
    model = SASRec(SASRecConfig(embedding_dim=dim, max_len=10, num_blocks=1), 40).build_for_inputs()
    kernels = _kernels(model.blocks[0])
    limit = np.sqrt(6.0 / (4 * dim))  # Xavier-uniform over torch's packed [3D, D] in_proj_weight
    for name in ("query", "key", "value"):
        values = kernels[name]
        assert np.abs(values).max() <= limit + 1e-6
        assert abs(values.std() - limit / np.sqrt(3.0)) < 0.01  # std of U(-a, a) is a / sqrt(3)
    assert kernels["attention_output"].std() < 0.025


def test_small_normal_keeps_every_projection_small():
    model = SASRec(SASRecConfig(embedding_dim=32, max_len=10, num_blocks=1, attention_init="small_normal"),
                   40).build_for_inputs()
    assert all(v.std() < 0.025 for v in _kernels(model.blocks[0]).values())


def test_bad_attention_init_is_named():
    with pytest.raises(ValueError, match="attention_init='glorot'"):
        check_attention_init("glorot")
    with pytest.raises(ValueError, match="attention_init"):
        SASRecConfig(attention_init="glorot")


def test_block_config_round_trip():
    block = TransformerBlock(16, 2, 16, 0.1, attention_init="xavier_qkv")
    config = block.get_config()
    assert config["attention_init"] == "xavier_qkv"
    clone = TransformerBlock.from_config(config)
    assert clone.attention_init == "xavier_qkv"
    attention = ProjectionInitAttention(1, key_dim=4, output_kernel_initializer="zeros")
    x = tf.ones([1, 3, 4])
    attention(x, x)
    assert np.all(attention.get_weights()[-2] == 0)  # output kernel (bias last)
    assert ProjectionInitAttention.from_config(attention.get_config())._output_kernel_initializer.__class__.__name__ == "Zeros"
