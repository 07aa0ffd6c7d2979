"""Deploy-time fusion of GhostNets: :func:`deploy` and the stem hook that lets timm fold the stem norm.

``timm.utils.reparameterize_model`` folds every conv + norm pair and merges GhostNetV3's branches by calling
``reparameterize()`` on each child module; :class:`StemFuser` is the child through which the model folds its own
``bn1`` into ``conv_stem``.
"""

from __future__ import annotations

import copy
from typing import Protocol

import torch
from timm.utils import reparameterize_model
from torch import nn

__all__ = ["StemFuser", "deploy"]


class _FusesStem(Protocol):
    def _fuse_stem(self) -> None: ...


class StemFuser(nn.Module):
    """Lets ``reparameterize_model`` (which visits children only) fold the model's ``bn1`` into its ``conv_stem``.

    The stem layers must stay direct attributes of the model (timm's key names), so the owning model is held in a
    plain list: it is not registered as a submodule (no cycle in the module tree, no state-dict keys) and
    ``copy.deepcopy`` copies the reference along with the model. Register it as the model's last child: timm's
    ``FeatureListNet``/``FeatureDictNet`` run the children in order up to the last feature and so never reach it.

    Args:
        owner: the model, with a ``_fuse_stem()`` method.

    Examples::

        >>> class Stem(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fused = False
        ...         self.fuser = StemFuser(self)
        ...     def _fuse_stem(self):
        ...         self.fused = True
        >>> reparameterize_model(Stem()).fused
        True
    """

    def __init__(self, owner: _FusesStem) -> None:
        super().__init__()
        self._owner = [owner]

    def reparameterize(self) -> None:
        self._owner[0]._fuse_stem()


def deploy(
    model: nn.Module, channels_last: bool = True, inplace: bool = False, split_hidden: bool | None = None
) -> nn.Module:
    """Inference form of any model containing GhostNets: fold norms, merge V3 branches, split the bottlenecks'
    expansions, channels-last weights.

    ``timm.utils.reparameterize_model`` does the fusion; channels-last weights then make oneDNN (CPU) and cuDNN
    (GPU) run every convolution in NHWC, where depthwise convolutions (most of GhostNet's layers) are several
    times faster than in NCHW. Inputs may stay NCHW; outputs are channels-last strided (same shapes and values).

    Args:
        model: a GhostNet, its ``features_only`` wrapper, or a detector/segmenter holding one; put it in eval mode.
        channels_last: also convert the weights to ``torch.channels_last``.
        inplace: modify ``model`` instead of a deep copy.
        split_hidden: keep each Ghost bottleneck's expanded halves apart instead of concatenating them
            (:class:`~ghost_backbones.models.split_hidden.SplitHidden`; faster at detection and segmentation sizes,
            docs/benchmarks.md); ``False`` keeps the concat; ``None`` (default) leaves each block's
            ``split_on_deploy`` as it is (``True`` unless an earlier ``deploy(..., split_hidden=False)`` set it).

    Examples::

        >>> import timm
        >>> model = timm.create_model("ghostnetv3", features_only=True).eval()
        >>> fast = deploy(model)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(fast(x), model(x)))
        True
    """
    model = model if inplace else copy.deepcopy(model)
    if split_hidden is not None:
        for module in model.modules():
            if hasattr(module, "split_on_deploy"):  # GhostBottleneck
                module.split_on_deploy = split_hidden
    model = reparameterize_model(model, inplace=True)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model
