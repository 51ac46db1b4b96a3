import numpy as np
import pytest

from edgecnn.edge.core.quant import dequantize, quant_range, quantize


class TestQuantize:
    @pytest.mark.parametrize(
        "values, scale, zero, dtype, expected",
        [
            ([0.0, 0.5, -0.5], 0.5, 0, np.int8, [0, 1, -1]),
            ([1000.0, -1000.0], 0.1, 0, np.int8, [127, -128]),  # saturate
            ([0.0, 1.0], 1 / 255, 0, np.uint8, [0, 255]),
            ([-1.0, 2.0], 1 / 255, 0, np.uint8, [0, 255]),  # uint8 saturates at both ends
            ([0.25, 0.75], 0.5, 0, np.int8, [0, 2]),  # round half to even
            ([0.0], 0.02, -128, np.int8, [-128]),
        ],
    )
    def test_table(self, values, scale, zero, dtype, expected):
        q = quantize(np.array(values), scale, zero, dtype)
        assert q.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(q, expected)

    @pytest.mark.parametrize("dtype", [np.int8, np.uint8])
    def test_round_trip_within_half_step(self, dtype, rng):
        scale, zero = 0.037, (3 if dtype == np.int8 else 128)
        lo, hi = quant_range(scale, zero, dtype)
        x = rng.uniform(lo, hi, 1000)
        back = dequantize(quantize(x, scale, zero, dtype), scale, zero)
        assert back.dtype == np.float32
        assert np.max(np.abs(back - x)) <= scale / 2 + 1e-6

    def test_empty(self):
        assert quantize(np.array([]), 0.1, 0, np.int8).shape == (0,)

    @pytest.mark.parametrize(
        "kwargs, exc",
        [
            ({"scale": 0.0, "zero_point": 0, "dtype": np.int8}, ValueError),
            ({"scale": float("nan"), "zero_point": 0, "dtype": np.int8}, ValueError),
            ({"scale": 0.1, "zero_point": 300, "dtype": np.int8}, ValueError),
            ({"scale": 0.1, "zero_point": 0, "dtype": np.float32}, TypeError),
        ],
    )
    def test_bad_parameters(self, kwargs, exc):
        with pytest.raises(exc):
            quantize(np.zeros(3), **kwargs)

    def test_nan_input(self):
        with pytest.raises(ValueError, match="NaN"):
            quantize(np.array([np.nan]), 0.1, 0, np.int8)

    def test_dequantize_needs_integers(self):
        with pytest.raises(TypeError):
            dequantize(np.zeros(3, np.float32), 0.1, 0)
