//! Host side of USB DFU 1.1 with ST's DfuSe extension (REFERENCE §1), written
//! against the [`transport::ControlTransport`] seam. (Filled in by the DFU issue.)
