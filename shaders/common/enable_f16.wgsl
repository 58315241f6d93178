// enable_f16.wgsl — first in the source of a kernel that stores activations
// in half precision (act_f16.wgsl) without cooperative matrices (whose
// coop_enable.wgsl enables f16 itself): WGSL wants `enable` before any
// declaration. The device must have SHADER_F16.
enable f16;
