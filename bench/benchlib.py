"""Helpers shared by the benchmark drivers (bench/*_vs_*.py): environment, log lines, the
machine description, number formatting."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def env_flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "yes", "true", "on")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def fmt_s(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def median(values):
    return statistics.median(values) if values else None
