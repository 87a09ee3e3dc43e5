"""Companion package of the book *When Does SGD Escape Local Minima? A Computational Companion*.

Modules, by the chapter that introduces them:

- Chapter 1 (a motivating example): ``landscapes`` (the spiky function, its convolution),
  ``sgd`` (vectorised SGD), ``illustration`` (Figures 1-2), ``figure3`` (Figure 3 and its
  criteria), ``widgets`` (the live explorer).
- Chapter 2 (the main theorem): ``theory`` (Theorem 1's constants and conditions, Corollary 2,
  Theorem 3), ``assumption`` (estimating Assumption 1's constant), ``bounded_noise``,
  ``spiky_quadratic``, ``ysequence`` (equation (1)), ``large_step`` (Figure 4),
  ``theorem_experiments``, ``theorem_explorer``, ``theory_plots``.
- Chapter 3 (the proof): ``proof_checks`` (both sides of every inequality, Lemma 5's grid).
- Chapters 4-6 (the CIFAR empirics): the ``cifar`` subpackage and the command line
  ``python -m sgd_escape``.
- Chapter 7 (three views of escaping): ``escape_saddles``, ``escape_basins``,
  ``escape_exponential``, ``escape_stats``, ``escape_plots``.
- Shared: ``book`` (glue, static explorers), ``checks`` (argument validation with
  messages that name the argument), ``plotting`` (the book's figure style).
"""

__version__ = "0.1.0"
