"""The device runtime. Imports only NumPy, OpenCV and a TFLite interpreter: never TensorFlow."""
