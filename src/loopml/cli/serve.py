"""``loopml serve MODEL_URI``: serve a model over HTTP (``loopml.serving.serve``) until interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EPILOG = (
    "Example: [bold]loopml serve models:/churn@production --port 8080[/bold], then "
    """[bold]curl -H 'content-type: application/json' -d '{"inputs": [{"age": 31}]}' localhost:8080/predict[/bold] """
    '(add [bold]"params": {"method": "predict_proba"}[/bold] for class probabilities). '
    "Alias URIs hot-reload: [bold]loopml models alias churn production --version 2[/bold] switches the served "
    "version with no failed requests. A version whose skops file needs types outside loopml's allow-list "
    "is refused (the server keeps the version it has) unless you name them: [bold]--trust-types mypkg.Model[/bold]. "
    "Every prediction is logged (Parquet under the artifact root, by model and hour; read it with "
    "[bold]lm.monitoring.predictions('churn', since='24h')[/bold]): "
    "[bold]loopml serve models:/churn@production --log-sample 0.1 --log-retention 30d[/bold] keeps 10% of "
    "requests for 30 days; [bold]--no-log[/bold] turns it off. "
    "Beside the champion: [bold]--shadow models:/churn@challenger[/bold] scores every request with the "
    "challenger too, off the request path, and logs it as role=shadow; [bold]--canary models:/churn@challenger "
    "--canary-share 0.1 --canary-key x-user-id[/bold] answers 10% of users with the canary (sticky per header). "
    "Open Inference Protocol clients (tritonclient, KServe) use /v2 over HTTP, and gRPC with "
    "[bold]--grpc-port 8081[/bold]."
)


def serve(
    model_uri: Annotated[
        str, typer.Argument(help="runs:/<run id>/model, models:/<name>/<version> or models:/<name>@<alias>.")
    ],
    host: Annotated[str, typer.Option("--host", help="Interface to listen on; beyond loopback needs --insecure.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes (one model each).")] = 1,
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", min=1, help="Most rows combined into one predict call.")
    ] = 64,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", min=0, help="Longest wait for concurrent requests to join a batch.")
    ] = 2.0,
    reload_interval: Annotated[
        float, typer.Option("--reload-interval", min=0.01, help="Seconds between registry checks of an alias URI.")
    ] = 2.0,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Largest request body; bigger ones get 413.")
    ] = 16 * 1024 * 1024,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust", help="Allow pickled models and every skops type. Only for models you produced yourself."
        ),
    ] = False,
    trust_types: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-types",
            help="Extra types skops models may construct (comma list or repeated), e.g. mypkg.Model; adds to "
            "LOOPML_TRUSTED_TYPES. Applies to every version an alias moves to.",
        ),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback host (the endpoints have no authentication).")
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="critical, error, warning, info, debug or trace.")
    ] = "info",
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request (slower).")] = False,
    log: Annotated[
        bool,
        typer.Option(
            "--log/--no-log", help="Record every prediction in the prediction log (Parquet, by model and hour)."
        ),
    ] = True,
    log_sample: Annotated[
        float, typer.Option("--log-sample", help="Share of requests to log, e.g. 0.1 for 10% (decided per request).")
    ] = 1.0,
    log_retention: Annotated[
        str | None,
        typer.Option(
            "--log-retention", help="Delete logged hours older than this, e.g. 30d, 12h, 90m (default: keep)."
        ),
    ] = None,
    log_flush_interval: Annotated[
        float,
        typer.Option(
            "--log-flush-interval",
            help="Seconds between log flushes: at most this much (or --log-flush-rows rows) is lost if killed.",
        ),
    ] = 1.0,
    log_flush_rows: Annotated[
        int, typer.Option("--log-flush-rows", help="Buffered rows that trigger a log flush before the interval.")
    ] = 10_000,
    log_proba: Annotated[
        bool,
        typer.Option("--log-proba/--no-log-proba", help="Log class probabilities (one predict_proba call per batch)."),
    ] = True,
    shadow: Annotated[
        str | None,
        typer.Option("--shadow", help="A model URI scored on every request off the request path and logged."),
    ] = None,
    shadow_queue: Annotated[
        int, typer.Option("--shadow-queue", min=1, help="Batches waiting for the shadow at most (beyond: skipped).")
    ] = 64,
    canary: Annotated[
        str | None, typer.Option("--canary", help="A model URI that answers --canary-share of the requests.")
    ] = None,
    canary_share: Annotated[
        float | None, typer.Option("--canary-share", help="Share of requests the canary answers, in (0, 1).")
    ] = None,
    canary_key: Annotated[
        str | None,
        typer.Option("--canary-key", help="Request header that makes the choice sticky per value, e.g. x-user-id."),
    ] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            "--grpc-port",
            min=1,
            max=65535,
            help="Also serve the Open Inference Protocol over gRPC (KServe v2) on this port; needs loopml[grpc].",
        ),
    ] = None,
    feature_defs: Annotated[
        Path | None,
        typer.Option(
            "--feature-defs",
            help="Feature definitions file to import: the code of the on-demand views the model's features use.",
        ),
    ] = None,
) -> None:
    """Serve a model: /predict, /invocations (MLflow), /v2 (Open Inference Protocol), /metrics (blocks)."""
    from loopml.config import load_settings
    from loopml.core.trust import parse_type_names
    from loopml.serving import ServingConfig
    from loopml.serving import serve as run

    extra = parse_type_names(trust_types, field="--trust-types")
    trusted_types = tuple(dict.fromkeys((*load_settings().trusted_types, *extra)))

    config = ServingConfig(
        model_uri,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        reload_interval=reload_interval,
        max_body_bytes=max_body_bytes,
        trust=trust,
        trusted_types=trusted_types,
        log=log,
        log_sample=log_sample,
        log_retention=log_retention,
        log_flush_interval=log_flush_interval,
        log_flush_rows=log_flush_rows,
        log_proba=log_proba,
        shadow_uri=shadow,
        shadow_queue=shadow_queue,
        canary_uri=canary,
        canary_share=canary_share,
        canary_key=canary_key,
        feature_defs=None if feature_defs is None else str(feature_defs),
        grpc_port=grpc_port,
    )
    run(
        config,
        host=host,
        port=port,
        workers=workers,
        insecure=insecure,
        log_level=log_level,
        access_log=access_log,
    )
