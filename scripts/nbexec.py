#!/usr/bin/python3
"""nbexec.py: execute one notebook headless with the GoNB kernel; used by run-notebooks.sh.

usage: /usr/bin/python3 scripts/nbexec.py SRC.ipynb OUT.ipynb [--html OUT.html] [--timeout S]

The kernel starts in SRC's folder (so the setup cell finds the project's go.mod). Execution stops
at the first failing cell. The executed notebook (outputs included, also when it failed) is written
to OUT, and rendered to HTML when --html is given.

A cell fails when it has an error output (Go compile error, panic, non-zero exit, failed %test),
times out, or when a line of its stderr reads "exit status N" or "signal: ...": that is all GoNB
reports when a shell line (`!cmd`, `!*cmd`, `%%bash`) fails; the cell itself still "succeeds".

Prints one summary line ("ok: ..." or "failed: ...") and then indented details on stdout;
per-cell timings go to stderr. Exit status: 0 ok, 1 failed.

Runs under Debian's /usr/bin/python3 (nbclient, nbformat, nbconvert from apt).
"""
import argparse
import atexit
import os
import re
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

KERNEL = "gonb"
SHELL_FAILURE = re.compile(r"^(exit status -?\d+|signal: \S.*)$", re.M)


class ShellLineFailed(Exception):
    """A cell's stderr says a shell command or program failed although the cell did not error."""


def text_of(output):
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def cell_stderr(cell):
    """All of a cell's stderr text (the kernel sends it in arbitrary chunks)."""
    return "".join(
        text_of(o) for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    )


def has_error(cell):
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def clip(text, lines=40):
    rows = ANSI.sub("", text).strip().splitlines()
    if len(rows) > lines:
        rows = rows[:lines] + [f"... ({len(rows) - lines} more lines)"]
    return rows


def first_line(source):
    for line in source.splitlines():
        if line.strip() and line.strip() != "%%" and not line.startswith("# gonb_"):
            return line.strip()[:100]
    return ""


def where(nb, idx):
    """Names a cell by its index (0-based, markdown cells counted) and its In [n] number."""
    count = nb.cells[idx].get("execution_count")
    return f"cell {idx} (In [{count}])" if count else f"cell {idx}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--html")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = ap.parse_args()

    nb = nbformat.read(args.src, as_version=4)
    spec = nb.metadata.get("kernelspec", {}).get("name")
    if spec != KERNEL:
        print(f"warning: kernelspec is {spec!r}, running with {KERNEL!r} anyway", file=sys.stderr)

    timings = {}  # cell index -> seconds
    started = {}

    def on_execute(cell, cell_index, **_):
        started[cell_index] = time.monotonic()

    def on_executed(cell, cell_index, **_):
        timings[cell_index] = time.monotonic() - started.get(cell_index, time.monotonic())
        if has_error(cell):
            return  # nbclient raises CellExecutionError for it next
        bad = SHELL_FAILURE.findall(cell_stderr(cell))
        if bad:
            raise ShellLineFailed(
                f"{where(nb, cell_index)}: a shell command or program failed: {', '.join(bad)}")

    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=args.timeout,
        startup_timeout=180,
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(args.src))}},
        on_cell_execute=on_execute,
        on_cell_executed=on_executed,
    )

    failure, details = None, []
    try:
        client.execute()
    except ShellLineFailed as e:
        failure = str(e)
    except CellTimeoutError:
        idx = where(nb, max(started)) if started else "a cell"
        failure = f"{idx}: timed out after {args.timeout}s (NB_TIMEOUT)"
    except CellExecutionError as e:
        idx = where(nb, max(started)) if started else "a cell"
        failure = f"{idx}: {e.ename}: {first_line(e.evalue) or 'error'}"
        details = clip(e.evalue or str(e))
    except DeadKernelError as e:
        failure = f"the kernel died: {e}"
    except Exception as e:  # kernel missing or failing to start, bad notebook, ...
        failure = f"{type(e).__name__}: {first_line(str(e)) or 'error'}"
        if not started:
            failure = "the kernel did not start: " + failure
        # nbclient already cleaned up; its exit hook would fail on the half-started kernel.
        atexit.unregister(client._cleanup_kernel)

    if failure and started:
        idx = max(started)
        stderr = [l for l in clip(cell_stderr(nb.cells[idx]), 1000) if l.strip()]
        shown = set(details)
        stderr = [l for l in stderr[-15:] if l not in shown]
        details = [f"source: {first_line(nb.cells[idx].source)}"] + details
        if stderr:
            details += ["stderr:"] + ["  " + l for l in stderr]

    # GoNB reports no Pygments lexer, and nbconvert would then highlight Go as Python.
    info = nb.metadata.setdefault("language_info", {})
    if not info.get("pygments_lexer"):
        info["pygments_lexer"] = "go"
    if not info.get("codemirror_mode"):
        info["codemirror_mode"] = "go"

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    nbformat.write(nb, args.out)
    if args.html:
        try:
            from nbconvert import HTMLExporter

            body, _ = HTMLExporter().from_notebook_node(nb)
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(body)
        except Exception as e:
            failure = failure or f"HTML export failed: {type(e).__name__}: {e}"

    for idx in sorted(timings):
        print(f"  cell {idx:>3}: {timings[idx]:7.1f}s  {first_line(nb.cells[idx].source)}", file=sys.stderr)
    if failure:
        print(f"failed: {failure}")
        for line in details:
            print(f"    {line}")
        return 1
    slow = max(timings, key=timings.get) if timings else None
    note = f"; slowest cell {slow} {timings[slow]:.1f}s" if slow is not None else ""
    print(f"ok: {len(timings)} code cells{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
