"""Model cards: what a model version is for, what it was trained on, how well it does, and where it went.

>>> card = model_card(get_session(), "churn", 3)                                  # doctest: +SKIP
>>> card.training_data, card.metrics["accuracy"]                                  # doctest: +SKIP
(['datasets:/customers/2'], 0.91)

Where each part comes from:

- **intended use**: the version's ``intended_use`` tag, else the version's description, else the
  registered model's description; ``limitations`` is the version's ``limitations`` tag.
- **training data**: the dataset versions the source run read (its ``loopml.dataset.NAME`` tags, which
  ``lm.data`` sets with the lineage edge) and the version's recorded ``dataset_version``.
- **metrics** and **params**: the source run's latest values (the version's recorded metrics when the
  run is gone); metrics named ``slice/<column>=<value>/<metric>`` are **fairness slices** instead.
- **lineage**: :func:`lineage_graph`, the objects around the version (data, runs, pipeline runs,
  decisions, aliases) with a layered left-to-right layout.
- **decisions**: the promotion gate's decisions that judged the version (as challenger or champion).

:func:`model_card` works on an SDK :class:`~loopml.tracking.session.Session` (local or remote) or on
the server's :class:`~loopml.server.backend.Backend`; both reach the same stores.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.records import DecisionRecord, LineageEdge, ModelVersion
from loopml.store.decisions import check_dataset_version

DATASET_TAG_PREFIX = "loopml.dataset."
SLICE_PREFIX = "slice/"
"""Metrics named ``slice/<column>=<value>/<metric>`` are a fairness slice's metric."""
INTENDED_USE_TAG = "intended_use"
LIMITATIONS_TAG = "limitations"
MAX_DEPTH = 3
"""How many edges away from the model version the lineage walk goes."""
MAX_NODES = 60
"""The most nodes a lineage graph shows (the nearest first)."""
MAX_DECISIONS = 50

_LAYER = {
    "policy": 0,
    "dataset_version": 0,
    "policy_cycle": 1,
    "pipeline_run": 1,
    "step_run": 2,
    "run": 3,
    "model_version": 4,
    "decision": 5,
    "model_alias": 6,
}
"""Left-to-right column of each node type: data on the left, deployment (aliases) on the right."""
_EXPANDED = {"model_version", "run", "step_run", "decision", "pipeline_run", "policy_cycle"}
"""Node types whose own edges the walk follows (datasets, aliases and policies are hubs: leaves here)."""
_SKIPPED = {"artifact"}
"""Node types not drawn (a step's content-addressed inputs and outputs)."""
X_GAP, Y_GAP = 220, 80


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One object of a lineage graph, placed at ``(x, y)``; ``link`` is its page in the web UI."""

    id: str
    type: str
    label: str
    link: str | None
    layer: int
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class LineageLink:
    """``source --relation--> target`` between two node ids."""

    source: str
    target: str
    relation: str


@dataclass(frozen=True, slots=True)
class LineageGraph:
    """The objects around a model version and the edges between them."""

    root: str
    nodes: list[LineageNode] = field(default_factory=list)
    links: list[LineageLink] = field(default_factory=list)
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FairnessSlice:
    """One metric in one slice of the data, from a metric named ``slice/<column>=<value>/<metric>``."""

    column: str
    value: str
    metric: str
    score: float


@dataclass(frozen=True, slots=True)
class PackageFile:
    """A file of the model package (path relative to the package)."""

    path: str
    size: int


@dataclass(frozen=True, slots=True)
class ModelCard:
    """A model version's card: intended use, training data, metrics, fairness slices, lineage, decisions."""

    name: str
    version: int
    uri: str
    status: str
    aliases: list[str]
    flavor: str
    created_at: int
    created_by: str
    description: str
    intended_use: str
    intended_use_source: str
    limitations: str
    tags: dict[str, str]
    run_id: str | None
    run_name: str | None
    training_data: list[str]
    metrics: dict[str, float]
    params: dict[str, str]
    fairness: list[FairnessSlice]
    signature: dict[str, Any]
    package: list[PackageFile]
    package_size: int
    lineage: LineageGraph
    decisions: list[DecisionRecord]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CardStores:
    """The stores a card reads, from a session or the server's backend."""

    tracking: Any
    models: Any
    lineage: Any
    datasets: Any
    decisions: Any
    pipelines: Any

    @classmethod
    def of(cls, source: Any) -> CardStores:
        """The stores of a :class:`~loopml.tracking.session.Session` or a server ``Backend``."""
        if isinstance(source, CardStores):
            return source
        stores = getattr(source, "stores", None)
        decisions = stores["decisions"] if isinstance(stores, dict) else source.decisions
        return cls(source.store, source.models, source.lineage, source.datasets, decisions, source.pipelines)


def model_card(source: Any, name: str, version: int) -> ModelCard:
    """The card of ``models:/name/version`` (``NotFound`` naming the versions that exist).

    ``source`` is an SDK session, the server's backend or :class:`CardStores`.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(
            f"Invalid model version {version!r}: use a version number (1, 2, ...).",
            details=[{"field": "version", "problem": "not a version number"}],
        )
    stores = CardStores.of(source)
    mv: ModelVersion = stores.models.get_version(name, version=version)
    run = _run(stores, mv.run_id)
    metrics_source = run.metrics if run is not None else mv.metrics
    metrics = {k: v for k, v in sorted(metrics_source.items()) if not k.startswith(SLICE_PREFIX)}
    intended, intended_from = _intended_use(stores, mv)
    training = sorted({v for k, v in (run.tags if run else {}).items() if k.startswith(DATASET_TAG_PREFIX)})
    if mv.dataset_version and mv.dataset_version not in training:
        training.insert(0, mv.dataset_version)
    files = _package(stores, mv)
    decisions = [
        d
        for d in stores.decisions.list_decisions(name, limit=MAX_DECISIONS)
        if version in (d.challenger_version, d.champion_version)
    ]
    return ModelCard(
        name=name,
        version=mv.version,
        uri=mv.uri,
        status=mv.status,
        aliases=list(mv.aliases),
        flavor=mv.flavor,
        created_at=mv.created_at,
        created_by=mv.created_by,
        description=mv.description,
        intended_use=intended,
        intended_use_source=intended_from,
        limitations=mv.tags.get(LIMITATIONS_TAG, ""),
        tags=dict(sorted(mv.tags.items())),
        run_id=mv.run_id,
        run_name=run.name if run is not None else None,
        training_data=training,
        metrics=metrics,
        params=dict(sorted(run.params.items())) if run is not None else {},
        fairness=fairness_slices(metrics_source),
        signature=mv.signature,
        package=files,
        package_size=sum(f.size for f in files),
        lineage=lineage_graph(stores, mv, run=run),
        decisions=decisions,
    )


def fairness_slices(metrics: dict[str, float]) -> list[FairnessSlice]:
    """The metrics named ``slice/<column>=<value>/<metric>``, by column, value and metric.

    >>> fairness_slices({"slice/region=south/accuracy": 0.8, "accuracy": 0.9})
    [FairnessSlice(column='region', value='south', metric='accuracy', score=0.8)]
    """
    found = []
    for key, score in metrics.items():
        if not key.startswith(SLICE_PREFIX):
            continue
        where, _, metric = key[len(SLICE_PREFIX) :].rpartition("/")
        column, eq, value = where.partition("=")
        if eq and column and metric:
            found.append(FairnessSlice(column, value, metric, score))
    return sorted(found, key=lambda s: (s.column, s.value, s.metric))


def lineage_graph(source: Any, version: ModelVersion, *, run: Any = None) -> LineageGraph:
    """The objects around ``version`` up to :data:`MAX_DEPTH` edges away, laid out in layers.

    The walk is breadth-first and follows the edges of runs, step runs, pipeline runs, decisions and
    policy cycles (one query per expanded node, at most :data:`MAX_NODES` nodes); datasets, aliases and
    policies end it. The version's aliases are added as its deployment (``alias`` edges).
    """
    stores = CardStores.of(source)
    root = ("model_version", f"{version.name}/{version.version}")
    seen: dict[tuple[str, str], int] = {root: 0}
    edges: dict[tuple[str, str, str, str, str], LineageEdge] = {}
    queue = deque([root])
    truncated = False
    while queue:
        node = queue.popleft()
        depth = seen[node]
        if depth >= MAX_DEPTH or node[0] not in _EXPANDED or (node[0] == "model_version" and node != root):
            continue
        for edge in stores.lineage.edges(node[0], node[1], direction="both"):
            ends = ((edge.source_type, edge.source_id), (edge.target_type, edge.target_id))
            if any(end[0] in _SKIPPED for end in ends):
                continue
            other = ends[0] if ends[1] == node else ends[1]
            if other not in seen:
                if len(seen) >= MAX_NODES:
                    truncated = True
                    continue
                seen[other] = depth + 1
                queue.append(other)
            key = (edge.source_type, edge.source_id, edge.target_type, edge.target_id, edge.relation)
            edges[key] = edge
    links = [LineageLink(f"{k[0]}:{k[1]}", f"{k[2]}:{k[3]}", k[4]) for k in edges]
    for alias in version.aliases:
        alias_node = ("model_alias", f"{version.name}@{alias}")
        seen.setdefault(alias_node, 1)
        links.append(LineageLink(_key(root), _key(alias_node), "alias"))
    links = list({(lk.source, lk.target, lk.relation): lk for lk in links}.values())
    steps = _step_pipeline_runs(stores, [n for n in seen if n[0] == "step_run"])
    for step_id, pipeline_run_id in steps.items():
        pipeline_node = ("pipeline_run", pipeline_run_id)
        seen.setdefault(pipeline_node, MAX_DEPTH)
        links.append(LineageLink(_key(pipeline_node), _key(("step_run", step_id)), "step"))
    labels = _labels(stores, list(seen), version, run)
    return LineageGraph(_key(root), _layout(list(seen), labels), links, truncated)


def _key(node: tuple[str, str]) -> str:
    return f"{node[0]}:{node[1]}"


def _layout(nodes: list[tuple[str, str]], labels: dict[tuple[str, str], tuple[str, str | None]]) -> list[LineageNode]:
    """Columns by node type (data left, deployment right); rows centred in each column."""
    columns: dict[int, list[tuple[str, str]]] = {}
    for node in sorted(nodes, key=lambda n: (_LAYER.get(n[0], 3), n[0], labels[n][0])):
        columns.setdefault(_LAYER.get(node[0], 3), []).append(node)
    placed = []
    for layer, members in sorted(columns.items()):
        for row, node in enumerate(members):
            label, link = labels[node]
            y = round((row - (len(members) - 1) / 2) * Y_GAP)
            placed.append(LineageNode(_key(node), node[0], label, link, layer, layer * X_GAP, y))
    return placed


def _labels(
    stores: CardStores, nodes: list[tuple[str, str]], version: ModelVersion, run: Any
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """Each node's label and page: dataset ids are named through the runs' ``loopml.dataset.*`` tags."""
    datasets = _dataset_uris(stores, [n for n in nodes if n[0] == "run"], run)
    labels: dict[tuple[str, str], tuple[str, str | None]] = {}
    for kind, ident in nodes:
        if kind == "dataset_version":
            uri = datasets.get(ident)
            if uri is None:
                labels[(kind, ident)] = (f"dataset {ident[:8]}", None)
            else:
                name, number = uri.removeprefix("datasets:/").rsplit("/", 1)
                labels[(kind, ident)] = (f"{name} v{number}", f"/datasets/{name}/versions/{number}")
        elif kind == "run":
            shown = run.name if run is not None and run.id == ident and run.name else f"run {ident[:8]}"
            labels[(kind, ident)] = (shown, f"/runs/{ident}")
        elif kind == "model_version":
            name, _, number = ident.rpartition("/")
            labels[(kind, ident)] = (f"{name} v{number}", f"/models/{name}/versions/{number}")
        elif kind == "model_alias":
            name, _, alias = ident.rpartition("@")
            labels[(kind, ident)] = (f"@{alias}", f"/models/{name}")
        elif kind == "pipeline_run":
            labels[(kind, ident)] = (f"pipeline run {ident[:8]}", f"/pipelines/runs/{ident}")
        elif kind == "step_run":
            labels[(kind, ident)] = (f"step {ident[:8]}", None)
        elif kind == "decision":
            labels[(kind, ident)] = (f"decision {ident[:8]}", f"/models/{version.name}#decision-{ident}")
        elif kind == "policy_cycle":
            labels[(kind, ident)] = (f"cycle {ident[:8]}", None)
        elif kind == "policy":
            labels[(kind, ident)] = (f"policy {ident}", None)
        else:
            labels[(kind, ident)] = (f"{kind} {ident[:24]}", None)
    return labels


def _dataset_uris(stores: CardStores, runs: list[tuple[str, str]], run: Any) -> dict[str, str]:
    """Dataset version id -> ``datasets:/NAME/VERSION`` for the datasets the graph's runs read."""
    uris: set[str] = set()
    for _, run_id in runs:
        found = run if run is not None and run.id == run_id else _run(stores, run_id)
        if found is not None:
            uris.update(v for k, v in found.tags.items() if k.startswith(DATASET_TAG_PREFIX))
    mapping: dict[str, str] = {}
    for uri in sorted(uris):
        try:
            dataset = stores.datasets.get_version(*check_dataset_version(uri))
        except (InvalidInput, NotFound):
            continue  # a tag naming 'latest' or a dataset deleted since
        mapping[dataset.id] = dataset.uri
    return mapping


def _step_pipeline_runs(stores: CardStores, steps: list[tuple[str, str]]) -> dict[str, str]:
    """Step run id -> its pipeline run id (steps are linked to runs by lineage, to pipeline runs by record)."""
    found = {}
    for _, step_id in steps:
        try:
            found[step_id] = stores.pipelines.get_step(step_id).pipeline_run_id
        except (NotFound, InvalidInput):
            continue
    return found


def _run(stores: CardStores, run_id: str | None) -> Any:
    if run_id is None:
        return None
    try:
        return stores.tracking.get_run(run_id)
    except NotFound:
        return None


def _intended_use(stores: CardStores, mv: ModelVersion) -> tuple[str, str]:
    """The intended use and which field it came from."""
    if mv.tags.get(INTENDED_USE_TAG):
        return mv.tags[INTENDED_USE_TAG], f"tag {INTENDED_USE_TAG}"
    if mv.description:
        return mv.description, "version description"
    model = next((m for m in stores.models.list_models() if m.name == mv.name), None)
    if model is not None and model.description:
        return model.description, "model description"
    return "", ""


def _package(stores: CardStores, mv: ModelVersion) -> list[PackageFile]:
    """The files of the version's package (its source ``runs:/ID/PATH``)."""
    if mv.run_id is None or not mv.source.startswith("runs:/"):
        return []
    path = mv.source.removeprefix("runs:/").partition("/")[2]
    files = stores.tracking.list_artifacts(mv.run_id, path)
    return [PackageFile(a.path.removeprefix(f"{path}/") if path else a.path, a.size) for a in files]


def get_model_card(name: str, version: int) -> ModelCard:
    """The card of ``models:/name/version`` from the current session's store (local or a server)."""
    from loopml.tracking.session import get_session

    return model_card(get_session(), name, version)
