"""Autolog of XGBoost and LightGBM: their train() functions and their scikit-learn estimators."""

from __future__ import annotations

import json

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn import metrics as skm

import loopml as lm

pytestmark = [pytest.mark.usefixtures("autolog"), pytest.mark.slow]  # the boosting libraries and skops take seconds


def _only_run():  # type: ignore[no-untyped-def]
    runs = lm.search_runs()
    assert len(runs) == 1, runs[["run_name", "parent_run_id"]]
    return runs.iloc[0]


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(point.step, point.value) for point in lm.get_metric_history(run_id, key)]


def test_xgboost_train_logs_params_eval_history_importance_and_the_json_booster(classification, tmp_path) -> None:
    X, y = classification
    train, valid = xgboost.DMatrix(X[:40], label=y[:40]), xgboost.DMatrix(X[40:], label=y[40:])
    params = {"objective": "binary:logistic", "max_depth": 2, "eval_metric": ["logloss", "error"]}
    booster = xgboost.train(params, train, num_boost_round=4, evals=[(train, "train"), (valid, "eval")],
                            verbose_eval=False)  # fmt: skip
    run = _only_run()
    assert run["run_name"] == "xgboost.train" and run["tags.loopml.autolog"] == "xgboost"
    assert run["params.max_depth"] == "2" and run["params.num_boost_round"] == "4"
    assert run["params.eval_metric"] == "['logloss', 'error']"
    expected: dict[str, dict[str, list[float]]] = {}
    xgboost.train(
        params,
        train,
        num_boost_round=4,
        evals=[(train, "train"), (valid, "eval")],
        verbose_eval=False,
        evals_result=expected,
    )  # fmt: skip  (a second run, with the caller's own evals_result)
    history = _history(run["run_id"], "eval-logloss")
    assert [step for step, _ in history] == [0, 1, 2, 3]
    assert [value for _, value in history] == pytest.approx(expected["eval"]["logloss"])
    assert len(_history(run["run_id"], "train-error")) == 4
    assert expected["train"]["error"], "the caller's evals_result is still filled"
    dataset = json.loads(run["tags.loopml.autolog.dataset"])
    assert dataset["shape"] == [40, 3] and dataset["feature_names"] == ["a", "b", "c"]
    importance = json.loads(lm.read_artifact(f"runs:/{run['run_id']}/feature_importance.json"))
    assert importance["weight"] == booster.get_score(importance_type="weight")
    path = lm.download_artifacts(run["run_id"], "model/xgboost-model.json", tmp_path)
    loaded = xgboost.Booster(model_file=str(path))
    np.testing.assert_allclose(loaded.predict(valid), booster.predict(valid))


def test_xgb_classifier_logs_sklearn_metrics_eval_history_and_a_skops_package(classification) -> None:
    X, y = classification
    model = xgboost.XGBClassifier(n_estimators=3, max_depth=2)
    model.fit(X, y, eval_set=[(X, y)], verbose=False)
    run = _only_run()  # xgboost.train inside fit is not a second run
    assert run["run_name"] == "XGBClassifier" and run["tags.loopml.autolog"] == "xgboost"
    assert run["params.n_estimators"] == "3" and run["params.max_depth"] == "2"
    assert run["metrics.training_accuracy_score"] == pytest.approx(skm.accuracy_score(y, model.predict(X)))
    assert len(_history(run["run_id"], "validation_0-logloss")) == 3
    uri = f"runs:/{run['run_id']}/model"
    with pytest.raises(lm.SecurityError, match="xgboost"):
        lm.load_model(uri)
    loaded = lm.load_model(uri, trusted_types=["xgboost.core.Booster", "xgboost.sklearn.XGBClassifier"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_lightgbm_train_logs_params_eval_history_and_the_text_booster(classification, tmp_path) -> None:
    X, y = classification
    train = lightgbm.Dataset(X[:40], label=y[:40])
    valid = lightgbm.Dataset(X[40:], label=y[40:], reference=train)
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1}
    callbacks = [lightgbm.log_evaluation(0)]
    booster = lightgbm.train(params, train, num_boost_round=3, valid_sets=[valid], valid_names=["valid"],
                             callbacks=callbacks)  # fmt: skip
    assert len(callbacks) == 1, "the caller's list is left as it was"
    run = _only_run()
    assert run["run_name"] == "lightgbm.train" and run["tags.loopml.autolog"] == "lightgbm"
    assert run["params.num_leaves"] == "4" and run["params.num_boost_round"] == "3"
    history = _history(run["run_id"], "valid-binary_logloss")
    assert [step for step, _ in history] == [0, 1, 2]
    assert json.loads(run["tags.loopml.autolog.dataset"])["shape"] == [40, 3]  # the frame the Dataset came from
    importance = json.loads(lm.read_artifact(f"runs:/{run['run_id']}/feature_importance.json"))
    assert importance["split"] == dict(
        zip(booster.feature_name(), booster.feature_importance("split").tolist(), strict=True)
    )
    path = lm.download_artifacts(run["run_id"], "model/lightgbm-model.txt", tmp_path)
    loaded = lightgbm.Booster(model_file=str(path))
    np.testing.assert_allclose(loaded.predict(X), booster.predict(X))


def test_lgbm_regressor_logs_regression_metrics_and_a_skops_package(regression) -> None:
    X, y = regression
    model = lightgbm.LGBMRegressor(n_estimators=5, num_leaves=4, min_child_samples=5, verbose=-1).fit(X, y)
    run = _only_run()
    assert run["run_name"] == "LGBMRegressor" and run["tags.loopml.autolog"] == "lightgbm"
    assert run["params.num_leaves"] == "4"
    assert run["metrics.training_r2_score"] == pytest.approx(skm.r2_score(y, model.predict(X)))
    trusted = ["collections.OrderedDict", "lightgbm.basic.Booster", "lightgbm.sklearn.LGBMRegressor"]
    loaded = lm.load_model(f"runs:/{run['run_id']}/model", trusted_types=trusted)
    assert [spec.name for spec in loaded.signature.inputs] == ["0", "1", "2"]  # an array's columns, by position
    frame = pd.DataFrame(X, columns=["0", "1", "2"])
    np.testing.assert_allclose(loaded.predict(frame), model.predict(X))
