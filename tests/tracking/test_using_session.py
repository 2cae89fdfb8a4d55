"""``using_session``: what ``get_session`` returns inside a context, and only there."""

from __future__ import annotations

import threading
from pathlib import Path

from loopml.config import load_settings
from loopml.tracking.session import Session, get_session, using_session


def test_the_scoped_session_is_seen_inside_the_context_only(tmp_path: Path) -> None:
    other = Session(load_settings({"LOOPML_HOME": str(tmp_path / "other")}))
    try:
        process_wide = get_session()
        assert process_wide is not other
        with using_session(other):
            assert get_session() is other
            seen_by_thread: list[Session] = []
            thread = threading.Thread(target=lambda: seen_by_thread.append(get_session()))
            thread.start()
            thread.join()
            assert seen_by_thread == [process_wide]  # a new thread starts with a fresh context
        assert get_session() is process_wide
    finally:
        other.close()
