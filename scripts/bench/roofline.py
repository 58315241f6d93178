"""Roofline-style plot of `dnagpu bench kernels` results (and PyTorch's
cuBLAS on the same shapes): achieved GFLOP/s against arithmetic intensity,
under the adapter's f32 peak and memory-bandwidth roofs. Plain SVG, no
plotting library.

    python3 scripts/bench/roofline.py docs/bench/h200-2026-11-26 \
        --peak 66.9 --bandwidth 4.8 --name "NVIDIA H200" -o docs/figures/roofline-h200.svg
"""
import argparse
import json
import math
import os

ap = argparse.ArgumentParser()
ap.add_argument("folder")
ap.add_argument("--peak", type=float, required=True, help="f32 peak, TFLOP/s")
ap.add_argument("--bandwidth", type=float, required=True, help="memory bandwidth, TB/s")
ap.add_argument("--name", required=True)
ap.add_argument("-o", "--output", required=True)
args = ap.parse_args()


def load(name):
    path = os.path.join(args.folder, name)
    return json.load(open(path)) if os.path.exists(path) else None


def matmul_intensity(m, n, k):
    return 2 * m * n * k / (4 * (m * k + k * n + m * n))


points = []  # (label, intensity, gflops, colour)
kern = load("kernels.json")
for r in kern["results"]:
    colours = {"tiled8": "#1f77b4", "basic": "#aec7e8", "tiled8 f16": "#9467bd"}
    if r["op"] == "matmul" and r["kernel"] in colours:
        # f16 weights: B's bytes count half.
        m, n, k = r["m"], r["n"], r["k"]
        if r["kernel"].endswith("f16"):
            intensity = 2 * m * n * k / (4 * (m * k + m * n) + 2 * k * n)
        else:
            intensity = matmul_intensity(m, n, k)
        points.append((f'{r["case"]} ({r["kernel"]})', intensity, r["gflops"], colours[r["kernel"]]))
for r in kern["results"]:
    if r["op"] == "attention":
        t, b, h, d = r["t"], r["batch"], r["heads"], r["head_dim"]
        qkv_out = 4 * b * t * h * d * 4  # q, k, v and out, f32
        points.append((f'attention fwd T={t}', 4 * b * h * t * t * d / qkv_out, r["forward_gflops"], "#d62728"))
        if "forward_rows_gflops" in r:
            points.append((f'attention fwd T={t} (row kernel)', 4 * b * h * t * t * d / qkv_out, r["forward_rows_gflops"], "#f7b6d2"))
        points.append((f'attention bwd T={t}', 10 * b * h * t * t * d / (2 * qkv_out), r["backward_gflops"], "#ff9896"))
torch = load("torch_matmul.json")
if torch:
    for r in torch["results"]:
        points.append((f'{r["case"]} (cuBLAS)', matmul_intensity(r["m"], r["n"], r["k"]), r["gflops"], "#2ca02c"))

W, H, L, R, T, B = 900, 560, 80, 330, 40, 60
x0, x1 = 1.0, 10000.0
y0, y1 = 1000.0, 200000.0


def X(v):
    return L + (math.log10(v) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) * (W - L - R)


def Y(v):
    return H - B - (math.log10(v) - math.log10(y0)) / (math.log10(y1) - math.log10(y0)) * (H - T - B)


peak = args.peak * 1000
bw = args.bandwidth * 1000  # GB/s
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="24" font-size="15">dnagpu kernels on {args.name} (Vulkan), f32: achieved vs roofline</text>']
for e in range(0, 5):
    v = 10 ** e
    svg.append(f'<line x1="{X(v)}" y1="{T}" x2="{X(v)}" y2="{H - B}" stroke="#eee"/>')
    svg.append(f'<text x="{X(v)}" y="{H - B + 16}" text-anchor="middle">{v:g}</text>')
for e in range(2, 6):
    v = 10 ** e
    svg.append(f'<line x1="{L}" y1="{Y(v)}" x2="{W - R}" y2="{Y(v)}" stroke="#eee"/>')
    svg.append(f'<text x="{L - 6}" y="{Y(v) + 4}" text-anchor="end">{v / 1000:g}</text>')
svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">arithmetic intensity (FLOP per byte of compulsory traffic)</text>')
svg.append(f'<text x="18" y="{(T + H - B) / 2}" transform="rotate(-90 18 {(T + H - B) / 2})" text-anchor="middle">TFLOP/s</text>')
ridge = peak / bw
svg.append(f'<polyline fill="none" stroke="black" stroke-width="2" points="{X(x0)},{Y(bw * x0)} {X(ridge)},{Y(peak)} {X(x1)},{Y(peak)}"/>')
svg.append(f'<text x="{X(x1) - 4}" y="{Y(peak) - 6}" text-anchor="end">f32 peak {args.peak:g} TFLOP/s</text>')
svg.append(f'<text x="{X(3)}" y="{Y(bw * 3) - 8}" transform="rotate(-33 {X(3)} {Y(bw * 3) - 8})">{args.bandwidth:g} TB/s</text>')
for i, (label, ai, g, colour) in enumerate(points):
    svg.append(f'<circle cx="{X(ai):.1f}" cy="{Y(g):.1f}" r="5" fill="{colour}" fill-opacity="0.85"><title>{label}: {g / 1000:.1f} TFLOP/s</title></circle>')
legend = [("#1f77b4", "matmul, tiled kernel"), ("#9467bd", "matmul, tiled kernel, f16 weights"), ("#aec7e8", "matmul, basic kernel"), ("#2ca02c", "PyTorch cuBLAS f32, same shapes"),
          ("#d62728", "flash attention forward, tiled"), ("#f7b6d2", "flash attention forward, row kernel"),
          ("#ff9896", "flash attention backward")]
used = {p[3] for p in points}
legend = [entry for entry in legend if entry[0] in used]
for i, (c, text) in enumerate(legend):
    y = T + 20 + 22 * i
    svg.append(f'<circle cx="{W - R + 20}" cy="{y}" r="5" fill="{c}"/><text x="{W - R + 32}" y="{y + 4}">{text}</text>')
svg.append('</svg>')
open(args.output, "w").write("\n".join(svg))
print(f"wrote {args.output}: {len(points)} points")
