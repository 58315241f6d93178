#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| dnagpu::testing::fuzz::vcf(data));
