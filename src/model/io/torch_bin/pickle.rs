//! A pickle interpreter for the opcodes torch.save emits for a state dict:
//! globals become names from an allow-list, never code.

use std::collections::HashMap;
use std::rc::Rc;

use super::tensors::Dt;
use super::Res;

/// Tuples nested deeper than this are refused (dropping them recurses).
const MAX_TUPLE_DEPTH: u32 = 64;

/// Limits that keep the work linear in the file's size (values shared
/// through the pickle's memo cost a few bytes each time they are used).
pub(super) const MAX_DIMS: usize = 64;
pub(super) const MAX_KEY_LEN: usize = 256;

/// The globals a state dict may reference; nothing else is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    Storage(Dt),
    DType(Dt),
}

pub(super) fn lookup_global(module: &str, name: &str) -> Res<Global> {
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
pub(super) struct StorageRef {
    pub(super) dt: Dt,
    pub(super) key: Rc<str>,
    pub(super) numel: u64,
}

/// `_rebuild_tensor_v2`'s arguments: a view of a storage.
pub(super) struct TensorRef {
    pub(super) storage: Rc<StorageRef>,
    pub(super) offset: u64,
    pub(super) shape: Vec<u64>,
    pub(super) stride: Vec<u64>,
}

pub(super) struct Tuple {
    pub(super) depth: u32,
    pub(super) items: Vec<Value>,
}

/// A pickled value. Lists and dicts live in the unpickler's arena and are
/// referred to by index, so that they can be shared (memo) and mutated
/// without reference cycles; tuples are immutable and depth-limited.
#[derive(Clone)]
pub(super) enum Value {
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
    pub(super) fn kind(&self) -> &'static str {
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

pub(super) enum Container {
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

/// A pickle interpreter for the opcodes torch.save emits.
pub(super) struct Unpickler<'a> {
    src: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK; values below the last one are out of reach.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    pub(super) arena: Vec<Container>,
}

impl<'a> Unpickler<'a> {
    pub(super) fn new(src: &'a [u8]) -> Self {
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
    pub(super) fn run(&mut self) -> std::result::Result<Value, (usize, String)> {
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

pub(super) fn int(v: &Value, what: &str) -> Res<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).map_err(|_| format!("negative {what} {i}")),
        other => Err(format!("{what} is {}, not an int", other.kind())),
    }
}

pub(super) fn ints(v: &Value, what: &str) -> Res<Vec<u64>> {
    match v {
        Value::Tuple(t) => t.items.iter().map(|x| int(x, what)).collect(),
        other => Err(format!("{what} is {}, not a tuple", other.kind())),
    }
}

/// `('storage', torch.FloatStorage, key, location, numel)`.
pub(super) fn persistent_storage(pid: &Value) -> Res<StorageRef> {
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
pub(super) fn rebuild_tensor(a: &[Value]) -> Res<Value> {
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
