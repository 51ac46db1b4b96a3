"""Edge TPU readiness of a .tflite file, judged from its flatbuffer alone.

The Coral compiler maps a model to the Edge TPU only when it is fully int8/uint8 quantized,
has static shapes of at most 4 dimensions (batch 1), and uses supported operations (Coral's
"supported operations" table); the first unsupported op sends it and everything after it to
the CPU. This check says in advance what the compiler would complain about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Builtin operator codes (schema BuiltinOperator) and names of the ops Coral documents as supported.
BUILTIN_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 11: "L2_NORMALIZATION", 14: "LOGISTIC", 16: "LSTM",
    17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 20: "RELU_N1_TO_1", 21: "RELU6", 22: "RESHAPE",
    23: "RESIZE_BILINEAR", 25: "SOFTMAX", 26: "SPACE_TO_DEPTH", 28: "TANH", 34: "PAD",
    39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 43: "SQUEEZE", 45: "STRIDED_SLICE", 49: "SPLIT",
    53: "CAST", 54: "PRELU", 55: "MAXIMUM", 57: "MINIMUM", 65: "SLICE", 67: "TRANSPOSE_CONV",
    70: "EXPAND_DIMS", 74: "SUM", 76: "RSQRT", 82: "REDUCE_MAX", 83: "PACK", 89: "REDUCE_MIN",
    97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU", 99: "SQUARED_DIFFERENCE", 114: "QUANTIZE",
    117: "HARD_SWISH", 36: "GATHER", 61: "GREATER", 64: "SELECT", 50: "LOG_SOFTMAX", 32: "CUSTOM", 80: "FAKE_QUANT",
}
EDGETPU_SUPPORTED = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU",
    "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT",
    "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUARED_DIFFERENCE", "SQUEEZE",
    "STRIDED_SLICE", "SUB", "SUM", "TANH", "TRANSPOSE", "TRANSPOSE_CONV", "HARD_SWISH",
})
QUANTIZED_TYPES = frozenset({"int8", "uint8", "int32"})  # int32: biases


def op_name(code: int, custom: str | None) -> str:
    if custom:
        return custom
    return BUILTIN_NAMES.get(code, f"BUILTIN_{code}")


@dataclass
class Readiness:
    ready: bool
    problems: list[str] = field(default_factory=list)
    compiled: bool = False

    def as_dict(self) -> dict:
        return {"ready": self.ready, "compiled_for_edgetpu": self.compiled, "problems": self.problems}


def readiness(tables) -> Readiness:
    """Judge a parsed model (``edgecnn.edge.core.flatbuf.ModelTables``)."""
    names = [op_name(*tables.op_codes[i]) for i in tables.operators if i < len(tables.op_codes)]
    if "edgetpu-custom-op" in names:
        return Readiness(True, [], compiled=True)
    problems = []
    unsupported = sorted({n for n in names if n not in EDGETPU_SUPPORTED})
    if unsupported:
        problems.append(f"unsupported ops (run on the CPU): {', '.join(unsupported)}")
    floats = sorted({t.name for t in tables.tensors if t.dtype not in QUANTIZED_TYPES})
    if floats:
        problems.append(f"{len(floats)} tensor(s) not int8 (e.g. {floats[0]!r}): not fully quantized")
    big = [t.name for t in tables.tensors if len(t.shape) > 4]
    if big:
        problems.append(f"tensor(s) with more than 4 dimensions: {big[:3]}")
    dynamic = [t.name for t in tables.tensors if any(d < 0 for d in t.shape)]
    if dynamic:
        problems.append(f"dynamic shapes: {dynamic[:3]}")
    return Readiness(not problems, problems)
