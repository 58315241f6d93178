// act_f16.wgsl — the storage type of activations in a kernel's
// half-precision variant (`--precision f16` on a device with shader-f16):
// `act` and `act4` are f16 and vec4<f16>; see act_f32.wgsl for how kernels
// use them. Needs `enable f16;` first (enable_f16.wgsl or coop_enable.wgsl).
// Writes round f32 results to f16 as the device does (to nearest on the
// devices we know; WGSL leaves it to the implementation).
alias act = f16;
alias act4 = vec4<f16>;
