"""The GPU session's reports in Chapter 4: tables from data/benchmarks, or what to run."""
from __future__ import annotations

import json

from sgd_escape.cifar import reports


def write(root, name, record):
    (root / "benchmarks").mkdir(parents=True, exist_ok=True)
    (root / "benchmarks" / name).write_text(json.dumps(record))


def test_without_reports_the_tables_say_how_to_make_them(tmp_path):
    for table in (reports.benchmark_table(tmp_path), reports.determinism_table(tmp_path)):
        assert "python -m sgd_escape session" in table.markdown


def test_benchmark_table_shows_the_ratio_and_projected_hours(tmp_path):
    write(tmp_path, "cifar_trainer-gpu-a.json", {
        "device_name": "GPU A", "architecture": "resnet34", "members": 5,
        "plain_seconds_per_network_epoch": 6.0, "trainer_seconds_per_network_epoch": 1.5,
        "speedup_per_network": 4.0, "projection_reduced": {"total_device_hours": 0.25},
        "projection_paper": {"total_device_hours": 12.5}})
    row = reports.benchmark_table(tmp_path).markdown.splitlines()[2]
    assert row == "| GPU A | resnet34 | 5 | 6.00 | 1.50 | 4.0x | 0.25 | 12.50 |"


def test_determinism_table_shows_the_largest_differences_per_gpu(tmp_path):
    for name, gap in (("gpu-b", 1e-6), ("gpu-a", 0.0)):
        repeat = {"repeat": {"max_abs": 3 * gap, "max_rel": 4 * gap}} if gap else {}   # gpu-a: an older report
        write(tmp_path, f"determinism-{name}.json", {
            "device_name": name.upper(), "preset": "smoke", "experiments": {"x": {}, "y": {}},
            "identical": gap == 0, "max_abs": gap, "max_rel": 2 * gap, **repeat}
              | ({"second_copy": "each experiment stopped after its first unit of work and resumed"} if gap else {}))
    rows = reports.determinism_table(tmp_path).markdown.splitlines()[2:]
    assert rows == ["| GPU-A | smoke | 2 | uninterrupted | yes | 0 | - | - |",
                    "| GPU-B | smoke | 2 | stopped after one unit, resumed | no | 1e-06 | 3e-06 | 4e-06 |"]
