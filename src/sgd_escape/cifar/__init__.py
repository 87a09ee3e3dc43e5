"""The CIFAR empirics of Section 5 (Chapters 4-6): data, ensembles of networks, the trainer,
the probes, resumable runs and the cached results the chapters read.

Modules: ``datasets`` (CIFAR-10/100 and its sources), ``models`` (ResNet and DenseNet-BC
ensembles), ``training`` (SGD on the device), ``probes`` (inner products), ``runner`` (state,
snapshots, budget), ``experiments`` (presets), ``pipeline`` (running an experiment),
``results`` (the cache and its loader), ``provenance`` (what computed a result), ``session``
and ``unpack`` (GPU work in commands of limited length, and bringing its results home).
What the chapters show: ``figures``, ``tables`` and ``spectrum_tables`` (the paper's numbers
beside ours), ``side_remarks``, ``momentum_buffer`` and ``restart_momentum`` (the side remarks
and exercises), ``reports`` (GPU benchmark and determinism), ``run_notes`` (where each result
comes from, and how its run departs from the paper's protocol).
"""
from .results import CacheError, CachedResult, best_cached, load_result

__all__ = ["CacheError", "CachedResult", "best_cached", "load_result"]
