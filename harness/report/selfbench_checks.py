"""The checks of a selfbench.json as rows (check, figure, goal, met): the table `harness selfbench` prints and the
report's "measuring itself" section shows. Pure: reads the JSON as written, never measures."""

from __future__ import annotations

from typing import Any


def overhead_verdict(o: dict[str, Any], goal: float) -> str:
    """yes: the whole interval is within the goal; NO: the whole interval is above it; else unclear."""
    if not o.get("overhead_ci_pct"):  # a selfbench.json from before the interval: one median each way
        return ("yes" if o["overhead_pct"] <= goal else "NO") + " (one median each way, no interval)"
    lo, hi = o["overhead_ci_pct"]
    if hi <= goal:
        return "yes"
    if lo > goal:
        return "NO"
    return "unclear (interval spans the goal)"


def summary_rows(sb: dict[str, Any]) -> list[list[str]]:
    """[check, figure, goal, met] per figure of a selfbench.json: the table `main` prints and the report shows."""
    rows: list[list[str]] = []

    def met(ok: bool | None) -> str:
        return "—" if ok is None else ("yes" if ok else "NO")

    ht = sb.get("host_tracker") or {}
    if ht.get("host_rss_error_pct") is not None:
        e = ht["host_rss_error_pct"]
        rows.append([f"tracker: host RSS recovers {ht.get('known_mib')} MiB", f"{ht['host_rss_mib']:,.1f} MiB ({e:+.2f}%)",
                     "within 1%", met(abs(e) <= 1)])  # fmt: skip
    gt = sb.get("gpu_tracker") or {}
    if "skipped" in gt:
        rows.append(["tracker: GPU", f"skipped ({gt['skipped']})", "—", "—"])
    for k in ("torch_max_allocated", "torch_max_reserved", "nvml_process", "nvml_device"):
        err = gt.get(f"{k}_error_pct")
        if err is not None:
            rows.append([f"tracker: {k} recovers {gt.get('known_mib')} MiB", f"{gt.get(k + '_mib'):,.1f} MiB ({err:+.2f}%)",
                         "within 1%", met(abs(err) <= 1)])  # fmt: skip
    if "spike_50ms_caught" in gt:
        rows.append([f"spike: a {gt.get('spike_50ms_mib', 512)} MiB allocation held 50 ms",
                     f"{gt.get('spike_50ms_seen_mib', 0):,.0f} MiB seen", "caught", met(gt["spike_50ms_caught"])])  # fmt: skip
    mo = sb.get("monitor_overhead") or {}
    for k, what in (("train_step_small", "a small training step"), ("train_step_large", "a LoRA-sized training step"),
                    ("python_loop", "a Python-heavy loop (like token-by-token generation)")):  # fmt: skip
        o = mo.get(k)
        if isinstance(o, dict) and o.get("overhead_pct") is not None:
            goal = mo.get("goal_pct", 1.0)
            ci = o.get("overhead_ci_pct")
            figure = f"{o['overhead_pct']:+.2f}%" + (f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "")
            rows.append([f"monitoring overhead ({mo.get('device')}): {what}",
                         f"{figure} of {o['step_median_off_s'] * 1e3:.2f} ms",
                         f"at most {goal}%", overhead_verdict(o, goal)])  # fmt: skip
    periods = [
        o["sampler_ms_per_sample"] for o in mo.values() if isinstance(o, dict) and o.get("sampler_ms_per_sample")
    ]
    if periods and mo.get("sampler_interval_ms"):
        rows.append([f"sampler period (set to {mo['sampler_interval_ms']:g} ms)",
                     f"{min(periods):.1f}-{max(periods):.1f} ms a sample", "—", "—"])  # fmt: skip
    bw = (sb.get("bandwidth") or {}).get("gb_per_s_read_plus_write")
    if bw:
        rows.append(["device copy bandwidth (read + write)", f"{bw:,.0f} GB/s", "—", "—"])
    return rows
