//! Reads PyTorch `pytorch_model.bin` state dicts without Python and without
//! executing anything from the file.
//!
//! `torch.save(state_dict, f)` (PyTorch 1.6 and later) writes a zip archive
//! whose entries share one top-level folder `<dir>/`:
//!
//! * `<dir>/data.pkl`: a pickle (protocol 2) of a dict or OrderedDict from
//!   names to tensors, each `torch._utils._rebuild_tensor_v2(storage,
//!   offset, size, stride, requires_grad, hooks[, metadata])`, where
//!   `storage` is a persistent id `('storage', torch.FloatStorage, key,
//!   location, numel)`;
//! * `<dir>/data/<key>`: the raw little-endian bytes of each storage, stored
//!   uncompressed;
//! * `<dir>/byteorder`, `<dir>/version` and a few more, read or ignored.
//!
//! This module holds a minimal zip reader (central directory, zip64, stored
//! entries, CRC-32 checked unless torch wrote 0 for "not computed") and a
//! pickle *interpreter* for the opcodes torch emits. Globals are never
//! resolved to code: they become names, and only the few a state dict needs
//! are accepted (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter[_with_state]`, the `torch.*Storage`
//! classes, `torch.float32` and the other dtype names); any other global
//! is refused with an error naming it.
//!
//! Storages of float32, float16, bfloat16 and float64 are converted to f32;
//! integer and bool storages (`position_ids` buffers, say) are converted to
//! f32 too, exactly up to 2^24 in magnitude. Views are honoured: the storage
//! offset and strides (transposes, slices, zero-stride expansions) are
//! applied and every tensor comes out row-major, each bounds-checked against
//! its storage. Names sharing a storage (tied weights) each get a copy.
//!
//! Input is untrusted: no panics, no allocation larger than the file
//! justifies (`OUTPUT_FACTOR`), no recursion deeper than `MAX_TUPLE_DEPTH`,
//! work linear in the file's size (`MAX_DIMS`, `MAX_KEY_LEN`, names shared
//! through the pickle's memo read once).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::model::weights::HostTensor;

/// How to turn a legacy (pre-1.6) file into one this module reads.
const LEGACY_HINT: &str = "python -c \"import torch; sd = torch.load('pytorch_model.bin', map_location='cpu'); torch.save(sd, 'pytorch_model.bin')\"";

/// The f32 values read out may number at most this many times the file's
/// length in bytes (plus [`OUTPUT_SLACK`]): tied weights and expanded views
/// make the output larger than the storages, but never by this much in a
/// real checkpoint, while a crafted file could otherwise ask for terabytes.
const OUTPUT_FACTOR: u64 = 4;
const OUTPUT_SLACK: u64 = 1 << 20;

/// Tuples nested deeper than this are refused (dropping them recurses).
const MAX_TUPLE_DEPTH: u32 = 64;

/// Limits that keep the work linear in the file's size (values shared
/// through the pickle's memo cost a few bytes each time they are used).
const MAX_DIMS: usize = 64;
const MAX_KEY_LEN: usize = 256;

/// Reads a state dict saved by `torch.save(state_dict, f)` (the zip format
/// PyTorch has used since 1.6), converting f32/f16/bf16/f64 storages to f32.
/// `origin` names the file in errors.
///
/// Integer and bool storages are converted to f32 as well (exact up to
/// 2^24). Legacy (pre-1.6) files are refused with the command that re-saves
/// them in the zip format; pickles referring to anything beyond tensors,
/// storages and OrderedDict are refused with the name of the reference.
pub fn read_state_dict(bytes: &[u8], origin: &str) -> Result<BTreeMap<String, HostTensor>> {
    read(bytes).map_err(|msg| Error::Invalid(format!("{origin}: {msg}")))
}

type Res<T> = std::result::Result<T, String>;

fn read(bytes: &[u8]) -> Res<BTreeMap<String, HostTensor>> {
    if bytes.first() == Some(&0x80) {
        return Err(format!(
            "a legacy (pre-1.6, non-zip) torch.save file, which dnagpu does not read; \
             re-save it in the zip format with a modern PyTorch: {LEGACY_HINT}"
        ));
    }
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err("not a PyTorch checkpoint: torch.save writes a zip archive \
                    (starting with `PK\\x03\\x04`)"
            .to_string());
    }
    let entries = zip_entries(bytes)?;
    let mut by_name: HashMap<&str, &Entry> = HashMap::new();
    for e in &entries {
        by_name.entry(e.name.as_str()).or_insert(e);
    }
    let (dir, pkl) = entries
        .iter()
        .find_map(|e| {
            let dir = e.name.strip_suffix("/data.pkl")?;
            (!dir.is_empty() && !dir.contains('/')).then_some((dir, e))
        })
        .ok_or("the archive has no `<folder>/data.pkl`: not a file written by torch.save")?;
    if let Some(order) = by_name.get(format!("{dir}/byteorder").as_str()) {
        match order.data.trim_ascii() {
            b"little" => {}
            b"big" => return Err("a big-endian checkpoint; dnagpu reads little-endian ones".into()),
            other => {
                return Err(format!(
                    "unknown byte order `{}` in {dir}/byteorder",
                    String::from_utf8_lossy(other)
                ))
            }
        }
    }
    pkl.check_crc()?;
    let mut vm = Unpickler::new(pkl.data);
    let root = vm
        .run()
        .map_err(|(at, msg)| format!("{}: {msg} (at byte {at})", pkl.name))?;
    let items = match root {
        Value::Dict(i) => match vm.arena.get(i) {
            Some(Container::Dict(items)) => items.as_slice(),
            _ => return Err("internal: dangling dict".into()),
        },
        other => {
            return Err(format!(
                "the pickle holds {}, not a state dict (a dict of tensors)",
                other.kind()
            ))
        }
    };

    let mut storages: HashMap<&str, StorageData> = HashMap::new();
    let budget = (bytes.len() as u64)
        .saturating_mul(OUTPUT_FACTOR)
        .saturating_add(OUTPUT_SLACK);
    let mut produced = 0u64;
    let mut out = BTreeMap::new();
    // Later entries win, as in Python. Going backwards, a name seen before
    // is skipped, by identity first: a name shared through the memo could
    // otherwise be copied or compared once per use.
    let mut seen = std::collections::HashSet::new();
    for (key, value) in items.iter().rev() {
        let Value::Str(name) = key else {
            return Err(format!(
                "the state dict has a key that is {}, not a string",
                key.kind()
            ));
        };
        if !seen.insert(Rc::as_ptr(name) as *const u8) || out.contains_key(&**name) {
            continue;
        }
        let Value::Tensor(t) = value else {
            return Err(format!(
                "`{name}` is {}, not a tensor: this is not a plain state dict \
                 (a training checkpoint such as {{'model': ..., 'optimizer': ...}}?); \
                 save just the model's state_dict()",
                value.kind()
            ));
        };
        let s = match storages.get(&*t.storage.key) {
            Some(s) => *s,
            None => {
                let s = load_storage(&by_name, dir, &t.storage)?;
                storages.insert(&*t.storage.key, s);
                s
            }
        };
        if s.dt != t.storage.dt || s.numel != t.storage.numel {
            return Err(format!(
                "storage `{}` is referenced both as {} x {} and as {} x {}",
                t.storage.key,
                s.numel,
                s.dt.name(),
                t.storage.numel,
                t.storage.dt.name()
            ));
        }
        let numel =
            numel_of(&t.shape).ok_or_else(|| format!("tensor `{name}`: too many elements"))?;
        produced = produced.saturating_add(numel);
        if produced > budget {
            return Err(format!(
                "tensor `{name}`: the tensors read so far hold {produced} values, more than \
                 {OUTPUT_FACTOR} per byte of a {}-byte file; refusing what looks like a crafted file",
                bytes.len()
            ));
        }
        let data = gather(t, s).map_err(|msg| format!("tensor `{name}`: {msg}"))?;
        let shape = t
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| format!("tensor `{name}`: dimension too large"))?;
        out.insert(name.to_string(), HostTensor { shape, data });
    }
    Ok(out)
}

// ---------------------------------------------------------------- zip --

/// One stored entry of the archive.
struct Entry<'a> {
    name: String,
    data: &'a [u8],
    crc: u32,
}

impl Entry<'_> {
    /// Checks the CRC-32; torch writes 0 when told not to compute it.
    fn check_crc(&self) -> Res<()> {
        if self.crc == 0 {
            return Ok(());
        }
        let mut crc = flate2::Crc::new();
        crc.update(self.data);
        if crc.sum() == self.crc {
            Ok(())
        } else {
            Err(format!(
                "zip entry `{}` is corrupt (CRC-32 mismatch)",
                self.name
            ))
        }
    }
}

fn field<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    field(b, at).map(u16::from_le_bytes)
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    field(b, at).map(u32::from_le_bytes)
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    field(b, at).map(u64::from_le_bytes)
}
fn sub(b: &[u8], at: u64, len: u64) -> Option<&[u8]> {
    let at = usize::try_from(at).ok()?;
    let len = usize::try_from(len).ok()?;
    b.get(at..at.checked_add(len)?)
}

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_LOCATOR64: u32 = 0x0706_4b50;

/// The entries of a zip archive, from its central directory. Only stored
/// (uncompressed, unencrypted) entries are accepted, as torch writes.
fn zip_entries(b: &[u8]) -> Res<Vec<Entry<'_>>> {
    let corrupt = |what: &str| format!("truncated or corrupt zip archive ({what})");
    // End of central directory: 22 bytes plus a comment of at most 64 KiB,
    // which must end exactly at the end of the file.
    let last = b
        .len()
        .checked_sub(22)
        .ok_or_else(|| corrupt("too short"))?;
    let eocd = (last.saturating_sub(0xFFFF)..=last)
        .rev()
        .find(|&p| {
            u32_at(b, p) == Some(SIG_EOCD)
                && u16_at(b, p + 20).map(|c| p + 22 + usize::from(c)) == Some(b.len())
        })
        .ok_or_else(|| corrupt("no end-of-central-directory record"))?;
    let mut count = u64::from(u16_at(b, eocd + 10).ok_or_else(|| corrupt("eocd"))?);
    let mut cd_size = u64::from(u32_at(b, eocd + 12).ok_or_else(|| corrupt("eocd"))?);
    let mut cd_off = u64::from(u32_at(b, eocd + 16).ok_or_else(|| corrupt("eocd"))?);
    let locator = eocd.checked_sub(20);
    if let Some(loc) = locator.filter(|&l| u32_at(b, l) == Some(SIG_LOCATOR64)) {
        let z = u64_at(b, loc + 8)
            .and_then(|z| usize::try_from(z).ok())
            .ok_or_else(|| corrupt("zip64 locator"))?;
        if u32_at(b, z) != Some(SIG_EOCD64) {
            return Err(corrupt("no zip64 end-of-central-directory record"));
        }
        count = u64_at(b, z + 32).ok_or_else(|| corrupt("zip64 record"))?;
        cd_size = u64_at(b, z + 40).ok_or_else(|| corrupt("zip64 record"))?;
        cd_off = u64_at(b, z + 48).ok_or_else(|| corrupt("zip64 record"))?;
    } else if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_off == 0xFFFF_FFFF {
        return Err(corrupt("zip64 fields without a zip64 record"));
    }
    let cd = sub(b, cd_off, cd_size).ok_or_else(|| corrupt("central directory out of bounds"))?;

    let mut entries = Vec::new();
    let mut at = 0usize;
    // Each entry takes at least 46 bytes of `cd`, so this ends quickly
    // whatever `count` says.
    for _ in 0..count {
        let bad = || corrupt("central directory entry");
        if u32_at(cd, at) != Some(SIG_CENTRAL) {
            return Err(bad());
        }
        let flags = u16_at(cd, at + 8).ok_or_else(bad)?;
        let method = u16_at(cd, at + 10).ok_or_else(bad)?;
        let crc = u32_at(cd, at + 16).ok_or_else(bad)?;
        let mut csize = u64::from(u32_at(cd, at + 20).ok_or_else(bad)?);
        let mut usize_ = u64::from(u32_at(cd, at + 24).ok_or_else(bad)?);
        let nlen = usize::from(u16_at(cd, at + 28).ok_or_else(bad)?);
        let elen = usize::from(u16_at(cd, at + 30).ok_or_else(bad)?);
        let clen = usize::from(u16_at(cd, at + 32).ok_or_else(bad)?);
        let mut local = u64::from(u32_at(cd, at + 42).ok_or_else(bad)?);
        let name_at = at + 46;
        let name = cd.get(name_at..name_at + nlen).ok_or_else(bad)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = cd
            .get(name_at + nlen..name_at + nlen + elen)
            .ok_or_else(bad)?;
        // Zip64 extended information: the saturated fields, in this order.
        let mut x = 0usize;
        while let (Some(id), Some(size)) = (u16_at(extra, x), u16_at(extra, x + 2)) {
            let body = extra
                .get(x + 4..x + 4 + usize::from(size))
                .ok_or_else(bad)?;
            if id == 1 {
                let mut f = 0usize;
                for v in [&mut usize_, &mut csize, &mut local] {
                    if *v == 0xFFFF_FFFF {
                        *v = u64_at(body, f).ok_or_else(bad)?;
                        f += 8;
                    }
                }
            }
            x += 4 + usize::from(size);
        }
        at = name_at + nlen + elen + clen;

        if flags & 1 != 0 {
            return Err(format!("zip entry `{name}` is encrypted"));
        }
        if method != 0 {
            return Err(format!(
                "zip entry `{name}` is compressed (method {method}); torch.save stores \
                 entries uncompressed: re-save the file with torch.save"
            ));
        }
        if csize != usize_ {
            return Err(bad());
        }
        let l = usize::try_from(local).map_err(|_| bad())?;
        if u32_at(b, l) != Some(SIG_LOCAL) {
            return Err(corrupt("local header"));
        }
        let lnlen = u16_at(b, l + 26).ok_or_else(bad)?;
        let lelen = u16_at(b, l + 28).ok_or_else(bad)?;
        let start = local
            .checked_add(30 + u64::from(lnlen) + u64::from(lelen))
            .ok_or_else(bad)?;
        let data = sub(b, start, csize)
            .ok_or_else(|| corrupt(&format!("entry `{name}` out of bounds")))?;
        entries.push(Entry { name, data, crc });
    }
    Ok(entries)
}

// ------------------------------------------------------------- pickle --

/// Element types of torch storages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dt {
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
    fn size(self) -> u64 {
        match self {
            Dt::F64 | Dt::I64 => 8,
            Dt::F32 | Dt::I32 => 4,
            Dt::F16 | Dt::BF16 | Dt::I16 => 2,
            Dt::I8 | Dt::U8 | Dt::Bool => 1,
        }
    }

    fn name(self) -> &'static str {
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

/// The globals a state dict may reference; nothing else is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    Storage(Dt),
    DType(Dt),
}

fn lookup_global(module: &str, name: &str) -> Res<Global> {
    let storage = |dt| Ok(Global::Storage(dt));
    let dtype = |dt| Ok(Global::DType(dt));
    match (module, name) {
        ("collections", "OrderedDict") => Ok(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Ok(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_parameter") => Ok(Global::RebuildParameter),
        ("torch._utils", "_rebuild_parameter_with_state") => Ok(Global::RebuildParameterWithState),
        ("torch", "FloatStorage") => storage(Dt::F32),
        ("torch", "HalfStorage") => storage(Dt::F16),
        ("torch", "BFloat16Storage") => storage(Dt::BF16),
        ("torch", "DoubleStorage") => storage(Dt::F64),
        ("torch", "LongStorage") => storage(Dt::I64),
        ("torch", "IntStorage") => storage(Dt::I32),
        ("torch", "ShortStorage") => storage(Dt::I16),
        ("torch", "CharStorage") => storage(Dt::I8),
        ("torch", "ByteStorage") => storage(Dt::U8),
        ("torch", "BoolStorage") => storage(Dt::Bool),
        ("torch", "float32" | "float") => dtype(Dt::F32),
        ("torch", "float16" | "half") => dtype(Dt::F16),
        ("torch", "bfloat16") => dtype(Dt::BF16),
        ("torch", "float64" | "double") => dtype(Dt::F64),
        ("torch", "int64" | "long") => dtype(Dt::I64),
        ("torch", "int32" | "int") => dtype(Dt::I32),
        ("torch", "int16" | "short") => dtype(Dt::I16),
        ("torch", "int8") => dtype(Dt::I8),
        ("torch", "uint8") => dtype(Dt::U8),
        ("torch", "bool") => dtype(Dt::Bool),
        ("torch", n) if n.ends_with("Storage") => Err(format!(
            "the pickle references `torch.{n}`, a storage type dnagpu does not read \
             (it reads float32, float16, bfloat16, float64, integer and bool storages)"
        )),
        _ => Err(format!(
            "refusing to load: the pickle references `{module}.{name}`, which a state dict \
             never needs (nothing in the file is executed; only tensors are read)"
        )),
    }
}

/// A persistent id: one storage of the archive.
struct StorageRef {
    dt: Dt,
    key: Rc<str>,
    numel: u64,
}

/// `_rebuild_tensor_v2`'s arguments: a view of a storage.
struct TensorRef {
    storage: Rc<StorageRef>,
    offset: u64,
    shape: Vec<u64>,
    stride: Vec<u64>,
}

struct Tuple {
    depth: u32,
    items: Vec<Value>,
}

/// A pickled value. Lists and dicts live in the unpickler's arena and are
/// referred to by index, so that they can be shared (memo) and mutated
/// without reference cycles; tuples are immutable and depth-limited.
#[derive(Clone)]
enum Value {
    None,
    /// Bools and floats appear (`requires_grad`) but their values are never used.
    Bool,
    Int(i64),
    Float,
    Str(Rc<str>),
    Tuple(Rc<Tuple>),
    List(usize),
    Dict(usize),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool => "a bool",
            Value::Int(_) => "an int",
            Value::Float => "a float",
            Value::Str(_) => "a string",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(_) => "a class or function",
            Value::Storage(_) => "a storage",
            Value::Tensor(_) => "a tensor",
        }
    }

    fn depth(&self) -> u32 {
        match self {
            Value::Tuple(t) => t.depth,
            _ => 0,
        }
    }
}

enum Container {
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

/// A pickle interpreter for the opcodes torch.save emits.
struct Unpickler<'a> {
    src: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK; values below the last one are out of reach.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    arena: Vec<Container>,
}

impl<'a> Unpickler<'a> {
    fn new(src: &'a [u8]) -> Self {
        Self {
            src,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            arena: Vec::new(),
        }
    }

    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or("truncated")?;
        let s = self.src.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self) -> Res<[u8; N]> {
        self.take(N)?
            .try_into()
            .map_err(|_| "truncated".to_string())
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.arr::<1>()?[0])
    }

    fn line(&mut self) -> Res<&'a str> {
        let rest = self.src.get(self.pos..).ok_or("truncated")?;
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("truncated GLOBAL")?;
        let s = self.take(n + 1)?;
        std::str::from_utf8(s.get(..n).ok_or("truncated")?)
            .map_err(|_| "GLOBAL name is not UTF-8".to_string())
    }

    fn text(&mut self, n: u64) -> Res<Value> {
        let n = usize::try_from(n).map_err(|_| "truncated")?;
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| "string is not UTF-8")?;
        Ok(Value::Str(s.into()))
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Res<Value> {
        if self.stack.len() <= self.floor() {
            return Err("stack underflow".into());
        }
        self.stack.pop().ok_or_else(|| "stack underflow".into())
    }

    fn top(&self) -> Res<&Value> {
        if self.stack.len() <= self.floor() {
            return Err("stack underflow".into());
        }
        self.stack.last().ok_or_else(|| "stack underflow".into())
    }

    fn pop_mark(&mut self) -> Res<Vec<Value>> {
        let m = self.marks.pop().ok_or("no MARK to pop to")?;
        if m > self.stack.len() {
            return Err("stack underflow".into());
        }
        Ok(self.stack.split_off(m))
    }

    fn tuple(items: Vec<Value>) -> Res<Value> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_TUPLE_DEPTH {
            return Err(format!("tuples nested more than {MAX_TUPLE_DEPTH} deep"));
        }
        Ok(Value::Tuple(Rc::new(Tuple { depth, items })))
    }

    fn new_container(&mut self, c: Container) -> usize {
        self.arena.push(c);
        self.arena.len() - 1
    }

    fn memo_put(&mut self, idx: u32) -> Res<()> {
        let v = self.top()?.clone();
        self.memo.insert(idx, v);
        Ok(())
    }

    fn memo_get(&mut self, idx: u32) -> Res<()> {
        let v = self
            .memo
            .get(&idx)
            .ok_or_else(|| format!("memo entry {idx} is missing"))?
            .clone();
        self.stack.push(v);
        Ok(())
    }

    fn dict_of_top(&mut self) -> Res<&mut Vec<(Value, Value)>> {
        let Value::Dict(i) = *self.top()? else {
            return Err(format!("SETITEM(S) on {}", self.top()?.kind()));
        };
        match self.arena.get_mut(i) {
            Some(Container::Dict(d)) => Ok(d),
            _ => Err("internal: dangling dict".into()),
        }
    }

    fn list_of_top(&mut self) -> Res<&mut Vec<Value>> {
        let Value::List(i) = *self.top()? else {
            return Err(format!("APPEND(S) on {}", self.top()?.kind()));
        };
        match self.arena.get_mut(i) {
            Some(Container::List(l)) => Ok(l),
            _ => Err("internal: dangling list".into()),
        }
    }

    /// Runs to STOP; errors carry the byte offset of the failing opcode.
    fn run(&mut self) -> std::result::Result<Value, (usize, String)> {
        loop {
            let at = self.pos;
            match self.step() {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => return Err((at, e)),
            }
        }
    }

    /// Executes one opcode; `Some` at STOP.
    fn step(&mut self) -> Res<Option<Value>> {
        let op = self
            .u8()
            .map_err(|_| "truncated: no STOP opcode".to_string())?;
        match op {
            0x80 => {
                // PROTO
                let p = self.u8()?;
                if p > 5 {
                    return Err(format!("unknown pickle protocol {p}"));
                }
            }
            0x95 => {
                // FRAME: a length hint only
                self.take(8)?;
            }
            b'c' => {
                // GLOBAL
                let module = self.line()?;
                let name = self.line()?;
                self.stack.push(Value::Global(lookup_global(module, name)?));
            }
            0x93 => {
                // STACK_GLOBAL
                let (Value::Str(name), Value::Str(module)) = (self.pop()?, self.pop()?) else {
                    return Err("STACK_GLOBAL on non-strings".into());
                };
                self.stack
                    .push(Value::Global(lookup_global(&module, &name)?));
            }
            b'(' => self.marks.push(self.stack.len()),
            b'}' => {
                let i = self.new_container(Container::Dict(Vec::new()));
                self.stack.push(Value::Dict(i));
            }
            b']' => {
                let i = self.new_container(Container::List(Vec::new()));
                self.stack.push(Value::List(i));
            }
            b')' => self.stack.push(Self::tuple(Vec::new())?),
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Self::tuple(items)?);
            }
            0x85..=0x87 => {
                // TUPLE1, TUPLE2, TUPLE3
                let n = usize::from(op - 0x84);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.stack.push(Self::tuple(items)?);
            }
            b'X' => {
                let n = u32::from_le_bytes(self.arr()?);
                let v = self.text(u64::from(n))?;
                self.stack.push(v);
            }
            0x8c => {
                let n = self.u8()?;
                let v = self.text(u64::from(n))?;
                self.stack.push(v);
            }
            0x8d => {
                let n = u64::from_le_bytes(self.arr()?);
                let v = self.text(n)?;
                self.stack.push(v);
            }
            b'J' => {
                let v = i32::from_le_bytes(self.arr()?);
                self.stack.push(Value::Int(i64::from(v)));
            }
            b'K' => {
                let v = self.u8()?;
                self.stack.push(Value::Int(i64::from(v)));
            }
            b'M' => {
                let v = u16::from_le_bytes(self.arr()?);
                self.stack.push(Value::Int(i64::from(v)));
            }
            0x8a | 0x8b => {
                // LONG1, LONG4: little-endian two's complement
                let n = if op == 0x8a {
                    i64::from(self.u8()?)
                } else {
                    i64::from(i32::from_le_bytes(self.arr()?))
                };
                if !(0..=8).contains(&n) {
                    return Err(format!("integer of {n} bytes (at most 8 are read)"));
                }
                let bytes = self.take(n as usize)?;
                let mut buf = [0u8; 8];
                if bytes.last().is_some_and(|&b| b & 0x80 != 0) {
                    buf = [0xFF; 8];
                }
                for (d, s) in buf.iter_mut().zip(bytes) {
                    *d = *s;
                }
                self.stack.push(Value::Int(i64::from_le_bytes(buf)));
            }
            b'G' => {
                // BINFLOAT (big-endian f64)
                self.arr::<8>()?;
                self.stack.push(Value::Float);
            }
            0x88 | 0x89 => self.stack.push(Value::Bool),
            b'N' => self.stack.push(Value::None),
            b'q' => {
                let i = self.u8()?;
                self.memo_put(u32::from(i))?;
            }
            b'r' => {
                let i = u32::from_le_bytes(self.arr()?);
                self.memo_put(i)?;
            }
            b'h' => {
                let i = self.u8()?;
                self.memo_get(u32::from(i))?;
            }
            b'j' => {
                let i = u32::from_le_bytes(self.arr()?);
                self.memo_get(i)?;
            }
            0x94 => {
                // MEMOIZE
                let i = u32::try_from(self.memo.len()).map_err(|_| "memo too large")?;
                self.memo_put(i)?;
            }
            b'R' => {
                let args = self.pop()?;
                let f = self.pop()?;
                let v = self.call(f, args)?;
                self.stack.push(v);
            }
            0x81 => {
                // NEWOBJ: cls.__new__(cls, *args)
                let args = self.pop()?;
                let cls = self.pop()?;
                match (&cls, &args) {
                    (Value::Global(Global::OrderedDict), Value::Tuple(t)) if t.items.is_empty() => {
                        let i = self.new_container(Container::Dict(Vec::new()));
                        self.stack.push(Value::Dict(i));
                    }
                    _ => return Err(format!("NEWOBJ of {}", cls.kind())),
                }
            }
            b'b' => {
                // BUILD: the state of an OrderedDict (`_metadata`) or a
                // tensor is not needed.
                let _state = self.pop()?;
                match self.top()? {
                    Value::Dict(_) | Value::Tensor(_) => {}
                    other => return Err(format!("BUILD on {}", other.kind())),
                }
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.dict_of_top()?.push((k, v));
            }
            b'u' => {
                let items = self.pop_mark()?;
                if items.len() % 2 != 0 {
                    return Err("SETITEMS with an odd number of items".into());
                }
                let mut it = items.into_iter();
                let d = self.dict_of_top()?;
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            b'a' => {
                let v = self.pop()?;
                self.list_of_top()?.push(v);
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.list_of_top()?.extend(items);
            }
            b'Q' => {
                let pid = self.pop()?;
                let s = persistent_storage(&pid)?;
                self.stack.push(Value::Storage(Rc::new(s)));
            }
            b'.' => return self.pop().map(Some),
            _ => {
                return Err(format!(
                "unsupported pickle opcode 0x{op:02x} (not one torch.save writes for a state dict)"
            ))
            }
        }
        Ok(None)
    }

    /// REDUCE: only the accepted globals can be "called", and none runs code.
    fn call(&mut self, f: Value, args: Value) -> Res<Value> {
        let Value::Global(g) = f else {
            return Err(format!("REDUCE calls {}", f.kind()));
        };
        let Value::Tuple(args) = args else {
            return Err(format!("REDUCE with {} for arguments", args.kind()));
        };
        match (g, args.items.as_slice()) {
            (Global::OrderedDict, []) => {
                let i = self.new_container(Container::Dict(Vec::new()));
                Ok(Value::Dict(i))
            }
            (Global::RebuildTensorV2, a) => rebuild_tensor(a),
            (Global::RebuildParameter, [t @ Value::Tensor(_), _, _])
            | (Global::RebuildParameterWithState, [t @ Value::Tensor(_), _, _, _]) => Ok(t.clone()),
            (g, a) => Err(format!(
                "unexpected call of {g:?} with {} argument(s)",
                a.len()
            )),
        }
    }
}

fn int(v: &Value, what: &str) -> Res<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).map_err(|_| format!("negative {what} {i}")),
        other => Err(format!("{what} is {}, not an int", other.kind())),
    }
}

fn ints(v: &Value, what: &str) -> Res<Vec<u64>> {
    match v {
        Value::Tuple(t) => t.items.iter().map(|x| int(x, what)).collect(),
        other => Err(format!("{what} is {}, not a tuple", other.kind())),
    }
}

/// `('storage', torch.FloatStorage, key, location, numel)`.
fn persistent_storage(pid: &Value) -> Res<StorageRef> {
    let Value::Tuple(t) = pid else {
        return Err(format!("persistent id is {}", pid.kind()));
    };
    match t.items.as_slice() {
        [Value::Str(tag), Value::Global(Global::Storage(dt)), Value::Str(key), _location, numel]
            if &**tag == "storage" =>
        {
            if key.len() > MAX_KEY_LEN {
                return Err(format!(
                    "storage key of {} bytes (torch writes short numbers)",
                    key.len()
                ));
            }
            Ok(StorageRef {
                dt: *dt,
                key: key.clone(),
                numel: int(numel, "storage size")?,
            })
        }
        _ => Err(
            "persistent id is not ('storage', torch.<Type>Storage, key, location, numel)".into(),
        ),
    }
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
fn rebuild_tensor(a: &[Value]) -> Res<Value> {
    let (Value::Storage(storage), offset, size, stride) = (match a {
        [s, o, sz, st, _, _] | [s, o, sz, st, _, _, _] => (s, o, sz, st),
        _ => {
            return Err(format!(
                "_rebuild_tensor_v2 with {} arguments (6 or 7 expected)",
                a.len()
            ))
        }
    }) else {
        return Err("_rebuild_tensor_v2 without a storage".into());
    };
    let shape = ints(size, "tensor size")?;
    if shape.len() > MAX_DIMS {
        return Err(format!(
            "tensor of {} dimensions (at most {MAX_DIMS} are read)",
            shape.len()
        ));
    }
    let stride = ints(stride, "tensor stride")?;
    if shape.len() != stride.len() {
        return Err(format!(
            "tensor of {} dimensions with {} strides",
            shape.len(),
            stride.len()
        ));
    }
    Ok(Value::Tensor(Rc::new(TensorRef {
        storage: storage.clone(),
        offset: int(offset, "storage offset")?,
        shape,
        stride,
    })))
}

// ----------------------------------------------------------- tensors --

#[derive(Clone, Copy)]
struct StorageData<'a> {
    bytes: &'a [u8],
    dt: Dt,
    numel: u64,
}

fn load_storage<'a>(
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

fn numel_of(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

/// The view's elements in row-major order, converted to f32.
fn gather(t: &TensorRef, s: StorageData) -> Res<Vec<f32>> {
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
fn decode(dt: Dt, src: &[u8], out: &mut Vec<f32>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Weights;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/torch_bin");
    const SMALL: &[&str] = &[
        "dtypes",
        "transposed",
        "shared",
        "slice",
        "parameter",
        "scalar",
        "module",
    ];

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{FIXTURES}/{name}.bin");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn load(name: &str) -> BTreeMap<String, HostTensor> {
        read_state_dict(&fixture(name), name).unwrap_or_else(|e| panic!("{e}"))
    }

    fn t(shape: &[usize], data: &[f32]) -> HostTensor {
        HostTensor {
            shape: shape.to_vec(),
            data: data.to_vec(),
        }
    }

    fn err(bytes: &[u8]) -> String {
        match read_state_dict(bytes, "test.bin") {
            Ok(sd) => panic!("expected an error, read {} tensors", sd.len()),
            Err(e) => e.to_string(),
        }
    }

    /// A zip of stored entries (no zip64), as a test input builder.
    fn write_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in entries {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let (crc, len, off) = (crc.sum(), data.len() as u32, out.len() as u32);
            out.extend(SIG_LOCAL.to_le_bytes());
            out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend(crc.to_le_bytes());
            out.extend(len.to_le_bytes());
            out.extend(len.to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend([0, 0]);
            out.extend(name.as_bytes());
            out.extend(*data);
            cd.extend(SIG_CENTRAL.to_le_bytes());
            cd.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend(crc.to_le_bytes());
            cd.extend(len.to_le_bytes());
            cd.extend(len.to_le_bytes());
            cd.extend((name.len() as u16).to_le_bytes());
            cd.extend([0; 12]);
            cd.extend(off.to_le_bytes());
            cd.extend(name.as_bytes());
        }
        let (cd_off, cd_len, n) = (out.len() as u32, cd.len() as u32, entries.len() as u16);
        out.extend(cd);
        out.extend(SIG_EOCD.to_le_bytes());
        out.extend([0, 0, 0, 0]);
        out.extend(n.to_le_bytes());
        out.extend(n.to_le_bytes());
        out.extend(cd_len.to_le_bytes());
        out.extend(cd_off.to_le_bytes());
        out.extend([0, 0]);
        out
    }

    /// `archive/data.pkl` = `pkl` plus the given storages.
    fn archive(pkl: &[u8], storages: &[(&str, &[u8])]) -> Vec<u8> {
        let names: Vec<String> = storages
            .iter()
            .map(|(k, _)| format!("archive/data/{k}"))
            .collect();
        let mut entries: Vec<(&str, &[u8])> = vec![("archive/data.pkl", pkl)];
        for (n, (_, d)) in names.iter().zip(storages) {
            entries.push((n, d));
        }
        write_zip(&entries)
    }

    fn binunicode(s: &str) -> Vec<u8> {
        let mut v = vec![b'X'];
        v.extend((s.len() as u32).to_le_bytes());
        v.extend(s.as_bytes());
        v
    }

    fn binint(i: u32) -> Vec<u8> {
        let mut v = vec![b'J'];
        v.extend(i.to_le_bytes());
        v
    }

    /// A pickle `{name: tensor}` over FloatStorage `key` of `numel`.
    fn tensor_pickle(
        name: &str,
        key: &str,
        numel: u32,
        offset: u32,
        size: &[u32],
        stride: &[u32],
    ) -> Vec<u8> {
        let mut p = b"\x80\x02}(".to_vec();
        p.extend(binunicode(name));
        p.extend(tensor_expr(key, numel, offset, size, stride));
        p.extend(b"u.");
        p
    }

    /// The opcodes that push one `_rebuild_tensor_v2(...)`.
    fn tensor_expr(key: &str, numel: u32, offset: u32, size: &[u32], stride: &[u32]) -> Vec<u8> {
        let mut p = b"ctorch._utils\n_rebuild_tensor_v2\n((".to_vec();
        p.extend(binunicode("storage"));
        p.extend(b"ctorch\nFloatStorage\n");
        p.extend(binunicode(key));
        p.extend(binunicode("cpu"));
        p.extend(binint(numel));
        p.extend(b"tQ");
        p.extend(binint(offset));
        p.push(b'(');
        for &d in size {
            p.extend(binint(d));
        }
        p.extend(b"t(");
        for &d in stride {
            p.extend(binint(d));
        }
        p.extend(b"t\x89ccollections\nOrderedDict\n)RtR");
        p
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn tiny_fixture_matches_safetensors() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny");
        let bin = std::fs::read(format!("{dir}/pytorch_model.bin")).unwrap();
        let st = std::fs::read(format!("{dir}/model.safetensors")).unwrap();
        let sd = read_state_dict(&bin, "pytorch_model.bin").unwrap();
        let w = Weights::from_safetensors(&st, "model.safetensors").unwrap();
        let names: Vec<&str> = w.names().collect();
        let bin_names: Vec<&str> = sd.keys().map(String::as_str).collect();
        assert_eq!(bin_names, names);
        assert!(names.len() > 10, "{names:?}");
        for (name, t) in &sd {
            let s = w.take(name, &t.shape).unwrap();
            assert_eq!(s.data.len(), t.data.len(), "{name}");
            assert!(
                s.data
                    .iter()
                    .zip(&t.data)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name}: values differ"
            );
        }
    }

    #[test]
    fn half_bfloat16_double_and_integer_storages() {
        let sd = load("dtypes");
        assert_eq!(sd.len(), 4);
        assert_eq!(sd["h"], t(&[4], &[1.5, -2.0, 65504.0, 0.0009765625]));
        assert_eq!(sd["b"], t(&[2, 2], &[1.0, -3.5, 256.0, 0.0078125]));
        assert_eq!(sd["d"], t(&[3], &[0.1f64 as f32, -2.5, 1e10f64 as f32]));
        assert_eq!(sd["i"], t(&[3], &[1.0, -2.0, 3.0]));
    }

    #[test]
    fn strided_views_come_out_row_major() {
        let sd = load("transposed");
        // arange(6).reshape(2, 3).t(): stride (1, 3).
        assert_eq!(sd["t"], t(&[3, 2], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
        // [[7], [8]].expand(2, 3): stride (1, 0).
        assert_eq!(sd["e"], t(&[2, 3], &[7.0, 7.0, 7.0, 8.0, 8.0, 8.0]));
    }

    #[test]
    fn names_sharing_a_storage() {
        let sd = load("shared");
        let w = t(&[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(sd["emb"], w);
        assert_eq!(sd["same"], w);
        assert_eq!(sd["decoder"], w);
        assert_eq!(sd["row"], t(&[2], &[2.0, 3.0]));
    }

    #[test]
    fn slice_with_storage_offset() {
        let sd = load("slice");
        assert_eq!(sd["s"], t(&[4], &[3.0, 4.0, 5.0, 6.0]));
    }

    #[test]
    fn parameter_and_scalar() {
        assert_eq!(load("parameter")["p"], t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]));
        assert_eq!(load("scalar")["z"], t(&[], &[2.5]));
    }

    #[test]
    fn module_state_dict_with_metadata() {
        let sd = load("module");
        assert_eq!(sd.len(), 2);
        assert_eq!(sd["weight"], t(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        assert_eq!(sd["bias"], t(&[3], &[-1.0, 0.0, 1.0]));
    }

    #[test]
    fn legacy_format_gets_the_conversion_hint() {
        for bytes in [fixture("legacy"), vec![0x80, 0x02]] {
            let e = err(&bytes);
            assert!(e.starts_with("test.bin: "), "{e}");
            assert!(e.contains("legacy"), "{e}");
            assert!(e.contains(LEGACY_HINT), "{e}");
        }
    }

    #[test]
    fn forbidden_globals_are_refused_by_name() {
        let e = err(&fixture("evil"));
        assert!(e.contains("refusing to load"), "{e}");
        assert!(e.contains("`posix.system`"), "{e}");

        let mut p = b"\x80\x02}q\x00".to_vec();
        p.extend(binunicode("x"));
        p.extend(b"cos\nsystem\n");
        p.extend(binunicode("echo hi"));
        p.extend(b"\x85Rs.");
        let e = err(&archive(&p, &[]));
        assert!(
            e.contains("refusing to load: the pickle references `os.system`"),
            "{e}"
        );

        // STACK_GLOBAL (protocol 4) too.
        let mut p = b"\x80\x04".to_vec();
        p.extend(binunicode("builtins"));
        p.extend(binunicode("eval"));
        p.extend(b"\x93.");
        let e = err(&archive(&p, &[]));
        assert!(e.contains("`builtins.eval`"), "{e}");
    }

    #[test]
    fn crafted_archives_are_refused() {
        let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
        // The one good case of the builder, then variants of it.
        let ok = archive(
            &tensor_pickle("w", "0", 4, 0, &[2, 2], &[2, 1]),
            &[("0", &data)],
        );
        assert_eq!(
            read_state_dict(&ok, "ok").unwrap()["w"],
            t(&[2, 2], &[1.0, 2.0, 3.0, 4.0])
        );
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"hello".to_vec(), "not a PyTorch checkpoint"),
            (b"PK\x03\x04".to_vec(), "truncated or corrupt zip"),
            (
                archive(
                    &tensor_pickle("w", "0", 4, 1, &[2, 2], &[2, 1]),
                    &[("0", &data)],
                ),
                "reaches element 4 of a storage of 4 elements",
            ),
            (
                archive(
                    &tensor_pickle("w", "0", 4, 0, &[3, 2], &[1, 2]),
                    &[("0", &data)],
                ),
                "tensor `w`",
            ),
            (
                archive(&tensor_pickle("w", "0", 4, 0, &[2], &[1]), &[]),
                "storage `0` is missing",
            ),
            (
                archive(&tensor_pickle("w", "0", 5, 0, &[2], &[1]), &[("0", &data)]),
                "has 16 bytes, the pickle says 5 float32 values",
            ),
            (
                // 2^30 x 2^30 elements from a zero-stride view of one value.
                archive(
                    &tensor_pickle("w", "0", 4, 0, &[1 << 30, 1 << 30], &[0, 0]),
                    &[("0", &data)],
                ),
                "refusing what looks like a crafted file",
            ),
            (
                archive(b"\x80\x02}(X\x05\x00\x00\x00epochK\x03u.", &[]),
                "`epoch` is an int, not a tensor",
            ),
            (
                archive(b"\x80\x02].", &[]),
                "holds a list, not a state dict",
            ),
            (archive(b"\x80\x02}", &[]), "no STOP"),
            (archive(b"\x80\x02t.", &[]), "no MARK"),
            (archive(b"\x80\x02}(s.", &[]), "stack underflow"),
            (archive(b"\x80\x02h\x07.", &[]), "memo entry 7 is missing"),
            (
                archive(b"\x80\x02\x01.", &[]),
                "unsupported pickle opcode 0x01",
            ),
            (
                write_zip(&[("data.pkl", b"\x80\x02}.")]),
                "no `<folder>/data.pkl`",
            ),
        ];
        for (bytes, want) in cases {
            let e = err(&bytes);
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }

        let mut deep = b"\x80\x02)".to_vec();
        deep.extend(std::iter::repeat_n(0x85u8, 100_000));
        deep.push(b'.');
        let e = err(&archive(&deep, &[]));
        assert!(e.contains("nested more than"), "{e}");

        let mut corrupt = ok.clone();
        let at = corrupt
            .windows(4)
            .position(|w| w == f32_bytes(&[3.0]))
            .unwrap();
        corrupt[at] ^= 1;
        assert!(err(&corrupt).contains("CRC-32 mismatch"));

        let mut deflated = ok.clone();
        let cd = deflated
            .windows(4)
            .position(|w| w == SIG_CENTRAL.to_le_bytes())
            .unwrap();
        deflated[cd + 10] = 8;
        assert!(err(&deflated).contains("is compressed (method 8)"));
    }

    #[test]
    fn later_entries_win_and_shared_names_stay_cheap() {
        let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
        let mut p = b"\x80\x02}(".to_vec();
        p.extend(binunicode("w"));
        p.extend(tensor_expr("0", 4, 0, &[2], &[1]));
        p.extend(binunicode("w"));
        p.extend(tensor_expr("0", 4, 2, &[2], &[1]));
        p.extend(b"u.");
        let sd = read_state_dict(&archive(&p, &[("0", &data)]), "dup").unwrap();
        assert_eq!(sd.len(), 1);
        assert_eq!(sd["w"], t(&[2], &[3.0, 4.0]));

        // A 100 KB name and one tensor, set 50 000 times through the memo:
        // read once, not 50 000 times.
        let name = "n".repeat(100_000);
        let mut p = b"\x80\x02}(".to_vec();
        p.extend(binunicode(&name));
        p.extend(b"q\x00");
        p.extend(tensor_expr("0", 4, 0, &[4], &[1]));
        p.extend(b"q\x01");
        for _ in 0..50_000 {
            p.extend(b"h\x00h\x01");
        }
        p.extend(b"u.");
        let sd = read_state_dict(&archive(&p, &[("0", &data)]), "memo").unwrap();
        assert_eq!(sd.len(), 1);
        assert_eq!(sd[&name], t(&[4], &[1.0, 2.0, 3.0, 4.0]));

        let long_key = "0".repeat(MAX_KEY_LEN + 1);
        let e = err(&archive(
            &tensor_pickle("w", &long_key, 1, 0, &[1], &[1]),
            &[],
        ));
        assert!(e.contains("storage key of 257 bytes"), "{e}");
        let dims = [1u32; MAX_DIMS + 1];
        let e = err(&archive(
            &tensor_pickle("w", "0", 4, 0, &dims, &dims),
            &[("0", &data)],
        ));
        assert!(e.contains("tensor of 65 dimensions"), "{e}");
    }

    /// Every prefix is an error, never a panic.
    #[test]
    fn truncated_files_are_errors() {
        for name in SMALL {
            let bytes = fixture(name);
            for n in 0..bytes.len() {
                assert!(read_state_dict(&bytes[..n], name).is_err(), "{name}: {n}");
            }
        }
        let tiny = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tiny/pytorch_model.bin"
        ))
        .unwrap();
        let len = tiny.len();
        let lens = (0..4096)
            .chain((4096..len).step_by(4099))
            .chain(len.saturating_sub(512)..len);
        for n in lens {
            assert!(read_state_dict(&tiny[..n], "tiny").is_err(), "{n}");
        }
    }

    /// Flipped bytes anywhere in the small archives: never a panic.
    #[test]
    fn flipped_bytes_never_panic() {
        for name in SMALL {
            let bytes = fixture(name);
            for at in 0..bytes.len() {
                for mask in [0x01u8, 0x80, 0xFF] {
                    let mut b = bytes.clone();
                    b[at] ^= mask;
                    let _ = read_state_dict(&b, name);
                }
            }
        }
    }

    /// Several random bytes of each pickle replaced (deterministic
    /// xorshift), re-zipped with a valid CRC: never a panic.
    #[test]
    fn random_pickle_mutations_never_panic() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for name in SMALL {
            let bytes = fixture(name);
            let entries = zip_entries(&bytes).unwrap();
            let pkl = entries
                .iter()
                .find(|e| e.name.ends_with("/data.pkl"))
                .unwrap();
            for _ in 0..2000 {
                let mut p = pkl.data.to_vec();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % p.len() as u64) as usize;
                    p[at] = next() as u8;
                }
                if next() % 4 == 0 {
                    p.truncate((next() % p.len() as u64) as usize);
                }
                let list: Vec<(&str, &[u8])> = entries
                    .iter()
                    .map(|e| {
                        let d: &[u8] = if e.name == pkl.name { &p } else { e.data };
                        (e.name.as_str(), d)
                    })
                    .collect();
                let _ = read_state_dict(&write_zip(&list), name);
            }
        }
    }

    /// Flipped bytes in the pickle itself, re-zipped with a valid CRC so that
    /// they reach the interpreter: never a panic.
    #[test]
    fn flipped_pickle_bytes_never_panic() {
        for name in SMALL {
            let bytes = fixture(name);
            let entries = zip_entries(&bytes).unwrap();
            let pkl = entries
                .iter()
                .find(|e| e.name.ends_with("/data.pkl"))
                .unwrap();
            let mut ok = 0;
            for at in 0..pkl.data.len() {
                for mask in [0x01u8, 0x02, 0x10, 0x80, 0xFF] {
                    let mut p = pkl.data.to_vec();
                    p[at] ^= mask;
                    let list: Vec<(&str, &[u8])> = entries
                        .iter()
                        .map(|e| {
                            let d: &[u8] = if e.name == pkl.name { &p } else { e.data };
                            (e.name.as_str(), d)
                        })
                        .collect();
                    ok += read_state_dict(&write_zip(&list), name).is_ok() as usize;
                }
            }
            // Some flips (in a name, say) still give a readable file.
            assert!(ok > 0, "{name}");
        }
    }
}
