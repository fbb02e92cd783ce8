//! What the local cloud's device endpoint remembers about device
//! connections, for the admin surface (`GET /admin/connections[/{id}]`):
//! per device the key it holds (fingerprint) and where that came from, the
//! last connection's time, result and reason, whether it is connected now,
//! and the key a device sent when the cloud did not trust it. Handshakes the
//! cloud could not even decrypt (no device id) are kept apart.
//!
//! Kept in memory; the held key itself lives in the store (and its state
//! directory).

use std::collections::BTreeMap;

use serde::Serialize;

use super::store::Store;
use crate::cloud::DeviceId;
use crate::keys;

/// The `filename` of the record a key adopted from a handshake is kept as
/// (so the store's replay recovers it); provisioning never sends it.
pub(crate) const ADOPTED_FILENAME: &str = "device-handshake";

/// Where the key the cloud holds for a device came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// `POST /v1/provisioning/{id}`.
    Provisioning,
    /// The device's handshake, after it was provisioned with the generic key.
    FirstConnection,
}

/// How a connection ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionResult {
    /// Handshake and Hello done: the session was (or is) up.
    Accepted,
    /// The cloud refused, or the handshake or session failed.
    Rejected,
}

/// The admin surface's view of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    pub device_id: DeviceId,
    /// Fingerprint ([`keys::fingerprint`]) of the key the cloud holds.
    pub key_fingerprint: Option<String>,
    pub key_source: Option<KeySource>,
    /// Milliseconds since the Unix epoch of the last connection attempt.
    pub last_connection: Option<u64>,
    pub result: Option<ConnectionResult>,
    pub reason: Option<String>,
    pub connected: bool,
    /// Connection attempts that reached the device id.
    pub attempts: u64,
    /// Fingerprint of the key the device sent at its last attempt.
    pub sent_key_fingerprint: Option<String>,
    /// The key (PEM) sent by a device the cloud does not trust: recorded for
    /// an operator, never used by itself.
    pub untrusted_key: Option<String>,
}

/// A handshake the cloud could not attribute to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unidentified {
    pub time: u64,
    pub peer: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone)]
struct Entry {
    last_connection: Option<u64>,
    result: Option<ConnectionResult>,
    reason: Option<String>,
    connected: bool,
    attempts: u64,
    sent_key_fingerprint: Option<String>,
    untrusted_key: Option<String>,
}

/// The log, behind its own mutex in the server.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    devices: BTreeMap<DeviceId, Entry>,
    unidentified: Vec<Unidentified>,
}

impl Connections {
    pub(crate) fn attempt(&mut self, id: &DeviceId, time: u64, sent_fingerprint: String) {
        let e = self.devices.entry(id.clone()).or_default();
        e.last_connection = Some(time);
        e.attempts += 1;
        e.result = None;
        e.reason = Some("handshake in progress".into());
        e.connected = false;
        e.sent_key_fingerprint = Some(sent_fingerprint);
    }

    pub(crate) fn untrusted(&mut self, id: &DeviceId, pem: String) {
        self.devices.entry(id.clone()).or_default().untrusted_key = Some(pem);
    }

    pub(crate) fn accepted(&mut self, id: &DeviceId, reason: String) {
        let e = self.devices.entry(id.clone()).or_default();
        e.result = Some(ConnectionResult::Accepted);
        e.reason = Some(reason);
        e.connected = true;
    }

    pub(crate) fn rejected(&mut self, id: &DeviceId, reason: String) {
        let e = self.devices.entry(id.clone()).or_default();
        e.result = Some(ConnectionResult::Rejected);
        e.reason = Some(reason);
        e.connected = false;
    }

    /// The session ended (the result of the connection stays).
    pub(crate) fn closed(&mut self, id: &DeviceId) {
        if let Some(e) = self.devices.get_mut(id) {
            e.connected = false;
        }
    }

    pub(crate) fn unidentified(&mut self, record: Unidentified) {
        self.unidentified.push(record);
    }

    pub(crate) fn unidentified_list(&self) -> Vec<Unidentified> {
        self.unidentified.clone()
    }

    /// Every device the store knows or that tried to connect.
    pub(crate) fn list(&self, store: &Store) -> Vec<ConnectionInfo> {
        let mut ids: Vec<DeviceId> = store.devices().into_iter().map(|d| d.device_id).collect();
        ids.extend(self.devices.keys().cloned());
        ids.sort();
        ids.dedup();
        ids.iter().filter_map(|id| self.info(store, id)).collect()
    }

    pub(crate) fn info(&self, store: &Store, id: &DeviceId) -> Option<ConnectionInfo> {
        let held = store.device(id);
        let entry = self.devices.get(id);
        if held.is_none() && entry.is_none() {
            return None;
        }
        let held_key = held.as_ref().and_then(|d| d.public_key.clone());
        let key_source = held_key.as_ref().map(|_| {
            let adopted = store
                .records(Some(id))
                .last()
                .is_some_and(|r| r.filename.as_deref() == Some(ADOPTED_FILENAME));
            if adopted {
                KeySource::FirstConnection
            } else {
                KeySource::Provisioning
            }
        });
        let entry = entry.cloned().unwrap_or_default();
        Some(ConnectionInfo {
            device_id: id.clone(),
            key_fingerprint: held_key
                .as_deref()
                .and_then(|pem| keys::parse_public_key(pem.as_bytes()).ok())
                .map(|k| keys::fingerprint(&k)),
            key_source,
            last_connection: entry.last_connection,
            result: entry.result,
            reason: entry.reason,
            connected: entry.connected,
            attempts: entry.attempts,
            sent_key_fingerprint: entry.sent_key_fingerprint,
            untrusted_key: entry.untrusted_key,
        })
    }
}
