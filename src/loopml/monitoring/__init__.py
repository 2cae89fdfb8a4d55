"""Monitoring: the prediction log, feedback, drift, quality, reports and alerts of served models.

>>> import loopml as lm                                                     # doctest: +SKIP
>>> window = lm.monitoring.predictions("churn", since="24h")                # what `loopml serve` logged
>>> lm.monitoring.log_feedback("churn", window.frame["request_id"], labels) # ground truth, later
>>> lm.monitoring.drift("models:/churn/3", window).drifted                  # against the training profile
>>> lm.monitoring.quality("churn", since="7d", window="1d").realised        # with labels; .estimated without

Names are imported on first use, so ``import loopml.monitoring`` (which serving does) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # the SDK over a session
    "predictions": "loopml.monitoring.api",
    "quality": "loopml.monitoring.api",
    "operations": "loopml.monitoring.api",
    "report": "loopml.monitoring.api",
    "alerts": "loopml.monitoring.api",
    "QualityResult": "loopml.monitoring.api",
    "MonitorReport": "loopml.monitoring.api",
    "log_feedback": "loopml.monitoring.feedback",
    "log_feedback_file": "loopml.monitoring.feedback",
    # drift and profiles
    "drift": "loopml.monitoring.detect",
    "profile": "loopml.monitoring.profiles",
    "DataProfile": "loopml.data.sketch",
    "DriftReport": "loopml.monitoring.records",
    "ColumnHistogram": "loopml.monitoring.records",
    # quality and operations over frames
    "realised_quality": "loopml.monitoring.performance",
    "with_labels": "loopml.monitoring.performance",
    "CBPE": "loopml.monitoring.cbpe",
    "latency_summary": "loopml.monitoring.traffic",
    # the log itself
    "PredictionLog": "loopml.monitoring.prediction_log",
    "PredictionWindow": "loopml.monitoring.prediction_log",
    "read_predictions": "loopml.monitoring.prediction_log",
    # reports, alerts, the service
    "drift_html": "loopml.monitoring.reports",
    "monitor_html": "loopml.monitoring.reports",
    "write_html": "loopml.monitoring.reports",
    "AlertRule": "loopml.monitoring.alerting",
    "AlertManager": "loopml.monitoring.alerting",
    "MonitorSnapshot": "loopml.monitoring.alerting",
    "evaluate": "loopml.monitoring.alerting",
    "rules_from_config": "loopml.monitoring.alerting",
    "LogSink": "loopml.monitoring.sinks",
    "WebhookSink": "loopml.monitoring.sinks",
    "PrometheusSink": "loopml.monitoring.sinks",
    "MonitorConfig": "loopml.monitoring.service",
    "Monitor": "loopml.monitoring.service",
    "BackgroundMonitor": "loopml.monitoring.service",
    "run_pass": "loopml.monitoring.service",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from loopml.data.sketch import DataProfile as DataProfile
    from loopml.monitoring.alerting import AlertManager as AlertManager
    from loopml.monitoring.alerting import AlertRule as AlertRule
    from loopml.monitoring.alerting import MonitorSnapshot as MonitorSnapshot
    from loopml.monitoring.alerting import evaluate as evaluate
    from loopml.monitoring.alerting import rules_from_config as rules_from_config
    from loopml.monitoring.api import MonitorReport as MonitorReport
    from loopml.monitoring.api import QualityResult as QualityResult
    from loopml.monitoring.api import alerts as alerts
    from loopml.monitoring.api import operations as operations
    from loopml.monitoring.api import predictions as predictions
    from loopml.monitoring.api import quality as quality
    from loopml.monitoring.api import report as report
    from loopml.monitoring.cbpe import CBPE as CBPE
    from loopml.monitoring.detect import drift as drift
    from loopml.monitoring.feedback import log_feedback as log_feedback
    from loopml.monitoring.feedback import log_feedback_file as log_feedback_file
    from loopml.monitoring.performance import realised_quality as realised_quality
    from loopml.monitoring.performance import with_labels as with_labels
    from loopml.monitoring.prediction_log import PredictionLog as PredictionLog
    from loopml.monitoring.prediction_log import PredictionWindow as PredictionWindow
    from loopml.monitoring.prediction_log import read_predictions as read_predictions
    from loopml.monitoring.profiles import profile as profile
    from loopml.monitoring.records import ColumnHistogram as ColumnHistogram
    from loopml.monitoring.records import DriftReport as DriftReport
    from loopml.monitoring.reports import drift_html as drift_html
    from loopml.monitoring.reports import monitor_html as monitor_html
    from loopml.monitoring.reports import write_html as write_html
    from loopml.monitoring.service import BackgroundMonitor as BackgroundMonitor
    from loopml.monitoring.service import Monitor as Monitor
    from loopml.monitoring.service import MonitorConfig as MonitorConfig
    from loopml.monitoring.service import run_pass as run_pass
    from loopml.monitoring.sinks import LogSink as LogSink
    from loopml.monitoring.sinks import PrometheusSink as PrometheusSink
    from loopml.monitoring.sinks import WebhookSink as WebhookSink
    from loopml.monitoring.traffic import latency_summary as latency_summary


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
