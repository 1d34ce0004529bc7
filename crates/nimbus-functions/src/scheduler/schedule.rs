//! Cron schedules from `crons.js` (`interval`, `hourly`, `daily`, `weekly`, `monthly`, `cron`)
//! and when each next runs. Calendar schedules become cron patterns evaluated in UTC by
//! `croner`; intervals are plain arithmetic.

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;
use serde_json::Value as Json;

use crate::error::FunctionError;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every `period_ms`.
    Interval {
        /// Period.
        period_ms: f64,
    },
    /// A 5-field cron pattern, in UTC.
    Calendar {
        /// The parsed pattern (calendar schedules are expressed as `m h dom mon dow`).
        cron: Box<Cron>,
    },
}

fn minute_for(json: &Json, identifier: &str) -> u32 {
    json["minuteUTC"]
        .as_u64()
        .map(|m| m as u32)
        .unwrap_or_else(|| {
            // Convex picks a stable minute per job when none is given, spreading hourly load.
            identifier
                .bytes()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
                % 60
        })
}

impl Schedule {
    /// Parses one job's `schedule` JSON.
    pub fn from_json(json: &Json, identifier: &str) -> Result<Self, FunctionError> {
        let bad = |why: String| {
            FunctionError::user(format!(
                "Cron job \"{identifier}\" has an invalid schedule: {why}"
            ))
        };
        let number = |field: &str| {
            json[field]
                .as_u64()
                .ok_or_else(|| bad(format!("`{field}` must be a whole number")))
        };
        let pattern = match json["type"].as_str() {
            Some("interval") => {
                let period_ms = if let Some(s) = json["seconds"].as_f64() {
                    s * 1000.0
                } else if let Some(m) = json["minutes"].as_f64() {
                    m * 60_000.0
                } else if let Some(h) = json["hours"].as_f64() {
                    h * 3_600_000.0
                } else {
                    return Err(bad("an interval needs seconds, minutes or hours".into()));
                };
                if period_ms.is_nan() || period_ms < 1000.0 {
                    return Err(bad("intervals must be at least one second".into()));
                }
                return Ok(Self::Interval { period_ms });
            }
            Some("hourly") => format!("{} * * * *", minute_for(json, identifier)),
            Some("daily") => format!(
                "{} {} * * *",
                minute_for(json, identifier),
                number("hourUTC")?
            ),
            Some("weekly") => {
                let day = match json["dayOfWeek"].as_str() {
                    Some("sunday") => 0,
                    Some("monday") => 1,
                    Some("tuesday") => 2,
                    Some("wednesday") => 3,
                    Some("thursday") => 4,
                    Some("friday") => 5,
                    Some("saturday") => 6,
                    other => return Err(bad(format!("unknown dayOfWeek {other:?}"))),
                };
                format!(
                    "{} {} * * {day}",
                    minute_for(json, identifier),
                    number("hourUTC")?
                )
            }
            Some("monthly") => format!(
                "{} {} {} * *",
                minute_for(json, identifier),
                number("hourUTC")?,
                number("day")?
            ),
            Some("cron") => json["cron"]
                .as_str()
                .ok_or_else(|| bad("`cron` must be a string".into()))?
                .to_owned(),
            other => return Err(bad(format!("unknown schedule type {other:?}"))),
        };
        let cron: Cron = pattern
            .parse()
            .map_err(|e| bad(format!("\"{pattern}\": {e}")))?;
        Ok(Self::Calendar {
            cron: Box::new(cron),
        })
    }

    /// The first run strictly after `after_ms` (ms since the Unix epoch, UTC).
    pub fn next_after(&self, after_ms: f64) -> Option<f64> {
        match self {
            Self::Interval { period_ms } => Some(after_ms + period_ms),
            Self::Calendar { cron, .. } => {
                let start: DateTime<Utc> = Utc.timestamp_millis_opt(after_ms as i64).single()?;
                let next = cron.find_next_occurrence(&start, false).ok()?;
                Some(next.timestamp_millis() as f64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ms(text: &str) -> f64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis() as f64
    }

    #[test]
    fn every_schedule_type_computes_its_next_run() {
        let at = ms("2026-11-22T10:20:00Z");
        let next = |j: Json| {
            Schedule::from_json(&j, "job")
                .unwrap()
                .next_after(at)
                .unwrap()
        };
        assert_eq!(
            next(json!({ "type": "interval", "minutes": 1 })),
            at + 60_000.0
        );
        assert_eq!(
            next(json!({ "type": "hourly", "minuteUTC": 5 })),
            ms("2026-11-22T11:05:00Z")
        );
        assert_eq!(
            next(json!({ "type": "daily", "hourUTC": 3, "minuteUTC": 30 })),
            ms("2026-11-23T03:30:00Z")
        );
        // 2026-11-22 is a Sunday.
        assert_eq!(
            next(json!({ "type": "weekly", "dayOfWeek": "monday", "hourUTC": 8, "minuteUTC": 0 })),
            ms("2026-11-23T08:00:00Z")
        );
        assert_eq!(
            next(json!({ "type": "monthly", "day": 1, "hourUTC": 0, "minuteUTC": 0 })),
            ms("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            next(json!({ "type": "cron", "cron": "15 */2 * * *" })),
            ms("2026-11-22T12:15:00Z")
        );
    }

    #[test]
    fn bad_schedules_are_rejected() {
        assert!(
            Schedule::from_json(&json!({ "type": "cron", "cron": "not a cron" }), "j").is_err()
        );
        assert!(Schedule::from_json(&json!({ "type": "interval" }), "j").is_err());
        assert!(
            Schedule::from_json(
                &json!({ "type": "weekly", "dayOfWeek": "funday", "hourUTC": 1 }),
                "j"
            )
            .is_err()
        );
    }
}
