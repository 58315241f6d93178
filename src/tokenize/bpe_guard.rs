//! Checks of a `tokenizer.json` beyond the `tokenizers` crate's own (each
//! found by the `tokenizer_json` fuzz target). The crate panics instead of
//! returning an error on a JSON syntax error inside `decoder` (it parses
//! that part with `expect`), on a BPE merge shorter than the
//! `continuing_subword_prefix` it cuts off, and on what it checks when a
//! tokenizer is built in code but not when one is read: a
//! `TemplateProcessing` template that names a special token it does not
//! define, or a single-sequence template that uses sequence B. And it
//! accepts ids past the vocabulary (a sparse `vocab`, a special token's id),
//! which would fall outside the model's embedding table, sized by the
//! vocabulary. The post-processor is checked on the parsed tokenizer's own
//! serialization, so every spelling the file may use is covered.

use serde_json::Value;

/// What in `text` the crate would panic on while reading it: a JSON syntax
/// error, or a merge whose second part is shorter than the BPE model's
/// `continuing_subword_prefix` (the crate cuts the prefix off it unchecked).
pub(super) fn check_text(text: &str) -> Result<(), String> {
    let json: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let model = &json["model"];
    let Some(prefix) = model["continuing_subword_prefix"].as_str() else {
        return Ok(());
    };
    for merge in model["merges"].as_array().into_iter().flatten() {
        // "a b" (the crate skips "#version" lines and refuses other counts
        // of parts itself) or ["a", "b"].
        let second = match merge {
            Value::String(line) if !line.starts_with("#version") => {
                let parts: Vec<&str> = line.split(' ').collect();
                (parts.len() == 2).then(|| parts[1])
            }
            Value::Array(pair) if pair.len() == 2 => pair[1].as_str(),
            _ => None,
        };
        if second.is_some_and(|b| b.get(prefix.len()..).is_none()) {
            return Err(format!(
                "the merge {merge} has a second part shorter than the continuing_subword_prefix {prefix:?}"
            ));
        }
    }
    Ok(())
}

/// Why `tokenizer` would panic when encoding, or emit an id past its
/// vocabulary, if it would.
pub(super) fn check(tokenizer: &tokenizers::Tokenizer) -> Result<(), String> {
    let size = tokenizer.get_vocab_size(true);
    let vocab = tokenizer.get_vocab(true);
    if let Some((token, id)) = vocab.iter().find(|(_, &id)| id as usize >= size) {
        return Err(format!(
            "token `{token}` has id {id}, past the vocabulary of {size} tokens (ids must run from 0 to {})",
            size.saturating_sub(1)
        ));
    }
    let Some(processor) = tokenizer.get_post_processor() else {
        return Ok(());
    };
    let value = serde_json::to_value(processor).map_err(|e| e.to_string())?;
    check_processor(&value, size)
}

fn check_processor(p: &Value, size: usize) -> Result<(), String> {
    let past = |id: &Value| id.as_u64().is_none_or(|id| id >= size as u64);
    match p.get("type").and_then(Value::as_str) {
        Some("Sequence") => p["processors"]
            .as_array()
            .into_iter()
            .flatten()
            .try_for_each(|p| check_processor(p, size)),
        Some("BertProcessing" | "RobertaProcessing") => {
            for special in ["sep", "cls"] {
                if past(&p[special][1]) {
                    return Err(format!(
                        "its post_processor's {special} token has id {}, past the vocabulary of {size} tokens",
                        p[special][1]
                    ));
                }
            }
            Ok(())
        }
        Some("TemplateProcessing") => {
            let defined = p["special_tokens"].as_object();
            for (name, token) in defined.into_iter().flatten() {
                let ids = token["ids"].as_array().into_iter().flatten();
                if let Some(id) = ids.into_iter().find(|&id| past(id)) {
                    return Err(format!(
                        "its post_processor's special token `{name}` has id {id}, past the vocabulary of {size} tokens"
                    ));
                }
            }
            for template in ["single", "pair"] {
                for piece in p[template].as_array().into_iter().flatten() {
                    if let Some(id) = piece.pointer("/SpecialToken/id").and_then(Value::as_str) {
                        if !defined.is_some_and(|d| d.contains_key(id)) {
                            return Err(format!(
                                "its post_processor's {template} template names the special token `{id}`, which the post_processor does not define"
                            ));
                        }
                    }
                    if template == "single" && piece.pointer("/Sequence/id") == Some(&"B".into()) {
                        return Err(
                            "its post_processor's single template uses sequence B (a pair's second sequence)".into(),
                        );
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::tokenize::BpeTokenizer;

    /// DNABERT-2's tokenizer.json with its single template changed by `edit`.
    fn with_single(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(BpeTokenizer::DNABERT2_JSON).unwrap();
        edit(&mut v["post_processor"]["single"]);
        v.to_string()
    }

    #[test]
    fn a_syntax_error_in_the_decoder_is_an_error() {
        let text = BpeTokenizer::DNABERT2_JSON.replacen("\"decoder\": null", "\"decoder\": nul", 1);
        assert_ne!(text, BpeTokenizer::DNABERT2_JSON);
        let msg = BpeTokenizer::from_json(&text, "t.json")
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.starts_with("t.json: not a usable tokenizer.json (expected ident"),
            "{msg}"
        );
    }

    #[test]
    fn a_merge_shorter_than_the_subword_prefix_is_an_error() {
        let mut v: serde_json::Value = serde_json::from_str(BpeTokenizer::DNABERT2_JSON).unwrap();
        v["model"]["continuing_subword_prefix"] = "id".into();
        let msg = BpeTokenizer::from_json(&v.to_string(), "t.json")
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("the merge \"A A\" has a second part shorter than the continuing_subword_prefix \"id\""), "{msg}");
        v["model"]["merges"] = serde_json::json!([["A", "A"]]);
        let msg = BpeTokenizer::from_json(&v.to_string(), "t.json")
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("the merge [\"A\",\"A\"] has a second part"),
            "{msg}"
        );
    }

    #[test]
    fn ids_past_the_vocabulary_are_refused() {
        let mut v: serde_json::Value = serde_json::from_str(BpeTokenizer::DNABERT2_JSON).unwrap();
        v["model"]["vocab"]["ACGTACGT"] = 4200.into();
        let msg = BpeTokenizer::from_json(&v.to_string(), "t.json")
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("`ACGTACGT` has id 4200, past the vocabulary of"),
            "{msg}"
        );
        let special = with_single(|_| {}).replace("\"ids\":[2]", "\"ids\":[4096]");
        let msg = BpeTokenizer::from_json(&special, "t.json")
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("`[SEP]` has id 4096, past the vocabulary of 4096"),
            "{msg}"
        );
    }

    #[test]
    fn templates_that_would_panic_are_refused() {
        let undefined = with_single(|s| s[2]["SpecialToken"]["id"] = "[SEX]".into());
        let msg = BpeTokenizer::from_json(&undefined, "t.json")
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.starts_with("t.json: ") && msg.contains("`[SEX]`"),
            "{msg}"
        );
        let pair_only = with_single(|s| s[1]["Sequence"]["id"] = "B".into());
        let msg = BpeTokenizer::from_json(&pair_only, "t.json")
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("sequence B"), "{msg}");
        let fine = with_single(|_| {});
        let ids = BpeTokenizer::from_json(&fine, "t.json")
            .unwrap()
            .encode("ACGT")
            .unwrap()
            .ids;
        assert_eq!((ids.first(), ids.last()), (Some(&1), Some(&2)));
    }
}
