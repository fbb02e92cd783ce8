//! Particle Cloud provisioning client (REFERENCE §4). (Filled in by the cloud issue.)
