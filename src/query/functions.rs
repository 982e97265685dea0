//! SQL functions the compiler emits that SQLite does not have built in. Registered on
//! every connection (`db::conn`).

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

/// Great-circle distance in km between two lon/lat points (haversine, radius 6371 km),
/// as PocketBase's `geoDistance`. NULL when an argument is not a number.
pub fn geo_distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin()
}

pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "kb_geo_distance",
        4,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let arg = |i: usize| ctx.get::<Option<f64>>(i).ok().flatten();
            Ok(match (arg(0), arg(1), arg(2), arg(3)) {
                (Some(a), Some(b), Some(c), Some(d)) => Some(geo_distance(a, b, c, d)),
                _ => None,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let d = super::geo_distance(0.0, 0.0, 0.0, 1.0);
        assert!((d - 111.19).abs() < 0.1, "{d}");
        assert_eq!(super::geo_distance(23.5, 42.1, 23.5, 42.1), 0.0);
    }
}
