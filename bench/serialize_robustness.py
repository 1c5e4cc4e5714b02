"""How tlcore.load meets damaged files, and what killed saves leave behind.

    python bench/serialize_robustness.py                  # this tree's tlcore.serialize
    python bench/serialize_robustness.py --module OLD.py  # another version, e.g. from git show

Flips: every bit of a small saved file, one at a time; each load must return the original
or raise ValueError naming the file. Corruptions: random runs of bytes overwritten, and
every truncation. Kills: a child saving a 16 MiB array, SIGKILLed at random moments; the
target must load as the old or the new content, and the temporary files left are counted.
"""

import argparse
import importlib.util
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter

import numpy as np


def load_module(path):
    if path is None:
        from tlcore import serialize
        return serialize
    spec = importlib.util.spec_from_file_location("serialize_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, (np.ndarray, np.generic)):
        a, b = np.asarray(a), np.asarray(b)
        return (a.dtype == b.dtype and a.shape == b.shape
                and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes())
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


STATE = {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "0.bias": np.ones(2),
         "optimizer": {"state": {0: {"step": 3, "exp_avg": np.full(3, 0.5)}},
                       "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999)}]}}


def outcome(serialize, path, original):
    try:
        loaded = serialize.load(path)
    except ValueError as exc:
        return "ValueError naming the file" if str(path) in str(exc) else "ValueError, no path"
    except Exception as exc:  # noqa: BLE001 - tallied, that is the point
        return f"other: {type(exc).__name__}: {str(exc)[:60]}"
    return "loads equal" if same(loaded, original) else "LOADS DIFFERENT"


def damage(serialize, directory):
    path = os.path.join(directory, "state.npz")
    serialize.save(STATE, path)
    good = open(path, "rb").read()

    def trial(content):
        with open(path, "wb") as file:
            file.write(content)
        return outcome(serialize, path, STATE)

    flips = Counter()
    for bit in range(len(good) * 8):
        content = bytearray(good)
        content[bit // 8] ^= 1 << (bit % 8)
        flips[trial(bytes(content))] += 1
    rng = random.Random(0)
    runs = Counter()
    for _ in range(3000):
        content = bytearray(good)
        start, length = rng.randrange(len(good)), rng.randint(1, 16)
        content[start:start + length] = rng.randbytes(len(content[start:start + length]))
        runs[trial(bytes(content))] += 1
    cuts = Counter(trial(good[:n]) for n in range(len(good)))
    return len(good), flips, runs, cuts


def saver(module_path, path, unnamed):
    serialize = load_module(module_path)
    if not unnamed:
        serialize._open_unnamed = lambda directory: None
    new = {"w": np.ones(2**21)}  # 16 MiB
    while True:
        serialize.save(new, path)


def kills(serialize, module_path, directory, count, unnamed):
    path = os.path.join(directory, "target.npz")
    old = {"w": np.zeros(2**21)}
    serialize.save(old, path)
    rng = random.Random(1)
    context = multiprocessing.get_context("fork")
    tally = Counter()
    for _ in range(count):
        child = context.Process(target=saver, args=(module_path, path, unnamed))
        child.start()
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        loaded = serialize.load(path)
        tally["intact"] += same(loaded, old) or same(loaded, {"w": np.ones(2**21)})
        leftovers = [p for p in os.listdir(directory) if p != "target.npz"]
        tally["leftover files"] += len(leftovers)
        tally["leftover MiB"] += sum(os.path.getsize(os.path.join(directory, p))
                                     for p in leftovers) / 2**20
        for name in leftovers:  # each round starts clean, to count what one kill leaves
            os.remove(os.path.join(directory, name))
    return tally


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", help="a serialize.py to test instead of tlcore's")
    parser.add_argument("--kills", type=int, default=40)
    args = parser.parse_args()
    serialize = load_module(args.module)
    with tempfile.TemporaryDirectory() as directory:
        size, flips, runs, cuts = damage(serialize, directory)
    print(f"file of {size} bytes")
    for title, tally in (("single-bit flips", flips), ("random byte runs", runs),
                         ("truncations", cuts)):
        print(f"{title} ({sum(tally.values())}):")
        for key, n in tally.most_common():
            print(f"    {n:6d}  {key}")
    routes = [True, False] if hasattr(serialize, "_open_unnamed") else [None]
    for unnamed in routes:
        with tempfile.TemporaryDirectory() as directory:
            tally = kills(serialize, args.module, directory, args.kills, unnamed)
        route = {True: "unnamed file (O_TMPFILE)", False: "named temporary file",
                 None: "this version's only route"}[unnamed]
        print(f"{args.kills} SIGKILLs during 16 MiB saves, {route}: {tally['intact']} "
              f"targets intact, {tally['leftover files']} files left "
              f"({tally['leftover MiB']:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
