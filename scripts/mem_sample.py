#!/usr/bin/python3
"""Peak memory of an attrun job over its whole run, summed over its ranks, by sampling /proc.

  scripts/mem_sample.py [--every 0.02] -- mpirun -np 2 build/attrun run job.yaml

Runs the command, and every --every seconds sums over its descendant processes named `attrun` the PSS and
the RSS of /proc/<pid>/smaps_rollup. Prints the peaks of the two sums (and the job's exit status, which it
returns). PSS (proportional set size) splits a page shared by N processes between them, so the sum of the
ranks' PSS is what the job holds; the sum of RSS counts a shared page once per rank that maps it (the node's
shared weights, share_weights: io/checkpoint_shared.h, are in every rank's RSS). The sum is of samples taken
within a few milliseconds of each other, not at one instant; a peak shorter than --every can be missed.
"""
import argparse
import os
import subprocess
import sys
import time


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def rollup(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, rest = line.partition(":")
                if k in ("Pss", "Rss"):
                    vals[k] = int(rest.split()[0]) * 1024
    except OSError:
        return None
    return vals


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=float, default=0.02)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    p = subprocess.Popen(cmd)
    peak_pss = peak_rss = 0
    ranks = 0
    while p.poll() is None:
        todo, pids = [p.pid], []
        while todo:
            q = todo.pop()
            pids.append(q)
            todo += children(q)
        pss = rss = n = 0
        for q in pids:
            try:
                with open(f"/proc/{q}/comm") as f:
                    if f.read().strip() != "attrun":
                        continue
            except OSError:
                continue
            v = rollup(q)
            if v:
                pss += v.get("Pss", 0)
                rss += v.get("Rss", 0)
                n += 1
        peak_pss, peak_rss, ranks = max(peak_pss, pss), max(peak_rss, rss), max(ranks, n)
        time.sleep(a.every)
    print(f"mem_sample: {ranks} attrun processes; peak of the summed PSS {peak_pss / 2**20:.1f} MiB, "
          f"peak of the summed RSS {peak_rss / 2**20:.1f} MiB; exit status {p.returncode}")
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
