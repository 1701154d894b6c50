"""benchmark_fairness (issue 28): A's files are what the issue asks for, and the report says
what was measured (B alone vs B with A, A's 429 share) from the figures, not beside them."""

from __future__ import annotations

import phonenumbers

from bench import fairness


def test_a_files_are_six_imports_of_new_clients_none_matching_another():
    files = [fairness._a_csv(20_000, f"t{index}", index).decode().splitlines() for index in range(6)]
    assert all(len(lines) == 20_001 and lines[0] == "first_name,last_name,email,phone" for lines in files)
    rows = [line.split(",") for lines in files for line in lines[1:]]
    assert len({row[2] for row in rows}) == len({row[3] for row in rows}) == 120_000
    for row in rows[::4_999]:
        assert phonenumbers.is_valid_number(phonenumbers.parse(row[3])), row


def test_a_phase_reports_the_429_share_and_latencies_by_status():
    phase = fairness.Phase()
    phase.b_latencies = [10.0, 11.0, 12.0, 40.0]
    phase.a_latencies = {200: [8.0] * 10, 429: [2.0] * 40}
    phase.seconds, phase.elapsed, phase.generator_cpu_s = 1.0, 2.0, 0.1
    summary = phase.summary()
    assert summary["a_429_share"] == 0.8
    assert summary["a_requests_per_s"] == 50.0
    assert summary["a_ms_by_status"][429] == {"p50": 2.0, "p99": 2.0}
    assert summary["b_p50_ms"] in (11.0, 12.0) and summary["b_p99_ms"] == 40.0
    assert summary["generator_cpu_share"] == 0.05


def test_the_report_gives_b_alone_and_with_a_and_the_ratios():
    def phase(p50, p99, statuses):
        return {
            "b_requests": 100,
            "b_p50_ms": p50,
            "b_p99_ms": p99,
            "a_requests_per_s": 50.0,
            "a_statuses": statuses,
            "a_429_share": 0.8 if statuses else None,
            "a_ms_by_status": {},
            "a_late_requests": 0,
            "generator_cpu_share": 0.02,
            "load_average_1m": [1.0],
        }

    results = {
        "sizes": {"jobs": 6, "items": 20_000, "chunk": 1_000, "a_kind": "import"},
        "machine": {"cpus": 2},
        "limiter_cost": {
            "hit_us_median": 300,
            "hit_us_p99": 900,
            "client_list_ms_p50_limiter_on": 6.0,
            "client_list_ms_p50_limiter_off": 5.0,
        },
        "background": {
            "before": {"a_total_s": 100.0, "a_kind": "import", "a_done": 120_000, "a_chunk_s": 1.7, "b_jobs": []},
            "after_cap1": {"a_total_s": 105.0, "a_kind": "import", "a_done": 120_000, "a_chunk_s": 1.8, "b_jobs": []},
        },
        "http": {
            "tenant_rate": "100/10s",
            "burst": "30/1s",
            "a_target_rps": 50.0,
            "gunicorn": {"workers": 2, "threads": 4},
            "rounds": 2,
            "phase_seconds": 20.0,
            "limits_on": {"b_alone": phase(10.0, 20.0, {}), "b_with_a_at_5x": phase(11.0, 22.0, {200: 200, 429: 800})},
        },
    }
    text = fairness.render(results)
    assert "after_cap1: A's total / before 1.05x (target <= 1.1x: met)" in text
    assert "ratios p50 / p99 1.10x / 1.10x" in text
    assert "429 share 0.8" in text
    assert "limits_off" not in text  # a phase that did not run is not reported
