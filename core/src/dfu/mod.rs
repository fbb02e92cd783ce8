//! Host side of USB DFU 1.1 with ST's DfuSe extension (REFERENCE §1), written
//! against the [`transport::ControlTransport`] seam so the same code runs over
//! libusb and against the virtual Duo.

pub mod transport;
