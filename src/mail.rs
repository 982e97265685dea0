//! Outgoing mail: SMTP through lettre when `smtp_host` is set, otherwise each mail is
//! written to the log (development needs no mail server).
//!
//! Mails are sent in the background: the request that caused one answers at once, so
//! its timing does not tell whether a mail went out (no account enumeration by timing).

use std::sync::Arc;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Config, SmtpTls};

/// One mail to one recipient, HTML body.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub html: String,
}

impl Mail {
    /// A mail to `to` from a `{subject, body}` template of a collection's auth options
    /// (`None` or missing keys: empty), rendered for the app.
    pub fn from_template(
        to: String,
        template: Option<&serde_json::Value>,
        app: (&str, &str),
        extra: &[(&str, &str)],
    ) -> Mail {
        let text = |k: &str| {
            template
                .and_then(|t| t.get(k))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        };
        Mail {
            to,
            subject: render(text("subject"), app.0, app.1, extra),
            html: render(text("body"), app.0, app.1, extra),
        }
    }
}

#[derive(Clone)]
pub struct Mailer(Arc<Inner>);

enum Transport {
    Log,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

struct Inner {
    transport: Transport,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail_from address: {0}")]
    From(String),
    #[error("smtp: {0}")]
    Smtp(String),
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Self, MailError> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|e| MailError::From(format!("{}: {e}", config.mail_from)))?;
        let transport = if config.smtp_host.is_empty() {
            Transport::Log
        } else {
            let builder = match config.smtp_tls {
                SmtpTls::None => {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
                }
                SmtpTls::StartTls => {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host)
                        .map_err(|e| MailError::Smtp(e.to_string()))?
                }
                SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.smtp_host)
                    .map_err(|e| MailError::Smtp(e.to_string()))?,
            };
            let mut builder = builder
                .port(config.smtp_port)
                .timeout(Some(std::time::Duration::from_secs(15)));
            if !config.smtp_username.is_empty() {
                builder = builder.credentials(Credentials::new(
                    config.smtp_username.clone(),
                    config.smtp_password.clone(),
                ));
            }
            Transport::Smtp(builder.build())
        };
        Ok(Self(Arc::new(Inner { transport, from })))
    }

    /// Send `mail` now. Prefer [`Mailer::send_later`] on request paths.
    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        match &self.0.transport {
            Transport::Log => {
                tracing::info!(
                    target: "keelbase::mail",
                    to = %mail.to,
                    subject = %mail.subject,
                    body = %mail.html,
                    "mail (no smtp_host configured: logged, not sent)"
                );
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let to: Mailbox = mail
                    .to
                    .parse()
                    .map_err(|e| MailError::Smtp(format!("recipient {}: {e}", mail.to)))?;
                let message = Message::builder()
                    .from(self.0.from.clone())
                    .to(to)
                    .subject(mail.subject)
                    .header(ContentType::TEXT_HTML)
                    .body(mail.html)
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                smtp.send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailError::Smtp(e.to_string()))
            }
        }
    }

    /// Send `mail` in the background; a failure is logged.
    pub fn send_later(&self, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            let to = mail.to.clone();
            if let Err(e) = mailer.send(mail).await {
                tracing::error!(to = %to, error = %e, "sending a mail failed");
            }
        });
    }
}

/// Fill a template's `{APP_NAME}`, `{APP_URL}` and the given `{KEY}`s. Values are
/// HTML-escaped: a record's email or name cannot inject markup into a mail.
pub fn render(template: &str, app_name: &str, app_url: &str, extra: &[(&str, &str)]) -> String {
    let mut out = template
        .replace("{APP_NAME}", &escape(app_name))
        .replace("{APP_URL}", &escape(app_url.trim_end_matches('/')));
    for (key, value) in extra {
        out = out.replace(&format!("{{{key}}}"), &escape(value));
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn templates_fill_and_escape() {
        let out = render(
            "<a href=\"{APP_URL}/x/{TOKEN}\">{APP_NAME}</a> {OTP}",
            "Acme <b>",
            "http://h:1/",
            &[("TOKEN", "t.o.k"), ("OTP", "\"1\"")],
        );
        assert_eq!(
            out,
            "<a href=\"http://h:1/x/t.o.k\">Acme &lt;b&gt;</a> &quot;1&quot;"
        );
    }
}
