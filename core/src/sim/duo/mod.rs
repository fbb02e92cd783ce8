//! The virtual Duo. (DFU issue.)
