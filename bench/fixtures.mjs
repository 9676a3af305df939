// Small training scripts for the kill and scale figures (the cycle, bytes and duty-cycle figures
// use the karpathy-sized bench/fixtures/train.py).

/**
 * Fast by default (prints the summary and exits). With HANG = True it prints its pid, starts
 * `children` sub-processes that print theirs, and everyone ignores SIGTERM and sleeps: the tree
 * only goes away with SIGKILL.
 */
export function treeTrain(children = 4) {
  return `import os, signal, subprocess, sys, time

HANG = False
EXPERIMENT = 0

if HANG:
    # SIGTERM is ignored from the first line on, so a slow start cannot make the tree smaller
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"pid: {os.getpid()}", flush=True)
    child = "import os, signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\nprint(f'pid: {os.getpid()}', flush=True)\\ntime.sleep(600)"
    kids = [subprocess.Popen([sys.executable, "-c", child]) for _ in range(${children})]
    time.sleep(600)

print("---")
print("val_bpb:          0.997900")
print("peak_vram_mb:     45060.2")
`;
}

/**
 * Writes FLOOD_BYTES of output: \\r progress storms with invalid UTF-8 and NUL bytes in 1 MiB
 * chunks, then one line of LONG_LINE bytes without a newline, then the summary.
 */
export function floodTrain(bytes, longLine) {
  return `import sys

FLOOD_BYTES = ${bytes}
LONG_LINE = ${longLine}
EXPERIMENT = 0

out = sys.stdout.buffer
chunk = (b"\\rstep 00001 (0.1%) | loss: 3.214567 | \\xff\\xfe invalid utf8 \\x00 | dt: 314ms | remaining: 299s    " * 20000)[: 1 << 20]
n = max(0, FLOOD_BYTES - LONG_LINE)
full, rest = divmod(n, len(chunk))
for _ in range(full):
    out.write(chunk)
out.write(chunk[:rest])
out.write(b"x" * LONG_LINE)
out.flush()
print()
print("---")
print("val_bpb:          0.997900")
print("training_seconds: 1.0")
print("peak_vram_mb:     45060.2")
print("num_steps:        953")
`;
}
