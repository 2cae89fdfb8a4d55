from __future__ import annotations

import numpy as np
import pandas as pd

from loopml.data import catalog as data


def test_diff_reports_structure_and_shift() -> None:
    rng = np.random.default_rng(0)
    a = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 2000),
            "plan": rng.choice(["basic", "pro"], 2000),
            "income": rng.normal(50_000, 5_000, 2000),
            "dropped": 1,
        }
    )
    b = a.drop(columns=["dropped"]).assign(
        age=rng.normal(48, 10, 2500)[:2000],  # mean moves by ~0.8 std
        extra="x",
    )
    b = pd.concat([b, b.iloc[:100]], ignore_index=True)
    b.loc[b.index[:50], "plan"] = "enterprise"
    va = data.ingest(a, name="people")
    vb = data.ingest(b, name="people")
    diff = data.diff(va.uri, vb.uri)
    assert diff.row_change == 100
    assert diff.added_columns == ["extra"] and diff.removed_columns == ["dropped"]
    assert diff.type_changes == []
    columns = {c.column: c for c in diff.columns}
    assert columns["age"].shifted and 0.5 < columns["age"].mean_shift_in_std < 1.1
    assert not columns["income"].shifted
    assert "age" in diff.shifted_columns and "income" not in diff.shifted_columns
    as_dict = diff.to_dict()
    assert as_dict["row_change"] == 100 and as_dict["a"] == "datasets:/people/1"
