// gelu.wgsl — a snippet, not a kernel: prepended to the kernels that apply
// GELU (unary, geglu, matmul's epilogue). Exact (erf-based) GELU:
//   gelu(x) = 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2)
// computed through erfc so that negative x keep full relative precision.

// erfc(z) for z >= 0, relative error < 1.2e-7 (Numerical Recipes `erfcc`).
fn erfc_nonneg(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(-z * z + p);
}

fn gelu(x: f32) -> f32 {
    let c = erfc_nonneg(abs(x) * 0.7071067811865476);
    if (x >= 0.0) {
        return x * (1.0 - 0.5 * c);
    }
    return 0.5 * x * c;
}
