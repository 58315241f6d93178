//! DNABERT (k-mer) and Nucleotide Transformer tokenizers against ids written
//! by the Hugging Face classes (BertTokenizer on DNABERT's `seq2kmer` text,
//! EsmTokenizer on the raw string): scripts/reference/other_tokenizer_fixtures.py.

use dnagpu::tokenize::{KmerTokenizer, NtTokenizer};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/other_tokenizers"
);

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

fn cases(family: &str) -> Vec<(String, Vec<u32>)> {
    let all: serde_json::Value = serde_json::from_str(&read("cases.json")).unwrap();
    all[family]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ids = c["ids"].as_array().unwrap();
            (
                c["sequence"].as_str().unwrap().to_string(),
                ids.iter().map(|v| v.as_u64().unwrap() as u32).collect(),
            )
        })
        .collect()
}

#[test]
fn dnabert_kmer_ids_equal_hugging_face() {
    for k in [3, 6] {
        let name = format!("dnabert{k}_vocab.txt");
        let tok = KmerTokenizer::from_vocab_txt(&read(&name), &name).unwrap();
        assert_eq!((tok.k(), tok.vocab_size()), (k, 4usize.pow(k as u32) + 5));
        for (seq, want) in cases(&format!("dnabert{k}")) {
            assert_eq!(tok.encode(&seq).unwrap().ids, want, "k={k}: {seq:?}");
        }
    }
    // The worked example of docs/models/bert-and-nt.md.
    let tok = KmerTokenizer::from_vocab_txt(&read("dnabert6_vocab.txt"), "v").unwrap();
    assert_eq!(tok.encode("ACGTACG").unwrap().ids, [2, 727, 2896, 3]);
    assert_eq!(tok.encode("ACGTNACGTACGTA").unwrap().unknown_symbols, 1);
}

#[test]
fn nucleotide_transformer_ids_equal_hugging_face() {
    for v in ["v1", "v2"] {
        let name = format!("nt_{v}_vocab.txt");
        let tok = NtTokenizer::from_vocab_txt(&read(&name), &name).unwrap();
        // Both list 4,107 tokens; v1 puts <eos>/<bos> last, outside its 4,105-row embedding.
        assert_eq!(tok.vocab_size(), 4107);
        for (seq, want) in cases(&format!("nt_{v}")) {
            assert_eq!(tok.encode(&seq).unwrap().ids, want, "{v}: {seq:?}");
        }
    }
    let v2 = NtTokenizer::from_vocab_txt(&read("nt_v2_vocab.txt"), "v2").unwrap();
    assert_eq!(v2.encode("ACGTACG").unwrap().ids, [3, 728, 4105]);
    assert_eq!(
        v2.encode("AC<mask>GT").unwrap().ids,
        [3, 4102, 4104, 2, 4105, 4103]
    );
    assert_eq!(v2.encode("ACGTRYKMACGTAC").unwrap().unknown_symbols, 4);
}

#[test]
fn bad_vocabularies_and_input_are_clear_errors() {
    let six = read("dnabert6_vocab.txt");
    let err = |r: dnagpu::Result<KmerTokenizer>| r.err().expect("an error").to_string();
    // A 5-mer among 6-mers: k does not match.
    let mixed = six.replacen("AAAAAT\n", "AAAAT\n", 1);
    assert!(err(KmerTokenizer::from_vocab_txt(&mixed, "vocab.txt"))
        .contains("vocab.txt:7: token `AAAAT` is not a 6-mer"));
    let short: String = six.lines().take(100).map(|l| format!("{l}\n")).collect();
    assert!(err(KmerTokenizer::from_vocab_txt(&short, "v"))
        .contains("95 6-mers, but a k = 6 vocabulary has all 4^6 = 4096"));
    assert!(err(KmerTokenizer::from_vocab_txt(
        &read("nt_v2_vocab.txt"),
        "nt"
    ))
    .contains("no `[UNK]` token"));
    let dup = six.replacen("[MASK]\n", "[MASK]\n[MASK]\n", 1);
    assert!(
        err(KmerTokenizer::from_vocab_txt(&dup, "v")).contains("v:6: token `[MASK]` appears twice")
    );
    assert!(NtTokenizer::from_vocab_txt(&six, "d")
        .err()
        .unwrap()
        .to_string()
        .contains("no `<unk>` token"));
    let tok = KmerTokenizer::from_vocab_txt(&six, "v").unwrap();
    assert!(tok
        .encode("ACGT ACGT")
        .unwrap_err()
        .to_string()
        .contains("letters only"));
}

/// Folders with a vocab.txt and no tokenizer.json: DNABERT's and the
/// Nucleotide Transformer's are read (tests/other_models.rs runs them; here
/// they lack weights, and the error says so); any other vocabulary is
/// refused, showing what it starts with.
#[test]
fn vocab_txt_folders_are_read_by_family_or_refused() {
    let root = std::env::temp_dir().join(format!("dnagpu-families-{}", std::process::id()));
    let open_err = |name: &str, config: &str, vocab: &str| -> String {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        std::fs::write(dir.join("vocab.txt"), vocab).unwrap();
        match dnagpu::model::io::ModelFiles::open(&dir) {
            Ok(_) => panic!("{name}: an error"),
            Err(e) => e.to_string(),
        }
    };
    for (name, config, vocab) in [
        (
            "dnabert6",
            r#"{"model_type": "bert"}"#,
            "dnabert6_vocab.txt",
        ),
        ("nt", r#"{"model_type": "esm"}"#, "nt_v2_vocab.txt"),
    ] {
        let err = open_err(name, config, &read(vocab));
        assert!(
            err.contains("no model.safetensors or pytorch_model.bin"),
            "{err}"
        );
    }
    let err = open_err("other", "{}", "hello\nworld\n");
    assert!(
        err.contains("not a model dnagpu recognises") && err.contains("hello"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
