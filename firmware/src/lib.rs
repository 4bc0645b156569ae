//! The device side of the SMS-to-device bridge.
//!
//! An SMS reaches the engine's webhook; a rule checks it (at most 160
//! characters) and publishes it on the MQTT topic `twilio`. The device
//! reads it, reverses the body by characters and publishes the reply as
//! an `Outgoing` message on the same topic, which another rule sends back
//! as an SMS. This crate is the device's decision-making, free of any
//! board or network:
//!
//! - [`message::decide`]: what to do with a payload on `twilio` — reply,
//!   ignore (Outgoing messages above all, so nothing loops), or refuse
//!   with an error value;
//! - [`message`]'s writers: the reply, the power-on message (optionally
//!   with a media URL) and the device-shadow documents;
//! - [`device::Device`]: the state between messages (counters, recent
//!   `MessageSid`s, the report clock), over the [`device::Mqtt`] and
//!   [`device::Clock`] traits that a board (or the host binary
//!   `krl-device`) implements.
//!
//! `#![no_std]` with no allocator: buffers are `heapless` with the bounds
//! in [`message`], and JSON is read and written by [`json`] in place.
//! The MQTT contract and how to wire this to an ESP8266/ESP32 are in
//! docs/firmware.md.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod device;
pub mod json;
pub mod message;
pub mod reverse;

#[cfg(test)]
mod proptests;

pub use device::{Clock, Config, ConfigError, Device, DeviceError, Mqtt, Outcome, QoS, Stats};
pub use message::{decide, Decision, Ignored, MessageError, Reply};
pub use reverse::reversed;
