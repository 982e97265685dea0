//! Paging parameters shared by every list endpoint (API.md §1.2): `page`, `perPage`,
//! `skipTotal`, and the list envelope.

use serde_json::{json, Value};

use super::error::ApiError;

pub const DEFAULT_PER_PAGE: u32 = 30;
pub const MAX_PER_PAGE: u32 = 1000;

/// Parsed `page`, `perPage`, `skipTotal`, `sort`, `filter` (raw).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListParams {
    pub page: u32,
    pub per_page: u32,
    pub skip_total: bool,
    pub sort: Option<String>,
    pub filter: Option<String>,
}

/// Go's `strconv.ParseBool`, which PocketBase uses for `skipTotal`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl ListParams {
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut p = ListParams {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            skip_total: false,
            sort: None,
            filter: None,
        };
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "page" => {
                    let n: i64 = value
                        .trim()
                        .parse()
                        .map_err(|_| ApiError::bad_request("Invalid page: must be an integer."))?;
                    p.page = if n <= 0 {
                        1
                    } else {
                        n.min(u32::MAX as i64) as u32
                    };
                }
                "perPage" => {
                    let n: i64 = value.trim().parse().map_err(|_| {
                        ApiError::bad_request("Invalid perPage: must be an integer.")
                    })?;
                    p.per_page = if n <= 0 {
                        DEFAULT_PER_PAGE
                    } else {
                        n.min(MAX_PER_PAGE as i64) as u32
                    };
                }
                "skipTotal" => {
                    p.skip_total = parse_bool(&value).ok_or_else(|| {
                        ApiError::bad_request("Invalid skipTotal: must be a boolean.")
                    })?;
                }
                "sort" if !value.trim().is_empty() => p.sort = Some(value.into_owned()),
                "filter" if !value.trim().is_empty() => p.filter = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(p)
    }

    /// The list envelope. `total` is `None` when `skipTotal` was asked for (totals are -1).
    pub fn envelope(&self, items: Vec<Value>, total: Option<u64>) -> Value {
        let (total_items, total_pages) = match total {
            Some(t) => (t as i64, t.div_ceil(u64::from(self.per_page)) as i64),
            None => (-1, -1),
        };
        json!({
            "page": self.page,
            "perPage": self.per_page,
            "totalItems": total_items,
            "totalPages": total_pages,
            "items": items,
        })
    }

    /// [`ListParams::envelope`] around items already written as a JSON array; the same
    /// keys in the same order.
    pub fn envelope_json(&self, items: &str, total: Option<u64>) -> String {
        let (total_items, total_pages) = match total {
            Some(t) => (t as i64, t.div_ceil(u64::from(self.per_page)) as i64),
            None => (-1, -1),
        };
        format!(
            "{{\"page\":{},\"perPage\":{},\"totalItems\":{total_items},\"totalPages\":{total_pages},\"items\":{items}}}",
            self.page, self.per_page
        )
    }

    /// Offset of the first item of the page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pocketbase_paging_rules() {
        let p = ListParams::parse(None).unwrap();
        assert_eq!((p.page, p.per_page, p.skip_total), (1, 30, false));
        let p = ListParams::parse(Some("page=0&perPage=5000&skipTotal=t")).unwrap();
        assert_eq!((p.page, p.per_page, p.skip_total), (1, 1000, true));
        let p = ListParams::parse(Some("page=-3&perPage=0")).unwrap();
        assert_eq!((p.page, p.per_page), (1, 30));
        for bad in ["page=x", "perPage=1.5", "skipTotal=yes"] {
            assert_eq!(
                ListParams::parse(Some(bad)).unwrap_err().status.as_u16(),
                400,
                "{bad}"
            );
        }
        let env = ListParams::parse(Some("perPage=2"))
            .unwrap()
            .envelope(vec![], Some(5));
        assert_eq!(env["totalPages"], 3);
        let env = ListParams::parse(Some("skipTotal=1"))
            .unwrap()
            .envelope(vec![], None);
        assert_eq!(
            (env["totalItems"].clone(), env["totalPages"].clone()),
            (json!(-1), json!(-1))
        );
    }
}
