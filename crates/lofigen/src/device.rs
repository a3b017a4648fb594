//! Where tensors compute: the user's `--device` names (`cpu`, `cuda[:N]`, `wgpu`, `auto`)
//! turned into burn devices.
//!
//! The default build knows only the Flex CPU backend. The cargo features `wgpu` and `cuda`
//! compile in burn's own GPU backends; a name whose backend is not compiled in is an error that
//! says which feature to build with, and a compiled-in backend with no device behind it (no
//! NVIDIA driver, no Vulkan driver) is an error that says what is missing, never a silent
//! fallback to the CPU. Only `auto` falls back, and [`ComputeDevice::name`] says where it
//! landed.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;

use crate::error::{Error, Result};

/// A device as the user names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The Flex CPU backend (always built).
    Cpu,
    /// CUDA device `N` (feature `cuda`).
    Cuda(usize),
    /// The wgpu backend's default adapter: Vulkan, Metal or DirectX 12 (feature `wgpu`).
    Wgpu,
    /// A GPU if one is compiled in and present (CUDA first, then a wgpu adapter that is a real
    /// card, not a software rasteriser), else the CPU.
    Auto,
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |problem: String| Error::Device {
            spec: s.to_string(),
            problem,
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "wgpu" => Ok(Self::Wgpu),
            "auto" => Ok(Self::Auto),
            "cuda" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(Self::Cuda).map_err(|_| {
                    bad(format!(
                        "`{n}` is not a CUDA device index (write cuda:0, cuda:1, ...)"
                    ))
                }),
                None => Err(bad(
                    "unknown device; expected cpu, cuda, cuda:N, wgpu or auto".into(),
                )),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Wgpu => write!(f, "wgpu"),
            Self::Auto => write!(f, "auto"),
        }
    }
}

/// Parse a comma-separated device list (`cuda:0,cuda:1`); at least one, no repeats of a GPU.
pub fn parse_device_list(list: &str) -> Result<Vec<DeviceSpec>> {
    let specs = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(DeviceSpec::from_str)
        .collect::<Result<Vec<_>>>()?;
    if specs.is_empty() {
        return Err(Error::Device {
            spec: list.to_string(),
            problem: "no device given".into(),
        });
    }
    for (i, s) in specs.iter().enumerate() {
        // The CPU may be listed twice (it is one device computing two shares of the batch in
        // turn, which is how data parallelism is tested without GPUs); a GPU twice is a typo.
        if *s != DeviceSpec::Cpu && specs[..i].contains(s) {
            return Err(Error::Device {
                spec: list.to_string(),
                problem: format!("{s} is listed twice"),
            });
        }
    }
    Ok(specs)
}

/// A resolved device and the name it goes by in messages and `run.json`.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    /// The burn device (without autodiff).
    pub device: Device,
    /// What it is, for people: `cpu (flex)`, `cuda:0 (NVIDIA H200)`, `wgpu (llvmpipe ...)`.
    pub name: String,
}

/// The cargo features this build was compiled with, of the ones that add devices.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut b = vec!["cpu"];
    if cfg!(feature = "cuda") {
        b.push("cuda");
    }
    if cfg!(feature = "wgpu") {
        b.push("wgpu");
    }
    b
}

/// Turn a spec into a device, checking that the device exists.
pub fn resolve(spec: DeviceSpec) -> Result<ComputeDevice> {
    match spec {
        DeviceSpec::Cpu => Ok(cpu()),
        DeviceSpec::Cuda(n) => cuda(n),
        DeviceSpec::Wgpu => wgpu(),
        DeviceSpec::Auto => Ok(auto()),
    }
}

/// Resolve every spec of a list (see [`parse_device_list`]).
pub fn resolve_all(specs: &[DeviceSpec]) -> Result<Vec<ComputeDevice>> {
    specs.iter().map(|s| resolve(*s)).collect()
}

fn cpu() -> ComputeDevice {
    named(Device::flex())
}

#[cfg(not(all(feature = "cuda", feature = "wgpu")))]
fn not_compiled(spec: &str, feature: &str) -> Error {
    Error::Device {
        spec: spec.to_string(),
        problem: format!(
            "this lofigen was built without the `{feature}` backend (it has: {}); rebuild with \
             `cargo build --release --features {feature}`",
            compiled_backends().join(", ")
        ),
    }
}

#[cfg(feature = "cuda")]
fn cuda(n: usize) -> Result<ComputeDevice> {
    use burn::tensor::DeviceType;
    let spec = format!("cuda:{n}");
    let found = Device::enumerate(DeviceType::Cuda).len();
    if n >= found {
        return Err(Error::Device {
            spec,
            problem: if found == 0 {
                "no CUDA device found (the NVIDIA driver's libcuda.so is not installed, or it \
                 sees no GPU)"
                    .into()
            } else {
                format!(
                    "only {found} CUDA device(s) found (cuda:0 to cuda:{})",
                    found - 1
                )
            },
        });
    }
    Ok(named(Device::cuda(n)))
}

#[cfg(not(feature = "cuda"))]
fn cuda(n: usize) -> Result<ComputeDevice> {
    Err(not_compiled(&format!("cuda:{n}"), "cuda"))
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<ComputeDevice> {
    use burn::tensor::{DeviceKind, DeviceType};
    if Device::enumerate(DeviceType::Wgpu).is_empty() {
        return Err(Error::Device {
            spec: "wgpu".into(),
            problem: "no wgpu adapter found: no Vulkan, Metal or DirectX 12 driver answers. \
                      On Debian, `apt-get install mesa-vulkan-drivers libvulkan1` provides a \
                      software Vulkan driver (lavapipe)"
                .into(),
        });
    }
    Ok(named(Device::wgpu(DeviceKind::DefaultDevice)))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<ComputeDevice> {
    Err(not_compiled("wgpu", "wgpu"))
}

fn named(device: Device) -> ComputeDevice {
    ComputeDevice {
        name: describe(&device),
        device,
    }
}

/// What a device is, for people and `run.json`: `cpu (flex)`, `cuda:0 (NVIDIA H200)`,
/// `wgpu (llvmpipe (LLVM 15.0.6, 256 bits))`. Opens a GPU device to ask its name.
pub fn describe(device: &Device) -> String {
    use burn::backend::DispatchDevice;
    let device = device.clone().without_autodiff();
    match device.as_dispatch() {
        DispatchDevice::Flex(_) => "cpu (flex)".into(),
        #[cfg(any(feature = "cuda", feature = "wgpu"))]
        DispatchDevice::Cube(cube) => {
            use burn::backend::CubeDevice;
            let kind = match cube {
                CubeDevice::Cuda(c) => format!("cuda:{}", c.index),
                CubeDevice::Wgpu(_) => "wgpu".into(),
                other => format!("{other:?}"),
            };
            match device.identity() {
                Some(id) => format!("{kind} ({})", id.name),
                None => kind,
            }
        }
        #[allow(unreachable_patterns)] // which variants exist depends on burn's features
        other => format!("{other:?}"),
    }
}

fn auto() -> ComputeDevice {
    #[cfg(feature = "cuda")]
    if let Ok(d) = cuda(0) {
        return d;
    }
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::DeviceType;
        // A software rasteriser (lavapipe) reports no physical card; on it the Flex backend is
        // much faster, so `auto` does not pick it.
        let card = Device::enumerate(DeviceType::Wgpu)
            .into_iter()
            .find_map(|d| {
                d.identity()
                    .filter(|id| id.physical.is_some())
                    .map(|id| (d, id))
            });
        if let Some((device, _)) = card {
            return named(device);
        }
    }
    cpu()
}

/// Whether `device` is the Flex CPU backend (with or without autodiff).
pub fn is_flex(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for (s, spec) in [
            ("cpu", DeviceSpec::Cpu),
            ("CUDA", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
            ("wgpu", DeviceSpec::Wgpu),
            (" auto ", DeviceSpec::Auto),
        ] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap(), spec);
        }
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
    }

    #[test]
    fn bad_names_say_what_is_expected() {
        let e = "gpu".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(e.contains("gpu") && e.contains("cuda:N"), "{e}");
        let e = "cuda:x".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(e.contains("not a CUDA device index"), "{e}");
    }

    #[test]
    fn lists_parse_and_a_gpu_twice_is_refused() {
        assert_eq!(
            parse_device_list("cuda:0,cuda:1").unwrap(),
            [DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)]
        );
        assert_eq!(
            parse_device_list("cpu,cpu").unwrap(),
            [DeviceSpec::Cpu, DeviceSpec::Cpu]
        );
        let e = parse_device_list("cuda:1,cuda:1").unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
        assert!(parse_device_list(" , ").is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_backend_not_compiled_in_names_the_feature_to_build_with() {
        let e = resolve(DeviceSpec::Cuda(0)).unwrap_err().to_string();
        assert!(e.contains("--features cuda"), "{e}");
    }

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn wgpu_not_compiled_in_names_the_feature_to_build_with() {
        let e = resolve(DeviceSpec::Wgpu).unwrap_err().to_string();
        assert!(e.contains("--features wgpu"), "{e}");
    }

    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    #[test]
    fn auto_without_gpu_backends_is_the_cpu() {
        let d = resolve(DeviceSpec::Auto).unwrap();
        assert!(is_flex(&d.device));
        assert_eq!(d.name, "cpu (flex)");
    }
}
