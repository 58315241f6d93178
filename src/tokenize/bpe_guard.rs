//! What the `tokenizers` crate checks when a tokenizer is built in code but
//! not when `tokenizer.json` is read, and panics on when encoding (found by
//! the `tokenizer_json` fuzz target): a `TemplateProcessing` template that
//! names a special token it does not define, or a single-sequence template
//! that uses sequence B. Checked on the parsed tokenizer's own serialization,
//! so every spelling the file may use is covered.

use serde_json::Value;

/// Why `tokenizer` would panic when encoding, if it would.
pub(super) fn check(tokenizer: &tokenizers::Tokenizer) -> Result<(), String> {
    let Some(processor) = tokenizer.get_post_processor() else {
        return Ok(());
    };
    let value = serde_json::to_value(processor).map_err(|e| e.to_string())?;
    check_processor(&value)
}

fn check_processor(p: &Value) -> Result<(), String> {
    match p.get("type").and_then(Value::as_str) {
        Some("Sequence") => p["processors"]
            .as_array()
            .into_iter()
            .flatten()
            .try_for_each(check_processor),
        Some("TemplateProcessing") => {
            let defined = p["special_tokens"].as_object();
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
