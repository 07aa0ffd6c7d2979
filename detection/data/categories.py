"""The label mapping every detection data format shares: dataset category ids <-> contiguous training labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CategoryMap"]


@dataclass(frozen=True)
class CategoryMap:
    """Contiguous training labels (1..N, 0 is the background) for a dataset's category ids, and back.

    Args:
        ids: the original category ids, in label order (label ``i + 1`` is ``ids[i]``).
        names: the category names, in the same order.

    Examples::

        >>> cats = CategoryMap.from_categories([{"id": 7, "name": "triangle"}, {"id": 1, "name": "circle"}])
        >>> cats.ids, cats.to_label(7), cats.to_id(1), cats.num_classes
        ((1, 7), 2, 1, 3)
    """

    ids: tuple[int, ...]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.names):
            raise ValueError(f"ids and names must have the same length, got {len(self.ids)} and {len(self.names)}")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"category ids must be unique, got {list(self.ids)}")
        object.__setattr__(self, "_label_of", {cat_id: i + 1 for i, cat_id in enumerate(self.ids)})

    @classmethod
    def from_categories(cls, categories: list[dict[str, Any]]) -> CategoryMap:
        """Build the map from a COCO ``categories`` list (labels follow increasing ids, as torchvision's)."""
        ordered = sorted(categories, key=lambda c: c["id"])
        return cls(tuple(int(c["id"]) for c in ordered), tuple(str(c.get("name", c["id"])) for c in ordered))

    @property
    def num_classes(self) -> int:
        """Number of classes the detector predicts, the background included."""
        return len(self.ids) + 1

    def to_label(self, category_id: int) -> int:
        """Training label of an original category id."""
        return self._label_of[category_id]

    def to_id(self, label: int) -> int:
        """Original category id of a training label (1..N)."""
        if not 1 <= label <= len(self.ids):
            raise ValueError(f"label must be in [1, {len(self.ids)}], got {label}")
        return self.ids[label - 1]

    def name(self, label: int) -> str:
        """Category name of a training label."""
        self.to_id(label)  # checks the range
        return self.names[label - 1]

    def as_categories(self) -> list[dict[str, Any]]:
        """The COCO ``categories`` list (``id``, ``name``) in label order."""
        return [{"id": i, "name": n} for i, n in zip(self.ids, self.names)]
