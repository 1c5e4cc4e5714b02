"""A progress line on stderr for long runs: the stage and a bar for the current loop.

On a terminal the line is redrawn in place; elsewhere (a log, a pipe) each stage is one
line and the bar is not drawn, so CI logs stay short.
"""

import sys
import time


class Progress:
    def __init__(self, stream=None, width=24):
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label, self.start = "", time.perf_counter()
        self.prefix = ""  # set by an outer loop, e.g. '[3/8] ' for the third experiment

    def stage(self, label):
        """Start a new stage, e.g. 'digits-cnn seed 0 (1/3)', after the prefix."""
        self.label = self.prefix + label
        if not self.live:
            print(self.label, file=self.stream, flush=True)

    def update(self, task, done, total):
        """``done`` of ``total`` steps of ``task`` (e.g. 'cnn epoch', 7, 20)."""
        if not self.live:
            return
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        seconds = time.perf_counter() - self.start
        self.stream.write(f"\r{self.label}  {task} [{bar}] {done}/{total}  {seconds:5.1f}s\x1b[K")
        self.stream.flush()

    def close(self):
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
