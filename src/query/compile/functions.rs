//! Functions (`strftime`, `geoDistance`) and the datetime macros (`@now`, `@todayStart`, …).

use rusqlite::types::Value as SqlValue;

use super::{err, Compiler, Value_};
use crate::query::ast::{Operand, Span};
use crate::query::QueryError;

impl Compiler<'_> {
    pub(super) fn function(
        &mut self,
        name: &str,
        args: &[Operand],
        span: Span,
    ) -> Result<Value_, QueryError> {
        let mut compiled = Vec::with_capacity(args.len());
        for a in args {
            let v = self.operand(a)?;
            if v.multi {
                return Err(err("function arguments must be single values", a.span()));
            }
            compiled.push(v);
        }
        let join_args = |vals: &[Value_]| -> (String, Vec<SqlValue>) {
            let mut params = Vec::new();
            let sqls: Vec<String> = vals
                .iter()
                .map(|v| {
                    params.extend(v.params.iter().cloned());
                    v.sql.clone()
                })
                .collect();
            (sqls.join(", "), params)
        };
        match name {
            "strftime" => {
                if compiled.len() < 2 {
                    return Err(err(
                        "strftime(format, time, modifiers...) needs at least 2 arguments",
                        span,
                    ));
                }
                let (sql, params) = join_args(&compiled);
                Ok(Value_::scalar(format!("strftime({sql})"), params, false))
            }
            "geoDistance" => {
                if compiled.len() != 4 {
                    return Err(err(
                        "geoDistance(lonA, latA, lonB, latB) needs 4 arguments",
                        span,
                    ));
                }
                let (sql, params) = join_args(&compiled);
                Ok(Value_::scalar(
                    format!("kb_geo_distance({sql})"),
                    params,
                    false,
                ))
            }
            other => Err(err(
                format!("unknown function {other:?} (known: strftime, geoDistance)"),
                span,
            )),
        }
    }
}

/// The datetime macros (UTC), API.md §3.8.
pub fn datetime_macro(name: &str) -> Option<SqlValue> {
    use chrono::{Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
    let now = Utc::now();
    let fmt = |t: chrono::DateTime<Utc>| SqlValue::Text(crate::util::format_datetime(t));
    let day_start =
        |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    let day_end = |d: NaiveDate| {
        Utc.from_utc_datetime(&d.and_hms_milli_opt(23, 59, 59, 999).expect("valid time"))
    };
    let today = now.date_naive();
    let month_start = today.with_day(1)?;
    let next_month = if today.month() == 12 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)?
    };
    let month_end = next_month.pred_opt()?;
    Some(match name {
        "@now" => fmt(now),
        "@yesterday" => fmt(now - Duration::days(1)),
        "@tomorrow" => fmt(now + Duration::days(1)),
        "@todayStart" => fmt(day_start(today)),
        "@todayEnd" => fmt(day_end(today)),
        "@monthStart" => fmt(day_start(month_start)),
        "@monthEnd" => fmt(day_end(month_end)),
        "@yearStart" => fmt(day_start(NaiveDate::from_ymd_opt(today.year(), 1, 1)?)),
        "@yearEnd" => fmt(day_end(NaiveDate::from_ymd_opt(today.year(), 12, 31)?)),
        "@second" => SqlValue::Integer(i64::from(now.second())),
        "@minute" => SqlValue::Integer(i64::from(now.minute())),
        "@hour" => SqlValue::Integer(i64::from(now.hour())),
        "@day" => SqlValue::Integer(i64::from(now.day())),
        "@month" => SqlValue::Integer(i64::from(now.month())),
        "@weekday" => SqlValue::Integer(i64::from(now.weekday().num_days_from_sunday())),
        "@year" => SqlValue::Integer(i64::from(now.year())),
        _ => return None,
    })
}
