//! Credentials with a recognizable shape: vendor API keys and tokens, JWTs,
//! and the value of `aws_secret_access_key`. PEM private-key blocks span
//! lines and are found by [`pem`](super::pem) instead.
//!
//! One regex holds every shape. Each alternative starts with a literal
//! prefix (`sk-`, `AKIA`, `ghp_`, `eyJ`, ...), so the regex engine's
//! literal prefilter skips ordinary text at memory speed; nothing matches a
//! bare UUID, git SHA, hex digest or base64 blob, which lack those prefixes.

use super::interrupts::PIECE_BYTES;
use super::text::{char_at, word_before};
use super::window::Window;
use super::{Entity, Found};
use regex::Regex;
use std::sync::LazyLock;

/// The name before an AWS secret access key; it is context, not secret, so
/// the match is only the 40-character value after it.
const AWS_SECRET_NAMES: [&str; 2] = ["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"];
const AWS_SECRET_LEN: usize = 40;

static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    let shapes = [
        // Anthropic: sk-ant-api03-..., sk-ant-admin01-...
        r"sk-ant-[a-z]{3,10}[0-9]{2}-[A-Za-z0-9_-]{32,}",
        // OpenAI project, service-account and admin keys.
        r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{32,}",
        // OpenAI legacy keys: sk- and 48 alphanumerics; never hyphenated
        // words such as sk-learn.
        r"sk-[A-Za-z0-9]{32,}",
        // AWS access key ids (long-lived and temporary).
        r"(?:AKIA|ASIA)[A-Z0-9]{16}",
        // GitHub tokens: personal, OAuth, user-to-server, server, refresh;
        // fine-grained personal access tokens.
        r"gh[pousr]_[A-Za-z0-9]{36,}",
        r"github_pat_[A-Za-z0-9_]{22,}",
        // GitLab personal access tokens.
        r"glpat-[A-Za-z0-9_-]{20,}",
        // Slack bot, user, app, refresh and session tokens; webhooks.
        r"xox[abprs]-[A-Za-z0-9-]{10,}",
        r"(?:https?://)?hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}",
        // Stripe secret, restricted and live publishable keys.
        r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        r"pk_live_[A-Za-z0-9]{16,}",
        // Google API keys.
        r"AIza[A-Za-z0-9_-]{35}",
        // JWTs: base64url JSON header and payload (`{"` encodes as `eyJ`),
        // then a signature, empty for unsigned tokens.
        r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
        // AWS secret access key after its name: `key = value`, `key: "value"`.
        r#"(?:aws_secret_access_key|AWS_SECRET_ACCESS_KEY)["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9/+]{40}"#,
    ];
    Regex::new(&shapes.join("|")).expect("secret patterns are valid")
});

/// Characters that would make a match part of a longer token.
fn continues_token(c: char) -> bool {
    c.is_alphanumeric() || "_-+/=".contains(c)
}

/// How far before its window a search starts. Windows are cut where no
/// secret can lie, except inside an unstructured blob; there a secret may
/// start before the cut yet be too short there for the regex to see it.
/// Starting a little earlier finds it (anything found twice is merged when
/// overlaps are resolved).
const REACH_BACK: usize = 256;

/// Appends the secrets that start in (or just before) `window`.
pub(super) fn scan(window: &Window, out: &mut Vec<Found>) {
    let hay = window.hay();
    let mut pos = window
        .text
        .floor_char_boundary(window.start.saturating_sub(REACH_BACK));
    while pos < hay.len() {
        let Some(found) = SECRET.find_at(hay, pos) else {
            break;
        };
        // A match cut short by the window's end is redone on the text after
        // it (again, only a cut inside a blob can do that), but at most a
        // piece further: real credentials are far shorter, and the bound
        // keeps a gigantic token linear.
        let found = if found.end() == hay.len() {
            let reach = window.text.floor_char_boundary(hay.len() + PIECE_BYTES);
            SECRET
                .find_at(&window.text[..reach], found.start())
                .unwrap_or(found)
        } else {
            found
        };
        pos = found.end();
        let aws_value = AWS_SECRET_NAMES
            .iter()
            .any(|name| found.as_str().starts_with(name));
        // The key name may be glued to a prefix (`MY_AWS_SECRET_ACCESS_KEY`);
        // every other secret must start a token.
        let starts_token = aws_value || !word_before(window.text, found.start());
        let ends_token = !char_at(window.text, found.end()).is_some_and(continues_token);
        if starts_token && ends_token {
            let start = if aws_value {
                found.end() - AWS_SECRET_LEN
            } else {
                found.start()
            };
            out.push(Found {
                start,
                end: found.end(),
                entity: Entity::Secret,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(text: &str) -> Vec<&str> {
        super::super::window::matched_by(scan, text)
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn every_shape() {
        let anthropic = format!("sk-ant-api03-{}AA", "x7Yb_Q-9".repeat(12));
        let openai_project = format!("sk-proj-{}", "Ab3_x-Z9".repeat(16));
        let openai_legacy = "sk-Q7dVtZp0rN2xKc4YhL8mW3aB1sE6fG9jT3BlbkFJuI5oP0qR2sT4vX6";
        let github_pat = format!(
            "github_pat_11ABCDEFG0{}_{}",
            "a1B2c3D4e5".repeat(2),
            "Z9y8X7w6V5".repeat(6)
        );
        let samples = [
            anthropic.as_str(),
            openai_project.as_str(),
            openai_legacy,
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAY34FZKBOKMUTVV7A",
            "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",
            "gho_16C7e42F292c6912E7710c838347Ae178B4a",
            "ghu_16C7e42F292c6912E7710c838347Ae178B4a",
            "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
            "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498",
            github_pat.as_str(),
            "glpat-xxxxxxxxxxxxxxxxxxxx",
            "glpat-Ab3De5Fg7Hi9Jk1Lm3No",
            "xoxb-2637295740-6172519371284-aBcDeFgHiJkLmNoPqRsTuVwX",
            "xoxp-2637295740-2637295741-6172519371284-0123456789abcdef0123456789abcdef",
            "xoxa-2-2637295740-6172519371284",
            "xoxr-2637295740-6172519371284",
            "xoxs-2637295740-6172519371284",
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
            "rk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "pk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
            JWT,
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjMifQ.",
        ];
        for secret in samples {
            for text in [
                secret.to_string(),
                format!("token: {secret}, ok"),
                format!("\"{secret}\""),
            ] {
                assert_eq!(secrets(&text), [secret], "{text}");
            }
        }
    }

    #[test]
    fn aws_secret_value_after_its_name() {
        let value = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        for text in [
            format!("aws_secret_access_key = {value}"),
            format!("aws_secret_access_key={value}\n"),
            format!("AWS_SECRET_ACCESS_KEY: \"{value}\""),
            format!("{{\"aws_secret_access_key\": \"{value}\"}}"),
            format!("export MY_AWS_SECRET_ACCESS_KEY='{value}'"),
            format!("aws_secret_access_key\t=\t{value}"),
        ] {
            assert_eq!(secrets(&text), [value], "{text}");
        }
        // Not without its name, not when the value is longer, not on the
        // next line.
        for text in [
            value.to_string(),
            format!("aws_secret_access_key = {value}A"),
            format!("aws_secret_access_key =\n{value}"),
        ] {
            assert!(secrets(&text).is_empty(), "{text}");
        }
    }

    #[test]
    fn look_alikes_are_not_secrets() {
        for text in [
            "pip install sk-learn and scikit-learn",
            "sk-this-is-a-long-hyphenated-identifier-name-here",
            "sk-short",
            "123e4567-e89b-12d3-a456-426614174000",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            "QUtJQUlPU0ZPRE5ON0VYQU1QTEVleUpoYkdjaU9pSklVekkxTmlKOS5leUo=",
            "xAKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLEX",
            "AKIAiosfodnn7example",
            "mask-Q7dVtZp0rN2xKc4YhL8mW3aB1sE6fG9jT3Blbk",
            "sk-Q7dVtZp0rN2xKc4YhL8mW3aB1sE6fG9jT3Blbk_x",
            "ghp_tooShort123",
            "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQeX",
            "eyJhbGciOiJIUzI1NiJ9 is only a header",
            "eyJhbGciOiJIUzI1NiJ9.notjson.sig",
            "sk_live_short",
            "pk_test_4eC39HqLyjWDarjtT1zdp7dc",
        ] {
            assert!(secrets(text).is_empty(), "{text}: {:?}", secrets(text));
        }
    }

    #[test]
    fn a_match_cut_by_the_window_end_is_completed() {
        let text = format!("id {JWT} end");
        let cut = text.find(".Sfl").unwrap() + 10;
        let mut out = Vec::new();
        scan(
            &Window {
                text: &text,
                start: 0,
                end: cut,
            },
            &mut out,
        );
        assert_eq!(
            out.iter()
                .map(|f| &text[f.start..f.end])
                .collect::<Vec<_>>(),
            [JWT]
        );
    }
}
