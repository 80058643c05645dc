"""Bench of loading a large inventory (``./dev bench inventory``).

Writes a realistic inventory of N nodes (the keys a real site uses: defaults with a key, known_hosts and a
bastion; racks with rows; per node its address, vendor, rack, slot, height, tenant and BMC; 10,000 nodes
are about 2 MB) and a one-node file, then times ``load_inventory`` of each in a fresh interpreter per run
(so no cache of an earlier run helps), several runs. In the same run, as baselines, it times the standard
library's ``tomllib`` parsing the same file (the parser the console used before ``tomli``) and, with
``--baseline REV``, the console of that git revision loading it (checked out in a temporary worktree).

Prints a Markdown table and writes bench/results/inventory-<date>.json with the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
VENDORS = ("nvidia", "nvidia", "nvidia", "ascend", "amd")


def realistic_inventory(nodes: int) -> str:
    """An inventory as a site exports one from its DCIM: what a real site puts in it, every node different."""
    out = [
        '# Hall A and B, exported from the DCIM\n[defaults]\nuser = "ops"\nidentity_file = '
        '"~/.ssh/fleet_ed25519"\nknown_hosts = "/etc/fleet/known_hosts"\nproxy_jump = '
        '"ops@bastion-a.dc1.example.net:2222"\nconnect_timeout_s = 8.0\n\n[policy]\nmax_nodes_per_action = 16\n'
        'max_fraction_per_action = 0.05\nshared_accounts = ["root", "ops"]\n\n[scheduler]\nkind = "slurm"\n'
        'host = "slurmctld-a.dc1.example.net"\nuser = "slurm-ops"\n'
    ]
    for rack in range(nodes // 8 + 1):
        out.append(f'\n[[rack]]\nname = "R{rack:04d}"\nrow = "row-{rack // 20:02d}"\nposition = {rack % 20 + 1}\n')
    for i in range(nodes):
        out.append(
            f'\n[[node]]\nname = "gpu-{i:05d}"\nhost = "10.{i // 65536}.{(i // 256) % 256}.{i % 256}"\n'
            f'vendor = "{VENDORS[i % 5]}"\nrack = "R{i // 8:04d}"\nslot = {(i % 8) * 5 + 1}\nheight = 5\n'
            f'tenant = "tenant-{i % 37:02d}"\nbmc = {{ url = "https://10.200.{(i // 256) % 256}.{i % 256}", '
            'user = "fleet", password_env = "BMC_PW" }\n'
        )
    return "".join(out)


TIMER = """
import sys, time
path, how = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if how == "console":
    from console.core.inventory import load_inventory
    load_inventory(path)
else:
    import tomllib
    tomllib.loads(open(path, encoding="utf-8").read())
print(time.perf_counter() - started)
"""


def timed(path: Path, how: str, tree: Path = REPO) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", TIMER, str(path), how], capture_output=True, text=True, check=True, cwd=tree, env=env
    )
    return float(done.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", metavar="REV", help="also time the console of this git revision")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fleet-bench-inventory-") as directory:
        big, one = Path(directory) / "big.toml", Path(directory) / "one.toml"
        big.write_text(realistic_inventory(args.nodes), encoding="utf-8")
        one.write_text(realistic_inventory(1), encoding="utf-8")
        before = Path(directory) / "baseline"
        if args.baseline:
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before), args.baseline],
                           check=True, capture_output=True)  # fmt: skip
        figures: dict[str, list[float]] = {"load 1 node": [], f"load {args.nodes} nodes": [], "tomllib parse": []}
        try:
            for _ in range(args.runs):
                figures["load 1 node"].append(timed(one, "console"))
                figures[f"load {args.nodes} nodes"].append(timed(big, "console"))
                figures["tomllib parse"].append(timed(big, "tomllib"))
                if args.baseline:
                    figures.setdefault(f"load {args.nodes} nodes at {args.baseline}", []).append(
                        timed(big, "console", before)
                    )
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before)], check=False)
        size = big.stat().st_size
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"Inventory of {args.nodes} nodes, {size / 1e6:.1f} MB; {args.runs} runs; {machine}\n")
    print("| what | median s | runs (s) |\n|---|---|---|")
    for name, values in figures.items():
        print(f"| {name} | {statistics.median(values):.3f} | {', '.join(f'{v:.3f}' for v in values)} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"inventory-{stamp}.json").write_text(
        json.dumps({"machine": machine, "nodes": args.nodes, "bytes": size, "figures": figures}, indent=1) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
