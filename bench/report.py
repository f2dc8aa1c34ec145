#!/usr/bin/python3
"""bench/report.py: the one place make bench's measurements become tables.

Reads the results file the bench scripts write (bench/results.sh describes
its records) and prints a part's table on the console, or writes the whole
report in Markdown with its plots (gnuplot, SVG) next to it.

  report.py console SECTION RESULTS    the table of one part (run.sh, zkocc.sh
                                       and dns.sh call it after measuring)
  report.py markdown RESULTS OUT.md    the report; plots go to OUT-<plot>.svg.
                                       GNUPLOT names the program (default: gnuplot
                                       on PATH); without it the report says so.

Every figure is a median over rounds with its min-max; a ratio is > 1 when
zkcell is better (faster, or fewer watch events).  When both sides of a row
were sampled in the same rounds the ratio is the median of the per-round
ratios (each round ran the pair back to back, so drift in the machine's load
cancels), else the ratio of the medians.
"""
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile


class ResultsError(Exception):
    pass


class Row:
    def __init__(self, f):
        (self.section, self.label, self.metric, self.ours, self.other, self.role,
         self.target) = f[:7]
        self.expect = int(f[7]) if len(f) > 7 and f[7] else None


# How many fields after the record type each record has (at least, at most).
FIELDS = {"meta": (2, 2), "setting": (4, 4), "section": (2, 2), "note": (2, 2),
          "cmd": (2, 2), "sample": (3, 5), "cpu": (3, 3), "row": (7, 8),
          "handoffs": (2, 2), "plot": (5, 5), "point": (4, 4), "pct": (3, 3)}


def safe_div(a, b):
    return a / b if b else math.nan


# metric: (value of one sample, unit, higher is better, format)
METRICS = {
    "rate": (lambda s: safe_div(s[1], s[0]), "/s", True, "{:.0f}"),
    "s": (lambda s: s[0], " s", False, "{:.2f}"),
    "ms": (lambda s: s[0] * 1e3, "ms", False, "{:.2f}"),
    "per": (lambda s: safe_div(s[0], s[1]), "", False, "{:.2f}"),
}


class Results:
    def __init__(self, path):
        self.meta, self.settings, self.sections, self.notes = {}, [], [], {}
        self.cmds, self.samples, self.cpu, self.rows = {}, {}, {}, []
        self.handoffs, self.plots, self.points, self.pcts = {}, [], {}, {}
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except OSError as e:
            raise ResultsError(f"{path}: {e.strerror}") from e
        for n, line in enumerate(lines, 1):
            if line.strip():
                try:
                    self.add(line.split("\t"))
                except (ValueError, IndexError) as e:
                    raise ResultsError(f"{path}:{n}: {e}") from e
        known = {s for s, _ in self.sections}
        for r in self.rows:
            if r.section not in known:
                raise ResultsError(f"{path}: row {r.label!r} in unknown section {r.section!r}")

    def add(self, f):
        kind, f = f[0], f[1:]
        if kind not in FIELDS:
            raise ValueError(f"unknown record {kind!r}")
        lo, hi = FIELDS[kind]
        if not lo <= len(f) <= hi:
            raise ValueError(f"{kind} wants {lo}..{hi} fields, has {len(f)}")
        if kind == "meta":
            self.meta[f[0]] = f[1]
        elif kind == "setting":
            self.settings.append(tuple(f))
        elif kind == "section":
            self.sections.append((f[0], f[1]))
        elif kind == "note":
            self.notes.setdefault(f[0], []).append(f[1])
        elif kind == "cmd":
            self.cmds[f[0]] = f[1]
        elif kind == "sample":
            self.samples.setdefault(f[0], []).append([float(x) for x in f[1:]])
        elif kind == "cpu":
            self.cpu.setdefault(f[0], []).append(float(f[1]) + float(f[2]))
        elif kind == "row":
            if f[2] not in METRICS:
                raise ValueError(f"row {f[1]!r}: unknown metric {f[2]!r}")
            if f[5] not in ("anchor", "limit"):
                raise ValueError(f"row {f[1]!r}: role {f[5]!r} is neither anchor nor limit")
            self.rows.append(Row(f))
        elif kind == "handoffs":
            self.handoffs.setdefault(f[0], []).append([float(x) for x in f[1].split(",") if x])
        elif kind == "plot":
            self.plots.append(tuple(f))
        elif kind == "point":
            self.points.setdefault(f[0], []).append((f[1], float(f[2]), f[3]))
        elif kind == "pct":
            self.pcts.setdefault(f[0], []).append((f[1], f[2]))


class Stats:
    """One row: medians, min-max over rounds, the ratio and its min-max."""

    def __init__(self, res, row):
        value, self.unit, higher, self.fmt = METRICS[row.metric]
        sa, sb = res.samples.get(row.ours, []), res.samples.get(row.other, [])
        self.a, self.b = [value(s) for s in sa], [value(s) for s in sb]
        self.runs = f"{len(self.a)}/{len(self.b)}"
        self.ok = bool(self.a) and bool(self.b)
        self.warnings = []
        if row.expect is not None:
            for name, ss in ((row.ours, sa), (row.other, sb)):
                counts = sorted({int(s[1]) for s in ss if int(s[1]) != row.expect})
                if counts:
                    self.warnings.append(f"{name} listed {counts} nodes, expected {row.expect}")
        if not self.ok:
            self.ratio, self.ratios = math.nan, []
            return
        self.ma, self.mb = statistics.median(self.a), statistics.median(self.b)

        def better(x, y):  # > 1 when x (ours) beats y
            return safe_div(x, y) if higher else safe_div(y, x)

        # Watch events per hand-off: the ratio of the medians, as before.
        if len(self.a) == len(self.b) and row.metric != "per":
            self.ratios = [better(x, y) for x, y in zip(self.a, self.b)]
            self.ratio = statistics.median(self.ratios)
        else:
            self.ratios = []
            self.ratio = better(self.ma, self.mb)

    def value(self, which):
        return self.fmt.format(self.ma if which == "a" else self.mb) if self.ok else "-"

    def spread(self, xs):
        if len(xs) < 2:
            return ""
        return f" [{self.fmt.format(min(xs))}-{self.fmt.format(max(xs))}]"


def target_met(target, ratio):
    """'yes'/'no' for ">=X" and ">X" targets on the ratio, None for words."""
    for op in (">=", ">"):
        if target.startswith(op):
            try:
                x = float(target[len(op):])
            except ValueError:
                return None
            return "yes" if (ratio >= x if op == ">=" else ratio > x) else "no"
    return None


def cpu_median(res, name):
    xs = res.cpu.get(name)
    return statistics.median(xs) if xs else math.nan


def median_col(res, name, col):
    xs = [s[col] for s in res.samples.get(name, []) if len(s) > col]
    return statistics.median(xs) if xs else math.nan


def section_rows(res, section):
    return [r for r in res.rows if r.section == section]


def pairs(rows):
    seen = []
    for r in rows:
        if (r.ours, r.other) not in seen:
            seen.append((r.ours, r.other))
    return seen


def latency_names(res, rows):
    """Samples of these rows that carry p50/p99 (the zkocc load generator)."""
    names = []
    for r in rows:
        for n in (r.ours, r.other):
            if n not in names and any(len(s) >= 4 for s in res.samples.get(n, [])):
                names.append(n)
    return names


def percentiles(xs):
    """p50, p90, p99 (nearest rank) and max of xs."""
    v = sorted(xs)
    rank = lambda p: v[max(0, math.ceil(p / 100 * len(v)) - 1)]
    return [rank(50), rank(90), rank(99), v[-1]]


# ---- console ----

W = 56


def console(res, section):
    rows = section_rows(res, section)
    stats = [Stats(res, r) for r in rows]
    for s in stats:
        for w in s.warnings:
            print(f"  warning: {w}")
    print()
    print(f"{'row (zkcell vs other, same server, same run)':{W}} {'zkcell':>12} {'other':>12}"
          f" {'ratio':>8}  runs")
    for r, s in zip(rows, stats):
        print(f"{r.label:{W}} {s.value('a'):>10}{s.unit:>2} {s.value('b'):>10}{s.unit:>2}"
              f" {s.ratio:>7.2f}x  {s.runs}")
    lat = latency_names(res, rows)
    if lat:
        print()
        print("latency per call, medians over rounds (us):")
        for n in lat:
            print(f"  {n:{W - 2}} p50 {median_col(res, n, 2):>8.0f}"
                  f"  p99 {median_col(res, n, 3):>8.0f}")
    cpu_pairs = [(a, b) for a, b in pairs(rows) if a in res.cpu or b in res.cpu]
    if cpu_pairs:
        print()
        print("client CPU, user+sys seconds per run (medians): zkcell / other")
        for a, b in cpu_pairs:
            print(f"  {a + ' / ' + b:{W - 2}} {cpu_median(res, a):>10.2f} s"
                  f" {cpu_median(res, b):>10.2f} s")
    for p in res.plots:
        series = pct_series(res, p[0]) if p[1] == section else []
        if series:
            print()
            print(f"{p[2]}, all rounds' hand-offs (ms):")
            for name, n, q in series:
                print(f"  {name + ' (' + str(n) + ')':{W - 2}} p50 {q[0]:.2f}  p90 {q[1]:.2f}"
                      f"  p99 {q[2]:.2f}  max {q[3]:.2f}")
    print()
    for line in res.notes.get(section, []):
        print(line)


# ---- plots ----

def gp_str(s):
    return "'" + s.replace("'", "''") + "'"


GP_HEAD = ("set terminal svg size 760,440 dynamic noenhanced font 'sans,11' background '#ffffff'\n"
           "set grid\nset key below\nset offsets graph 0.04, graph 0.04, 0, 0\n")


def curve_series(res, plot_id):
    """[(series, [(x, median, min, max, rounds)])] of a curve plot, rates per second."""
    out = {}
    for series, x, name in res.points.get(plot_id, []):
        ys = [METRICS["rate"][0](s) for s in res.samples.get(name, [])]
        if ys:
            out.setdefault(series, []).append((x, statistics.median(ys), min(ys), max(ys), len(ys)))
    return [(s, sorted(p)) for s, p in out.items()]


def pct_series(res, plot_id):
    """[(series, hand-offs, [p50, p90, p99, max] in ms)] of a percentile plot."""
    out = []
    for series, name in res.pcts.get(plot_id, []):
        xs = [x for run in res.handoffs.get(name, []) for x in run]
        if xs:
            out.append((series, len(xs), [q * 1e3 for q in percentiles(xs)]))
    return out


def gnuplot_script(res, plot, tmp, svg):
    pid, _, title, xlabel, ylabel = plot
    head = GP_HEAD + (f"set output {gp_str(svg)}\nset title {gp_str(title)}\n"
                      f"set xlabel {gp_str(xlabel)}\nset ylabel {gp_str(ylabel)}\n")
    if pid in res.points:
        series = curve_series(res, pid)
        if not series:
            return None
        plots = []
        for i, (name, pts) in enumerate(series):
            dat = os.path.join(tmp, f"{pid}-{i}.dat")
            with open(dat, "w") as f:
                for p in pts:
                    f.write("%g %g %g %g\n" % p[:4])
            plots.append(f"{gp_str(dat)} using 1:2:3:4 with yerrorlines title {gp_str(name)}")
        xs = [p[0] for _, pts in series for p in pts]
        ys = [p[2] for _, pts in series for p in pts]
        logs = ("set logscale x 2\n" if min(xs) > 0 else "") + \
               ("set logscale y 10\nset format y '%.0s%c'\n" if min(ys) > 0 else "")
        return head + logs + "plot " + ", \\\n     ".join(plots) + "\n"
    series = pct_series(res, pid)
    if not series:
        return None
    dat = os.path.join(tmp, f"{pid}.dat")
    with open(dat, "w") as f:
        for i, label in enumerate(("p50", "p90", "p99", "max")):
            f.write(label + "".join(" %g" % s[2][i] for s in series) + "\n")
    plots = [f"{gp_str(dat)} using 0:{i + 2}{':xtic(1)' if i == 0 else ''} with linespoints"
             f" pointsize 1.5 title {gp_str(name + ' (' + str(n) + ' hand-offs)')}"
             for i, (name, n, _) in enumerate(series)]
    logy = min(v for s in series for v in s[2]) > 0
    return (head + "set xrange [-0.5:3.5]\n" + ("set logscale y 10\n" if logy else "") +
            "plot " + ", \\\n     ".join(plots) + "\n")


def render_plots(res, outdir, stem):
    """{plot id: (file name, None) or (None, why missing)}."""
    done = {}
    for p in res.plots:  # no stale plot from an earlier run
        try:
            os.remove(os.path.join(outdir, f"{stem}-{p[0]}.svg"))
        except FileNotFoundError:
            pass
    gp = os.environ.get("GNUPLOT") or shutil.which("gnuplot")
    if not gp or not os.access(gp, os.X_OK):
        why = "gnuplot is not installed (`scripts/deps.sh bench` installs gnuplot-nox)"
        return {p[0]: (None, why) for p in res.plots}
    with tempfile.TemporaryDirectory() as tmp:
        for p in res.plots:
            name = f"{stem}-{p[0]}.svg"
            script = gnuplot_script(res, p, tmp, os.path.join(outdir, name))
            if script is None:
                done[p[0]] = (None, "no data")
                continue
            r = subprocess.run([gp], input=script, text=True, capture_output=True)
            if r.returncode != 0 or not os.path.exists(os.path.join(outdir, name)):
                done[p[0]] = (None, "gnuplot failed: " + " ".join(r.stderr.split())[:300])
            else:
                done[p[0]] = (name, None)
    return done


# ---- markdown ----

def md_cell(s):
    return s.replace("|", "\\|")


def markdown(res, results, out):
    outdir = os.path.dirname(os.path.abspath(out))
    tsv = os.path.relpath(os.path.abspath(results), outdir)
    stem = os.path.splitext(os.path.basename(out))[0]
    plots = render_plots(res, outdir, stem)
    m = res.meta.get
    L = ["# zkcell benchmark report", ""]
    changed = [s for s in res.settings if s[2] != s[3]]
    if changed:
        L += ["> **Short run: not make bench's settings** ("
              + ", ".join(f"{s[1]}={s[2]} for {s[0]}, default {s[3]}" for s in changed)
              + ").  These numbers only show the report being made; regenerate it with"
              " `make bench` on a quiet machine before quoting them.", ""]
    L += [f"Written by `make bench` (bench/run.sh) on {m('date', '?')} from commit"
          f" `{m('commit', '?')}`.  The raw results are in [{tsv}]({tsv});"
          f" `bench/report.py markdown {tsv} {os.path.basename(out)}`, run in this file's"
          " directory, rewrites this file from them.", ""]
    L += ["## Machine", "", "| | |", "|---|---|"]
    for key, label in (("cpu", "CPU"), ("cores", "cores"), ("kernel", "kernel"),
                       ("load", "load average at start (1, 5, 15 min)"),
                       ("zookeeper", "ZooKeeper"), ("kazoo", "kazoo (python3-kazoo)"),
                       ("zkcli", "zkCli.sh (zookeeper package)"), ("pdns", "PowerDNS"),
                       ("dnsperf", "dnsperf"), ("gnuplot", "gnuplot")):
        if key in res.meta:
            L.append(f"| {label} | {md_cell(res.meta[key])} |")
    L += ["", "## Settings", "",
          "| script | setting | value | default |", "|---|---|---|---|"]
    for s in res.settings:
        L.append(f"| {s[0]} | {s[1]} | {s[2]} | {s[3]} |")
    env = " ".join(dict.fromkeys(f"{s[1]}={s[2]}" for s in changed))
    L += ["", "The run: `" + (env + " " if env else "") + "make bench`"
          " (bench/run.sh, which runs bench/zkocc.sh and bench/dns.sh).", ""]
    L += ["## How to read it", "",
          "Each row runs zkcell (*ours*) and one other tool on the same server in the same run."
          "  The other is an *anchor* (a tool people use instead: kazoo, zkCli.sh, PowerDNS's"
          " bind backend, ZooKeeper read directly) or a *limit* (the best the layer underneath"
          " allows: the raw C client pipelined, a do-nothing responder, a trivial pipe"
          " coprocess).  Figures are medians over rounds with [min-max]; the ratio is > 1 when"
          " zkcell is better (faster, fewer watch events).  When both sides ran in the same"
          " rounds, back to back with the order alternating, the ratio is the median of the"
          " per-round ratios, with their [min-max]; otherwise the ratio of the medians.", ""]
    for sid, title in res.sections:
        L += markdown_section(res, sid, title, plots)
    root = res.meta.get("root")
    L += ["## Commands", "",
          "As run" + (", from the repository's root" if root else "") +
          " (the temporary directories and ports were this run's).", ""]
    for name, cmd in res.cmds.items():
        if root:
            cmd = cmd.replace(root.rstrip("/") + "/", "")
        L.append(f"- `{name}`: `{cmd}`")
    L.append("")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(L))
    missing = sorted({why for name, why in plots.values() if name is None})
    return [p for p, (name, _) in plots.items() if name], missing


def markdown_section(res, sid, title, plots):
    rows = section_rows(res, sid)
    L = [f"## {title}", ""]
    stats = [Stats(res, r) for r in rows]
    warnings = [w for s in stats for w in s.warnings]
    if warnings:
        L += [f"**Warning:** {w}.  " for w in warnings] + [""]
    if rows:
        L += ["| row | ours | median [min-max] | other | median [min-max] | ratio [min-max]"
              " | target | rounds |", "|---|---|---:|---|---:|---:|---|---:|"]
    for r, s in zip(rows, stats):
        unit = {"ms": " ms"}.get(s.unit, s.unit)
        ours = f"{s.value('a')}{unit}{s.spread(s.a)}" if s.ok else "-"
        other = f"{s.value('b')}{unit}{s.spread(s.b)}" if s.ok else "-"
        ratio = "-"
        if s.ok:
            ratio = f"{s.ratio:.2f}x"
            if len(s.ratios) > 1:
                ratio += f" [{min(s.ratios):.2f}-{max(s.ratios):.2f}]"
        target = r.target
        met = target_met(r.target, s.ratio) if s.ok else None
        if met:
            target = f"{target}: {met}"
        L.append(f"| {md_cell(r.label)} | `{r.ours}` | {ours} | `{r.other}` ({r.role}) | {other}"
                 f" | {ratio} | {md_cell(target)} | {s.runs} |")
    L.append("")
    lat = latency_names(res, rows)
    if lat:
        L += ["Latency per call (us), medians over rounds:", "",
              "| samples | p50 | p99 |", "|---|---:|---:|"]
        for n in lat:
            L.append(f"| `{n}` | {median_col(res, n, 2):.0f} | {median_col(res, n, 3):.0f} |")
        L.append("")
    cpu_names = [n for a, b in pairs(rows) for n in (a, b) if n in res.cpu]
    cpu_names = list(dict.fromkeys(cpu_names))
    if cpu_names:
        L += ["Client CPU, user+sys seconds per run (median):", "",
              "| samples | CPU s |", "|---|---:|"]
        for n in cpu_names:
            L.append(f"| `{n}` | {cpu_median(res, n):.2f} |")
        L.append("")
    for p in res.plots:
        if p[1] == sid:
            L += markdown_plot(res, p, plots)
    notes = res.notes.get(sid, [])
    if notes:
        L += [" ".join(n.strip() for n in notes), ""]
    return L


def markdown_plot(res, plot, plots):
    pid, _, title, xlabel, ylabel = plot
    L = [f"### {title}", ""]
    name, why = plots.get(pid, (None, "not drawn"))
    L += [f"![{title}]({name})" if name else f"*Plot missing: {why}.*", ""]
    if pid in res.points:
        series = curve_series(res, pid)
        xs = sorted({p[0] for _, pts in series for p in pts})
        L += [f"| {xlabel} | " + " | ".join(f"{s} ({ylabel})" for s, _ in series) + " |",
              "|---:|" + "---:|" * len(series)]
        for x in xs:
            cells = []
            for _, pts in series:
                p = [q for q in pts if q[0] == x]
                spread = f" [{p[0][2]:.0f}-{p[0][3]:.0f}]" if p and p[0][4] > 1 else ""
                cells.append(f"{p[0][1]:.0f}{spread}" if p else "-")
            L.append(f"| {x:g} | " + " | ".join(cells) + " |")
    else:
        L += ["| | hand-offs | p50 ms | p90 ms | p99 ms | max ms |",
              "|---|---:|---:|---:|---:|---:|"]
        for series, n, q in pct_series(res, pid):
            L.append(f"| {series} | {n} | " + " | ".join(f"{v:.2f}" for v in q) + " |")
    L.append("")
    return L


def main(argv):
    usage = "usage: report.py console SECTION RESULTS | report.py markdown RESULTS OUT.md"
    if len(argv) != 4 or argv[1] not in ("console", "markdown"):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[1] == "console":
            res = Results(argv[3])
            if argv[2] not in {s for s, _ in res.sections}:
                raise ResultsError(f"{argv[3]}: no section {argv[2]!r}")
            console(res, argv[2])
        else:
            res = Results(argv[2])
            drawn, missing = markdown(res, argv[2], argv[3])
            print(f"report: {argv[3]}" + (f" (plots: {', '.join(drawn)})" if drawn else ""))
            for why in missing:
                print(f"report: plots missing: {why}")
    except ResultsError as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"report.py: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
