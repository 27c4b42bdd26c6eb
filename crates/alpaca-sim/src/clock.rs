//! The simulated clock: real time, a fixed instant, or a replay of the last
//! full session in real time. Tests pin it and move it on by command.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use crate::calendar;

/// How the simulator's clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// Wall-clock time.
    Real,
    /// Stands still at an instant until it is set or advanced.
    Fixed(DateTime<Utc>),
    /// Starts at the opening of the last full session before the start and
    /// runs in real time from there, so orders fill at any hour of the day.
    Replay,
}

impl ClockMode {
    /// Parses `real`, `replay` or `fixed:<rfc3339>`.
    pub fn parse(s: &str) -> Result<ClockMode, String> {
        match s {
            "real" => Ok(ClockMode::Real),
            "replay" => Ok(ClockMode::Replay),
            _ => {
                let Some(t) = s.strip_prefix("fixed:") else {
                    return Err(format!(
                        "unknown clock {s:?}: expected real, replay or fixed:<RFC 3339 time>"
                    ));
                };
                DateTime::parse_from_rfc3339(t)
                    .map(|t| ClockMode::Fixed(t.with_timezone(&Utc)))
                    .map_err(|e| format!("bad time in {s:?}: {e}"))
            }
        }
    }
}

/// The clock's state: `now = base + (elapsed real time, when running)`.
#[derive(Debug, Clone)]
pub struct SimClock {
    base: DateTime<Utc>,
    started: Instant,
    running: bool,
}

impl SimClock {
    /// A clock in the given mode, started now.
    pub fn new(mode: ClockMode) -> SimClock {
        let real_now = Utc::now();
        let (base, running) = match mode {
            ClockMode::Real => (real_now, true),
            ClockMode::Fixed(t) => (t, false),
            ClockMode::Replay => (
                calendar::last_full_session(real_now).map_or(real_now, |s| s.open_at()),
                true,
            ),
        };
        SimClock {
            base,
            started: Instant::now(),
            running,
        }
    }

    /// The simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        if self.running {
            let elapsed = Duration::from_std(self.started.elapsed()).unwrap_or(Duration::zero());
            self.base + elapsed
        } else {
            self.base
        }
    }

    /// Stops the clock at `t`.
    pub fn set(&mut self, t: DateTime<Utc>) {
        self.base = t;
        self.started = Instant::now();
        self.running = false;
    }

    /// Moves the clock on by `by` (keeps running if it was running).
    pub fn advance(&mut self, by: Duration) {
        let now = self.now();
        self.base = now + by;
        self.started = Instant::now();
    }

    /// Whether the clock follows real time.
    pub fn is_running(&self) -> bool {
        self.running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_modes() {
        assert_eq!(ClockMode::parse("real"), Ok(ClockMode::Real));
        assert_eq!(ClockMode::parse("replay"), Ok(ClockMode::Replay));
        let t = DateTime::parse_from_rfc3339("2024-07-10T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            ClockMode::parse("fixed:2024-07-10T14:00:00Z"),
            Ok(ClockMode::Fixed(t))
        );
        assert!(ClockMode::parse("fixed:yesterday").is_err());
        assert!(ClockMode::parse("fast").is_err());
    }

    #[test]
    fn fixed_clock_moves_only_on_command() {
        let t = DateTime::parse_from_rfc3339("2024-07-10T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut c = SimClock::new(ClockMode::Fixed(t));
        assert_eq!(c.now(), t);
        c.advance(Duration::minutes(5));
        assert_eq!(c.now(), t + Duration::minutes(5));
        c.set(t);
        assert_eq!(c.now(), t);
    }

    #[test]
    fn replay_starts_in_a_session() {
        let c = SimClock::new(ClockMode::Replay);
        assert!(calendar::session_at(c.now()).is_some());
        assert!(c.is_running());
    }
}
