"""A network as a graph of bound rules, traced from its ``forward``.

:func:`bound_graph` traces a module with ``torch.fx`` (``torch.export`` when
fx cannot: Python control flow on shapes, ``len(x)``), runs the trace on two
small batches to learn every tensor's per-sample shape, and maps each
operation to a bound rule: a module with a rule in the :func:`bound_layer`
registry stays one call (so user layers keep their rules), other modules are
traced through, and functions and methods go through
:mod:`._graph_ops`. Constants (parameters, buffers and what is computed from
them) are read anew on every call, so bounds follow training.
"""

from ..._torch import torch
from ._graph_ops import handler_of
from ._graph_rules import Unsupported, Var, tag_alpha
from ._graph_trace import traced
from ._layers import bound_layer

_SUPPORTED_OPS = (
    "Supported operations: modules with a bound rule (Linear, Conv1d/2d, "
    "activations, pooling, batch norm, dropout, ... or your own, registered with "
    "`@skrobust.certification.bound_layer.register`), relu / leaky_relu / tanh / "
    "sigmoid, + and - of tensors, + - * / by constants, torch.cat, flatten / "
    "view / reshape / permute / indexing, mean / sum over non-batch dims, "
    "pooling, batch norm in eval mode, dropout."
)


class GraphNode:
    """One tensor of the traced network: its rule, inputs and per-sample shape."""

    __slots__ = ("name", "rule", "inputs", "shape", "dtype", "matrix")

    def __init__(self, name, rule, inputs, shape, dtype):
        self.name, self.rule, self.inputs = name, rule, tuple(inputs)
        self.shape, self.dtype = tuple(shape), dtype
        self.matrix = None  # a convolution as a dense matrix, built on demand

    @property
    def multi(self):
        return getattr(self.rule, "multi", False)

    def __repr__(self):
        rule = type(self.rule).__name__ if self.rule is not None else "input"
        return f"GraphNode({self.name!r}, {rule}, inputs={self.inputs})"


class BoundGraph:
    """Nodes in topological order (node 0: the input) and the output's index."""

    def __init__(self, nodes, output):
        self.nodes, self.output = nodes, output
        self.users = [[] for _ in nodes]
        for i, node in enumerate(nodes):
            for j in node.inputs:
                self.users[j].append(i)
        # affine[i]: node i is an affine function of the input
        self.affine = [True] * len(nodes)
        for i, node in enumerate(nodes[1:], 1):
            self.affine[i] = node.rule.affine and all(
                self.affine[j] for j in node.inputs
            )
        # trailing[i]: node i and everything after it up to the output are affine
        self.trailing = [False] * len(nodes)
        for i in range(len(nodes) - 1, 0, -1):
            users = self.users[i]
            ends = i == output or (users and all(self.trailing[u] for u in users))
            self.trailing[i] = bool(ends) and nodes[i].rule.affine and i <= output
        # mixing[i]: affine rules mixing units on the way from the input (a
        # chain; inf past a node with several inputs)
        self.mixing = [0] * len(nodes)
        for i, node in enumerate(nodes[1:], 1):
            if node.multi or not self.affine[i]:
                self.mixing[i] = float("inf")
            else:
                own = not getattr(node.rule, "elementwise", False)
                self.mixing[i] = self.mixing[node.inputs[0]] + own
        self._ball_targets = None

    def __len__(self):
        return len(self.nodes)

    @property
    def ball_targets(self):
        """Affine nodes of the input that a non-affine node (or the output) reads."""
        if self._ball_targets is None:
            self._ball_targets = [
                i
                for i in range(1, len(self.nodes))
                if self.affine[i]
                and (i == self.output or any(not self.affine[u] for u in self.users[i]))
            ]
        return self._ball_targets

    def forward(self, x, values=None, *, nodes=None):
        """Values of ``nodes`` (all but the input by default) given the input
        ``x`` or the ``values`` of some nodes; their rules need a ``func``."""
        values = {0: x} if values is None else dict(values)
        nodes = range(1, len(self.nodes)) if nodes is None else nodes
        for i in nodes:
            if i not in values:
                node = self.nodes[i]
                values[i] = node.rule.func(*(values[j] for j in node.inputs))
        return values


def chain_graph(rules, shape, dtype, device):
    """The :class:`BoundGraph` of a chain of rules (each reads the one before).

    Node ``i`` is the output of ``rules[i - 1]``; shapes come from each
    rule's interval on a zero box.
    """
    nodes = [GraphNode("input", None, (), shape, dtype)]
    probe = torch.zeros((1, *shape), dtype=dtype, device=device)
    for i, rule in enumerate(rules, 1):
        probe = rule.interval(probe, probe)[0]
        nodes.append(GraphNode(f"layer{i - 1}", rule, (i - 1,), *_sample(probe)))
    graph = BoundGraph(nodes, len(nodes) - 1)
    graph.how = "chain"
    return graph


def _sample(value):
    return tuple(value.shape[1:]), value.dtype


# -- from a trace to bound rules ----------------------------------------------


class _Context:
    __slots__ = ("name", "out_shape", "dtype", "device")

    def __init__(self, name, value):
        self.name, self.out_shape = name, tuple(value.shape[1:])
        self.dtype, self.device = value.dtype, value.device


def _where(node):
    """The node and the module it was traced in, for error messages."""
    target = node.target
    if not isinstance(target, str):
        target = getattr(target, "__name__", str(target))
    args = ", ".join(str(a) for a in node.args)
    where = f"node {node.name!r} ({target}({args}))"
    stack = node.meta.get("nn_module_stack")
    if stack:
        path, kind = list(stack.values())[-1]
        kind = getattr(kind, "__name__", str(kind).rsplit(".", 1)[-1])
        where += f" in module {path!r} ({kind})"
    return where


def _unsupported(node, reason, cause=None):
    return TypeError(
        f"bound propagation does not support {reason} at {_where(node)}. "
        f"{_SUPPORTED_OPS}"
    )


def bound_graph(module, shape, dtype, device):
    """The :class:`BoundGraph` of ``module`` for samples of ``shape``.

    Raises
    ------
    TypeError
        Naming the first unsupported operation and the node where it occurs.
    """
    module = getattr(module, "_orig_mod", module)  # torch.compile wrapper
    trace = traced(module, shape, dtype, device)
    nodes, env = [], {}

    def add(name, rule, inputs, value):
        nodes.append(GraphNode(name, rule, [v.index for v in inputs], *value))
        return Var(len(nodes) - 1, value[0], value[1])

    output = None
    for node in trace.nodes:
        example = trace.values[node]
        if node is trace.input:
            nodes.append(GraphNode("input", None, (), shape, dtype))
            env[node] = Var(0, shape, dtype)
        elif node.op == "output":
            output = torch.fx.node.map_arg(node.args[0], lambda n: env[n])
            if trace.how == "torch.export" and len(output) == 1:
                (output,) = output  # export returns the flat outputs
        elif node not in trace.depends:
            env[node] = trace.evaluate(node, env)
        elif not torch.is_tensor(example):  # shapes and sizes of perturbed tensors
            env[node] = example
        else:
            if node in trace.mixing:
                reason = "an operation that mixes the samples of the batch"
                raise _unsupported(node, reason)
            value = (tuple(example.shape[1:]), example.dtype)
            env[node] = _convert(node, trace, env, value, add)
    if not isinstance(output, Var):
        raise TypeError(
            f"bound propagation needs a module returning one tensor of logits; "
            f"{type(module).__name__} returns {type(output).__name__}."
        )
    graph = BoundGraph(nodes, output.index)
    graph.how = trace.how
    return graph


def _convert(node, trace, env, value, add):
    args = torch.fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
    if node.op == "call_module":
        layer = trace.module.get_submodule(node.target)
        if not isinstance(args[0], Var) or any(isinstance(a, Var) for a in args[1:]):
            raise _unsupported(node, f"{type(layer).__name__} on several inputs")
        try:
            rules = bound_layer(layer)
        except TypeError as exc:
            raise TypeError(f"{exc} (at {_where(node)})") from exc
        rules = list(rules) if isinstance(rules, (list, tuple)) else [rules]
        if len(rules) == 1:
            tag_alpha(rules[0], layer)
        var = args[0]
        for k, rule in enumerate(rules):
            if k == len(rules) - 1:
                shape_dtype = value
            else:  # intermediate shapes of a chain of rules: probe
                device = trace.values[node].device
                probe = torch.zeros((1, *var.shape), dtype=var.dtype, device=device)
                out = rule.interval(probe, probe)[0]
                shape_dtype = (tuple(out.shape[1:]), out.dtype)
            var = add(f"{node.name}.{k}" if k else node.name, rule, [var], shape_dtype)
        return var
    method = node.op == "call_method"
    handler = handler_of(node.target, method)
    if handler is None:
        name = node.target if method else getattr(node.target, "__name__", node.target)
        kind = "method" if method else "function"
        raise _unsupported(node, f"the {kind} {name!r}")
    ctx = _Context(node.name, trace.values[node])
    try:
        rule, inputs = handler(ctx, *args, **kwargs)
    except Unsupported as exc:
        raise _unsupported(node, str(exc)) from exc
    if rule is None:  # an alias of its input
        return inputs[0]
    return add(node.name, rule, inputs, value)
