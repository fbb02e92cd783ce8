//! How long the Duo's memories take for each operation, from the parts'
//! datasheets, in microseconds. The bootloader spends this time inside the
//! GETSTATUS that runs the operation (REFERENCE §1, "How the bootloader's DFU
//! class handles the address pointer and timing"); the virtual Duo holds that
//! transfer for the scaled time, and the host sizes its control-transfer
//! timeout from the longest one.
//!
//! - STM32F205 internal flash (datasheet DS6329, "Flash memory
//!   characteristics", x32 parallelism at 2.7–3.6 V): sector erase 16 KiB
//!   250 ms typical / 500 ms max, 64 KiB 550 / 1100 ms, 128 KiB 1 / 2 s;
//!   word programming 16 µs typical / 100 µs max.
//! - Serial flash (a 2 MiB SPI NOR of the MX25L16 class; the exact part is
//!   not verified): 4 KiB sector erase 40 ms typical / 200 ms max, page
//!   program (256 bytes) 0.7 ms typical / 3 ms max.
//! - The DCT (REFERENCE §2): a write programs in place (only 1→0 bit
//!   changes), or copies the whole 16 KiB partition into the other one
//!   (erase 16 KiB + program 16 KiB) and, up to firmware 0.3.1, then erases
//!   the old partition (another 16 KiB erase).

use std::time::Duration;

/// Typical or worst-case figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Typical,
    Max,
}

/// Erase of one internal-flash sector of `size` bytes, µs.
pub const fn internal_erase_us(size: u32, figure: Figure) -> u64 {
    let typ = match size {
        0..=16384 => 250_000,
        16385..=65536 => 550_000,
        _ => 1_000_000,
    };
    match figure {
        Figure::Typical => typ,
        Figure::Max => 2 * typ,
    }
}

/// Programming `len` bytes of internal flash (32-bit words), µs.
pub const fn internal_program_us(len: usize, figure: Figure) -> u64 {
    let words = len.div_ceil(4) as u64;
    match figure {
        Figure::Typical => words * 16,
        Figure::Max => words * 100,
    }
}

/// Erase of one 4 KiB serial-flash sector, µs.
pub const fn serial_erase_us(figure: Figure) -> u64 {
    match figure {
        Figure::Typical => 40_000,
        Figure::Max => 200_000,
    }
}

/// Programming `len` bytes of serial flash (256-byte pages), µs.
pub const fn serial_program_us(len: usize, figure: Figure) -> u64 {
    let pages = len.div_ceil(256) as u64;
    match figure {
        Figure::Typical => pages * 700,
        Figure::Max => pages * 3000,
    }
}

/// How a DCT write was carried out (REFERENCE §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DctWrite {
    /// The data was already there: nothing written.
    Identical,
    /// Only 1→0 changes: `len` bytes programmed in the current partition.
    InPlace { len: usize },
    /// Copied to the other partition; `erase_old` on firmware ≤ 0.3.1.
    Copy { partition: usize, erase_old: bool },
}

/// A DCT write, µs.
pub const fn dct_write_us(write: DctWrite, figure: Figure) -> u64 {
    match write {
        DctWrite::Identical => 0,
        DctWrite::InPlace { len } => internal_program_us(len, figure),
        DctWrite::Copy {
            partition,
            erase_old,
        } => {
            let erase = internal_erase_us(partition as u32, figure);
            let copy = erase + internal_program_us(partition, figure);
            if erase_old {
                copy + erase
            } else {
                copy
            }
        }
    }
}

/// The longest single operation a Duo-class bootloader runs inside one
/// GETSTATUS: a 128 KiB sector erase at its datasheet maximum (2 s; a DCT
/// copy with the old partition erased is 1.41 s at worst).
pub const LONGEST_OPERATION: Duration =
    Duration::from_micros(internal_erase_us(128 * 1024, Figure::Max));

/// The host's control-transfer timeout: the longest operation plus one
/// second of margin for the USB stack.
pub const CONTROL_TIMEOUT: Duration =
    Duration::from_micros(internal_erase_us(128 * 1024, Figure::Max) + 1_000_000);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_operation_is_a_128k_erase_and_outlasts_a_dct_copy() {
        assert_eq!(LONGEST_OPERATION, Duration::from_secs(2));
        let copy = DctWrite::Copy {
            partition: 16384,
            erase_old: true,
        };
        assert_eq!(
            dct_write_us(copy, Figure::Typical),
            250_000 + 65_536 + 250_000
        );
        assert!(Duration::from_micros(dct_write_us(copy, Figure::Max)) < LONGEST_OPERATION);
        assert_eq!(internal_program_us(4096, Figure::Typical), 16_384);
        assert!(CONTROL_TIMEOUT > LONGEST_OPERATION);
    }
}
