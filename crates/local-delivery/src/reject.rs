//! The rejection message of Sieve `reject` (RFC 5429 §2.1): an MDN (RFC 8098) back to the
//! envelope sender saying the recipient's filter refused the message, with the original
//! header. `ereject` instead becomes the recipient's 550 in the LMTP reply
//! ([`crate::error::DeliveryError::SieveRefused`]), which the sending side turns into its DSN.

/// The MDN, CRLF-terminated; `headers_raw` is the original's header section.
pub fn compose(
    reason: &str,
    to: &str,
    recipient: &str,
    orig_message_id: Option<&str>,
    headers_raw: &[u8],
    now: i64,
    message_id: &str,
) -> Vec<u8> {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let domain = recipient
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("localhost");
    let boundary = format!("rejection-{}", message_id.trim_matches(['<', '>']));
    let boundary: String = boundary
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    let recipient = clean(recipient);
    let body = reason.replace("\r\n", "\n").replace('\n', "\r\n");
    let mut m = format!(
        "From: Mail Delivery Subsystem <postmaster@{}>\r\n\
         To: <{}>\r\n\
         Subject: Automatically rejected mail\r\n\
         Date: {}\r\n\
         Message-ID: {message_id}\r\n\
         Auto-Submitted: auto-replied (rejected)\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=disposition-notification;\r\n\
         \tboundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Your message to <{recipient}> was automatically rejected:\r\n\r\n{body}\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: message/disposition-notification\r\n\r\n\
         Reporting-UA: {}; ferrymail local-delivery\r\n\
         Final-Recipient: rfc822; {recipient}\r\n",
        clean(domain),
        clean(to),
        ferrymail_smtp::dates::rfc5322(now),
        clean(domain),
    );
    if let Some(id) = orig_message_id {
        m.push_str(&format!("Original-Message-ID: {}\r\n", clean(id.trim())));
    }
    m.push_str(&format!(
        "Disposition: automatic-action/MDN-sent-automatically; deleted\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut out = m.into_bytes();
    out.extend_from_slice(headers_raw);
    if !headers_raw.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_mdn_with_the_reason_and_the_original_header() {
        let m = super::compose(
            "Not wanted.\nGo away.",
            "a@x.test",
            "me@b.test",
            Some("<m1@x.test>"),
            b"Subject: hi\r\nFrom: a@x.test\r\n",
            0,
            "<r1@b.test>",
        );
        let m = String::from_utf8(m).unwrap();
        for part in [
            "To: <a@x.test>\r\n",
            "Auto-Submitted: auto-replied (rejected)\r\n",
            "report-type=disposition-notification",
            "Not wanted.\r\nGo away.",
            "Final-Recipient: rfc822; me@b.test\r\n",
            "Original-Message-ID: <m1@x.test>\r\n",
            "Disposition: automatic-action/MDN-sent-automatically; deleted\r\n",
            "Content-Type: text/rfc822-headers\r\n\r\nSubject: hi\r\n",
            "--rejection-r1b.test--\r\n",
        ] {
            assert!(m.contains(part), "{part:?} in {m}");
        }
    }
}
