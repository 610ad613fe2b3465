//! Evaluating the tests (RFC 5228 §5 and the extensions') over the message.

use super::matching::*;
use super::*;

impl<M: MessageView> Run<'_, M> {
    pub(super) fn test(&mut self, t: &Test) -> bool {
        self.steps += 1;
        match t {
            Test::True => true,
            Test::False => false,
            Test::Not(t) => !self.test(t),
            Test::AllOf(ts) => ts.iter().all(|t| self.test(t)),
            Test::AnyOf(ts) => ts.iter().any(|t| self.test(t)),
            Test::MailboxExists(names) => self
                .expand_all(names)
                .iter()
                .all(|n| self.msg.mailbox_exists(n)),
            Test::Body { m, transform, keys } => {
                let texts = body::texts(self.msg.message(), transform, self.limits.max_body_bytes);
                self.match_values(m, &texts, keys)
            }
            Test::Spam { m, percent, keys } => {
                let v = spamtest::spam_value(self.msg.spam_score(), *percent);
                self.match_values(m, &[v], keys)
            }
            Test::Virus { m, keys } => {
                let v = self.msg.virus_score().min(5).to_string();
                self.match_values(m, &[v], keys)
            }
            Test::Date {
                m,
                zone,
                header,
                part,
                keys,
            } => self.date(m, zone, header, part, keys),
            Test::CurrentDate {
                m,
                zone,
                part,
                keys,
            } => self.current_date(m, zone, part, keys),
            Test::HasFlag { m, variables, keys } => {
                let values = match (variables, &self.vars) {
                    (Some(names), Some(vars)) => {
                        let vals: Vec<String> = names
                            .iter()
                            .map(|n| vars.expand(&format!("${{{n}}}")))
                            .collect();
                        imap4flags::parse(&vals)
                    }
                    _ => self.flags.clone(),
                };
                let mut keys = self.expand_all(keys);
                if !matches!(m.match_type, MatchType::Count(_)) {
                    keys = imap4flags::parse(&keys);
                }
                self.match_expanded(m, &values, &keys)
            }
            Test::Exists(names) => self
                .expand_all(names)
                .iter()
                .all(|n| !self.header(n).is_empty()),
            Test::Duplicate(d) => match crate::ext::duplicate::key(d, |h| self.header(h)) {
                Some(key) => {
                    let seen = self.msg.duplicate_seen(&key);
                    if !self.duplicates.contains(&key) {
                        self.duplicates.push(key);
                    }
                    seen
                }
                None => false,
            },
            Test::Size { over, limit } => {
                if *over {
                    self.msg.size() > *limit
                } else {
                    self.msg.size() < *limit
                }
            }
            Test::Header { m, headers, keys } => {
                let values: Vec<String> = self
                    .expand_all(headers)
                    .iter()
                    .flat_map(|h| pick(self.header(h), m.index))
                    .map(decoded)
                    .collect();
                self.match_values(m, &values, keys)
            }
            Test::Str { m, sources, keys } => {
                let mut values = self.expand_all(sources);
                // RFC 5229 §5: empty strings are not counted.
                if matches!(m.match_type, MatchType::Count(_)) {
                    values.retain(|v| !v.is_empty());
                }
                self.match_values(m, &values, keys)
            }
            Test::Address {
                m,
                part,
                headers,
                keys,
            } => {
                let addrs: Vec<String> = self
                    .expand_all(headers)
                    .iter()
                    .flat_map(|h| pick(self.header(h), m.index))
                    .flat_map(|v| addresses(&v))
                    .collect();
                self.match_parts(m, *part, &addrs, keys)
            }
            Test::Envelope {
                m,
                part,
                parts,
                keys,
            } => {
                let addrs: Vec<String> = self
                    .expand_all(parts)
                    .iter()
                    .map(|p| {
                        if p.eq_ignore_ascii_case("from") {
                            self.msg.envelope_from().to_string()
                        } else {
                            self.msg.envelope_to().to_string()
                        }
                    })
                    // RFC 5228 §5.4: the null reverse-path matches as "" with :all only.
                    .filter(|a| !a.is_empty() || *part == AddressPart::All)
                    .collect();
                self.match_parts(m, *part, &addrs, keys)
            }
        }
    }

    /// Address tests: the chosen part of each address, skipping those without it.
    pub(super) fn match_parts(
        &mut self,
        m: &Match,
        part: AddressPart,
        addrs: &[String],
        keys: &[String],
    ) -> bool {
        if let MatchType::Count(_) = m.match_type {
            // RFC 5231 §4.1: :count counts addresses, whatever the part.
            return self.match_values(m, addrs, keys);
        }
        let values: Vec<String> = addrs
            .iter()
            .filter_map(|a| address_part(a, part).map(str::to_string))
            .collect();
        self.match_values(m, &values, keys)
    }

    /// Whether any value matches any key; a `:matches` hit sets the match variables.
    pub(super) fn match_values(&mut self, m: &Match, values: &[String], keys: &[String]) -> bool {
        let keys = self.expand_all(keys);
        self.match_expanded(m, values, &keys)
    }

    /// [`Run::match_values`] with keys whose variables are already expanded.
    pub(super) fn match_expanded(&mut self, m: &Match, values: &[String], keys: &[String]) -> bool {
        if let MatchType::Count(rel) = m.match_type {
            let n = values.len().to_string();
            return keys
                .iter()
                .any(|k| relation_holds(rel, m.comparator, &n, k));
        }
        for v in values {
            for k in keys {
                if !matches(m, v, k) {
                    continue;
                }
                if m.match_type == MatchType::Matches {
                    if let Some(vars) = &mut self.vars {
                        let caps =
                            variables::captures(&fold(k, m.comparator), &fold(v, m.comparator), v);
                        vars.set_matches(caps.flatten().unwrap_or_default());
                    }
                }
                return true;
            }
        }
        false
    }
}
