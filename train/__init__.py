"""Training (Keras/TensorFlow). Import TensorFlow lazily where a module is also used by the CLI."""
