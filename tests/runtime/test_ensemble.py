"""The flip/rotation ensemble: the mean of the model over the 8 transforms of the input, each undone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from effrestore.runtime import Restorer


def test_ensemble_is_the_mean_over_the_eight_transforms(models_dir: Path) -> None:
    image = np.random.default_rng(0).random((40, 56, 3), dtype=np.float32)  # not square: rotations swap H and W
    plain = Restorer.load(models_dir / "conv.onnx", tile="none")
    expected = np.zeros_like(image)
    for turns in range(4):
        for flip in (False, True):
            view = np.rot90(image, turns)
            view = view[:, ::-1] if flip else view
            out = plain.restore(np.ascontiguousarray(view))
            expected += np.rot90(out[:, ::-1] if flip else out, -turns)
    expected /= 8
    ensembled = Restorer.load(models_dir / "conv.onnx", tile="none", ensemble=True).restore(image)
    np.testing.assert_allclose(ensembled, expected, atol=1e-5)
    assert np.abs(ensembled - plain.restore(image)).max() > 1e-3, "a random model is not flip-invariant"
    tiled = Restorer.load(models_dir / "conv.onnx", tile=32, tile_overlap=8, ensemble=True).restore(image)
    assert tiled.shape == image.shape and np.isfinite(tiled).all()
