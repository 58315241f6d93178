//! Every WGSL file parses and validates with naga, so a shader error fails
//! on any machine, GPU or not.

use dnagpu::gpu::Kernel;

fn validate(name: &str, src: &str) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    assert!(
        module.entry_points.iter().any(|ep| ep.name == "main"),
        "{name}: no `main` entry point"
    );
}

#[test]
fn every_kernel_validates() {
    for &k in Kernel::ALL {
        validate(k.file(), k.source());
    }
}

#[test]
fn every_shader_file_is_a_kernel_or_a_snippet_and_states_its_contract() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut listed: Vec<&str> = Kernel::ALL
        .iter()
        .flat_map(|k| std::iter::once(k.file()).chain(k.snippets().iter().copied()))
        .collect();
    // Variants share a file (the matmuls with f16 B) and snippets.
    listed.sort_unstable();
    listed.dedup();
    let mut seen = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        assert!(
            dir.is_dir(),
            "{}: shaders/ holds one folder per op",
            dir.display()
        );
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let folder = dir.file_name().unwrap().to_str().unwrap();
            let op_home = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/ops")
                .join(folder);
            assert!(
                folder == "common" || op_home.is_dir(),
                "shaders/{folder}/ has no op of the same name in src/ops/"
            );
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with(&format!("// {name} — ")),
                "{name} must open with `// {name} — <contract>`"
            );
            let relative = format!("{folder}/{name}");
            assert!(
                listed.contains(&relative.as_str()),
                "shaders/{relative} is neither a Kernel nor a snippet of one"
            );
            seen.push(relative);
        }
    }
    seen.sort_unstable();
    assert_eq!(
        seen, listed,
        "a file the kernel table names is missing from shaders/"
    );
}

/// The WGSL with each `override` fixed to `values` (else its default), so
/// that naga's layouter can size override-sized workgroup arrays.
fn with_overrides(src: &str, values: &[(&str, u32)]) -> String {
    src.lines()
        .map(|l| match l.strip_prefix("override ") {
            Some(rest) => {
                let name = rest.split(':').next().unwrap().trim();
                match values.iter().find(|v| v.0 == name) {
                    Some(v) => format!("const {name}: u32 = {}u;", v.1),
                    None => format!("const {rest}"),
                }
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Kernel::workgroup_with()` (what dispatch checks against device limits)
/// must match the WGSL: invocations per workgroup and workgroup memory bytes.
#[test]
fn declared_workgroup_sizes_match_the_shaders() {
    for &k in Kernel::ALL {
        workgroup_size_matches(k, &[]);
    }
    workgroup_size_matches(Kernel::MatmulTiled, &[("BK", 16)]);
}

fn workgroup_size_matches(k: Kernel, constants: &[(&str, u32)]) {
    {
        let src = with_overrides(k.source(), constants);
        let module = naga::front::wgsl::parse_str(&src).unwrap();
        let ep = module
            .entry_points
            .iter()
            .find(|ep| ep.name == "main")
            .unwrap();
        let invocations: u32 = ep.workgroup_size.iter().product();
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let shared: u32 = module
            .global_variables
            .iter()
            .filter(|(_, g)| g.space == naga::AddressSpace::WorkGroup)
            .map(|(_, g)| layouter[g.ty].size)
            .sum();
        assert_eq!(
            k.workgroup_with(constants),
            (invocations, shared),
            "{} {constants:?}: Kernel::workgroup_with() disagrees with the WGSL",
            k.file()
        );
        // Kernels past the default run only where the device allows more,
        // and have a fallback within it.
        // The cooperative-matrix matmuls are native only (no WebGPU limit
        // applies) and fall back to the tiled kernel where the device has
        // less.
        let larger_with_fallback = [
            Kernel::FlashAttentionTiled,
            Kernel::MatmulCoop16,
            Kernel::MatmulCoop16F16,
            Kernel::MatmulCoop16Half,
            Kernel::MatmulCoop16HalfSplit,
            Kernel::FlashAttentionTiledHalf,
            Kernel::FlashAttentionCoop16,
            Kernel::FlashAttentionCoop8,
            Kernel::FlashAttentionCoop16Half,
            Kernel::FlashAttentionCoop8Half,
            Kernel::FlashAttentionBackwardQCoop16,
            Kernel::FlashAttentionBackwardKvCoop16,
            Kernel::FlashAttentionBackwardQCoop16Half,
            Kernel::FlashAttentionBackwardKvCoop16Half,
            Kernel::FlashAttentionBackwardKvCoop8,
            Kernel::FlashAttentionBackwardKvCoop8Half,
        ];
        assert!(
            !constants.is_empty() || larger_with_fallback.contains(&k) || shared <= 16384,
            "{} uses {shared} bytes of workgroup memory, over WebGPU's default 16 KiB",
            k.file()
        );
        assert!(
            invocations <= 256,
            "{}: {invocations} invocations, over WebGPU's default 256",
            k.file()
        );
    }
}
