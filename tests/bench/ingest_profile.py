"""Where the receiver's time goes under wrk: py-spy samples a server while wrk posts to it.

    python -m tests.bench.ingest_profile --kind receiver --out /tmp/ingest_profile.txt

The server is started exactly as `tests.bench.ingest_wrk` starts it (`receiver`: the receiver
alone; `console`: `streamlit run server.py`), under `py-spy record` (raw collapsed stacks, every
thread, GIL holders marked idle or not). The summary lists, per thread, the frames holding the
most samples: inclusive (the frame or anything it called) and self (the frame itself).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from tests.bench.ingest_wrk import ROOT, SECRET, lua_script, run_wrk, settle, wait_until_up
from tests.ports import free_port


def summarise(raw: Path, top: int = 25) -> str:
    """Top frames by inclusive and self samples, per thread, from py-spy's raw output."""
    per_thread: dict[str, Counter[str]] = defaultdict(Counter)
    per_thread_self: dict[str, Counter[str]] = defaultdict(Counter)
    thread_total: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = "?"
        while frames and (frames[0].startswith("thread (") or frames[0].startswith("process ")):
            head = frames.pop(0)
            if head.startswith("thread ("):
                thread = head
        names = [_short(frame) for frame in frames]
        total += count
        thread_total[thread] += count
        for name in set(names):
            per_thread[thread][name] += count
        if names:
            per_thread_self[thread][names[-1]] += count
    lines = [f"{total} samples in all (100 Hz, idle threads not sampled)"]
    for thread, samples in thread_total.most_common(6):
        lines.append("")
        lines.append(f"== {thread}: {samples} samples, {100 * samples / total:.1f}% of all")
        lines.append("   inclusive (% of this thread)")
        for name, n in per_thread[thread].most_common(top):
            lines.append(f"   {100 * n / samples:5.1f}%  {name}")
        lines.append("   self (% of this thread)")
        for name, n in per_thread_self[thread].most_common(top // 2):
            lines.append(f"   {100 * n / samples:5.1f}%  {name}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`fn (path/to/module.py:12)` → `fn (module.py)`: lines would split one function."""
    match = re.match(r"^(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    name, path = match.groups()
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"


def main(argv: list[str] | None = None) -> int:
    """Profile one server kind under wrk; write the summary."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ingest_profile")
    parser.add_argument("--kind", choices=("receiver", "console"), default="receiver")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("/tmp/ingest_profile.txt"))
    parser.add_argument("--raw", type=Path, default=None, help="keep py-spy's raw stacks here")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists() or not shutil.which("wrk"):
        print("needs py-spy (requirements-dev.txt) and wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lean-profile-") as tmp:
        workdir = Path(tmp)
        script = workdir / "post.lua"
        lua_script(20_000, script)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEAN_")}
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "LEAN_WEBHOOK_SECRET": SECRET,
                "DATABASE_URL": f"sqlite:///{workdir / 'profile.db'}",
                "LEAN_SANDBOX_WEBHOOK_INTERVAL": "0",
                "LEAN_SANDBOX_PORT": "0",
                "STREAMLIT_SERVER_PORT": str(port),
                "STREAMLIT_SERVER_HEADLESS": "true",
            }
        )
        if args.kind == "console":
            server = [sys.executable, "-m", "streamlit", "run", "server.py"]
        else:
            server = [sys.executable, "-m", "console.webhooks", "--port", str(port)]
        raw = args.raw or workdir / "raw.txt"
        url = f"http://127.0.0.1:{port}"
        # Start the server first and attach once it is up, so start-up is not in the profile.
        log = (workdir / "server.log").open("w")
        process = subprocess.Popen(server, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_up(url + "/healthz", process)
            if args.kind == "console":
                settle(env["DATABASE_URL"])
            spy = subprocess.Popen(
                [py_spy, "record", "--pid", str(process.pid), "--format", "raw", "--threads",
                 "--rate", "100", "--duration", str(args.seconds + 2), "--output", str(raw),
                 "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            time.sleep(1)
            result = run_wrk(url, script, args.seconds, args.connections)
            spy.wait(timeout=60)
        finally:
            process.terminate()
            process.wait(timeout=15)
            log.close()
        summary = summarise(raw)
        header = (
            f"{args.kind} under wrk -t2 -c{args.connections} -d{args.seconds}s: "
            f"{result['rps']:.0f} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"non-2xx {result['non_2xx']}"
        )
        args.out.write_text(header + "\n" + summary + "\n")
        print(header)
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
