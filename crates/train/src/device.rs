//! `--device cpu|cuda:N`: parsed here, opened only when the `cuda` feature compiled candle's CUDA backend.

use candle_core::Device;

use crate::error::{Result, TrainError};

/// A parsed device name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    Cpu,
    Cuda(usize),
}

/// Parses `cpu` or `cuda:N` (a bare `cuda` means `cuda:0`); the error says what is accepted.
pub fn parse_device_name(s: &str) -> std::result::Result<DeviceName, String> {
    match s {
        "cpu" => Ok(DeviceName::Cpu),
        "cuda" => Ok(DeviceName::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .map(DeviceName::Cuda)
            .ok_or_else(|| format!("{s:?} is not a device: use `cpu` or `cuda:N`")),
    }
}

/// Opens the named device.
pub fn open_device(s: &str) -> Result<Device> {
    let bad = |msg: String| TrainError::Device { device: s.to_string(), msg };
    match parse_device_name(s).map_err(bad)? {
        DeviceName::Cpu => Ok(Device::Cpu),
        DeviceName::Cuda(n) => open_cuda(n).map_err(bad),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(n: usize) -> std::result::Result<Device, String> {
    Device::new_cuda(n).map_err(|e| e.to_string())
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_n: usize) -> std::result::Result<Device, String> {
    Err("built without the cuda feature: rebuild with `--features cuda` or use `--device cpu`".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(parse_device_name("cpu"), Ok(DeviceName::Cpu));
        assert_eq!(parse_device_name("cuda:1"), Ok(DeviceName::Cuda(1)));
        assert_eq!(parse_device_name("cuda"), Ok(DeviceName::Cuda(0)));
        assert!(parse_device_name("gpu").unwrap_err().contains("cpu` or `cuda:N"));
        assert!(parse_device_name("cuda:x").is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_says_so() {
        let err = open_device("cuda:0").unwrap_err().to_string();
        assert!(err.contains("built without the cuda feature"), "{err}");
        assert!(matches!(open_device("cpu"), Ok(Device::Cpu)));
    }
}
