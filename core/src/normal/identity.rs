//! Device ids in USB serial-number strings (REFERENCE §7).

/// Hex digits in a device id.
pub const DEVICE_ID_DIGITS: usize = 24;

/// The device id in a USB serial-number string, as particle-cli reads it:
/// the first run of 24 hex digits, lower-cased. Firmware 0.3.0/0.3.1 report
/// the id in upper case, 0.3.2+ in lower case; firmware 0.2.x
/// (`00000000050C`) and bootloaders r3/r4 (`00000000010C`) report a
/// constant with no id in it, so `None`.
pub fn device_id_from_usb_serial(serial: &str) -> Option<String> {
    let bytes = serial.as_bytes();
    let mut run = 0;
    for (i, b) in bytes.iter().enumerate() {
        if b.is_ascii_hexdigit() {
            run += 1;
            if run == DEVICE_ID_DIGITS {
                let start = i + 1 - DEVICE_ID_DIGITS;
                return Some(serial[start..=i].to_ascii_lowercase());
            }
        } else {
            run = 0;
        }
    }
    None
}

/// Whether `text` is exactly a device id (24 hex digits, either case).
pub fn is_device_id(text: &str) -> bool {
    text.len() == DEVICE_ID_DIGITS && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_0_3_3_serial_is_the_lowercase_id() {
        assert_eq!(
            device_id_from_usb_serial("2a0021000747343232363230").as_deref(),
            Some("2a0021000747343232363230")
        );
    }

    #[test]
    fn firmware_0_3_1_uppercase_serial_is_lowercased() {
        assert_eq!(
            device_id_from_usb_serial("2A0021000747343232363230").as_deref(),
            Some("2a0021000747343232363230")
        );
    }

    #[test]
    fn constant_serials_hold_no_id() {
        assert_eq!(device_id_from_usb_serial("00000000050C"), None);
        assert_eq!(device_id_from_usb_serial("00000000010C"), None);
        assert_eq!(device_id_from_usb_serial(""), None);
    }

    #[test]
    fn the_first_run_of_24_digits_wins() {
        // A prefix and separators around the id, and a 23-digit run before it.
        let serial = "x0123456789abcdef0123456-2A0021000747343232363230ff";
        assert_eq!(
            device_id_from_usb_serial(serial).as_deref(),
            Some("2a0021000747343232363230")
        );
        // A longer run: its first 24 digits (as the regex /[0-9a-f]{24}/i).
        assert_eq!(
            device_id_from_usb_serial("0123456789abcdef0123456789").as_deref(),
            Some("0123456789abcdef01234567")
        );
    }

    #[test]
    fn is_device_id_wants_exactly_24_hex_digits() {
        assert!(is_device_id("2A0021000747343232363230"));
        assert!(!is_device_id("2a002100074734323236323"));
        assert!(!is_device_id("2a00210007473432323623zz"));
    }
}
