"""Automation: retrain policies, their triggers and fresh training data, and the promotion gate
(champion vs challenger on the same rows, with evidence).

>>> from loopml.automation import PromotionPolicy, evaluate_gate                       # doctest: +SKIP
>>> policy = PromotionPolicy(metric="roc_auc", guardrails={"accuracy": ("no_worse", 0.01)}, slices="region")
>>> decision = evaluate_gate(policy, champion, challenger, holdout, target="churned")  # doctest: +SKIP
>>> decision.passed, decision.reasons                                                  # doctest: +SKIP

Names are imported on first use, so ``import loopml.automation`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "PromotionPolicy": "loopml.automation.gate",
    "GateDecision": "loopml.automation.gate",
    "SliceResult": "loopml.automation.gate",
    "GuardrailResult": "loopml.automation.gate",
    "evaluate_gate": "loopml.automation.gate",
    "Comparison": "loopml.automation.significance",
    "paired_bootstrap": "loopml.automation.significance",
    "mcnemar": "loopml.automation.significance",
    "delong": "loopml.automation.significance",
    "RetrainPolicy": "loopml.automation.policy",
    "AutomationService": "loopml.automation.service",
    "run_cycle": "loopml.automation.cycle",
    "CycleOutcome": "loopml.automation.cycle",
    "check_policy": "loopml.automation.checks",
    "compare_live": "loopml.automation.live",
    "LiveComparison": "loopml.automation.live",
    "TrainingData": "loopml.automation.data",
    "load_policies": "loopml.automation.policy",
    "DriftTrigger": "loopml.automation.triggers",
    "QualityTrigger": "loopml.automation.triggers",
    "NewDataTrigger": "loopml.automation.triggers",
    "CronTrigger": "loopml.automation.triggers",
    "TriggerContext": "loopml.automation.triggers",
    "check_trigger": "loopml.automation.triggers",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from loopml.automation.checks import check_policy as check_policy
    from loopml.automation.cycle import CycleOutcome as CycleOutcome
    from loopml.automation.cycle import run_cycle as run_cycle
    from loopml.automation.data import TrainingData as TrainingData
    from loopml.automation.gate import GateDecision as GateDecision
    from loopml.automation.gate import GuardrailResult as GuardrailResult
    from loopml.automation.gate import PromotionPolicy as PromotionPolicy
    from loopml.automation.gate import SliceResult as SliceResult
    from loopml.automation.gate import evaluate_gate as evaluate_gate
    from loopml.automation.live import LiveComparison as LiveComparison
    from loopml.automation.live import compare_live as compare_live
    from loopml.automation.policy import RetrainPolicy as RetrainPolicy
    from loopml.automation.policy import load_policies as load_policies
    from loopml.automation.service import AutomationService as AutomationService
    from loopml.automation.significance import Comparison as Comparison
    from loopml.automation.significance import delong as delong
    from loopml.automation.significance import mcnemar as mcnemar
    from loopml.automation.significance import paired_bootstrap as paired_bootstrap
    from loopml.automation.triggers import CronTrigger as CronTrigger
    from loopml.automation.triggers import DriftTrigger as DriftTrigger
    from loopml.automation.triggers import NewDataTrigger as NewDataTrigger
    from loopml.automation.triggers import QualityTrigger as QualityTrigger
    from loopml.automation.triggers import TriggerContext as TriggerContext
    from loopml.automation.triggers import check_trigger as check_trigger


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
