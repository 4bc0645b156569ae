//! `time:` (krl-stdlib.md 8.3): dates as ISO-8601 strings in UTC with
//! milliseconds (`"2024-05-17T12:00:00.000Z"`).
//!
//! Dates are read like the reference (moment's ISO-8601 parser in strict
//! mode): calendar dates `2010-08-08` / `20100808` (also `2010-08`,
//! `201008`, `2010`, and six-digit signed years `+002010-08-08`), ordinal
//! dates `2010-220` / `2010220`, week dates `2011-W20-6` / `2011W206` (and
//! `2011-W20`, Monday), each optionally followed by `T` or a space and a
//! time `13:45`, `13:45:30`, `13:45:30.123` (or `,123`) — basic `1345`,
//! `134530.123` after a basic date — and an offset `Z`, `+01`, `+0100` or
//! `+01:00`. Without an offset a date is UTC. A string that is not a date
//! is retried as a time of *today* (UTC, from [`Env::now_ms`]): `"083023Z"`,
//! `"08:30"`. Hour 24 is accepted for the end of a day (`T24:00`).
//!
//! Engine extensions (not in the reference):
//!
//! * `time:strftime(date, fmt, opts)` — `opts` may be `{"tz": zone}` (or
//!   the zone name itself), an IANA time-zone name such as
//!   `"Europe/Paris"`: the date is formatted as wall-clock time in that
//!   zone, daylight saving included (`%Z` is the zone's abbreviation, `%z`
//!   its offset then). Without a zone, formatting is in UTC (the reference
//!   used the server's local zone).
//! * `time:local(date, tz)` — the wall-clock fields of `date` in zone `tz`
//!   (default UTC) as a map `{"year", "month" (1–12), "day", "hour",
//!   "minute", "second", "weekday" (0 = Sunday … 6 = Saturday), "offset"
//!   (minutes east of UTC in effect then: 120 for CEST, -360 for MDT)}`,
//!   for business hours and the like.
//!
//! * `time:zone(name)` — the IANA name if the time-zone database knows it
//!   (`"UTC"` for `UTC`, `Z` or `""`), else null: lets a ruleset check a
//!   configured zone without an error.
//!
//! `time:now(opts)` accepts `{"tz": zone}` like the reference but still
//! returns UTC (an ISO string with `Z` is the same instant in any zone).

use super::{arg, s, Env, Kind, Member};
use crate::runtime::error::RuntimeError;
use crate::runtime::value::{number_to_string, parse_js_number, Map, Value};
use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Timelike, Weekday};
use chrono_tz::{OffsetName, Tz};
use std::sync::Arc;

/// The members of `time:`.
pub(super) static MEMBERS: &[Member] = &[
    Member {
        name: "add",
        params: &["date", "spec"],
        kind: Kind::Function(add),
    },
    Member {
        name: "local",
        params: &["date", "tz"],
        kind: Kind::Function(local),
    },
    Member {
        name: "new",
        params: &["date"],
        kind: Kind::Function(new),
    },
    Member {
        name: "now",
        params: &["opts"],
        kind: Kind::Function(now),
    },
    Member {
        name: "strftime",
        params: &["date", "fmt", "opts"],
        kind: Kind::Function(strftime),
    },
    Member {
        name: "zone",
        params: &["name"],
        kind: Kind::Function(zone),
    },
];

/// The largest distance from the epoch a JavaScript date may have (ms).
const MAX_MS: i64 = 8_640_000_000_000_000;

const MS_PER_DAY: i64 = 86_400_000;

// ---------------------------------------------------------------------------
// Instants: ms since the epoch, as JavaScript's time value

/// The ISO-8601 text of `ms` like JavaScript's `toISOString`
/// (`+012345-...` / `-000001-...` outside years 0–9999); None when out of
/// range.
pub fn iso(ms: i64) -> Option<String> {
    if ms.abs() > MAX_MS {
        return None;
    }
    let dt = DateTime::from_timestamp_millis(ms)?;
    let y = dt.year();
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y < 0 {
        format!("-{:06}", -(y as i64))
    } else {
        format!("+{y:06}")
    };
    Some(format!(
        "{year}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.timestamp_subsec_millis()
    ))
}

/// Midnight UTC of `date`, in ms.
fn date_ms(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

// ---------------------------------------------------------------------------
// Parsing

/// The date part of an ISO string.
#[derive(Clone, Copy, Debug)]
enum DatePart {
    /// `2010-08-08`
    Ymd(i32, u32, u32),
    /// `2010-08` (no time may follow)
    Ym(i32, u32),
    /// `2010` (no time may follow)
    Y(i32),
    /// `2011-W20-6`
    Week(i32, u32, u32),
    /// `2011-W20` (no time may follow)
    WeekOnly(i32, u32),
    /// `2010-220`
    Ordinal(i32, u32),
}

/// A time of day: hour, minute, second, millisecond.
type Clock = (u32, u32, u32, u32);

/// A cursor over the ASCII bytes of a date string.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i == self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Takes `c` if it is next.
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Takes exactly `n` digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let run = self.b.get(self.i..self.i + n)?;
        if !run.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(run.iter().fold(0, |a, d| a * 10 + (d - b'0') as u32))
    }

    /// Takes one or more digits (a fraction of a second), as milliseconds
    /// (truncated).
    fn fraction(&mut self) -> Option<u32> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        let mut ms = 0;
        for k in 0..3 {
            let d = self.b.get(start + k).filter(|_| start + k < self.i);
            ms = ms * 10 + d.map_or(0, |d| (d - b'0') as u32);
        }
        Some(ms)
    }
}

/// The time (after `T` or a space), the offset and the end of the string.
/// `extended` chooses `13:45:30` over `134530`.
fn time_and_offset(mut c: Cursor, extended: bool) -> Option<(Option<Clock>, Option<i32>)> {
    if c.done() {
        return Some((None, None));
    }
    if !(c.eat(b'T') || c.eat(b' ')) {
        return None;
    }
    let hour = c.digits(2)?;
    let (mut minute, mut second, mut ms) = (0, 0, 0);
    let sep = |c: &mut Cursor| !extended || c.eat(b':');
    let mut probe = c;
    if sep(&mut probe) {
        if let Some(m) = probe.digits(2) {
            c = probe;
            minute = m;
            if sep(&mut probe) {
                if let Some(sec) = probe.digits(2) {
                    c = probe;
                    second = sec;
                    if probe.eat(b'.') || probe.eat(b',') {
                        if let Some(f) = probe.fraction() {
                            c = probe;
                            ms = f;
                        }
                    }
                }
            }
        }
    }
    let offset = offset(&mut c)?;
    c.done()
        .then_some((Some((hour, minute, second, ms)), offset))
}

/// An optional offset: `Z` (after optional spaces), `+hh`, `+hhmm`,
/// `+hh:mm`; Some(None) when there is none; None when malformed.
fn offset(c: &mut Cursor) -> Option<Option<i32>> {
    let sign = match c.peek() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => {
            let mut z = *c;
            while z.peek().is_some_and(|b| b.is_ascii_whitespace()) {
                z.i += 1;
            }
            if z.eat(b'Z') {
                *c = z;
                return Some(Some(0));
            }
            return Some(None);
        }
    };
    c.i += 1;
    let hours = c.digits(2)? as i32;
    let mut probe = *c;
    probe.eat(b':');
    let minutes = match probe.digits(2) {
        Some(m) => {
            *c = probe;
            m as i32
        }
        None => 0,
    };
    Some(Some(sign * (hours * 60 + minutes)))
}

/// The alternatives for what follows the year, in the order the reference
/// tries them; each gives the date part and the cursor after it.
fn date_forms(mut c: Cursor, year: i32, extended: bool) -> Vec<(DatePart, Cursor)> {
    let mut out = Vec::new();
    if extended && !c.eat(b'-') {
        return out;
    }
    // \d\d-\d\d (extended) or \d\d\d\d (basic)
    let mut k = c;
    if let Some(m) = k.digits(2) {
        if !extended || k.eat(b'-') {
            if let Some(d) = k.digits(2) {
                out.push((DatePart::Ymd(year, m, d), k));
            }
        }
    }
    // W\d\d-\d or W\d\d\d, then W\d\d
    k = c;
    if k.eat(b'W') {
        if let Some(w) = k.digits(2) {
            let mut k3 = k;
            if !extended || k3.eat(b'-') {
                if let Some(e) = k3.digits(1) {
                    out.push((DatePart::Week(year, w, e), k3));
                }
            }
            out.push((DatePart::WeekOnly(year, w), k));
        }
    }
    // \d\d\d, \d\d, and (basic) nothing
    k = c;
    if let Some(d) = k.digits(3) {
        out.push((DatePart::Ordinal(year, d), k));
    }
    k = c;
    if let Some(m) = k.digits(2) {
        out.push((DatePart::Ym(year, m), k));
    }
    if !extended {
        out.push((DatePart::Y(year), c));
    }
    out
}

/// Parses a complete ISO-8601 date string; ms since the epoch, or None.
pub fn parse_iso(text: &str) -> Option<i64> {
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let mut c = Cursor {
        b: text.as_bytes(),
        i: 0,
    };
    let signed = match c.peek() {
        Some(b'+') => Some(1),
        Some(b'-') => Some(-1),
        _ => None,
    };
    let year = match signed {
        Some(sign) => {
            c.i += 1;
            sign * c.digits(6)? as i32
        }
        None => c.digits(4)? as i32,
    };
    // The extended form (with '-') or else the basic one; the first way of
    // reading the date that leaves a valid time/offset/end wins.
    let (part, clock, off) = [true, false].into_iter().find_map(|extended| {
        date_forms(c, year, extended)
            .into_iter()
            .find_map(|(part, rest)| {
                time_and_offset(rest, extended).map(|(clock, off)| (part, clock, off))
            })
    })?;
    // Six-digit years only take calendar dates.
    if signed.is_some() && !matches!(part, DatePart::Ymd(..)) {
        return None;
    }
    let date = match part {
        DatePart::Ymd(y, m, d) => NaiveDate::from_ymd_opt(y, m, d)?,
        DatePart::Ym(y, m) => NaiveDate::from_ymd_opt(y, m, 1)?,
        DatePart::Y(y) => NaiveDate::from_ymd_opt(y, 1, 1)?,
        DatePart::Week(y, w, e) => {
            let day = Weekday::try_from(u8::try_from(e).ok()?.checked_sub(1)?).ok()?;
            NaiveDate::from_isoywd_opt(y, w, day)?
        }
        DatePart::WeekOnly(y, w) => NaiveDate::from_isoywd_opt(y, w, Weekday::Mon)?,
        DatePart::Ordinal(y, d) => NaiveDate::from_yo_opt(y, d)?,
    };
    let time_ms = match clock {
        None => 0,
        Some((h, m, sec, ms)) => {
            if !matches!(
                part,
                DatePart::Ymd(..) | DatePart::Week(..) | DatePart::Ordinal(..)
            ) {
                return None;
            }
            let end_of_day = h == 24 && m == 0 && sec == 0 && ms == 0;
            if (h > 23 && !end_of_day) || m > 59 || sec > 59 {
                return None;
            }
            ((h as i64 * 60 + m as i64) * 60 + sec as i64) * 1000 + ms as i64
        }
    };
    let ms = date_ms(date) + time_ms - off.unwrap_or(0) as i64 * 60_000;
    iso(ms).map(|_| ms)
}

/// Reads a date string like the reference: as ISO 8601, else as a time of
/// today (UTC, `now_ms`), in extended then basic form.
pub fn parse_date(text: &str, now_ms: f64) -> Option<i64> {
    if let Some(ms) = parse_iso(text) {
        return Some(ms);
    }
    let today = iso(clock_ms(now_ms))?;
    let today = &today[..today.find('T')?];
    parse_iso(&format!("{today}T{text}"))
        .or_else(|| parse_iso(&format!("{}T{text}", today.replace('-', ""))))
}

/// The clock as a whole number of ms (the epoch if it is unusable).
fn clock_ms(now_ms: f64) -> i64 {
    if now_ms.is_finite() && now_ms.abs() <= MAX_MS as f64 {
        now_ms.trunc() as i64
    } else {
        0
    }
}

/// The `date` argument of `who`, read as `S(date)`: "needs a date string"
/// when falsy, "invalid date string" when a string that is no date, a
/// TypeError for other values.
fn date_arg(v: &Value, who: &str, now_ms: f64) -> Result<i64, RuntimeError> {
    if !v.truthy() {
        return Err(RuntimeError::new(format!("{who} needs a date string")));
    }
    let text = s(v);
    parse_date(&text, now_ms).ok_or_else(|| invalid_date(v, &text, who))
}

fn invalid_date(v: &Value, text: &str, who: &str) -> RuntimeError {
    if matches!(v, Value::Str(_)) {
        RuntimeError::new(format!("{who} was given an invalid date string ({text})"))
    } else {
        RuntimeError::type_error(format!("{who} was given {text} instead of a date string"))
    }
}

fn iso_value(ms: i64) -> Value {
    iso(ms).map_or(Value::Null, Value::from)
}

// ---------------------------------------------------------------------------
// now, new, add

/// `time:now(opts)`: the current time. `opts`, if truthy, must be a map
/// (`{"tz": zone}` is accepted and ignored: the result is UTC).
fn now(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    let opts = arg(args, 0);
    if opts.truthy() && !matches!(opts, Value::Map(_)) {
        return Err(RuntimeError::type_error(format!(
            "time:now was given {} instead of an opts map",
            s(opts)
        )));
    }
    Ok(iso_value(clock_ms(env.now_ms)))
}

/// `time:new(date)`: a number is ms since the epoch (truncated), anything
/// else is read as a date string. Like the reference, a falsy date
/// (including `0`) "needs a date string".
fn new(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    let date = arg(args, 0);
    if !date.truthy() {
        return Err(RuntimeError::new("time:new needs a date string"));
    }
    if let Value::Number(n) = date {
        let ms = n.trunc();
        return match (ms.abs() <= MAX_MS as f64)
            .then(|| iso(ms as i64))
            .flatten()
        {
            Some(text) => Ok(Value::from(text)),
            None => Err(RuntimeError::new(format!(
                "time:new was given an out-of-range date ({})",
                number_to_string(*n)
            ))),
        };
    }
    Ok(iso_value(date_arg(date, "time:new", env.now_ms)?))
}

/// A number in a spec map: numbers, and strings holding one.
fn spec_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Str(t) => parse_js_number(t),
        _ => None,
    }
}

/// The unit a spec key names: plural or singular (any case) or moment's
/// one-letter aliases. 0 years, 1 quarters, 2 months, 3 weeks, 4 days,
/// 5 hours, 6 minutes, 7 seconds, 8 milliseconds.
fn spec_unit(key: &str) -> Option<usize> {
    let short = match key {
        "y" => Some(0),
        "Q" => Some(1),
        "M" => Some(2),
        "w" => Some(3),
        "d" => Some(4),
        "h" => Some(5),
        "m" => Some(6),
        "s" => Some(7),
        "ms" => Some(8),
        _ => None,
    };
    short.or_else(|| {
        let lower = key.to_ascii_lowercase();
        let name = lower.strip_suffix('s').unwrap_or(&lower);
        [
            "year",
            "quarter",
            "month",
            "week",
            "day",
            "hour",
            "minute",
            "second",
            "millisecond",
        ]
        .iter()
        .position(|u| *u == name)
    })
}

/// Adds a spec to `ms` like moment (UTC): whole months first (the day
/// clamped to the new month's length), then whole days, then the rest in
/// milliseconds. Months and days are rounded half away from zero.
fn add_spec(ms: i64, spec: &Map) -> Option<i64> {
    let mut units = [0.0f64; 9];
    for (k, v) in spec {
        if let (Some(u), Some(x)) = (spec_unit(k), spec_number(v)) {
            units[u] += x;
        }
    }
    let months = (units[0] * 12.0 + units[1] * 3.0 + units[2]).round();
    let days = (units[3] * 7.0 + units[4]).round();
    let rest = units[5] * 3_600_000.0 + units[6] * 60_000.0 + units[7] * 1000.0 + units[8];
    if !(months.abs() < 1e7 && days.abs() < 1e9 && rest.abs() < 1e17) {
        return None;
    }
    let mut ms = ms;
    if months != 0.0 {
        let dt = DateTime::from_timestamp_millis(ms)?;
        let total = dt.year() as i64 * 12 + dt.month0() as i64 + months as i64;
        let year = i32::try_from(total.div_euclid(12)).ok()?;
        let month = total.rem_euclid(12) as u32 + 1;
        let day = dt.day().min(days_in_month(year, month)?);
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        ms = date_ms(date) + ms.rem_euclid(MS_PER_DAY);
    }
    ms += days as i64 * MS_PER_DAY;
    let ms = (ms as f64 + rest).trunc();
    (ms.abs() <= MAX_MS as f64).then_some(ms as i64)
}

fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((next - first).num_days() as u32)
}

/// `time:add(date, spec)`: `date` (a number is read as a date *string*)
/// plus `spec` (`years`, `quarters`, `months`, `weeks`, `days`, `hours`,
/// `minutes`, `seconds`, `milliseconds`, singular names and moment's short
/// aliases too; unknown keys and values with no number are ignored, each
/// on its own). Null if the result is out of range, like the reference.
fn add(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    const WHO: &str = "time:add";
    let date = arg(args, 0);
    let spec = arg(args, 1);
    if !date.truthy() {
        return Err(RuntimeError::new("time:add needs a date string"));
    }
    if !spec.truthy() {
        return Err(RuntimeError::new("time:add needs a spec map"));
    }
    let ms = date_arg(date, WHO, env.now_ms)?;
    let Value::Map(spec) = spec else {
        return Err(RuntimeError::type_error(format!(
            "time:add was given {} instead of a spec map",
            s(spec)
        )));
    };
    Ok(add_spec(ms, spec).map_or(Value::Null, iso_value))
}

// ---------------------------------------------------------------------------
// Time zones and wall-clock fields

/// A zone to show dates in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Zone {
    Utc,
    Named(Tz),
}

/// The zone in `v` for `who`: null (or a map without `tz`) is UTC; a
/// string is an IANA name; a map's `"tz"` entry likewise. `what` names the
/// expected value in the TypeError for anything else.
fn zone_arg(v: &Value, who: &str, what: &str) -> Result<Zone, RuntimeError> {
    let name = match v {
        Value::Null => return Ok(Zone::Utc),
        Value::Str(name) => name,
        Value::Map(m) => match m.get("tz") {
            None | Some(Value::Null) => return Ok(Zone::Utc),
            Some(Value::Str(name)) => name,
            Some(other) => {
                return Err(RuntimeError::type_error(format!(
                    "{who} was given {} instead of a time zone string",
                    s(other)
                )))
            }
        },
        other => {
            return Err(RuntimeError::type_error(format!(
                "{who} was given {} instead of {what}",
                s(other)
            )))
        }
    };
    if matches!(&**name, "UTC" | "Z" | "") {
        return Ok(Zone::Utc);
    }
    name.parse::<Tz>()
        .map(Zone::Named)
        .map_err(|_| RuntimeError::new(format!("{who} doesn't recognize the time zone {name}")))
}

/// `time:zone(name)` (engine extension): `name` when it is a time zone
/// the database knows (`"UTC"` for UTC), else null — never an error.
fn zone(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    Ok(match arg(args, 0) {
        Value::Str(_) => match zone_arg(arg(args, 0), "time:zone", "") {
            Ok(Zone::Utc) => Value::from("UTC"),
            Ok(Zone::Named(tz)) => Value::from(tz.name()),
            Err(_) => Value::Null,
        },
        _ => Value::Null,
    })
}

/// A date as seen on a wall clock somewhere.
#[derive(Clone, Debug, PartialEq)]
struct Wall {
    /// The instant, ms since the epoch.
    epoch_ms: i64,
    year: i32,
    /// 1–12
    month: u32,
    /// 1–31
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millisecond: u32,
    /// 0 = Sunday
    weekday: u32,
    /// 1–366
    ordinal: u32,
    /// ISO week-numbering year and week
    iso_year: i32,
    iso_week: u32,
    /// seconds east of UTC
    offset: i32,
    /// `UTC`, `CEST`, `MDT`...
    abbreviation: String,
}

/// The tz database's name for a zone without a letter abbreviation:
/// `+13`, `-03`, `+0545`.
fn numeric_abbreviation(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    match minutes % 60 {
        0 => format!("{sign}{:02}", minutes / 60),
        m => format!("{sign}{:02}{m:02}", minutes / 60),
    }
}

fn wall(ms: i64, zone: Zone) -> Option<Wall> {
    let utc = DateTime::from_timestamp_millis(ms)?;
    let (local, offset, abbreviation) = match zone {
        Zone::Utc => (utc.naive_utc(), 0, "UTC".to_string()),
        Zone::Named(tz) => {
            let there = tz.from_utc_datetime(&utc.naive_utc());
            let off = there.offset();
            (
                there.naive_local(),
                off.fix().local_minus_utc(),
                off.abbreviation().map_or_else(
                    || numeric_abbreviation(off.fix().local_minus_utc()),
                    str::to_string,
                ),
            )
        }
    };
    let week = local.iso_week();
    Some(Wall {
        epoch_ms: ms,
        year: local.year(),
        month: local.month(),
        day: local.day(),
        hour: local.hour(),
        minute: local.minute(),
        second: local.second(),
        millisecond: local.and_utc().timestamp_subsec_millis(),
        weekday: local.weekday().num_days_from_sunday(),
        ordinal: local.ordinal(),
        iso_year: week.year(),
        iso_week: week.week(),
        offset,
        abbreviation,
    })
}

/// `time:local(date, tz)` (engine extension): the wall-clock fields of
/// `date` in zone `tz` (an IANA name or `{"tz": name}`; UTC when omitted
/// or null) as `{"year", "month", "day", "hour", "minute", "second",
/// "weekday" (0 = Sunday), "offset" (minutes east of UTC)}`. `date` is
/// read as by `time:strftime`.
fn local(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    const WHO: &str = "time:local";
    let ms = date_arg(arg(args, 0), WHO, env.now_ms)?;
    let zone = zone_arg(arg(args, 1), WHO, "a time zone string")?;
    let Some(w) = wall(ms, zone) else {
        return Ok(Value::Null);
    };
    let mut m = Map::new();
    let mut put = |k: &str, v: f64| {
        m.insert(Arc::from(k), Value::from(v));
    };
    put("year", w.year as f64);
    put("month", w.month as f64);
    put("day", w.day as f64);
    put("hour", w.hour as f64);
    put("minute", w.minute as f64);
    put("second", w.second as f64);
    put("weekday", w.weekday as f64);
    put("offset", (w.offset / 60) as f64);
    Ok(Value::from(m))
}

// ---------------------------------------------------------------------------
// strftime

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `n` padded to `width` with `pad` (the conversion's default unless a
/// flag `-` (none), `_` (spaces) or `0` (zeros) says otherwise).
fn padded(n: i64, width: usize, pad: char, flag: Option<u8>) -> String {
    let pad = match flag {
        Some(b'-') => return n.to_string(),
        Some(b'_') => ' ',
        Some(b'0') => '0',
        _ => pad,
    };
    let digits = n.unsigned_abs().to_string();
    let sign = if n < 0 { "-" } else { "" };
    let fill = width.saturating_sub(digits.len() + sign.len());
    let fill: String = std::iter::repeat_n(pad, fill).collect();
    if pad == '0' {
        format!("{sign}{fill}{digits}")
    } else {
        format!("{fill}{sign}{digits}")
    }
}

/// Week of the year with weeks starting on `first` (0 = Sunday, 1 =
/// Monday); days before the first such day are in week 0.
fn week_number(w: &Wall, first: u32) -> i64 {
    let wday = (w.weekday + 7 - first) % 7;
    (w.ordinal as i64 - 1 + 7 - wday as i64) / 7
}

/// Formats `w` with C `strftime` conversions (and Ruby's `%L`, `%o`, `%P`,
/// `%-d`-style flags, `%:z`). An unknown conversion gives its letter, like
/// the reference.
fn format_wall(fmt: &str, w: &Wall) -> String {
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flag = None;
        let mut upper = false;
        let mut colon = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' | '_' | '0' => flag = Some(f as u8),
                '^' => upper = true,
                ':' => colon = true,
                _ => break,
            }
            chars.next();
        }
        let Some(conv) = chars.next() else {
            out.push('%');
            break;
        };
        let hour12 = match w.hour % 12 {
            0 => 12,
            h => h,
        };
        let num = |n: i64, width: usize| padded(n, width, '0', flag);
        let spaced = |n: i64, width: usize| padded(n, width, ' ', flag);
        let text: String = match conv {
            'a' => DAYS[w.weekday as usize][..3].to_string(),
            'A' => DAYS[w.weekday as usize].to_string(),
            'b' | 'h' => MONTHS[w.month as usize - 1][..3].to_string(),
            'B' => MONTHS[w.month as usize - 1].to_string(),
            'c' => format_wall("%a %b %e %H:%M:%S %Y", w),
            'C' => num(w.year.div_euclid(100) as i64, 2),
            'd' => num(w.day as i64, 2),
            'D' | 'x' => format_wall("%m/%d/%y", w),
            'e' => spaced(w.day as i64, 2),
            'F' => format_wall("%Y-%m-%d", w),
            'g' => num(w.iso_year.rem_euclid(100) as i64, 2),
            'G' => num(w.iso_year as i64, 4),
            'H' => num(w.hour as i64, 2),
            'I' => num(hour12 as i64, 2),
            'j' => num(w.ordinal as i64, 3),
            'k' => spaced(w.hour as i64, 2),
            'l' => spaced(hour12 as i64, 2),
            'L' => num(w.millisecond as i64, 3),
            'm' => num(w.month as i64, 2),
            'M' => num(w.minute as i64, 2),
            'n' => "\n".into(),
            'o' => {
                let d = w.day;
                let suffix = match (d % 10, d % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                format!("{d}{suffix}")
            }
            'p' => if w.hour < 12 { "AM" } else { "PM" }.into(),
            'P' => if w.hour < 12 { "am" } else { "pm" }.into(),
            'r' => format_wall("%I:%M:%S %p", w),
            'R' => format_wall("%H:%M", w),
            's' => w.epoch_ms.div_euclid(1000).to_string(),
            'S' => num(w.second as i64, 2),
            't' => "\t".into(),
            'T' | 'X' => format_wall("%H:%M:%S", w),
            'u' => match w.weekday {
                0 => 7,
                d => d,
            }
            .to_string(),
            'U' => num(week_number(w, 0), 2),
            'v' => format_wall("%e-%b-%Y", w),
            'V' => num(w.iso_week as i64, 2),
            'w' => w.weekday.to_string(),
            'W' => num(week_number(w, 1), 2),
            'y' => num(w.year.rem_euclid(100) as i64, 2),
            'Y' => w.year.to_string(),
            'z' => {
                let sign = if w.offset < 0 { '-' } else { '+' };
                let minutes = w.offset.unsigned_abs() / 60;
                let sep = if colon { ":" } else { "" };
                format!("{sign}{:02}{sep}{:02}", minutes / 60, minutes % 60)
            }
            'Z' => w.abbreviation.clone(),
            '%' => "%".into(),
            other => other.to_string(),
        };
        if upper {
            out.push_str(&text.to_uppercase());
        } else {
            out.push_str(&text);
        }
    }
    out
}

/// `time:strftime(date, fmt, opts)`: `date` (a number is read as a date
/// string) formatted with C `strftime` conversions, in UTC — or, engine
/// extension, in the IANA zone given by `opts` (`{"tz": "Europe/Paris"}`
/// or just `"Europe/Paris"`).
fn strftime(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    const WHO: &str = "time:strftime";
    let date = arg(args, 0);
    let fmt = arg(args, 1);
    if !date.truthy() {
        return Err(RuntimeError::new("time:strftime needs a date string"));
    }
    if !fmt.truthy() {
        return Err(RuntimeError::new("time:strftime needs a fmt string"));
    }
    let ms = date_arg(date, WHO, env.now_ms)?;
    let Value::Str(fmt) = fmt else {
        return Err(RuntimeError::type_error(format!(
            "time:strftime was given {} instead of a fmt string",
            s(fmt)
        )));
    };
    let zone = zone_arg(arg(args, 2), WHO, "an opts map")?;
    Ok(wall(ms, zone).map_or(Value::Null, |w| Value::from(format_wall(fmt, &w))))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn t(name: &str, args: &[Value]) -> Value {
        ok("time", name, args)
    }

    fn e(name: &str, args: &[Value]) -> String {
        err("time", name, args)
    }

    fn new_(date: &str) -> Value {
        t("new", &[st(date)])
    }

    #[test]
    fn now_is_the_clock_in_utc() {
        assert_eq!(t("now", &[]), st("2024-05-17T12:00:00.000Z"));
        let at = |ms: f64| run_at(ms, &[0.5], "time", "now", &[]).unwrap();
        assert_eq!(at(1_715_947_200_123.9), st("2024-05-17T12:00:00.123Z"));
        assert_eq!(at(0.0), st("1970-01-01T00:00:00.000Z"));
        // the reference's {"tz"} is accepted and ignored
        assert_eq!(
            t("now", &[map(&[("tz", st("Australia/Sydney"))])]),
            st("2024-05-17T12:00:00.000Z")
        );
        assert_eq!(t("now", &[Value::Null]), st("2024-05-17T12:00:00.000Z"));
        assert_eq!(
            e("now", &[j("[]")]),
            "TypeError: time:now was given [Array] instead of an opts map"
        );
        assert_eq!(
            e("now", &[st("x")]),
            "TypeError: time:now was given x instead of an opts map"
        );
    }

    #[test]
    fn new_reads_the_reference_formats() {
        // Date only defaults to 00:00 (the spec's example)
        assert_eq!(new_("2010-08-08"), st("2010-08-08T00:00:00.000Z"));
        // Year DayOfYear
        assert_eq!(new_("1967342"), st("1967-12-08T00:00:00.000Z"));
        // ms since the epoch
        assert_eq!(t("new", &[n(1967342000.0)]), st("1970-01-23T18:29:02.000Z"));
        // Year WeekOfYear DayOfWeek
        assert_eq!(new_("2011W206T1345-0600"), st("2011-05-21T19:45:00.000Z"));
        // Time only defaults to today
        assert_eq!(new_("083023Z"), st("2024-05-17T08:30:23.000Z"));
        assert_eq!(e("new", &[]), "time:new needs a date string");
        assert_eq!(
            e("new", &[st("67342")]),
            "time:new was given an invalid date string (67342)"
        );
    }

    #[test]
    fn new_reads_iso_variants() {
        let cases = [
            ("2010-08-08T05:06:07", "2010-08-08T05:06:07.000Z"),
            ("2010-08-08 05:06", "2010-08-08T05:06:00.000Z"),
            ("2010-08-08T05", "2010-08-08T05:00:00.000Z"),
            ("2010-08-08T05:06:07.5Z", "2010-08-08T05:06:07.500Z"),
            ("2010-08-08T05:06:07,123456Z", "2010-08-08T05:06:07.123Z"),
            ("2010-08-08T05:06:07+02:00", "2010-08-08T03:06:07.000Z"),
            ("2010-08-08T05:06:07+0200", "2010-08-08T03:06:07.000Z"),
            ("2010-08-08T05:06:07-02", "2010-08-08T07:06:07.000Z"),
            ("2010-08-08T05:06:07 Z", "2010-08-08T05:06:07.000Z"),
            ("  2010-08-08", "2010-08-08T00:00:00.000Z"),
            ("2010-08-08T24:00", "2010-08-09T00:00:00.000Z"),
            ("20100808", "2010-08-08T00:00:00.000Z"),
            ("20100808T050607Z", "2010-08-08T05:06:07.000Z"),
            ("20100808T0506", "2010-08-08T05:06:00.000Z"),
            ("20100808T050607.25+0100", "2010-08-08T04:06:07.250Z"),
            ("2010-08", "2010-08-01T00:00:00.000Z"),
            ("201008", "2010-08-01T00:00:00.000Z"),
            ("2010", "2010-01-01T00:00:00.000Z"),
            ("2010-220", "2010-08-08T00:00:00.000Z"),
            ("2010-220T10:00", "2010-08-08T10:00:00.000Z"),
            ("2011-W20-6", "2011-05-21T00:00:00.000Z"),
            ("2011-W20", "2011-05-16T00:00:00.000Z"),
            ("2011W20", "2011-05-16T00:00:00.000Z"),
            ("2009-W01-1", "2008-12-29T00:00:00.000Z"),
            ("2020-W53-7", "2021-01-03T00:00:00.000Z"),
            ("+002010-08-08", "2010-08-08T00:00:00.000Z"),
            ("+0020100808", "2010-08-08T00:00:00.000Z"),
            ("-000001-01-01T00:00:00Z", "-000001-01-01T00:00:00.000Z"),
            ("+012345-01-01", "+012345-01-01T00:00:00.000Z"),
            ("0000-01-01", "0000-01-01T00:00:00.000Z"),
            ("2024-02-29", "2024-02-29T00:00:00.000Z"),
            ("1968366", "1968-12-31T00:00:00.000Z"),
            // times of today
            ("08:30", "2024-05-17T08:30:00.000Z"),
            ("08:30:23.5+01:00", "2024-05-17T07:30:23.500Z"),
            ("083023", "2024-05-17T08:30:23.000Z"),
            ("08", "2024-05-17T08:00:00.000Z"),
            // four digits are a year first
            ("0830", "0830-01-01T00:00:00.000Z"),
        ];
        for (input, want) in cases {
            assert_eq!(new_(input), st(want), "{input}");
        }
    }

    #[test]
    fn new_rejects_what_the_reference_rejects() {
        for bad in [
            "2010-13-01",
            "2010-02-30",
            "2023-02-29",
            "1967366",
            "2010-000",
            "2010-W54-1",
            "2010-W10-8",
            "2010-W10-0",
            "2010-08T10:00",
            "2010T10",
            "2010-W10T10:00",
            "2010-08-08T10:60",
            "2010-08-08T10:00:60",
            "2010-08-08T24:01",
            "2010-08-08T1200",
            "20100808T12:00",
            "2010-08-08T10:00Zjunk",
            "2010-08-08 ",
            "2010-08-08t10:00",
            "+002010-220",
            "+002010",
            "hello",
            "67342",
            "12:00 pm",
        ] {
            assert_eq!(
                e("new", &[st(bad)]),
                format!("time:new was given an invalid date string ({bad})"),
                "{bad}"
            );
        }
    }

    #[test]
    fn new_error_kinds() {
        assert_eq!(e("new", &[Value::Null]), "time:new needs a date string");
        assert_eq!(e("new", &[st("")]), "time:new needs a date string");
        assert_eq!(e("new", &[n(0.0)]), "time:new needs a date string");
        assert_eq!(
            e("new", &[j("{\"a\": 1}")]),
            "TypeError: time:new was given [Map] instead of a date string"
        );
        assert_eq!(
            e("new", &[Value::Bool(true)]),
            "TypeError: time:new was given true instead of a date string"
        );
        assert_eq!(
            e("new", &[n(1e20)]),
            "time:new was given an out-of-range date (100000000000000000000)"
        );
        assert_eq!(t("new", &[n(-1.0)]), st("1969-12-31T23:59:59.999Z"));
        assert_eq!(t("new", &[n(1.9)]), st("1970-01-01T00:00:00.001Z"));
    }

    #[test]
    fn add_like_the_reference() {
        let add = |date: Value, spec: &str| t("add", &[date, j(spec)]);
        assert_eq!(
            add(st("2017-01-01"), r#"{"years": -2017}"#),
            st("0000-01-01T00:00:00.000Z")
        );
        assert_eq!(
            add(st("2017-01-01"), r#"{"months": -22}"#),
            st("2015-03-01T00:00:00.000Z")
        );
        assert_eq!(
            add(st("2010-08-08"), r#"{"weeks": 5}"#),
            st("2010-09-12T00:00:00.000Z")
        );
        assert_eq!(
            add(st("2010-08-08T05:00:00"), r#"{"hours": 3}"#),
            st("2010-08-08T08:00:00.000Z")
        );
        // the spec's examples
        assert_eq!(
            add(st("2017-01-01"), r#"{"days": -10}"#),
            st("2016-12-22T00:00:00.000Z")
        );
        assert_eq!(
            add(st("2017-01-01"), r#"{"minutes": 2, "seconds": 90}"#),
            st("2017-01-01T00:03:30.000Z")
        );
        // a number is a date *string*; non-numbers and unknown keys ignored
        assert_eq!(
            add(n(1967342.0), r#"{"seconds": "five"}"#),
            st("1967-12-08T00:00:00.000Z")
        );
        assert_eq!(
            add(n(1967342.0), r#"{"secondz": 5}"#),
            st("1967-12-08T00:00:00.000Z")
        );
    }

    #[test]
    fn add_errors() {
        assert_eq!(
            e("add", &[Value::Null, j("{}")]),
            "time:add needs a date string"
        );
        assert_eq!(e("add", &[n(67342.0)]), "time:add needs a spec map");
        assert_eq!(
            e("add", &[n(67342.0), n(5.0)]),
            "TypeError: time:add was given 67342 instead of a date string"
        );
        assert_eq!(
            e("add", &[st("67342"), n(5.0)]),
            "time:add was given an invalid date string (67342)"
        );
        assert_eq!(
            e("add", &[st("2017-01-01"), j("[]")]),
            "TypeError: time:add was given [Array] instead of a spec map"
        );
    }

    #[test]
    fn add_every_unit_and_clamps_months() {
        let add = |date: &str, spec: &str| t("add", &[st(date), j(spec)]);
        assert_eq!(
            add("2024-01-31", r#"{"months": 1}"#),
            st("2024-02-29T00:00:00.000Z")
        );
        assert_eq!(
            add("2023-01-31T10:20:30.400Z", r#"{"months": 1}"#),
            st("2023-02-28T10:20:30.400Z")
        );
        assert_eq!(
            add("2024-03-31", r#"{"months": -1}"#),
            st("2024-02-29T00:00:00.000Z")
        );
        assert_eq!(
            add("2024-02-29", r#"{"years": 1}"#),
            st("2025-02-28T00:00:00.000Z")
        );
        // months first, then days: Jan 31 + 1 month = Feb 29, + 1 day = Mar 1
        assert_eq!(
            add("2024-01-31", r#"{"days": 1, "months": 1}"#),
            st("2024-03-01T00:00:00.000Z")
        );
        assert_eq!(
            add(
                "2017-01-01",
                r#"{"years": 1, "months": 2, "weeks": 1, "days": 1, "hours": 1,
                    "minutes": 1, "seconds": 1, "milliseconds": 1}"#
            ),
            st("2018-03-09T01:01:01.001Z")
        );
        assert_eq!(
            add(
                "2017-01-01",
                r#"{"quarters": 1, "day": 2, "ms": 5, "M": 1, "m": 1}"#
            ),
            st("2017-05-03T00:01:00.005Z")
        );
        assert_eq!(
            add("2017-01-01", r#"{"Hours": "2", "seconds": null}"#),
            st("2017-01-01T02:00:00.000Z")
        );
        assert_eq!(
            add("2017-01-01", r#"{"seconds": -0.5}"#),
            st("2016-12-31T23:59:59.500Z")
        );
        assert_eq!(
            add("2017-01-01", r#"{"days": 1.5}"#),
            st("2017-01-03T00:00:00.000Z")
        );
        assert_eq!(add("2017-01-01", r#"{}"#), st("2017-01-01T00:00:00.000Z"));
        // beyond JavaScript's range: null, like the reference
        assert_eq!(add("2017-01-01", r#"{"years": 300000}"#), Value::Null);
        assert_eq!(add("2017-01-01", r#"{"days": 1e300}"#), Value::Null);
    }

    #[test]
    fn strftime_like_the_reference() {
        let x = st("2010-10-06T18:25:55");
        let f = |fmt: &str| t("strftime", &[x.clone(), st(fmt)]);
        // the spec's examples
        assert_eq!(f("%F %T"), st("2010-10-06 18:25:55"));
        assert_eq!(f("%A %d %b %Y"), st("Wednesday 06 Oct 2010"));
        assert_eq!(f("year month"), st("year month"));
        assert_eq!(e("strftime", &[]), "time:strftime needs a date string");
        assert_eq!(
            e("strftime", &[n(67342.0)]),
            "time:strftime needs a fmt string"
        );
        assert_eq!(
            e("strftime", &[n(67342.0), st("%F %T")]),
            "TypeError: time:strftime was given 67342 instead of a date string"
        );
        assert_eq!(
            e("strftime", &[st("67342"), st("%F %T")]),
            "time:strftime was given an invalid date string (67342)"
        );
        assert_eq!(
            e("strftime", &[st("1967342"), j(r#"["%A %d %b %Y"]"#)]),
            "TypeError: time:strftime was given [Array] instead of a fmt string"
        );
    }

    #[test]
    fn strftime_conversions() {
        let f = |date: &str, fmt: &str| {
            t("strftime", &[st(date), st(fmt)])
                .as_str()
                .unwrap()
                .to_string()
        };
        let d = "2010-10-06T08:05:03.042Z";
        let cases = [
            ("%Y %m %d %H %M %S", "2010 10 06 08 05 03"),
            ("%a %A %b %B %h", "Wed Wednesday Oct October Oct"),
            ("%j %y %e %C", "279 10  6 20"),
            ("%I %p %P %l %k", "08 AM am  8  8"),
            ("%Z %z %:z", "UTC +0000 +00:00"),
            (
                "%D|%x|%X|%R|%r",
                "10/06/10|10/06/10|08:05:03|08:05|08:05:03 AM",
            ),
            ("%c", "Wed Oct  6 08:05:03 2010"),
            ("%v", " 6-Oct-2010"),
            ("%L %s", "042 1286352303"),
            ("%u %w %U %W %V %G %g", "3 3 40 40 40 2010 10"),
            ("%-d %-m %_m %0e %-j", "6 10 10 06 279"),
            ("%^a %^B", "WED OCTOBER"),
            ("%o", "6th"),
            ("100%% %n%t", "100% \n\t"),
            ("%q%", "q%"),
            ("héllo %Y ✓", "héllo 2010 ✓"),
        ];
        for (fmt, want) in cases {
            assert_eq!(f(d, fmt), want, "{fmt}");
        }
        assert_eq!(f("2010-10-06T20:00:00Z", "%I %p %l"), "08 PM  8");
        assert_eq!(f("2010-10-06T00:00:00Z", "%I %p"), "12 AM");
        assert_eq!(f("2010-10-06T12:00:00Z", "%I %p"), "12 PM");
        assert_eq!(f("2010-01-01", "%j %U %W %V %G"), "001 00 00 53 2009");
        assert_eq!(f("2010-01-03", "%U %W %u %w"), "01 00 7 0");
        assert_eq!(f("2010-01-04", "%U %W %V"), "01 01 01");
        for (day, want) in [
            (1, "1st"),
            (2, "2nd"),
            (3, "3rd"),
            (11, "11th"),
            (22, "22nd"),
        ] {
            assert_eq!(f(&format!("2010-10-{day:02}"), "%o"), want);
        }
        assert_eq!(f("0005-01-01", "%Y %y %C"), "5 05 00");
    }

    #[test]
    fn strftime_in_a_time_zone() {
        let f = |date: &str, fmt: &str, opts: Value| {
            t("strftime", &[st(date), st(fmt), opts])
                .as_str()
                .unwrap()
                .to_string()
        };
        let paris = || map(&[("tz", st("Europe/Paris"))]);
        let denver = || map(&[("tz", st("America/Denver"))]);
        let full = "%F %T %Z %z";
        // Europe/Paris: CET → CEST on 2024-03-31 at 01:00 UTC
        assert_eq!(
            f("2024-03-31T00:59:59Z", full, paris()),
            "2024-03-31 01:59:59 CET +0100"
        );
        assert_eq!(
            f("2024-03-31T01:00:00Z", full, paris()),
            "2024-03-31 03:00:00 CEST +0200"
        );
        // CEST → CET on 2024-10-27 at 01:00 UTC: 02:30 happens twice
        assert_eq!(
            f("2024-10-27T00:30:00Z", full, paris()),
            "2024-10-27 02:30:00 CEST +0200"
        );
        assert_eq!(
            f("2024-10-27T01:30:00Z", full, paris()),
            "2024-10-27 02:30:00 CET +0100"
        );
        // America/Denver: MST → MDT on 2024-03-10 at 09:00 UTC
        assert_eq!(
            f("2024-03-10T08:59:59Z", full, denver()),
            "2024-03-10 01:59:59 MST -0700"
        );
        assert_eq!(
            f("2024-03-10T09:00:00Z", full, denver()),
            "2024-03-10 03:00:00 MDT -0600"
        );
        // MDT → MST on 2024-11-03 at 08:00 UTC: 01:30 happens twice
        assert_eq!(
            f("2024-11-03T07:30:00Z", full, denver()),
            "2024-11-03 01:30:00 MDT -0600"
        );
        assert_eq!(
            f("2024-11-03T08:30:00Z", full, denver()),
            "2024-11-03 01:30:00 MST -0700"
        );
        // the zone may be given as a plain string; the day may change
        assert_eq!(
            f(
                "2024-05-17T03:00:00Z",
                "%A %d %H:%M %:z",
                st("America/Denver")
            ),
            "Thursday 16 21:00 -06:00"
        );
        // an offset in the input is honoured before converting
        assert_eq!(f("2024-07-01T09:00:00+02:00", "%H:%M", paris()), "09:00");
        // null, a map without tz, or "UTC": UTC
        assert_eq!(
            f("2024-07-01T09:00:00Z", "%H:%M %Z", Value::Null),
            "09:00 UTC"
        );
        assert_eq!(f("2024-07-01T09:00:00Z", "%H:%M %Z", j("{}")), "09:00 UTC");
        assert_eq!(
            f("2024-07-01T09:00:00Z", "%H:%M %Z", st("UTC")),
            "09:00 UTC"
        );
        assert_eq!(
            f("2024-07-01T09:00:00Z", "%H:%M", st("Asia/Kolkata")),
            "14:30"
        );
        assert_eq!(
            e(
                "strftime",
                &[st("2024-07-01"), st("%F"), st("Mars/Olympus")]
            ),
            "time:strftime doesn't recognize the time zone Mars/Olympus"
        );
        assert_eq!(
            e("strftime", &[st("2024-07-01"), st("%F"), n(5.0)]),
            "TypeError: time:strftime was given 5 instead of an opts map"
        );
        assert_eq!(
            e(
                "strftime",
                &[st("2024-07-01"), st("%F"), map(&[("tz", n(1.0))])]
            ),
            "TypeError: time:strftime was given 1 instead of a time zone string"
        );
    }

    fn local_of(date: &str, tz: &str) -> Value {
        t("local", &[st(date), st(tz)])
    }

    /// The map `time:local` gives for year, month, day, hour, minute,
    /// second, weekday and offset.
    fn fields(f: [f64; 8]) -> Value {
        let keys = [
            "year", "month", "day", "hour", "minute", "second", "weekday", "offset",
        ];
        map(&keys
            .iter()
            .zip(f)
            .map(|(k, v)| (*k, n(v)))
            .collect::<Vec<_>>())
    }

    #[test]
    fn local_fields_across_dst_in_denver() {
        let tz = "America/Denver";
        // 2024-03-10 is a Sunday
        assert_eq!(
            local_of("2024-03-10T08:59:59Z", tz),
            fields([2024.0, 3.0, 10.0, 1.0, 59.0, 59.0, 0.0, -420.0])
        );
        assert_eq!(
            local_of("2024-03-10T09:00:00Z", tz),
            fields([2024.0, 3.0, 10.0, 3.0, 0.0, 0.0, 0.0, -360.0])
        );
        assert_eq!(
            local_of("2024-11-03T07:30:00Z", tz),
            fields([2024.0, 11.0, 3.0, 1.0, 30.0, 0.0, 0.0, -360.0])
        );
        assert_eq!(
            local_of("2024-11-03T08:30:00Z", tz),
            fields([2024.0, 11.0, 3.0, 1.0, 30.0, 0.0, 0.0, -420.0])
        );
        // Monday 9:00 local in summer is 15:00 UTC
        assert_eq!(
            local_of("2024-07-01T15:00:00Z", tz),
            fields([2024.0, 7.0, 1.0, 9.0, 0.0, 0.0, 1.0, -360.0])
        );
    }

    #[test]
    fn local_fields_across_dst_in_paris() {
        let tz = "Europe/Paris";
        assert_eq!(
            local_of("2024-03-31T00:59:59Z", tz),
            fields([2024.0, 3.0, 31.0, 1.0, 59.0, 59.0, 0.0, 60.0])
        );
        assert_eq!(
            local_of("2024-03-31T01:00:00Z", tz),
            fields([2024.0, 3.0, 31.0, 3.0, 0.0, 0.0, 0.0, 120.0])
        );
        assert_eq!(
            local_of("2024-10-27T00:30:00Z", tz),
            fields([2024.0, 10.0, 27.0, 2.0, 30.0, 0.0, 0.0, 120.0])
        );
        assert_eq!(
            local_of("2024-10-27T01:30:00Z", tz),
            fields([2024.0, 10.0, 27.0, 2.0, 30.0, 0.0, 0.0, 60.0])
        );
        // Friday 23:30 UTC is already Saturday in Paris
        assert_eq!(
            local_of("2024-05-17T23:30:00Z", tz),
            fields([2024.0, 5.0, 18.0, 1.0, 30.0, 0.0, 6.0, 120.0])
        );
    }

    #[test]
    fn local_defaults_and_errors() {
        assert_eq!(
            t("local", &[st("2024-05-17T12:34:56.789Z")]),
            fields([2024.0, 5.0, 17.0, 12.0, 34.0, 56.0, 5.0, 0.0])
        );
        assert_eq!(
            t(
                "local",
                &[st("2024-05-17T12:00:00Z"), map(&[("tz", st("Asia/Tokyo"))])]
            ),
            fields([2024.0, 5.0, 17.0, 21.0, 0.0, 0.0, 5.0, 540.0])
        );
        assert_eq!(e("local", &[]), "time:local needs a date string");
        assert_eq!(
            e("local", &[st("nope"), st("Europe/Paris")]),
            "time:local was given an invalid date string (nope)"
        );
        assert_eq!(
            e("local", &[st("2024-05-17"), st("Europe/Pariss")]),
            "time:local doesn't recognize the time zone Europe/Pariss"
        );
        assert_eq!(
            e("local", &[st("2024-05-17"), n(2.0)]),
            "TypeError: time:local was given 2 instead of a time zone string"
        );
    }

    #[test]
    fn business_hours_sketch() {
        // What a ruleset would compute: open Mon–Fri 9:00–17:00 in Paris.
        let open = |date: &str| {
            let Value::Map(m) = local_of(date, "Europe/Paris") else {
                panic!()
            };
            let get = |k: &str| m.get(k).and_then(Value::to_number).unwrap();
            (1.0..=5.0).contains(&get("weekday")) && (9.0..17.0).contains(&get("hour"))
        };
        assert!(open("2024-05-17T07:00:00Z")); // Friday 09:00 CEST
        assert!(!open("2024-05-17T06:59:59Z")); // Friday 08:59 CEST
        assert!(!open("2024-05-17T15:00:00Z")); // Friday 17:00 CEST
        assert!(open("2024-01-15T08:00:00Z")); // Monday 09:00 CET
        assert!(!open("2024-01-15T07:59:00Z")); // Monday 08:59 CET
        assert!(!open("2024-05-18T10:00:00Z")); // Saturday
    }

    #[test]
    fn zone_names_known_zones_and_null_otherwise() {
        assert_eq!(
            ok("time", "zone", &[st("America/Denver")]),
            st("America/Denver")
        );
        assert_eq!(
            ok("time", "zone", &[st("Europe/London")]),
            st("Europe/London")
        );
        assert_eq!(ok("time", "zone", &[st("Z")]), st("UTC"));
        assert_eq!(ok("time", "zone", &[st("Mars/Olympus")]), Value::Null);
        assert_eq!(ok("time", "zone", &[n(3.0)]), Value::Null);
        assert_eq!(ok("time", "zone", &[]), Value::Null);
    }

    #[test]
    fn iso_output_shapes() {
        assert_eq!(iso(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(-1).unwrap(), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso(253402300800000).unwrap(), "+010000-01-01T00:00:00.000Z");
        assert_eq!(iso(-62198755200000).unwrap(), "-000001-01-01T00:00:00.000Z");
        assert_eq!(iso(MAX_MS + 1), None);
    }
}
