"""Split a model into components held apart that together predict exactly as the whole.

One module per technique: :mod:`.layers` (a neural network into blocks of layers),
:mod:`.ensemble` (a random forest into groups of trees), :mod:`.subtrees` (a decision tree
into a top part and subtrees), :mod:`.linear` (a logistic regression into groups of features
whose partial scores add up); :mod:`.components` holds the shared shapes, the component
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

    A dict of arrays is a torch state dict: one ``Linear`` layer (keys ``weight`` and
    ``bias``, or ``0.weight`` and ``0.bias``) splits by features, a ``Sequential`` of more
    layers by blocks of layers; a torch module, a scikit-learn ``MLPClassifier``,
    ``RandomForestClassifier``, ``DecisionTreeClassifier`` or ``LogisticRegression`` are
    recognised by their class.
    """
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if isinstance(model, dict):
        return _split_state_dict(model, parts)
    if kind.startswith("torch.nn.") and hasattr(model, "state_dict"):
        state = {name: value.detach().cpu().numpy() for name, value in model.state_dict().items()}
        return _split_state_dict(state, parts)
    if kind.startswith("sklearn."):
        return _split_sklearn(model, parts)
    raise InputError(f"cannot split a {type(model).__name__}: no splitting technique for it")


def _split_state_dict(state: dict[str, Any], parts: int) -> SplitModel:
    from mercato.ml.splitting.linear import is_linear_state_dict

    if is_linear_state_dict(state):
        from mercato.ml.splitting.linear import split_linear_state_dict

        return split_linear_state_dict(state, parts)
    from mercato.ml.splitting.layers import split_state_dict

    return split_state_dict(state, parts)


def _split_sklearn(model: Any, parts: int) -> SplitModel:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
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
    if isinstance(model, LogisticRegression):
        from mercato.ml.splitting.linear import split_logistic

        return split_logistic(model, parts)
    raise InputError(f"cannot split a {type(model).__name__}: no splitting technique for it")
