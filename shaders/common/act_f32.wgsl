// act_f32.wgsl — the storage type of activations in a kernel's f32 variant:
// `act` (one element) and `act4` (four) are f32. Kernels that read or write
// activations declare them as array<act> / array<act4>, read them as
// f32(..) / vec4<f32>(..) and write act(..) / act4(..), so the same source
// serves act_f16.wgsl's half-precision storage; the arithmetic is f32 in
// both (f16 values are exact in f32).
alias act = f32;
alias act4 = vec4<f32>;
