//! The tests of the grammar (RFC 5228 §5 and the extensions'): `allof`/`anyof`/`not`, the
//! match tests and their arguments, each checked against what the script `require`s.

use super::*;

impl Parser<'_> {
    pub(super) fn test_list(&mut self, depth: usize) -> Result<Vec<Test>, SieveError> {
        self.expect(&Token::LParen, "`(`")?;
        let mut out = Vec::new();
        loop {
            out.push(self.test(depth + 1)?);
            if self.eat(&Token::RParen) {
                return Ok(out);
            }
            self.expect(&Token::Comma, "`,` or `)`")?;
        }
    }

    pub(super) fn test(&mut self, depth: usize) -> Result<Test, SieveError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        let (name, line) = self.ident()?;
        self.named_test(name, line, depth)
    }

    /// The test `name` whose identifier was just read.
    pub(super) fn named_test(
        &mut self,
        name: String,
        line: usize,
        depth: usize,
    ) -> Result<Test, SieveError> {
        match name.as_str() {
            "true" => Ok(Test::True),
            "false" => Ok(Test::False),
            "not" => Ok(Test::Not(Box::new(self.test(depth + 1)?))),
            "allof" => Ok(Test::AllOf(self.test_list(depth)?)),
            "anyof" => Ok(Test::AnyOf(self.test_list(depth)?)),
            "mailboxexists" => {
                self.require_cap("mailbox", line)?;
                let names = one_string_list(self.args()?)
                    .ok_or_else(|| self.error_at(line, "mailboxexists: expected a string list"))?;
                Ok(Test::MailboxExists(names))
            }
            "exists" => {
                let names = one_string_list(self.args()?)
                    .ok_or_else(|| self.error_at(line, "exists: expected a string list"))?;
                Ok(Test::Exists(names))
            }
            "size" => {
                let args = self.args()?;
                match args.as_slice() {
                    [Arg::Tag(t, _), Arg::Number(n)] if t == "over" || t == "under" => {
                        Ok(Test::Size {
                            over: t == "over",
                            limit: *n,
                        })
                    }
                    _ => Err(self.error_at(line, "size: expected :over or :under and a number")),
                }
            }
            "header" | "address" | "envelope" | "string" | "hasflag" | "body" | "spamtest"
            | "virustest" | "date" | "currentdate" | "deleteheader" => {
                if name == "date" || name == "currentdate" {
                    self.require_cap("date", line)?;
                }
                let mut zone = Zone::Local;
                let mut last = false;
                if name == "spamtest" || name == "virustest" {
                    let cap = if name == "spamtest" {
                        "spamtest"
                    } else {
                        "virustest"
                    };
                    if !(self.required.iter().any(|r| r == "spamtestplus") && cap == "spamtest") {
                        self.require_cap(cap, line)?;
                    }
                }
                let mut percent = false;
                if name == "hasflag" || name == "body" {
                    self.require_cap(if name == "body" { "body" } else { "imap4flags" }, line)?;
                }
                let mut transform = Transform::text();
                if name == "envelope" || name == "string" {
                    self.require_cap(
                        if name == "string" {
                            "variables"
                        } else {
                            "envelope"
                        },
                        line,
                    )?;
                }
                let args = self.args()?;
                let mut m = Match {
                    match_type: MatchType::Is,
                    comparator: Comparator::AsciiCasemap,
                    index: None,
                };
                let mut part = AddressPart::All;
                let mut lists = Vec::new();
                let mut it = args.into_iter();
                while let Some(a) = it.next() {
                    match a {
                        Arg::Tag(t, tl) => match t.as_str() {
                            "is" => m.match_type = MatchType::Is,
                            "contains" => m.match_type = MatchType::Contains,
                            "matches" => m.match_type = MatchType::Matches,
                            "zone" if name == "date" || name == "currentdate" => {
                                zone = match it.next() {
                                    Some(Arg::Strings(s)) if s.len() == 1 => {
                                        Zone::Fixed(s.concat())
                                    }
                                    _ => return Err(self.error_at(tl, ":zone needs a string")),
                                }
                            }
                            "originalzone" if name == "date" => zone = Zone::Original,
                            "index" | "last"
                                if matches!(
                                    name.as_str(),
                                    "header" | "address" | "date" | "deleteheader"
                                ) =>
                            {
                                if name != "deleteheader" {
                                    self.require_cap("index", tl)?;
                                }
                                if t == "last" {
                                    last = true;
                                } else {
                                    match it.next() {
                                        Some(Arg::Number(n)) if n >= 1 => {
                                            m.index = Some((n as usize, false))
                                        }
                                        _ => {
                                            return Err(
                                                self.error_at(tl, ":index needs a number from 1")
                                            )
                                        }
                                    }
                                }
                            }
                            "percent" if name == "spamtest" => {
                                self.require_cap("spamtestplus", tl)?;
                                percent = true;
                            }
                            "raw" | "text" if name == "body" => {
                                transform = if t == "raw" {
                                    Transform::Raw
                                } else {
                                    Transform::text()
                                }
                            }
                            "content" if name == "body" => match it.next() {
                                Some(Arg::Strings(s)) => transform = Transform::Content(s),
                                _ => return Err(self.error_at(tl, ":content needs a string list")),
                            },
                            "count" | "value" => {
                                self.require_cap("relational", tl)?;
                                let rel = match it.next() {
                                    Some(Arg::Strings(s)) if s.len() == 1 => Relation::parse(&s[0]),
                                    _ => None,
                                }
                                .ok_or_else(|| {
                                    self.error_at(tl, format!(":{t} needs a relation"))
                                })?;
                                m.match_type = if t == "count" {
                                    MatchType::Count(rel)
                                } else {
                                    MatchType::Value(rel)
                                };
                            }
                            "all" | "localpart" | "domain" | "user" | "detail"
                                if name == "address" || name == "envelope" =>
                            {
                                part = match t.as_str() {
                                    "localpart" => AddressPart::LocalPart,
                                    "domain" => AddressPart::Domain,
                                    "user" | "detail" => {
                                        self.require_cap("subaddress", tl)?;
                                        if t == "user" {
                                            AddressPart::User
                                        } else {
                                            AddressPart::Detail
                                        }
                                    }
                                    _ => AddressPart::All,
                                }
                            }
                            "comparator" => {
                                let c = match it.next() {
                                    Some(Arg::Strings(s)) if s.len() == 1 => s.concat(),
                                    _ => {
                                        return Err(self.error_at(tl, ":comparator needs a string"))
                                    }
                                };
                                m.comparator = match c.as_str() {
                                    "i;ascii-casemap" => Comparator::AsciiCasemap,
                                    "i;octet" => Comparator::Octet,
                                    "i;ascii-numeric" => {
                                        self.require_cap("comparator-i;ascii-numeric", tl)?;
                                        Comparator::AsciiNumeric
                                    }
                                    _ => {
                                        return Err(self
                                            .error_at(tl, format!("unsupported comparator {c}")))
                                    }
                                };
                            }
                            _ => return Err(self.error_at(tl, format!("{name}: unknown tag :{t}"))),
                        },
                        Arg::Strings(s) => lists.push(s),
                        Arg::Number(_) => {
                            return Err(self.error_at(line, format!("{name}: unexpected number")))
                        }
                    }
                }
                match (m.index, last) {
                    (Some((n, _)), true) => m.index = Some((n, true)),
                    (None, true) => return Err(self.error_at(line, ":last without :index")),
                    _ => {}
                }
                if name == "date" || name == "currentdate" {
                    return self.date_test(&name, m, zone, lists, line);
                }
                // deleteheader without value patterns deletes every field of the name.
                if name == "deleteheader" && lists.len() == 1 {
                    lists.push(Vec::new());
                }
                if matches!(name.as_str(), "hasflag" | "body" | "spamtest" | "virustest")
                    && lists.len() == 1
                {
                    lists.insert(0, Vec::new());
                }
                let [first, keys]: [Vec<String>; 2] = lists.try_into().map_err(|_| {
                    self.error_at(line, format!("{name}: expected two string lists"))
                })?;
                // RFC 4790 §9.1: ascii-numeric offers equality and order, not substrings.
                if m.comparator == Comparator::AsciiNumeric
                    && matches!(m.match_type, MatchType::Contains | MatchType::Matches)
                {
                    return Err(self.error_at(line, "i;ascii-numeric cannot :contains or :matches"));
                }
                Ok(match name.as_str() {
                    "spamtest" | "virustest" if !first.is_empty() => {
                        return Err(self.error_at(line, format!("{name}: expected one value")))
                    }
                    "spamtest" => Test::Spam { m, percent, keys },
                    "virustest" => Test::Virus { m, keys },
                    "body" if first.is_empty() => Test::Body { m, transform, keys },
                    "body" => return Err(self.error_at(line, "body: expected one key list")),
                    "deleteheader" => Test::Header {
                        m,
                        headers: first,
                        keys,
                    },
                    "hasflag" => Test::HasFlag {
                        m,
                        variables: if first.is_empty() { None } else { Some(first) },
                        keys,
                    },
                    "string" => Test::Str {
                        m,
                        sources: first,
                        keys,
                    },
                    "header" => Test::Header {
                        m,
                        headers: first,
                        keys,
                    },
                    "address" => Test::Address {
                        m,
                        part,
                        headers: first,
                        keys,
                    },
                    _ => {
                        for p in &first {
                            let p = p.to_ascii_lowercase();
                            if p != "from" && p != "to" {
                                return Err(
                                    self.error_at(line, format!("envelope: unknown part {p:?}"))
                                );
                            }
                        }
                        Test::Envelope {
                            m,
                            part,
                            parts: first,
                            keys,
                        }
                    }
                })
            }
            "duplicate" => {
                self.require_cap("duplicate", line)?;
                let d = ext::duplicate::parse(self.args()?).map_err(|m| self.error_at(line, m))?;
                Ok(Test::Duplicate(d))
            }
            other => Err(self.error_at(line, format!("unknown test `{other}`"))),
        }
    }
}
