//! HS256 JSON Web Tokens, PocketBase's shape: header `{"alg":"HS256","typ":"JWT"}` and
//! claims `{id, type, collectionId, exp, refreshable, …}` with no `iat`/`nbf`/`sub`.
//!
//! Verification follows PocketBase's order: read the claims unverified to learn whose token
//! it is, load that record, then check the signature with the record's key (`tokenKey` +
//! the collection secret) and the expiry. Only HS256 is accepted; `alg: none` and every
//! other algorithm are refused before any key is used.
//! (Hand-written over `hmac`/`sha2`: the `jsonwebtoken` crate would add RSA and elliptic
//! curve code we never use, and its decode-first API does not fit this order.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The claims Keelbase reads. Other claims (`email`, `newEmail`, …) are kept in `extra`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "collectionId")]
    pub collection_id: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshable: Option<bool>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Sign `claims` with `key`.
pub fn sign(claims: &Claims, key: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).expect("claims always serialise");
    let mut out = String::with_capacity(256);
    B64.encode_string(HEADER, &mut out);
    out.push('.');
    B64.encode_string(payload, &mut out);
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(out.as_bytes());
    let sig = mac.finalize().into_bytes();
    out.push('.');
    B64.encode_string(sig, &mut out);
    out
}

/// A token split and parsed but not yet trusted.
pub struct Unverified<'a> {
    pub claims: Claims,
    signing_input: &'a str,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Parse a token without checking its signature. `None` for anything malformed or not HS256.
pub fn decode_unverified(token: &str) -> Option<Unverified<'_>> {
    if token.len() > 4096 {
        return None;
    }
    let mut parts = token.splitn(3, '.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    let header: Header = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
    // SECURITY: only HS256; never `none`, never an asymmetric algorithm with a symmetric key.
    if header.alg != "HS256" {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&B64.decode(p).ok()?).ok()?;
    if claims.id.is_empty() || claims.kind.is_empty() || claims.collection_id.is_empty() {
        return None;
    }
    let signature = B64.decode(s).ok()?;
    Some(Unverified {
        claims,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature,
    })
}

impl Unverified<'_> {
    /// Check the signature (constant time) and that the token has not expired at `now`.
    pub fn verify(self, key: &[u8], now: i64) -> Option<Claims> {
        let mut mac = HmacSha256::new_from_slice(key).ok()?;
        mac.update(self.signing_input.as_bytes());
        mac.verify_slice(&self.signature).ok()?;
        (self.claims.exp > now).then_some(self.claims)
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            id: "abc".into(),
            kind: "auth".into(),
            collection_id: "pbc_1".into(),
            exp,
            refreshable: Some(true),
            extra: Default::default(),
        }
    }

    #[test]
    fn round_trip_and_shape() {
        let t = sign(&claims(2_000_000_000), b"key");
        let head = t.split('.').next().unwrap();
        assert_eq!(B64.decode(head).unwrap(), HEADER.as_bytes());
        let c = decode_unverified(&t).unwrap().verify(b"key", 1).unwrap();
        assert_eq!(c, claims(2_000_000_000));
        let payload: serde_json::Value =
            serde_json::from_slice(&B64.decode(t.split('.').nth(1).unwrap()).unwrap()).unwrap();
        let mut keys: Vec<_> = payload.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["collectionId", "exp", "id", "refreshable", "type"]);
    }

    #[test]
    fn wrong_key_expired_and_tampered_tokens_fail() {
        let t = sign(&claims(100), b"key");
        assert!(decode_unverified(&t).unwrap().verify(b"other", 1).is_none());
        assert!(
            decode_unverified(&t).unwrap().verify(b"key", 100).is_none(),
            "exp is exclusive"
        );
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut forged = claims(100);
        forged.id = "admin".into();
        parts[1] = B64.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = parts.join(".");
        assert!(decode_unverified(&tampered)
            .unwrap()
            .verify(b"key", 1)
            .is_none());
    }

    #[test]
    fn alg_none_and_garbage_are_refused() {
        let none_header = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = B64.encode(serde_json::to_vec(&claims(i64::MAX)).unwrap());
        assert!(decode_unverified(&format!("{none_header}.{payload}.")).is_none());
        for junk in ["", ".", "..", "a.b.c", "x.y", "€.€.€"] {
            assert!(decode_unverified(junk).is_none(), "{junk:?}");
        }
    }
}
