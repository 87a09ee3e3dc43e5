"""Companion package of the book *When Does SGD Escape Local Minima? A computational companion*.

Each module serves one part of the book:

- ``landscapes``: the spiky test function of Chapter 1 and its noise convolution.
- ``sgd``: vectorised (S)GD simulations in one dimension, all trials at once (Chapter 1).
- ``book``: helpers that chapters share (glue, static figures on the website, Colab).
- ``checks``: argument validation with messages that name the argument.
"""

__version__ = "0.1.0"
