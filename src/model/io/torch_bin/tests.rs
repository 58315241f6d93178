//! The .bin reader against fixtures written by torch and against crafted,
//! truncated and mutated archives: errors, never panics.

use super::archive::zip_entries;
use super::pickle::{MAX_DIMS, MAX_KEY_LEN};
use super::*;
use crate::model::Weights;
use crate::testing::zip::{stored_zip, SIG_CENTRAL};

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
    stored_zip(&entries)
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
        // The advice never loads a pickle with code execution allowed.
        assert!(e.contains("weights_only=True"), "{e}");
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
            stored_zip(&[("data.pkl", b"\x80\x02}.")]),
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
            let _ = read_state_dict(&stored_zip(&list), name);
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
                ok += read_state_dict(&stored_zip(&list), name).is_ok() as usize;
            }
        }
        // Some flips (in a name, say) still give a readable file.
        assert!(ok > 0, "{name}");
    }
}
