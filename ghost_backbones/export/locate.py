"""Which layer an exported ONNX file stops reproducing: each module's eager output beside the file's value for it.

When the check of :mod:`~ghost_backbones.export.check` fails, `first_divergent_layer` runs the eager graph with a
forward hook on every module and the ONNX file with every node's output exposed, pairs each module with the last
node of its scope (the TorchScript exporter names nodes by module path: ``/backbone/stem/Conv`` is in module
``backbone.stem``), and names the first module, in the order they finish, whose output differs. A module followed
by one the exporter folded into it (a BatchNorm into its convolution) is compared after both.

Examples::

    >>> first_divergent_layer(graph, "model.onnx", image)  # doctest: +SKIP
    "'model.classifier.4' (max abs difference 0.31 on values up to 2.7)"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .formats import import_or_explain

__all__ = ["RELATIVE_TOLERANCE", "first_divergent_layer"]

#: A module's output differs when its largest absolute difference exceeds this fraction of its largest value.
RELATIVE_TOLERANCE = 1e-3


def _eager_outputs(graph: nn.Module, image: Tensor) -> list[tuple[str, np.ndarray]]:
    """``(module name, output)`` for every module whose output is one tensor, in the order the modules finish."""
    recorded: list[tuple[str, np.ndarray]] = []
    seen: set[str] = set()

    def hook(name: str):
        def record(module: nn.Module, args: Any, output: Any) -> None:
            if isinstance(output, Tensor) and name not in seen:
                seen.add(name)
                recorded.append((name, output.detach().float().clone().numpy()))  # later in-place ops

        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in graph.named_modules() if name]
    try:
        with torch.no_grad():
            graph(image)
    finally:
        for handle in handles:
            handle.remove()
    return recorded


def _scope_modules(graph: nn.Module, node_name: str) -> list[nn.Module] | None:
    """The modules a node's scope names, outermost first (``None`` when a part names no module).

    Each part of ``/a/b.0/b.0.1/Conv`` names a module relative to one of the modules before it (the exporter names
    a child by its path from the module that called it: ``blocks.0.0`` under ``blocks.0``, both from ``body``).
    """
    stack = [graph]
    for part in node_name.strip("/").split("/")[:-1]:
        for base in reversed(stack):
            try:
                stack.append(base.get_submodule(part))
                break
            except AttributeError:
                continue
        else:
            return None
    return stack[1:]


def _onnx_outputs(graph: nn.Module, path: str | Path, image: Tensor) -> dict[str, np.ndarray]:
    """Module name -> the output of the last node in that module's scope, from the file run with every node exposed."""
    ort = import_or_explain("onnxruntime", "locating the layer an ONNX file differs at")
    import onnx

    model = onnx.load(str(path))
    names = {id(module): name for name, module in graph.named_modules()}
    last_of_scope: dict[str, str] = {}
    for node in model.graph.node:  # topological order: the last node of a scope computes the module's output
        if node.output:
            for module in _scope_modules(graph, node.name) or []:
                last_of_scope[names[id(module)]] = node.output[0]  # it also ends every enclosing scope so far
    known = {o.name for o in model.graph.output}
    exposed = [name for name in dict.fromkeys(last_of_scope.values()) if name not in known]
    model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in exposed)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every intermediate value
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    values = dict(zip(outputs, session.run(None, {session.get_inputs()[0].name: image.numpy()})))
    return {module: values[output] for module, output in last_of_scope.items()}


def first_divergent_layer(graph: nn.Module, path: str | Path, image: Tensor) -> str | None:
    """The first module of ``graph`` whose output the ONNX file at ``path`` does not reproduce on ``image``, said
    with the size of the difference; ``None`` when every paired output agrees (the difference is after them).

    Args:
        graph: the eager module the file was exported from (its module names are the file's node scopes).
        path: the ONNX file (TorchScript exporter: nodes named by module path).
        image: one input of the graph.
    """
    exported = _onnx_outputs(graph, path, image)
    eager = _eager_outputs(graph, image)
    for (name, expected), after in zip(eager, [*eager[1:], ("", None)]):
        got = exported.get(name)
        if got is None or got.shape != expected.shape or not expected.size:
            continue
        if after[0] and after[0] not in exported:  # the next module left no node: folded into this one's (a
            continue  # BatchNorm into its convolution), so this one's node computes both: compare after them
        scale = float(np.abs(expected).max())
        gap = float(np.abs(got.astype(np.float64) - expected).max())
        if gap > RELATIVE_TOLERANCE * max(scale, 1e-6):
            return f"{name!r} (max abs difference {gap:.3g} on values up to {scale:.3g})"
    return None
