//! Fault injection, so the host's error paths can be exercised
//! (`duoprov sim fault DIR …`). The plan lives in the state file: a fault
//! armed by one process fires in the next one that talks to the device.
//!
//! Counting: each armed fault counts its own events from the moment it is
//! armed (requests, data blocks, GETSTATUS replies or data bytes), across
//! processes, and is removed once it fires: every fault is one-shot. A
//! vanished device stays gone until `enter_dfu` (or `boot`); a stuck one
//! stays in dfuDNBUSY until a USB reset or `enter_dfu`.
//!
//! A fault never leaves the DCT half-written: a data block is applied whole
//! on the GETSTATUS that executes it, and a faulted block is never applied.

use serde::{Deserialize, Serialize};

/// One fault to inject. `nth` is 1-based: 1 = the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// STALL the `nth` control request, whatever it is; the request itself
    /// has no effect and the DFU state does not change.
    Stall { nth: u64 },
    /// The `nth` downloaded data block (wBlockNum ≥ 2) fails as a real
    /// failed write does (REFERENCE §1): it is not applied, the GETSTATUS
    /// that runs it stalls in its status stage, bStatus stays OK and the
    /// next GETSTATUS says dfuDNLOAD_IDLE.
    WriteError { nth: u64 },
    /// The same shape (the bootloader reports no address errors): a block
    /// whose address the medium refuses.
    AddressError { nth: u64 },
    /// The device disconnects once it has received `after_bytes` bytes of
    /// download data and more arrive: the DNLOAD carrying byte
    /// `after_bytes + 1` fails with no device, and its block is not applied.
    Vanish { after_bytes: u64 },
    /// The `nth` data block never finishes: every GETSTATUS says dfuDNBUSY,
    /// every other request is STALLed, the block is not applied.
    StuckBusy { nth: u64 },
    /// The `nth` GETSTATUS reply is cut to `len` (< 6) bytes; the request
    /// itself takes effect.
    ShortStatus { nth: u64, len: u8 },
}

impl Fault {
    fn validate(&self) -> Result<(), String> {
        let nth = match self {
            Fault::Stall { nth }
            | Fault::WriteError { nth }
            | Fault::AddressError { nth }
            | Fault::StuckBusy { nth }
            | Fault::ShortStatus { nth, .. } => *nth,
            Fault::Vanish { .. } => 1,
        };
        if nth == 0 {
            return Err("the count is 1-based: use 1 for the next one".into());
        }
        if let Fault::ShortStatus { len, .. } = self {
            if *len >= 6 {
                return Err(format!(
                    "a short GETSTATUS reply must be under 6 bytes, got {len}"
                ));
            }
        }
        Ok(())
    }
}

/// The command-line spelling, `KIND[:N[:LEN]]`: `stall:N`, `write-error:N`,
/// `address-error:N`, `vanish:BYTES`, `stuck-busy[:N]`, `short-status:N[:LEN]`
/// (N defaults to 1, LEN to 3).
impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.split(':');
        let kind = parts.next().unwrap_or_default();
        let mut number = |what: &str, default: Option<u64>| -> Result<u64, String> {
            match parts.next() {
                Some(n) => n
                    .trim()
                    .parse()
                    .map_err(|_| format!("{text:?}: {what} must be a whole number, got {n:?}")),
                None => default.ok_or_else(|| format!("{text:?}: give the {what}, e.g. {kind}:1")),
            }
        };
        let fault = match kind {
            "stall" => Fault::Stall {
                nth: number("request number", Some(1))?,
            },
            "write-error" => Fault::WriteError {
                nth: number("block number", Some(1))?,
            },
            "address-error" => Fault::AddressError {
                nth: number("block number", Some(1))?,
            },
            "vanish" => Fault::Vanish {
                after_bytes: number("byte count", None)?,
            },
            "stuck-busy" => Fault::StuckBusy {
                nth: number("block number", Some(1))?,
            },
            "short-status" => {
                let nth = number("GETSTATUS number", Some(1))?;
                let len = number("reply length", Some(3))?;
                Fault::ShortStatus {
                    nth,
                    len: u8::try_from(len).unwrap_or(u8::MAX),
                }
            }
            _ => {
                return Err(format!(
                    "unknown fault {kind:?}: use stall, write-error, address-error, vanish, \
                     stuck-busy or short-status"
                ))
            }
        };
        if parts.next().is_some() {
            return Err(format!("{text:?}: too many ':' parts"));
        }
        fault.validate()?;
        Ok(fault)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Stall { nth } => write!(f, "stall:{nth}"),
            Fault::WriteError { nth } => write!(f, "write-error:{nth}"),
            Fault::AddressError { nth } => write!(f, "address-error:{nth}"),
            Fault::Vanish { after_bytes } => write!(f, "vanish:{after_bytes}"),
            Fault::StuckBusy { nth } => write!(f, "stuck-busy:{nth}"),
            Fault::ShortStatus { nth, len } => write!(f, "short-status:{nth}:{len}"),
        }
    }
}

/// An armed fault and how many of its events it has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Armed {
    pub fault: Fault,
    pub seen: u64,
}

/// Armed faults and the ones that have fired, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FaultPlan {
    pub armed: Vec<Armed>,
    pub fired: Vec<Fault>,
}

/// What happens to a data block as it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockFate {
    Normal,
    Fail,
    Stuck,
    Vanish,
}

impl FaultPlan {
    pub fn arm(&mut self, fault: Fault) -> Result<(), String> {
        fault.validate()?;
        self.armed.push(Armed { fault, seen: 0 });
        Ok(())
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    /// Count one event for the armed faults `step` concerns (it returns the
    /// new count and whether the fault fires), remove the ones that fired
    /// and return them.
    fn tick(&mut self, step: impl Fn(&Fault, u64) -> Option<(u64, bool)>) -> Vec<Fault> {
        let mut fired = Vec::new();
        self.armed.retain_mut(|a| match step(&a.fault, a.seen) {
            Some((seen, fire)) => {
                a.seen = seen;
                if fire {
                    fired.push(a.fault.clone());
                }
                !fire
            }
            None => true,
        });
        self.fired.extend(fired.iter().cloned());
        fired
    }

    /// A control request arrived: whether to STALL it.
    pub fn on_request(&mut self) -> bool {
        let fired = self.tick(|f, seen| match f {
            Fault::Stall { nth } => Some((seen + 1, seen + 1 == *nth)),
            _ => None,
        });
        !fired.is_empty()
    }

    /// A data block of `len` bytes arrived in an acceptable DNLOAD.
    pub fn on_data_block(&mut self, len: usize) -> BlockFate {
        let len = len as u64;
        let fired = self.tick(|f, seen| match f {
            Fault::Vanish { after_bytes } => Some((seen + len, seen + len > *after_bytes)),
            Fault::WriteError { nth } | Fault::AddressError { nth } | Fault::StuckBusy { nth } => {
                Some((seen + 1, seen + 1 == *nth))
            }
            _ => None,
        });
        let fates = fired.iter().map(|f| match f {
            Fault::Vanish { .. } => BlockFate::Vanish,
            Fault::WriteError { .. } | Fault::AddressError { .. } => BlockFate::Fail,
            _ => BlockFate::Stuck,
        });
        // Disconnection beats an error status, which beats hanging.
        fates
            .min_by_key(|fate| match fate {
                BlockFate::Vanish => 0,
                BlockFate::Fail => 1,
                _ => 2,
            })
            .unwrap_or(BlockFate::Normal)
    }

    /// A GETSTATUS was answered: how many bytes of the reply to send, if cut.
    pub fn on_getstatus(&mut self) -> Option<usize> {
        self.tick(|f, seen| match f {
            Fault::ShortStatus { nth, .. } => Some((seen + 1, seen + 1 == *nth)),
            _ => None,
        })
        .iter()
        .find_map(|f| match f {
            Fault::ShortStatus { len, .. } => Some(usize::from(*len)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_count_their_own_events_and_fire_once() {
        let mut plan = FaultPlan::default();
        plan.arm(Fault::Stall { nth: 2 }).unwrap();
        plan.arm(Fault::WriteError { nth: 1 }).unwrap();
        assert!(!plan.on_request());
        assert!(plan.on_request());
        assert!(!plan.on_request());
        assert_eq!(plan.on_data_block(10), BlockFate::Fail);
        assert_eq!(plan.on_data_block(10), BlockFate::Normal);
        assert!(plan.armed.is_empty());
        assert_eq!(plan.fired.len(), 2);
    }

    #[test]
    fn vanish_fires_on_the_block_that_crosses_the_byte_count() {
        let mut plan = FaultPlan::default();
        plan.arm(Fault::Vanish { after_bytes: 100 }).unwrap();
        assert_eq!(plan.on_data_block(100), BlockFate::Normal);
        assert_eq!(plan.on_data_block(1), BlockFate::Vanish);
    }

    #[test]
    fn faults_parse_from_their_command_line_spelling() {
        for text in [
            "stall:3",
            "write-error:2",
            "address-error:1",
            "vanish:100",
            "stuck-busy:1",
            "short-status:2:4",
        ] {
            assert_eq!(text.parse::<Fault>().unwrap().to_string(), text);
        }
        assert_eq!("stall".parse::<Fault>(), Ok(Fault::Stall { nth: 1 }));
        assert_eq!(
            "short-status".parse::<Fault>(),
            Ok(Fault::ShortStatus { nth: 1, len: 3 })
        );
        for bad in [
            "vanish",
            "stall:x",
            "stall:0",
            "short-status:1:6",
            "melt:1",
            "stall:1:2",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
    }

    #[test]
    fn invalid_faults_are_refused() {
        let mut plan = FaultPlan::default();
        assert!(plan.arm(Fault::Stall { nth: 0 }).is_err());
        assert!(plan.arm(Fault::ShortStatus { nth: 1, len: 6 }).is_err());
        assert!(plan.armed.is_empty());
    }
}
