//! A throwaway token issuer for tests and benches: a P-256 key made at start,
//! its JWKS, and access tokens minted with it — well-formed ones and every
//! hostile shape a resource server must refuse.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a test helper: each test uses part of it, and fails loudly"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};

/// An issuer with its own signing key.
pub(crate) struct Issuer {
    pub(crate) issuer: String,
    pub(crate) kid: String,
    key: EncodingKey,
    /// The public key's JWK.
    pub(crate) jwk: Value,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Issuer {
    /// A new key for `issuer`, named `kid`.
    pub(crate) fn new(issuer: &str, kid: &str) -> Self {
        let signing = loop {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).unwrap();
            if let Ok(key) = SigningKey::from_slice(&seed) {
                break key;
            }
        };
        let point = signing.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        assert_eq!(bytes.len(), 65, "an uncompressed P-256 point");
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&bytes[33..]),
        });
        let der = signing.to_pkcs8_der().unwrap();
        Self {
            issuer: issuer.to_owned(),
            kid: kid.to_owned(),
            key: EncodingKey::from_ec_der(der.as_bytes()),
            jwk,
        }
    }

    /// The JWKS of these issuers' keys.
    pub(crate) fn jwks(issuers: &[&Issuer]) -> String {
        json!({ "keys": issuers.iter().map(|i| i.jwk.clone()).collect::<Vec<_>>() }).to_string()
    }

    /// The claims of a good token for `sub`, for `audience`, valid for an hour.
    pub(crate) fn claims(&self, sub: &str, audience: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 3600,
        })
    }

    /// A token with these claims, signed by this key and naming its kid.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    /// A token with these claims signed by this key under another header.
    pub(crate) fn sign_with(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.key).unwrap()
    }

    /// A good token.
    pub(crate) fn token(&self, sub: &str, audience: &str) -> String {
        self.sign(&self.claims(sub, audience))
    }

    /// A good token with these extra claims.
    pub(crate) fn token_with(&self, sub: &str, audience: &str, extra: &Value) -> String {
        let mut claims = self.claims(sub, audience);
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.sign(&claims)
    }

    /// The classic key confusion: HS256 with the public key (its JWK text, and
    /// its SEC1 bytes) as the HMAC secret.
    pub(crate) fn hs256_with_public_key(&self, claims: &Value) -> Vec<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let jwk_text = self.jwk.to_string();
        let x = URL_SAFE_NO_PAD
            .decode(self.jwk["x"].as_str().unwrap())
            .unwrap();
        [jwk_text.into_bytes(), x]
            .iter()
            .map(|secret| {
                jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap())
                    .unwrap()
            })
            .collect()
    }
}

/// An unsigned token: `alg: none` and an empty signature.
pub(crate) fn alg_none(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}
