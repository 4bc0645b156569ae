//! Links the krl-firmware core into a bare-metal image: a reply, the
//! power-on message, a shadow report and a shadow document, all through
//! the core's traits. See Cargo.toml.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use krl_firmware::device::{Clock, Config, Device, Mqtt, QoS};

/// Counts what would go out; a board would hand it to its MQTT client.
struct CountingMqtt {
    bytes: usize,
}

impl Mqtt for CountingMqtt {
    type Error = ();

    fn publish(&mut self, topic: &str, payload: &[u8], _qos: QoS) -> Result<(), ()> {
        self.bytes += topic.len() + payload.len();
        Ok(())
    }

    fn subscribe(&mut self, filter: &str, _qos: QoS) -> Result<(), ()> {
        self.bytes += filter.len();
        Ok(())
    }
}

struct Ticks;

impl Clock for Ticks {
    fn now_ms(&self) -> u64 {
        black_box(0)
    }
}

fn run() -> Option<usize> {
    let config = Config::new("esp")
        .ok()?
        .with_number("+15550001111")
        .ok()?
        .with_power_on("+15557654321", "on", Some("https://example.com/a.jpg"))
        .ok()?;
    let mut device = Device::new(config, Ticks);
    let mut mqtt = CountingMqtt { bytes: 0 };
    device.start(&mut mqtt).ok()?;
    let sms = black_box(
        br#"{"Type":"Incoming","To":"+15550001111","From":"+15557654321","Body":"h\u00e9llo","MessageSid":"SM1"}"#
            .as_slice(),
    );
    device.on_message(&mut mqtt, "twilio", sms).ok()?;
    let desired = black_box(br#"{"state":{"desired":{"report_interval_ms":5000}}}"#.as_slice());
    device
        .on_message(&mut mqtt, "things/esp/shadow/update", desired)
        .ok()?;
    device.poll(&mut mqtt).ok()?;
    Some(mqtt.bytes)
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    black_box(run());
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
