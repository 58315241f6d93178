//! The kernels in a real browser: headless Chromium, WebGPU on SwiftShader
//! (about 0.5 GFLOP/s, so shapes stay small), against the CPU backend
//! compiled to WASM. The same test bodies as the native tests
//! (`dnagpu::testing`). Run with `cargo test -p dnagpu-web --target
//! wasm32-unknown-unknown` (see README.md).

#![cfg(target_arch = "wasm32")]

use dnagpu::ops::{Epilogue, Matmul};
use dnagpu::Device;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn webgpu() -> Device {
    console_error_panic_hook::set_once();
    let dev = Device::gpu()
        .await
        .expect("WebGPU adapter (Chromium needs --enable-unsafe-webgpu)");
    let Device::Gpu(g) = &dev else { unreachable!() };
    assert_eq!(g.summary().backend, "BrowserWebGpu");
    web_sys::console::log_1(&format!("adapter: {}", dev.name()).into());
    dev
}

fn ok(r: Result<(), String>) {
    if let Err(msg) = r {
        panic!("{msg}");
    }
}

#[wasm_bindgen_test]
async fn matmul_on_webgpu_matches_cpu() {
    let dev = webgpu().await;
    let specs = [Matmul::NN, Matmul::NT, Matmul::TN];
    for (i, spec) in specs.into_iter().enumerate() {
        ok(
            dnagpu::ops::matmul::check::check_matmul(&dev, None, 65, 63, 33, spec, true, i as u64)
                .await,
        );
    }
    ok(dnagpu::ops::matmul::check::check_matmul(
        &dev,
        Some(2),
        7,
        129,
        17,
        Matmul {
            epilogue: Epilogue::Gelu,
            ..Matmul::NT
        },
        true,
        9,
    )
    .await);
}

#[wasm_bindgen_test]
async fn attention_on_webgpu_matches_cpu() {
    let dev = webgpu().await;
    ok(dnagpu::ops::attention::check::check_attention(&dev, &[65, 20, 0], 65, 2, 16, 1).await);
    ok(dnagpu::ops::attention::check::check_attention(&dev, &[40, 33], 40, 12, 8, 2).await);
    ok(
        dnagpu::ops::attention::check::check_attention_padding_invariance(&dev, &[30, 7], 3, 8, 3)
            .await,
    );
    // The materialised probabilities (`dnagpu attention`'s kernel).
    ok(dnagpu::ops::attention::check::check_attention_probs(
        &dev,
        &[33, 9, 0],
        33,
        3,
        16,
        1..3,
        true,
        4,
    )
    .await);
}

#[wasm_bindgen_test]
async fn row_and_elementwise_ops_on_webgpu_match() {
    let dev = webgpu().await;
    ok(dnagpu::ops::layer_norm::check::check_layer_norm(&dev, 7, 257, true, 1).await);
    ok(dnagpu::ops::softmax::check::check_softmax(&dev, 5, 300, 2).await);
    ok(dnagpu::ops::elementwise::check::check_elementwise(&dev, 9, 66, 3).await);
    ok(dnagpu::ops::embedding::check::check_embedding(&dev, 17, 50, 9, 4).await);
    ok(dnagpu::ops::pool::check::check_pool(&dev, &[5, 0, 2], 5, 33, 5).await);
}

#[wasm_bindgen_test]
async fn wasm_cpu_backend_matches_f64() {
    ok(dnagpu::ops::matmul::check::check_matmul(
        &Device::Cpu,
        None,
        33,
        17,
        65,
        Matmul::NT,
        true,
        1,
    )
    .await);
    // gemm's SIMD128 kernels on wasm32: block edges, K past one panel,
    // batches, strided A and B, with and without bias.
    for (batch, m, n, k, spec, bias) in [
        (None, 6, 8, 256, Matmul::NN, false),
        (Some(3), 13, 21, 300, Matmul::NN, true),
        (None, 7, 9, 513, Matmul::TN, false),
        (Some(2), 1, 3, 1, Matmul::NT, true),
    ] {
        ok(
            dnagpu::ops::matmul::check::check_matmul(&Device::Cpu, batch, m, n, k, spec, bias, 2)
                .await,
        );
    }
    // The packed linear kernel (SIMD128, 4 x 8 tiles; fused multiply-add
    // with dnagpu's `relaxed-simd` feature, which scripts/test.sh runs this
    // test with too): rows around the tile and the 96-row task block,
    // N around the 8-wide panel, K around the 256-wide slice, a batch sharing
    // the weight, bias, GELU, an f16 weight.
    for (batch, m, n, k, bias, gelu, f16) in [
        (None, 1, 1, 1, false, false, false),
        (None, 5, 17, 255, false, false, false),
        (None, 5, 17, 513, false, false, false),
        (None, 200, 9, 257, true, false, false),
        (Some(3), 13, 40, 300, true, false, false),
        (Some(2), 7, 33, 65, true, true, false),
        (None, 70, 24, 513, true, false, true),
    ] {
        ok(
            dnagpu::ops::matmul::check::check_packed_linear(batch, m, n, k, bias, gelu, f16, 3)
                .await,
        );
    }
    ok(dnagpu::ops::attention::check::check_attention(&Device::Cpu, &[20, 5], 20, 3, 8, 2).await);
    ok(dnagpu::ops::layer_norm::check::check_layer_norm(&Device::Cpu, 5, 100, false, 3).await);
}

/// The fixture model (random DNABERT-2-layout weights) embeds in the browser,
/// through the web API, on WebGPU and on the WASM CPU backend, and matches
/// the PyTorch reference's mean pooling.
#[wasm_bindgen_test]
async fn the_fixture_model_embeds_in_the_browser_like_the_reference() {
    console_error_panic_hook::set_once();
    embeds_like_the_fixtures(
        include_bytes!("../../tests/fixtures/tiny/fixtures.json"),
        include_bytes!("../../tests/fixtures/tiny/fixtures.safetensors"),
        include_str!("../../tests/fixtures/tiny/config.json"),
        (
            "tokenizer.json",
            include_str!("../../tests/fixtures/tiny/tokenizer.json"),
        ),
        include_bytes!("../../tests/fixtures/tiny/model.safetensors"),
        // The three short sequences keep SwiftShader (~0.5 GFLOP/s) quick.
        3,
        "DNABERT-2 (BPE, ALiBi)",
    )
    .await;
}

/// A Nucleotide Transformer v2 folder (rotary, SwiGLU, vocab.txt; written
/// by transformers' ESM) embeds in the browser like transformers.
#[wasm_bindgen_test]
async fn a_nucleotide_transformer_folder_embeds_in_the_browser() {
    embeds_like_the_fixtures(
        include_bytes!("../../tests/fixtures/nt_v2_tiny/fixtures.json"),
        include_bytes!("../../tests/fixtures/nt_v2_tiny/fixtures.safetensors"),
        include_str!("../../tests/fixtures/nt_v2_tiny/config.json"),
        (
            "vocab.txt",
            include_str!("../../tests/fixtures/nt_v2_tiny/vocab.txt"),
        ),
        include_bytes!("../../tests/fixtures/nt_v2_tiny/model.safetensors"),
        4,
        "Nucleotide Transformer v2 (rotary)",
    )
    .await;
}

/// The Nucleotide Transformer v1 folder with a PEFT-written adapter
/// (EsmForSequenceClassification's head under `classifier`): `setAdapter`
/// gives PEFT's probabilities; two LoRA steps on its encoder run and their
/// adapter (ESM module names) loads back.
#[wasm_bindgen_test]
async fn a_nucleotide_transformer_adapter_classifies_and_fine_tunes_in_the_browser() {
    let fx = dnagpu::testing::ReferenceFixtures::from_bytes(
        include_bytes!("../../tests/fixtures/nt_v1_tiny_peft/expected.json"),
        include_bytes!("../../tests/fixtures/nt_v1_tiny_peft/expected.safetensors").to_vec(),
    )
    .unwrap();
    let rt = dnagpu_web::Runtime::create("gpu")
        .await
        .map_err(|_| "runtime")
        .unwrap();
    let mut model = dnagpu_web::Model::load(
        &rt,
        include_str!("../../tests/fixtures/nt_v1_tiny/config.json").into(),
        "vocab.txt",
        include_str!("../../tests/fixtures/nt_v1_tiny/vocab.txt").into(),
        include_bytes!("../../tests/fixtures/nt_v1_tiny/model.safetensors"),
        "model.safetensors",
        None,
    )
    .map_err(|_| "load")
    .unwrap();
    assert_eq!(model.classes(), 3, "the folder's own head classifies");
    model
        .set_adapter(
            include_str!("../../tests/fixtures/nt_v1_tiny_peft/adapter/adapter_config.json"),
            include_bytes!(
                "../../tests/fixtures/nt_v1_tiny_peft/adapter/adapter_model.safetensors"
            ),
        )
        .map_err(|_| "adapter")
        .unwrap();
    let text: String = fx.sequences.iter().map(|s| format!("{s}\n")).collect();
    let c = model
        .classify(&text, 4, None)
        .await
        .map_err(|_| "classify")
        .unwrap();
    let probs = c.probs();
    for i in 0..fx.sequences.len() {
        let (_, want) = fx.get(&format!("{i}.probs")).unwrap();
        ok(dnagpu::testing::check_close(
            &format!("NT v1 + PEFT adapter, sequence {i}"),
            &probs[i * 3..(i + 1) * 3],
            &want,
            dnagpu::testing::Tol::F32,
        ));
    }
    let csv =
        "sequence,label\nACGTACGTTAGCCATG,1\nTTGACNAGTGGA,0\nGATTACAGATTACA,1\nCCCGGGCCCGGG,0\n";
    let mut ft = dnagpu_web::FineTune::create(&model, csv, r#"{"steps": 2, "batchSize": 2}"#)
        .map_err(|_| "finetune")
        .unwrap();
    for _ in 0..2 {
        let loss = ft.train_step().await.map_err(|_| "step").unwrap();
        assert!(loss.is_finite() && loss > 0.0);
    }
    let config = ft.adapter_config().map_err(|_| "config").unwrap();
    assert!(config.contains("\"query\""), "{config}");
    let weights = ft.adapter_weights().await.map_err(|_| "weights").unwrap();
    model
        .set_adapter(&config, &weights)
        .map_err(|_| "own adapter")
        .unwrap();
    assert_eq!(model.classes(), 2);
}

/// A model folder's first `n` fixture sequences through `Model.embed`
/// (mean pooling) on WebGPU and on the CPU backend equal the fixtures' means.
async fn embeds_like_the_fixtures(
    fixtures_json: &[u8],
    fixtures: &[u8],
    config: &str,
    tokenizer: (&str, &str),
    weights: &[u8],
    n: usize,
    architecture: &str,
) {
    let fx =
        dnagpu::testing::ReferenceFixtures::from_bytes(fixtures_json, fixtures.to_vec()).unwrap();
    let text: String = fx.sequences[..n].iter().map(|s| format!("{s}\n")).collect();
    for backend in ["gpu", "cpu"] {
        let rt = dnagpu_web::Runtime::create(backend)
            .await
            .map_err(|_| "runtime")
            .unwrap();
        let load = |precision: Option<&str>| {
            dnagpu_web::Model::load(
                &rt,
                config.into(),
                tokenizer.0,
                tokenizer.1.into(),
                weights,
                "model.safetensors",
                precision.map(String::from),
            )
        };
        let model = load(None).map_err(|_| "load").unwrap();
        assert_eq!(model.architecture(), architecture);
        let h = model.hidden_size();
        let got = model
            .embed(&text, "mean", None, 8, None)
            .await
            .map_err(|_| "embed")
            .unwrap()
            .values();
        assert_eq!(got.len(), n * h);
        for i in 0..n {
            let (_, want) = fx.get(&format!("{i}.mean")).unwrap();
            ok(dnagpu::testing::check_close(
                &format!("{backend}: {} sequence {i} mean", tokenizer.0),
                &got[i * h..(i + 1) * h],
                &want,
                dnagpu::testing::Tol::F32,
            ));
        }
        // f16 weight matrices: within f16's rounding of the reference.
        let half = load(Some("f16")).map_err(|_| "load f16").unwrap();
        assert_eq!(half.precision(), "f16");
        let got = half
            .embed(&text, "mean", None, 8, None)
            .await
            .map_err(|_| "embed f16")
            .unwrap()
            .values();
        for i in 0..n {
            let (_, want) = fx.get(&format!("{i}.mean")).unwrap();
            ok(dnagpu::testing::check_close(
                &format!("{backend}: {} sequence {i} mean, f16 weights", tokenizer.0),
                &got[i * h..(i + 1) * h],
                &want,
                dnagpu::testing::Tol {
                    rtol: 5e-3,
                    atol_rel: 5e-3,
                },
            ));
        }
        assert!(load(Some("f8")).is_err());
    }
}

#[wasm_bindgen_test]
async fn backward_kernels_on_webgpu_match() {
    use dnagpu::ops::AdamWStep;
    let dev = webgpu().await;
    ok(
        dnagpu::ops::attention_backward::check::check_attention_backward(
            &dev,
            &[33, 0, 20],
            33,
            2,
            16,
            1,
        )
        .await,
    );
    ok(
        dnagpu::ops::layer_norm_backward::check::check_layer_norm_backward(&dev, 7, 129, true, 2)
            .await,
    );
    ok(dnagpu::ops::reduce::check::check_sum_rows(&dev, 300, 7, 3).await);
    ok(dnagpu::ops::reduce::check::check_sum_squares(&dev, &[5000], 4).await);
    ok(
        dnagpu::ops::embedding_backward::check::check_embedding_backward(
            &dev,
            &[3, 1, 3, 0, 3],
            6,
            17,
            5,
        )
        .await,
    );
    ok(dnagpu::ops::cross_entropy::check::check_cross_entropy(&dev, 9, 70, 0.25, 6).await);
    ok(dnagpu::ops::activation_backward::check::check_gelu_backward(&dev, &[3, 77], 7).await);
    ok(dnagpu::ops::activation_backward::check::check_tanh_backward(&dev, &[300], 8).await);
    ok(dnagpu::ops::activation_backward::check::check_glu_backward(
        &dev,
        &[5],
        33,
        dnagpu::ops::Glu::Gelu,
        9,
    )
    .await);
    ok(dnagpu::ops::activation_backward::check::check_glu_backward(
        &dev,
        &[5],
        33,
        dnagpu::ops::Glu::Silu,
        10,
    )
    .await);
    ok(dnagpu::ops::dropout::check::check_dropout_matches_cpu(&dev, &[1000], 0.1, 10, 3).await);
    let step = AdamWStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        step: 3,
        grad_scale: 0.5,
    };
    ok(dnagpu::ops::adamw::check::check_adamw(&dev, 1000, &step, 11).await);
}

/// The shipped model and its demo adapter through the page's API: classify,
/// evaluate a labelled CSV, fine-tune two LoRA steps and classify with the
/// result. (The page test compares the numbers with the native CLI.)
#[wasm_bindgen_test]
async fn the_shipped_model_classifies_evaluates_and_fine_tunes() {
    console_error_panic_hook::set_once();
    let rt = dnagpu_web::Runtime::create("gpu")
        .await
        .map_err(|_| "runtime")
        .unwrap();
    let mut model = dnagpu_web::Model::load(
        &rt,
        include_str!("../../models/dnabert2-small-gue/config.json").into(),
        "tokenizer.json",
        include_str!("../../models/dnabert2-small-gue/tokenizer.json").into(),
        include_bytes!("../../models/dnabert2-small-gue/model.safetensors"),
        "model.safetensors",
        None,
    )
    .map_err(|_| "load")
    .unwrap();
    assert!(!model.has_classifier(), "the base model has no head");
    assert_eq!(model.parameters(), 5_323_520);
    let sample = include_str!("../../examples/sample.fa");
    let e = model
        .embed(sample, "mean", Some(-1), 4, None)
        .await
        .map_err(|_| "embed")
        .unwrap();
    assert_eq!((e.rows(), e.hidden()), (8, 256));
    assert!(e.values().iter().all(|v| v.is_finite()));
    assert_eq!(e.ids()[0], "prom_core_0");
    assert!(
        model.classify(sample, 4, None).await.is_err(),
        "no head: an error"
    );
    model
        .set_adapter(
            include_str!("../../models/dnabert2-small-gue-promoter-lora/adapter_config.json"),
            include_bytes!(
                "../../models/dnabert2-small-gue-promoter-lora/adapter_model.safetensors"
            ),
        )
        .map_err(|_| "adapter")
        .unwrap();
    assert_eq!(model.classes(), 2);
    let c = model
        .classify(sample, 4, None)
        .await
        .map_err(|_| "classify")
        .unwrap();
    let probs = c.probs();
    assert_eq!(probs.len(), c.rows() * 2);
    for row in probs.chunks(2) {
        assert!((row[0] + row[1] - 1.0).abs() < 1e-5, "{row:?}");
    }
    let rows: Vec<&str> = include_str!("../www/data/prom_core_all_test.csv")
        .lines()
        .take(25)
        .collect();
    let csv = rows.join("\n");
    let e = model
        .evaluate(&csv, 8, None)
        .await
        .map_err(|_| "evaluate")
        .unwrap();
    assert_eq!(e.n(), 24);
    let confusion = e.confusion();
    assert_eq!(confusion.iter().sum::<u32>(), 24);
    let correct = (confusion[0] + confusion[3]) as f64 / 24.0;
    assert!((e.accuracy() - correct).abs() < 1e-12);
    assert!(
        e.mcc() > 0.0,
        "the demo adapter beats chance: MCC {}",
        e.mcc()
    );

    let mut ft = dnagpu_web::FineTune::create(
        &model,
        &csv,
        r#"{"steps": 2, "batchSize": 8, "maxRows": 16}"#,
    )
    .map_err(|_| "finetune")
    .unwrap();
    assert_eq!(
        (ft.rows(), ft.rows_in_file(), ft.total_steps()),
        (16, 24, 2.0)
    );
    for _ in 0..2 {
        let loss = ft.train_step().await.map_err(|_| "step").unwrap();
        assert!(loss.is_finite() && loss > 0.0);
    }
    assert!(
        ft.train_step().await.is_err(),
        "past the last step: an error"
    );
    let weights = ft.adapter_weights().await.map_err(|_| "weights").unwrap();
    model
        .set_adapter(
            &ft.adapter_config().map_err(|_| "config").unwrap(),
            &weights,
        )
        .map_err(|_| "own adapter")
        .unwrap();
    let again = model
        .classify(sample, 4, None)
        .await
        .map_err(|_| "classify")
        .unwrap();
    assert_eq!(again.rows(), c.rows());

    // Bad input is an error, not a panic.
    assert!(model
        .evaluate("sequence,label\nACGT,x\n", 8, None)
        .await
        .is_err());
    assert!(dnagpu_web::FineTune::create(&model, &csv, r#"{"stepz": 2}"#).is_err());
    assert!(dnagpu_web::Model::load(
        &rt,
        "{}".into(),
        "tokenizer.json",
        "{}".into(),
        b"",
        "weights.txt",
        None,
    )
    .is_err());
}
