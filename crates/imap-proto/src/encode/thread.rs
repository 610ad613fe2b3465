//! THREAD data (RFC 5256 §4): a chain of only children is written `1 2 3`, siblings each in
//! their own parentheses `1 (2)(3)`; a dummy shows only as the parentheses of its children.

use crate::sort::ThreadNode;

/// One thread, in its parentheses.
pub(super) fn thread(out: &mut Vec<u8>, node: &ThreadNode) {
    out.push(b'(');
    chain(out, node);
    out.push(b')');
}

fn chain(out: &mut Vec<u8>, node: &ThreadNode) {
    if let Some(id) = node.id {
        super::push_num(out, id);
        if !node.children.is_empty() {
            out.push(b' ');
        }
    }
    match node.children.as_slice() {
        [only] if node.id.is_some() => chain(out, only),
        children => {
            for c in children {
                thread(out, c);
            }
        }
    }
}
