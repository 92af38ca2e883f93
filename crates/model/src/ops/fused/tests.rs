//! Each fused kernel against its [`crate::ops::plain`] composition: values and the gradients of every
//! input, for random shapes and data, with a random upstream gradient.

use candle_core::{Device, Tensor, Var};

use crate::ops::plain;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// `n` targets over `v` classes, about a quarter ignored (never the first), as the fused kernels take
    /// them (classes, keep flags) and as the plain composition does (picks (n, 1), 0/1 mask (n)).
    fn targets(&mut self, n: usize, v: usize) -> (Vec<u32>, Vec<bool>, Tensor, Tensor) {
        let targets: Vec<u32> = (0..n).map(|_| self.below(v) as u32).collect();
        let keep: Vec<bool> = (0..n).map(|r| r == 0 || self.below(4) > 0).collect();
        let picks = Tensor::from_vec(targets.clone(), (n, 1), &Device::Cpu).unwrap();
        let mask: Vec<f32> = keep.iter().map(|k| *k as u8 as f32).collect();
        (targets, keep, picks, Tensor::from_vec(mask, n, &Device::Cpu).unwrap())
    }

    fn tensor(&mut self, dims: &[usize], scale: f32) -> Tensor {
        let n = dims.iter().product();
        let data: Vec<f32> = (0..n).map(|_| (self.uniform() * 2.0 - 1.0) * scale).collect();
        Tensor::from_vec(data, dims, &Device::Cpu).unwrap()
    }
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    let (a, b) = (
        a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    a.iter().zip(&b).map(|(a, b)| (a - b).abs() / scale).fold(0.0, f32::max)
}

/// Runs `fused` and `plain` on the same inputs (as Vars), backpropagates `Σ out · upstream` through both,
/// and checks the outputs and the gradients of the first `trained` inputs agree to `tol` (relative to each
/// tensor's largest entry).
fn check(
    what: &str,
    inputs: &[Tensor],
    trained: usize,
    rng: &mut Rng,
    tol: f32,
    fused: impl Fn(&[Tensor]) -> candle_core::Result<Tensor>,
    plain: impl Fn(&[Tensor]) -> candle_core::Result<Tensor>,
) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let as_tensors = || vars.iter().map(|v| v.as_tensor().clone()).collect::<Vec<_>>();
    let (yf, yp) = (fused(&as_tensors()).unwrap(), plain(&as_tensors()).unwrap());
    assert_eq!(yf.dims(), yp.dims(), "{what}: shapes");
    let d = max_rel_diff(&yf, &yp);
    assert!(d < tol, "{what}: values differ by {d:e}");
    let upstream = rng.tensor(yf.dims(), 1.0);
    let gf = (&yf * &upstream).unwrap().sum_all().unwrap().backward().unwrap();
    let gp = (&yp * &upstream).unwrap().sum_all().unwrap().backward().unwrap();
    for (i, v) in vars.iter().enumerate().take(trained) {
        let (a, b) =
            (gf.get(v.as_tensor()).expect("fused gradient"), gp.get(v.as_tensor()).expect("plain gradient"));
        let d = max_rel_diff(a, b);
        assert!(d < tol, "{what}: gradient of input {i} differs by {d:e}");
    }
}

#[test]
fn rms_norm_matches_plain() {
    let mut rng = Rng(1);
    for _ in 0..6 {
        let (rows, c) = (1 + rng.below(300), 1 + rng.below(70));
        let x = rng.tensor(&[rows, c], 3.0);
        let w = rng.tensor(&[c], 2.0);
        check(
            "rms_norm",
            &[x, w],
            2,
            &mut rng,
            2e-5,
            |t| super::rms_norm(&t[0], &t[1], 1e-5),
            |t| plain::rms_norm(&t[0], &t[1], 1e-5),
        );
    }
}

#[test]
fn self_attention_matches_plain_with_grouped_heads_rope_and_biases() {
    let mut rng = Rng(2);
    for round in 0..6 {
        // Short sequences (one causal block) and long ones (several, the last one partial); every other
        // round with q/k/v biases (the Qwen2 shape).
        let t = if round % 2 == 0 { 1 + rng.below(40) } else { 65 + rng.below(140) };
        let (b, c, hk, d) = (1 + rng.below(2), 1 + rng.below(24), 1 + rng.below(3), 2 * (1 + rng.below(12)));
        let hq = hk * (1 + rng.below(3));
        let freqs: Vec<f64> = (0..d / 2).map(|i| 1.0 / 10_000f64.powf(2.0 * i as f64 / d as f64)).collect();
        let (cos, sin) = crate::ops::rope_tables(&freqs, t, candle_core::DType::F32, &Device::Cpu).unwrap();
        let biased = round % 2 == 1;
        // Trained inputs first (x, the weights, the biases), then the tables.
        let mut inputs = vec![
            rng.tensor(&[b, t, c], 2.0),
            rng.tensor(&[hq * d, c], 1.0),
            rng.tensor(&[hk * d, c], 1.0),
            rng.tensor(&[hk * d, c], 1.0),
        ];
        if biased {
            inputs.extend([
                rng.tensor(&[hq * d], 1.0),
                rng.tensor(&[hk * d], 1.0),
                rng.tensor(&[hk * d], 1.0),
            ]);
        }
        let trained = inputs.len();
        inputs.extend([cos, sin]);
        let (cos, sin) = (trained, trained + 1);
        check(
            "self_attention",
            &inputs,
            trained,
            &mut rng,
            2e-5,
            |x| {
                let bias = biased.then(|| [&x[4], &x[5], &x[6]]);
                super::self_attention(&x[0], [&x[1], &x[2], &x[3]], bias, &x[cos], &x[sin], d)
            },
            |x| {
                let bias = if biased { [Some(&x[4]), Some(&x[5]), Some(&x[6])] } else { [None; 3] };
                plain::self_attention(&x[0], [&x[1], &x[2], &x[3]], bias, &x[cos], &x[sin], d)
            },
        );
    }
}

#[test]
fn swiglu_matches_plain() {
    let mut rng = Rng(4);
    for _ in 0..6 {
        let (b, t, k, f) = (1 + rng.below(3), 1 + rng.below(40), 1 + rng.below(40), 1 + rng.below(300));
        let x = rng.tensor(&[b, t, k], 2.0);
        let (wg, wu) = (rng.tensor(&[f, k], 1.0), rng.tensor(&[f, k], 1.0));
        check(
            "swiglu",
            &[x, wg, wu],
            3,
            &mut rng,
            2e-5,
            |a| super::swiglu(&a[0], &a[1], &a[2]),
            |a| plain::swiglu(&a[0], &a[1], &a[2]),
        );
    }
}

#[test]
fn cross_entropy_matches_plain_with_ignored_rows() {
    let mut rng = Rng(5);
    for _ in 0..6 {
        let (n, v) = (1 + rng.below(200), 1 + rng.below(300));
        let logits = rng.tensor(&[n, v], 10.0);
        let (targets, keep, picks, mask) = rng.targets(n, v);
        check(
            "cross_entropy",
            &[logits],
            1,
            &mut rng,
            2e-5,
            |a| super::cross_entropy_sum(&a[0], targets.clone(), keep.clone()),
            |a| plain::cross_entropy_sum(&a[0], &picks, &mask),
        );
    }
}

#[test]
fn linear_matches_plain() {
    let mut rng = Rng(6);
    for _ in 0..6 {
        let (b, t, k, n) = (1 + rng.below(3), 1 + rng.below(50), 1 + rng.below(70), 1 + rng.below(90));
        let x = rng.tensor(&[b, t, k], 2.0);
        let w = rng.tensor(&[n, k], 1.0);
        check(
            "linear",
            &[x, w],
            2,
            &mut rng,
            2e-5,
            |a| super::linear(&a[0], &a[1]),
            |a| plain::linear(&a[0], &a[1]),
        );
    }
}

#[test]
fn linear_add_matches_plain_residual_plus_linear() {
    let mut rng = Rng(8);
    for _ in 0..4 {
        let (b, t, k, n) = (1 + rng.below(3), 1 + rng.below(50), 1 + rng.below(70), 1 + rng.below(90));
        let (x, w, r) = (rng.tensor(&[b, t, k], 2.0), rng.tensor(&[n, k], 1.0), rng.tensor(&[b, t, n], 3.0));
        check(
            "linear_add",
            &[x, w, r],
            3,
            &mut rng,
            2e-5,
            |a| super::linear_add(&a[0], &a[1], &a[2]),
            |a| &a[2] + plain::linear(&a[0], &a[1])?,
        );
    }
}

#[test]
fn linear_cross_entropy_matches_plain_head_then_loss() {
    let mut rng = Rng(7);
    for _ in 0..6 {
        let (n, c, v) = (1 + rng.below(120), 1 + rng.below(40), 1 + rng.below(200));
        let (x, w) = (rng.tensor(&[n, c], 2.0), rng.tensor(&[v, c], 1.0));
        let (targets, keep, picks, mask) = rng.targets(n, v);
        check(
            "linear_cross_entropy",
            &[x, w],
            2,
            &mut rng,
            2e-5,
            |a| super::linear_cross_entropy_sum(&a[0], &a[1], targets.clone(), keep.clone()),
            |a| plain::cross_entropy_sum(&plain::linear(&a[0], &a[1])?, &picks, &mask),
        );
    }
}

#[test]
fn kernels_reject_bad_shapes() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((2, 3, 4), candle_core::DType::F32, &dev).unwrap();
    assert!(super::rms_norm(&x, &Tensor::ones(3, candle_core::DType::F32, &dev).unwrap(), 1e-5).is_err());
    let wq = Tensor::zeros((16, 4), candle_core::DType::F32, &dev).unwrap();
    let wkv = Tensor::zeros((12, 4), candle_core::DType::F32, &dev).unwrap();
    let table = Tensor::zeros((3, 4), candle_core::DType::F32, &dev).unwrap();
    let attend = |w: [&Tensor; 3], cos: &Tensor, d| super::self_attention(&x, w, None, cos, &table, d);
    assert!(attend([&wq, &wkv, &wkv], &table, 4).is_err(), "3 key heads do not divide 4 query heads");
    assert!(attend([&wq, &wq, &wq], &table, 5).is_err(), "16 is not a multiple of 5");
    assert!(attend([&wq, &wq, &wkv], &table, 4).is_err(), "k and v weights differ");
    assert!(
        attend([&wq, &wq, &wq], &table.narrow(0, 0, 2).unwrap(), 4).is_err(),
        "tables for 2 of 3 positions"
    );
    assert!(attend([&wq, &wq, &wq], &table, 4).is_ok());
    assert!(super::swiglu(&x, &table, &table.t().unwrap()).is_err(), "weights of different shapes");
    assert!(super::linear(&x, &table.t().unwrap()).is_err(), "x ends in 4, the weight (4, 3) takes 3");
    assert!(super::linear_add(&x, &table, &x).is_err(), "the residual (2, 3, 4) is not the output (2, 3, 3)");
    let logits = Tensor::zeros((2, 5), candle_core::DType::F32, &dev).unwrap();
    assert!(super::cross_entropy_sum(&logits, vec![0], vec![true]).is_err(), "one target for two rows");
    assert!(super::cross_entropy_sum(&logits, vec![0, 7], vec![true, true]).is_err(), "class 7 of 5");
    let head = Tensor::zeros((5, 3), candle_core::DType::F32, &dev).unwrap();
    assert!(
        super::linear_cross_entropy_sum(&logits, &head, vec![0, 1], vec![true, true]).is_err(),
        "C 5 vs 3"
    );
    // A second backward through the same graph is refused, not silently wrong.
    let x = Var::from_tensor(&Tensor::ones((2, 3), candle_core::DType::F32, &dev).unwrap()).unwrap();
    let loss = super::linear_cross_entropy_sum(x.as_tensor(), &head, vec![0, 4], vec![true, true]).unwrap();
    assert!(loss.backward().is_ok());
    assert!(loss.backward().is_err());
}
