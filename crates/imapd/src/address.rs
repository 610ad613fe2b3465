//! RFC 5322 address lists as IMAP shows them (sans-IO): the items of ENVELOPE's address
//! lists, groups included (RFC 3501 §7.4.2), and the normalised text SEARCH FROM/TO/CC/BCC
//! match against.
//!
//! Parsing is lenient the way Dovecot's is, because real headers are often not valid: a
//! comment is the display name of an address that has none (`user@host (Real Name)`),
//! comments elsewhere are dropped, a route (`<@route:user@host>`) is kept, and text that
//! is no address becomes a mailbox without a host rather than being lost.

/// One entry of an address list, in ENVELOPE's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Mailbox(Mailbox),
    /// `name:` opens a group; its members follow, then [`Item::GroupEnd`].
    GroupStart(String),
    GroupEnd,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    pub name: Option<String>,
    /// The obsolete source route, `@a,@b` (RFC 5322 §4.4).
    pub route: Option<String>,
    pub local: String,
    pub domain: Option<String>,
}

/// Bounds on hostile input: tokens looked at, and comment nesting.
const MAX_TOKENS: usize = 10_000;
const MAX_COMMENT_DEPTH: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An atom, a dot-atom, a quoted string's content or a domain literal.
    Word(String),
    Comment(String),
    Special(char),
}

fn tokenize(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut atom = String::new();
    let flush = |atom: &mut String, out: &mut Vec<Tok>| {
        if !atom.is_empty() {
            out.push(Tok::Word(std::mem::take(atom)));
        }
    };
    while let Some(c) = chars.next() {
        if out.len() >= MAX_TOKENS {
            break;
        }
        match c {
            ' ' | '\t' | '\r' | '\n' => flush(&mut atom, &mut out),
            '"' => {
                flush(&mut atom, &mut out);
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => s.extend(chars.next()),
                        '\r' | '\n' => {}
                        c => s.push(c),
                    }
                }
                out.push(Tok::Word(s));
            }
            '(' => {
                flush(&mut atom, &mut out);
                let mut depth = 1;
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => s.extend(chars.next()),
                        '(' => {
                            depth += 1;
                            if depth > MAX_COMMENT_DEPTH {
                                break;
                            }
                            s.push(c);
                        }
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            s.push(c);
                        }
                        '\r' | '\n' => {}
                        c => s.push(c),
                    }
                }
                out.push(Tok::Comment(s.trim().to_owned()));
            }
            '[' => {
                flush(&mut atom, &mut out);
                let mut s = String::from('[');
                for c in chars.by_ref() {
                    s.push(c);
                    if c == ']' {
                        break;
                    }
                }
                out.push(Tok::Word(s));
            }
            ',' | ':' | ';' | '<' | '>' | '@' => {
                flush(&mut atom, &mut out);
                out.push(Tok::Special(c));
            }
            c => atom.push(c),
        }
    }
    flush(&mut atom, &mut out);
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    out: Vec<Item>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    /// Words up to the next special, joined by `sep`; the last comment among them is
    /// stored in `comment`.
    fn words(&mut self, sep: &str, comment: &mut Option<String>) -> String {
        let mut out = String::new();
        while let Some(t) = self.peek() {
            match t {
                Tok::Word(w) => {
                    if !out.is_empty() {
                        out.push_str(sep);
                    }
                    out.push_str(w);
                }
                Tok::Comment(c) => *comment = Some(c.clone()),
                Tok::Special(_) => break,
            }
            self.pos += 1;
        }
        out
    }

    fn at(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Special(c))
    }

    /// One address (a mailbox or, outside a group, a whole group) starting at `pos`.
    fn address(&mut self, in_group: bool) {
        let mut comment = None;
        let phrase = self.words(" ", &mut comment);
        match self.peek() {
            Some(Tok::Special(':')) if !in_group => {
                self.pos += 1;
                self.out.push(Item::GroupStart(phrase));
                loop {
                    match self.peek() {
                        None => break,
                        Some(Tok::Special(';')) => {
                            self.pos += 1;
                            break;
                        }
                        Some(Tok::Special(',' | ':' | '>')) => self.pos += 1,
                        Some(_) => self.address(true),
                    }
                }
                self.out.push(Item::GroupEnd);
            }
            Some(Tok::Special('<')) => {
                self.pos += 1;
                let mut mb = self.angle_addr();
                let _ = self.words("", &mut comment);
                mb.name = Some(phrase).filter(|p| !p.is_empty()).or(comment);
                self.out.push(Item::Mailbox(mb));
            }
            Some(Tok::Special('@')) => {
                self.pos += 1;
                // The local part's words are one dot-atom written with spaces.
                let local = phrase.split(' ').collect::<String>();
                let domain = self.words("", &mut comment);
                self.out.push(Item::Mailbox(Mailbox {
                    name: comment,
                    route: None,
                    local,
                    domain: Some(domain),
                }));
            }
            _ => {
                if !phrase.is_empty() {
                    self.out.push(Item::Mailbox(Mailbox {
                        name: None,
                        route: None,
                        local: phrase,
                        domain: None,
                    }));
                } else if self.at(':') || self.at('>') || self.at('@') {
                    // Stray specials (`:` inside a group, an unopened `>`): skipped.
                    self.pos += 1;
                }
            }
        }
    }

    /// After `<`: `[@route,@route:]local@domain>`.
    fn angle_addr(&mut self) -> Mailbox {
        let mut ignored = None;
        let mut mb = Mailbox::default();
        if self.at('@') {
            let mut route = String::new();
            while let Some(t) = self.peek() {
                match t {
                    Tok::Special(':') => {
                        self.pos += 1;
                        break;
                    }
                    Tok::Special('>') => break,
                    Tok::Special(c) => route.push(*c),
                    Tok::Word(w) => route.push_str(w),
                    Tok::Comment(_) => {}
                }
                self.pos += 1;
            }
            mb.route = Some(route);
        }
        mb.local = self.words("", &mut ignored);
        if self.at('@') {
            self.pos += 1;
            mb.domain = Some(self.words("", &mut ignored));
        }
        // Anything else up to the closing `>` is not part of an address.
        while let Some(t) = self.peek() {
            let closing = *t == Tok::Special('>');
            self.pos += 1;
            if closing {
                break;
            }
        }
        mb
    }
}

/// The items of an address list header value (raw, as in the message).
pub fn parse_list(raw: &[u8]) -> Vec<Item> {
    let text = String::from_utf8_lossy(raw);
    let mut p = Parser {
        toks: tokenize(&text),
        pos: 0,
        out: Vec::new(),
    };
    while let Some(t) = p.peek() {
        match t {
            Tok::Special(',' | ';' | '>') => p.pos += 1,
            _ => {
                let before = p.pos;
                p.address(false);
                if p.pos == before {
                    p.pos += 1;
                }
            }
        }
    }
    p.out
}

/// Decodes RFC 2047 encoded words in a display name.
pub fn decode_words(s: &str) -> String {
    let line = format!("X: {s}");
    mailparse::parse_header(line.as_bytes()).map_or_else(|_| s.to_owned(), |(h, _)| h.get_value())
}

/// The address list written out plainly (`Name <local@domain>, group: a@b;`, names decoded,
/// comments gone): what SEARCH FROM/TO/CC/BCC look for a substring in, as Dovecot does.
pub fn search_text(raw: &[u8]) -> String {
    let mut out = String::new();
    let mut first_in_group = false;
    for item in parse_list(raw) {
        match item {
            Item::GroupStart(name) => {
                if !out.is_empty() {
                    out.push_str(", ");
                }
                out.push_str(&decode_words(&name));
                out.push_str(": ");
                first_in_group = true;
            }
            Item::GroupEnd => {
                out.push(';');
                first_in_group = false;
            }
            Item::Mailbox(m) => {
                if !out.is_empty() && !first_in_group {
                    out.push_str(", ");
                }
                first_in_group = false;
                let addr = match &m.domain {
                    Some(d) => format!("{}@{d}", m.local),
                    None => m.local.clone(),
                };
                match m.name.as_deref().filter(|n| !n.is_empty()) {
                    Some(name) => out.push_str(&format!("{} <{addr}>", decode_words(name))),
                    None => out.push_str(&addr),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
