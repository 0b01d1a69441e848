"""Storing ``__init__`` parameters, scikit-learn's way, in one place."""

import inspect


def store_params(obj, params):
    """Store each ``__init__`` parameter of ``obj`` under its own name, as given.

    scikit-learn's rule: ``__init__`` stores its parameters unchanged and does
    nothing else (validation happens in ``fit``). An ``__init__`` passes its
    ``locals()``, so the parameter list is written once, in the signature.

    Parameters
    ----------
    obj : object
        The instance being initialised.
    params : dict
        ``locals()`` of its ``__init__``: at least every parameter name.

    Examples
    --------
    >>> from skrobust.utils import store_params
    >>> class Model:
    ...     def __init__(self, alpha=1.0, *, tol=1e-3):
    ...         store_params(self, locals())
    >>> vars(Model(tol=0.1))
    {'alpha': 1.0, 'tol': 0.1}
    """
    for name in inspect.signature(type(obj).__init__).parameters:
        if name != "self":
            setattr(obj, name, params[name])
