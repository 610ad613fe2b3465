//! THREAD data read back: the inverse of the encoder's `(1 2 (3)(4))` nesting.

use super::{invalid, PResult, Parser};
use crate::sort::ThreadNode;

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 1000;

impl Parser<'_> {
    /// One parenthesised thread.
    pub(super) fn thread(&mut self, depth: usize) -> PResult<ThreadNode> {
        if depth > MAX_DEPTH {
            return invalid("THREAD nested too deeply");
        }
        self.expect(b'(')?;
        let node = self.thread_chain(depth)?;
        self.expect(b')')?;
        Ok(node)
    }

    fn thread_chain(&mut self, depth: usize) -> PResult<ThreadNode> {
        if self.peek()? == b'(' {
            return Ok(ThreadNode {
                id: None,
                children: self.thread_siblings(depth)?,
            });
        }
        let id = self.number()?;
        let mut children = Vec::new();
        if self.eat(b' ')? {
            if self.peek()? == b'(' {
                children = self.thread_siblings(depth)?;
            } else {
                children.push(self.thread_chain(depth + 1)?);
            }
        }
        Ok(ThreadNode {
            id: Some(id),
            children,
        })
    }

    fn thread_siblings(&mut self, depth: usize) -> PResult<Vec<ThreadNode>> {
        let mut out = Vec::new();
        while self.peek()? == b'(' {
            out.push(self.thread(depth + 1)?);
        }
        Ok(out)
    }
}
