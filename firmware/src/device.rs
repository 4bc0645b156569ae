//! The device: configuration, the MQTT and clock traits it is wired to,
//! and the state it keeps between messages (counters, recent
//! `MessageSid`s, when it last reported).

use core::fmt;

use heapless::{Deque, String};

use crate::json::Overflow;
use crate::message::{
    check_plain, decide, read_shadow, write_offline, write_outgoing, write_reply,
    write_shadow_report, Body, Decision, DeviceId, Ignored, MediaUrl, MessageError, Number,
    Payload, Reply, Reported, Sid, Topic, MAX_BODY_CHARS, MIN_REPORT_INTERVAL_MS,
};

/// MQTT quality of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

/// The MQTT client the device uses. On the ESP it is the board's client
/// (esp-idf-svc's `EspMqttClient`, minimq, rust-mqtt, …); on a host
/// `krl-device` implements it over rumqttc. Publishes are never retained.
pub trait Mqtt {
    type Error;
    fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS) -> Result<(), Self::Error>;
    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), Self::Error>;
}

/// A monotonic clock: milliseconds since some fixed point (boot).
pub trait Clock {
    fn now_ms(&self) -> u64;
}

/// The QoS of everything the device subscribes to and publishes: an SMS
/// reply must not be lost, and the engine acks only after processing.
pub const QOS: QoS = QoS::AtLeastOnce;
/// The topic of the SMS bridge.
pub const TWILIO_TOPIC: &str = "twilio";
/// How many recent `MessageSid`s the device remembers to drop redeliveries.
pub const RECENT_SIDS: usize = 8;
/// The default shadow report interval.
pub const DEFAULT_REPORT_INTERVAL_MS: u64 = 60_000;

/// A configuration value that does not fit or is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The id: 1 to 32 of `A-Z a-z 0-9 - _ .`
    Id,
    /// The device's number: 1 to 64 bytes, no control characters.
    Number,
    /// A topic: 1 to 128 bytes, no `+`, `#`, NUL or control characters.
    Topic,
    /// The power-on recipient: like a number.
    PowerOnTo,
    /// The power-on body: 1 to 160 characters.
    PowerOnBody,
    /// The media URL: 1 to 512 bytes, no control characters.
    MediaUrl,
    /// A power-on message needs the device's number as its `From`.
    PowerOnWithoutNumber,
    /// The report interval: 0 (off) or at least 1000 ms.
    ReportInterval,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::Id => "the id must be 1 to 32 of A-Z a-z 0-9 - _ .",
            ConfigError::Number => "the number must be 1 to 64 bytes without control characters",
            ConfigError::Topic => {
                "a topic must be 1 to 128 bytes without + # or control characters"
            }
            ConfigError::PowerOnTo => {
                "the power-on recipient must be 1 to 64 bytes without control characters"
            }
            ConfigError::PowerOnBody => "the power-on message must be 1 to 160 characters",
            ConfigError::MediaUrl => {
                "the media URL must be 1 to 512 bytes without control characters"
            }
            ConfigError::PowerOnWithoutNumber => {
                "a power-on message needs the device's own number (its From)"
            }
            ConfigError::ReportInterval => "the report interval must be 0 or at least 1000 ms",
        })
    }
}

/// The Outgoing message the device sends once, when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerOn {
    pub to: Number,
    pub body: Body,
    pub media_url: Option<MediaUrl>,
}

/// How a device is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    id: DeviceId,
    number: Option<Number>,
    topic: Topic,
    shadow_topic: Topic,
    power_on: Option<PowerOn>,
    report_interval_ms: u64,
}

fn fill<const N: usize>(s: &str, err: ConfigError) -> Result<String<N>, ConfigError> {
    let mut out = String::new();
    out.push_str(s).map_err(|_| err)?;
    Ok(out)
}

fn topic(s: &str) -> Result<Topic, ConfigError> {
    if s.is_empty() || s.chars().any(|c| c == '+' || c == '#' || c.is_control()) {
        return Err(ConfigError::Topic);
    }
    fill(s, ConfigError::Topic)
}

impl Config {
    /// A device named `id`, on [`TWILIO_TOPIC`], with its shadow at
    /// `things/{id}/shadow/update`, a shadow report every minute, no
    /// number (it answers messages to any number) and no power-on message.
    pub fn new(id: &str) -> Result<Self, ConfigError> {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ConfigError::Id);
        }
        let id: DeviceId = fill(id, ConfigError::Id)?;
        let mut shadow = Topic::new();
        for part in ["things/", id.as_str(), "/shadow/update"] {
            shadow.push_str(part).map_err(|_| ConfigError::Topic)?;
        }
        Ok(Config {
            id,
            number: None,
            topic: topic(TWILIO_TOPIC)?,
            shadow_topic: shadow,
            power_on: None,
            report_interval_ms: DEFAULT_REPORT_INTERVAL_MS,
        })
    }

    /// The device's own Twilio number: it answers only messages `To` it,
    /// and its power-on message comes `From` it.
    pub fn with_number(mut self, number: &str) -> Result<Self, ConfigError> {
        check_plain(number).map_err(|_| ConfigError::Number)?;
        self.number = Some(fill(number, ConfigError::Number)?);
        Ok(self)
    }

    /// The topic of the SMS bridge (default [`TWILIO_TOPIC`]).
    pub fn with_topic(mut self, t: &str) -> Result<Self, ConfigError> {
        self.topic = topic(t)?;
        Ok(self)
    }

    /// The shadow topic (AWS IoT: `$aws/things/{id}/shadow/update`).
    pub fn with_shadow_topic(mut self, t: &str) -> Result<Self, ConfigError> {
        self.shadow_topic = topic(t)?;
        Ok(self)
    }

    /// Report the shadow every `ms` (0: only at start and when asked).
    pub fn with_report_interval_ms(mut self, ms: u64) -> Result<Self, ConfigError> {
        if ms != 0 && ms < MIN_REPORT_INTERVAL_MS {
            return Err(ConfigError::ReportInterval);
        }
        self.report_interval_ms = ms;
        Ok(self)
    }

    /// Send `body` to `to` when the device starts, with an image if
    /// `media_url` is given (an MMS). Needs [`Config::with_number`] first.
    pub fn with_power_on(
        mut self,
        to: &str,
        body: &str,
        media_url: Option<&str>,
    ) -> Result<Self, ConfigError> {
        if self.number.is_none() {
            return Err(ConfigError::PowerOnWithoutNumber);
        }
        check_plain(to).map_err(|_| ConfigError::PowerOnTo)?;
        let chars = body.chars().count();
        if chars == 0 || chars > MAX_BODY_CHARS {
            return Err(ConfigError::PowerOnBody);
        }
        let media_url = match media_url {
            None => None,
            Some(u) => {
                check_plain(u).map_err(|_| ConfigError::MediaUrl)?;
                Some(fill(u, ConfigError::MediaUrl)?)
            }
        };
        self.power_on = Some(PowerOn {
            to: fill(to, ConfigError::PowerOnTo)?,
            body: fill(body, ConfigError::PowerOnBody)?,
            media_url,
        });
        Ok(self)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn number(&self) -> Option<&str> {
        self.number.as_deref()
    }
    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn shadow_topic(&self) -> &str {
        &self.shadow_topic
    }
    pub fn power_on(&self) -> Option<&PowerOn> {
        self.power_on.as_ref()
    }
    pub fn report_interval_ms(&self) -> u64 {
        self.report_interval_ms
    }
}

/// Counters, as reported in the shadow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Messages read on the `twilio` topic.
    pub received: u32,
    /// Replies published.
    pub replied: u32,
    /// Messages left unanswered on purpose ([`Ignored`]).
    pub ignored: u32,
    /// Messages refused ([`MessageError`]), on either topic.
    pub rejected: u32,
}

/// What the device did with one message.
// No heap to box a reply into: it is returned by value, once per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It published this reply on the `twilio` topic.
    Replied(Reply),
    /// It published nothing, on purpose.
    Ignored(Ignored),
    /// It published nothing: the message is invalid.
    Rejected(MessageError),
    /// A shadow document changed the report interval to this; the device
    /// published its new reported state.
    ShadowApplied { report_interval_ms: u64 },
    /// A shadow document asked nothing new of the device (its own reports
    /// coming back, for one); nothing published.
    ShadowUnchanged,
}

/// Why a step failed: the MQTT client refused a publish or subscribe, or
/// (cannot happen with the sizes in [`crate::message`], but is an error
/// all the same) a payload did not fit its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError<E> {
    Mqtt(E),
    Overflow,
}

impl<E> From<Overflow> for DeviceError<E> {
    fn from(_: Overflow) -> Self {
        DeviceError::Overflow
    }
}

impl<E: fmt::Display> fmt::Display for DeviceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::Mqtt(e) => write!(f, "mqtt: {e}"),
            DeviceError::Overflow => f.write_str("a payload did not fit its buffer"),
        }
    }
}

/// The device. It owns its configuration, clock, counters and one output
/// buffer; the MQTT client is passed to each call, so the caller keeps it
/// (and its event loop).
pub struct Device<C> {
    config: Config,
    clock: C,
    boot_ms: u64,
    last_report_ms: Option<u64>,
    stats: Stats,
    recent: Deque<Sid, RECENT_SIDS>,
    out: Payload,
}

impl<C: Clock> Device<C> {
    pub fn new(config: Config, clock: C) -> Self {
        let boot_ms = clock.now_ms();
        Device {
            config,
            clock,
            boot_ms,
            last_report_ms: None,
            stats: Stats::default(),
            recent: Deque::new(),
            out: Payload::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The topics to subscribe to, each at [`QOS`]: the `twilio` topic and
    /// the shadow topic.
    pub fn subscriptions(&self) -> [&str; 2] {
        [self.config.topic(), self.config.shadow_topic()]
    }

    /// Subscribe to [`Device::subscriptions`] (again after a reconnect
    /// without a persistent session).
    pub fn subscribe<M: Mqtt>(&mut self, mqtt: &mut M) -> Result<(), DeviceError<M::Error>> {
        for t in self.subscriptions() {
            mqtt.subscribe(t, QOS).map_err(DeviceError::Mqtt)?;
        }
        Ok(())
    }

    /// Power on: subscribe, report the shadow, then send the power-on
    /// message if there is one. The device receives its own power-on
    /// message back on the `twilio` topic and ignores it (Outgoing).
    pub fn start<M: Mqtt>(&mut self, mqtt: &mut M) -> Result<(), DeviceError<M::Error>> {
        self.subscribe(mqtt)?;
        self.report(mqtt)?;
        if let Some(p) = &self.config.power_on {
            // `with_power_on` checked the number is set.
            let from = self.config.number.as_deref().unwrap_or_default();
            write_outgoing(&mut self.out, &p.to, from, &p.body, p.media_url.as_deref())?;
            mqtt.publish(&self.config.topic, self.out.as_bytes(), QOS)
                .map_err(DeviceError::Mqtt)?;
        }
        Ok(())
    }

    /// Handle one message. Only MQTT failures are errors; a message the
    /// device will not answer is an [`Outcome`].
    pub fn on_message<M: Mqtt>(
        &mut self,
        mqtt: &mut M,
        topic: &str,
        payload: &[u8],
    ) -> Result<Outcome, DeviceError<M::Error>> {
        if topic == self.config.topic.as_str() {
            self.on_twilio(mqtt, payload)
        } else if topic == self.config.shadow_topic.as_str() {
            self.on_shadow(mqtt, payload)
        } else {
            Ok(Outcome::Ignored(Ignored::OtherTopic))
        }
    }

    fn on_twilio<M: Mqtt>(
        &mut self,
        mqtt: &mut M,
        payload: &[u8],
    ) -> Result<Outcome, DeviceError<M::Error>> {
        self.stats.received = self.stats.received.saturating_add(1);
        let reply = match decide(payload, self.config.number()) {
            Ok(Decision::Reply(r)) => r,
            Ok(Decision::Ignore(why)) => return Ok(self.ignore(why)),
            Err(e) => {
                self.stats.rejected = self.stats.rejected.saturating_add(1);
                return Ok(Outcome::Rejected(e));
            }
        };
        if let Some(sid) = &reply.in_reply_to {
            if self.recent.iter().any(|s| s == sid) {
                return Ok(self.ignore(Ignored::Duplicate));
            }
        }
        write_reply(&mut self.out, &reply)?;
        mqtt.publish(&self.config.topic, self.out.as_bytes(), QOS)
            .map_err(DeviceError::Mqtt)?;
        self.stats.replied = self.stats.replied.saturating_add(1);
        if let Some(sid) = &reply.in_reply_to {
            if self.recent.is_full() {
                self.recent.pop_front();
            }
            // Room was just made.
            let _ = self.recent.push_back(sid.clone());
        }
        Ok(Outcome::Replied(reply))
    }

    fn ignore(&mut self, why: Ignored) -> Outcome {
        self.stats.ignored = self.stats.ignored.saturating_add(1);
        Outcome::Ignored(why)
    }

    fn on_shadow<M: Mqtt>(
        &mut self,
        mqtt: &mut M,
        payload: &[u8],
    ) -> Result<Outcome, DeviceError<M::Error>> {
        let desired = match read_shadow(payload) {
            Ok(d) => d,
            Err(e) => {
                self.stats.rejected = self.stats.rejected.saturating_add(1);
                return Ok(Outcome::Rejected(e));
            }
        };
        // Publish only when something changed: the device's own reports
        // come back on this topic, and must not start a loop.
        match desired.report_interval_ms {
            Some(ms) if ms != self.config.report_interval_ms => {
                self.config.report_interval_ms = ms;
                self.report(mqtt)?;
                Ok(Outcome::ShadowApplied {
                    report_interval_ms: ms,
                })
            }
            _ => Ok(Outcome::ShadowUnchanged),
        }
    }

    /// Publish the shadow report if the report interval has passed since
    /// the last one. Returns whether it did. Call it from the main loop.
    pub fn poll<M: Mqtt>(&mut self, mqtt: &mut M) -> Result<bool, DeviceError<M::Error>> {
        let every = self.config.report_interval_ms;
        if every == 0 {
            return Ok(false);
        }
        let now = self.clock.now_ms();
        let due = match self.last_report_ms {
            None => true,
            Some(last) => now.saturating_sub(last) >= every,
        };
        if due {
            self.report(mqtt)?;
        }
        Ok(due)
    }

    /// Milliseconds until [`Device::poll`] next reports, if it will.
    pub fn next_report_in_ms(&self) -> Option<u64> {
        let every = self.config.report_interval_ms;
        if every == 0 {
            return None;
        }
        let Some(last) = self.last_report_ms else {
            return Some(0);
        };
        Some(every.saturating_sub(self.clock.now_ms().saturating_sub(last)))
    }

    /// Publish the shadow report now.
    pub fn report<M: Mqtt>(&mut self, mqtt: &mut M) -> Result<(), DeviceError<M::Error>> {
        let now = self.clock.now_ms();
        let s = self.stats;
        write_shadow_report(
            &mut self.out,
            &Reported {
                id: &self.config.id,
                number: self.config.number.as_deref(),
                online: true,
                uptime_ms: now.saturating_sub(self.boot_ms),
                report_interval_ms: self.config.report_interval_ms,
                received: s.received,
                replied: s.replied,
                ignored: s.ignored,
                rejected: s.rejected,
            },
        )?;
        mqtt.publish(&self.config.shadow_topic, self.out.as_bytes(), QOS)
            .map_err(DeviceError::Mqtt)?;
        self.last_report_ms = Some(now);
        Ok(())
    }

    /// The offline document for the shadow topic: register it as the MQTT
    /// last will when connecting, and publish it before a clean shutdown.
    pub fn offline_document(&self) -> Payload {
        let mut out = Payload::new();
        // Fits: an id is at most 32 bytes.
        let _ = write_offline(&mut out, &self.config.id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use std::string::String as StdString;
    use std::vec::Vec;

    /// Records what the device asks of MQTT.
    #[derive(Default)]
    struct Recorder {
        published: Vec<(StdString, StdString, QoS)>,
        subscribed: Vec<(StdString, QoS)>,
        fail: bool,
    }

    impl Mqtt for Recorder {
        type Error = &'static str;
        fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS) -> Result<(), &'static str> {
            if self.fail {
                return Err("broker gone");
            }
            let text = core::str::from_utf8(payload).unwrap();
            self.published.push((topic.into(), text.into(), qos));
            Ok(())
        }
        fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), &'static str> {
            if self.fail {
                return Err("broker gone");
            }
            self.subscribed.push((filter.into(), qos));
            Ok(())
        }
    }

    struct FakeClock<'a>(&'a Cell<u64>);
    impl Clock for FakeClock<'_> {
        fn now_ms(&self) -> u64 {
            self.0.get()
        }
    }

    fn config() -> Config {
        Config::new("device-1")
            .unwrap()
            .with_number("+15550001111")
            .unwrap()
    }

    const HELLO: &str = r#"{"Type":"Incoming","To":"+15550001111","From":"+15557654321","Body":"héllo 👋 世界","MessageSid":"SM1"}"#;

    #[test]
    fn start_subscribes_reports_and_sends_the_power_on_message() {
        let t = Cell::new(5_000);
        let cfg = config()
            .with_power_on(
                "+15557654321",
                "'RacecaR is a palindrome!",
                Some("https://example.com/a.jpg"),
            )
            .unwrap();
        let mut d = Device::new(cfg, FakeClock(&t));
        let mut m = Recorder::default();
        t.set(5_250);
        d.start(&mut m).unwrap();
        assert_eq!(
            m.subscribed,
            [
                ("twilio".into(), QoS::AtLeastOnce),
                ("things/device-1/shadow/update".into(), QoS::AtLeastOnce)
            ]
        );
        assert_eq!(m.published.len(), 2);
        assert_eq!(m.published[0].0, "things/device-1/shadow/update");
        assert_eq!(
            m.published[0].1,
            r#"{"state":{"reported":{"id":"device-1","number":"+15550001111","online":true,"uptime_ms":250,"report_interval_ms":60000,"received":0,"replied":0,"ignored":0,"rejected":0}}}"#
        );
        assert_eq!(m.published[1].0, "twilio");
        assert_eq!(
            m.published[1].1,
            r#"{"Type":"Outgoing","To":"+15557654321","From":"+15550001111","Body":"'RacecaR is a palindrome!","MediaUrl":"https://example.com/a.jpg"}"#
        );
        // The power-on message comes back on the topic: ignored.
        let echo = m.published[1].1.clone();
        let out = d.on_message(&mut m, "twilio", echo.as_bytes()).unwrap();
        assert_eq!(out, Outcome::Ignored(Ignored::OwnOutgoing));
        assert_eq!(m.published.len(), 2);
    }

    #[test]
    fn power_on_without_media_and_without_power_on() {
        let t = Cell::new(0);
        let cfg = config().with_power_on("+1555", "on", None).unwrap();
        let mut d = Device::new(cfg, FakeClock(&t));
        let mut m = Recorder::default();
        d.start(&mut m).unwrap();
        assert_eq!(
            m.published[1].1,
            r#"{"Type":"Outgoing","To":"+1555","From":"+15550001111","Body":"on"}"#
        );
        let mut d = Device::new(config(), FakeClock(&t));
        let mut m = Recorder::default();
        d.start(&mut m).unwrap();
        assert_eq!(m.published.len(), 1, "only the shadow report");
    }

    #[test]
    fn replies_once_per_message_sid_and_never_to_its_own_reply() {
        let t = Cell::new(0);
        let mut d = Device::new(config(), FakeClock(&t));
        let mut m = Recorder::default();
        let out = d.on_message(&mut m, "twilio", HELLO.as_bytes()).unwrap();
        let Outcome::Replied(r) = out else {
            panic!("{out:?}")
        };
        assert_eq!(r.body.as_str(), "界世 👋 olléh");
        assert_eq!(m.published.len(), 1);
        let (topic, reply, qos) = m.published[0].clone();
        assert_eq!(topic, "twilio");
        assert_eq!(qos, QoS::AtLeastOnce);
        assert_eq!(
            reply,
            r#"{"Type":"Outgoing","To":"+15557654321","From":"+15550001111","Body":"界世 👋 olléh"}"#
        );
        // The reply comes back: ignored.
        assert_eq!(
            d.on_message(&mut m, "twilio", reply.as_bytes()).unwrap(),
            Outcome::Ignored(Ignored::OwnOutgoing)
        );
        // A QoS 1 redelivery of the same message: ignored.
        assert_eq!(
            d.on_message(&mut m, "twilio", HELLO.as_bytes()).unwrap(),
            Outcome::Ignored(Ignored::Duplicate)
        );
        assert_eq!(m.published.len(), 1);
        assert_eq!(
            d.stats(),
            Stats {
                received: 3,
                replied: 1,
                ignored: 2,
                rejected: 0
            }
        );
    }

    #[test]
    fn remembers_the_last_eight_sids() {
        let t = Cell::new(0);
        let mut d = Device::new(config(), FakeClock(&t));
        let mut m = Recorder::default();
        let msg = |i: usize| {
            std::format!(
                r#"{{"To":"+15550001111","From":"+1","Body":"m{i}","MessageSid":"SM{i}"}}"#
            )
        };
        for i in 0..=RECENT_SIDS {
            let out = d.on_message(&mut m, "twilio", msg(i).as_bytes()).unwrap();
            assert!(matches!(out, Outcome::Replied(_)), "{out:?}");
        }
        // SM0 was pushed out by SM8; SM1 is still remembered.
        assert!(matches!(
            d.on_message(&mut m, "twilio", msg(1).as_bytes()).unwrap(),
            Outcome::Ignored(Ignored::Duplicate)
        ));
        assert!(matches!(
            d.on_message(&mut m, "twilio", msg(0).as_bytes()).unwrap(),
            Outcome::Replied(_)
        ));
        // Without a MessageSid every message is answered.
        let plain = br#"{"To":"+15550001111","From":"+1","Body":"x"}"#;
        for _ in 0..2 {
            assert!(matches!(
                d.on_message(&mut m, "twilio", plain).unwrap(),
                Outcome::Replied(_)
            ));
        }
    }

    #[test]
    fn rejected_and_ignored_messages_publish_nothing() {
        let t = Cell::new(0);
        let mut d = Device::new(config(), FakeClock(&t));
        let mut m = Recorder::default();
        let long = "x".repeat(161);
        let too_long = std::format!(r#"{{"To":"+15550001111","From":"+1","Body":"{long}"}}"#);
        assert_eq!(
            d.on_message(&mut m, "twilio", too_long.as_bytes()).unwrap(),
            Outcome::Rejected(MessageError::BodyTooLong { chars: 161 })
        );
        assert_eq!(
            d.on_message(&mut m, "twilio", b"{").unwrap(),
            Outcome::Rejected(MessageError::Json(crate::json::JsonError::UnexpectedEnd))
        );
        assert_eq!(
            d.on_message(
                &mut m,
                "twilio",
                br#"{"To":"+15559999999","From":"+1","Body":"x"}"#
            )
            .unwrap(),
            Outcome::Ignored(Ignored::NotForMe)
        );
        assert_eq!(
            d.on_message(&mut m, "elsewhere", HELLO.as_bytes()).unwrap(),
            Outcome::Ignored(Ignored::OtherTopic)
        );
        assert!(m.published.is_empty());
        assert_eq!(d.stats().rejected, 2);
        assert_eq!(d.stats().ignored, 1);
        assert_eq!(d.stats().received, 3);
    }

    #[test]
    fn mqtt_failures_are_errors() {
        let t = Cell::new(0);
        let mut d = Device::new(config(), FakeClock(&t));
        let mut m = Recorder {
            fail: true,
            ..Recorder::default()
        };
        assert_eq!(d.start(&mut m), Err(DeviceError::Mqtt("broker gone")));
        assert_eq!(
            d.on_message(&mut m, "twilio", HELLO.as_bytes()),
            Err(DeviceError::Mqtt("broker gone"))
        );
        // Not counted as replied, and not remembered: a redelivery is
        // answered once the broker is back.
        m.fail = false;
        assert!(matches!(
            d.on_message(&mut m, "twilio", HELLO.as_bytes()).unwrap(),
            Outcome::Replied(_)
        ));
        assert_eq!(d.stats().replied, 1);
    }

    #[test]
    fn periodic_reports_follow_the_clock() {
        let t = Cell::new(1_000);
        let mut d = Device::new(
            config().with_report_interval_ms(10_000).unwrap(),
            FakeClock(&t),
        );
        let mut m = Recorder::default();
        assert_eq!(d.next_report_in_ms(), Some(0));
        assert!(d.poll(&mut m).unwrap());
        assert!(!d.poll(&mut m).unwrap());
        t.set(10_999);
        assert_eq!(d.next_report_in_ms(), Some(1));
        assert!(!d.poll(&mut m).unwrap());
        t.set(11_000);
        assert!(d.poll(&mut m).unwrap());
        assert_eq!(m.published.len(), 2);
        assert!(m.published[1].1.contains(r#""uptime_ms":10000"#));
        let mut off = Device::new(config().with_report_interval_ms(0).unwrap(), FakeClock(&t));
        assert!(!off.poll(&mut m).unwrap());
        assert_eq!(off.next_report_in_ms(), None);
    }

    #[test]
    fn shadow_desired_state_is_applied_and_reported_once() {
        let t = Cell::new(0);
        let mut d = Device::new(config(), FakeClock(&t));
        let mut m = Recorder::default();
        let shadow = "things/device-1/shadow/update";
        let want = br#"{"state":{"desired":{"report_interval_ms":5000}}}"#;
        assert_eq!(
            d.on_message(&mut m, shadow, want).unwrap(),
            Outcome::ShadowApplied {
                report_interval_ms: 5000
            }
        );
        assert_eq!(m.published.len(), 1);
        let report = m.published[0].1.clone();
        assert!(report.contains(r#""report_interval_ms":5000"#), "{report}");
        // Its own report comes back; the same desired state again: nothing.
        assert_eq!(
            d.on_message(&mut m, shadow, report.as_bytes()).unwrap(),
            Outcome::ShadowUnchanged
        );
        assert_eq!(
            d.on_message(&mut m, shadow, want).unwrap(),
            Outcome::ShadowUnchanged
        );
        assert_eq!(
            d.on_message(
                &mut m,
                shadow,
                br#"{"state":{"desired":{"report_interval_ms":1}}}"#
            )
            .unwrap(),
            Outcome::Rejected(MessageError::Invalid(
                crate::message::Field::ReportIntervalMs
            ))
        );
        assert_eq!(m.published.len(), 1);
        assert_eq!(
            d.offline_document().as_str(),
            r#"{"state":{"reported":{"id":"device-1","online":false}}}"#
        );
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(Config::new(""), Err(ConfigError::Id));
        assert_eq!(Config::new("a b"), Err(ConfigError::Id));
        assert_eq!(Config::new(&"a".repeat(33)), Err(ConfigError::Id));
        assert!(Config::new(&"a".repeat(32)).is_ok());
        let c = Config::new("d").unwrap();
        assert_eq!(c.topic(), "twilio");
        assert_eq!(c.shadow_topic(), "things/d/shadow/update");
        assert_eq!(c.clone().with_topic("a/+"), Err(ConfigError::Topic));
        assert_eq!(c.clone().with_topic("#"), Err(ConfigError::Topic));
        assert_eq!(c.clone().with_topic(""), Err(ConfigError::Topic));
        assert_eq!(
            c.clone()
                .with_shadow_topic("$aws/things/d/shadow/update")
                .unwrap()
                .shadow_topic(),
            "$aws/things/d/shadow/update"
        );
        assert_eq!(
            c.clone().with_power_on("+1", "hi", None),
            Err(ConfigError::PowerOnWithoutNumber)
        );
        let n = c.clone().with_number("+1").unwrap();
        assert_eq!(
            n.clone().with_power_on("", "hi", None),
            Err(ConfigError::PowerOnTo)
        );
        assert_eq!(
            n.clone().with_power_on("+2", "", None),
            Err(ConfigError::PowerOnBody)
        );
        assert_eq!(
            n.clone().with_power_on("+2", &"é".repeat(161), None),
            Err(ConfigError::PowerOnBody)
        );
        assert!(n
            .clone()
            .with_power_on("+2", &"é".repeat(160), None)
            .is_ok());
        assert_eq!(
            n.clone().with_power_on("+2", "hi", Some(&"u".repeat(513))),
            Err(ConfigError::MediaUrl)
        );
        assert_eq!(c.clone().with_number("+1\n"), Err(ConfigError::Number));
        assert_eq!(
            c.clone().with_report_interval_ms(999),
            Err(ConfigError::ReportInterval)
        );
    }

    #[test]
    fn memory_footprint() {
        // Documented in docs/firmware.md; keep them in step.
        let size = core::mem::size_of::<Device<FakeClock<'_>>>();
        std::println!(
            "Device: {size} bytes, Outcome: {} bytes",
            core::mem::size_of::<Outcome>()
        );
        assert!(size < 5 * 1024, "Device is {size} bytes");
        assert_eq!(crate::message::OUT_CAP, 2301);
    }
}
