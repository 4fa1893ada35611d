"""Split a model into components held apart that together predict exactly as the whole.

One module per technique: :mod:`.layers` (a neural network into blocks of layers),
:mod:`.ensemble` (a random forest into groups of trees), :mod:`.subtrees` (a decision tree
into a top part and subtrees); :mod:`.components` holds the shared shapes, the component
bytes and hashes and the model signature (the Merkle root of the component hashes).

Light: numpy and safetensors; scikit-learn and torch load only when given such a model.
"""

from __future__ import annotations

from typing import Any

from mercato.errors import InputError
from mercato.ml.splitting.components import (
    Component,
    SplitModel,
    component_hashes,
    component_leaf,
    load_component,
    model_root,
    signature_tree,
)

__all__ = [
    "Component",
    "SplitModel",
    "component_hashes",
    "component_leaf",
    "load_component",
    "model_root",
    "signature_tree",
    "split",
]


def split(model: Any, parts: int) -> SplitModel:
    """Split ``model`` into ``parts`` components, picking the technique by the model's type.

    A dict of arrays is a torch ``Sequential`` state dict; a torch ``Sequential`` module, a
    scikit-learn ``MLPClassifier``, ``RandomForestClassifier`` or ``DecisionTreeClassifier``
    are recognised by their class.
    """
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if isinstance(model, dict):
        from mercato.ml.splitting.layers import split_state_dict

        return split_state_dict(model, parts)
    if kind.startswith("torch.nn.") and hasattr(model, "state_dict"):
        from mercato.ml.splitting.layers import split_state_dict

        state = {name: value.detach().cpu().numpy() for name, value in model.state_dict().items()}
        return split_state_dict(state, parts)
    if kind.startswith("sklearn."):
        return _split_sklearn(model, parts)
    raise InputError(f"cannot split a {type(model).__name__}: no splitting technique for it")


def _split_sklearn(model: Any, parts: int) -> SplitModel:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    if not hasattr(model, "classes_"):
        raise InputError(f"cannot split a {type(model).__name__} that is not fitted")
    if isinstance(model, MLPClassifier):
        from mercato.ml.splitting.layers import split_mlp

        return split_mlp(model, parts)
    if isinstance(model, RandomForestClassifier):
        from mercato.ml.splitting.ensemble import split_forest

        return split_forest(model, parts)
    if isinstance(model, DecisionTreeClassifier):
        from mercato.ml.splitting.subtrees import split_tree

        return split_tree(model, parts)
    raise InputError(f"cannot split a {type(model).__name__}: no splitting technique for it")
