use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::sim::duo::ManualClock;

/// Reply chunks and when they arrive after the key is written.
type Chunks = Vec<(Duration, Vec<u8>)>;

const ID: &str = "2a0021000747343232363230";

/// A scripted serial line: each key written schedules reply chunks at
/// offsets from the moment it was written; reading advances the manual
/// clock, so no test waits.
struct FakeLine {
    clock: Arc<ManualClock>,
    script: Vec<(u8, Chunks)>,
    pending: VecDeque<(Instant, Vec<u8>)>,
    bauds: Vec<u32>,
    written: Vec<u8>,
    /// Reads left before the port hangs up.
    vanish_after_reads: Option<usize>,
}

impl FakeLine {
    fn new(clock: &Arc<ManualClock>) -> Self {
        FakeLine {
            clock: clock.clone(),
            script: Vec::new(),
            pending: VecDeque::new(),
            bauds: Vec::new(),
            written: Vec::new(),
            vanish_after_reads: None,
        }
    }

    fn answer(mut self, key: u8, chunks: &[(u64, &[u8])]) -> Self {
        let chunks = chunks
            .iter()
            .map(|(ms, b)| (Duration::from_millis(*ms), b.to_vec()))
            .collect();
        self.script.push((key, chunks));
        self
    }
}

impl SerialLine for FakeLine {
    fn name(&self) -> &str {
        "/dev/ttyFAKE"
    }
    fn set_baud_rate(&mut self, baud: u32) -> Result<(), LineError> {
        if self.vanish_after_reads == Some(0) {
            return Err(LineError::Vanished("hang-up".into()));
        }
        self.bauds.push(baud);
        Ok(())
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LineError> {
        self.written.extend_from_slice(bytes);
        let now = self.clock.now();
        for b in bytes {
            if let Some((_, chunks)) = self.script.iter().find(|(k, _)| k == b) {
                for (at, data) in chunks {
                    self.pending.push_back((now + *at, data.clone()));
                }
            }
        }
        Ok(())
    }
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> Result<usize, LineError> {
        if let Some(n) = self.vanish_after_reads.as_mut() {
            if *n == 0 {
                return Err(LineError::Vanished("hang-up".into()));
            }
            *n -= 1;
        }
        let now = self.clock.now();
        match self.pending.front() {
            Some((at, _)) if *at <= now + wait => {
                let at = *at;
                if at > now {
                    self.clock.advance(at - now);
                }
                let (_, data) = self.pending.pop_front().unwrap();
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
            _ => {
                self.clock.advance(wait);
                Ok(0)
            }
        }
    }
}

#[test]
fn the_id_reply_is_read_until_a_250_ms_gap() {
    let clock = ManualClock::new();
    let reply = format!("Your device id is {ID}\r\n");
    let (head, tail) = reply.as_bytes().split_at(10);
    let mut line = FakeLine::new(&clock).answer(b'i', &[(5, head), (200, tail)]);
    let mut console = Console::new(&mut line, clock.as_ref());
    assert_eq!(console.device_id().unwrap(), ID);
    // Last byte at 200 ms, then the 250 ms gap (read in 50 ms slices).
    assert!(
        clock.elapsed() >= Duration::from_millis(450),
        "{:?}",
        clock.elapsed()
    );
    assert!(
        clock.elapsed() < Duration::from_millis(520),
        "{:?}",
        clock.elapsed()
    );
    assert_eq!(line.written, b"i");
}

#[test]
fn bytes_after_the_gap_are_not_part_of_the_reply() {
    let clock = ManualClock::new();
    let mut line = FakeLine::new(&clock).answer(
        b'v',
        &[(1, b"system firmware version: 0.3.3\n\r\n"), (400, b"late")],
    );
    let mut console = Console::new(&mut line, clock.as_ref());
    let reply = console.ask('v').unwrap();
    assert_eq!(reply, b"system firmware version: 0.3.3\n\r\n");
}

#[test]
fn a_console_that_never_answers_is_named_with_the_wait() {
    let clock = ManualClock::new();
    let mut line = FakeLine::new(&clock);
    let mut console = Console::new(&mut line, clock.as_ref());
    console.answer_timeout = Duration::from_secs(3);
    let err = console.device_id().unwrap_err();
    assert_eq!(
        err,
        NormalError::ConsoleSilent {
            port: "/dev/ttyFAKE".into(),
            command: 'i',
            waited_ms: 3000
        }
    );
    assert!(err.to_string().contains("listening mode"), "{err}");
}

#[test]
fn garbage_on_the_console_is_an_error_showing_it() {
    let clock = ManualClock::new();
    let mut line = FakeLine::new(&clock)
        .answer(b'i', &[(1, b"\x00\xffnoise")])
        .answer(b'v', &[(1, b"system firmware version: ???\r\n")])
        .answer(b's', &[(1, b"{\"p\":88,\"m\":[")]);
    let mut console = Console::new(&mut line, clock.as_ref());
    match console.device_id().unwrap_err() {
        NormalError::ConsoleGarbage { command, reply, .. } => {
            assert_eq!(command, 'i');
            assert_eq!(reply, "\\x00\\xffnoise");
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        console.firmware_version(),
        Err(NormalError::ConsoleGarbage { command: 'v', .. })
    ));
    assert!(matches!(
        console.module_info(),
        Err(NormalError::ConsoleGarbage { command: 's', .. })
    ));
}

#[test]
fn a_port_that_vanishes_mid_reply_is_named() {
    let clock = ManualClock::new();
    let mut line = FakeLine::new(&clock).answer(b'i', &[(1, b"Your dev")]);
    line.vanish_after_reads = Some(1);
    let mut console = Console::new(&mut line, clock.as_ref());
    let err = console.device_id().unwrap_err();
    assert!(matches!(err, NormalError::PortVanished { .. }), "{err:?}");
    assert!(err.to_string().contains("/dev/ttyFAKE"), "{err}");
}

#[test]
fn a_reply_that_never_pauses_is_cut_off() {
    let clock = ManualClock::new();
    let chunk = vec![b'a'; 512];
    let chunks: Vec<(u64, &[u8])> = (0..40).map(|i| (i * 10, chunk.as_slice())).collect();
    let mut line = FakeLine::new(&clock).answer(b's', &chunks);
    let mut console = Console::new(&mut line, clock.as_ref());
    assert!(matches!(
        console.ask('s'),
        Err(NormalError::ConsoleGarbage { command: 's', .. })
    ));
}

#[test]
fn listening_keeps_28800_and_closing_sets_9600() {
    let clock = ManualClock::new();
    let mut line = FakeLine::new(&clock);
    let mut console = Console::new(&mut line, clock.as_ref());
    console.enter_listening().unwrap();
    console.leave_listening().unwrap();
    assert_eq!(line.bauds, [BAUD_LISTEN, BAUD_NEUTRAL]);
    assert_eq!(line.written, b"x");
}

#[test]
fn baud_1200_is_never_set() {
    let clock = ManualClock::new();
    let mut line = FakeLine::new(&clock);
    let err = set_baud(&mut line, 1200).unwrap_err();
    assert!(matches!(err, NormalError::ForbiddenBaud { baud: 1200, .. }));
    assert!(line.bauds.is_empty());
}

#[test]
fn the_dfu_trigger_waits_for_the_hang_up() {
    let clock = ManualClock::new();
    let mut line = FakeLine::new(&clock);
    line.vanish_after_reads = Some(3);
    let ending = trigger_dfu(&mut line, clock.as_ref(), Duration::from_secs(2)).unwrap();
    assert_eq!(ending, TriggerEnding::PortClosed);
    assert_eq!(line.bauds, [BAUD_ENTER_DFU]);
}

#[test]
fn a_dfu_trigger_the_board_ignores_sets_9600_again() {
    let clock = ManualClock::new();
    let mut line = FakeLine::new(&clock);
    let ending = trigger_dfu(&mut line, clock.as_ref(), Duration::from_secs(1)).unwrap();
    assert_eq!(ending, TriggerEnding::PortStayed);
    assert_eq!(line.bauds, [BAUD_ENTER_DFU, BAUD_NEUTRAL]);
    assert!(clock.elapsed() >= Duration::from_secs(1));
}

#[test]
fn particle_cli_patterns() {
    assert_eq!(
        parse_device_id(&format!("Your core id is {}\r\n", ID.to_uppercase())).as_deref(),
        Some(ID)
    );
    assert_eq!(parse_device_id("Your device id is\r\n"), None);
    assert_eq!(parse_device_id("Your device id is 1234\r\n"), None);
    assert_eq!(parse_device_id(&format!("Your device id is{ID}")), None);
    assert_eq!(
        parse_firmware_version("system firmware version: 0.2.4\n\r\n").as_deref(),
        Some("0.2.4")
    );
    assert_eq!(
        parse_mac_address("Your device MAC address is\r\nAB:cd:00:11:22:33\r\n").as_deref(),
        Some("ab:cd:00:11:22:33")
    );
    assert_eq!(
        parse_mac_address("Your device MAC address is\r\nab:cd\r\n"),
        None
    );
    assert_eq!(parse_claimed("Device claimed: yes\r\n"), Some(true));
    assert_eq!(parse_claimed("Device claimed: no\r\n"), Some(false));
    assert_eq!(parse_claimed("Device claimed: maybe\r\n"), None);
}

#[test]
fn the_module_list_of_s() {
    let json = r#"{"p":88,"m":[{"s":16384,"l":"m","vc":30,"vv":30,"f":"b","n":"0","v":6,"d":[]},{"s":262144,"l":"m","vc":30,"vv":30,"f":"s","n":"1","v":30,"d":[]}]}"#;
    let info = parse_module_info(&format!("{json}\r\n")).unwrap();
    assert_eq!(info.platform_id, 88);
    assert_eq!(info.modules.len(), 2);
    assert_eq!(info.modules[0].function, "b");
    assert_eq!(info.modules[0].size, 16384);
    assert_eq!(info.modules[1].version, 30);
    assert_eq!(info.modules[1].index, "1");
}
