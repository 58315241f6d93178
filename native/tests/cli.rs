//! The `dnagpu` binary end to end.

mod common;

use common::{dnagpu, run};

#[test]
fn info_lists_adapters_and_the_chosen_backend() {
    let (ok, out, err) = run(dnagpu().args(["info"]));
    assert!(ok, "dnagpu info failed: {err}");
    assert!(out.contains("backend: "), "{out}");
    // Auto never picks a software adapter.
    if out.contains("software") && !out.contains("DiscreteGpu") && !out.contains("IntegratedGpu") {
        assert!(
            out.contains("backend: cpu"),
            "auto must not pick a software adapter:\n{out}"
        );
        assert!(out.contains("only software adapters found"), "{out}");
    }
}

#[test]
fn info_with_gpu_backend_uses_a_software_adapter() {
    let (ok, out, err) = run(dnagpu().args(["info", "--backend", "gpu"]));
    if out.contains("adapters: none found")
        && std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1")
    {
        eprintln!("SKIPPED: no adapter on this machine");
        return;
    }
    assert!(ok, "dnagpu info --backend gpu failed: {err}");
    assert!(out.contains("backend: gpu"), "{out}");
    assert!(out.contains("using GPU"), "{out}");
}

#[test]
fn info_falls_back_to_the_cpu_when_no_adapter_exists() {
    // Point the Vulkan loader at no driver and allow only Vulkan.
    let (ok, out, err) = run(dnagpu()
        .args(["info"])
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .env("WGPU_BACKEND", "vulkan"));
    assert!(ok, "{err}");
    assert!(out.contains("adapters: none found"), "{out}");
    assert!(out.contains("backend: cpu"), "{out}");
    assert!(
        out.contains("no GPU adapter found: using CPU backend"),
        "{out}"
    );
}

#[test]
fn forcing_the_gpu_without_an_adapter_is_a_clear_error() {
    let (ok, _, err) = run(dnagpu()
        .args(["info", "--backend", "gpu"])
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .env("WGPU_BACKEND", "vulkan"));
    assert!(!ok);
    assert!(err.contains("no GPU adapter"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unknown_backend_is_an_error() {
    let (ok, _, err) = run(dnagpu().args(["info", "--backend", "tpu"]));
    assert!(!ok);
    assert!(err.contains("unknown backend `tpu`"), "{err}");
}
