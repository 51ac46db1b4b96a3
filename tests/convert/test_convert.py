import numpy as np
import pytest

from edgecnn.convert.pipeline import gate
from edgecnn.convert.tflite import ConversionError, convert_keras, embed_metadata, parity
from edgecnn.edge.core.interpreter import load_model
from edgecnn.edge.core.metadata import make_metadata, read_metadata


def tiny_model(dynamic=False, unit_norm=False):
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    shape = (None, None, 3) if dynamic else (12, 12, 3)
    image = keras.Input(shape, name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu")(image)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    if unit_norm:
        out = layers.UnitNormalization(name="embedding")(layers.Dense(4)(x))
        return keras.Model({"image": image}, {"embedding": out})
    probs = layers.Dense(3, activation="softmax", name="probs")(x)
    return keras.Model({"image": image}, {"probs": probs})


def rep(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return [{"image": rng.random((1, 12, 12, 3), dtype=np.float32)} for _ in range(n)]


META = make_metadata("generic", labels=["x", "y", "z"], inputs={"image": {"shape": [1, 12, 12, 3]}},
                     outputs={"probs": {}})


class TestConvertKeras:
    @pytest.mark.parametrize("io_dtype", ["int8", "uint8"])
    def test_int8_passes_parity(self, tmp_path, io_dtype):
        model = tiny_model()
        flat = convert_keras(model, representative=rep(), io_dtype=io_dtype, metadata=META)
        path = tmp_path / "m.tflite"
        path.write_bytes(flat)
        edge = load_model(path)
        assert edge.input("image").dtype == np.dtype(io_dtype) and edge.input("image").shape == (1, 12, 12, 3)
        report = parity(model, edge, rep(10, seed=1))
        step = report["probs"]["output_scale"]
        assert report["probs"]["max_abs"] <= 4 * step + 0.02
        meta = read_metadata(path)
        assert meta["quantization"]["io_dtype"] == io_dtype and meta["labels"] == ["x", "y", "z"]

    def test_float32_mode(self, tmp_path):
        flat = convert_keras(tiny_model(), mode="float32")
        path = tmp_path / "f.tflite"
        path.write_bytes(flat)
        assert load_model(path).input("image").dtype == np.float32

    def test_dynamic_spatial_dims_refused(self):
        with pytest.raises(ConversionError, match="dynamic dimensions"):
            convert_keras(tiny_model(dynamic=True), representative=rep())

    def test_float_island_refused(self):
        with pytest.raises(ConversionError, match="float island"):
            convert_keras(tiny_model(unit_norm=True), representative=rep())

    @pytest.mark.parametrize(
        "representative, match",
        [
            (None, "representative"),
            ([], "no samples"),
            ([{"img": np.zeros((1, 12, 12, 3))}], "do not match"),
            ([{"image": np.full((1, 12, 12, 3), np.inf)}], "NaN or infinite"),
        ],
    )
    def test_bad_calibration(self, representative, match):
        with pytest.raises(ConversionError, match=match):
            convert_keras(tiny_model(), representative=representative)

    def test_callable_representative(self):
        """A callable is drawn from (all 8 samples) and calibrates exactly as the same list does."""
        model, samples, drawn = tiny_model(), rep(8), []

        def gen():
            for s in samples:
                drawn.append(s)
                yield s

        flat = convert_keras(model, representative=gen, metadata=META)
        assert len(drawn) == 8 and read_metadata(flat)["quantization"]["calibration_samples"] == 8
        assert flat == convert_keras(model, representative=samples, metadata=META)

    def test_embed_replaces_existing(self):
        flat = convert_keras(tiny_model(), representative=rep(8), metadata=META)
        newer = dict(META, labels=["p", "q", "r"])
        again = embed_metadata(flat, newer)
        assert read_metadata(again)["labels"] == ["p", "q", "r"]

    def test_bad_mode(self):
        with pytest.raises(ValueError, match="mode"):
            convert_keras(tiny_model(), mode="int4")


class TestGate:
    @pytest.mark.parametrize(
        "f, q, max_drop, passes",
        [(0.90, 0.895, 1.0, True), (0.90, 0.88, 1.0, False), (0.90, 0.95, 0.5, True), (0.9, 0.5, None, True)],
    )
    def test_table(self, f, q, max_drop, passes):
        ev = {"float": {"macro_f1": f}, "int8": {"macro_f1": q}}
        if passes:
            gate(ev, "ecg", max_drop)
            assert ev["gate"]["passed"] is True
        else:
            with pytest.raises(ConversionError, match="accuracy gate"):
                gate(ev, "ecg", max_drop)


class TestEvalArgs:
    def test_unknown_task_option_is_named(self):
        from edgecnn.convert.pipeline import evaluate_with_edge_code

        with pytest.raises(ValueError, match="--bogus"):
            evaluate_with_edge_code(None, "ecg", "unused", ["--bogus", "1"])

    def test_max_drop_needs_eval_data(self, tmp_path, capsys):
        """The library names its parameters, the command its flags."""
        from edgecnn.cli import main
        from edgecnn.convert.pipeline import convert_model

        with pytest.raises(ValueError, match="^max_drop needs eval_data"):
            convert_model("m.keras", task="ecg", calib=None, out="x.tflite", max_drop=1.0)
        code = main(["convert", str(tmp_path / "m.keras"), "--task", "ecg", "--out", str(tmp_path / "x.tflite"),
                     "--max-drop", "1"])
        err = capsys.readouterr().err
        assert code == 2 and "--max-drop needs --eval-data" in err and not (tmp_path / "x.tflite").exists()


class TestPortabilityWarnings:
    def test_bias_less_dense_is_flagged(self):
        import keras

        from edgecnn.edge.core.metadata import read_metadata

        keras.utils.set_random_seed(0)
        x = keras.Input((4,), name="vec")
        with_bias = keras.layers.Dense(3, name="a", bias_initializer="ones")(x)
        no_bias = keras.layers.Dense(2, use_bias=False, name="b")(x)
        model = keras.Model({"vec": x}, {"a": with_bias, "b": no_bias})
        rep = [{"vec": np.random.default_rng(i).normal(size=(1, 4)).astype(np.float32)} for i in range(8)]
        meta = make_metadata("generic", inputs={"vec": {}}, outputs={"a": {}, "b": {}})
        warnings = read_metadata(convert_keras(model, representative=rep, metadata=meta))["quantization"]["warnings"]
        assert len(warnings) == 1 and warnings[0].startswith("1 FULLY_CONNECTED op(s) without a bias")

    def test_fixture_model_has_none(self, fixtures_dir):
        from edgecnn.edge.core.metadata import read_metadata

        assert read_metadata(fixtures_dir / "generic_int8.tflite")["quantization"].get("warnings", []) == []


def test_edgetpu_opcode_names_match_the_tflite_schema():
    """edge/core/edgetpu.py names builtin opcodes without TensorFlow; they must be the schema's names."""
    from tensorflow.lite.python import schema_py_generated as schema

    from edgecnn.edge.core.edgetpu import BUILTIN_NAMES

    official = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    wrong = {code: (name, official.get(code)) for code, name in BUILTIN_NAMES.items() if official.get(code) != name}
    assert not wrong, f"opcode: (ours, schema) {wrong}"
