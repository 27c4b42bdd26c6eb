//! The NYSE trading calendar: regular sessions 9:30-16:00 New York time,
//! holidays and 13:00 early closes for 2015-2027.
//!
//! No maintained crate carries the NYSE calendar with its one-off closures
//! (national days of mourning), so the table below is written by hand from
//! the exchange's published holiday lists. Dates after 2027 fall back to
//! "every weekday is a full session", which the simulator says in its docs.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use chrono_tz::Tz;

/// Full-day closures, 2015-2027 (NYSE holiday calendar, including observed
/// days and the 2018-12-05 and 2025-01-09 national days of mourning).
const HOLIDAYS: &[(i32, u32, u32)] = &[
    (2015, 1, 1),
    (2015, 1, 19),
    (2015, 2, 16),
    (2015, 4, 3),
    (2015, 5, 25),
    (2015, 7, 3),
    (2015, 9, 7),
    (2015, 11, 26),
    (2015, 12, 25),
    (2016, 1, 1),
    (2016, 1, 18),
    (2016, 2, 15),
    (2016, 3, 25),
    (2016, 5, 30),
    (2016, 7, 4),
    (2016, 9, 5),
    (2016, 11, 24),
    (2016, 12, 26),
    (2017, 1, 2),
    (2017, 1, 16),
    (2017, 2, 20),
    (2017, 4, 14),
    (2017, 5, 29),
    (2017, 7, 4),
    (2017, 9, 4),
    (2017, 11, 23),
    (2017, 12, 25),
    (2018, 1, 1),
    (2018, 1, 15),
    (2018, 2, 19),
    (2018, 3, 30),
    (2018, 5, 28),
    (2018, 7, 4),
    (2018, 9, 3),
    (2018, 11, 22),
    (2018, 12, 5),
    (2018, 12, 25),
    (2019, 1, 1),
    (2019, 1, 21),
    (2019, 2, 18),
    (2019, 4, 19),
    (2019, 5, 27),
    (2019, 7, 4),
    (2019, 9, 2),
    (2019, 11, 28),
    (2019, 12, 25),
    (2020, 1, 1),
    (2020, 1, 20),
    (2020, 2, 17),
    (2020, 4, 10),
    (2020, 5, 25),
    (2020, 7, 3),
    (2020, 9, 7),
    (2020, 11, 26),
    (2020, 12, 25),
    (2021, 1, 1),
    (2021, 1, 18),
    (2021, 2, 15),
    (2021, 4, 2),
    (2021, 5, 31),
    (2021, 7, 5),
    (2021, 9, 6),
    (2021, 11, 25),
    (2021, 12, 24),
    (2022, 1, 17),
    (2022, 2, 21),
    (2022, 4, 15),
    (2022, 5, 30),
    (2022, 6, 20),
    (2022, 7, 4),
    (2022, 9, 5),
    (2022, 11, 24),
    (2022, 12, 26),
    (2023, 1, 2),
    (2023, 1, 16),
    (2023, 2, 20),
    (2023, 4, 7),
    (2023, 5, 29),
    (2023, 6, 19),
    (2023, 7, 4),
    (2023, 9, 4),
    (2023, 11, 23),
    (2023, 12, 25),
    (2024, 1, 1),
    (2024, 1, 15),
    (2024, 2, 19),
    (2024, 3, 29),
    (2024, 5, 27),
    (2024, 6, 19),
    (2024, 7, 4),
    (2024, 9, 2),
    (2024, 11, 28),
    (2024, 12, 25),
    (2025, 1, 1),
    (2025, 1, 9),
    (2025, 1, 20),
    (2025, 2, 17),
    (2025, 4, 18),
    (2025, 5, 26),
    (2025, 6, 19),
    (2025, 7, 4),
    (2025, 9, 1),
    (2025, 11, 27),
    (2025, 12, 25),
    (2026, 1, 1),
    (2026, 1, 19),
    (2026, 2, 16),
    (2026, 4, 3),
    (2026, 5, 25),
    (2026, 6, 19),
    (2026, 7, 3),
    (2026, 9, 7),
    (2026, 11, 26),
    (2026, 12, 25),
    (2027, 1, 1),
    (2027, 1, 18),
    (2027, 2, 15),
    (2027, 3, 26),
    (2027, 5, 31),
    (2027, 6, 18),
    (2027, 7, 5),
    (2027, 9, 6),
    (2027, 11, 25),
    (2027, 12, 24),
];

/// Sessions that close at 13:00 New York time (the day before Independence
/// Day when that is a weekday session, the day after Thanksgiving, and
/// Christmas Eve when it is a weekday session).
const EARLY_CLOSES: &[(i32, u32, u32)] = &[
    (2015, 11, 27),
    (2015, 12, 24),
    (2016, 11, 25),
    (2017, 7, 3),
    (2017, 11, 24),
    (2018, 7, 3),
    (2018, 11, 23),
    (2018, 12, 24),
    (2019, 7, 3),
    (2019, 11, 29),
    (2019, 12, 24),
    (2020, 11, 27),
    (2020, 12, 24),
    (2021, 11, 26),
    (2022, 11, 25),
    (2023, 7, 3),
    (2023, 11, 24),
    (2024, 7, 3),
    (2024, 11, 29),
    (2024, 12, 24),
    (2025, 7, 3),
    (2025, 11, 28),
    (2025, 12, 24),
    (2026, 11, 27),
    (2026, 12, 24),
    (2027, 11, 26),
];

/// The first date the simulator has prices for.
pub const FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2015, 1, 2) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// The last date the simulator knows sessions for (weekdays after 2027).
pub const LAST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2035, 12, 31) {
    Some(d) => d,
    None => panic!("valid date"),
};

fn in_table(table: &[(i32, u32, u32)], date: NaiveDate) -> bool {
    table
        .binary_search(&(date.year(), date.month(), date.day()))
        .is_ok()
}

/// Whether the exchange has a regular session on `date`.
pub fn is_trading_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !in_table(HOLIDAYS, date)
}

/// One trading session in New York local times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The session's date in New York.
    pub date: NaiveDate,
    /// Opening time, New York.
    pub open: NaiveTime,
    /// Closing time, New York.
    pub close: NaiveTime,
}

const OPEN: NaiveTime = match NaiveTime::from_hms_opt(9, 30, 0) {
    Some(t) => t,
    None => panic!("valid time"),
};
const CLOSE: NaiveTime = match NaiveTime::from_hms_opt(16, 0, 0) {
    Some(t) => t,
    None => panic!("valid time"),
};
const EARLY_CLOSE: NaiveTime = match NaiveTime::from_hms_opt(13, 0, 0) {
    Some(t) => t,
    None => panic!("valid time"),
};

impl Session {
    /// The session on `date`, if the exchange trades that day.
    pub fn on(date: NaiveDate) -> Option<Session> {
        if !is_trading_day(date) {
            return None;
        }
        let close = if in_table(EARLY_CLOSES, date) {
            EARLY_CLOSE
        } else {
            CLOSE
        };
        Some(Session {
            date,
            open: OPEN,
            close,
        })
    }

    /// The opening instant.
    pub fn open_at(&self) -> DateTime<Utc> {
        ny_to_utc(self.date, self.open)
    }

    /// The closing instant.
    pub fn close_at(&self) -> DateTime<Utc> {
        ny_to_utc(self.date, self.close)
    }

    /// Number of one-minute bars in the session (390, or 210 on early closes).
    pub fn minutes(&self) -> u32 {
        u32::try_from((self.close - self.open).num_minutes()).unwrap_or(0)
    }
}

/// A New York wall-clock time as a UTC instant. Market times never fall in
/// a DST gap (the switch happens at 2:00), so the earliest mapping is used.
pub fn ny_to_utc(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match New_York.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        // Only in a spring-forward gap: move an hour on.
        None => Utc.from_utc_datetime(&(local + Duration::hours(5))),
    }
}

/// Midnight of `date` in New York, as UTC (how Alpaca labels daily bars).
pub fn ny_midnight(date: NaiveDate) -> DateTime<Utc> {
    ny_to_utc(date, NaiveTime::MIN)
}

/// An instant in New York time.
pub fn to_ny(t: DateTime<Utc>) -> DateTime<Tz> {
    t.with_timezone(&New_York)
}

/// The New York date of an instant.
pub fn ny_date(t: DateTime<Utc>) -> NaiveDate {
    to_ny(t).date_naive()
}

/// The next session opening on or after `date` (inclusive).
pub fn session_on_or_after(date: NaiveDate) -> Option<Session> {
    let mut d = date;
    while d <= LAST_DATE {
        if let Some(s) = Session::on(d) {
            return Some(s);
        }
        d = d.succ_opt()?;
    }
    None
}

/// The last session on or before `date` (inclusive).
pub fn session_on_or_before(date: NaiveDate) -> Option<Session> {
    let mut d = date;
    while d >= FIRST_DATE {
        if let Some(s) = Session::on(d) {
            return Some(s);
        }
        d = d.pred_opt()?;
    }
    None
}

/// The session in progress at `t`, if the market is open then.
pub fn session_at(t: DateTime<Utc>) -> Option<Session> {
    let s = Session::on(ny_date(t))?;
    (s.open_at() <= t && t < s.close_at()).then_some(s)
}

/// The next opening strictly after `t` (or at `t` if `t` is an opening).
pub fn next_open(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut d = ny_date(t);
    loop {
        let s = session_on_or_after(d)?;
        if s.open_at() >= t {
            return Some(s.open_at());
        }
        d = s.date.succ_opt()?;
    }
}

/// The next closing at or after `t`.
pub fn next_close(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut d = ny_date(t);
    loop {
        let s = session_on_or_after(d)?;
        if s.close_at() > t {
            return Some(s.close_at());
        }
        d = s.date.succ_opt()?;
    }
}

/// The most recent session that has closed by `t`.
pub fn last_full_session(t: DateTime<Utc>) -> Option<Session> {
    let mut d = ny_date(t);
    loop {
        let s = session_on_or_before(d)?;
        if s.close_at() <= t {
            return Some(s);
        }
        d = s.date.pred_opt()?;
    }
}

/// All sessions with dates in `[start, end]`.
pub fn sessions_between(start: NaiveDate, end: NaiveDate) -> Vec<Session> {
    let mut out = Vec::new();
    let mut d = start.max(FIRST_DATE);
    let end = end.min(LAST_DATE);
    while d <= end {
        if let Some(s) = Session::on(d) {
            out.push(s);
        }
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Anonymous Gregorian computus (Meeus/Jones/Butcher).
    fn easter(y: i32) -> NaiveDate {
        let a = y % 19;
        let b = y / 100;
        let c = y % 100;
        let dd = b / 4;
        let e = b % 4;
        let f = (b + 8) / 25;
        let g = (b - f + 1) / 3;
        let h = (19 * a + b - dd - g + 15) % 30;
        let i = c / 4;
        let k = c % 4;
        let l = (32 + 2 * e + 2 * i - h - k) % 7;
        let m = (a + 11 * h + 22 * l) / 451;
        let month = (h + l - 7 * m + 114) / 31;
        let day = (h + l - 7 * m + 114) % 31 + 1;
        d(y, month as u32, day as u32)
    }

    fn nth_weekday(y: i32, m: u32, wd: Weekday, n: u8) -> NaiveDate {
        NaiveDate::from_weekday_of_month_opt(y, m, wd, n).unwrap()
    }

    fn last_weekday(y: i32, m: u32, wd: Weekday) -> NaiveDate {
        let mut date = d(y, m, 31);
        while date.weekday() != wd {
            date = date.pred_opt().unwrap();
        }
        date
    }

    fn observed(date: NaiveDate) -> Option<NaiveDate> {
        match date.weekday() {
            Weekday::Sat => date.pred_opt(),
            Weekday::Sun => date.succ_opt(),
            _ => Some(date),
        }
    }

    /// The NYSE rules, computed: the hand-written table must agree.
    fn rule_holidays(y: i32) -> Vec<NaiveDate> {
        let mut v = Vec::new();
        // New Year's Day on a Saturday is not observed on the Friday before.
        let ny = d(y, 1, 1);
        match ny.weekday() {
            Weekday::Sat => {}
            Weekday::Sun => v.push(d(y, 1, 2)),
            _ => v.push(ny),
        }
        v.push(nth_weekday(y, 1, Weekday::Mon, 3));
        v.push(nth_weekday(y, 2, Weekday::Mon, 3));
        v.push(easter(y) - Duration::days(2));
        v.push(last_weekday(y, 5, Weekday::Mon));
        if y >= 2022 {
            v.extend(observed(d(y, 6, 19)));
        }
        v.extend(observed(d(y, 7, 4)));
        v.push(nth_weekday(y, 9, Weekday::Mon, 1));
        v.push(nth_weekday(y, 11, Weekday::Thu, 4));
        v.extend(observed(d(y, 12, 25)));
        if y == 2018 {
            v.push(d(2018, 12, 5));
        }
        if y == 2025 {
            v.push(d(2025, 1, 9));
        }
        v.sort();
        v
    }

    #[test]
    fn table_matches_the_rules_2015_2027() {
        for y in 2015..=2027 {
            let table: Vec<NaiveDate> = HOLIDAYS
                .iter()
                .filter(|h| h.0 == y)
                .map(|&(y, m, dd)| d(y, m, dd))
                .collect();
            assert_eq!(table, rule_holidays(y), "holidays of {y}");
        }
        let mut sorted = HOLIDAYS.to_vec();
        sorted.sort();
        assert_eq!(sorted, HOLIDAYS);
        let mut sorted = EARLY_CLOSES.to_vec();
        sorted.sort();
        assert_eq!(sorted, EARLY_CLOSES);
    }

    #[test]
    fn early_closes_follow_the_rules() {
        for &(y, m, dd) in EARLY_CLOSES {
            let date = d(y, m, dd);
            assert!(is_trading_day(date), "{date} is a session");
            let thanksgiving = nth_weekday(y, 11, Weekday::Thu, 4);
            let ok = date == thanksgiving + Duration::days(1)
                || (m == 12 && dd == 24)
                || (m == 7 && dd == 3);
            assert!(ok, "{date} is a known early-close day");
        }
        // Every day after Thanksgiving is an early close.
        for y in 2015..=2027 {
            let friday = nth_weekday(y, 11, Weekday::Thu, 4) + Duration::days(1);
            assert_eq!(Session::on(friday).unwrap().close, EARLY_CLOSE);
        }
    }

    #[test]
    fn known_dates() {
        // The day after Thanksgiving 2020 closed at 13:00.
        let s = Session::on(d(2020, 11, 27)).unwrap();
        assert_eq!(s.close, NaiveTime::from_hms_opt(13, 0, 0).unwrap());
        assert_eq!(s.minutes(), 210);
        assert_eq!(s.close_at().to_rfc3339(), "2020-11-27T18:00:00+00:00");
        // National day of mourning for President Carter.
        assert!(Session::on(d(2025, 1, 9)).is_none());
        // Good Friday 2024 and 2025.
        assert!(Session::on(d(2024, 3, 29)).is_none());
        assert!(Session::on(d(2025, 4, 18)).is_none());
        // An ordinary summer day: 9:30 EDT is 13:30 UTC.
        let s = Session::on(d(2024, 7, 10)).unwrap();
        assert_eq!(s.open_at().to_rfc3339(), "2024-07-10T13:30:00+00:00");
        assert_eq!(s.minutes(), 390);
        // Winter: 9:30 EST is 14:30 UTC.
        let s = Session::on(d(2024, 1, 10)).unwrap();
        assert_eq!(s.open_at().to_rfc3339(), "2024-01-10T14:30:00+00:00");
        // Weekends.
        assert!(Session::on(d(2024, 7, 13)).is_none());
    }

    #[test]
    fn next_open_and_close() {
        // Friday after the close -> Monday's open.
        let fri = Session::on(d(2024, 7, 12)).unwrap().close_at();
        let open = next_open(fri).unwrap();
        assert_eq!(open, Session::on(d(2024, 7, 15)).unwrap().open_at());
        assert_eq!(
            next_close(fri).unwrap(),
            Session::on(d(2024, 7, 15)).unwrap().close_at()
        );
        // During a session, the close is today's.
        let mid = Session::on(d(2024, 7, 10)).unwrap().open_at() + Duration::hours(1);
        assert!(session_at(mid).is_some());
        assert_eq!(
            next_close(mid).unwrap(),
            Session::on(d(2024, 7, 10)).unwrap().close_at()
        );
        assert_eq!(
            last_full_session(mid).unwrap().date,
            d(2024, 7, 9),
            "the session in progress is not full yet"
        );
    }
}
