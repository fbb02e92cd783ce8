use super::*;

/// Answers vendor requests from a closure, recording what it was asked.
struct Scripted<F: FnMut(&Setup) -> Result<Vec<u8>, TransportError>> {
    answer: F,
    asked: Vec<Setup>,
}

impl<F: FnMut(&Setup) -> Result<Vec<u8>, TransportError>> ControlTransport for Scripted<F> {
    fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError> {
        self.asked.push(setup);
        let reply = (self.answer)(&setup)?;
        let n = reply.len().min(buf.len()).min(usize::from(setup.length));
        buf[..n].copy_from_slice(&reply[..n]);
        Ok(n)
    }
    fn control_out(&mut self, setup: Setup, _data: &[u8]) -> Result<usize, TransportError> {
        self.asked.push(setup);
        (self.answer)(&setup).map(|_| 0)
    }
    fn set_alt_setting(&mut self, _: u8, _: u8) -> Result<(), TransportError> {
        unreachable!("vendor requests never set an alt setting")
    }
    fn reset(&mut self) -> Result<(), TransportError> {
        unreachable!("vendor requests never reset the port")
    }
}

fn scripted<F: FnMut(&Setup) -> Result<Vec<u8>, TransportError>>(answer: F) -> Scripted<F> {
    Scripted {
        answer,
        asked: Vec::new(),
    }
}

const ID: &str = "2a0021000747343232363230";

#[test]
fn legacy_id_reads_lowercase_with_nul_and_uppercase_bytes() {
    let mut t = scripted(|s| {
        assert_eq!((s.request_type, s.request, s.index), (0xC0, 0x50, 20));
        Ok(format!("{ID}\0").into_bytes())
    });
    assert_eq!(legacy_device_id(&mut t).unwrap(), ID);
    let mut t = scripted(|_| Ok(ID.to_uppercase().into_bytes()));
    assert_eq!(legacy_device_id(&mut t).unwrap(), ID);
}

#[test]
fn legacy_requests_on_firmware_without_them_are_named() {
    let mut t = scripted(|_| Err(TransportError::Stall));
    let err = legacy_device_id(&mut t).unwrap_err();
    assert!(matches!(
        err,
        NormalError::VendorRequest {
            source: TransportError::Stall,
            ..
        }
    ));
    assert!(err.to_string().contains("wIndex 20"), "{err}");
}

#[test]
fn a_legacy_id_reply_that_is_not_an_id_is_refused() {
    let mut t = scripted(|_| Ok(b"hello\0".to_vec()));
    assert!(matches!(
        legacy_device_id(&mut t),
        Err(NormalError::BadVendorReply { .. })
    ));
}

#[test]
fn legacy_version_and_enter_dfu() {
    let mut t = scripted(|s| match s.index {
        30 => Ok(b"0.3.1\0".to_vec()),
        50 => Err(TransportError::Timeout),
        _ => Err(TransportError::Stall),
    });
    assert_eq!(legacy_firmware_version(&mut t).unwrap(), "0.3.1");
    assert_eq!(
        legacy_enter_dfu(&mut t).unwrap(),
        ResetEnding::Interrupted("the device did not answer in time".into())
    );
    let last = t.asked.last().unwrap();
    assert_eq!(
        (last.request_type, last.request, last.index, last.length),
        (0x40, 0x50, 50, 0)
    );
}

#[test]
fn service_reply_round_trips() {
    let reply = ServiceReply {
        status: ServiceStatus::Ok,
        id: Some(7),
        size: Some(300),
        result: Some(-3),
    };
    let bytes = reply.encode();
    assert_eq!(&bytes[..4], &15u32.to_le_bytes());
    assert_eq!(ServiceReply::parse(&bytes), Some(reply));
    assert_eq!(ServiceReply::parse(&bytes[..bytes.len() - 1]), None);
    let bare = ServiceReply::status(ServiceStatus::NotFound).encode();
    assert_eq!(bare, [1, 0, 0, 0, 5, 0]);
    assert_eq!(
        ServiceReply::parse(&bare).unwrap().status,
        ServiceStatus::NotFound
    );
    assert_eq!(ServiceStatus::from_code(9), ServiceStatus::Unknown(9));
}

#[test]
fn service_enter_dfu_is_init_then_check() {
    let mut checks = 0;
    let mut t = scripted(|s| match s.request {
        service::INIT => {
            assert_eq!((s.index, s.value, s.length), (50, 0, 64));
            Ok(ServiceReply {
                id: Some(3),
                ..ServiceReply::status(ServiceStatus::Ok)
            }
            .encode())
        }
        service::CHECK => {
            assert_eq!(s.index, 3);
            checks += 1;
            let status = if checks == 1 {
                ServiceStatus::Pending
            } else {
                ServiceStatus::Ok
            };
            Ok(ServiceReply::status(status).encode())
        }
        _ => Err(TransportError::Stall),
    });
    assert_eq!(service_enter_dfu(&mut t).unwrap(), ResetEnding::Completed);
    let asked: Vec<u8> = t.asked.iter().map(|s| s.request).collect();
    assert_eq!(asked, [service::INIT, service::CHECK, service::CHECK]);
}

#[test]
fn a_refused_service_request_names_the_status() {
    let mut t = scripted(|_| Ok(ServiceReply::status(ServiceStatus::NotFound).encode()));
    let err = service_enter_dfu(&mut t).unwrap_err();
    assert_eq!(
        err,
        NormalError::ServiceRefused {
            request: "service request enter DFU (type 50)",
            status: ServiceStatus::NotFound
        }
    );
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn module_info_comes_by_recv() {
    let json = br#"{"p":88,"m":[]}"#;
    let mut t = scripted(|s| match s.request {
        service::INIT => Ok(ServiceReply {
            id: Some(1),
            ..ServiceReply::status(ServiceStatus::Ok)
        }
        .encode()),
        service::CHECK => Ok(ServiceReply {
            size: Some(json.len() as u32),
            ..ServiceReply::status(ServiceStatus::Ok)
        }
        .encode()),
        service::RECV => {
            assert_eq!((s.index, s.length), (1, json.len() as u16));
            Ok(json.to_vec())
        }
        _ => Err(TransportError::Stall),
    });
    assert_eq!(service_module_info(&mut t).unwrap(), r#"{"p":88,"m":[]}"#);
}
