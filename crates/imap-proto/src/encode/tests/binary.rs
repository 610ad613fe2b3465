//! BINARY and BINARY.SIZE items: exact bytes, literal8 only for data holding a NUL.

use super::*;

fn binary(parts: &[u32], origin: Option<u32>, data: Option<&[u8]>) -> FetchItem {
    FetchItem::Binary {
        parts: parts.to_vec(),
        origin,
        data: data.map(<[u8]>::to_vec),
    }
}

#[test]
fn binary_items() {
    for (item, wire) in [
        (
            binary(&[1, 2], None, Some(b"hello")),
            "BINARY[1.2] {5}\r\nhello",
        ),
        (
            binary(&[], Some(7), Some(b"a\0b")),
            "BINARY[]<7> ~{3}\r\na\0b",
        ),
        // Bare CR and LF fit a plain literal.
        (
            binary(&[3], None, Some(b"a\rb\n")),
            "BINARY[3] {4}\r\na\rb\n",
        ),
        (binary(&[4], None, None), "BINARY[4] NIL"),
        (
            FetchItem::BinarySize {
                parts: vec![2, 1],
                size: 4096,
            },
            "BINARY.SIZE[2.1] 4096",
        ),
    ] {
        fetch(item, wire);
    }
}

#[test]
fn unknown_cte_code() {
    check(
        Response::no("a1", Some(Code::UnknownCte), "Unknown encoding"),
        "a1 NO [UNKNOWN-CTE] Unknown encoding\r\n",
    );
}
