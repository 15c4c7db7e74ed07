"""Start-up and exit cost of a training job (issue 13's `hlp train` row), in fresh processes.

A job of the pipeline is a fresh `hlp` process. What it costs besides its work:
  * imports: torch (the floor: every training job needs it), the package's modules of
    `hlp train` (registry, inputs, pseudo-labels, avph);
  * the first optimiser step: torch.optim imports torch._dynamo on first use; the
    methods' own optimisers (methods/optim.py) do not;
  * scikit-learn: imported before for every job that read pseudo-labels;
  * the exit: tearing down the modules of a process that imported torch, against
    `hlp`'s quick exit (cli.entry: atexit handlers, flush, os._exit).
Each variant runs in `--repeats` fresh processes, alternated; the figure is the median
wall time of the process. "before" is the old path (torch.optim, sklearn, ordinary exit),
"now" the pipeline's.

Run: python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

PIN = "from highlight_pipeline.numerics import pin_numerics; pin_numerics(1)\n"
IMPORTS = (
    "import torch\n"
    "import highlight_pipeline.cli, highlight_pipeline.methods.registry\n"
    "import highlight_pipeline.methods.inputs, highlight_pipeline.pseudo.highlights\n"
    "import highlight_pipeline.methods.avph\n"
)
STEP_TORCH = (
    "net = torch.nn.Linear(64, 1)\n"
    "o = torch.optim.Adam(net.parameters(), lr=1e-3)\n"
    "net(torch.ones(4, 64)).sum().backward(); o.step()\n"
)
STEP_OURS = (
    "from highlight_pipeline.methods.optim import Adam\n"
    "net = torch.nn.Linear(64, 1)\n"
    "o = Adam(net.parameters(), lr=1e-3)\n"
    "net(torch.ones(4, 64)).sum().backward(); o.step()\n"
)
SKLEARN = "import sklearn.cluster, sklearn.metrics\n"
QUICK_EXIT = (
    "import atexit, logging, os\natexit._run_exitfuncs(); logging.shutdown(); os._exit(0)\n"
)

CASES = {
    "python + import torch, quick exit (the floor)": PIN + "import torch\n" + QUICK_EXIT,
    "before: imports + sklearn + torch.optim step, ordinary exit": PIN
    + IMPORTS
    + SKLEARN
    + STEP_TORCH,
    "now: imports + own optimiser step, quick exit": PIN + IMPORTS + STEP_OURS + QUICK_EXIT,
    "  now, ordinary exit (the exit's share)": PIN + IMPORTS + STEP_OURS,
    "  now, with torch.optim (the optimiser's share)": PIN + IMPORTS + STEP_TORCH + QUICK_EXIT,
}


def timed(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for code in CASES.values():  # warm the file cache and the .pyc files once
        timed(code)
    found: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, code in CASES.items():
            found[name].append(timed(code))
    medians = {name: statistics.median(values) for name, values in found.items()}
    width = max(map(len, CASES))
    print(f"fresh processes, median of {args.repeats} (alternated):")
    for name, value in medians.items():
        spread = f"{min(found[name]):.2f}-{max(found[name]):.2f}"
        print(f"  {name:<{width}}  {value:5.2f} s  ({spread})")
    names = list(CASES)
    before, now, floor = medians[names[1]], medians[names[2]], medians[names[0]]
    print(f"start-up and exit, before / now: x{before / now:.2f} ({before:.2f} s -> {now:.2f} s)")
    print(f"now above the floor of importing torch: {now - floor:+.2f} s")


if __name__ == "__main__":
    main()
