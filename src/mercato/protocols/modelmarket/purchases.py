"""The buyer's side around its own files: a request posted from its labelled rows with its
hidden test set kept first, and each model it takes, measured on those hidden groups.

``mercato modelmarket post`` and ``take`` call these (the buyer's chain steps themselves are
:mod:`~mercato.protocols.modelmarket.buyer`'s). The test set is in the state folder before
the request exists (:mod:`~mercato.protocols.modelmarket.state_files`), so no posted
request lacks it; a model is measured as the executors measured it (the same integer score
on the same hidden groups), beside every metric of :mod:`mercato.ml.evaluate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mercato.protocols.modelmarket import buyer, history
from mercato.protocols.modelmarket.documents import HiddenTestSet, TaskDocument, groups_bytes
from mercato.protocols.modelmarket.state_files import keep_pending_test, settle_test
from mercato.protocols.modelmarket.views import score_fraction
from mercato.protocols.results import Result

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

TASK = "mc:ClassificationAlgorithm"
"""The ontology term of what a request asks for: a classifier."""


def classes_of(data: Dataset) -> tuple[str, ...]:
    """The class names of ``data`` in label order (its labels' names, else the numbers)."""
    return data.labels or tuple(str(c) for c in range(int(data.y.max()) + 1))


def task_of(data: Dataset, groups: int, sample: int) -> TaskDocument:
    """The task of a request for a classifier of ``data``'s rows, cut into ``groups``."""
    return TaskDocument(
        data_class=data.ontology_class,
        task=TASK,
        features=data.X.shape[1],
        classes=classes_of(data),
        groups=groups,
        group_size=len(data.y) // groups,
        sample=sample,
        feature_names=data.features,
        description=f"{data.name}: {len(data.y)} labelled rows",
    )


def post_kept(
    market: Marketplace,
    me: Identity,
    data: Dataset,
    document: TaskDocument,
    terms: buyer.RequestTerms,
    folder: Path,
) -> tuple[int, Path]:
    """Cut ``data`` into the task's salted groups, keep them in ``folder``, then post the
    request; its id and the test set's file."""
    test_set = HiddenTestSet.cut(data.X, data.y, document.groups)
    pending = keep_pending_test(folder, test_set)
    try:
        request_id = buyer.post_request(market, me, document, test_set, terms)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    return request_id, settle_test(pending, folder, request_id)


def measured(
    market: Marketplace, request_id: int, index: int, model: bytes, test_set: HiddenTestSet
) -> tuple[Result, int]:
    """Submission ``index``'s model (its bytes, opened with the revealed key) measured on
    the request's hidden groups: the result to export, with what the executors agreed
    reported beside it, and its score in parts per million as the executors compute it."""
    from mercato.crypto.commit import keccak
    from mercato.ml.evaluate import evaluate
    from mercato.protocols.modelmarket.evaluation import load_model_bytes, score, stack_groups

    mm = market.model_market
    hidden = test_set.hidden(history.sample_indices(mm, request_id) or [])
    X, y = stack_groups(hidden)
    classifier = load_model_bytes(model)
    submission = mm.submission(request_id, index)
    ours = score(classifier, X, y)
    result = Result(
        protocol="modelmarket",
        entry=request_id,
        model=classifier,
        model_hash="0x" + keccak(model).hex(),
        metrics=evaluate(classifier, X, y),
        measured_on={
            "name": f"request {request_id}'s hidden test groups",
            "rows": len(y),
            "digest": "0x" + keccak(groups_bytes(hidden)).hex(),
            "groups": len(hidden),
        },
        reported={
            "seller": submission.seller,
            "index": index,
            "agreed_score": score_fraction(submission.score),
            "measured_score": score_fraction(ours),
            "price": submission.price,
            "state": submission.state.label,
        },
    )
    return result, ours


def export_bought(result: Result, model: bytes, out: Path) -> tuple[Path, Path]:
    """Write the model's own bytes to ``out`` (what was benchmarked, byte for byte) and its
    metrics beside it; both paths."""
    from mercato.ml.model_files import write_metrics
    from mercato.protocols.results import metrics_path
    from mercato.user_files import write_user_file

    model_file = write_user_file(out, model)
    return model_file, write_metrics(metrics_path(model_file), result.record())
