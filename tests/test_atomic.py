"""Atomic outputs: a writer that fails leaves the previous file and no temporary one."""

from __future__ import annotations

import pytest

from highlight_pipeline.atomic import atomic_output, write_text_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "tables" / "synthetic.csv"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        assert tmp.suffix == ".csv" and tmp.parent == target.parent
        tmp.write_text("half a tab")
        raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["synthetic.csv"]
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"
