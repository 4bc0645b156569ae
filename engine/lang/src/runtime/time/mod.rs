//! `time:` (docs/spec/krl-stdlib.md 8.3): dates as ISO-8601 strings in UTC with
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
//!
//! Layout: this file holds the KRL-facing functions of `time:` (its
//! registry entry is `modules/time.rs`); `parse.rs` reads date strings,
//! `zone.rs` turns instants into wall-clock fields in a time zone,
//! `format.rs` writes ISO-8601 and `strftime` text, and `add.rs` does
//! `time:add`'s calendar arithmetic. [`parse_ms`] and [`format_iso`] are
//! the engine's one reading and writing of dates (`schedule ... at` too).

mod add;
mod format;
mod parse;
mod zone;

pub use format::{format_iso, iso};
pub use parse::parse_ms;

use super::{arg, s, Env};
use crate::runtime::error::RuntimeError;
use crate::runtime::value::{number_to_string, Map, Value};
use add::add_spec;
use chrono::NaiveDate;
use format::format_wall;
use parse::parse_date;
use std::sync::Arc;
use zone::{wall, zone_arg, Zone};

/// The largest distance from the epoch a JavaScript date may have (ms).
const MAX_MS: i64 = 8_640_000_000_000_000;

const MS_PER_DAY: i64 = 86_400_000;

/// Midnight UTC of `date`, in ms.
fn date_ms(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
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
        given_instead(who, v, "a date string")
    }
}

/// The TypeError "`who` was given `S(v)` instead of `what`".
fn given_instead(who: &str, v: &Value, what: &str) -> RuntimeError {
    RuntimeError::type_error(format!("{who} was given {} instead of {what}", s(v)))
}

/// The date (see [`date_arg`]) and the second argument of `who`, which
/// must be truthy ("`who` needs `what`"), checked in the reference's
/// order: a falsy date, a falsy second argument, then the date string.
fn date_and_second<'a>(
    args: &'a [Value],
    who: &str,
    what: &str,
    now_ms: f64,
) -> Result<(i64, &'a Value), RuntimeError> {
    let (date, second) = (arg(args, 0), arg(args, 1));
    if date.truthy() && !second.truthy() {
        return Err(RuntimeError::new(format!("{who} needs {what}")));
    }
    Ok((date_arg(date, who, now_ms)?, second))
}

fn iso_value(ms: i64) -> Value {
    iso(ms).map_or(Value::Null, Value::from)
}

// ---------------------------------------------------------------------------
// The members

/// `time:now(opts)`: the current time, the clock rounded to the nearest
/// ms. `opts`, if truthy, must be a map (`{"tz": zone}` is accepted and
/// ignored: the result is UTC).
pub fn now(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    let opts = arg(args, 0);
    if opts.truthy() && !matches!(opts, Value::Map(_)) {
        return Err(given_instead("time:now", opts, "an opts map"));
    }
    Ok(format_iso(env.now_ms).map_or(Value::Null, Value::from))
}

/// `time:new(date)`: a number is ms since the epoch (truncated), anything
/// else is read as a date string. Like the reference, a falsy date
/// (including `0`) "needs a date string".
pub fn new(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
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

/// `time:add(date, spec)`: `date` (a number is read as a date *string*)
/// plus `spec` (`years`, `quarters`, `months`, `weeks`, `days`, `hours`,
/// `minutes`, `seconds`, `milliseconds`, singular names and moment's short
/// aliases too; unknown keys and values with no number are ignored, each
/// on its own). Null if the result is out of range, like the reference.
pub fn add(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    const WHO: &str = "time:add";
    let (ms, spec) = date_and_second(args, WHO, "a spec map", env.now_ms)?;
    let Value::Map(spec) = spec else {
        return Err(given_instead(WHO, spec, "a spec map"));
    };
    Ok(add_spec(ms, spec).map_or(Value::Null, iso_value))
}

/// `time:zone(name)` (engine extension): `name` when it is a time zone
/// the database knows (`"UTC"` for UTC), else null — never an error.
pub fn zone(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    Ok(match arg(args, 0) {
        Value::Str(_) => match zone_arg(arg(args, 0), "time:zone", "") {
            Ok(Zone::Utc) => Value::from("UTC"),
            Ok(Zone::Named(tz)) => Value::from(tz.name()),
            Err(_) => Value::Null,
        },
        _ => Value::Null,
    })
}

/// `time:local(date, tz)` (engine extension): the wall-clock fields of
/// `date` in zone `tz` (an IANA name or `{"tz": name}`; UTC when omitted
/// or null) as `{"year", "month", "day", "hour", "minute", "second",
/// "weekday" (0 = Sunday), "offset" (minutes east of UTC)}`. `date` is
/// read as by `time:strftime`.
pub fn local(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    const WHO: &str = "time:local";
    let ms = date_arg(arg(args, 0), WHO, env.now_ms)?;
    let zone = zone_arg(arg(args, 1), WHO, "a time zone string")?;
    let Some(w) = wall(ms, zone) else {
        return Ok(Value::Null);
    };
    let mut m = Map::default();
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

/// `time:strftime(date, fmt, opts)`: `date` (a number is read as a date
/// string) formatted with C `strftime` conversions, in UTC — or, engine
/// extension, in the IANA zone given by `opts` (`{"tz": "Europe/Paris"}`
/// or just `"Europe/Paris"`).
pub fn strftime(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    const WHO: &str = "time:strftime";
    let (ms, fmt) = date_and_second(args, WHO, "a fmt string", env.now_ms)?;
    let Value::Str(fmt) = fmt else {
        return Err(given_instead(WHO, fmt, "a fmt string"));
    };
    let zone = zone_arg(arg(args, 2), WHO, "an opts map")?;
    Ok(wall(ms, zone).map_or(Value::Null, |w| Value::from(format_wall(fmt, &w))))
}

#[cfg(test)]
mod test_support {
    //! Shorthands for the `time:` tests.
    pub use crate::modules::testing::*;
    pub use crate::runtime::value::Value;

    pub fn t(name: &str, args: &[Value]) -> Value {
        ok("time", name, args)
    }

    pub fn e(name: &str, args: &[Value]) -> String {
        err("time", name, args)
    }

    pub fn new_(date: &str) -> Value {
        t("new", &[st(date)])
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;

    #[test]
    fn now_is_the_clock_in_utc() {
        assert_eq!(t("now", &[]), st("2024-05-17T12:00:00.000Z"));
        let at = |ms: f64| run_at(ms, &[0.5], "time", "now", &[]).unwrap();
        assert_eq!(at(1_715_947_200_123.9), st("2024-05-17T12:00:00.124Z"));
        assert_eq!(at(1_715_947_200_123.4), st("2024-05-17T12:00:00.123Z"));
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
}
