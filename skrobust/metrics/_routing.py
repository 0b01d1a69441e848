"""What robust and certified scorers share: metadata requests and chunking."""

import numpy as np
from joblib import Parallel, delayed
from sklearn import get_config
from sklearn.utils import gen_batches
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest


def _take(X, index):
    return X.iloc[index] if hasattr(X, "iloc") else np.asarray(X)[index]


class ScoreRequestMixin:
    """``set_score_request`` / ``get_metadata_routing`` for a scorer object.

    As for scikit-learn's own scorers, ``sample_weight`` reaches the scorer
    inside ``GridSearchCV`` or ``cross_validate`` only under metadata routing
    (``sklearn.set_config(enable_metadata_routing=True)``) and once requested
    with ``scorer.set_score_request(sample_weight=True)``; passing weights to
    a search whose scorer has not said whether it wants them is an error.
    """

    def set_score_request(self, *, sample_weight=UNCHANGED):
        """Request ``sample_weight`` to be passed to the scorer.

        Parameters
        ----------
        sample_weight : bool, str or None, default=UNCHANGED
            ``True``: the scorer receives ``sample_weight``; ``False``: it
            never does; ``None``: an error is raised when weights are passed;
            a string: the weights are read from the metadata of that name.

        Returns
        -------
        self : object
            The scorer, with the request updated.
        """
        if not get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_score_request is only available when metadata routing is "
                "enabled: call sklearn.set_config(enable_metadata_routing=True)."
            )
        if sample_weight is not UNCHANGED:
            self._score_request = {"sample_weight": sample_weight}
        return self

    def get_metadata_routing(self):
        """The scorer's metadata request (scikit-learn's routing protocol).

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRequest
        """
        request = MetadataRequest(owner=type(self).__name__)
        for param, alias in getattr(self, "_score_request", {}).items():
            request.score.add_request(param=param, alias=alias)
        if not getattr(self, "_score_request", None):
            request.score.add_request(param="sample_weight", alias=None)
        return request


def check_chunking(n_jobs, chunk_size):
    """Validate ``n_jobs`` / ``chunk_size`` of a scorer."""
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs == 0):
        raise ValueError(f"n_jobs must be None or a non-zero int; got {n_jobs!r}.")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}.")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}.")


def map_chunks(function, X, y, *, n_jobs, chunk_size, args=()):
    """``function(X_chunk, y_chunk, *args)`` over row chunks, joined row-wise.

    With ``n_jobs=None`` the data stay in one piece (no copy, no worker).
    Otherwise the rows are cut into chunks of ``chunk_size`` whatever
    ``n_jobs`` is, so the results do not depend on the number of workers or
    on the joblib backend (``joblib.parallel_backend("dask")`` sends the
    chunks to a dask cluster). ``function`` returns a tuple of arrays with
    one row per sample.
    """
    if n_jobs is None or len(y) <= chunk_size:
        return function(X, y, *args)
    chunks = list(gen_batches(len(y), chunk_size))
    parts = Parallel(n_jobs=n_jobs)(
        delayed(function)(_take(X, c), y[c], *args) for c in chunks
    )
    return tuple(_join(column) for column in zip(*parts))


def _join(parts):
    """Row-wise concatenation of arrays, or of DataFrames (raw tabular rows)."""
    if hasattr(parts[0], "iloc"):
        import pandas as pd

        return pd.concat(parts)
    return np.concatenate(parts)
