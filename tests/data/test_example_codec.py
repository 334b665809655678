import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from tfseqrec.data.example_codec import encode_example


def test_encoded_example_parses_like_tensorflow_builds_it():
    features = {
        "item_ids": ("int64", [2, 300, 70000, 2**40, -5]),
        "empty": ("int64", []),
        "sequence_id": ("bytes", ["用户-é"]),
        "raw": ("bytes", [b"\x00\xff", b""]),
        "score": ("float", [0.5, -1.25]),
    }
    ours = encode_example(features)
    parsed = tf.train.Example.FromString(ours)
    f = parsed.features.feature
    assert list(f["item_ids"].int64_list.value) == [2, 300, 70000, 2**40, -5]
    assert list(f["empty"].int64_list.value) == []
    assert f["empty"].WhichOneof("kind") == "int64_list"
    assert [v.decode() for v in f["sequence_id"].bytes_list.value] == ["用户-é"]
    assert list(f["raw"].bytes_list.value) == [b"\x00\xff", b""]
    assert list(f["score"].float_list.value) == [0.5, -1.25]

    reference = tf.train.Example(
        features=tf.train.Features(
            feature={
                "item_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=[2, 300, 70000, 2**40, -5])),
            }
        )
    )
    assert encode_example({"item_ids": ("int64", [2, 300, 70000, 2**40, -5])}) == reference.SerializeToString()
