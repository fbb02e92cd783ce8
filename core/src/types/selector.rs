//! Which board to talk to (the CLI's `--device` / `DUOPROV_DEVICE` value).
//! `usb:` and `serial:` are matched by the USB side; `sim:` is resolved by the
//! integration layer (a virtual Duo's state directory).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::dfu::DfuError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSelector {
    /// `usb:VID:PID` (hex, `0x` optional).
    UsbIds { vid: u16, pid: u16 },
    /// `usb:BUS-PORT[.PORT…]`, as `lsusb -t` / sysfs name the physical port.
    UsbPort { bus: u8, ports: Vec<u8> },
    /// `serial:STRING`, the iSerialNumber string (constant `00000000010C` on
    /// Duo bootloaders, so it only tells boards apart on other platforms).
    Serial(String),
    /// `sim:DIR`, a virtual Duo's state directory.
    Sim(PathBuf),
}

impl DeviceSelector {
    /// Does a USB device with these properties match? (`sim:` never does.)
    pub fn matches_usb(
        &self,
        vid: u16,
        pid: u16,
        bus: u8,
        ports: &[u8],
        serial: Option<&str>,
    ) -> bool {
        match self {
            DeviceSelector::UsbIds { vid: v, pid: p } => *v == vid && *p == pid,
            DeviceSelector::UsbPort { bus: b, ports: p } => *b == bus && p.as_slice() == ports,
            DeviceSelector::Serial(s) => serial == Some(s.as_str()),
            DeviceSelector::Sim(_) => false,
        }
    }

    /// The virtual device directory, for `sim:` selectors.
    pub fn sim_dir(&self) -> Option<&std::path::Path> {
        match self {
            DeviceSelector::Sim(dir) => Some(dir),
            _ => None,
        }
    }

    /// The `usb:BUS-PORT` form naming a physical port.
    pub fn port_string(bus: u8, ports: &[u8]) -> String {
        let chain: Vec<String> = ports.iter().map(u8::to_string).collect();
        format!("usb:{bus}-{}", chain.join("."))
    }
}

impl fmt::Display for DeviceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSelector::UsbIds { vid, pid } => write!(f, "usb:{vid:04x}:{pid:04x}"),
            DeviceSelector::UsbPort { bus, ports } => {
                f.write_str(&DeviceSelector::port_string(*bus, ports))
            }
            DeviceSelector::Serial(s) => write!(f, "serial:{s}"),
            DeviceSelector::Sim(dir) => write!(f, "sim:{}", dir.display()),
        }
    }
}

fn bad(input: &str, reason: impl Into<String>) -> DfuError {
    DfuError::Selector {
        input: input.to_string(),
        reason: reason.into(),
    }
}

fn hex16(input: &str, s: &str, what: &str) -> Result<u16, DfuError> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 {
        return Err(bad(
            input,
            format!("{what} {s:?} is not a 16-bit hex number"),
        ));
    }
    u16::from_str_radix(digits, 16)
        .map_err(|_| bad(input, format!("{what} {s:?} is not a 16-bit hex number")))
}

fn dec8(input: &str, s: &str, what: &str) -> Result<u8, DfuError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(input, format!("{what} {s:?} is not a number 0-255")));
    }
    s.parse()
        .map_err(|_| bad(input, format!("{what} {s:?} is not a number 0-255")))
}

impl FromStr for DeviceSelector {
    type Err = DfuError;

    fn from_str(input: &str) -> Result<Self, DfuError> {
        let Some((kind, rest)) = input.split_once(':') else {
            return Err(bad(
                input,
                "missing the kind prefix (usb:, serial: or sim:)",
            ));
        };
        match kind {
            "usb" => {
                if let Some((vid, pid)) = rest.split_once(':') {
                    Ok(DeviceSelector::UsbIds {
                        vid: hex16(input, vid, "vendor id")?,
                        pid: hex16(input, pid, "product id")?,
                    })
                } else if let Some((bus, chain)) = rest.split_once('-') {
                    let bus = dec8(input, bus, "bus number")?;
                    let ports = chain
                        .split('.')
                        .map(|p| dec8(input, p, "port number"))
                        .collect::<Result<Vec<_>, _>>()?;
                    if ports.len() > 7 {
                        return Err(bad(input, "a USB port chain has at most 7 ports"));
                    }
                    Ok(DeviceSelector::UsbPort { bus, ports })
                } else {
                    Err(bad(input, "after usb: give VID:PID or BUS-PORT"))
                }
            }
            "serial" if !rest.is_empty() => Ok(DeviceSelector::Serial(rest.to_string())),
            "sim" if !rest.is_empty() => Ok(DeviceSelector::Sim(PathBuf::from(rest))),
            "serial" | "sim" => Err(bad(input, format!("{kind}: needs a value"))),
            other => Err(bad(input, format!("unknown kind {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> DeviceSelector {
        s.parse().unwrap()
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(
            sel("usb:2b04:d058"),
            DeviceSelector::UsbIds {
                vid: 0x2b04,
                pid: 0xd058
            }
        );
        assert_eq!(sel("usb:0x2B04:0xD058"), sel("usb:2b04:d058"));
        assert_eq!(
            sel("usb:1-4.2"),
            DeviceSelector::UsbPort {
                bus: 1,
                ports: vec![4, 2]
            }
        );
        assert_eq!(
            sel("usb:3-1"),
            DeviceSelector::UsbPort {
                bus: 3,
                ports: vec![1]
            }
        );
        assert_eq!(
            sel("serial:00000000010C"),
            DeviceSelector::Serial("00000000010C".into())
        );
        assert_eq!(sel("sim:vd").sim_dir(), Some(std::path::Path::new("vd")));
        for s in ["usb:2b04:d058", "usb:1-4.2", "serial:ABC", "sim:some/dir"] {
            assert_eq!(sel(s).to_string(), s);
        }
    }

    #[test]
    fn unknown_or_malformed_selectors_list_the_accepted_forms() {
        for bad in [
            "vd",
            "tcp:1.2.3.4",
            "usb:",
            "usb:2b04",
            "usb:2b04:xyz",
            "usb:12345:1",
            "usb:1-",
            "usb:1-4..2",
            "usb:x-4",
            "usb:1-300",
            "serial:",
            "sim:",
        ] {
            let e = bad.parse::<DeviceSelector>().unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("usb:VID:PID") && msg.contains("sim:DIR"),
                "{msg}"
            );
            assert!(msg.contains(bad), "{msg}");
        }
    }

    #[test]
    fn usb_matching() {
        let ports = [4, 2];
        assert!(sel("usb:2b04:d058").matches_usb(0x2b04, 0xd058, 1, &ports, None));
        assert!(!sel("usb:2b04:d006").matches_usb(0x2b04, 0xd058, 1, &ports, None));
        assert!(sel("usb:1-4.2").matches_usb(0x2b04, 0xd058, 1, &ports, None));
        assert!(!sel("usb:1-4").matches_usb(0x2b04, 0xd058, 1, &ports, None));
        assert!(sel("serial:X1").matches_usb(0, 0, 1, &ports, Some("X1")));
        assert!(!sel("serial:X1").matches_usb(0, 0, 1, &ports, None));
        assert!(!sel("sim:vd").matches_usb(0x2b04, 0xd058, 1, &ports, None));
        assert_eq!(DeviceSelector::port_string(1, &ports), "usb:1-4.2");
    }
}
