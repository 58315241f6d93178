//! Storages and views of the archive turned into row-major f32 tensors,
//! each bounds-checked against its storage.

use std::collections::HashMap;

use super::archive::Entry;
use super::pickle::{StorageRef, TensorRef};
use super::Res;

/// Element types of torch storages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dt {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dt {
    pub(super) fn size(self) -> u64 {
        match self {
            Dt::F64 | Dt::I64 => 8,
            Dt::F32 | Dt::I32 => 4,
            Dt::F16 | Dt::BF16 | Dt::I16 => 2,
            Dt::I8 | Dt::U8 | Dt::Bool => 1,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Dt::F32 => "float32",
            Dt::F16 => "float16",
            Dt::BF16 => "bfloat16",
            Dt::F64 => "float64",
            Dt::I64 => "int64",
            Dt::I32 => "int32",
            Dt::I16 => "int16",
            Dt::I8 => "int8",
            Dt::U8 => "uint8",
            Dt::Bool => "bool",
        }
    }
}

pub(super) fn sub(b: &[u8], at: u64, len: u64) -> Option<&[u8]> {
    let at = usize::try_from(at).ok()?;
    let len = usize::try_from(len).ok()?;
    b.get(at..at.checked_add(len)?)
}

#[derive(Clone, Copy)]
pub(super) struct StorageData<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) dt: Dt,
    pub(super) numel: u64,
}

pub(super) fn load_storage<'a>(
    by_name: &HashMap<&str, &Entry<'a>>,
    dir: &str,
    s: &StorageRef,
) -> Res<StorageData<'a>> {
    let path = format!("{dir}/data/{}", s.key);
    let e = by_name
        .get(path.as_str())
        .ok_or_else(|| format!("storage `{}` is missing from the archive ({path})", s.key))?;
    e.check_crc()?;
    let want = s.numel.checked_mul(s.dt.size());
    if want != Some(e.data.len() as u64) {
        return Err(format!(
            "storage `{}` has {} bytes, the pickle says {} {} values",
            s.key,
            e.data.len(),
            s.numel,
            s.dt.name()
        ));
    }
    Ok(StorageData {
        bytes: e.data,
        dt: s.dt,
        numel: s.numel,
    })
}

pub(super) fn numel_of(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

/// The view's elements in row-major order, converted to f32.
pub(super) fn gather(t: &TensorRef, s: StorageData) -> Res<Vec<f32>> {
    let numel = numel_of(&t.shape).ok_or("too many elements")?;
    if numel == 0 {
        return Ok(Vec::new());
    }
    // Every index is at most offset + sum((d - 1) * stride) (strides >= 0).
    let mut last = t.offset;
    for (&d, &st) in t.shape.iter().zip(&t.stride) {
        last = (d - 1)
            .checked_mul(st)
            .and_then(|x| last.checked_add(x))
            .ok_or("view offsets overflow")?;
    }
    if last >= s.numel {
        return Err(format!(
            "its view (offset {}, size {:?}, stride {:?}) reaches element {last} of a \
             storage of {} elements",
            t.offset, t.shape, t.stride, s.numel
        ));
    }
    let n = usize::try_from(numel).map_err(|_| "too many elements")?;
    let mut out = Vec::new();
    out.try_reserve_exact(n)
        .map_err(|_| format!("cannot allocate {numel} values"))?;
    let es = s.dt.size();
    // `last < numel` bounds every byte range below by the storage length.
    let run = |from: u64, len: u64, out: &mut Vec<f32>| -> Res<()> {
        let bytes = from
            .checked_mul(es)
            .zip(len.checked_mul(es))
            .and_then(|(at, n)| sub(s.bytes, at, n))
            .ok_or("view out of bounds")?;
        decode(s.dt, bytes, out);
        Ok(())
    };

    // Row-major contiguous (dimensions of size 1 have any stride)?
    let mut expect = 1u64;
    let mut contiguous = true;
    for (&d, &st) in t.shape.iter().zip(&t.stride).rev() {
        if d != 1 && st != expect {
            contiguous = false;
        }
        expect = expect.saturating_mul(d);
    }
    if contiguous {
        run(t.offset, numel, &mut out)?;
        return Ok(out);
    }

    // Odometer over the outer dimensions, runs along the innermost one.
    let (Some((&inner_n, outer_shape)), Some((&inner_s, outer_stride))) =
        (t.shape.split_last(), t.stride.split_last())
    else {
        return Err("internal: non-contiguous 0-dim tensor".into());
    };
    let mut idx = vec![0u64; outer_shape.len()];
    loop {
        let base = idx
            .iter()
            .zip(outer_stride)
            .try_fold(t.offset, |b, (&i, &st)| b.checked_add(i.checked_mul(st)?))
            .ok_or("view offsets overflow")?;
        if inner_s == 1 {
            run(base, inner_n, &mut out)?;
        } else {
            for j in 0..inner_n {
                let at = j
                    .checked_mul(inner_s)
                    .and_then(|x| x.checked_add(base))
                    .ok_or("view offsets overflow")?;
                run(at, 1, &mut out)?;
            }
        }
        let mut carry = true;
        for (i, &d) in idx.iter_mut().zip(outer_shape).rev() {
            *i += 1;
            if *i < d {
                carry = false;
                break;
            }
            *i = 0;
        }
        if carry {
            return Ok(out);
        }
    }
}

/// Appends the little-endian values of `src` as f32.
pub(super) fn decode(dt: Dt, src: &[u8], out: &mut Vec<f32>) {
    fn each<const N: usize>(src: &[u8], out: &mut Vec<f32>, f: impl Fn([u8; N]) -> f32) {
        out.extend(
            src.chunks_exact(N)
                .map(|c| f(c.try_into().unwrap_or([0; N]))),
        );
    }
    match dt {
        Dt::F32 => each(src, out, f32::from_le_bytes),
        Dt::F16 => each(src, out, |b| half::f16::from_le_bytes(b).to_f32()),
        Dt::BF16 => each(src, out, |b| half::bf16::from_le_bytes(b).to_f32()),
        Dt::F64 => each(src, out, |b| f64::from_le_bytes(b) as f32),
        Dt::I64 => each(src, out, |b| i64::from_le_bytes(b) as f32),
        Dt::I32 => each(src, out, |b| i32::from_le_bytes(b) as f32),
        Dt::I16 => each(src, out, |b| f32::from(i16::from_le_bytes(b))),
        Dt::I8 => each::<1>(src, out, |[b]| f32::from(b as i8)),
        Dt::U8 => each::<1>(src, out, |[b]| f32::from(b)),
        Dt::Bool => each::<1>(src, out, |[b]| if b != 0 { 1.0 } else { 0.0 }),
    }
}
