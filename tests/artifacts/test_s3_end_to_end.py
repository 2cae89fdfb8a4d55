"""``LOOPML_ARTIFACT_URI=s3://...`` end to end: the SDK, the registry, datasets and a live ``loopml server``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.config import load_settings
from tests.conftest import S3Server, free_port
from tests.server.conftest import LiveServer, close_sdk_session, start_server


def _keys(server: S3Server, bucket: str) -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


@pytest.fixture
def s3_sdk(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The embedded SDK with its artifacts in a fresh bucket; the bucket's name."""
    bucket = s3_env.new_bucket()
    monkeypatch.setenv("LOOPML_ARTIFACT_URI", f"s3://{bucket}/artifacts")
    return bucket


def test_runs_models_and_datasets_live_in_the_bucket(s3_sdk: str, s3_env: S3Server, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<h1>ok</h1>")
    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 7})
    y = (X["a"] > 20).astype(int)
    model = LogisticRegression().fit(X, y)
    lm.set_experiment("s3")
    with lm.start_run(name="on-s3") as run:
        lm.log_artifact(report)
        lm.log_model(model, "model", input_example=X[:5])
    assert lm.read_artifact(f"runs:/{run.id}/report.html") == b"<h1>ok</h1>"
    mv = lm.register_model(f"runs:/{run.id}/model", name="churn-s3")
    loaded = lm.load_model(f"models:/churn-s3/{mv.version}")
    assert list(loaded.predict(X[:10])) == list(model.predict(X[:10]))

    csv = tmp_path / "customers.csv"
    X.assign(label=y).to_csv(csv, index=False)
    ds = lm.data.ingest(str(csv), name="customers")
    assert lm.data.load(f"datasets:/customers/{ds.version}").shape == (40, 3)

    keys = _keys(s3_env, s3_sdk)
    assert keys and all(k.startswith("artifacts/sha256/") for k in keys)
    assert any(k.endswith(ds.blob_sha256) for k in keys)
    home = load_settings().home
    assert not (home / "artifacts").exists()  # nothing went to the local default
    assert load_settings().prediction_root == home


@pytest.fixture(scope="module")
def s3_live(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """A ``loopml server`` subprocess whose artifact store is a bucket of moto's server."""
    bucket = s3_server.new_bucket()
    env = {**s3_server.env(), "LOOPML_ARTIFACT_URI": f"s3://{bucket}/server"}
    with start_server(tmp_path_factory.mktemp("s3-server"), env=env) as live:
        yield live, bucket


def test_a_server_on_s3_takes_uploads_and_streams_verified_downloads(
    s3_live: tuple[LiveServer, str], s3_server: S3Server, tmp_path: Path
) -> None:
    live, bucket = s3_live
    lm.configure(tracking_uri=live.url)
    try:
        data = bytes(range(256)) * 40_000  # ~10 MB: several chunks of the streamed download
        (tmp_path / "weights.bin").write_bytes(data)
        with lm.start_run(name="remote-s3") as run:
            lm.log_artifact(tmp_path / "weights.bin")
        with live.client() as http:
            got = http.get(f"/runs/{run.id}/artifacts/weights.bin")
            assert got.status_code == 200 and got.content == data
            sha = got.headers["x-loopml-sha256"]
            head = http.head(f"/blobs/{sha}")
            assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
            assert http.get(f"/blobs/{sha}").content == data
            assert lm.download_artifacts(run.id, "weights.bin", dst=tmp_path / "dl").read_bytes() == data
            assert any(k.endswith(sha) for k in _keys(s3_server, bucket))
            page = httpx.get(f"{live.url}/runs/{run.id}/files/weights.bin", timeout=30)  # the web UI's file route
            assert page.status_code == 200 and page.content == data
            assert httpx.get(f"{live.url}/runs/{run.id}/files/weights.bin?head=300", timeout=30).content == data[:300]

            s3_server.client().put_object(Bucket=bucket, Key=f"server/sha256/{sha[:2]}/{sha}", Body=data[:-1] + b"!")
            with pytest.raises(httpx.HTTPError):  # cut short before the last chunk: never the full bytes
                http.get(f"/runs/{run.id}/artifacts/weights.bin")
    finally:
        close_sdk_session()


@pytest.mark.parametrize("command", ["server", "serve"])
def test_an_unusable_bucket_is_one_clear_error_at_start_up(command: str, s3_server: S3Server, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "AWS_"))},
        **s3_server.env(),
        "LOOPML_HOME": str(tmp_path),
        "LOOPML_ARTIFACT_URI": "s3://loopml-missing-bucket/artifacts",
    }
    port = str(free_port())
    args = ["server", "--port", port] if command == "server" else ["serve", "models:/churn/1", "--port", port]
    done = subprocess.run(
        [sys.executable, "-m", "loopml.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode in (1, 2), done.stderr
    assert "LOOPML_ARTIFACT_URI" in done.stderr and "'loopml-missing-bucket' does not exist" in done.stderr
    assert "Traceback" not in done.stderr
