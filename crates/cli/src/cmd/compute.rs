//! `--dtype` and `--device`, shared by the subcommands that run a model.

use anyhow::{bail, Context};
use candle_core::{DType, Device};
use p2law_model::checkpoint::dtype_from_name;

#[derive(clap::Args, Debug, Clone)]
pub struct Compute {
    /// Weight dtype: f32, bf16 or f16. On the CPU the activations and every sum stay f32 (narrower
    /// weights are widened one layer at a time as they are used), so bf16 halves the weights' memory at
    /// f32 speed; on a GPU the computation runs in this dtype.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// cpu, cuda or cuda:N (cuda needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl Default for Compute {
    fn default() -> Self {
        Compute { dtype: "f32".into(), device: "cpu".into() }
    }
}

impl Compute {
    pub fn resolve(&self) -> anyhow::Result<(DType, Device)> {
        let dtype = dtype_from_name(&self.dtype)
            .with_context(|| format!("--dtype {:?}: use f32, bf16 or f16", self.dtype))?;
        let device = match self.device.as_str() {
            "cpu" => Device::Cpu,
            "cuda" => Device::new_cuda(0).context("--device cuda")?,
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => Device::new_cuda(n).with_context(|| format!("--device {other}"))?,
                None => bail!("--device {other:?}: use cpu, cuda or cuda:N"),
            },
        };
        Ok((dtype, device))
    }
}
