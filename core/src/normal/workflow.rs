//! What a front end calls on a board in normal mode (REFERENCE §7): who it
//! is ([`identify`]) and how to reset it into DFU mode without buttons
//! ([`request_dfu`], then [`wait_for_dfu`]), each by the best route the
//! board supports, returning reports that say which route worked.

use std::time::Duration;

use serde::Serialize;

use crate::dfu::transport::ControlTransport;
use crate::time::Clock;

use super::console::{trigger_dfu, Console, ModuleInfo, SerialLine, TriggerEnding};
use super::identity::device_id_from_usb_serial;
use super::vendor::{self, ResetEnding};
use super::NormalError;

/// A way to learn something from, or act on, a board in normal mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The USB serial-number string (firmware 0.3.x).
    UsbSerial,
    /// bRequest 0x50 (firmware 0.3.0+).
    LegacyRequest,
    /// Particle's service requests (firmware 0.3.2+).
    ServiceRequest,
    /// The listening-mode serial console.
    Console,
    /// The 14400-baud trigger on the serial port.
    BaudRate,
    /// Given by the caller (an `id:` selector).
    Selector,
    /// The serial-number string of the bootloader in DFU mode (r5/r6).
    DfuSerial,
}

/// What [`identify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub device_id: String,
    pub device_id_from: Route,
    pub firmware_version: Option<String>,
    pub firmware_version_from: Option<Route>,
    /// The `s` module list (or service request 90's).
    pub modules: Option<ModuleInfo>,
    pub modules_from: Option<Route>,
}

/// `identify` on one board.
#[derive(Debug, Clone, Serialize)]
pub struct IdentifyReport {
    /// The `--device` value naming the board (`usb:1-2`, `sim:DIR`).
    pub board: String,
    pub usb_serial: Option<String>,
    /// The serial port used or found (none: the USB side told everything
    /// and no port was found, or the board has none).
    pub serial_port: Option<String>,
    #[serde(flatten)]
    pub identity: Identity,
}

/// `mode dfu` on one board.
#[derive(Debug, Clone, Serialize)]
pub struct DfuReport {
    /// The board in normal mode, as it was named.
    pub board: String,
    /// The route that put the board in DFU mode.
    pub route: Route,
    pub attempts: Vec<Attempt>,
    /// How the board was recognised in DFU mode: `device_id` where its
    /// bootloader reports it (r5/r6), else `port`.
    pub matched_by: &'static str,
    /// The device id, where the board told it (before or after).
    pub device_id: Option<String>,
    /// The `--device` value naming the board in DFU mode.
    pub dfu_board: String,
}

/// How long the console's first reply byte is waited for.
pub const CONSOLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Identify a board: device id from the USB serial, else the legacy
/// request, else the console; firmware version from the legacy request,
/// else the console; modules from service request 90, else the console's
/// `s`. The console is used (listening mode entered at 28800 and left with
/// `x`, 9600 set again) only for what the USB side did not tell.
pub fn identify(
    usb: Option<&mut dyn ControlTransport>,
    usb_serial: Option<&str>,
    line: Option<&mut dyn SerialLine>,
    clock: &dyn Clock,
) -> Result<Identity, NormalError> {
    let mut id = usb_serial
        .and_then(device_id_from_usb_serial)
        .map(|id| (id, Route::UsbSerial));
    let mut version = None;
    let mut modules = None;
    if let Some(t) = usb {
        if id.is_none() {
            id = vendor::legacy_device_id(t)
                .ok()
                .map(|id| (id, Route::LegacyRequest));
        }
        version = vendor::legacy_firmware_version(t)
            .ok()
            .map(|v| (v, Route::LegacyRequest));
        modules = vendor::service_module_info(t)
            .ok()
            .and_then(|json| super::console::parse_module_info(&json))
            .map(|m| (m, Route::ServiceRequest));
    }
    let mut console_error = None;
    if id.is_none() || version.is_none() || modules.is_none() {
        if let Some(line) = line {
            let mut console = Console::new(line, clock);
            console.answer_timeout = CONSOLE_TIMEOUT;
            let result = (|| -> Result<(), NormalError> {
                console.enter_listening()?;
                if id.is_none() {
                    id = Some((console.device_id()?, Route::Console));
                }
                if version.is_none() {
                    version = Some((console.firmware_version()?, Route::Console));
                }
                if modules.is_none() {
                    modules = Some((console.module_info()?, Route::Console));
                }
                console.leave_listening()
            })();
            if let Err(e) = result {
                // Leave the line neutral whatever happened.
                let _ = console.close();
                console_error = Some(e);
            }
        }
    }
    let Some((device_id, device_id_from)) = id else {
        return Err(console_error.unwrap_or(NormalError::NoRouteToIdentity));
    };
    Ok(Identity {
        device_id,
        device_id_from,
        firmware_version_from: version.as_ref().map(|v| v.1),
        firmware_version: version.map(|v| v.0),
        modules_from: modules.as_ref().map(|m| m.1),
        modules: modules.map(|m| m.0),
    })
}

/// One route tried by [`request_dfu`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub route: Route,
    /// What happened, in words.
    pub outcome: String,
}

/// Which routes [`request_dfu`] may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routes {
    pub service: bool,
    pub legacy: bool,
    pub baud: bool,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            service: true,
            legacy: true,
            baud: true,
        }
    }
}

/// How long the port is watched for the hang-up after 14400 baud.
pub const TRIGGER_WAIT: Duration = Duration::from_secs(3);

/// Ask a board in normal mode to reset into DFU mode: the service request
/// (INIT type 50, CHECK), else the legacy request (OUT 0x50 wIndex 50, sent
/// only when the board answers the legacy reads), else 14400 baud. Returns
/// the route that took (`None` if none did) and every attempt; the caller
/// then waits for the board in DFU mode ([`wait_for_dfu`]).
pub fn request_dfu(
    usb: Option<&mut dyn ControlTransport>,
    line: Option<&mut dyn SerialLine>,
    clock: &dyn Clock,
    routes: Routes,
) -> Result<(Option<Route>, Vec<Attempt>), NormalError> {
    let mut attempts = Vec::new();
    if let Some(t) = usb {
        if routes.service {
            match vendor::service_enter_dfu(t) {
                Ok(ending) => {
                    attempts.push(Attempt {
                        route: Route::ServiceRequest,
                        outcome: describe(&ending),
                    });
                    return Ok((Some(Route::ServiceRequest), attempts));
                }
                Err(e) => attempts.push(Attempt {
                    route: Route::ServiceRequest,
                    outcome: e.to_string(),
                }),
            }
        }
        if routes.legacy {
            // A stall to the reset request is ambiguous (no request, or a
            // reset inside it), so the legacy reads decide first.
            match vendor::legacy_firmware_version(t) {
                Ok(_) => {
                    let ending = vendor::legacy_enter_dfu(t)?;
                    attempts.push(Attempt {
                        route: Route::LegacyRequest,
                        outcome: describe(&ending),
                    });
                    return Ok((Some(Route::LegacyRequest), attempts));
                }
                Err(e) => attempts.push(Attempt {
                    route: Route::LegacyRequest,
                    outcome: e.to_string(),
                }),
            }
        }
    }
    if routes.baud {
        if let Some(line) = line {
            let ending = trigger_dfu(line, clock, TRIGGER_WAIT)?;
            attempts.push(Attempt {
                route: Route::BaudRate,
                outcome: match ending {
                    TriggerEnding::PortClosed => "the port closed: the board reset".into(),
                    TriggerEnding::PortStayed => "the port stayed open; 9600 baud set again".into(),
                },
            });
            if ending == TriggerEnding::PortClosed {
                return Ok((Some(Route::BaudRate), attempts));
            }
        }
    }
    Ok((None, attempts))
}

/// Every allowed route in order of preference: the USB requests on the
/// transport `open_usb` gives (opened only if one is allowed, and closed
/// before the serial route: a board's serial server takes the board to
/// reset it), then the baud trigger on the line `open_line` gives (opened
/// only if no USB route worked). The route that worked and every attempt;
/// [`no_route`]'s error if none did.
pub fn request_dfu_by_best_route<U, L>(
    open_usb: impl FnOnce() -> Result<U, NormalError>,
    open_line: impl FnOnce() -> Result<Option<L>, NormalError>,
    clock: &dyn Clock,
    routes: Routes,
) -> Result<(Route, Vec<Attempt>), NormalError>
where
    U: ControlTransport,
    L: SerialLine,
{
    let mut attempts = Vec::new();
    if routes.service || routes.legacy {
        let mut usb = open_usb()?;
        let usb_routes = Routes {
            baud: false,
            ..routes
        };
        let (route, tried) = request_dfu(Some(&mut usb), None, clock, usb_routes)?;
        attempts = tried;
        if let Some(route) = route {
            return Ok((route, attempts));
        }
    }
    if routes.baud {
        let mut line = open_line()?;
        let baud_only = Routes {
            service: false,
            legacy: false,
            baud: true,
        };
        let (route, tried) = request_dfu(
            None,
            line.as_mut().map(|l| l as &mut dyn SerialLine),
            clock,
            baud_only,
        )?;
        attempts.extend(tried);
        if let Some(route) = route {
            return Ok((route, attempts));
        }
    }
    Err(no_route(&attempts))
}

/// The error for a board no route moved.
pub fn no_route(attempts: &[Attempt]) -> NormalError {
    NormalError::NoRouteToDfu {
        tried: if attempts.is_empty() {
            vec!["no route was available (no USB access, no serial port)".into()]
        } else {
            attempts
                .iter()
                .map(|a| format!("{:?}: {}", a.route, a.outcome))
                .collect()
        },
    }
}

fn describe(ending: &ResetEnding) -> String {
    match ending {
        ResetEnding::Completed => "accepted".into(),
        ResetEnding::Interrupted(e) => format!("sent; the board reset inside it ({e})"),
    }
}

/// `mode listen` / `mode normal` on one board.
#[derive(Debug, Clone, Serialize)]
pub struct ListenReport {
    /// The board, as it was named.
    pub board: String,
    /// Listening mode now (true after `mode listen`).
    pub listening: bool,
    /// The route that took.
    pub route: Route,
    pub attempts: Vec<Attempt>,
}

/// Enter (`on`) or leave listening mode (REFERENCE §7): the service request
/// (70 start, 71 stop; firmware 0.3.2+), else the console — 28800 baud to
/// enter, confirmed by the board answering `i` (only listening mode
/// answers), or `x` to leave; the line is set to 9600 again either way.
pub fn set_listening(
    usb: Option<&mut dyn ControlTransport>,
    line: Option<&mut dyn SerialLine>,
    clock: &dyn Clock,
    on: bool,
) -> Result<(Route, Vec<Attempt>), NormalError> {
    let mut attempts = Vec::new();
    if let Some(t) = usb {
        if listen_by_service(t, on, &mut attempts) {
            return Ok((Route::ServiceRequest, attempts));
        }
    }
    listen_by_console(line, clock, on, &mut attempts).map(|()| (Route::Console, attempts))
}

/// The service-request half of [`set_listening`]: whether it took.
pub fn listen_by_service(
    t: &mut dyn ControlTransport,
    on: bool,
    attempts: &mut Vec<Attempt>,
) -> bool {
    let result = if on {
        vendor::service_start_listening(t)
    } else {
        vendor::service_stop_listening(t)
    };
    attempts.push(Attempt {
        route: Route::ServiceRequest,
        outcome: match &result {
            Ok(()) => "accepted".into(),
            Err(e) => e.to_string(),
        },
    });
    result.is_ok()
}

/// The console half of [`set_listening`].
pub fn listen_by_console(
    line: Option<&mut dyn SerialLine>,
    clock: &dyn Clock,
    on: bool,
    attempts: &mut Vec<Attempt>,
) -> Result<(), NormalError> {
    let Some(line) = line else {
        return Err(NormalError::NoRouteToListening {
            tried: attempts
                .iter()
                .map(|a| format!("{:?}: {}", a.route, a.outcome))
                .chain(std::iter::once("no serial port to use".to_string()))
                .collect(),
        });
    };
    let mut console = Console::new(line, clock);
    console.answer_timeout = CONSOLE_TIMEOUT;
    let result = if on {
        console
            .enter_listening()
            .and_then(|()| console.device_id())
            .and_then(|_| console.close())
            .map(|()| "28800 baud set; the console answered `i`; 9600 set again")
    } else {
        console
            .leave_listening()
            .map(|()| "`x` sent; 9600 set again")
    };
    match result {
        Ok(outcome) => {
            attempts.push(Attempt {
                route: Route::Console,
                outcome: outcome.into(),
            });
            Ok(())
        }
        Err(e) => {
            let _ = console.close();
            Err(e)
        }
    }
}

/// Poll `find` (every 50 ms of `clock`) until it sees the board in DFU
/// mode, for at most `timeout`.
pub fn wait_for_dfu<T>(
    clock: &dyn Clock,
    timeout: Duration,
    mut find: impl FnMut() -> Result<Option<T>, NormalError>,
) -> Result<T, NormalError> {
    let start = clock.now();
    loop {
        if let Some(found) = find()? {
            return Ok(found);
        }
        let waited = clock.now().saturating_duration_since(start);
        if waited >= timeout {
            return Err(NormalError::NotBackInDfu {
                waited_ms: waited.as_millis() as u64,
            });
        }
        clock.sleep(Duration::from_millis(50));
    }
}
