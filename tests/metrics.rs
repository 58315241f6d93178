//! Classification metrics (`dnagpu::metrics`): hand-worked cases,
//! degenerate inputs (no NaN) and fixed cases cross-checked with scikit-learn.

use dnagpu::metrics::{accuracy, f1_macro, mcc, Confusion, Metrics};

/// A confusion from rows of counts `[true][pred]`.
fn confusion(rows: &[&[u64]]) -> Confusion {
    let mut c = Confusion::new(rows.len());
    for (t, row) in rows.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            for _ in 0..n {
                c.add(t, p).unwrap();
            }
        }
    }
    c
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 * want.abs().max(1.0)
}

fn assert_metrics(c: &Confusion, want: [f64; 3]) {
    let got = Metrics::of(c);
    let got = [got.mcc, got.f1_macro, got.accuracy];
    for (name, (g, w)) in ["mcc", "f1_macro", "accuracy"]
        .iter()
        .zip(got.iter().zip(want))
    {
        assert!(g.is_finite(), "{name} is {g}");
        assert!(close(*g, w), "{name}: got {g}, want {w} ({c:?})");
    }
}

#[test]
fn binary_by_hand() {
    // true\pred   0  1
    //     0       3  1      TN 3, FP 1
    //     1       2  4      FN 2, TP 4
    // MCC = (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))
    //     = (12 - 2) / sqrt(5 * 6 * 4 * 5) = 10 / sqrt(600) = 0.408248290463863
    // F1_0 = 2*3 / (2*3 + 2 + 1) = 6/9; F1_1 = 2*4 / (2*4 + 1 + 2) = 8/11
    // macro = (6/9 + 8/11) / 2 = 23/33; accuracy = 7/10
    let c = confusion(&[&[3, 1], &[2, 4]]);
    assert_eq!((c.total(), c.counts(1, 0), c.classes()), (10, 2, 2));
    assert_metrics(&c, [10.0 / 600f64.sqrt(), 23.0 / 33.0, 0.7]);
}

#[test]
fn three_classes_by_hand() {
    // true\pred  0  1  2   | t_k
    //     0      4  1  0   |  5
    //     1      1  3  2   |  6
    //     2      0  1  3   |  4
    // p_k        5  5  5     s = 15, trace c = 10
    // cov(t,p) = c s - Σ t_k p_k = 150 - (25 + 30 + 20) = 75
    // cov(p,p) = s² - Σ p_k²    = 225 - 75 = 150
    // cov(t,t) = s² - Σ t_k²    = 225 - (25 + 36 + 16) = 148
    // MCC = 75 / sqrt(150 * 148) = 75 / sqrt(22200) = 0.5033670414105182
    // F1_k = 2 tp / (t_k + p_k): 8/10, 6/11, 6/9; macro = (0.8 + 6/11 + 2/3) / 3
    // accuracy = 10/15
    let c = confusion(&[&[4, 1, 0], &[1, 3, 2], &[0, 1, 3]]);
    assert_metrics(
        &c,
        [
            75.0 / 22200f64.sqrt(),
            (0.8 + 6.0 / 11.0 + 2.0 / 3.0) / 3.0,
            2.0 / 3.0,
        ],
    );
}

#[test]
fn degenerate_cases() {
    // Everything predicted as class 0: cov(p,p) = 0, so MCC is 0.
    // F1_0 = 2*2 / (2 + 3) = 0.8, F1_1 = 0 (never predicted): macro 0.4.
    let c = Confusion::from_pairs(2, &[0, 0, 1], &[0, 0, 0]).unwrap();
    assert_metrics(&c, [0.0, 0.4, 2.0 / 3.0]);
    // One true class only, predictions mixed: cov(t,t) = 0, MCC 0.
    let c = Confusion::from_pairs(3, &[1, 1, 1, 1], &[1, 0, 1, 2]).unwrap();
    assert_eq!(mcc(&c), 0.0);
    // Perfect prediction, binary and 4 classes.
    let c = Confusion::from_pairs(2, &[0, 1, 1, 0, 1], &[0, 1, 1, 0, 1]).unwrap();
    assert_metrics(&c, [1.0, 1.0, 1.0]);
    let c = confusion(&[&[3, 0, 0, 0], &[0, 1, 0, 0], &[0, 0, 7, 0], &[0, 0, 0, 2]]);
    assert_metrics(&c, [1.0, 1.0, 1.0]);
    // Perfectly inverted binary.
    let c = confusion(&[&[0, 4], &[6, 0]]);
    assert_metrics(&c, [-1.0, 0.0, 0.0]);
    // Empty.
    for classes in [0, 1, 2, 5] {
        let c = Confusion::new(classes);
        assert_eq!(c.total(), 0);
        assert_metrics(&c, [0.0, 0.0, 0.0]);
    }
    // A single sample.
    let c = Confusion::from_pairs(2, &[1], &[1]).unwrap();
    assert_metrics(&c, [0.0, 1.0, 1.0]);
}

#[test]
fn f1_leaves_out_classes_absent_from_truth_and_predictions() {
    // scikit-learn: f1_score([0,0,1], [0,0,1], average="macro") == 1.0; class
    // 2 of the matrix occurs nowhere and is not averaged in (with it: 2/3).
    let c = Confusion::from_pairs(3, &[0, 0, 1], &[0, 0, 1]).unwrap();
    assert_eq!(f1_macro(&c), 1.0);
    // A class only in the truth counts, with F1 0: (2*1/(1+3) + 0) / 2 = 0.25
    // (scikit-learn: f1_score([0,1,1], [0,0,0], average="macro") == 0.25).
    let c = Confusion::from_pairs(4, &[0, 1, 1], &[0, 0, 0]).unwrap();
    assert_eq!(f1_macro(&c), 0.25);
    assert_eq!(accuracy(&c), 1.0 / 3.0);
}

#[test]
fn bad_labels_are_errors() {
    let mut c = Confusion::new(2);
    let msg = c.add(2, 0).unwrap_err().to_string();
    assert!(msg.contains("outside 0..2"), "{msg}");
    assert!(c.add(0, 5).is_err());
    assert_eq!(c.total(), 0);
    let msg = Confusion::from_pairs(2, &[0, 1], &[0])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("2 true labels but 1 predictions"), "{msg}");
}

#[test]
fn metrics_serialize() {
    let m = Metrics::of(&Confusion::from_pairs(2, &[0, 1], &[0, 1]).unwrap());
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(json, r#"{"mcc":1.0,"f1_macro":1.0,"accuracy":1.0}"#);
}

/// Expected values computed once with scikit-learn 1.9.1 (Python 3.11):
/// `matthews_corrcoef(t, p)`, `f1_score(t, p, average="macro",
/// zero_division=0)`, `accuracy_score(t, p)`, on labels drawn by
/// `numpy.random.default_rng(20240607)` (truth uniform, prediction equal to
/// the truth 60% of the time, else uniform). The third case has 5 classes in
/// the matrix and labels 0..4 in the truth, with predictions of 3 turned
/// into 0: class 3 is never predicted and class 4 occurs nowhere.
#[test]
fn matches_scikit_learn() {
    /// (classes, truth, predictions, [MCC, macro F1, accuracy]).
    type Case = (usize, &'static [usize], &'static [usize], [f64; 3]);
    #[rustfmt::skip]
    let cases: [Case; 3] = [
        (
            2,
            &[1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0],
            &[1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1],
            [0.45701357466063347, 0.7285067873303167, 0.7333333333333333],
        ),
        (
            3,
            &[0, 2, 1, 0, 2, 0, 1, 2, 2, 2, 0, 2, 1, 0, 0, 0, 0, 1, 0, 1, 2, 2, 1, 0, 2, 2, 1, 2, 2, 0, 0, 1, 2, 1, 2, 0, 1, 2, 1, 2],
            &[0, 2, 1, 0, 2, 2, 1, 2, 2, 1, 0, 2, 1, 1, 0, 0, 0, 0, 2, 1, 2, 2, 1, 0, 2, 2, 1, 2, 1, 0, 0, 2, 2, 2, 1, 0, 0, 0, 0, 2],
            [0.5442457947358956, 0.687389770723104, 0.7],
        ),
        (
            5,
            &[3, 1, 0, 3, 3, 0, 0, 3, 1, 0, 1, 2, 0, 0, 2, 2, 1, 2, 3, 2, 2, 3, 2, 0, 1, 1, 0, 1, 1, 2, 1, 3, 2, 2, 0, 2, 0, 0, 0, 0, 1, 2, 0, 3, 0, 0, 3, 3, 1, 2],
            &[2, 1, 0, 0, 0, 0, 0, 0, 1, 2, 1, 2, 0, 0, 2, 2, 0, 2, 0, 2, 2, 0, 0, 0, 1, 0, 0, 1, 0, 2, 0, 2, 0, 2, 0, 2, 0, 0, 1, 0, 1, 2, 0, 2, 0, 0, 0, 0, 1, 1],
            [0.5029158166470392, 0.5229758828596038, 0.62],
        ),
    ];
    for (classes, truth, pred, want) in cases {
        let c = Confusion::from_pairs(classes, truth, pred).unwrap();
        assert_metrics(&c, want);
    }
}
