"""``/datasets``: every dataset, its versions, one version's schema, profile and lineage, and diffs.

Everything a page shows is in the stored version records (schema, profile, source): no data file
is read. The histograms are drawn in the browser from the stored profile, embedded as page data;
the diff is :func:`loopml.data.diff.diff_versions` (what ``loopml data diff`` prints).
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loopml.core.records import DatasetVersion
from loopml.data.diff import diff_versions
from loopml.server.pages.context import Page, PageContext
from loopml.store.sql import schema as t

router = APIRouter(include_in_schema=False)


def dataset_rows(page: PageContext) -> list[dict[str, Any]]:
    """Each dataset with its version count and its latest version's rows, columns, size and time (one query)."""
    v, d = t.dataset_versions.c, t.datasets.c
    latest = (
        sa.select(v.dataset_id, sa.func.max(v.version).label("latest"), sa.func.count().label("versions"))
        .group_by(v.dataset_id)
        .subquery()
    )
    query = (
        sa.select(
            d.name,
            d.created_at.label("dataset_created"),
            latest.c.versions,
            latest.c.latest,
            v.n_rows,
            v.n_columns,
            v.size_bytes,
            v.created_at,
            v.created_by,
        )
        .select_from(
            t.datasets.outerjoin(latest, latest.c.dataset_id == d.id).outerjoin(
                t.dataset_versions, sa.and_(v.dataset_id == d.id, v.version == latest.c.latest)
            )
        )
        .order_by(d.name)
    )
    with page.backend.datasets.db.read() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


DatasetName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$", description="A dataset name.")]
VERSION_PATTERN = r"^(latest|[1-9][0-9]{0,8})$"
"""A version number or ``latest`` (anything else is a 400 page naming the parameter)."""


def parse_version(value: str) -> int | str:
    """``latest`` or the version number (the pattern was checked by FastAPI)."""
    return value if value == "latest" else int(value)


def column_charts(version: DatasetVersion) -> list[dict[str, Any]]:
    """What the profile charts draw per column: a histogram (numbers) or the top values (strings)."""
    charts: list[dict[str, Any]] = []
    for name, stats in version.profile.get("columns", {}).items():
        chart: dict[str, Any] = {"column": name, "dtype": stats.get("dtype"), "nulls": stats.get("null_count")}
        if "histogram" in stats:
            chart["edges"] = stats["histogram"].get("bin_edges", [])
            chart["counts"] = stats["histogram"].get("counts", [])
        elif stats.get("top_values"):
            chart["categories"] = [str(item["value"]) for item in stats["top_values"]]
            chart["counts"] = [item["count"] for item in stats["top_values"]]
        else:
            continue
        charts.append(chart)
    return charts


def version_view(page: PageContext, name: str, version: int | str) -> dict[str, Any]:
    """One version as ``dv`` (``version`` is the footer's loopml version): the record, the profile per
    schema column, the charts and the lineage edges (who read it)."""
    backend = page.backend
    found = backend.datasets.get_version(name, version)
    profile = found.profile.get("columns", {})
    columns = [{**column, "stats": profile.get(column["name"], {})} for column in found.schema.get("columns", [])]
    edges = backend.lineage.edges("dataset_version", found.id)
    versions = _version_numbers(page, name)
    return {
        "dv": found,
        "columns": columns,
        "charts": column_charts(found),
        "edges": edges,
        "versions": versions,
    }


def _version_numbers(page: PageContext, name: str) -> list[int]:
    v, d = t.dataset_versions.c, t.datasets.c
    query = (
        sa.select(v.version).select_from(t.dataset_versions.join(t.datasets, d.id == v.dataset_id))
        .where(d.name == name).order_by(v.version)
    )  # fmt: skip
    with page.backend.datasets.db.read() as conn:
        return [int(x) for x in conn.execute(query).scalars()]


@router.get("/datasets")
async def datasets(page: Page) -> Response:
    rows = await run_in_threadpool(dataset_rows, page)
    return page.render("datasets.html.j2", section="/datasets", datasets=rows)


@router.get("/datasets/{name}")
async def dataset(page: Page, name: DatasetName) -> Response:
    versions = await run_in_threadpool(page.backend.datasets.list_versions, name)
    return page.render("dataset.html.j2", section="/datasets", name=name, versions=list(reversed(versions)))


@router.get("/datasets/{name}/diff")
async def dataset_diff(
    page: Page,
    name: DatasetName,
    a: Annotated[str, Query(pattern=VERSION_PATTERN, description="The reference version.")],
    b: Annotated[str, Query(pattern=VERSION_PATTERN, description="The version compared with it.")],
) -> Response:
    va, vb = parse_version(a), parse_version(b)

    def compute() -> dict[str, Any]:
        first = page.backend.datasets.get_version(name, va)
        second = page.backend.datasets.get_version(name, vb)
        return {"a": first, "b": second, "diff": diff_versions(first, second), "versions": _version_numbers(page, name)}

    data = await run_in_threadpool(compute)
    return page.render("dataset_diff.html.j2", section="/datasets", name=name, **data)


@router.get("/datasets/{name}/versions/{version}")
async def dataset_version(
    page: Page, name: DatasetName, version: Annotated[str, Path(pattern=VERSION_PATTERN)]
) -> Response:
    data = await run_in_threadpool(version_view, page, name, parse_version(version))
    charts = data.pop("charts")
    return page.render("dataset_version.html.j2", section="/datasets", name=name, page_data={"charts": charts}, **data)
