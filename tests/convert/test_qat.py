"""Quantization-aware fine-tuning (train/core/qat.py): the int8 grid it trains on is the converter's."""

import numpy as np
import pytest

from edgecnn.train.core import qat as Q


def _tiny_model(seed=0):
    """conv-BN-ReLU6 -> depthwise-BN-ReLU6 -> 1x1 conv with bias -> GAP -> Dense-BN, random BN statistics."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((12, 12, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(inp)
    x = layers.BatchNormalization(name="c1_bn")(x)
    x = layers.ReLU(6.0, name="c1_relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    x = layers.BatchNormalization(name="dw_bn")(x)
    x = layers.ReLU(6.0, name="dw_relu")(x)
    x = layers.Conv2D(6, 1, name="head")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(4, use_bias=False, name="fc")(x)
    out = layers.BatchNormalization(name="fc_bn")(x)
    model = keras.Model({"image": inp}, {"out": out})
    rng = np.random.default_rng(seed)
    for name in ("c1_bn", "dw_bn", "fc_bn"):
        bn = model.get_layer(name)
        n = bn.gamma.shape[0]
        bn.set_weights([rng.uniform(0.3, 3.0, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n), rng.uniform(0.05, 4, n)])
    return model


def _data(n=32, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 12, 12, 3)).astype(np.float32)


class TestGrid:
    def test_quantize_kernel_per_output_channel(self):
        w = np.array([[0.5, -2.0], [0.25, 1.0], [-0.1, 0.003]], np.float32)  # (in=3, out=2)
        q = Q.quantize_kernel(w, np.ones(2, np.float32), depthwise=False)
        steps = np.array([0.5, 2.0]) / 127
        np.testing.assert_allclose(q / steps, np.round(q / steps), atol=1e-4)
        np.testing.assert_allclose(np.abs(q).max(axis=0), [0.5, 2.0], rtol=1e-6)  # the max stays exact
        assert np.abs(q - w).max() <= steps.max() / 2 + 1e-7

    def test_fold_scale_applies_before_rounding(self):
        w = np.array([[0.3, 0.3], [0.1, 0.1]], np.float32)
        scale = np.array([1.0, 10.0], np.float32)
        q = Q.quantize_kernel(w, scale, depthwise=False)
        folded = q * scale
        step = np.abs(folded).max(axis=0) / 127
        np.testing.assert_allclose(folded / step, np.round(folded / step), atol=1e-4)

    def test_depthwise_channels_and_zero_scale(self):
        rng = np.random.default_rng(0)
        w = rng.normal(size=(3, 3, 4, 1)).astype(np.float32)
        scale = np.array([1.0, 0.0, 2.0, 0.5], np.float32)
        q = Q.quantize_kernel(w, scale, depthwise=True)
        np.testing.assert_array_equal(q[:, :, 1], w[:, :, 1])  # a dead channel is left alone
        for c in (0, 2, 3):
            f = q[:, :, c] * scale[c]
            step = np.abs(f).max() / 127
            np.testing.assert_allclose(f / step, np.round(f / step), atol=1e-4)

    def test_config_is_checked(self):
        with pytest.raises(ValueError, match="epochs"):
            Q.QATConfig(epochs=-1)
        with pytest.raises(ValueError, match="learning rate"):
            Q.QATConfig(lr=0.0)


class TestKerasModel:
    def test_targets_pair_each_kernel_with_its_batchnorm(self):
        model = _tiny_model()
        found = {t.layer.name: (t.bn.name if t.bn is not None else None, t.depthwise) for t in Q.targets(model)}
        assert found == {"c1": ("c1_bn", False), "dw": ("dw_bn", True), "head": (None, False), "fc": ("fc_bn", False)}

    def test_snapped_kernels_are_what_the_converter_writes(self):
        """After snap, the int8 model's dequantized kernels equal the BN-folded Keras kernels."""
        from edgecnn.convert.tflite import _interpreter, convert_keras

        model = _tiny_model()
        assert Q.grid_error(model) > 0.1
        Q.snap(Q.targets(model))
        assert Q.grid_error(model) < 1e-3
        expected = {}
        for t in Q.targets(model):
            w = np.asarray(t.layer.kernel) * (t.fold_scale().reshape(t.layer.kernel.shape[-2:])[None, None]
                                              if t.depthwise else t.fold_scale())
            expected[t.layer.name] = w
        x = _data()
        flat = convert_keras(model, mode="int8", representative=[{"image": x[i : i + 1]} for i in range(16)])
        interp = _interpreter(flat)
        got = []
        for d in interp.get_tensor_details():
            qp = d["quantization_parameters"]
            if d["dtype"] == np.int8 and len(qp["scales"]) > 1 and len(d["shape"]) in (2, 4):
                shape = [1] * len(d["shape"])
                shape[qp["quantized_dimension"]] = -1
                got.append(interp.get_tensor(d["index"]).astype(np.float64) * qp["scales"].reshape(shape))
        # TFLite layouts: conv (out, kh, kw, in), depthwise (1, kh, kw, ch), fully connected (out, in)
        want = [expected["c1"].transpose(3, 0, 1, 2), expected["dw"].transpose(3, 0, 1, 2).reshape(1, 3, 3, 8),
                expected["head"].transpose(3, 0, 1, 2), expected["fc"].T]
        for w in want:
            match = [g for g in got if g.shape == w.shape]
            assert match, f"no int8 kernel of shape {w.shape} in the converted model"
            assert min(np.abs(g - w).max() / np.abs(w).max() for g in match) < 1e-5

    def test_fake_quant_relu6_only_inside_the_block(self):
        model = _tiny_model()
        x = _data(4)
        relu = model.get_layer("c1_relu")
        probe = np.linspace(-1, 7, 50, dtype=np.float32)
        with Q.fake_quant_relu6(model) as n:
            assert n == 2
            y = np.asarray(relu(probe))
            np.testing.assert_allclose(y * 255 / 6, np.round(y * 255 / 6), atol=1e-4)
            assert y.min() == 0.0 and y.max() == pytest.approx(6.0)
        assert "call" not in vars(relu)
        y = np.asarray(relu(probe))
        assert not np.allclose(y * 255 / 6, np.round(y * 255 / 6), atol=1e-4)
        model({"image": x})  # still callable

    def test_finetune_keeps_kernels_on_grid_and_restores_the_model(self):
        import keras

        model = _tiny_model()
        x = _data(64)
        target = np.asarray(model({"image": x})["out"]) * 0.5  # something to fit
        bn_flags = [layer.trainable for layer in Q.all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
        moving = np.asarray(model.get_layer("c1_bn").moving_mean).copy()

        class Seq:
            def __len__(self):
                return 4

            def __getitem__(self, i):
                s = slice(16 * i, 16 * i + 16)
                return {"image": x[s]}, {"out": target[s]}

        def loss(y, out):
            return keras.ops.mean(keras.ops.square(out["out"] - y["out"]))

        before = float(loss({"out": target}, model({"image": x})))
        hist = Q.finetune(model, Seq(), loss, Q.QATConfig(epochs=3, lr=1e-2), log=lambda _: None)
        assert len(hist) == 3 and all(np.isfinite(hist))
        assert float(loss({"out": target}, model({"image": x}))) < before
        assert Q.grid_error(model) < 1e-3
        assert [layer.trainable for layer in Q.all_layers(model)
                if isinstance(layer, keras.layers.BatchNormalization)] == bn_flags
        np.testing.assert_array_equal(np.asarray(model.get_layer("c1_bn").moving_mean), moving)  # BN frozen
        assert all("call" not in vars(layer) for layer in Q.all_layers(model))
