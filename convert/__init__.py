"""Keras -> float32 / fully-int8 TFLite, with metadata, parity and reports."""
