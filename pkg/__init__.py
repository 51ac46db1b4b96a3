"""edgecnn: Keras training -> fully-int8 TFLite -> a NumPy-only edge runtime.

The import namespace maps onto the repository folders:
``edgecnn.edge`` (edge/), ``edgecnn.train`` (train/), ``edgecnn.convert`` (convert/).
"""

__version__ = "0.1.0"
