import subprocess
import sys
import textwrap

import numpy as np
import pytest


def _script(strategy: str, out: str, epochs: int, crash_at: int | None = None) -> str:
    return textwrap.dedent(f"""
        import os, sys
        os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
        import numpy as np, tensorflow as tf, keras
        cpus = tf.config.list_physical_devices('CPU')
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
        from edgecnn.train.core.fit import FitConfig, fit

        def build():
            inp = keras.Input((4,), name='x')
            out = keras.layers.Dense(1, name='y')(inp)
            m = keras.Model({{'x': inp}}, {{'y': out}})
            m.compile(optimizer=keras.optimizers.SGD(0.1), loss='mse')
            return m

        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype('float32')
        y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], 'float32')
        ds = tf.data.Dataset.from_tensor_slices(({{'x': x}}, {{'y': y}})).batch(16)

        class Crash(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if {crash_at!r} is not None and epoch + 1 == {crash_at!r}:
                    raise SystemExit(3)

        cfg = FitConfig(out_dir={out!r}, epochs={epochs}, strategy={strategy!r}, verbose=0, monitor='loss')
        model, hist = fit(build, ds, cfg, callbacks=[Crash()],
                          val_metrics=lambda m: {{'mse': float(np.mean((m.predict({{'x': x}}, verbose=0)['y'] - y) ** 2))}})
        print('REPLICAS', model.distribute_strategy.num_replicas_in_sync, len(hist['loss']), hist['loss'][-1])
    """)


def run(script):
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


class TestFit:
    def test_mirrored_over_two_logical_cpus(self, tmp_path):
        proc = run(_script("mirrored", str(tmp_path / "m"), 3))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "REPLICAS" in proc.stdout
        final_loss = float(proc.stdout.split()[-1])
        assert final_loss < 1.0
        for name in ("config.json", "history.csv", "history.json", "val_metrics.json",
                     "checkpoints/last.keras", "checkpoints/best.keras"):
            assert (tmp_path / "m" / name).exists(), name
        assert proc.stdout.split()[1] == "2"  # two replicas in sync

    def test_resume_after_interruption(self, tmp_path):
        out = str(tmp_path / "r")
        first = run(_script("none", out, 4, crash_at=2))
        assert first.returncode == 3
        second = run(_script("none", out, 4))
        assert second.returncode == 0, second.stderr[-3000:]
        epochs_run = int(second.stdout.split()[2])
        assert epochs_run == 2  # resumed at epoch 3 of 4
        rows = (tmp_path / "r" / "history.csv").read_text().strip().splitlines()
        assert len(rows) == 1 + 4  # header + all four epochs across both runs

    def test_best_checkpoint_waits_for_the_periodic_metric(self, tmp_path):
        """val_every > 1: the epochs before the first validation have no val_* value; the best
        checkpoint skips them quietly (Keras' ModelCheckpoint warned on each) and saves when it comes."""
        import warnings

        import keras
        import tensorflow as tf

        from edgecnn.train.core.fit import FitConfig, fit

        def build():
            inp = keras.Input((4,), name="x")
            m = keras.Model({"x": inp}, {"y": keras.layers.Dense(1, name="y")(inp)})
            m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            return m

        rng = np.random.default_rng(0)
        x = rng.normal(size=(32, 4)).astype("float32")
        y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32")
        seen = []

        class Spy(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                seen.append((tmp_path / "f" / "checkpoints" / "best.keras").exists())

        cfg = FitConfig(out_dir=str(tmp_path / "f"), epochs=4, batch_size=16, verbose=0, resume=False,
                        val_every=3, monitor="val_mse", monitor_mode="min")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(build, tf.data.Dataset.from_tensor_slices(({"x": x}, {"y": y})).batch(16), cfg, callbacks=[Spy()],
                val_metrics=lambda m: {"val_mse": float(np.mean((m.predict({"x": x}, verbose=0)["y"] - y) ** 2))})
        assert not [w for w in caught if "save best model" in str(w.message)], [str(w.message) for w in caught]
        assert seen == [False, False, True, True]  # saved at the first validated epoch (3)


class TestFitConfig:
    @pytest.mark.parametrize("kwargs", [{"strategy": "tpu"}, {"epochs": 0}, {"monitor_mode": "best"}])
    def test_bad(self, kwargs):
        from edgecnn.train.core.fit import FitConfig

        with pytest.raises(ValueError):
            FitConfig(out_dir="x", **kwargs)

    def test_multiworker_needs_tf_config(self, monkeypatch):
        from edgecnn.train.core.fit import make_strategy

        monkeypatch.delenv("TF_CONFIG", raising=False)
        with pytest.raises(ValueError, match="TF_CONFIG"):
            make_strategy("multiworker")


class TestBlocks:
    @pytest.fixture(autouse=True)
    def _tmpdir(self, tmp_path):
        self._tmp = tmp_path

    def test_blocks_convert_to_int8_builtins(self):
        import keras

        from edgecnn.convert.tflite import convert_keras
        from edgecnn.train.core import blocks

        inp = keras.Input((16, 16, 3), name="image")
        x = blocks.conv_bn_act(inp, 8, strides=2)
        x = blocks.depthwise_separable(x, 16)
        x = blocks.inverted_residual(x, 16)
        x = blocks.residual_block(x, 24, strides=2)
        x = blocks.pointwise(x, 8)
        seq = keras.Input((32, 1), name="beat")
        y = blocks.residual_block(seq, 8, 5, dims=1)
        z = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(x), keras.layers.GlobalAveragePooling1D()(y)])
        model = keras.Model({"image": inp, "beat": seq}, {"out": keras.layers.Dense(2, name="out")(z)})
        rng = np.random.default_rng(0)
        rep = [{"image": rng.random((1, 16, 16, 3), dtype=np.float32),
                "beat": rng.normal(size=(1, 32, 1)).astype(np.float32)} for _ in range(8)]
        flat = convert_keras(model, representative=rep)
        from edgecnn.edge.core.edgetpu import op_name
        from edgecnn.edge.core.interpreter import load_model

        path = self._tmp / "blocks.tflite"
        path.write_bytes(flat)
        m = load_model(path)
        ops = {op_name(*m.tables.op_codes[i]) for i in m.tables.operators}
        assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "FULLY_CONNECTED"} <= ops, ops
        assert all(t.dtype == np.int8 for t in m.inputs + m.outputs)
        # the int8 file computes what the Keras model computes, within a few output steps
        ref = model({k: v for k, v in rep[0].items()}, training=False)["out"].numpy()
        got = m.run(rep[0])["out"]
        assert np.abs(ref - got).max() <= 4 * m.output("out").scale, (ref, got)
