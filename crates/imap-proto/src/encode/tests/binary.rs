//! BINARY and BINARY.SIZE items: exact bytes, literal8 only for data holding a NUL.

use super::*;

#[test]
fn binary_items() {
    fetch(
        FetchItem::Binary {
            parts: vec![1, 2],
            origin: None,
            data: b("hello"),
        },
        "BINARY[1.2] {5}\r\nhello",
    );
    fetch(
        FetchItem::Binary {
            parts: vec![],
            origin: Some(7),
            data: Some(b"a\0b".to_vec()),
        },
        "BINARY[]<7> ~{3}\r\na\0b",
    );
    // Bare CR and LF fit a plain literal.
    fetch(
        FetchItem::Binary {
            parts: vec![3],
            origin: None,
            data: Some(b"a\rb\n".to_vec()),
        },
        "BINARY[3] {4}\r\na\rb\n",
    );
    fetch(
        FetchItem::Binary {
            parts: vec![4],
            origin: None,
            data: None,
        },
        "BINARY[4] NIL",
    );
    fetch(
        FetchItem::BinarySize {
            parts: vec![2, 1],
            size: 4096,
        },
        "BINARY.SIZE[2.1] 4096",
    );
}

#[test]
fn unknown_cte_code() {
    check(
        Response::no("a1", Some(Code::UnknownCte), "Unknown encoding"),
        "a1 NO [UNKNOWN-CTE] Unknown encoding\r\n",
    );
}
