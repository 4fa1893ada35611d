"""P1's agent roles as ``mercato agent run`` plans them: client, provider and arbiter.

Each ``plan_*`` checks the role's options before the chain is read and returns a
:class:`~mercato.agents.roles.RolePlan` that attaches the handlers of
:mod:`mercato.protocols.auction.agents`. A provider sells one category; what it sells (its
:class:`~mercato.protocols.auction.provider.Offer`) is built from the options by
:func:`build_offer` and checked against the ontology.

A data provider sells its own file (``--data``) or a sample dataset; the client evaluates on
its own held-out rows (``--data``) or the held-out part of a deterministic split of a sample
dataset, of which a data provider selling the same dataset sells the other part, so the two
never overlap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mercato.agents.roles import DATA_OPTIONS, AgentSetup, RolePlan, attaching, role_data
from mercato.errors import InputError
from mercato.ontology.category import Category, parse_category
from mercato.protocols.auction import agents
from mercato.protocols.auction.rules import CATEGORY_ROLES
from mercato.protocols.roles import Role
from mercato.units import format_ether

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.ml.families import HyperValue
    from mercato.protocols.auction.provider import Offer

DEFAULT_COMPUTE_CLASS = "mc:SoftwareAttestedCompute"
"""What Mercato's executor offers: training behind a software-signed execution report."""


def parse_params(items: list[str]) -> dict[str, HyperValue]:
    """Hyper-parameters from ``KEY=VALUE`` items; values are JSON where they parse as JSON."""
    params: dict[str, HyperValue] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param '{item}' is not KEY=VALUE (e.g. --param C=0.5)")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params[key.strip()] = tuple(value) if isinstance(value, list) else value
    return params


def build_offer(
    category: Category,
    *,
    asset_class: str | None,
    floor: int,
    data: Dataset | None,
    algorithm: str | None,
    params: dict[str, HyperValue],
) -> Offer:
    """What a provider of ``category`` sells, checked against the ontology."""
    from mercato.ontology.match import load_ontology
    from mercato.ontology.requirements import AssetOffer
    from mercato.protocols.auction.provider import Offer

    needs = {
        Category.DATA: "--dataset",
        Category.ALGORITHM: "--algorithm",
        Category.INFRASTRUCTURE: None,
    }
    for option, given in (("--dataset", data), ("--algorithm", algorithm)):
        if given is not None and needs[category] != option:
            raise InputError(f"{option} does not apply to a {category.label} provider")
    if params and category is not Category.ALGORITHM:
        raise InputError("--param sets an algorithm's hyper-parameters: use it with --algorithm")
    if category is Category.DATA:
        if data is None:
            raise InputError("a data provider sells a dataset: pass --data FILE or --dataset NAME")
        claimed = data.ontology_class
        if asset_class is not None:
            claimed = AssetOffer(category, asset_class, data.name).asset_class
            if not load_ontology().is_subclass(data.ontology_class, claimed):
                raise InputError(
                    f"--asset-class {claimed} does not describe dataset {data.name!r}, which is "
                    f"{data.ontology_class}"
                )
        return Offer(category, claimed, floor, data.to_bytes())
    if category is Category.ALGORITHM:
        if algorithm is None:
            raise InputError("an algorithm provider sells an algorithm: pass --algorithm FAMILY")
        from mercato.ml.algorithms import AlgorithmSpec

        spec = AlgorithmSpec(algorithm, ontology_class=asset_class or "", hyperparameters=params)
        return Offer(category, spec.ontology_class, floor, spec.to_json_bytes())
    offer = AssetOffer(category, asset_class or DEFAULT_COMPUTE_CLASS, "compute")
    return Offer(category, offer.asset_class, floor)


def plan_client(options: Mapping[str, Any]) -> RolePlan:
    """The client: reviews deliveries on the held-out part of ``--eval-dataset``."""
    missing = "a client agent measures deliveries on its own data: --data FILE or --eval-dataset"
    evaluation = role_data(options, "eval_dataset", missing, sells=False)

    def attach(setup: AgentSetup) -> str:
        results = setup.folder / setup.agent.name
        agents.attach_client(setup.agent, setup.market, setup.me, evaluation, results)
        return f" measuring deliveries on {evaluation.name}; models to {results}"

    return RolePlan("client", Role.CLIENT, attach)


def plan_provider(options: Mapping[str, Any]) -> RolePlan:
    """A provider of one ``--category``: bids down to its floor, delivers, gets paid."""
    from mercato.units import parse_amount

    if options.get("category") is None:
        raise InputError("a provider agent needs --category (data, algorithm, infrastructure)")
    sells = parse_category(options["category"])
    data = None
    if any(options.get(name) is not None for name in ("dataset", *DATA_OPTIONS)):
        if sells is not Category.DATA:
            given = "--dataset" if options.get("dataset") is not None else "--data"
            raise InputError(f"{given} does not apply to a {sells.label} provider")
        missing = "a data provider sells a dataset: pass --data FILE or --dataset NAME"
        data = role_data(options, "dataset", missing, sells=True)
    offer = build_offer(
        sells,
        asset_class=options.get("asset_class"),
        floor=parse_amount(options.get("floor") or "0"),
        data=data,
        algorithm=options.get("algorithm"),
        params=parse_params(options.get("params") or []),
    )
    says = f" selling {offer.asset_class} from {format_ether(offer.floor)}"
    attach = attaching(agents.attach_provider, offer, says=says)
    return RolePlan(f"{sells.label}-provider", CATEGORY_ROLES[sells], attach)


def plan_arbiter(options: Mapping[str, Any]) -> RolePlan:
    """The arbiter: decides rejected deliveries from the evidence it can check."""
    return RolePlan("arbiter", Role.ARBITER, attaching(agents.attach_arbiter))
