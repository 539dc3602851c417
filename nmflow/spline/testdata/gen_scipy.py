#!/usr/bin/python3
"""Writes scipy.json: reference values and derivatives of scipy.interpolate.CubicSpline
(default bc_type='not-a-knot', extrapolate=True) for spline_test.go.

Run from this folder with Debian's Python: /usr/bin/python3 gen_scipy.py (apt-get install python3-scipy).
The Go tests read the JSON only; rerun this script only when the cases change.
"""
import json

import numpy as np
import scipy
from scipy.interpolate import CubicSpline


def case(name, knots, rng):
    knots = np.asarray(knots, dtype=np.float64)
    values = rng.normal(size=len(knots))
    cs = CubicSpline(knots, values)
    lo, hi = knots[0], knots[-1]
    pad = 0.05 * (hi - lo)
    # Points across the range and slightly outside it, plus the knots themselves.
    t = np.concatenate([np.linspace(lo - pad, hi + pad, 23), knots])
    return {
        "name": name,
        "knots": knots.tolist(),
        "values": values.tolist(),
        "t": t.tolist(),
        "value": cs(t).tolist(),
        "deriv": cs(t, 1).tolist(),
    }


def main():
    rng = np.random.default_rng(20250710)
    steps = np.array([0, 10, 30, 70, 150, 310, 630, 1270, 2550, 5110, 10230], dtype=np.float64)
    cases = [
        case("2 uniform", [0.0, 1.0], rng),
        case("2 non-uniform", [-0.3, 2.2], rng),
        case("3 uniform", [0.0, 0.5, 1.0], rng),
        case("3 non-uniform", [0.0, 0.1, 1.0], rng),
        case("4 uniform", np.linspace(0, 1, 4), rng),
        case("4 non-uniform", [0.0, 0.2, 0.25, 1.0], rng),
        case("5 uniform", np.linspace(0, 1, 5), rng),
        case("5 non-uniform", [1.0, 1.5, 3.0, 3.2, 7.0], rng),
        case("11 uniform", np.linspace(0, 1, 11), rng),
        case("11 steps", steps / steps[-1], rng),
    ]
    out = {"scipy_version": scipy.__version__, "cases": cases}
    with open("scipy.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
