//! Internal flash (alt 0) and serial flash (alt 2) as NOR flash.

use super::*;

const APP: u32 = 0x080C_0000;

#[test]
fn programming_only_clears_bits_until_the_sector_is_erased() {
    let mut b = bench(0.01);
    let off = (APP - 0x0800_0000) as usize;
    assert_eq!(b.write(APP, &[0x0F; 8]).status, DfuStatus::Ok);
    assert_eq!(b.t.internal_flash()[off..off + 8], [0x0F; 8]);
    // Writing 1s over 0s is not reported (the STM32F2 has no flag for it);
    // the bits stay 0: new = old & data.
    assert_eq!(b.write(APP, &[0xF3; 8]).status, DfuStatus::Ok);
    assert_eq!(b.read(APP, 8), [0x03; 8]);
    assert_eq!(b.erase(APP).status, DfuStatus::Ok);
    assert_eq!(b.read(APP, 8), [0xFF; 8]);
    assert_eq!(b.write(APP, &[0xF3; 8]).status, DfuStatus::Ok);
    assert_eq!(b.read(APP, 8), [0xF3; 8]);
}

#[test]
fn erase_clears_exactly_one_sector() {
    let mut b = bench(0.01);
    // Sector 0x08010000 is 64 KiB; program its first and last byte and the
    // byte after it.
    assert_eq!(b.write(0x0801_0000, &[0; 4]).status, DfuStatus::Ok);
    b.abort().unwrap();
    assert_eq!(b.write(0x0801_FFFC, &[0; 8]).status, DfuStatus::Ok);
    b.abort().unwrap();
    // Any address in the sector erases the whole sector.
    assert_eq!(b.erase(0x0801_8000).status, DfuStatus::Ok);
    let flash = b.t.internal_flash();
    assert!(flash[0x10000..0x20000].iter().all(|&x| x == 0xFF));
    assert_eq!(flash[0x20000..0x20004], [0; 4], "next sector untouched");
}

/// REFERENCE §1: writing or erasing the read-only bootloader fails as any
/// failed operation does (a stall of the GETSTATUS that runs it).
#[test]
fn the_bootloader_sector_is_refused_and_unchanged() {
    let mut b = bench(0.01);
    let before = b.t.internal_flash()[..0x4000].to_vec();
    assert_ne!(before, vec![0xFF; 0x4000], "a bootloader is there");
    assert_eq!(
        b.try_write(0x0800_0000, &[0; 16]),
        Err(TransportError::Stall)
    );
    b.abort().unwrap();
    assert_eq!(b.try_erase(0x0800_1000), Err(TransportError::Stall));
    b.abort().unwrap();
    // A write that starts in a writable sector but would spill into nothing.
    assert_eq!(
        b.try_write(0x080F_FFF8, &[0; 16]),
        Err(TransportError::Stall)
    );
    b.abort().unwrap();
    assert_eq!(b.t.internal_flash()[..0x4000], before[..]);
    // The bootloader sector still reads (it is `a`: readable).
    assert_eq!(b.read(0x0800_0000, 16), before[..16]);
}

/// On r6 the bootloader is 32 KiB: 0x08004000 belongs to it.
#[test]
fn on_r6_0x08004000_is_bootloader_and_refused() {
    let mut b = bench_board("r6", "0.3.3", 0.01);
    assert_eq!(b.try_erase(0x0800_4000), Err(TransportError::Stall));
    b.abort().unwrap();
    assert_eq!(b.erase(0x0800_8000).status, DfuStatus::Ok, "the DCT sector");
}

/// REFERENCE §1: serial-flash writes never erase first and always report
/// success; an erase clears the 4 KiB sector holding the address.
#[test]
fn serial_flash_is_two_mib_of_4k_nor_sectors_whose_writes_always_succeed() {
    let mut b = bench(0.01);
    b.alt(2);
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(b.erase(0x14_0000).status, DfuStatus::Ok);
    assert_eq!(b.erase(0x14_1000).status, DfuStatus::Ok);
    assert_eq!(b.write(0x14_0000, &data).status, DfuStatus::Ok);
    assert_eq!(b.read(0x14_0000, data.len()), data);
    // Over unerased bytes: "success", and the bits only clear.
    b.abort().unwrap();
    assert_eq!(b.write(0x14_0000, &[0xF0; 4]).status, DfuStatus::Ok);
    let want: Vec<u8> = data[..4].iter().map(|d| d & 0xF0).collect();
    assert_eq!(b.read(0x14_0000, 4), want);
    assert_eq!(
        b.erase(0x14_0800).status,
        DfuStatus::Ok,
        "erase by any address in the sector"
    );
    let serial = b.t.device().serial_flash().unwrap();
    assert_eq!(serial.len(), 2 * 1024 * 1024);
    assert!(serial[0x14_0000..0x14_1000].iter().all(|&x| x == 0xFF));
    assert_eq!(serial[0x14_1000..0x14_1000 + 904], data[4096..]);
    // Past the end: reported as a success, nothing stored.
    b.abort().unwrap();
    assert_eq!(b.write(0x20_0000, &[0; 16]).status, DfuStatus::Ok);
}

#[test]
fn a_full_megabyte_round_trips_on_alt_0_outside_the_bootloader() {
    let mut b = bench(0.0);
    let data: Vec<u8> = (0..0x10_0000 - 0x4000)
        .map(|i: u32| (i ^ (i >> 9)) as u8)
        .collect();
    let mut addr = 0x0800_4000u32;
    while addr < 0x0810_0000 {
        assert_eq!(b.erase(addr).status, DfuStatus::Ok);
        addr += match addr {
            0x0800_4000..=0x0800_FFFF => 0x4000,
            0x0801_0000 => 0x1_0000,
            _ => 0x2_0000,
        };
    }
    b.abort().unwrap();
    assert_eq!(b.write(0x0800_4000, &data).status, DfuStatus::Ok);
    assert_eq!(b.read(0x0800_4000, data.len()), data);
}
