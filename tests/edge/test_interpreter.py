import numpy as np
import pytest

from edgecnn.edge.core import interpreter as interp_mod
from edgecnn.edge.core.errors import BackendError, InputDataError, ModelFileError
from edgecnn.edge.core.interpreter import load_model, parse_edgetpu_device


def _inputs(rng, n=1):
    return {"image": rng.random((n, 8, 8, 3), dtype=np.float32),
            "vec": rng.uniform(-2, 2, (n, 4)).astype(np.float32)}


class TestEdgeModel:
    @pytest.mark.parametrize("name, dtype", [("generic_int8.tflite", np.int8), ("generic_uint8.tflite", np.uint8),
                                             ("generic_float32.tflite", np.float32)])
    def test_io_by_name_and_dtype(self, fixtures_dir, name, dtype, rng):
        m = load_model(fixtures_dir / name)
        assert sorted(t.name for t in m.inputs) == ["image", "vec"]
        assert sorted(t.name for t in m.outputs) == ["probs", "vec_out"]
        assert all(t.dtype == np.dtype(dtype) for t in m.inputs)
        out = m.run(_inputs(rng, 3))
        assert out["probs"].shape == (3, 3) and out["vec_out"].shape == (3, 2)
        assert out["probs"].dtype == np.float32
        np.testing.assert_allclose(out["probs"].sum(axis=1), 1.0, atol=0.03)

    def test_int8_and_uint8_agree_with_float(self, fixtures_dir, rng):
        x = _inputs(rng, 8)
        ref = load_model(fixtures_dir / "generic_float32.tflite").run(x)
        for name in ("generic_int8.tflite", "generic_uint8.tflite"):
            got = load_model(fixtures_dir / name).run(x)
            assert np.max(np.abs(got["probs"] - ref["probs"])) < 0.05
            assert np.max(np.abs(got["vec_out"] - ref["vec_out"])) < 0.1

    def test_batch_is_looped_and_matches_single(self, fixtures_dir, rng):
        m = load_model(fixtures_dir / "generic_int8.tflite")
        x = _inputs(rng, 4)
        batch = m.run(x)
        single = m.run({k: v[2:3] for k, v in x.items()})
        np.testing.assert_array_equal(batch["probs"][2:3], single["probs"])

    def test_missing_batch_axis_is_added(self, fixtures_dir, rng):
        m = load_model(fixtures_dir / "generic_int8.tflite")
        x = _inputs(rng, 1)
        out = m.run({k: v[0] for k, v in x.items()})
        assert out["probs"].shape == (1, 3)

    def test_raw_integer_input_passes_untouched(self, fixtures_dir, rng):
        m = load_model(fixtures_dir / "generic_int8.tflite")
        x = _inputs(rng, 1)
        img = m.input("image")
        from edgecnn.edge.core.quant import quantize

        raw = {"image": quantize(x["image"], img.scale, img.zero_point, np.int8), "vec": x["vec"]}
        np.testing.assert_array_equal(m.run(raw)["probs"], m.run(x)["probs"])
        assert m.get_outputs(raw=True)["probs"].dtype == np.int8

    @pytest.mark.parametrize(
        "feeds, match",
        [
            ({"image": np.zeros((1, 8, 8, 3))}, "missing"),
            ({"image": np.zeros((1, 8, 8, 3)), "vec": np.zeros((1, 4)), "extra": np.zeros(1)}, "unknown"),
            ({"image": np.zeros((1, 8, 8)), "vec": np.zeros((1, 4))}, "expected shape"),
            ({"image": np.zeros((2, 8, 8, 3)), "vec": np.zeros((1, 4))}, "batch sizes"),
            ({"image": np.full((1, 8, 8, 3), np.nan), "vec": np.zeros((1, 4))}, "NaN"),
            (np.zeros((1, 8, 8, 3)), "dict keyed by name"),
        ],
    )
    def test_bad_inputs(self, fixtures_dir, feeds, match):
        m = load_model(fixtures_dir / "generic_int8.tflite")
        with pytest.raises(InputDataError, match=match):
            m.run(feeds)

    def test_unknown_output_name(self, fixtures_dir):
        with pytest.raises(ModelFileError, match="no output named"):
            load_model(fixtures_dir / "generic_int8.tflite").output("boxes")

    def test_num_threads_validated(self, fixtures_dir):
        with pytest.raises(ValueError, match="threads"):
            load_model(fixtures_dir / "generic_int8.tflite", num_threads=0)

    def test_backend_reported(self, fixtures_dir):
        import os

        m = load_model(fixtures_dir / "generic_int8.tflite", num_threads=2)
        name = m.backend.split()[0]
        assert name in interp_mod.BACKENDS
        # the reported backend is the one whose interpreter class runs the model
        assert type(m._interp).__module__.split(".")[0] == name.split(".")[0], (name, type(m._interp).__module__)
        if os.environ.get("EDGECNN_BACKEND"):
            assert name == os.environ["EDGECNN_BACKEND"]
        else:  # the documented preference order: the first backend that imports
            assert name == interp_mod.available_backends()[0]

    def test_unknown_backend(self, fixtures_dir):
        with pytest.raises(BackendError, match="valid"):
            load_model(fixtures_dir / "generic_int8.tflite", backend="onnx")


class TestEdgeTPU:
    @pytest.mark.parametrize("device", ["usb", "usb:0", "usb:12", "pci", "pci:1"])
    def test_valid_devices(self, device):
        assert parse_edgetpu_device(device) == device

    @pytest.mark.parametrize("device", ["", "USB", "usb:", "usb:a", "tpu", "pci:0:1", None])
    def test_invalid_devices(self, device):
        with pytest.raises(BackendError, match="usb"):
            parse_edgetpu_device(device)

    def test_missing_delegate_says_what_to_install(self, monkeypatch):
        def no_lib(library, options):
            raise ValueError(f"Failed to load delegate from {library}")

        with pytest.raises(BackendError, match="libedgetpu1-std") as err:
            interp_mod.load_edgetpu_delegate(no_lib, "usb:1")
        assert "usb:1" in str(err.value)

    def test_delegate_gets_device_option(self):
        seen = {}

        def fake(library, options):
            seen.update(library=library, options=options)
            return "delegate"

        assert interp_mod.load_edgetpu_delegate(fake, "pci:0") == "delegate"
        assert seen["options"] == {"device": "pci:0"} and "edgetpu" in seen["library"]

    def test_plain_int8_model_falls_back_to_cpu(self, fixtures_dir, rng):
        # The Edge TPU library is not installed here, so the delegate cannot load.
        m = load_model(fixtures_dir / "generic_int8.tflite", device="usb")
        assert "cpu fallback" in m.backend
        assert m.warnings and "libedgetpu" in m.warnings[0]
        assert m.run(_inputs(rng))["probs"].shape == (1, 3)

    def test_compiled_model_without_delegate_is_refused(self, fixtures_dir, monkeypatch):
        monkeypatch.setattr(interp_mod.EdgeModel, "needs_edgetpu", property(lambda self: True))
        with pytest.raises(BackendError, match="compiled for the Edge TPU.*libedgetpu1-std"):
            load_model(fixtures_dir / "generic_int8.tflite")
