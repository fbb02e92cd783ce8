//! Simulators: the virtual Duo (DFU bootloader + firmware boot rule) and the
//! local cloud. (Filled in by the DFU and cloud issues.)
