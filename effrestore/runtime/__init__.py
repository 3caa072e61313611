"""Inference without torch: backends, tiling, memory planning, image I/O.

Nothing in this package imports torch at module level; the torch path is imported lazily when used.
"""
