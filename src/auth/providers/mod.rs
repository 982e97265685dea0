//! OAuth2 providers: the presets (endpoints, scopes, and how each provider's user JSON
//! becomes a [`ProviderUser`]), the generic OpenID Connect provider, and the two calls of
//! the authorization-code flow (code → token, token → user).
//!
//! SECURITY:
//! - An email counts as verified only when the provider vouches for it: OIDC/Google
//!   `email_verified`, GitHub's verified primary address (`/user/emails`), GitLab
//!   `confirmed_at`, Discord `verified`, Apple's id_token `email_verified`. Microsoft's
//!   `mail` is never trusted: tenants can set it to any address ("nOAuth").
//! - Outbound requests follow no redirects, time out, and read at most [`MAX_BODY`].
//!   Their URLs come from the collection options, which only superusers set. The avatar
//!   URL a provider returns is handed on as text and never fetched.
//! - ID tokens are read only from the token endpoint's own response (never from the
//!   client), so, as OpenID Connect Core §3.1.3.7 allows, TLS to that endpoint stands in
//!   for the signature; `aud`, `exp` and (Apple) `iss` are still checked, and a userinfo
//!   `sub` must equal the id_token's.
//!
//! Nothing here knows HTTP handlers or the database.
//!
//! The parts: `presets` (each provider's endpoints and scopes, the configured
//! [`Provider`] and its authorization URL), `user` (a provider's user JSON → a
//! [`ProviderUser`]), `exchange` (the HTTP client: code → token → user, id_token checks).

mod exchange;
mod presets;
mod user;

pub use exchange::{OAuth2Client, ProviderError};
pub use presets::{code_challenge, Provider};
pub use user::ProviderUser;

/// Largest provider response read (token or user JSON).
pub const MAX_BODY: usize = 1024 * 1024;
