"""Feature extraction for GhostNets: the ``features_only`` wrapper and the feature-index resolution.

``timm.create_model(name, features_only=True)`` wraps the model in :class:`GhostNetFeatures` (timm's feature getter,
driven by ``forward_intermediates``); ``feature_cls='list'``, ``'dict'``, ``'hook'`` and ``'fx'`` select timm's
other wrappers instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

# timm's feature getter (features_only through forward_intermediates) has no public export; build_model_with_cfg
# treats subclasses of it as getters (no flatten_sequential / output_fmt defaults), so we subclass the real class.
from timm.models._features import FeatureGetterNet

from .deploy import deploy

__all__ = ["GhostNetFeatures", "feature_indices"]


def feature_indices(num_levels: int, indices: int | list[int] | None) -> tuple[list[int], int]:
    """Resolve timm's ``indices`` (last ``n`` levels if int, all if ``None``, else level indices) to absolute ones.

    TorchScript-compatible (``forward_intermediates`` of a scripted feature getter calls it); tuples work in eager.

    Args:
        num_levels: number of feature levels.
        indices: an int ``n`` in ``[1, num_levels]``, ``None``, or indices in ``[-num_levels, num_levels - 1]``.

    Returns:
        ``(absolute indices in the given order, the largest of them)``.

    Examples::

        >>> feature_indices(5, None), feature_indices(5, 2), feature_indices(5, [0, -1])
        (([0, 1, 2, 3, 4], 4), ([3, 4], 4), ([0, 4], 4))
    """
    if indices is None:
        indices = num_levels
    if isinstance(indices, int):
        if indices < 1 or indices > num_levels:
            raise ValueError(f"indices as last-n must be in [1, {num_levels}], got {indices}")
        take = list(range(num_levels - indices, num_levels))
    else:
        take: list[int] = []
        for i in indices:
            if i < -num_levels or i >= num_levels:
                raise ValueError(
                    f"feature indices (out_indices) must be in [{-num_levels}, {num_levels - 1}], got {indices}"
                )
            take.append(i % num_levels)
        if len(take) == 0:
            raise ValueError("feature indices (out_indices) must not be empty")
    return take, max(take)


class GhostNetFeatures(FeatureGetterNet):
    """timm's feature getter (``features_only=True``) plus ``set_grad_checkpointing`` and ``convert_to_deploy``.

    ``forward`` declares what it returns, ``list[Tensor]`` (one map per ``out_indices`` entry), so a scripted caller
    (``torch.jit.script`` of smp's ``Unet("tu-ghostnet")``) can iterate and index the features.

    ``return_layers`` (``{module name: level}``) is the levels returned, as in timm's ``FeatureDictNet`` /
    ``FeatureListNet``: setting it selects others. transformers' ``TimmBackbone`` sets it to every level for
    ``output_hidden_states=True`` and back after (timm's own feature getter ignores it, so transformers then indexes
    past the maps it gets).

    Examples::

        >>> import timm
        >>> m = timm.create_model("ghostnet", features_only=True, out_indices=(3, 4))
        >>> m.feature_info.channels(), m.feature_info.reduction()
        ([112, 960], [16, 32])
        >>> m.return_layers
        {'blocks.6': '3', 'blocks.9': '4'}
        >>> m.return_layers = {info["module"]: str(i) for i, info in enumerate(m.feature_info.info)}
        >>> [f.shape[1] for f in m(torch.rand(1, 3, 64, 64))]
        [16, 24, 40, 112, 960]
    """

    __jit_unused_properties__ = ["return_layers"]  # noqa: RUF012  (TorchScript reads this class attribute)

    @property
    def return_layers(self) -> dict[str, str]:
        """``{module name: level index}`` of the levels ``forward`` returns."""
        info = self.feature_info.info
        return {info[i]["module"]: str(i % len(info)) for i in self.out_indices}

    @return_layers.setter
    def return_layers(self, layers: Mapping[str, str]) -> None:
        levels = {info["module"]: i for i, info in enumerate(self.feature_info.info)}
        unknown = sorted(set(layers) - set(levels))
        if unknown:
            raise ValueError(f"return_layers must name feature modules among {sorted(levels)}, got {unknown}")
        self.out_indices = sorted(levels[name] for name in layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.model.forward_intermediates(
            x, indices=self.out_indices, norm=self.norm, output_fmt=self.output_fmt, intermediates_only=True
        )
        if not isinstance(features, list):  # refines the Union forward_intermediates declares (TorchScript)
            raise RuntimeError("forward_intermediates(intermediates_only=True) must return a list of feature maps")
        return features

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.model.set_grad_checkpointing(enable)

    @torch.jit.ignore
    def convert_to_deploy(self, channels_last: bool = True) -> GhostNetFeatures:
        """Fuse in place for inference; see :func:`~.deploy.deploy`."""
        return deploy(self, channels_last=channels_last, inplace=True)
