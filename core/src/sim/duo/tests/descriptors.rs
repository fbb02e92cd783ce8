//! What `dfu-util -l` reads: descriptors and strings over GET_DESCRIPTOR.

use super::*;
use crate::platform::{Board, DUO};

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
    for alt in DUO.factory_alt_settings() {
        assert_eq!(string(&mut b, 6 + alt.alt), alt.name);
    }
    assert_eq!(
        string(&mut b, 8),
        "@Serial Flash   /0x00000000/192*004Kg,128*004Kg,64*004Kg,128*004Kg"
    );
    assert_eq!(string(&mut b, 3), "00000000010C");
    assert_eq!(string(&mut b, 1), "RedBear");
    assert_eq!(string(&mut b, 2), "Duo DFU Mode");
    assert!(get_descriptor(&mut b, 3, 9, 255).is_err(), "no string 9");
    assert!(
        get_descriptor(&mut b, 3, 0xEE, 255).is_err(),
        "r4 has no Microsoft OS string"
    );
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
    assert_eq!(
        head,
        [2 + 2 * DUO.factory_alt_settings()[0].name.len() as u8, 3]
    );
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
    assert_eq!(
        f,
        crate::sim::duo::usb::functional_descriptor(&Board::factory(&DUO))
    );
}

fn bench_board(bootloader: &str, firmware: &str) -> Bench {
    bench_with(CreateOptions {
        board: Some(Board::by_names(&DUO, bootloader, firmware).unwrap()),
        time_factor: 0.01,
        device_id: Some(*b"\x2f\xff\x27\xff\xfc\x47\x35\x30\xff\xf2\x36\x37"),
        ..CreateOptions::default()
    })
}

/// REFERENCE §1: bcdDevice 0x0250 on r5/r6, the 32 KiB bootloader's alt-0
/// string, the device id as serial (r5 upper case, r6 lower case).
#[test]
fn r5_and_r6_report_bcd_0250_their_alt0_map_and_the_device_id_as_serial() {
    for (bl, fw, serial) in [
        ("r5", "0.3.1", "2FFF27FFFC473530FFF23637"),
        ("r6", "0.3.3", "2fff27fffc473530fff23637"),
    ] {
        let mut b = bench_board(bl, fw);
        let d = get_descriptor(&mut b, 1, 0, 18).unwrap();
        assert_eq!(d[12..14], [0x50, 0x02], "{bl} bcdDevice");
        assert_eq!(string(&mut b, 3), serial, "{bl} serial");
        assert_eq!(
            string(&mut b, 6),
            "@Internal Flash   /0x08000000/02*016Ka,02*016Kg,01*064Kg,07*128Kg"
        );
        assert_eq!(string(&mut b, 1), "RedBear");
        assert_eq!(string(&mut b, 2), "Duo DFU Mode");
    }
    for bl in ["r3", "r4"] {
        let mut b = bench_board(bl, "0.2.4");
        let d = get_descriptor(&mut b, 1, 0, 18).unwrap();
        assert_eq!(d[12..14], [0x00, 0x02], "{bl} bcdDevice");
        assert_eq!(string(&mut b, 3), "00000000010C");
    }
}

/// REFERENCE §1: r5/r6 answer Microsoft OS descriptors (string 0xEE
/// `MSFT100`, vendor code 0xEE, compatible id `WINUSB`).
#[test]
fn r5_and_r6_answer_microsoft_os_descriptors_for_winusb() {
    let mut b = bench_board("r6", "0.3.3");
    let d = get_descriptor(&mut b, 3, 0xEE, 255).unwrap();
    assert_eq!(d.len(), 18);
    let text: Vec<u16> = d[2..16]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(String::from_utf16(&text).unwrap(), "MSFT100");
    assert_eq!(d[16], 0xEE, "bMS_VendorCode");
    let mut buf = [0u8; 40];
    let compat = Setup {
        request_type: 0xC0,
        request: 0xEE,
        value: 0,
        index: 4,
        length: 40,
    };
    assert_eq!(b.t.control_in(compat, &mut buf).unwrap(), 40);
    assert_eq!(&buf[18..24], b"WINUSB");
    let mut r4 = bench(0.01);
    assert_eq!(
        r4.t.control_in(compat, &mut buf),
        Err(TransportError::Stall)
    );
}

/// REFERENCE §1 "Photon and P1": Particle's bootloaders present their own
/// alt settings — two on a Photon (no serial flash), with the bootloader
/// and both DCT partitions (0x08000000–0x0800BFFF) read-only through alt 0;
/// a third on a P1, a 1 MiB serial flash — not the Duo's three.
#[test]
fn a_virtual_photon_and_p1_present_their_own_bootloaders_alt_settings() {
    use crate::platform::{P1, PHOTON};
    const ALT0: &str = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg";
    for (platform, alts) in [
        (&PHOTON, vec![ALT0, "@DCT Flash   /0x00000000/01*016Kg"]),
        (
            &P1,
            vec![
                ALT0,
                "@DCT Flash   /0x00000000/01*016Kg",
                "@Serial Flash   /0x00000000/256*004Kg",
            ],
        ),
    ] {
        let mut b = bench_with(CreateOptions {
            platform,
            time_factor: 0.0,
            ..CreateOptions::default()
        });
        let config = get_descriptor(&mut b, 2, 0, 255).unwrap();
        assert_eq!(config.len(), 9 + alts.len() * 9 + 9, "{}", platform.name);
        for (alt, name) in alts.iter().enumerate() {
            let index = config[9 + 9 * alt + 8];
            assert_eq!(string(&mut b, index), *name, "{} alt {alt}", platform.name);
        }
        assert!(b.t.set_alt_setting(0, alts.len() as u8).is_err());
        b.alt(0);
        for addr in [0x0800_0000u32, 0x0800_4000, 0x0800_8000] {
            let before = b.read(addr, 16);
            assert_eq!(
                b.try_write(addr, &[0u8; 16]),
                Err(TransportError::Stall),
                "{} {addr:#x} is read-only",
                platform.name
            );
            b.abort().unwrap();
            assert_eq!(b.read(addr, 16), before);
        }
        if alts.len() == 3 {
            b.alt(2);
            b.write(0x000F_F000, b"last sector");
            assert_eq!(b.read(0x000F_F000, 11), b"last sector");
        }
    }
}
