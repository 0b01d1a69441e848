"""Images for the gallery: samples reshaped to images, the grid of axes."""

import math

import numpy as np

ROWS = ("clean", "perturbation", "adversarial")


def _as_images(X, image_shape, what):
    """``X`` as images of shape (n, H, W) or (n, H, W, C)."""
    X = np.asarray(X, dtype=float)
    if X.ndim < 2:
        raise ValueError(f"{what} must have one row per image; got shape {X.shape}.")
    n, sample = len(X), X.shape[1:]
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if math.prod(image_shape) != math.prod(sample):
            raise ValueError(
                f"image_shape={image_shape} does not match the samples of {what}: "
                f"they have shape {sample} ({math.prod(sample)} values), "
                f"image_shape holds {math.prod(image_shape)}."
            )
        sample = image_shape
    elif len(sample) == 1:
        side = math.isqrt(sample[0])
        if side * side != sample[0]:
            raise ValueError(
                f"{what} is flat with {sample[0]} features, not a square number: "
                "pass image_shape, e.g. image_shape=(height, width) or "
                "(height, width, 3)."
            )
        sample = (side, side)
    X = X.reshape((n, *sample))
    if X.ndim == 3:  # (n, H, W)
        return X
    if X.ndim == 4:
        channels = (1, 3, 4)
        if X.shape[1] in channels and X.shape[-1] not in channels:  # (n, C, H, W)
            X = np.moveaxis(X, 1, -1)
        if X.shape[-1] == 1:
            return X[..., 0]
        if X.shape[-1] in (3, 4):
            return X
    raise ValueError(
        f"cannot show samples of shape {sample} from {what} as images: expected "
        "(H, W), (1, H, W), (3, H, W), (H, W, 1) or (H, W, 3); pass image_shape."
    )


def _grid_axes(ax, n_columns):
    """A (3, n_columns) array of axes: new, given, or carved out of one Axes."""
    import matplotlib.pyplot as plt

    shape = (len(ROWS), n_columns)
    if ax is None:
        fig, axes = plt.subplots(
            *shape,
            figsize=(1.25 * n_columns + 1.0, 4.4),
            squeeze=False,
            layout="constrained",
        )
        return axes, fig
    if isinstance(ax, np.ndarray) or isinstance(ax, (list, tuple)):
        axes = np.asarray(ax, dtype=object)
        if axes.shape != shape:
            raise ValueError(
                f"ax must be one Axes or an array of shape {shape} (rows "
                f"{', '.join(ROWS)}; one column per example); got {axes.shape}."
            )
        return axes, axes[0, 0].figure
    spec = ax.get_subplotspec()
    if spec is None:
        raise ValueError("ax must be an Axes made by subplots (with a subplotspec).")
    fig = ax.figure
    ax.remove()
    grid = spec.subgridspec(*shape)
    axes = np.empty(shape, dtype=object)
    for i in range(shape[0]):
        for j in range(shape[1]):
            axes[i, j] = fig.add_subplot(grid[i, j])
    return axes, fig


def check_n_examples(n_examples):
    """Validate the number of examples a gallery shows."""
    if not (isinstance(n_examples, (int, np.integer)) and n_examples >= 1):
        raise ValueError(f"n_examples must be a positive int; got {n_examples!r}.")
