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
    /// `id:DEVICE_ID` (24 hex digits, kept lower-case): the board that tells
    /// this device id, in either mode — in DFU mode through its serial
    /// string (bootloaders r5/r6), in normal mode through its serial string
    /// or a vendor request (REFERENCE §7).
    Id(String),
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
        let id = serial.and_then(crate::normal::identity::device_id_from_usb_serial);
        self.matches_board(vid, pid, bus, ports, serial, id.as_deref())
    }

    /// [`Self::matches_usb`] with the device id the board told by other
    /// means (a vendor request in normal mode), for `id:` selectors.
    pub fn matches_board(
        &self,
        vid: u16,
        pid: u16,
        bus: u8,
        ports: &[u8],
        serial: Option<&str>,
        device_id: Option<&str>,
    ) -> bool {
        match self {
            DeviceSelector::UsbIds { vid: v, pid: p } => *v == vid && *p == pid,
            DeviceSelector::UsbPort { bus: b, ports: p } => *b == bus && p.as_slice() == ports,
            DeviceSelector::Serial(s) => serial == Some(s.as_str()),
            DeviceSelector::Id(id) => device_id.is_some_and(|d| d.eq_ignore_ascii_case(id)),
            DeviceSelector::Sim(_) => false,
        }
    }

    /// The device id of an `id:` selector.
    pub fn device_id(&self) -> Option<&str> {
        match self {
            DeviceSelector::Id(id) => Some(id),
            _ => None,
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
            DeviceSelector::Id(id) => write!(f, "id:{id}"),
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
                "missing the kind prefix (usb:, serial:, id: or sim:)",
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
            "id" if crate::normal::identity::is_device_id(rest) => {
                Ok(DeviceSelector::Id(rest.to_ascii_lowercase()))
            }
            "id" => Err(bad(input, "id: needs a device id of 24 hex digits")),
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
            "id:",
            "id:2a002100074734323236323",
            "id:2a00210007473432323623zz",
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
        // id: matches the id in a serial string (DFU r5/r6, firmware 0.3.x)
        // or one told by a vendor request; never a constant serial.
        let id = sel("id:2A0021000747343232363230");
        assert_eq!(id.to_string(), "id:2a0021000747343232363230");
        assert!(id.matches_usb(0, 0, 1, &ports, Some("2A0021000747343232363230")));
        assert!(!id.matches_usb(0, 0, 1, &ports, Some("00000000010C")));
        assert!(id.matches_board(
            0,
            0,
            1,
            &ports,
            Some("00000000050C"),
            Some("2a0021000747343232363230")
        ));
        assert!(!id.matches_board(0, 0, 1, &ports, None, None));
        assert_eq!(DeviceSelector::port_string(1, &ports), "usb:1-4.2");
    }
}
