//! The BPE tokenizer gives the reference `tokenizers` ids on GUE dev
//! sequences (a sample of every task) and on IUPAC / lower-case edge cases
//! (fixture: scripts/reference/tokenizer_fixtures.py).

use dnagpu::tokenize::BpeTokenizer;

#[test]
fn ids_equal_the_reference_on_gue_sequences() {
    let text = include_str!("fixtures/gue_token_ids.json");
    let cases: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
    assert!(cases.len() > 200, "the fixture covers every GUE dev set");
    let tok = BpeTokenizer::dnabert2();
    for c in &cases {
        let seq = c["sequence"].as_str().unwrap();
        let want: Vec<u32> = c["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(seq).unwrap();
        assert_eq!(got.ids, want, "{} sequence {seq:.40}…", c["source"]);
        assert_eq!(got.ids.first(), Some(&1), "[CLS] first");
        assert_eq!(got.ids.last(), Some(&2), "[SEP] last");
        let odd = seq
            .to_ascii_uppercase()
            .bytes()
            .filter(|b| !b"ACGT".contains(b))
            .count();
        assert_eq!(got.unknown_symbols, odd);
    }
}
