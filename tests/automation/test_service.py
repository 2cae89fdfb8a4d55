"""The automation pass hosted by the monitor thread, as `loopml monitor run` and `loopml server --monitor` run it."""

from __future__ import annotations

import time

import pytest

import loopml as lm
from loopml.automation.checks import check_policy
from loopml.automation.data import TrainingData
from loopml.automation.gate import PromotionPolicy
from loopml.automation.policy import RetrainPolicy
from loopml.automation.service import after_monitor_pass
from loopml.automation.triggers import DriftTrigger
from loopml.core.clock import now_ms
from loopml.monitoring.service import BackgroundMonitor, MonitorConfig
from loopml.tracking.session import get_session
from tests.automation.conftest import TARGET, World
from tests.monitoring.test_service import log_predictions

pytestmark = pytest.mark.slow


def test_the_monitor_thread_runs_the_applied_policies_after_each_pass(world: World) -> None:
    policy = RetrainPolicy(
        model="cancer", pipeline=world.pipeline, triggers=[DriftTrigger(share=0.2, window="1h", min_rows=50)],
        data=TrainingData(dataset="cancer-train"), data_param="data", cooldown="1h", timeout="2m",
        promotion=PromotionPolicy(metric="accuracy", evaluation_data="datasets:/cancer-holdout@latest", target=TARGET),
    )  # fmt: skip
    session = get_session()
    check_policy(policy, session=session)
    session.policies.apply_policy(policy.key, policy.model, policy.to_dict(), actor="test")
    log_predictions("cancer", world.traffic, world.champion, now_ms())
    watcher = BackgroundMonitor(MonitorConfig(interval=1, window=3600), after_pass=after_monitor_pass).start()
    try:
        deadline = time.monotonic() + 90
        while lm.get_model_version("models:/cancer@production").version == world.champion:
            assert time.monotonic() < deadline, "the hosted service did not promote within 90 s"
            time.sleep(0.5)
        time.sleep(3)  # a few more passes: the cooldown holds, nothing else runs
    finally:
        watcher.stop()
    cycles = session.policies.list_cycles(policy="cancer")
    assert [(c.status, c.reason) for c in cycles] == [("promoted", "triggers")]
    assert "drift" in cycles[0].triggers[0]["reason"]
    assert watcher.passes >= 2


def test_the_server_hosts_the_automation_pass_with_its_monitor(tmp_path: object) -> None:
    from loopml.config import load_settings
    from loopml.server.app import create_app

    app = create_app(load_settings(), monitor=MonitorConfig(interval=60))
    assert app.state.monitor.after_pass is after_monitor_pass
