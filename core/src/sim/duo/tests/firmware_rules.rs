//! The firmware's and the bootloader's rules that the REFERENCE rewrite
//! added (issue 14): the built-in server key (§2), the `wiced_application`
//! trigger (§1), the leave sequence (§1) and the WICED 3.7 trailer (§2).

use super::*;
use crate::sim::duo::{ServerKeySource, VirtualDuo};

const SERVER_KEY: (usize, usize) = (2082, 768);

/// A board of `bootloader` + `firmware`, opened as a device (time factor 0).
fn device(bootloader: &str, firmware: &str) -> (TempDir, VirtualDuo) {
    let Bench { dir, t, .. } = bench_board(bootloader, firmware, 0.0);
    (dir, t.into_device())
}

/// REFERENCE §2 "Server public key block": on 0.3.x a blank server key
/// (all 0xFF) is replaced in RAM by the built-in one, so the device heads
/// for the public cloud and the DCT stays blank; 0.2.4 has no built-in key.
#[test]
fn a_blank_server_key_is_replaced_in_ram_by_the_builtin_one_on_0_3_x_only() {
    for (bootloader, firmware, want) in [
        ("r4", "0.2.4", ServerKeySource::Missing),
        ("r5", "0.3.1", ServerKeySource::BuiltIn),
        ("r6", "0.3.3", ServerKeySource::BuiltIn),
    ] {
        let (_dir, mut duo) = device(bootloader, firmware);
        let (at, len) = SERVER_KEY;
        duo.mem.app_dct_write(at, &vec![0xFF; len]).unwrap();
        let report = duo.boot().unwrap();
        assert_eq!(report.server_key, Some(want), "{firmware}");
        match report.connection {
            Some(crate::protocol::connect::ConnectOutcome::NotTried { host, port, .. }) => {
                assert_eq!((host.as_str(), port), ("device.spark.io", 5683), "{firmware}");
            }
            other => panic!("{firmware}: {other:?}"),
        }
        let stored = duo.app_dct_bytes()[at..at + len].to_vec();
        assert!(stored.iter().all(|&b| b == 0xFF), "{firmware}: DCT kept blank");
    }
    // A block that is there is used as stored, on every version.
    let (_dir, mut duo) = device("r4", "0.2.4");
    assert_eq!(duo.boot().unwrap().server_key, Some(ServerKeySource::Dct));
}
