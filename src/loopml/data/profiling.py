"""Profile a table in DuckDB: per-column counts, statistics, quantiles, histograms and top values.

>>> import pandas as pd
>>> p = profile(pd.DataFrame({"x": [1.0, 2.0, None], "plan": ["a", "b", "a"]}))
>>> p["n_rows"], p["columns"]["x"]["null_count"], p["columns"]["plan"]["top_values"][0]
(3, 1, {'value': 'a', 'count': 2})

The input is a DataFrame, an Arrow table or the path of a Parquet file; DuckDB scans it in place
(a Parquet file is never loaded into pandas), with three queries whatever the number of columns:
one aggregate over every column, one for the histograms and one for the top values. Each call
opens its own in-memory DuckDB connection, so ``profile`` is safe to call from many threads.

Every column gets ``dtype`` (the loopml dtype, see :mod:`loopml.data.schema`, or ``"other"``),
``null_count`` and ``distinct_count`` (nulls excluded). Then, by dtype:

* ``int`` / ``float``: ``min``, ``max``, ``mean``, ``std`` (sample, ddof=1 like pandas),
  ``quantiles`` (``p01`` ... ``p99``, linear interpolation like numpy), ``histogram``
  (``bin_edges``, ``counts``: the same bins as ``numpy.histogram(values, bins=20)``, or one bin
  when the range cannot be split, e.g. a constant near 1e16 or a span overflowing float64) and
  ``inf_count``. NaN counts as null (as in pandas); infinite values are counted in
  ``inf_count`` and left out of the statistics, so every number in the profile is finite.
* ``string``: ``top_values``, the ten most frequent values ``[{"value", "count"}]`` (ties by value).
* ``bool``: ``true_count`` and ``false_count``.
* ``datetime``: ``min`` and ``max`` as ISO 8601 strings (time-zone-aware columns in UTC).

The result is JSON-serialisable (plain Python numbers, strings, lists and dicts; no NaN).

Up to ``EXACT_MAX_ROWS`` rows (200,000) distinct counts and quantiles are exact. Above it they
come from DuckDB's sketches (HyperLogLog for ``distinct_count``, T-Digest for ``quantiles``),
which keeps large profiles fast; the result then says ``"approximate": true``. Pass
``exact=True`` to force exact statistics. Counts, min, max, mean, std and histograms are always exact.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # imported where used: DuckDB loads only when a profile is computed
    from duckdb import DuckDBPyConnection

QUANTILES: dict[str, float] = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
HISTOGRAM_BINS = 20
TOP_VALUES = 10
EXACT_MAX_ROWS = 200_000
DUCKDB_MEMORY_LIMIT = "512MB"

_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_INT_TYPES |= {"UBIGINT", "UHUGEINT"}
_TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"}


def profile(
    data: pd.DataFrame | pa.Table | str | os.PathLike[str],
    *,
    bins: int = HISTOGRAM_BINS,
    top: int = TOP_VALUES,
    exact: bool | None = None,
) -> dict[str, Any]:
    """``{"n_rows", "n_columns", "columns": {name: {...}}}`` for a DataFrame, Arrow table or Parquet file."""
    import duckdb

    if bins < 1 or top < 1:
        raise InvalidInput(f"profile() needs bins >= 1 and top >= 1, got bins={bins}, top={top}.")
    if isinstance(data, pd.DataFrame | pa.Table) and data.shape[1] == 0:
        return {"n_rows": int(data.shape[0]), "n_columns": 0, "columns": {}}
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        # a bounded working set: DuckDB spills to disk past it instead of growing with the data
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        con.execute("SET preserve_insertion_order = false")
        try:
            names = _register(con, data)
            described = con.execute("DESCRIBE SELECT * FROM src").fetchall()
            kinds = [_kind(row[1]) for row in described]
            columns = [
                f"{_normalised(_quote(row[0]), row[1], kind)} AS c{i}"
                for i, (row, kind) in enumerate(zip(described, kinds, strict=True))
            ]
            con.execute(f"CREATE TEMP VIEW t AS SELECT {', '.join(columns)} FROM src")
            if exact is None:
                exact = con.execute("SELECT count(*) FROM src").fetchall()[0][0] <= EXACT_MAX_ROWS
            n_rows, stats = _aggregate(con, kinds, [row[1] for row in described], exact=exact)
            histograms = _histograms(con, kinds, stats, bins)
            tops = _top_values(con, kinds, top)
        except duckdb.Error as exc:
            raise InvalidInput(f"Cannot profile {_describe(data)}: {exc}") from exc
    result: dict[str, Any] = {}
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        column = {"dtype": kind, "null_count": n_rows - stats[i]["non_null"], "distinct_count": stats[i]["distinct"]}
        column.update({k: v for k, v in stats[i].items() if k not in ("non_null", "distinct")})
        if i in histograms:
            column["histogram"] = histograms[i]
        if kind == "string":
            column["top_values"] = tops.get(i, [])
        result[name] = column
    out: dict[str, Any] = {"n_rows": n_rows, "n_columns": len(names), "columns": result}
    if not exact:
        out["approximate"] = True
    return out


def _register(con: DuckDBPyConnection, data: Any) -> list[str]:
    """Expose ``data`` to DuckDB as view ``src``; return the original column names in order."""
    if isinstance(data, pd.DataFrame | pa.Table):
        names = [str(c) for c in (data.columns if isinstance(data, pd.DataFrame) else data.column_names)]
        _check_names(names)
        con.register("src", data)
    elif isinstance(data, str | os.PathLike):
        import pyarrow.parquet as pq

        path = Path(data)
        if not path.is_file():
            raise NotFound(f"Parquet file {str(path)!r} does not exist.")
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"{str(path)!r} is not a readable Parquet file: {exc}") from exc
        _check_names(names)
        con.read_parquet(str(path)).to_view("src")
    else:
        raise InvalidInput(f"profile() takes a DataFrame, an Arrow table or a Parquet path, got {type(data).__name__}.")
    return names


def _check_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"Data has duplicate column names {duplicated}; rename them before profiling.")


def _describe(data: Any) -> str:
    return repr(str(data)) if isinstance(data, str | os.PathLike) else f"the {type(data).__name__}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _kind(sql_type: str) -> str:
    """The loopml dtype of a DuckDB column type (``"other"`` for lists, structs, blobs, ...)."""
    if sql_type in _INT_TYPES:
        return "int"
    if sql_type in ("FLOAT", "DOUBLE") or sql_type.startswith("DECIMAL"):
        return "float"
    if sql_type == "BOOLEAN":
        return "bool"
    if sql_type in ("VARCHAR", "NULL", '"NULL"') or sql_type.startswith("ENUM("):  # NULL: all-None objects
        return "string"
    if sql_type == "DATE" or sql_type in _TIMESTAMP_TYPES:
        return "datetime"
    return "other"


def _normalised(column: str, sql_type: str, kind: str) -> str:
    """The column as profiled: floats as DOUBLE with NaN as NULL, enums as VARCHAR."""
    if kind == "float":
        return f"CASE WHEN isnan(CAST({column} AS DOUBLE)) THEN NULL ELSE CAST({column} AS DOUBLE) END"
    if kind == "string" and sql_type != "VARCHAR":
        return f"CAST({column} AS VARCHAR)"
    return column


def _aggregate(
    con: DuckDBPyConnection, kinds: list[str], sql_types: list[str], *, exact: bool = True
) -> tuple[int, list[dict[str, Any]]]:
    """One pass over every column: counts and the statistics of each dtype."""
    quantiles = "[" + ", ".join(str(q) for q in QUANTILES.values()) + "]"
    parts: list[tuple[int, str, str]] = []  # (column index, key, SQL)
    for i, kind in enumerate(kinds):
        c = f"c{i}"
        parts.append((i, "non_null", f"count({c})"))
        distinct = f"count(DISTINCT {c})" if exact else f"approx_count_distinct({c})"
        parts.append((i, "distinct", distinct if kind != "other" else "NULL"))
        if kind in ("int", "float"):
            finite = f" FILTER (WHERE isfinite({c}))" if kind == "float" else ""
            x = f"CAST({c} AS DOUBLE)"
            parts += [
                (i, "min", f"min({c}){finite}"),
                (i, "max", f"max({c}){finite}"),
                (i, "mean", f"avg({x}){finite}"),
                (i, "std", f"stddev_samp({x}){finite}"),
                (i, "quantiles", f"{'quantile_cont' if exact else 'approx_quantile'}({x}, {quantiles}){finite}"),
                (i, "inf_count", f"count(*) FILTER (WHERE isinf({c}))" if kind == "float" else "0"),
            ]
        elif kind == "bool":
            parts += [
                (i, "true_count", f"count(*) FILTER (WHERE {c})"),
                (i, "false_count", f"count(*) FILTER (WHERE NOT {c})"),
            ]
        elif kind == "datetime":
            parts += [
                (i, "min", _time_sql(f"min({c})", sql_types[i])),
                (i, "max", _time_sql(f"max({c})", sql_types[i])),
            ]
    select = ", ".join(["count(*)", *(sql for _, _, sql in parts)])
    row = con.execute(f"SELECT {select} FROM t").fetchall()[0]  # an aggregate: exactly one row
    stats: list[dict[str, Any]] = [{} for _ in kinds]
    for (i, key, _), value in zip(parts, row[1:], strict=True):
        stats[i][key] = _clean(key, value, kinds[i], sql_types[i])
    return int(row[0]), stats


def _time_sql(expr: str, sql_type: str) -> str:
    """Times are fetched as epoch numbers (DuckDB needs pytz to return zoned datetimes)."""
    if sql_type == "DATE":
        return f"CAST({expr} AS VARCHAR)"
    return f"epoch_ns({expr})" if sql_type == "TIMESTAMP_NS" else f"epoch_us({expr})"


def _clean(key: str, value: Any, kind: str, sql_type: str) -> Any:
    """Plain JSON-friendly values: finite floats or None, ints, ISO strings."""
    if key == "quantiles":
        return None if value is None else {k: _finite(v) for k, v in zip(QUANTILES, value, strict=True)}
    if kind == "datetime" and key in ("min", "max"):
        if value is None or sql_type == "DATE":
            return value
        unit = "ns" if sql_type == "TIMESTAMP_NS" else "us"
        tz = "UTC" if sql_type == "TIMESTAMP WITH TIME ZONE" else None
        return pd.Timestamp(int(value), unit=unit, tz=tz).isoformat()
    if isinstance(value, float) or (kind == "float" and key in ("min", "max")):
        return _finite(value)
    return None if value is None else int(value)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _histograms(
    con: DuckDBPyConnection, kinds: list[str], stats: list[dict[str, Any]], bins: int
) -> dict[int, dict[str, list[Any]]]:
    """Bin counts of every numeric column in one query, with numpy.histogram's bins and edge rules."""
    queries, params, edges_of, single = [], [], {}, {}
    for i, kind in enumerate(kinds):
        low, high = stats[i].get("min"), stats[i].get("max")
        if kind not in ("int", "float") or low is None or high is None:
            continue
        low, high = float(low), float(high)
        if low == high:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, bins + 1) if high - low < math.inf else np.array([low, high])
        if len(edges) != bins + 1 or not np.all(np.diff(edges) > 0):  # float64 cannot split it: one bin
            single[i] = {"bin_edges": [low, high], "counts": [stats[i]["non_null"] - stats[i]["inf_count"]]}
            continue
        edges_of[i] = edges
        queries.append(
            f"SELECT {i} AS col, CASE WHEN x < e[k + 1] THEN k - 1 WHEN x >= e[k + 2] AND k <> {bins - 1} "
            f"THEN k + 1 ELSE k END AS bin FROM (SELECT x, e, least(CAST(trunc((x - lo) / d * {bins}) AS BIGINT), "
            f"{bins - 1}) AS k FROM (SELECT CAST(c{i} AS DOUBLE) AS x, ?::DOUBLE AS lo, ?::DOUBLE AS d, "
            f"?::DOUBLE[] AS e FROM t WHERE isfinite(c{i})))"
        )
        params += [low, high - low, edges.tolist()]
    if not queries:
        return single
    sql = f"SELECT col, bin, count(*) FROM ({' UNION ALL '.join(queries)}) GROUP BY col, bin"
    counts = {i: [0] * bins for i in edges_of}
    for col, index, count in con.execute(sql, params).fetchall():
        counts[col][index] = int(count)
    return single | {i: {"bin_edges": edges_of[i].tolist(), "counts": counts[i]} for i in edges_of}


def _top_values(con: DuckDBPyConnection, kinds: list[str], top: int) -> dict[int, list[dict[str, Any]]]:
    """The ``top`` most frequent values of every string column, in one query."""
    queries = [
        f"(SELECT {i} AS col, c{i} AS value, count(*) AS n FROM t WHERE c{i} IS NOT NULL "
        f"GROUP BY c{i} ORDER BY n DESC, value LIMIT {top})"
        for i, kind in enumerate(kinds)
        if kind == "string"
    ]
    if not queries:
        return {}
    out: dict[int, list[dict[str, Any]]] = {}
    rows = con.execute(" UNION ALL ".join(queries)).fetchall()
    for col, value, count in sorted(rows, key=lambda r: (r[0], -r[2], r[1])):
        out.setdefault(col, []).append({"value": value, "count": int(count)})
    return out
