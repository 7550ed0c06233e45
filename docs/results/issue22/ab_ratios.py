"""Per-round ratios of a tp_ab.sh output: python ab_ratios.py OUTFILE NUM DEN [NUM DEN ...]
(decisions/s NUM / DEN per round, their median and range, and the median wall and CPU-time ratios DEN / NUM)."""
import re
import statistics as st
import sys

rows: dict[int, dict[str, tuple[int, float, float]]] = {}
for line in open(sys.argv[1]):
    p = line.split()
    dps = int(re.search(r"dps=(\d+)", line).group(1))
    w, u, s = map(float, re.search(r"wall_user_sys=([\d.]+) ([\d.]+) ([\d.]+)", line).groups())
    rows.setdefault(int(p[0]), {})[p[1]] = (dps, w, u + s)
for v in sorted({v for r in rows.values() for v in r}):
    d = [r[v][0] for r in rows.values() if v in r]
    print(f"{v}: decisions/s median {st.median(d):.0f} ({min(d)}-{max(d)}), wall median {st.median(r[v][1] for r in rows.values() if v in r):.1f} s")
for a, b in zip(sys.argv[2::2], sys.argv[3::2]):
    rounds = [r for r in sorted(rows) if a in rows[r] and b in rows[r]]
    rr = [rows[r][a][0] / rows[r][b][0] for r in rounds]
    wr = [rows[r][b][1] / rows[r][a][1] for r in rounds]
    cr = [rows[r][b][2] / rows[r][a][2] for r in rounds]
    print(f"{a}/{b}: median {st.median(rr):.2f} ({min(rr):.2f}-{max(rr):.2f}), per round {[round(x, 2) for x in rr]}, "
          f">= 2 in {sum(x >= 2 for x in rr)} of {len(rr)}; wall {st.median(wr):.2f}, CPU {st.median(cr):.2f}")
