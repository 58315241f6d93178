//! Streaming (`embed_stream`, what `dnagpu embed` runs): chunk by chunk,
//! with a sequence's windows spread over several chunks, it gives what one
//! chunk of everything (`embed`) gives, in input order; an error from the
//! input or from the consumer ends the run with it.

mod common;

use dnagpu::embed::{embed, embed_stream, Chunking, EmbedOptions, Embedding, Pooling, Window};
use dnagpu::model::{init, Config, Model};
use dnagpu::tokenize::{BpeTokenizer, Tokenizer};
use dnagpu::{Device, Error};

fn model() -> (Model, Tokenizer) {
    let text = r#"{"vocab_size": 4096, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}"#;
    let cfg = Config::from_json(text, "test config").unwrap();
    let model = Model::load(&Device::Cpu, &cfg, &init::random_weights(&cfg, 3)).unwrap();
    (model, BpeTokenizer::dnabert2().into())
}

/// 40 random sequences of 5 to 400 bases.
fn sequences() -> Vec<String> {
    common::random_sequences(7, 40, 5, 396, b"ACGTN")
}

/// A sequence with its place in the input.
struct Numbered<'a>(usize, &'a str);

impl AsRef<str> for Numbered<'_> {
    fn as_ref(&self) -> &str {
        self.1
    }
}

/// The stream's results with `chunking`, checked to come in input order.
fn streamed(
    model: &Model,
    tok: &Tokenizer,
    seqs: &[String],
    opts: &EmbedOptions,
    chunking: Chunking,
) -> Vec<Embedding> {
    let mut out = Vec::new();
    let mut last_progress = 0;
    let ran = pollster::block_on(embed_stream(
        &Device::Cpu,
        model,
        tok,
        seqs.iter().enumerate().map(|(i, s)| Ok(Numbered(i, s))),
        opts,
        chunking,
        |Numbered(i, _), e| {
            assert_eq!(i, out.len(), "results in input order");
            out.push(e);
            Ok(())
        },
        |p| {
            assert!(p.sequences >= last_progress && p.sequences <= seqs.len());
            last_progress = p.sequences;
        },
    ))
    .unwrap();
    assert_eq!(ran.sequences, seqs.len());
    assert_eq!(last_progress, seqs.len());
    out
}

fn assert_same(what: &str, got: &[Embedding], want: &[Embedding], ids: bool) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.values.len(), w.values.len(), "{what}: sequence {i}");
        let worst = g
            .values
            .iter()
            .zip(&w.values)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // The same arithmetic per sequence; only the batches' padding differs.
        assert!(worst <= 1e-5, "{what}: sequence {i} differs by {worst}");
        if ids {
            assert_eq!(g.input_ids, w.input_ids, "{what}: sequence {i}");
        }
    }
}

#[test]
fn small_chunks_give_what_one_chunk_gives() {
    let (model, tok) = model();
    let seqs = sequences();
    let refs: Vec<&str> = seqs.iter().map(String::as_str).collect();
    for (what, pooling, window) in [
        ("mean", Pooling::Mean, None),
        ("per token", Pooling::None, None),
        (
            "windows",
            Pooling::Mean,
            Some(Window {
                size: 60,
                stride: 25,
            }),
        ),
    ] {
        let opts = EmbedOptions {
            pooling,
            window,
            ..Default::default()
        };
        let whole =
            pollster::block_on(embed(&Device::Cpu, &model, &tok, &refs, &opts, |_| {})).unwrap();
        // 3 pieces or 100 bases a chunk: a long sequence's windows span chunks.
        let small = Chunking {
            pieces: 3,
            bases: 100,
            total: seqs.len(),
            window_ids: true,
        };
        assert_same(
            what,
            &streamed(&model, &tok, &seqs, &opts, small),
            &whole,
            true,
        );
        let bounded = streamed(&model, &tok, &seqs, &opts, Chunking::bounded(seqs.len()));
        assert_same(what, &bounded, &whole, window.is_none());
    }
}

#[test]
fn errors_from_the_input_or_the_consumer_end_the_run() {
    let (model, tok) = model();
    let seqs = sequences();
    let opts = EmbedOptions::default();
    let small = Chunking {
        pieces: 4,
        bases: usize::MAX,
        total: 0,
        window_ids: false,
    };
    let mut emitted = 0;
    let items = seqs.iter().enumerate().map(|(i, s)| {
        if i == 10 {
            Err(Error::Invalid("record 11 is bad".into()))
        } else {
            Ok(s.as_str())
        }
    });
    let err = pollster::block_on(embed_stream(
        &Device::Cpu,
        &model,
        &tok,
        items,
        &opts,
        small,
        |_, _| {
            emitted += 1;
            Ok(())
        },
        |_| {},
    ))
    .unwrap_err();
    assert_eq!(err.to_string(), "record 11 is bad");
    assert_eq!(emitted, 8, "two chunks of 4 ran before the bad record");

    let err = pollster::block_on(embed_stream(
        &Device::Cpu,
        &model,
        &tok,
        seqs.iter().map(|s| Ok(s.as_str())),
        &opts,
        small,
        |_, _| Err(Error::Invalid("disk full".into())),
        |_| {},
    ))
    .unwrap_err();
    assert_eq!(err.to_string(), "disk full");
}
