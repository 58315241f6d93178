//! Central finite differences of a whole model's loss, for the backward
//! pass tests: at the largest-gradient entry of every parameter tensor.

/// For each parameter p: the entry i with the largest |grads[p][i]|, moved
/// by ±h through `loss_with(p, values)` (which installs `values` as
/// parameter p and returns the loss), compared with the backward's value:
/// `|fd - g| <= rtol |fd| + atol`. Parameter p is put back afterwards.
pub fn check_largest_entries(
    names: &[String],
    params: &[Vec<f32>],
    grads: &[Vec<f32>],
    h: f32,
    rtol: f64,
    atol: f64,
    mut loss_with: impl FnMut(usize, &[f32]) -> f64,
) -> Result<(), String> {
    let mut failures = Vec::new();
    for (p, name) in names.iter().enumerate() {
        let Some((i, &g)) = grads[p]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        else {
            continue;
        };
        let mut v = params[p].clone();
        v[i] += h;
        let plus = loss_with(p, &v);
        v[i] = params[p][i] - h;
        let minus = loss_with(p, &v);
        loss_with(p, &params[p]);
        let fd = (plus - minus) / (2.0 * h as f64);
        if (fd - g as f64).abs() > rtol * fd.abs() + atol {
            failures.push(format!(
                "{name}[{i}]: backward {g}, finite differences {fd}"
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
