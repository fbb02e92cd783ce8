//! The local cloud. (Cloud issue.)
