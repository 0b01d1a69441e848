"""Tracing a module for bound propagation: ``torch.fx``, else ``torch.export``.

A module with a rule in the :func:`bound_layer` registry stays one call;
``nn.Sequential`` containers and other modules are traced through. The trace
is run on two small batches to learn which values depend on the input and
every tensor's per-sample shape; traces are cached per module, shape, dtype
and device.
"""

import operator
import weakref

from ..._models import FirstOutput
from ..._torch import torch
from ._layers import _is_container, bound_layer


def _has_rule(module):
    impl = bound_layer.dispatch(type(module))
    return impl is not bound_layer.dispatch(object)


class _Tracer(torch.fx.Tracer):
    """Keeps modules with a bound rule as calls; traces through the others."""

    def is_leaf_module(self, m, qualname):
        if isinstance(m, FirstOutput) or _is_container(m):
            return False
        if _has_rule(m):
            return True
        return super().is_leaf_module(m, qualname)


class _Trace:
    """A traced graph, how to read its constants, and its nodes' example values."""

    def __init__(self, module, graph, fetch, input_node, how):
        self.module, self.graph, self.fetch = module, graph, fetch
        self.input, self.how = input_node, how
        self.nodes = list(graph.nodes)
        depends = set()
        for node in self.nodes:
            if node is input_node or any(a in depends for a in node.all_input_nodes):
                depends.add(node)
        self.depends = depends

    def run(self, x):
        """Every node's value on the input batch ``x``."""
        env = {}
        for node in self.nodes:
            env[node] = self.evaluate(node, env, x)
        return env

    def evaluate(self, node, env, x=None):
        args = torch.fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "placeholder":
            return x if node is self.input else self.fetch(node)
        if node.op == "get_attr":
            return self.fetch(node)
        if node.op == "call_module":
            return self.module.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        return args[0]  # output


def _trace_fx(module):
    tracer = _Tracer()
    graph = tracer.trace(module)
    (placeholder,) = [n for n in graph.nodes if n.op == "placeholder"][:1] or [None]

    def fetch(node):
        if node.op == "placeholder":  # a further argument of forward
            if node.args:
                return node.args[0]
            raise TypeError(
                f"{type(module).__name__}.forward takes more than one input; "
                "bounds need a module of one tensor"
            )
        return operator.attrgetter(node.target)(module)

    return _Trace(module, graph, fetch, placeholder, "torch.fx")


def _trace_export(module, example):
    batch = torch.export.Dim.AUTO
    ep = torch.export.export(
        module, (example,), dynamic_shapes=({0: batch},), strict=False
    )
    sig = ep.graph_signature
    names = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    constants = getattr(sig, "inputs_to_lifted_tensor_constants", {})

    def fetch(node):
        if node.name in names:
            return operator.attrgetter(names[node.name])(module)
        return ep.constants[constants[node.name]]

    (user,) = sig.user_inputs
    graph = ep.graph_module.graph
    (placeholder,) = [
        n for n in graph.nodes if n.op == "placeholder" and n.name == user
    ]
    return _Trace(module, graph, fetch, placeholder, "torch.export")


_CACHE = weakref.WeakKeyDictionary()


def traced(module, shape, dtype, device):
    """The trace of ``module`` for samples of ``shape`` (cached per module)."""
    key = (tuple(shape), dtype, str(device))
    per_module = _CACHE.setdefault(module, {})
    if key in per_module:
        return per_module[key]
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            trace = _trace_and_probe(module, shape, dtype, device)
    finally:
        for m, flag in modes:
            m.training = flag
    per_module[key] = trace
    return trace


def _trace_and_probe(module, shape, dtype, device):
    """Trace, then record every node's value on example batches.

    fx graphs run on batches of 2 and 3 samples: a perturbed tensor whose
    first dimension is not the batch in both mixes samples. An exported
    graph may hold the example's batch size, so it runs on that one only.
    """
    sizes = (2, 3)
    try:
        trace = _trace_fx(module)
        runs = [trace.run(_example(n, shape, dtype, device)) for n in sizes]
    except Exception as fx_error:  # control flow fx cannot trace: export
        sizes = (5,)
        example = _example(5, shape, dtype, device)
        try:
            trace = _trace_export(module, example)
            runs = [trace.run(example)]
        except Exception as exc:
            raise TypeError(
                f"bound propagation could not trace {type(module).__name__}: "
                f"torch.fx failed ({type(fx_error).__name__}: {fx_error}) and so "
                f"did torch.export ({type(exc).__name__}: {exc}). Make its "
                "forward traceable (no control flow on tensor values), or "
                "register a bound rule for it with "
                "`@skrobust.certification.bound_layer.register`."
            ) from exc
    trace.values = runs[0]
    trace.mixing = {
        node
        for node in trace.depends
        if torch.is_tensor(runs[0][node])
        and any(run[node].shape[:1] != (n,) for run, n in zip(runs, sizes))
    }
    return trace


def _example(n, shape, dtype, device):
    return torch.zeros((n, *shape), dtype=dtype, device=device)
