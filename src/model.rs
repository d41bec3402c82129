//! The vocabulary shared by the language, the evaluator and the lifecycle:
//! verdict classes, scopes, SMTP phases, normalisation flags, and the
//! standard reasons of SPEC §3 with their default class and scope.
//!
//! The standard reasons are built in so that every policy speaks the same
//! names; a policy may declare more (see `reason` in docs/language.md).

use serde::{Deserialize, Serialize};

/// The version of the JSON shapes of the three things Rebound hands out —
/// verdicts, transitions and contacts — carried by every such object as
/// `"schema"` (docs/evaluation.md, docs/lifecycle.md). It changes only when a
/// field changes meaning or goes away; a new field does not change it, so a
/// reader that ignores unknown fields keeps working for as long as it reads
/// the number it was written for.
pub const SCHEMA: u32 = 1;

macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The name used in policies and JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $text),+ }
            }

            /// Reads a name used in policies and JSON.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$var),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What a bounce means for the contact (SPEC §2).
    Class {
        /// The address does not work and will not.
        Hard = "hard",
        /// A recipient-side problem that may pass; counts a strike.
        Soft = "soft",
        /// The receiver refused the sender or the message.
        Block = "block",
        /// The receiver asked to slow down or retry.
        Defer = "defer",
        /// Not a delivery failure.
        Ignore = "ignore",
    }
}

impl Class {
    /// Whether a verdict of this class affects the contact (strike or error).
    pub fn strikes(self) -> bool {
        matches!(self, Class::Hard | Class::Soft)
    }
}

vocabulary! {
    /// Whose fault a bounce is (SPEC §2).
    Scope {
        /// The recipient's mailbox.
        Recipient = "recipient",
        /// The recipient's domain.
        RecipientDomain = "recipient_domain",
        /// The sending IP.
        SenderIp = "sender_ip",
        /// The sending domain.
        SenderDomain = "sender_domain",
        /// The message content.
        Content = "content",
        /// The message as a whole (size, format, policy).
        Message = "message",
        /// The network between.
        Network = "network",
        /// Not known.
        Unknown = "unknown",
    }
}

impl Scope {
    /// Whether this scope blames the sender, which a striking verdict must not.
    pub fn blames_sender(self) -> bool {
        matches!(self, Scope::SenderIp | Scope::SenderDomain | Scope::Content | Scope::Message)
    }
}

vocabulary! {
    /// The SMTP phase an answer came in.
    Phase {
        /// The greeting after connecting.
        Connect = "connect",
        /// The answer to HELO/EHLO.
        Helo = "helo",
        /// The answer to MAIL FROM.
        Mail = "mail",
        /// The answer to RCPT TO.
        Rcpt = "rcpt",
        /// The answer to DATA or the end of data.
        Data = "data",
    }
}

vocabulary! {
    /// What normalisation noticed about a response; rules test them with `flag`.
    Flag {
        /// The reply class and the status class disagree (`421 5.7.32`).
        ClassMismatch = "class_mismatch",
        /// A status-like token that is not an RFC 3463 code (`554 30`, `(554.30)`).
        OddStatus = "odd_status",
        /// The text carries a reply nested in another (`… -> 451 4.2.0 …`).
        Nested = "nested",
        /// The code or status was found only in the text.
        FromText = "from_text",
        /// The reply was multi-line and has been joined.
        Multiline = "multiline",
        /// The sending MTA wrapped the receiver's words (`host … said:`).
        Wrapped = "wrapped",
        /// The report is final (DSN `Action: failed`, Postfix `status=expired`)
        /// but the answer is temporary (4xx, `4.x.x`): the MTA gave up retrying
        /// and the message expired.
        FinalTemporary = "final_temporary",
    }
}

/// A reason's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonInfo {
    /// The reason's name.
    pub name: String,
    /// The class when the outcome names none.
    pub class: Class,
    /// The class instead, when the reply is 4xx (`not_accept`: soft on 4xx).
    pub class_on_4xx: Option<Class>,
    /// The scope when the outcome names none.
    pub scope: Scope,
    /// One line on what it means.
    pub description: String,
    /// Whether it is one of the standard reasons.
    pub standard: bool,
    /// The RFC 3463 subjects (bit n for x.n.*) of a status under which text
    /// may choose this reason; [`ALL_SUBJECTS`] for any.
    pub subjects: u8,
}

/// Every subject: text may choose the reason under any status.
pub const ALL_SUBJECTS: u8 = 0xff;

/// The subjects a standard reason belongs to (RFC 3463 §3: x.1 addressing,
/// x.2 mailbox, x.3 mail system, x.4 network and routing, x.5 mail delivery
/// protocol, x.6 message content, x.7 security or policy). A specific
/// status fixes the subject of an answer; words choose the reason within it
/// and do not cross it (docs/knowledge.md).
pub fn standard_subjects(reason: &str) -> u8 {
    let bits = |s: &[u8]| s.iter().fold(0u8, |acc, n| acc | (1 << n));
    match reason {
        // RFC 3463 X.7.1 covers "per-recipient filtering" too.
        "user_unknown" => bits(&[1, 7]),
        "has_moved" => bits(&[1]),
        "host_unknown" => bits(&[1, 4]),
        "not_accept" => bits(&[1, 3, 7]),
        "suspend" | "filtered" => bits(&[2, 7]),
        "mailbox_full" => bits(&[2]),
        "system_full" | "mailer_error" => bits(&[3]),
        "system_error" => bits(&[3, 4, 5]),
        "network_error" => bits(&[4]),
        // The sending MTA gave up retrying, whatever the last answer was about:
        // its queue's word, not the receiver's, so any subject.
        "expired" => ALL_SUBJECTS,
        // X.2.1 "not accepting messages" covers a mailbox that receives too fast.
        "rate_limited" => bits(&[2, 3, 4, 5, 7]),
        "blocked" | "bad_reputation" | "require_ptr" | "auth_failure" => bits(&[7]),
        "rejected" => bits(&[1, 7]),
        "security_error" | "failed_starttls" => bits(&[5, 7]),
        "no_relaying" => bits(&[1, 4, 7]),
        "spam_detected" | "virus_detected" | "policy_violation" => bits(&[6, 7]),
        "not_compliant_rfc" => bits(&[5, 6, 7]),
        "content_error" => bits(&[6]),
        "message_too_big" => bits(&[2, 3]),
        "syntax_error" => bits(&[5]),
        _ => ALL_SUBJECTS,
    }
}

/// The subjects of a mask, for messages (`x.1, x.4`).
pub fn subjects_text(mask: u8) -> String {
    if mask == ALL_SUBJECTS {
        return "any".into();
    }
    (1..8u8).filter(|n| mask & (1 << n) != 0).map(|n| format!("x.{n}")).collect::<Vec<_>>().join(", ")
}

/// The standard reasons of SPEC §3: name, class, class on 4xx, scope, meaning.
pub const STANDARD_REASONS: &[(&str, Class, Option<Class>, Scope, &str)] = &[
    ("user_unknown", Class::Hard, None, Scope::Recipient, "the local part does not exist"),
    ("host_unknown", Class::Hard, None, Scope::RecipientDomain, "the domain does not exist or cannot be routed"),
    ("has_moved", Class::Hard, None, Scope::Recipient, "the mailbox moved, no forwarding"),
    ("not_accept", Class::Hard, Some(Class::Soft), Scope::RecipientDomain, "the domain accepts no mail (null MX)"),
    ("suspend", Class::Soft, None, Scope::Recipient, "the account is disabled, suspended or inactive"),
    ("mailbox_full", Class::Soft, None, Scope::Recipient, "the mailbox is over quota"),
    ("filtered", Class::Soft, None, Scope::Recipient, "the recipient's own filter refused the message"),
    ("system_full", Class::Soft, Some(Class::Defer), Scope::RecipientDomain, "the receiving system is out of storage"),
    ("system_error", Class::Soft, Some(Class::Defer), Scope::RecipientDomain, "the receiving system failed"),
    ("mailer_error", Class::Soft, None, Scope::Recipient, "the recipient's local mailer program failed"),
    ("expired", Class::Soft, None, Scope::RecipientDomain, "delivery gave up after retrying too long"),
    ("network_error", Class::Defer, None, Scope::Network, "DNS or routing failure on the way"),
    ("rate_limited", Class::Defer, None, Scope::SenderIp, "too fast or too many connections"),
    ("blocked", Class::Block, None, Scope::SenderIp, "the sending IP or host is refused"),
    ("bad_reputation", Class::Block, None, Scope::SenderIp, "the sender's reputation is too low"),
    ("require_ptr", Class::Block, None, Scope::SenderIp, "the sending IP has no valid PTR record"),
    ("rejected", Class::Block, None, Scope::SenderDomain, "the envelope sender is refused"),
    ("auth_failure", Class::Block, None, Scope::SenderDomain, "SPF, DKIM, DMARC or ARC failed"),
    ("security_error", Class::Block, None, Scope::SenderDomain, "a security requirement was not met"),
    ("failed_starttls", Class::Block, None, Scope::Network, "STARTTLS required or failed"),
    ("no_relaying", Class::Block, None, Scope::SenderDomain, "relaying denied"),
    ("spam_detected", Class::Block, None, Scope::Content, "the content was judged spam"),
    ("virus_detected", Class::Block, None, Scope::Content, "the content carries malware"),
    ("policy_violation", Class::Block, None, Scope::Message, "the message breaks a receiver policy"),
    ("not_compliant_rfc", Class::Block, None, Scope::Message, "the message breaks RFC 5322"),
    ("content_error", Class::Block, None, Scope::Message, "media or encoding error"),
    ("message_too_big", Class::Block, None, Scope::Message, "over the size limit"),
    ("syntax_error", Class::Block, None, Scope::Network, "the receiver did not understand our SMTP"),
    ("suppressed", Class::Hard, None, Scope::Recipient, "a provider's suppression list refused it"),
    ("on_hold", Class::Soft, None, Scope::Unknown, "a failure with too little information to decide"),
    ("undefined", Class::Soft, None, Scope::Unknown, "nothing matched"),
    ("delivered", Class::Ignore, None, Scope::Unknown, "a delivery report, not a failure"),
    ("vacation", Class::Ignore, None, Scope::Unknown, "an auto-reply"),
    ("feedback", Class::Ignore, None, Scope::Unknown, "a complaint report (ARF)"),
];

/// The standard reasons as [`ReasonInfo`]s.
pub fn standard_reasons() -> Vec<ReasonInfo> {
    STANDARD_REASONS
        .iter()
        .map(|&(name, class, class_on_4xx, scope, description)| ReasonInfo {
            name: name.to_string(),
            class,
            class_on_4xx,
            scope,
            description: description.to_string(),
            standard: true,
            subjects: standard_subjects(name),
        })
        .collect()
}
