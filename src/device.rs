//! Choosing the device a chapter computes on: `--device cpu|cuda|cuda:N|auto`.
//!
//! CPU is the default. CUDA needs a build with the `cuda` feature; without it, asking
//! for CUDA is an error that says how to rebuild, never a silent fall back to the CPU.

use anyhow::{anyhow, bail, Result};
use candle_core::Device;
use std::fmt;
use std::str::FromStr;

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The CPU (the default).
    #[default]
    Cpu,
    /// A CUDA device by ordinal (`cuda` is `cuda:0`).
    Cuda(usize),
    /// CUDA 0 when the build has it and a device answers, else the CPU.
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "auto" => Ok(Self::Auto),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(ordinal)) => Ok(Self::Cuda(ordinal)),
                _ => Err(format!(
                    "unknown device '{s}': use cpu, cuda, cuda:N (N a GPU number) or auto"
                )),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Auto => write!(f, "auto"),
        }
    }
}

/// Whether this binary was built with the `cuda` feature.
pub const BUILT_WITH_CUDA: bool = cfg!(feature = "cuda");

impl DeviceChoice {
    /// Opens the chosen device.
    pub fn open(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(ordinal) => open_cuda(ordinal),
            Self::Auto => {
                let (device, why) = match open_cuda(0) {
                    Ok(device) => (device, "a CUDA device answered"),
                    Err(_) if !BUILT_WITH_CUDA => (Device::Cpu, "built without CUDA"),
                    Err(_) => (Device::Cpu, "no usable CUDA device"),
                };
                // On stderr, so that the printed chapter is the same on every device.
                eprintln!("device: {} (--device auto: {why})", name(&device));
                Ok(device)
            }
        }
    }
}

fn open_cuda(ordinal: usize) -> Result<Device> {
    if !BUILT_WITH_CUDA {
        bail!(
            "this binary was built without CUDA; rebuild with \
             `cargo run --release --features cuda --bin <chapter> -- --device cuda:{ordinal}`"
        );
    }
    Device::new_cuda(ordinal).map_err(|e| {
        let first_line = e.to_string().lines().next().unwrap_or("").to_string();
        anyhow!(
            "CUDA device {ordinal} is not usable ({first_line}); check the NVIDIA driver \
             and `nvidia-smi`, or run with --device cpu"
        )
    })
}

/// A short name of an opened device for messages: `cpu` or `cuda:N`.
pub fn name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:1".parse(), Ok(DeviceChoice::Cuda(1)));
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        assert!("gpu".parse::<DeviceChoice>().is_err());
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn auto_opens_the_cpu_without_cuda_and_cpu_is_cpu() {
        let auto = DeviceChoice::Auto.open().unwrap();
        if cfg!(not(feature = "cuda")) {
            assert!(auto.is_cpu(), "a build without CUDA has only the CPU");
        }
        assert!(DeviceChoice::Cpu.open().unwrap().is_cpu());
        assert_eq!(name(&Device::Cpu), "cpu");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_rebuild() {
        let err = DeviceChoice::Cuda(0).open().unwrap_err().to_string();
        assert!(err.contains("built without CUDA"), "{err}");
        assert!(err.contains("--features cuda"), "{err}");
    }
}
