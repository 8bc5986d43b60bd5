"""`python -m bench [--quick] [--backends sqlite,...]`: measure, print the table, write the JSON."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.backends import BACKENDS, backend_env
from bench.concurrency import concurrent_runs
from bench.report import NOISY_PERCENT, CPUUsage, evaluate, format_table, machine_info, write_json
from bench.scenarios import PROFILES, Measure, Profile, delivery_latency, fanout, relay_overhead, resume, throughput
from tests.harness import ROOT, Devhost

# Row groups, in the order they run; `--only` picks some.
GROUPS = ("latency", "fanout", "resume", "throughput", "relay", "concurrency")


def run_backend(
    backend: str, profile: Profile, groups: tuple[str, ...] = GROUPS, log: Any = print
) -> dict[str, Measure]:
    workdir = Path(tempfile.mkdtemp(prefix=f"agentstream-bench-{backend}-"))
    measures: dict[str, Measure] = {}
    hosts: list[Devhost] = []

    def host(name: str, env: dict[str, str]) -> Devhost:
        started = Devhost(workdir / name, env, app="bench.app").start()
        hosts.append(started)
        return started

    try:
        with backend_env(backend, workdir) as store_env:
            paced = {
                **store_env,
                "DEMO_TOKENS_PER_SECOND": f"{profile.paced_rate:g}",
                # Room for every fan-out reader: the per-instance cap would turn the rest away.
                "MAX_CONCURRENT_STREAMS": str(profile.fanout_readers + 10),
            }
            if {"latency", "fanout", "resume"} & set(groups):
                main = host("host", paced)
                if "latency" in groups:
                    second = host("second-host", paced)
                    log(
                        f"[{backend}] delivery latency ({profile.latency_runs} runs of {profile.latency_deltas} deltas)"
                    )
                    measures |= delivery_latency(main, second, profile)
                    second.stop()
                if "fanout" in groups:
                    log(f"[{backend}] {profile.fanout_readers} readers of one thread ({profile.fanout_runs} runs)")
                    measures |= fanout(main, profile)
                if "resume" in groups:
                    log(f"[{backend}] resume near the end of a {profile.resume_events}-event thread")
                    measures |= resume(main, backend, store_env, profile)
                main.stop()
            if "throughput" in groups:
                unpaced = host("unpaced-host", {**store_env, "DEMO_TOKENS_PER_SECOND": "0"})
                log(f"[{backend}] sustained deltas/s ({profile.throughput_runs} runs of {profile.throughput_deltas})")
                measures |= throughput(unpaced, profile)
                unpaced.stop()
            if "relay" in groups:
                log(
                    f"[{backend}] relay overhead ({profile.relay_runs} runs of a {profile.relay_tokens}-token answer), "
                    f"its operations per 1,000 tokens, time to first token ({profile.ttft_runs} runs)"
                )
                measures |= relay_overhead(workdir, store_env, profile)
            if "concurrency" in groups:
                log(f"[{backend}] concurrent runs, stepped up through {', '.join(map(str, profile.concurrency_steps))}")
                measures |= concurrent_runs(workdir, store_env, profile, log)
    except BaseException:
        log(f"[{backend}] failed; devhost logs are in {workdir}")
        raise
    finally:
        for started in hosts:
            started.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    return measures


def run(
    backends: list[str],
    profile: Profile,
    out_dir: Path | None,
    note: str | None = None,
    groups: tuple[str, ...] = GROUPS,
) -> dict[str, Any]:
    machine = machine_info()
    started = time.time()
    usage = CPUUsage()
    results = {backend: run_backend(backend, profile, groups) for backend in backends}
    load = usage.stop()
    evaluated = evaluate(results, profile)
    duration = round(time.time() - started, 1)
    noisy = load["others_cpu_percent"] > NOISY_PERCENT
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "profile": asdict(profile),
        "groups": list(groups),
        "note": note,
        "noisy": noisy,
        "machine": {**machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()], **load},
        "duration_s": duration,
        "backends": evaluated,
    }
    print()
    print(format_table(evaluated))
    print(
        f"\n{machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}; {duration} s. "
        f"CPUs busy {load['cpu_busy_percent']} % of the time, {load['others_cpu_percent']} % by other work"
        + (" (noisy: other work shared the machine)" if noisy else "")
    )
    if out_dir is not None:
        path = write_json(report, out_dir, backends)
        print(f"written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run of each measurement, fewer deltas")
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), help="sizes by name (smoke: a few seconds, only to exercise the code)"
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"comma-separated (default {','.join(BACKENDS)})"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the JSON goes")
    parser.add_argument("--only", help=f"comma-separated row groups to measure (default all: {','.join(GROUPS)})")
    parser.add_argument("--note", help="a note stored with the results, e.g. what else ran on the machine")
    args = parser.parse_args(argv)
    # A terminated bench unwinds like an interrupted one, so the servers it started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; expected {', '.join(BACKENDS)}")
    groups = tuple(g.strip() for g in args.only.split(",") if g.strip()) if args.only else GROUPS
    if unknown_groups := [g for g in groups if g not in GROUPS]:
        parser.error(f"unknown row group(s) {', '.join(unknown_groups)}; expected {', '.join(GROUPS)}")
    profile = args.profile or ("quick" if args.quick else "full")
    run(backends, PROFILES[profile], args.out, args.note, groups)
    sys.exit(0)


if __name__ == "__main__":
    main()
