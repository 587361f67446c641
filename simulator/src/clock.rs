//! The simulators' calendar, from the `time` crate: the code under test (the parsers, the lasting
//! file names) has calendar code of its own, and a test double must not share it, or a bug in it
//! would agree with itself.

use time::{Date, Month, OffsetDateTime};

/// A UTC calendar time, broken down from µs since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59.
    pub second: u8,
    /// Microseconds within the second.
    pub micros: u32,
}

impl Civil {
    /// The calendar time of `us` µs since the epoch (clamped to the calendar's range).
    pub fn from_us(us: i64) -> Civil {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Civil {
            year: t.year(),
            month: u8::from(t.month()),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            micros: t.microsecond(),
        }
    }
}

/// The Julian day number of 1970-01-01.
const JULIAN_DAY_OF_1970_01_01: i64 = 2_440_588;

/// Days from 1970-01-01 to the date, or `None` for a date that does not exist.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> Option<i64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - JULIAN_DAY_OF_1970_01_01)
}

/// RFC 3339 UTC with microseconds, as MySQL 8 writes: `2019-03-24T14:04:53.714053Z`.
pub fn rfc3339_us(us: i64) -> String {
    let t = Civil::from_us(us);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.micros
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2024, 1, 4), Some(19_726));
        assert_eq!(days_from_civil(2024, 2, 30), None);
        assert_eq!(days_from_civil(2024, 13, 1), None);
        assert_eq!(
            rfc3339_us(1_704_360_600_000_001),
            "2024-01-04T09:30:00.000001Z"
        );
        assert_eq!(Civil::from_us(-1).year, 1969);
    }
}
