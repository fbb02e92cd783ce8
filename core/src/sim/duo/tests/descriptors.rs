//! What `dfu-util -l` reads: descriptors and strings over GET_DESCRIPTOR.

use super::*;
use crate::platform::{DUO, DUO_ALT_SETTINGS};

fn get_descriptor(
    b: &mut Bench,
    kind: u8,
    index: u8,
    length: u16,
) -> Result<Vec<u8>, TransportError> {
    let mut buf = vec![0u8; usize::from(length)];
    let s = Setup {
        request_type: 0x80,
        request: 6,
        value: u16::from_le_bytes([index, kind]),
        index: if kind == 3 && index != 0 { 0x0409 } else { 0 },
        length,
    };
    let n = b.t.control_in(s, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn string(b: &mut Bench, index: u8) -> String {
    let d = get_descriptor(b, 3, index, 255).unwrap();
    assert_eq!(usize::from(d[0]), d.len());
    assert_eq!(d[1], 3);
    let units: Vec<u16> = d[2..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).unwrap()
}

#[test]
fn device_descriptor_is_the_duo_bootloaders() {
    let mut b = bench(0.01);
    let d = get_descriptor(&mut b, 1, 0, 18).unwrap();
    assert_eq!(
        d,
        [18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x04, 0x2b, 0x58, 0xd0, 0x00, 0x02, 1, 2, 3, 1]
    );
    assert_eq!(d, b.t.device().device_descriptor());
}

#[test]
fn configuration_has_three_dfuse_alt_settings_and_one_functional_descriptor() {
    let mut b = bench(0.01);
    let d = get_descriptor(&mut b, 2, 0, 255).unwrap();
    assert_eq!(d.len(), 9 + 3 * 9 + 9);
    assert_eq!(d[..9], [9, 2, 45, 0, 1, 1, 2, 0xC0, 0x32]);
    for alt in 0..3u8 {
        let i = 9 + 9 * usize::from(alt);
        assert_eq!(d[i..i + 9], [9, 4, 0, alt, 0, 0xFE, 0x01, 0x02, 6 + alt]);
    }
    // bmAttributes 0x0B, wDetachTimeOut 255, wTransferSize 4096, bcdDFUVersion 0x011A.
    assert_eq!(d[36..], [9, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x10, 0x1A, 0x01]);
    assert_eq!(d, b.t.device().config_descriptor());
}

#[test]
fn alt_setting_names_and_serial_read_exactly_as_dfu_util_prints_them() {
    let mut b = bench(0.01);
    assert_eq!(
        get_descriptor(&mut b, 3, 0, 255).unwrap(),
        [4, 3, 0x09, 0x04]
    );
    for alt in DUO_ALT_SETTINGS {
        assert_eq!(string(&mut b, 6 + alt.alt), alt.name);
    }
    assert_eq!(
        string(&mut b, 8),
        "@Serial Flash   /0x00000000/192*004Kg,128*004Kg,64*004Kg,128*004Kg"
    );
    assert_eq!(string(&mut b, 3), "00000000010C");
    assert_eq!(string(&mut b, 1), "RedBear");
    assert_eq!(string(&mut b, 2), "RedBear Duo DFU Mode");
    assert!(get_descriptor(&mut b, 3, 9, 255).is_err(), "no string 9");
}

#[test]
fn get_descriptor_honours_wlength() {
    let mut b = bench(0.01);
    // What libusb does first: the 9-byte header, to learn wTotalLength.
    assert_eq!(
        get_descriptor(&mut b, 2, 0, 9).unwrap(),
        [9, 2, 45, 0, 1, 1, 2, 0xC0, 0x32]
    );
    assert_eq!(get_descriptor(&mut b, 1, 0, 8).unwrap().len(), 8);
    // A string's length byte first, then the rest.
    let head = get_descriptor(&mut b, 3, 6, 2).unwrap();
    assert_eq!(head, [2 + 2 * DUO_ALT_SETTINGS[0].name.len() as u8, 3]);
    assert_eq!(get_descriptor(&mut b, 3, 3, 255).unwrap().len(), 2 + 2 * 12);
}

#[test]
fn standard_requests_select_alt_settings_and_report_configuration() {
    let mut b = bench(0.01);
    let mut one = [0u8; 1];
    let get_config = Setup {
        request_type: 0x80,
        request: 8,
        value: 0,
        index: 0,
        length: 1,
    };
    assert_eq!(b.t.control_in(get_config, &mut one).unwrap(), 1);
    assert_eq!(one, [1]);
    b.alt(2);
    let get_interface = Setup {
        request_type: 0x81,
        request: 10,
        value: 0,
        index: 0,
        length: 1,
    };
    b.t.control_in(get_interface, &mut one).unwrap();
    assert_eq!(one, [2]);
    assert_eq!(b.t.set_alt_setting(0, 3), Err(TransportError::Stall));
    b.t.control_in(get_interface, &mut one).unwrap();
    assert_eq!(one, [2], "a refused SET_INTERFACE changes nothing");
    let mut two = [0u8; 2];
    let get_status = Setup {
        request_type: 0x80,
        request: 0,
        value: 0,
        index: 0,
        length: 2,
    };
    assert_eq!(b.t.control_in(get_status, &mut two).unwrap(), 2);
    // The DFU functional descriptor is also served to the interface (ST).
    let mut f = [0u8; 9];
    let get_functional = Setup {
        request_type: 0x81,
        request: 6,
        value: 0x2100,
        index: 0,
        length: 9,
    };
    b.t.control_in(get_functional, &mut f).unwrap();
    assert_eq!(f, crate::sim::duo::usb::functional_descriptor(&DUO));
}
