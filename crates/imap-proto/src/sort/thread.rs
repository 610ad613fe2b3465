//! THREAD=ORDEREDSUBJECT, THREAD=REFERENCES (RFC 5256 §3) and THREAD=REFS: the trees, from the messages'
//! facts. REFERENCES follows the RFC's steps over an arena of containers, a container being
//! a message or a dummy standing for a Message-ID only referred to.
//!
//! THREAD=REFS (draft-ietf-morg-inthread's REFS, as Dovecot does it) builds the same trees
//! but gathers no threads by subject, and orders the threads by their newest message's sent
//! date, so a thread with a fresh reply comes last, where a client looks for new mail.

use std::collections::HashMap;

use super::{base_subject, fold, SortInput, ThreadAlgorithm};

/// One node of a thread: a message (its number) or a dummy (None) grouping siblings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadNode {
    pub id: Option<u32>,
    pub children: Vec<ThreadNode>,
}

/// The Message-IDs (`<...>` with an `@`) of a header value, in order.
pub fn message_ids(raw: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(start) = rest.find('<') {
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find(['>', '<']) else {
            break;
        };
        let id = after.get(..end).unwrap_or_default().trim();
        if after.as_bytes().get(end) == Some(&b'>') && id.contains('@') && !id.contains(' ') {
            out.push(id);
        }
        rest = after.get(end..).unwrap_or_default();
        if let Some(r) = rest.strip_prefix('>') {
            rest = r;
        }
    }
    out
}

/// The threads of `msgs` by `algorithm`, in presentation order.
pub fn thread(msgs: &[SortInput], algorithm: ThreadAlgorithm) -> Vec<ThreadNode> {
    match algorithm {
        ThreadAlgorithm::OrderedSubject => ordered_subject(msgs),
        ThreadAlgorithm::References => References::new(msgs).run(),
        ThreadAlgorithm::Refs => References::new(msgs).run_refs(),
    }
}

fn leaf(m: &SortInput) -> ThreadNode {
    ThreadNode {
        id: Some(m.id),
        children: Vec::new(),
    }
}

/// Messages grouped by base subject; in each group the first by sent date is the parent of
/// the others; groups ordered by their first message's sent date.
fn ordered_subject(msgs: &[SortInput]) -> Vec<ThreadNode> {
    let mut keyed: Vec<(&str, i64, u32, &SortInput)> = msgs
        .iter()
        .map(|m| (m.facts.subject_key(), m.facts.sent_date(), m.seq, m))
        .collect();
    keyed.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let mut threads: Vec<(i64, u32, ThreadNode)> = Vec::new();
    let mut current: Option<&str> = None;
    for (subject, date, seq, m) in &keyed {
        match threads.last_mut() {
            Some((_, _, root)) if current == Some(*subject) => root.children.push(leaf(m)),
            _ => threads.push((*date, *seq, leaf(m))),
        }
        current = Some(subject);
    }
    threads.sort_by_key(|t| (t.0, t.1));
    threads.into_iter().map(|t| t.2).collect()
}

/// The deepest a thread may go ([`References::cap_depth`]).
const MAX_DEPTH: usize = 500;

struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct References<'a> {
    msgs: &'a [SortInput],
    arena: Vec<Container>,
}

impl<'a> References<'a> {
    fn new(msgs: &'a [SortInput]) -> Self {
        References {
            msgs,
            arena: Vec::new(),
        }
    }

    fn add(&mut self, msg: Option<usize>) -> usize {
        self.arena.push(Container {
            msg,
            parent: None,
            children: Vec::new(),
        });
        self.arena.len() - 1
    }

    fn parent(&self, c: usize) -> Option<usize> {
        self.arena.get(c).and_then(|c| c.parent)
    }

    fn children(&self, c: usize) -> &[usize] {
        self.arena.get(c).map_or(&[], |c| &c.children)
    }

    fn msg(&self, c: usize) -> Option<&'a SortInput> {
        let msgs = self.msgs;
        self.arena.get(c)?.msg.and_then(|i| msgs.get(i))
    }

    /// Is `a` `b` or one of its ancestors?
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut cur = Some(b);
        while let Some(c) = cur {
            if c == a {
                return true;
            }
            cur = self.parent(c);
        }
        false
    }

    fn unlink(&mut self, c: usize) {
        if let Some(p) = self.parent(c) {
            if let Some(pc) = self.arena.get_mut(p) {
                pc.children.retain(|&x| x != c);
            }
        }
        if let Some(cc) = self.arena.get_mut(c) {
            cc.parent = None;
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        if let Some(cc) = self.arena.get_mut(child) {
            cc.parent = Some(parent);
        }
        if let Some(pc) = self.arena.get_mut(parent) {
            pc.children.push(child);
        }
    }

    /// Bounds the depth of every thread: a container [`MAX_DEPTH`] levels down starts a
    /// thread of its own. Real threads are nowhere near that deep; a crafted chain of
    /// References must not make the later recursive steps (and the encoder) exhaust the
    /// stack. Walks the trees with a stack of its own.
    fn cap_depth(&mut self) {
        let mut todo: Vec<(usize, usize)> = (0..self.arena.len())
            .filter(|&c| self.parent(c).is_none())
            .map(|c| (c, 0))
            .collect();
        while let Some((c, depth)) = todo.pop() {
            let depth = if depth >= MAX_DEPTH {
                self.unlink(c);
                0
            } else {
                depth
            };
            todo.extend(self.children(c).iter().map(|&k| (k, depth + 1)));
        }
    }

    /// Step 1: containers by Message-ID, linked along References (or In-Reply-To).
    fn link_all(&mut self) {
        let mut by_id: HashMap<&'a str, usize> = HashMap::new();
        let msgs = self.msgs;
        for (i, m) in msgs.iter().enumerate() {
            let own = message_ids(&m.facts.message_id).first().copied();
            let this = match own.and_then(|id| by_id.get(id).copied()) {
                // A dummy so far: this message is what it stood for.
                Some(c) if self.arena.get(c).is_some_and(|c| c.msg.is_none()) => {
                    if let Some(cc) = self.arena.get_mut(c) {
                        cc.msg = Some(i);
                    }
                    c
                }
                // A duplicate Message-ID is treated as none.
                Some(_) => self.add(Some(i)),
                None => {
                    let c = self.add(Some(i));
                    if let Some(id) = own {
                        by_id.insert(id, c);
                    }
                    c
                }
            };
            let mut refs = message_ids(&m.facts.references);
            if refs.is_empty() {
                refs = message_ids(&m.facts.in_reply_to);
                refs.truncate(1);
            }
            let mut prev: Option<usize> = None;
            for r in refs {
                let c = match by_id.get(r) {
                    Some(&c) => c,
                    None => {
                        let c = self.add(None);
                        by_id.insert(r, c);
                        c
                    }
                };
                if let Some(p) = prev {
                    if self.parent(c).is_none() && !self.is_ancestor(c, p) {
                        self.link(p, c);
                    }
                }
                prev = Some(c);
            }
            // A parent found earlier from another message's References gives way to this
            // message's own; when its own would make a loop, it stays a root (as Dovecot).
            match prev {
                Some(p) if !self.is_ancestor(this, p) => self.link(p, this),
                _ => self.unlink(this),
            }
        }
    }

    /// Step 3: dummies without children go; a dummy's children take its place, except
    /// several children of a dummy at the root.
    fn prune(&mut self, list: Vec<usize>, at_root: bool) -> Vec<usize> {
        let mut out = Vec::new();
        for c in list {
            let kids = self.children(c).to_vec();
            let kids = self.prune(kids, false);
            for &k in &kids {
                if let Some(kc) = self.arena.get_mut(k) {
                    kc.parent = Some(c);
                }
            }
            let is_dummy = self.msg(c).is_none();
            if let Some(cc) = self.arena.get_mut(c) {
                cc.children = kids.clone();
            }
            if is_dummy && (kids.len() == 1 || !at_root) {
                for &k in &kids {
                    if let Some(kc) = self.arena.get_mut(k) {
                        kc.parent = None;
                    }
                }
                out.extend(kids);
            } else if !is_dummy || !kids.is_empty() {
                out.push(c);
            }
        }
        out
    }

    /// The sent date and sequence number a container sorts by: a dummy's are its first
    /// child's (children sorted first).
    fn sort_key(&self, c: usize) -> (i64, u32) {
        match self.msg(c) {
            Some(m) => (m.facts.sent_date(), m.seq),
            None => self
                .children(c)
                .first()
                .map_or((0, 0), |&k| self.sort_key(k)),
        }
    }

    fn sort_siblings(&mut self, list: &mut [usize]) {
        for &c in list.iter() {
            let mut kids = self.children(c).to_vec();
            self.sort_siblings(&mut kids);
            if let Some(cc) = self.arena.get_mut(c) {
                cc.children = kids;
            }
        }
        list.sort_by_key(|&c| self.sort_key(c));
    }

    /// The base subject of a root (a dummy's is its first child's), and whether it is a
    /// reply or forward.
    fn subject(&self, c: usize) -> Option<(String, bool)> {
        let m = match self.msg(c) {
            Some(m) => m,
            None => self.children(c).first().and_then(|&k| self.msg(k))?,
        };
        let b = base_subject(&m.facts.subject);
        (!b.text.is_empty()).then(|| (fold(&b.text), b.reply_or_forward))
    }

    /// Step 5: roots with the same base subject are gathered.
    fn merge_subjects(&mut self, roots: Vec<usize>) -> Vec<usize> {
        let subjects: Vec<Option<(String, bool)>> =
            roots.iter().map(|&r| self.subject(r)).collect();
        let is_dummy = |s: &Self, c: usize| s.msg(c).is_none();
        let mut table: HashMap<String, usize> = HashMap::new();
        for (&r, subj) in roots.iter().zip(&subjects) {
            let Some((s, reply)) = subj else { continue };
            match table.get(s).copied() {
                None => {
                    table.insert(s.clone(), r);
                }
                Some(t) => {
                    let t_reply = self.subject(t).is_some_and(|x| x.1);
                    if (is_dummy(self, r) && !is_dummy(self, t))
                        || (!is_dummy(self, r) && !is_dummy(self, t) && t_reply && !reply)
                    {
                        table.insert(s.clone(), r);
                    }
                }
            }
        }
        let mut out: Vec<usize> = Vec::new();
        let mut replaced: HashMap<usize, usize> = HashMap::new();
        let mut removed = vec![false; roots.len()];
        for (i, (&r, subj)) in roots.iter().zip(&subjects).enumerate() {
            let Some((s, reply)) = subj else { continue };
            let Some(&t) = table.get(s) else { continue };
            if t == r {
                continue;
            }
            let t_reply = self.subject(t).is_some_and(|x| x.1);
            match (is_dummy(self, t), is_dummy(self, r)) {
                (true, true) => {
                    for k in self.children(r).to_vec() {
                        self.link(t, k);
                    }
                }
                (true, false) => self.link(t, r),
                (false, false) if *reply && !t_reply => self.link(t, r),
                _ => {
                    let d = self.add(None);
                    self.link(d, t);
                    self.link(d, r);
                    table.insert(s.clone(), d);
                    replaced.insert(t, d);
                }
            }
            if let Some(slot) = removed.get_mut(i) {
                *slot = true;
            }
        }
        for (&r, gone) in roots.iter().zip(removed) {
            if !gone {
                // A root that became a dummy's child is shown through that dummy.
                let mut c = r;
                while let Some(&d) = replaced.get(&c) {
                    c = d;
                }
                out.push(c);
            }
        }
        out
    }

    /// The newest sent date in the tree under `c` (a dummy has none of its own), walked
    /// with a stack of its own like [`References::cap_depth`].
    fn newest(&self, c: usize) -> i64 {
        let mut newest = i64::MIN;
        let mut todo = vec![c];
        while let Some(c) = todo.pop() {
            if let Some(m) = self.msg(c) {
                newest = newest.max(m.facts.sent_date());
            }
            todo.extend_from_slice(self.children(c));
        }
        newest
    }

    fn node(&self, c: usize) -> ThreadNode {
        ThreadNode {
            id: self.msg(c).map(|m| m.id),
            children: self.children(c).iter().map(|&k| self.node(k)).collect(),
        }
    }

    /// Steps 1 to 4: the trees by References, pruned, siblings sorted; their roots.
    fn trees(&mut self) -> Vec<usize> {
        self.link_all();
        self.cap_depth();
        let roots: Vec<usize> = (0..self.arena.len())
            .filter(|&c| self.parent(c).is_none())
            .collect();
        let mut roots = self.prune(roots, true);
        self.sort_siblings(&mut roots);
        roots
    }

    fn run(mut self) -> Vec<ThreadNode> {
        let roots = self.trees();
        let mut roots = self.merge_subjects(roots);
        self.sort_siblings(&mut roots);
        roots.iter().map(|&r| self.node(r)).collect()
    }

    /// REFS: steps 1 to 4 of REFERENCES, then the roots by their thread's newest sent date
    /// and the root's sequence number (a dummy's counting as 0, as Dovecot).
    fn run_refs(mut self) -> Vec<ThreadNode> {
        let mut roots = self.trees();
        roots.sort_by_cached_key(|&r| (self.newest(r), self.msg(r).map_or(0, |m| m.seq)));
        roots.iter().map(|&r| self.node(r)).collect()
    }
}
