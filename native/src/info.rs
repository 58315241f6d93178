//! `dnagpu info`: what this machine offers and what dnagpu would run on.

use anyhow::{Context, Result};
use dnagpu::gpu::context::list_adapters;
use dnagpu::{BackendChoice, Device};

use crate::DeviceArgs;

fn mib(b: u64) -> String {
    format!("{} MiB", b / (1 << 20))
}

pub fn run(args: &DeviceArgs) -> Result<()> {
    let choice: BackendChoice = args.backend.parse()?;
    let adapters = pollster::block_on(list_adapters());
    if adapters.is_empty() {
        println!("adapters: none found");
    } else {
        println!("adapters:");
    }
    for a in &adapters {
        let soft = if a.is_software { ", software" } else { "" };
        println!(
            "  [{}] {} ({}, {}{soft}) driver: {}",
            a.index, a.name, a.backend, a.device_type, a.driver
        );
        let features = if a.features.is_empty() {
            "none".to_string()
        } else {
            a.features.join(", ")
        };
        println!("      features: {features}");
        if !a.cooperative_matrix.is_empty() {
            println!(
                "      cooperative matrices: {}",
                a.cooperative_matrix.join(", ")
            );
        }
        if let Some(why) = &a.cooperative_matrix_unused {
            let label = if a.cooperative_matrix.is_empty() {
                "cooperative matrices"
            } else {
                "  not used"
            };
            println!("      {label}: {why}");
        }
        println!(
            "      limits: max buffer {}, max storage binding {}, workgroup memory {} KiB, {} invocations per workgroup, {} storage buffers per stage",
            mib(a.max_buffer_size),
            mib(a.max_storage_binding_size),
            a.max_workgroup_storage_bytes / 1024,
            a.max_invocations_per_workgroup,
            a.max_storage_buffers_per_stage
        );
    }
    let (device, notice) = pollster::block_on(Device::select(choice, args.gpu.as_deref()))
        .context("choosing a device")?;
    println!("backend: {}", device.backend());
    println!("device: {}", device.name());
    println!("{notice}");
    match dnagpu::train::distributed::mpi_library() {
        Some(lib) => println!("mpi: yes (--distributed; {lib})"),
        None => println!("mpi: no (build with --features mpi for --distributed)"),
    }
    Ok(())
}
