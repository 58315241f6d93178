//! PEFT LoRA adapters against fixtures written by Hugging Face PEFT itself
//! (scripts/reference/peft_fixtures.py): reading, PEFT's key names when
//! writing, round trips, checks against the base model, merging, and the
//! errors. No GPU.
//!
//! To check that PEFT loads what dnagpu writes, run
//! `DNAGPU_ADAPTER_OUT=/tmp/a cargo test --test adapter` and then
//! `python3 scripts/reference/peft_fixtures.py --check /tmp/a`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dnagpu::model::adapter::{Adapter, LoraConfig};
use dnagpu::model::{Config, HostTensor, Weights};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn adapter_dir() -> PathBuf {
    fixtures().join("peft/adapter")
}

fn tiny_config() -> Config {
    let path = fixtures().join("tiny/config.json");
    Config::from_json(&std::fs::read_to_string(path).unwrap(), "config.json").unwrap()
}

/// The base model's tensors by name.
fn tiny_base() -> BTreeMap<String, HostTensor> {
    tensors_of(&fixtures().join("tiny/model.safetensors"))
}

fn tensors_of(path: &Path) -> BTreeMap<String, HostTensor> {
    Weights::from_safetensors_file(path)
        .unwrap()
        .take_all()
        .unwrap()
}

fn fixture_files() -> (String, Vec<u8>) {
    let dir = adapter_dir();
    (
        std::fs::read_to_string(dir.join("adapter_config.json")).unwrap(),
        std::fs::read(dir.join("adapter_model.safetensors")).unwrap(),
    )
}

fn keys_of(safetensors: &[u8]) -> BTreeSet<String> {
    let st = safetensors::SafeTensors::deserialize(safetensors).unwrap();
    st.names().into_iter().map(str::to_string).collect()
}

fn err_text<T: std::fmt::Debug>(r: dnagpu::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

const WQKV0: &str = "bert.encoder.layer.0.attention.self.Wqkv";
const WQKV1: &str = "bert.encoder.layer.1.attention.self.Wqkv";

#[test]
fn reads_the_adapter_peft_wrote() {
    let a = Adapter::load(&adapter_dir()).unwrap();
    let c = &a.config;
    assert_eq!((c.r, c.alpha, c.dropout), (4, 8.0, 0.0));
    assert_eq!(a.scale(), 2.0);
    assert_eq!(c.target_modules, ["Wqkv"]);
    // PEFT's SEQ_CLS task adds its own "classifier" and "score".
    assert_eq!(
        c.modules_to_save,
        ["classifier", "pooler", "classifier", "score"]
    );
    assert_eq!(c.base_model.as_deref(), Some("tests/fixtures/tiny"));

    assert_eq!(a.lora.keys().collect::<Vec<_>>(), [WQKV0, WQKV1]);
    for (m, (la, lb)) in &a.lora {
        assert_eq!(la.shape, [4, 128], "{m} A");
        assert_eq!(lb.shape, [384, 4], "{m} B");
        assert!(lb.data.iter().any(|&v| v != 0.0), "{m}: B is not zero");
    }
    let head: Vec<&str> = a.head.keys().map(String::as_str).collect();
    assert_eq!(
        head,
        [
            "bert.pooler.dense.bias",
            "bert.pooler.dense.weight",
            "classifier.bias",
            "classifier.weight"
        ]
    );
    assert_eq!(a.head["classifier.weight"].shape, [3, 128]);

    // The values are the file's, under PEFT's names.
    let (_, bytes) = fixture_files();
    let raw = tensors_of(&adapter_dir().join("adapter_model.safetensors"));
    assert_eq!(
        a.lora[WQKV1].1,
        raw[&format!("base_model.model.{WQKV1}.lora_B.weight")]
    );
    assert_eq!(
        a.head["bert.pooler.dense.weight"],
        raw["base_model.model.bert.pooler.dense.weight"]
    );
    assert_eq!(keys_of(&bytes).len(), 8);

    let cfg = tiny_config();
    a.check_against(&cfg, &tiny_base()).unwrap();
    let w = Weights::from_safetensors_file(&fixtures().join("tiny/model.safetensors")).unwrap();
    a.check_against(&cfg, &w).unwrap();
}

#[test]
fn the_older_bin_file_reads_the_same() {
    let st = Adapter::load(&adapter_dir()).unwrap();
    let bin = Adapter::load(&fixtures().join("peft/adapter_bin")).unwrap();
    assert_eq!(st, bin);
}

#[test]
fn writes_peft_key_names_and_round_trips() {
    let (config_json, bytes) = fixture_files();
    let a = Adapter::from_bytes(&config_json, &bytes, "fixture").unwrap();
    let (json, written) = a.to_files().unwrap();

    // Exactly PEFT's key set, and PEFT's header metadata.
    assert_eq!(keys_of(&written), keys_of(&bytes));
    let (_, meta) = safetensors::SafeTensors::read_metadata(&written).unwrap();
    let want_meta: std::collections::HashMap<String, String> =
        [("format".to_string(), "pt".to_string())]
            .into_iter()
            .collect();
    assert_eq!(meta.metadata().as_ref(), Some(&want_meta));

    let back = Adapter::from_bytes(&json, &written, "written").unwrap();
    assert_eq!(back, a);

    // The config keeps what PEFT needs to rebuild the model.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let p: serde_json::Value = serde_json::from_str(&config_json).unwrap();
    for key in [
        "peft_type",
        "r",
        "lora_alpha",
        "lora_dropout",
        "target_modules",
        "modules_to_save",
        "task_type",
        "bias",
        "fan_in_fan_out",
        "use_dora",
        "use_rslora",
        "base_model_name_or_path",
        "inference_mode",
    ] {
        assert_eq!(v[key], p[key], "adapter_config.json key `{key}`");
    }

    if let Ok(out) = std::env::var("DNAGPU_ADAPTER_OUT") {
        a.save(Path::new(&out)).unwrap();
        assert_eq!(Adapter::load(Path::new(&out)).unwrap(), a);
    }
}

#[test]
fn save_and_load_a_folder() {
    let a = Adapter::load(&adapter_dir()).unwrap();
    let dir = std::env::temp_dir().join(format!("dnagpu-adapter-{}", std::process::id()));
    a.save(&dir).unwrap();
    let back = Adapter::load(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(back.unwrap(), a);
}

#[test]
fn merge_matches_the_python_merge() {
    let a = Adapter::load(&adapter_dir()).unwrap();
    let original = tiny_base();
    let mut merged = original.clone();
    a.merge(&mut merged).unwrap();
    let want = tensors_of(&fixtures().join("peft/merged.safetensors"));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        [
            "bert.encoder.layer.0.attention.self.Wqkv.weight",
            "bert.encoder.layer.1.attention.self.Wqkv.weight",
            "bert.pooler.dense.bias",
            "bert.pooler.dense.weight",
            "classifier.bias",
            "classifier.weight",
        ]
    );
    for (name, t) in &merged {
        let expect = want.get(name).unwrap_or(&original[name]);
        assert_eq!(t.shape, expect.shape, "{name}");
        let max = expect.data.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (g, w)) in t.data.iter().zip(&expect.data).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs() + 1e-7 * max,
                "{name}[{i}]: merged {g}, python {w}"
            );
        }
    }
    assert_eq!(merged.len(), original.len());
    // The update is real: merging changed every Wqkv.
    for m in [WQKV0, WQKV1] {
        let k = format!("{m}.weight");
        assert_ne!(merged[&k], original[&k]);
    }

    // A base without a head (an MLM checkpoint) gets the adapter's.
    let mut headless = original.clone();
    for k in [
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    ] {
        headless.remove(k);
    }
    a.check_against(&tiny_config(), &headless).unwrap();
    a.merge(&mut headless).unwrap();
    assert_eq!(headless, merged);
}

#[test]
fn config_errors_name_the_key() {
    let (config_json, bytes) = fixture_files();
    let with = |key: &str, value: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(&config_json).unwrap();
        v[key] = value;
        v.to_string()
    };
    let cases = [
        (with("peft_type", "IA3".into()), "peft_type"),
        (with("use_dora", true.into()), "use_dora"),
        (with("use_rslora", true.into()), "use_rslora"),
        (with("bias", "all".into()), "bias"),
        (with("fan_in_fan_out", true.into()), "fan_in_fan_out"),
        (
            with("rank_pattern", serde_json::json!({"Wqkv": 8})),
            "rank_pattern",
        ),
        (with("r", "four".into()), "`r`"),
        (with("r", 0.into()), "`r`"),
        (with("r", 8.into()), "[r = 8, in]"),
        ("{not json".to_string(), "JSON"),
    ];
    for (text, want) in cases {
        let err = err_text(Adapter::from_bytes(&text, &bytes, "my-adapter"));
        assert!(err.contains(want), "expected `{want}` in: {err}");
        assert!(err.contains("my-adapter"), "{err}");
    }
    let mut v: serde_json::Value = serde_json::from_str(&config_json).unwrap();
    v.as_object_mut().unwrap().remove("peft_type");
    let err = err_text(LoraConfig::from_json(&v.to_string(), "c.json"));
    assert!(err.contains("missing `peft_type`"), "{err}");

    // Extra keys are fine; PEFT's regex form of target_modules is read as
    // the modules the tensors adapt.
    let text = with("some_future_option", 1.into());
    Adapter::from_bytes(&text, &bytes, "x").unwrap();
    let regex = with("target_modules", r".*attention\.self\.Wqkv".into());
    let a = Adapter::from_bytes(&regex, &bytes, "x").unwrap();
    assert_eq!(a.config.target_modules, ["Wqkv"]);
}

/// The fixture's tensors under PEFT's names, changed by `edit`, written
/// back and read.
fn with_tensors(edit: impl FnOnce(&mut BTreeMap<String, HostTensor>)) -> dnagpu::Result<Adapter> {
    let (config_json, _) = fixture_files();
    let mut t = tensors_of(&adapter_dir().join("adapter_model.safetensors"));
    edit(&mut t);
    Adapter::from_tensors(&config_json, t, "edited")
}

#[test]
fn tensor_errors_name_the_tensor() {
    let a_key = format!("base_model.model.{WQKV0}.lora_A.weight");
    let b_key = format!("base_model.model.{WQKV0}.lora_B.weight");
    let err = err_text(with_tensors(|t| {
        t.remove(&b_key);
    }));
    assert!(
        err.contains(&a_key) && err.contains("no `lora_B.weight`"),
        "{err}"
    );

    let err = err_text(with_tensors(|t| {
        let v = t.remove("base_model.model.classifier.weight").unwrap();
        t.insert("classifier.weight".into(), v);
    }));
    assert!(
        err.contains("`classifier.weight`") && err.contains("base_model.model."),
        "{err}"
    );

    let err = err_text(with_tensors(|t| {
        let v = t["base_model.model.classifier.bias"].clone();
        t.insert(format!("base_model.model.{WQKV0}.lora_magnitude_vector"), v);
    }));
    assert!(err.contains("lora_magnitude_vector"), "{err}");

    let err = err_text(with_tensors(|t| {
        let v = t["base_model.model.classifier.bias"].clone();
        t.insert("base_model.model.cls.predictions.decoder.bias".into(), v);
    }));
    assert!(
        err.contains("cls.predictions.decoder.bias") && err.contains("modules_to_save"),
        "{err}"
    );

    // A module target_modules does not name.
    let err = err_text(with_tensors(|t| {
        for which in ["A", "B"] {
            let v = t
                .remove(&format!("base_model.model.{WQKV0}.lora_{which}.weight"))
                .unwrap();
            t.insert(
                format!("base_model.model.bert.encoder.layer.0.mlp.wo.lora_{which}.weight"),
                v,
            );
        }
    }));
    assert!(
        err.contains("bert.encoder.layer.0.mlp.wo") && err.contains("target_modules"),
        "{err}"
    );

    // The head saved by hand from a live PeftModel keeps its in-memory name.
    let a = with_tensors(|t| {
        let v = t.remove("base_model.model.classifier.weight").unwrap();
        t.insert(
            "base_model.model.classifier.modules_to_save.default.weight".into(),
            v,
        );
    })
    .unwrap();
    assert_eq!(a, Adapter::load(&adapter_dir()).unwrap());
}

#[test]
fn shape_mismatches_against_the_base_name_both_shapes() {
    let cfg = tiny_config();
    let base = tiny_base();
    let good = Adapter::load(&adapter_dir()).unwrap();

    // A built for another hidden size.
    let mut a = good.clone();
    a.lora.get_mut(WQKV1).unwrap().0 = HostTensor {
        shape: vec![4, 64],
        data: vec![0.5; 256],
    };
    let err = err_text(a.check_against(&cfg, &base));
    assert!(err.contains(&format!("{WQKV1}.lora_A.weight")), "{err}");
    assert!(
        err.contains("[4, 64]") && err.contains("[384, 128]"),
        "{err}"
    );
    let mut m = base.clone();
    assert!(a.merge(&mut m).is_err());
    assert_eq!(m, base, "a failed merge leaves the base untouched");

    // B with the wrong output size.
    let mut a = good.clone();
    a.lora.get_mut(WQKV0).unwrap().1 = HostTensor {
        shape: vec![128, 4],
        data: vec![0.5; 512],
    };
    let err = err_text(a.check_against(&cfg, &base));
    assert!(
        err.contains(&format!("{WQKV0}.lora_B.weight")) && err.contains("[128, 4]"),
        "{err}"
    );

    // A module the base does not have.
    let mut a = good.clone();
    let pair = a.lora.remove(WQKV1).unwrap();
    a.lora
        .insert("bert.encoder.layer.7.attention.self.Wqkv".into(), pair);
    let err = err_text(a.check_against(&cfg, &base));
    assert!(
        err.contains("bert.encoder.layer.7.attention.self.Wqkv.weight"),
        "{err}"
    );

    // A classifier whose weight and bias disagree on the class count.
    let mut a = good.clone();
    a.head.insert(
        "classifier.weight".into(),
        HostTensor {
            shape: vec![2, 128],
            data: vec![0.0; 256],
        },
    );
    let err = err_text(a.check_against(&cfg, &base));
    assert!(
        err.contains("classifier.bias") && err.contains("[3]") && err.contains("[2]"),
        "{err}"
    );
    // A whole classifier for another number of classes replaces the base's
    // (the base may carry another task's head).
    a.head.insert(
        "classifier.bias".into(),
        HostTensor {
            shape: vec![2],
            data: vec![0.0; 2],
        },
    );
    let mut cfg2 = cfg.clone();
    cfg2.num_labels = None;
    cfg2.id2label = None;
    a.check_against(&cfg2, &base).unwrap();

    // r that disagrees with the config is caught when writing.
    let mut a = good.clone();
    a.config.r = 8;
    let err = err_text(a.to_files());
    assert!(
        err.contains("lora_A.weight") && err.contains("r = 8"),
        "{err}"
    );
}

#[test]
fn missing_files_are_named() {
    let err = err_text(Adapter::load(Path::new("/no/such/adapter")));
    assert!(
        err.contains("/no/such/adapter") && err.contains("not an adapter folder"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("dnagpu-adapter-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let no_config = err_text(Adapter::load(&dir));
    std::fs::copy(
        adapter_dir().join("adapter_config.json"),
        dir.join("adapter_config.json"),
    )
    .unwrap();
    let no_weights = err_text(Adapter::load(&dir));
    std::fs::write(dir.join("adapter_model.safetensors"), b"not safetensors").unwrap();
    let unreadable = err_text(Adapter::load(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(no_config.contains("adapter_config.json"), "{no_config}");
    assert!(
        no_weights.contains("adapter_model.safetensors"),
        "{no_weights}"
    );
    assert!(
        unreadable.contains("adapter_model.safetensors"),
        "{unreadable}"
    );
}
